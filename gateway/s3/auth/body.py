"""The request body, decoded and verified against everything the request promised.

:func:`parse_payload` reads the body-related headers (at authentication time, before
any body byte is read, so bad headers are refused before ``100 Continue``);
:class:`VerifiedBody` then streams the decoded payload and checks it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
from dataclasses import dataclass
from typing import AsyncIterator

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gateway import errors
from gateway.wire import checksums, sigv4

from .chunked import ChunkedDecoder, ChunkSigner

PIECE_SIZE = 1 << 20


@dataclass(frozen=True)
class PayloadSpec:
    """How the body is framed and what it must match; built by :func:`parse_payload`."""

    content_sha256: str | None          # lowercase hex the whole decoded body must hash to
    streaming: str | None               # a sigv4.STREAMING_* mode, "aws-chunked", or None
    signer: ChunkSigner | None          # set for the signed streaming modes
    decoded_length: int | None
    content_length: int | None
    content_md5: bytes | None
    header_checksum: tuple[str, bytes] | None   # (algorithm, digest) from x-amz-checksum-*
    trailer_names: tuple[str, ...]      # x-amz-trailer, lowercase header names
    algorithms: tuple[str, ...]         # checksum algorithms to compute and report
    content_encoding: str | None        # Content-Encoding minus aws-chunked

    @property
    def length(self) -> int | None:
        return self.decoded_length if self.streaming else self.content_length


# The payload of a request whose body is not read through ``verified_body`` (a POST
# form: its file is covered by the signed policy, not by a payload hash).
UNREAD_PAYLOAD = PayloadSpec(content_sha256=None, streaming=None, signer=None,
                             decoded_length=None, content_length=None, content_md5=None,
                             header_checksum=None, trailer_names=(), algorithms=(),
                             content_encoding=None)


def _single(request: web.BaseRequest, name: str) -> str | None:
    values = request.headers.getall(name, [])
    return values[0] if values else None


def _content_md5(request: web.BaseRequest) -> bytes | None:
    value = _single(request, "Content-MD5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise errors.InvalidDigest()
    return digest


def _header_checksum(request: web.BaseRequest) -> tuple[str, bytes] | None:
    found = None
    for name in request.headers:
        algorithm = checksums.algorithm_for_header(name)
        if algorithm is None:
            continue
        if found is not None and found[0] != algorithm:
            raise errors.InvalidRequest("Expecting a single x-amz-checksum- header. "
                                        "Multiple checksum Types are not allowed.")
        digest = checksums.decode_value(algorithm, request.headers[name])
        if digest is None:
            raise errors.InvalidRequest(f"Value for {name.lower()} header is invalid.")
        found = (algorithm, digest)
    return found


def _algorithm_requests(request: web.BaseRequest) -> list[str]:
    requested = []
    for name in ("x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"):
        value = _single(request, name)
        if value is not None:
            algorithm = checksums.normalize_algorithm(value)
            if algorithm is None:
                raise errors.InvalidRequest(f"Value for {name} header is invalid.")
            requested.append(algorithm)
    return requested


def _trailer_names(request: web.BaseRequest) -> list[str]:
    names = []
    for value in request.headers.getall("x-amz-trailer", []):
        for name in (n.strip().lower() for n in value.split(",")):
            if not name:
                continue
            if checksums.algorithm_for_header(name) is None:
                raise errors.InvalidRequest(
                    f"The value specified in the x-amz-trailer header is not supported: {name}")
            names.append(name)
    return list(dict.fromkeys(names))


def _decoded_length(request: web.BaseRequest) -> int | None:
    value = _single(request, "x-amz-decoded-content-length")
    if value is None:
        return None
    if not value.strip().isdigit():
        raise errors.InvalidArgument("x-amz-decoded-content-length must be a non-negative integer.")
    return int(value)


def parse_payload(request: web.BaseRequest, content_sha256: str | None,
                  signer: ChunkSigner | None) -> PayloadSpec:
    """Validate body-related headers and describe the body.

    ``content_sha256`` is the payload-hash value in force (``x-amz-content-sha256`` or
    the presigned equivalent); ``signer`` is given for signed streaming uploads.
    """
    encodings = [e.strip() for e in ",".join(request.headers.getall("Content-Encoding", [])).split(",")]
    header_checksum = _header_checksum(request)
    trailer_names = _trailer_names(request)
    requested = ([header_checksum[0]] if header_checksum else []) + _algorithm_requests(request)
    requested += [checksums.algorithm_for_header(n) for n in trailer_names]

    expected_sha256 = None
    streaming = None
    if content_sha256 in sigv4.STREAMING_MODES:
        streaming = content_sha256
    elif content_sha256 not in (None, sigv4.UNSIGNED_PAYLOAD):
        expected_sha256 = content_sha256.lower()
    if streaming in (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER) and signer is None:
        raise errors.InvalidRequest(
            "Signed aws-chunked uploads require Authorization header SigV4 authentication.")
    if trailer_names and streaming is None:
        raise errors.InvalidRequest("x-amz-trailer requires an aws-chunked body.")

    return PayloadSpec(
        content_sha256=expected_sha256, streaming=streaming, signer=signer,
        decoded_length=_decoded_length(request), content_length=request.content_length,
        content_md5=_content_md5(request), header_checksum=header_checksum,
        trailer_names=tuple(trailer_names), algorithms=tuple(dict.fromkeys(requested)),
        content_encoding=",".join(e for e in encodings if e and e.lower() != "aws-chunked") or None,
    )


class VerifiedBody:
    """Async-iterable of the decoded request payload (pieces of at most ~1 MiB).

    Iterating verifies as it goes, and every final check (payload SHA-256, Content-MD5,
    ``x-amz-checksum-*`` header or trailer, lengths, chunk and trailer signatures) runs
    before the last piece is yielded: a consumer that commits only once iteration has
    finished never commits unverified data.  Iterate once.

    After iteration: :attr:`md5_hex`, :attr:`sha256_hex`, :attr:`size` and
    :attr:`checksums` (algorithm -> base64, for the algorithms the client sent or asked
    for; store them to answer ``x-amz-checksum-mode: ENABLED``).
    """

    def __init__(self, request: web.BaseRequest, spec: PayloadSpec,
                 piece_size: int = PIECE_SIZE, *, sha256: bool = True) -> None:
        """``sha256``: compute :attr:`sha256_hex` even where the signature does not
        need it (see ``verified_body``)."""
        self._request = request
        self._spec = spec
        self._piece_size = piece_size
        self._hashes = checksums.ChecksumSet(
            spec.algorithms, sha256=sha256 or spec.content_sha256 is not None)
        self._started = False
        self._finished = False
        self._decoder: ChunkedDecoder | None = None
        self.trailers: dict[str, str] = {}

    @property
    def length(self) -> int | None:
        """Decoded length when known up front (``x-amz-decoded-content-length`` or
        ``Content-Length``); None for streams of undeclared length."""
        return self._spec.length

    @property
    def content_encoding(self) -> str | None:
        """The Content-Encoding to store: the client's, minus ``aws-chunked``."""
        return self._spec.content_encoding

    @property
    def size(self) -> int:
        """Decoded bytes seen so far."""
        return self._hashes.size

    @property
    def md5_hex(self) -> str:
        return self._require_finished().md5_hex

    @property
    def sha256_hex(self) -> str:
        return self._require_finished().sha256_hex

    @property
    def checksums(self) -> dict[str, str]:
        return self._require_finished().values()

    def _require_finished(self) -> checksums.ChecksumSet:
        if not self._finished:
            raise RuntimeError("the body has not been fully read and verified yet")
        return self._hashes

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError("a request body can be iterated only once")
        self._started = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        held = None
        async for piece in self._decoded():
            self._hashes.update(piece)
            if held is not None:
                yield held
            held = piece
        self._verify()
        self._finished = True
        if held is not None:
            yield held

    def _decoded(self) -> AsyncIterator[bytes]:
        spec = self._spec
        if spec.streaming is None:
            return self._raw()
        self._decoder = ChunkedDecoder(
            self._request.content,
            signer=spec.signer,
            signed_trailer=spec.streaming == sigv4.STREAMING_SIGNED_TRAILER,
            expect_trailer=spec.streaming in (sigv4.STREAMING_SIGNED_TRAILER,
                                              sigv4.STREAMING_UNSIGNED_TRAILER),
            trailer_names=spec.trailer_names,
            decoded_length=spec.decoded_length,
            piece_size=self._piece_size,
        )
        return self._decoder.pieces()

    async def _raw(self) -> AsyncIterator[bytes]:
        stream = self._request.content
        while True:
            try:
                piece = await stream.read(self._piece_size)
            except (HttpProcessingError, ConnectionError) as exc:
                raise errors.IncompleteBody(f"The request body ended early: {exc}") from None
            if not piece:
                break
            yield piece
        expected = self._spec.content_length
        if expected is not None and self._hashes.size != expected:
            raise errors.IncompleteBody()

    def _verify(self) -> None:
        spec, hashes = self._spec, self._hashes
        if spec.content_sha256 is not None and not hmac.compare_digest(
                hashes.sha256_hex, spec.content_sha256):
            raise errors.XAmzContentSHA256Mismatch(
                ClientComputedContentSHA256=spec.content_sha256,
                S3ComputedContentSHA256=hashes.sha256_hex)
        if spec.content_md5 is not None and hashes.hasher("MD5").digest() != spec.content_md5:
            raise errors.BadDigest()
        if spec.header_checksum is not None:
            algorithm, digest = spec.header_checksum
            self._check(algorithm, digest)
        if self._decoder is not None:
            self.trailers = dict(self._decoder.trailers)
            for name, value in self.trailers.items():
                algorithm = checksums.algorithm_for_header(name)
                if algorithm is None:
                    continue
                digest = checksums.decode_value(algorithm, value)
                if digest is None:
                    raise errors.InvalidRequest(f"Value for {name} trailing header is invalid.")
                self._check(algorithm, digest)

    def _check(self, algorithm: str, digest: bytes) -> None:
        if self._hashes.hasher(algorithm).digest() != digest:
            raise errors.BadDigest(
                f"The {algorithm} you specified did not match the calculated checksum.")


def verified_body(request: web.BaseRequest, ctx, also: tuple[str, ...] = (), *,
                  object_checksum_headers: bool = False, sha256: bool = True) -> VerifiedBody:
    """The decoded, verified body of an authenticated request (``ctx`` from
    ``Authenticator.authenticate``).

    ``also``                     checksum algorithms to compute besides those the client
                                 sent or asked for (a multipart upload's own algorithm)
    ``object_checksum_headers``  the ``x-amz-checksum-*`` headers describe an object, not
                                 this body (CompleteMultipartUpload), so the body is not
                                 checked against them
    ``sha256``                   compute the body's SHA-256 (``sha256_hex``) even where the
                                 signature does not need it: the hash of an object for its
                                 record; off for a multipart part, whose own SHA-256 nobody
                                 reads (the object's is taken when the parts are assembled)
    """
    spec = ctx.payload
    if also:
        spec = dataclasses.replace(spec, algorithms=tuple(dict.fromkeys(spec.algorithms + also)))
    if object_checksum_headers and spec.header_checksum is not None:
        spec = dataclasses.replace(spec, header_checksum=None)
    return VerifiedBody(request, spec, sha256=sha256)
