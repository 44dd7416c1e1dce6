"""Streaming decoder for ``Content-Encoding: aws-chunked`` request bodies.

Wire format (the HTTP layer has already removed any ``Transfer-Encoding: chunked``)::

    <hex-size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n   ... repeated ...
    0[;chunk-signature=<sig>]\\r\\n
    [<trailer-name>:<value>\\r\\n ... [x-amz-trailer-signature:<sig>\\r\\n]]
    \\r\\n

Signed modes chain signatures: each chunk signs the previous signature (the seed is
the request signature) and the SHA-256 of its data; the trailer signs the last chunk
signature and the trailer lines.  Data is yielded as it arrives in pieces of at most
``piece_size`` bytes, so memory stays bounded whatever the chunk size; a bad chunk
surfaces as an error before the decoder finishes, and the caller holds the final piece
back until then (see ``body.VerifiedBody``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import AsyncIterator

from aiohttp import StreamReader
from aiohttp.http_exceptions import HttpProcessingError

from gateway import errors

from gateway.wire import sigv4

MAX_LINE = 4096          # a chunk header is ~90 bytes; anything near this is hostile
MAX_TRAILER_LINES = 16
_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ChunkSigner:
    """What chunk verification needs from the request signature (no secret kept)."""

    key: bytes = field(repr=False)
    timestamp: str
    scope: str
    seed_signature: str


class _Reader:
    """Line and slice reads over a StreamReader, converting transport failures."""

    def __init__(self, stream: StreamReader) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def _read(self, limit: int) -> bytes:
        try:
            return await self._stream.read(limit)
        except (HttpProcessingError, ConnectionError) as exc:
            raise errors.IncompleteBody(f"The request body ended early: {exc}") from None

    async def _fill(self) -> bool:
        data = await self._read(1 << 16)
        self._buffer += data
        return bool(data)

    async def line(self, eof_ok: bool = False) -> bytes | None:
        """The next line without its CRLF/LF; None at a clean EOF when ``eof_ok``."""
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                if end > MAX_LINE:
                    break
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self._buffer) > MAX_LINE:
                break
            start = len(self._buffer)
            if not await self._fill():
                if eof_ok and not self._buffer:
                    return None
                raise errors.IncompleteBody("The aws-chunked body ended in the middle of a line.")
        raise errors.InvalidRequest("aws-chunked framing line exceeds the maximum length.")

    async def take(self, limit: int) -> bytes:
        """Between 1 and ``limit`` bytes of data."""
        if self._buffer:
            data = bytes(self._buffer[:limit])
            del self._buffer[:limit]
            return data
        # Bulk data bypasses the line buffer: no copy, and at most ``limit`` in memory.
        data = await self._read(limit)
        if not data:
            raise errors.IncompleteBody("The aws-chunked body ended inside a chunk.")
        return data

    async def at_end(self) -> bool:
        """True when nothing but (a few) blank lines is left before EOF."""
        skipped = 0
        while True:
            stripped = self._buffer.lstrip(b"\r\n")
            skipped += len(self._buffer)
            if stripped or skipped > MAX_LINE:
                return False
            self._buffer.clear()
            if not await self._fill():
                return True


def _parse_header(line: bytes) -> tuple[int, str | None]:
    size_part, _, extensions = line.partition(b";")
    size_part = size_part.strip()
    if not _SIZE.fullmatch(size_part):
        raise errors.InvalidRequest("aws-chunked chunk size is not a hexadecimal number.")
    signature = None
    for extension in extensions.split(b";") if extensions else ():
        name, _, value = extension.partition(b"=")
        if name.strip() == b"chunk-signature":
            signature = value.strip().decode("ascii", "replace")
    return int(size_part, 16), signature


class ChunkedDecoder:
    """Decodes one aws-chunked body; iterate :meth:`pieces`, then read :attr:`trailers`.

    ``signer`` set: every chunk signature is verified (``STREAMING-AWS4-HMAC-SHA256-*``).
    ``signed_trailer``: the trailer must carry a valid ``x-amz-trailer-signature``.
    ``trailer_names``: trailers that must arrive (from ``x-amz-trailer``); a trailer
    section is read when this is non-empty or ``expect_trailer`` is set.
    ``decoded_length``: exact decoded size required, when the client declared one.
    """

    def __init__(self, stream: StreamReader, *, signer: ChunkSigner | None = None,
                 signed_trailer: bool = False, expect_trailer: bool = False,
                 trailer_names: tuple[str, ...] = (), decoded_length: int | None = None,
                 piece_size: int = 1 << 20) -> None:
        self._reader = _Reader(stream)
        self._signer = signer
        self._signed_trailer = signed_trailer
        self._trailer_names = tuple(n.lower() for n in trailer_names)
        self._read_trailer = expect_trailer or bool(trailer_names)
        self._decoded_length = decoded_length
        self._piece_size = piece_size
        self._previous = signer.seed_signature if signer else ""
        self.size = 0
        self.trailers: dict[str, str] = {}

    async def pieces(self) -> AsyncIterator[bytes]:
        """Decoded payload bytes; raises an S3 error as soon as something is wrong."""
        while True:
            header = await self._reader.line()
            size, chunk_signature = _parse_header(header)
            if self._signer and chunk_signature is None:
                raise errors.SignatureDoesNotMatch("An aws-chunked chunk carries no chunk-signature.")
            if self._decoded_length is not None and self.size + size > self._decoded_length:
                raise errors.InvalidRequest(
                    "The decoded body is longer than x-amz-decoded-content-length.")
            digest = hashlib.sha256() if self._signer else None
            remaining = size
            while remaining:
                data = await self._reader.take(min(remaining, self._piece_size))
                remaining -= len(data)
                self.size += len(data)
                if digest is not None:
                    digest.update(data)
                yield data
            if self._signer:
                self._verify_chunk(chunk_signature, digest.hexdigest())
            if size == 0:
                break
            if await self._reader.line() != b"":
                raise errors.InvalidRequest("aws-chunked chunk data is not followed by CRLF.")
        if self._decoded_length is not None and self.size != self._decoded_length:
            raise errors.IncompleteBody(
                f"The decoded body has {self.size} bytes; x-amz-decoded-content-length "
                f"declared {self._decoded_length}.")
        await self._finish()

    def _verify_chunk(self, provided: str, data_sha256: str) -> None:
        signer = self._signer
        expected = sigv4.signature(signer.key, sigv4.chunk_string_to_sign(
            signer.timestamp, signer.scope, self._previous, data_sha256))
        if not hmac.compare_digest(expected.encode(), provided.encode("ascii", "replace")):
            raise errors.SignatureDoesNotMatch(
                "The chunk signature we calculated does not match the one you provided.")
        self._previous = expected

    async def _finish(self) -> None:
        if not self._read_trailer:
            if not await self._reader.at_end():
                raise errors.InvalidRequest("Unexpected data after the final aws-chunked chunk.")
            return
        lines: list[tuple[str, str]] = []
        blank_lines = 0
        while True:
            line = await self._reader.line(eof_ok=True)
            if line is None:
                break
            if line == b"":
                # Some clients put the final chunk's empty-data CRLF before the trailer.
                if lines or blank_lines:
                    break
                blank_lines += 1
                continue
            if len(lines) >= MAX_TRAILER_LINES:
                raise errors.InvalidRequest("Too many aws-chunked trailer lines.")
            name, sep, value = line.decode("utf-8", "replace").partition(":")
            if not sep:
                raise errors.InvalidRequest("Malformed aws-chunked trailer line.")
            lines.append((name.strip().lower(), value.strip()))
        if not await self._reader.at_end():
            raise errors.InvalidRequest("Unexpected data after the aws-chunked trailer.")
        signature = None
        for name, value in lines:
            if name == "x-amz-trailer-signature":
                signature = value
            else:
                self.trailers[name] = value
        missing = [n for n in self._trailer_names if n not in self.trailers]
        if missing:
            raise errors.IncompleteBody(f"The declared trailer {missing[0]} was not sent.")
        undeclared = [n for n in self.trailers if n not in self._trailer_names]
        if undeclared:
            raise errors.InvalidRequest(
                f"The trailer {undeclared[0]} was not declared in x-amz-trailer.")
        if self._signed_trailer:
            self._verify_trailer(signature, lines)

    def _verify_trailer(self, provided: str | None, lines: list[tuple[str, str]]) -> None:
        if provided is None or not _SIGNATURE.fullmatch(provided):
            raise errors.SignatureDoesNotMatch("The aws-chunked trailer carries no valid signature.")
        canonical = "".join(f"{n}:{v}\n" for n, v in lines if n != "x-amz-trailer-signature")
        signer = self._signer
        expected = sigv4.signature(signer.key, sigv4.trailer_string_to_sign(
            signer.timestamp, signer.scope, self._previous,
            canonical.encode("utf-8", "surrogateescape")))
        if not hmac.compare_digest(expected, provided):
            raise errors.SignatureDoesNotMatch(
                "The trailer signature we calculated does not match the one you provided.")
