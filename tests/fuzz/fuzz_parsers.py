"""Coverage-guided fuzzing (atheris, libFuzzer) of the parsers that read client input.

Not part of the pytest run (the Hypothesis properties in tests/test_fuzz_parsers.py are);
see docs/fuzzing.md for how to run it and what a run found. One harness, one target per
input, chosen by the input's first byte. An expected refusal (a provgate ``GatewayError``,
an unreadable sidecar) is fine; any other exception is a crash that libFuzzer saves.

    .venv/bin/python tests/fuzz/fuzz_parsers.py -max_total_time=300 -rss_limit_mb=2048 \
        -artifact_prefix=/tmp/provgate-fuzz/
"""

from __future__ import annotations

import asyncio
import sys

import atheris

with atheris.instrument_imports(include=["gateway"]):
    from aiohttp import StreamReader
    from aiohttp.base_protocol import BaseProtocol
    from aiohttp.test_utils import make_mocked_request

    from gateway import errors
    from gateway.identities import Identity, IdentityStore
    from gateway.provenance import generators
    from gateway.provenance.client_edit import merge_client_edit
    from gateway.provenance.record import ProvenanceRecord
    from gateway.provenance.tags import Tags
    from gateway.provenance.xmp import SidecarError, render_sidecar
    from gateway.wire import xml as s3xml
    from gateway.s3.auth import Authenticator
    from gateway.wire import sigv4
    from gateway.s3.auth.chunked import ChunkedDecoder
    from gateway.s3.headers import parse_range, response_overrides

AUTH = Authenticator(IdentityStore([Identity("fuzzer", "AKIAFUZZ", "fuzz-secret", "admin")]))
CURRENT = ProvenanceRecord(bucket="b", key="k.png", version_id="v1", prompt="p", seed=1)
BASE = render_sidecar(CURRENT, "xmp.did:d", "xmp.iid:i")
TAG_NAMES = ["PNG:Parameters", "ExifIFD:UserComment", "PNG:Prompt", "PNG:Workflow",
             "IFD0:Make", "PNG:Invokeai_metadata", "PNG:Sd-metadata", "PNG:Description",
             "PNG:Comment", "PNG:Software", "PNG:Fooocus_scheme", "IFD0:Software"]
LOOP = asyncio.new_event_loop()


def authenticate(data: atheris.FuzzedDataProvider) -> None:
    header = data.ConsumeUnicodeNoSurrogates(200)
    target = "/b/k?" + data.ConsumeUnicodeNoSurrogates(200).replace("#", "")
    headers = {"Host": "h", "x-amz-date": data.ConsumeUnicodeNoSurrogates(20)}
    if header:
        headers["Authorization"] = header.replace("\r", "").replace("\n", "")
    try:
        AUTH.authenticate(make_mocked_request("PUT", target, headers=headers))
    except errors.GatewayError:
        pass
    path, query = sigv4.split_target(target)
    sigv4.canonical_query_variants(query)
    sigv4.canonical_uri_variants(path)


async def _chunked(body: bytes, trailer: bool) -> None:
    stream = StreamReader(BaseProtocol(LOOP), 2 ** 16, loop=LOOP)
    stream.feed_data(body)
    stream.feed_eof()
    async for _ in ChunkedDecoder(stream, expect_trailer=trailer).pieces():
        pass


def chunked(data: atheris.FuzzedDataProvider) -> None:
    trailer = data.ConsumeBool()
    try:
        LOOP.run_until_complete(_chunked(data.ConsumeBytes(4096), trailer))
    except errors.GatewayError:
        pass


def xml_body(data: atheris.FuzzedDataProvider) -> None:
    try:
        s3xml.parse(data.ConsumeBytes(4096), "Delete")
    except errors.MalformedXML:
        pass


def byte_range(data: atheris.FuzzedDataProvider) -> None:
    value = data.ConsumeUnicodeNoSurrogates(60)
    parsed = parse_range(value)
    if parsed is not None:
        try:
            start, end = parsed.resolve(data.ConsumeIntInRange(0, 10 ** 9))
            assert start <= end
        except errors.InvalidRange:
            pass
    try:
        response_overrides({"response-content-type": value})
    except errors.InvalidArgument:
        pass


def xmp_edit(data: atheris.FuzzedDataProvider) -> None:
    if data.ConsumeBool():
        edited = data.ConsumeBytes(4096)
    else:
        at = data.ConsumeIntInRange(0, len(BASE))
        edited = BASE[:at] + data.ConsumeBytes(64) + BASE[at:]
    try:
        merge_client_edit(CURRENT, edited, document_id="xmp.did:d", instance_id="xmp.iid:i")
    except SidecarError:
        pass


def generator_tags(data: atheris.FuzzedDataProvider) -> None:
    tags = {}
    for _ in range(data.ConsumeIntInRange(1, 4)):
        tags[TAG_NAMES[data.ConsumeIntInRange(0, len(TAG_NAMES) - 1)]] = \
            data.ConsumeUnicodeNoSurrogates(2048)
    wrapped = Tags(tags)
    for _, parse in generators._registry():
        parse(wrapped)          # a parser never raises on bad content


TARGETS = [authenticate, chunked, xml_body, byte_range, xmp_edit, generator_tags]


def one_input(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    TARGETS[data.ConsumeIntInRange(0, len(TARGETS) - 1)](data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
