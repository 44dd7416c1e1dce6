"""A small, safe XMP (RDF/XML) reader for sidecars written by provgate or edited by a DAM.

DAMs re-serialise XMP in every legal shape: properties as attributes of
``rdf:Description`` or as elements, several ``rdf:Description`` blocks, structures as
``rdf:parseType="Resource"``, as a nested ``rdf:Description`` or as attributes,
``rdf:resource`` URIs. ``read_xmp`` flattens all of that into::

    {(namespace URI, local name): value}

where a value is ``str``, ``LangAlt`` (``{language: text}``), ``list`` (rdf:Bag/Seq items)
or ``dict`` (a structure, keyed like the top level). Parsing goes through defusedxml: no
DTDs, no entity expansion, no external resources. Input over ``MAX_XMP`` bytes is refused.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MAX_XMP = 16 * 1024 * 1024

Key = tuple[str, str]


class XmpError(ValueError):
    """The bytes are not readable XMP."""


class LangAlt(dict):
    """An rdf:Alt of language alternatives, {"x-default": text, "de": text}."""

    def default(self) -> str | None:
        if "x-default" in self:
            return self["x-default"]
        return next(iter(self.values()), None)


def _split(tag: str) -> Key:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def read_xmp(data: bytes) -> dict[Key, Any]:
    if len(data) > MAX_XMP:
        raise XmpError(f"XMP larger than {MAX_XMP} bytes")
    try:
        root = SafeET.fromstring(data)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise XmpError(f"not well-formed XML: {exc}") from None
    rdf_roots = [root] if _split(root.tag) == (RDF, "RDF") else list(root.iter(f"{{{RDF}}}RDF"))
    if not rdf_roots:
        raise XmpError("no rdf:RDF element: not XMP")
    props: dict[Key, Any] = {}
    for rdf_root in rdf_roots:
        for desc in rdf_root:
            if _split(desc.tag) != (RDF, "Description"):
                continue
            props.update(_description(desc))
    return props


def _attributes(element: Element) -> dict[Key, Any]:
    out: dict[Key, Any] = {}
    for name, value in element.attrib.items():
        ns, local = _split(name)
        if ns in (RDF, "http://www.w3.org/XML/1998/namespace") or not ns:
            continue
        out[(ns, local)] = value
    return out


def _description(element: Element) -> dict[Key, Any]:
    props = _attributes(element)
    for child in element:
        props[_split(child.tag)] = _value(child)
    return props


def _value(element: Element) -> Any:
    if element.get(f"{{{RDF}}}parseType") == "Resource":
        return {_split(c.tag): _value(c) for c in element}
    resource = element.get(f"{{{RDF}}}resource")
    if resource is not None:
        return resource
    children = list(element)
    if children:
        first = children[0]
        kind = _split(first.tag)
        if kind in ((RDF, "Bag"), (RDF, "Seq")):
            return [_value(li) for li in first if _split(li.tag) == (RDF, "li")]
        if kind == (RDF, "Alt"):
            alt = LangAlt()
            for li in first:
                if _split(li.tag) == (RDF, "li"):
                    alt[li.get(XML_LANG, "x-default")] = _text(li)
            return alt
        if kind == (RDF, "Description"):
            return _description(first)
        return {_split(c.tag): _value(c) for c in children}
    attributes = _attributes(element)
    if attributes:
        return attributes
    return _text(element)


def _text(element: Element) -> str:
    return element.text or ""
