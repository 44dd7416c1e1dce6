"""Property-based fuzzing (Hypothesis) of every parser that reads what a client sends.

Each property holds for any input: the parser answers, or refuses with a typed provgate
error (an S3 error code), never another exception; and where a parser has an invariant
(a decoded body equals what was encoded, an XMP edit never changes a protected field,
a Range only ever names bytes inside the object) the invariant holds. Example counts
are bounded so that the whole file runs in well under a minute (``make test``); a longer
coverage-guided run is described in docs/fuzzing.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol
from aiohttp.test_utils import make_mocked_request
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway import errors
from gateway.identities import Identity, IdentityStore
from gateway.provenance import generators
from gateway.provenance.client_edit import EDITABLE, merge_client_edit
from gateway.provenance.record import ProvenanceRecord
from gateway.provenance.tags import Tags
from gateway.provenance.xmp import SidecarError, render_sidecar
from gateway.wire import xml as s3xml
from gateway.s3.auth import Authenticator
from gateway.wire import sigv4
from gateway.s3.auth.chunked import ChunkedDecoder
from gateway.s3.headers import parse_range

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ACCESS, SECRET = "AKIAFUZZ", "fuzz-secret"
IDENTITY = Identity("fuzzer", ACCESS, SECRET, "admin")
NOW = time.time()


# --- SigV4 / SigV2 header and query parsing ---------------------------------------------

def _authenticator() -> Authenticator:
    return Authenticator(IdentityStore([IDENTITY]), clock=lambda: NOW)


def _authenticate(method: str, target: str, headers: dict[str, str]):
    request = make_mocked_request(method, target, headers={"Host": "127.0.0.1:9000", **headers})
    try:
        return _authenticator().authenticate(request)
    except errors.GatewayError as exc:
        return exc


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=300)
credential = st.builds(lambda k, d, r, s, t: "/".join([k, d, r, s, t]),
                       st.sampled_from([ACCESS, "", "AK/IA"]), st.text(max_size=10),
                       st.sampled_from(["us-east-1", "", "x"]), st.sampled_from(["s3", "iam"]),
                       st.sampled_from(["aws4_request", "x"]))


@FUZZ
@given(credential=credential, signed=header_text, signature=header_text, tail=header_text,
       amz_date=st.one_of(st.none(), header_text, st.just(sigv4.format_timestamp(NOW))))
@example(credential=f"{ACCESS}/20260101/us-east-1/s3/aws4_request", signed="", signature="",
         tail=",,,,", amz_date=None)
def test_sigv4_authorization_header_never_crashes(credential, signed, signature, tail, amz_date):
    value = f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={signature}{tail}"
    headers = {"Authorization": value}
    if amz_date is not None:
        headers["x-amz-date"] = amz_date
    outcome = _authenticate("GET", "/bucket/key", headers)
    # Nothing made up here carries a valid signature.
    assert isinstance(outcome, errors.GatewayError), outcome


query_part = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e, exclude_characters="#"),
                     max_size=60)


@FUZZ
@given(params=st.lists(st.tuples(st.sampled_from(
    ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
     "X-Amz-SignedHeaders", "X-Amz-Expires", "X-Amz-Content-Sha256", "AWSAccessKeyId",
     "Signature", "Expires", "versionId", "x-amz-meta-a"]), query_part), max_size=10))
def test_presigned_query_never_crashes(params):
    query = "&".join(f"{name}={value}" for name, value in params)
    outcome = _authenticate("GET", "/bucket/key?" + query, {})
    assert isinstance(outcome, errors.GatewayError), outcome


@FUZZ
@given(raw=st.text(max_size=200))
def test_canonical_forms_of_any_target_never_crash(raw):
    path, query = sigv4.split_target(raw)
    for uri, _ in sigv4.canonical_uri_variants(path):
        assert isinstance(uri, str)
    for variant in sigv4.canonical_query_variants(query, ("X-Amz-Signature",)):
        assert "X-Amz-Signature=" not in variant
    sigv4.parse_credential(raw)
    sigv4.parse_timestamp(raw)
    sigv4.parse_http_date(raw)


def _signed_headers(extra: dict[str, str], sign_extra: bool) -> dict[str, str]:
    stamp = sigv4.format_timestamp(NOW)
    payload = sigv4.EMPTY_SHA256
    headers = {"host": "127.0.0.1:9000", "x-amz-date": stamp, "x-amz-content-sha256": payload}
    if sign_extra:
        headers.update(extra)
    names = sorted(headers)
    credential = sigv4.Credential(ACCESS, stamp[:8], "us-east-1", "s3")
    block = sigv4.canonical_headers(lambda n: [headers[n]], names)
    canonical = sigv4.canonical_request("GET", "/bucket/key", "", block, ";".join(names), payload)
    key = sigv4.signing_key(SECRET, credential.date, credential.region, credential.service)
    signature = sigv4.signature(key, sigv4.string_to_sign(stamp, credential.scope, canonical))
    out = {k: v for k, v in headers.items() if k != "host"}
    out.update(extra)
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS}/{credential.scope}, "
                            f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return out


header_name = st.from_regex(r"(x-amz-|x-provgate-|x-other-)[a-z0-9-]{1,12}", fullmatch=True)


@FUZZ
@given(extra=st.dictionaries(header_name, st.text(st.characters(min_codepoint=0x21,
                                                               max_codepoint=0x7e), min_size=1,
                                                  max_size=20), max_size=4),
       sign_extra=st.booleans())
def test_any_unsigned_amz_or_provgate_header_is_refused(extra, sign_extra):
    extra = {k: v for k, v in extra.items()
             if k not in ("x-amz-date", "x-amz-content-sha256") and not k.startswith(
                 ("x-amz-decoded", "x-amz-trailer", "x-amz-checksum", "x-amz-sdk"))}
    outcome = _authenticate("GET", "/bucket/key", _signed_headers(extra, sign_extra))
    must_sign = [k for k in extra if k.startswith(("x-amz-", "x-provgate-"))]
    if must_sign and not sign_extra:
        assert isinstance(outcome, errors.GatewayError) and outcome.code == "AccessDenied"
        assert outcome.fields["HeadersNotSigned"] == ", ".join(sorted(must_sign))
    else:
        assert not isinstance(outcome, errors.GatewayError), outcome
        assert outcome.identity.name == "fuzzer"


# --- aws-chunked ------------------------------------------------------------------------

async def _decode(body: bytes, **options) -> bytes | errors.GatewayError:
    loop = asyncio.get_running_loop()
    stream = StreamReader(BaseProtocol(loop), 2 ** 16, loop=loop)
    stream.feed_data(body)
    stream.feed_eof()
    out = bytearray()
    try:
        async for piece in ChunkedDecoder(stream, **options).pieces():
            out += piece
    except errors.GatewayError as exc:
        return exc
    return bytes(out)


def _encode(chunks: list[bytes], trailer: str | None) -> bytes:
    out = bytearray()
    for chunk in [c for c in chunks if c] + [b""]:
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    if trailer is not None:
        out = out[:-2] + trailer.encode() + b"\r\n\r\n"
    return bytes(out)


@FUZZ
@given(chunks=st.lists(st.binary(max_size=300), max_size=6))
def test_aws_chunked_round_trip(chunks):
    decoded = asyncio.run(_decode(_encode(chunks, None)))
    assert decoded == b"".join(chunks)


@FUZZ
@given(body=st.binary(max_size=400), trailer=st.booleans(),
       declared=st.one_of(st.none(), st.integers(0, 500)))
@example(body=b"ffffffffffffffffffff\r\n", trailer=False, declared=None)
@example(body=b"-1\r\n\r\n", trailer=False, declared=None)
@example(body=b"5;chunk-signature=\r\nabc", trailer=True, declared=None)
def test_aws_chunked_hostile_bodies_never_crash(body, trailer, declared):
    outcome = asyncio.run(_decode(body, expect_trailer=trailer, decoded_length=declared))
    if isinstance(outcome, bytes) and declared is not None:
        assert len(outcome) == declared


@FUZZ
@given(chunks=st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=3),
       cut=st.integers(min_value=1, max_value=400))
def test_aws_chunked_truncated_body_is_refused(chunks, cut):
    encoded = _encode(chunks, None)
    # Cut anywhere before the terminating zero-size chunk is complete (its closing
    # blank line may be missing at EOF: the payload is whole by then).
    cut = min(cut, len(encoded) - 3)
    outcome = asyncio.run(_decode(encoded[:cut]))
    assert isinstance(outcome, errors.GatewayError), outcome


# --- S3 XML bodies --------------------------------------------------------------------------

xml_fragment = st.recursive(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
    lambda inner: st.builds(lambda tag, body: f"<{tag}>{body}</{tag}>",
                            st.sampled_from(["Delete", "Object", "Key", "VersionId", "Part",
                                             "ETag", "PartNumber", "Tagging", "TagSet", "Tag",
                                             "Quiet", "a:b", "x"]),
                            st.lists(inner, max_size=3).map("".join)),
    max_leaves=12)


@FUZZ
@given(document=st.one_of(st.binary(max_size=300), xml_fragment.map(str.encode)),
       root=st.sampled_from(["Delete", "CompleteMultipartUpload", "Tagging",
                             "VersioningConfiguration"]))
@example(document=b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
                  b"<Delete>&b;</Delete>", root="Delete")
@example(document=b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete>&x;</Delete>',
         root="Delete")
def test_s3_xml_bodies_parse_or_are_malformed(document, root):
    try:
        element = s3xml.parse(document, root)
    except errors.MalformedXML:
        return
    assert s3xml.local_name(element.tag) == root
    for child in element:
        s3xml.child_text(element, s3xml.local_name(child.tag))


# --- Range ----------------------------------------------------------------------------------

@FUZZ
@given(value=st.one_of(st.text(max_size=40),
                       st.from_regex(r"bytes=[0-9\u0660-\u0669]{0,5}-[0-9\uff10-\uff19]{0,5}",
                                     fullmatch=True)),
       size=st.integers(min_value=0, max_value=10 ** 6))
@example(value="bytes=\u0661-\u0662", size=10)
def test_range_names_only_bytes_inside_the_object(value, size):
    parsed = parse_range(value)
    if parsed is None:
        return
    assert value.strip(" \t").startswith("bytes=") and value.isascii()
    try:
        start, end = parsed.resolve(size)
    except errors.InvalidRange:
        return
    assert 0 <= start <= end < size


# --- the XMP edit merge --------------------------------------------------------------------

CURRENT = ProvenanceRecord(bucket="renders", key="hero.png", version_id="v1", prompt="a fox",
                           model="sdxl", seed=42, sha256="ab" * 32, size=1234,
                           content_type="image/png", creator="Ana", door="s3")
BASE = render_sidecar(CURRENT, "xmp.did:doc", "xmp.iid:one")


# Bookkeeping an accepted edit updates: when, and that the client set the field.
EDIT_BOOKKEEPING = ("modified_at", "field_sources")


def _protected(record: ProvenanceRecord) -> dict:
    fields = dataclasses.asdict(record)
    return {k: v for k, v in fields.items() if k not in EDITABLE + EDIT_BOOKKEEPING}


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_xmp_edit_merge_never_changes_protected_fields(data):
    mode = data.draw(st.sampled_from(["bytes", "mutate", "splice"]))
    if mode == "bytes":
        edited = data.draw(st.binary(max_size=500))
    elif mode == "mutate":
        position = data.draw(st.integers(0, len(BASE) - 1))
        replacement = data.draw(st.binary(min_size=0, max_size=12))
        edited = BASE[:position] + replacement + BASE[position + len(replacement):]
    else:
        value = data.draw(st.text(max_size=60)).replace("]]>", "")
        element = data.draw(st.sampled_from(["pg:Seed", "Iptc4xmpExt:AIPromptInformation",
                                             "dc:rights", "xmpMM:InstanceID", "xmp:Rating"]))
        edited = BASE.replace(b"</rdf:Description>",
                              f"<{element}>{value}</{element}></rdf:Description>".encode(), 1)
    try:
        merged, rejected = merge_client_edit(CURRENT, edited, document_id="xmp.did:doc",
                                             instance_id="xmp.iid:one")
    except SidecarError:
        return
    assert _protected(merged) == _protected(CURRENT)
    assert all(r.field for r in rejected)


# --- generator parsers ----------------------------------------------------------------------

GENERATOR_TAGS = ["PNG:Parameters", "ExifIFD:UserComment", "PNG:Prompt", "PNG:Workflow",
                  "IFD0:Model", "IFD0:Make", "IFD0:ImageDescription", "PNG:Fooocus_scheme",
                  "IFD0:Software", "PNG:Invokeai_metadata", "PNG:Sd-metadata",
                  "PNG:Invokeai_workflow", "PNG:Invokeai_graph", "PNG:Description",
                  "XMP-dc:Description", "PNG:Author", "PNG:CreationTime", "PNG:Software",
                  "PNG:Comment", "PNG:Source"]

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
              st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20)
json_text = json_values.map(lambda v: json.dumps(v, allow_nan=True))
a1111_text = st.builds(
    lambda prompt, negative, pairs: f"{prompt}\nNegative prompt: {negative}\n"
                                    + ", ".join(f"{k}: {v}" for k, v in pairs),
    st.text(max_size=40), st.text(max_size=20),
    st.lists(st.tuples(st.sampled_from(["Steps", "Seed", "Sampler", "CFG scale", "Model",
                                        "Model hash", "Size", "Version", "ControlNet 0",
                                        "Hires upscale", "Lora hashes", "x"]),
                       st.text(max_size=20)), max_size=6))
midjourney_text = st.builds(lambda p, j: f"{p} --ar 16:9 --v 6 Job ID: {j}",
                            st.text(max_size=30), st.text(max_size=40))
tag_value = st.one_of(st.text(max_size=80), json_text, a1111_text, midjourney_text,
                      json_values, st.integers())


@settings(FUZZ, max_examples=300)
@given(tags=st.dictionaries(st.sampled_from(GENERATOR_TAGS), tag_value, min_size=1, max_size=6))
@example(tags={"PNG:Prompt": '{"1": {"class_type": "CLIPTextEncode", "inputs": {"text": ["1", 0]}}}'})
@example(tags={"PNG:Workflow": "[" * 5000 + "]" * 5000})
@example(tags={"PNG:Parameters": "x\nSteps: " + "9" * 5000})
def test_each_generator_parser_survives_hostile_metadata(tags):
    wrapped = Tags(tags)
    for name, parse in generators._registry():
        finding = parse(wrapped)        # the contract: a parser never raises on bad content
        assert finding is None or finding.format
    findings = generators.parse_all(wrapped)
    assert not any(n.code == "parser_failed" for f in findings for n in f.notices)
