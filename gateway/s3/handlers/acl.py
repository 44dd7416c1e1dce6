"""GetBucketAcl and GetObjectAcl: who owns a bucket or an object.

provgate keeps no ACLs (identities' roles and bucket scopes decide access), so these
answer what S3 shows for a private resource: its owner, with FULL_CONTROL. Tools (s3cmd
info, Terraform, backup tools) read the owner here; setting an ACL is not offered.
"""

from __future__ import annotations

from aiohttp import web

from gateway.s3.call import S3Call
from gateway.s3.responses import acl_response


async def get_bucket_acl(call: S3Call) -> web.Response:
    await call.gatekeeper.head_bucket(call.bucket)
    # A bucket created before owners were noted is shown as the caller's.
    return acl_response(await call.gatekeeper.bucket_owner(call.bucket) or call.identity.name)


async def get_object_acl(call: S3Call) -> web.Response:
    info = await call.gatekeeper.head_object(call.bucket, call.key, call.version_id)
    response = acl_response(info.attributes.owner or call.identity.name)
    if info.version_id:
        response.headers["x-amz-version-id"] = info.version_id
    return response
