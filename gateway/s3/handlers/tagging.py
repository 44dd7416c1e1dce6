"""Object tagging: Get/Put/DeleteObjectTagging."""

from __future__ import annotations

from aiohttp import web

from gateway import errors
from gateway.wire import xml
from gateway.s3.call import S3Call
from gateway.s3.headers import validate_tags
from gateway.s3.responses import xml_response


async def get_object_tagging(call: S3Call) -> web.Response:
    info = await call.gatekeeper.head_object(call.bucket, call.key, call.version_id)
    return xml_response("Tagging", {"TagSet": {"Tag": [
        {"Key": k, "Value": v} for k, v in info.attributes.tags.items()]}},
        headers={"x-amz-version-id": info.version_id})


def parse_tag_document(body: bytes) -> dict[str, str]:
    root = xml.parse(body, "Tagging")
    tag_sets = xml.children(root, "TagSet")
    if len(tag_sets) != 1:
        raise errors.MalformedXML("<Tagging> needs exactly one <TagSet>")
    tags: dict[str, str] = {}
    for tag in xml.children(tag_sets[0], "Tag"):
        key = xml.child_text(tag, "Key", required=True)
        value = xml.child_text(tag, "Value", required=True)
        if key in tags:
            raise errors.InvalidTag("Cannot provide multiple Tags with the same key")
        tags[key] = value
    validate_tags(tags)
    return tags


async def put_object_tagging(call: S3Call) -> web.Response:
    """Replace the tag set. A ``review`` tag whose value differs from the version's is a
    review decision: only an identity with the reviewer role may make it (others get
    403 and the tag set stays as it was), and it goes through the review gate (rules,
    record, audit) before the tags are stored."""
    tags = parse_tag_document(await call.small_body(64 * 1024))
    info = await call.gatekeeper.set_tags(call.bucket, call.key, tags, call.version_id,
                                          identity=call.identity)
    return web.Response(status=200, headers={"x-amz-version-id": info.version_id})


async def delete_object_tagging(call: S3Call) -> web.Response:
    info = await call.gatekeeper.set_tags(call.bucket, call.key, {}, call.version_id)
    return web.Response(status=204, headers={"x-amz-version-id": info.version_id})
