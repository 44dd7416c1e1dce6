"""S3 XML documents: rendering responses, parsing request bodies safely.

Request bodies come from the network, so they are parsed with ``defusedxml`` (no entity
expansion, no external entities, and no DTD at all: an S3 request document never has
one) after a size check; anything that does not parse, or does not have the element the
operation expects, is ``MalformedXML``.
"""

from __future__ import annotations

import time
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from gateway import errors

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_REQUEST_XML = 2 * 1024 * 1024  # DeleteObjects with 1000 long keys fits well within


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Characters XML 1.0 cannot carry at all (keys may hold them) are sent as char refs
    # that S3 clients decode; a raw control character would make the document invalid.
    return "".join(c if c >= " " or c in "\t\n" else f"&#x{ord(c):x};" for c in text)


def render(root: str, body: Any) -> bytes:
    """Serialize ``{tag: value}`` trees: dicts nest, lists repeat the tag, None is skipped.

    Dicts keep insertion order, which is the element order S3 documents use. Where
    elements of different tags interleave (``<Version>`` and ``<DeleteMarker>`` in a
    version listing), a body may be a list of ``(tag, value)`` pairs instead of a dict.
    """
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<{root} xmlns="{S3_NS}">']
    _render_into(parts, body)
    parts.append(f"</{root}>")
    return "".join(parts).encode("utf-8", "surrogatepass")


def _render_into(parts: list[str], body: dict | list[tuple[str, Any]]) -> None:
    for tag, value in (body.items() if isinstance(body, dict) else body):
        if value is None:
            continue
        if isinstance(value, list):
            for item in value:
                _render_value(parts, tag, item)
        else:
            _render_value(parts, tag, value)


def _render_value(parts: list[str], tag: str, value: Any) -> None:
    if isinstance(value, dict):
        parts.append(f"<{tag}>")
        _render_into(parts, value)
        parts.append(f"</{tag}>")
    elif isinstance(value, bool):
        parts.append(f"<{tag}>{'true' if value else 'false'}</{tag}>")
    else:
        parts.append(f"<{tag}>{_escape(str(value))}</{tag}>")


def _xml_safe(value: str | None) -> str | None:
    """Text an XML 1.0 parser accepts: error documents echo client input (keys, upload
    ids, argument values), and one control character would make the whole error
    unreadable to the client, so such characters are replaced rather than referenced."""
    if value is None:
        return None
    return "".join(c if (c >= " " or c in "\t\n\r") and not "\ud800" <= c <= "\udfff"
                   and c not in "\ufffe\uffff" else "\ufffd" for c in str(value))


def error_document(code: str, message: str, resource: str, request_id: str,
                   fields: dict[str, str]) -> bytes:
    doc = {"Code": code, "Message": _xml_safe(message),
           **{k: _xml_safe(v) for k, v in fields.items()},
           "Resource": _xml_safe(resource) or None, "RequestId": request_id}
    body = render("Error", doc)
    return body.replace(f' xmlns="{S3_NS}"'.encode(), b"", 1)  # S3 errors carry no namespace


def iso_time(epoch: float) -> str:
    """S3's timestamp form in XML: 2026-01-02T03:04:05.000Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def parse(body: bytes, expected_root: str) -> Element:
    """Parse a request document whose root element must be ``expected_root``."""
    if len(body) > MAX_REQUEST_XML:
        raise errors.MalformedXML("The XML you provided was larger than the maximum allowed size")
    try:
        root = fromstring(body, forbid_dtd=True)
    except (DefusedXmlException, SyntaxError, ValueError) as exc:
        raise errors.MalformedXML(f"The XML you provided was not well-formed: {type(exc).__name__}") from None
    if local_name(root.tag) != expected_root:
        raise errors.MalformedXML(f"Expected a <{expected_root}> document")
    return root


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def children(element: Element, name: str) -> list[Element]:
    return [c for c in element if local_name(c.tag) == name]


def child_text(element: Element, name: str, *, required: bool = False) -> str | None:
    found = children(element, name)
    if not found:
        if required:
            raise errors.MalformedXML(f"<{local_name(element.tag)}> needs a <{name}>")
        return None
    return found[0].text or ""
