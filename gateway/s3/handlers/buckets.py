"""Bucket operations: ListBuckets, Create/Head/DeleteBucket, GetBucketLocation,
Get/PutBucketVersioning."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from gateway import errors
from gateway.wire import xml
from gateway.s3.call import S3Call
from gateway.s3.responses import owner, xml_response

MAX_BUCKETS_PAGE = 10000      # S3's largest max-buckets


async def list_buckets(call: S3Call) -> web.Response:
    """The caller's buckets in name order, S3's 2024 paging: ``max-buckets`` (1-10000),
    ``continuation-token`` (opaque: where the previous page ended), ``prefix`` and
    ``bucket-region`` (every bucket is in the one region this endpoint serves)."""
    limit = _max_buckets(call.query.get("max-buckets"))
    after = _continuation(call.query.get("continuation-token"))
    prefix = call.query.get("prefix", "")
    region = call.query.get("bucket-region")
    buckets = [b for b in await call.gatekeeper.list_buckets(call.identity)
               if b.name.startswith(prefix) and (after is None or b.name > after)
               and region in (None, call.services.region)]
    page = buckets[:limit] if limit is not None else buckets
    more = limit is not None and len(buckets) > limit
    return xml_response("ListAllMyBucketsResult", {
        "Owner": owner(call.identity),
        "Buckets": {"Bucket": [{"Name": b.name, "CreationDate": xml.iso_time(b.created),
                                "BucketRegion": call.services.region} for b in page]},
        "ContinuationToken": _token(page[-1].name) if more else None,
        "Prefix": prefix if "prefix" in call.query else None,
    })


def _max_buckets(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_BUCKETS_PAGE:
        raise errors.InvalidArgument(
            f"Argument max-buckets must be an integer between 1 and {MAX_BUCKETS_PAGE}",
            ArgumentName="max-buckets", ArgumentValue=raw[:64])
    return int(raw)


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _continuation(raw: str | None) -> str | None:
    """The bucket name a continuation token stands for (listing resumes after it)."""
    if raw is None:
        return None
    try:
        return base64.urlsafe_b64decode(raw.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise errors.InvalidArgument("The continuation token provided is incorrect",
                                     ArgumentName="continuation-token",
                                     ArgumentValue=raw[:256]) from None


async def create_bucket(call: S3Call) -> web.Response:
    body = await call.small_body(64 * 1024)
    if body.strip():
        config = xml.parse(body, "CreateBucketConfiguration")
        region = xml.child_text(config, "LocationConstraint")
        if region and region != call.services.region:
            raise errors.InvalidArgument(  # the error AWS gives: IllegalLocationConstraintException
                f"The {region} location constraint is incompatible with the region "
                f"this endpoint serves ({call.services.region}).", ArgumentName="LocationConstraint")
    try:
        await call.gatekeeper.create_bucket(call.bucket, call.identity)
    except errors.BucketAlreadyOwnedByYou:
        # S3 in us-east-1, for legacy compatibility, answers the owner's re-create with
        # 200 (and boto3, the aws CLI and s3-tests expect it); every other region 409.
        if call.services.region != "us-east-1":
            raise
    return web.Response(status=200, headers={"Location": f"/{call.bucket}"})


async def head_bucket(call: S3Call) -> web.Response:
    await call.gatekeeper.head_bucket(call.bucket)
    return web.Response(status=200, headers={"x-amz-bucket-region": call.services.region})


async def delete_bucket(call: S3Call) -> web.Response:
    await call.gatekeeper.delete_bucket(call.bucket)
    return web.Response(status=204)


async def get_bucket_location(call: S3Call) -> web.Response:
    await call.gatekeeper.head_bucket(call.bucket)
    # us-east-1 is reported as an empty constraint, as S3 does; clients rely on it.
    region = "" if call.services.region == "us-east-1" else call.services.region
    body = xml.render("LocationConstraint", {})
    body = body.replace(b"></LocationConstraint>", f">{region}</LocationConstraint>".encode())
    return web.Response(body=body, content_type="application/xml")


async def get_bucket_versioning(call: S3Call) -> web.Response:
    state = await call.gatekeeper.get_versioning(call.bucket)
    # A bucket that never had versioning enabled answers an empty configuration, as S3.
    return xml_response("VersioningConfiguration", {"Status": state} if state else {})


async def put_bucket_versioning(call: S3Call) -> web.Response:
    """Enabled or Suspended, as S3 (suspending is refused where ``[storage] versioning =
    "locked"``); MFA delete is refused as not implemented."""
    config = xml.parse(await call.small_body(64 * 1024), "VersioningConfiguration")
    status = xml.child_text(config, "Status")
    mfa_delete = xml.child_text(config, "MfaDelete")
    if status is None and mfa_delete is None:
        raise errors.IllegalVersioningConfigurationException()
    if status not in (None, "Enabled", "Suspended") or mfa_delete not in (None, "Enabled", "Disabled"):
        raise errors.MalformedXML("Status must be Enabled or Suspended, MfaDelete Enabled or Disabled")
    await call.gatekeeper.head_bucket(call.bucket)
    if mfa_delete == "Enabled":
        raise errors.NotImplementedOperation("provgate does not implement MFA delete")
    if status is not None:
        await call.gatekeeper.set_versioning(call.bucket, status)
    return web.Response(status=200)
