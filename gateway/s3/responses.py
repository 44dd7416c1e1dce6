"""Building S3 responses: XML documents, owners, error documents."""

from __future__ import annotations

import hashlib

from aiohttp import web

from gateway.errors import GatewayError
from gateway.identities import Identity
from gateway.wire import xml


def xml_response(root: str, body: dict | list, status: int = 200,
                 headers: dict | None = None) -> web.Response:
    return web.Response(status=status, body=xml.render(root, body), headers=headers,
                        content_type="application/xml")


def owner_id(name: str) -> str:
    """A stable canonical-user-id-like string for an identity name (S3 shows 64 hex)."""
    return hashlib.sha256(f"provgate:{name}".encode()).hexdigest()


def owner(identity: Identity | str) -> dict:
    name = identity if isinstance(identity, str) else identity.name
    return {"ID": owner_id(name), "DisplayName": name}


def acl_response(name: str) -> web.Response:
    """An ``AccessControlPolicy``: ``name`` owns the resource with FULL_CONTROL, and
    nothing else is granted (provgate keeps no ACLs; roles and bucket scopes decide)."""
    body = xml.render("AccessControlPolicy", {
        "Owner": owner(name), "AccessControlList": {"Grant": [{
            "Grantee": {"ID": owner_id(name), "DisplayName": name},
            "Permission": "FULL_CONTROL"}]}})
    # The grantee's type is an attribute, which the renderer does not write.
    body = body.replace(b"<Grantee>", b'<Grantee xmlns:xsi="http://www.w3.org/2001/'
                        b'XMLSchema-instance" xsi:type="CanonicalUser">')
    return web.Response(body=body, content_type="application/xml")


def error_response(error: GatewayError, request_id: str, method: str) -> web.Response:
    headers = dict(error.headers)
    if error.status == 304 or method == "HEAD":
        # HEAD and 304 answers carry no body; clients read the status alone.
        return web.Response(status=error.status, headers=headers)
    body = xml.error_document(error.code, error.message, error.resource or "", request_id,
                              error.fields)
    return web.Response(status=error.status, body=body, headers=headers,
                        content_type="application/xml")
