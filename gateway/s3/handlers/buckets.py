"""Bucket operations: ListBuckets, Create/Head/DeleteBucket, GetBucketLocation/Versioning."""

from __future__ import annotations

from aiohttp import web

from gateway import errors
from gateway.s3 import xml
from gateway.s3.call import S3Call
from gateway.s3.responses import owner, xml_response


async def list_buckets(call: S3Call) -> web.Response:
    buckets = [b for b in await call.backend.list_buckets()
               if call.identity.may_access_bucket(b.name)]
    return xml_response("ListAllMyBucketsResult", {
        "Owner": owner(call.identity),
        "Buckets": {"Bucket": [{"Name": b.name, "CreationDate": xml.iso_time(b.created)}
                               for b in buckets]},
    })


async def create_bucket(call: S3Call) -> web.Response:
    body = await call.small_body(64 * 1024)
    if body.strip():
        config = xml.parse(body, "CreateBucketConfiguration")
        region = xml.child_text(config, "LocationConstraint")
        if region and region != call.services.region:
            raise errors.InvalidArgument(  # the error AWS gives: IllegalLocationConstraintException
                f"The {region} location constraint is incompatible with the region "
                f"this endpoint serves ({call.services.region}).", ArgumentName="LocationConstraint")
    await call.backend.create_bucket(call.bucket)
    return web.Response(status=200, headers={"Location": f"/{call.bucket}"})


async def head_bucket(call: S3Call) -> web.Response:
    await call.backend.head_bucket(call.bucket)
    return web.Response(status=200, headers={"x-amz-bucket-region": call.services.region})


async def delete_bucket(call: S3Call) -> web.Response:
    await call.backend.delete_bucket(call.bucket)
    return web.Response(status=204)


async def get_bucket_location(call: S3Call) -> web.Response:
    await call.backend.head_bucket(call.bucket)
    # us-east-1 is reported as an empty constraint, as S3 does; clients rely on it.
    region = "" if call.services.region == "us-east-1" else call.services.region
    body = xml.render("LocationConstraint", {})
    body = body.replace(b"></LocationConstraint>", f">{region}</LocationConstraint>".encode())
    return web.Response(body=body, content_type="application/xml")


async def get_bucket_versioning(call: S3Call) -> web.Response:
    await call.backend.head_bucket(call.bucket)
    # Versioning has never been enabled on a bucket: S3 answers an empty configuration.
    return xml_response("VersioningConfiguration", {})
