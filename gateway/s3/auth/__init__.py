"""S3 request authentication and payload decoding.

Two steps, so that ``Expect: 100-continue`` is answered only for authenticated
requests::

    ctx = authenticator.authenticate(request)     # headers only; raises gateway.errors
    body = verified_body(request, ctx)            # async-iterable of decoded bytes
    async for piece in body: spool(piece)         # raises on any verification failure
    commit(body.md5_hex, body.checksums)          # reached only for verified data

Modules: ``sigv4`` / ``sigv2`` (signature math, plus the outbound :func:`sign_request`),
``chunked`` (aws-chunked framing), ``checksums`` (CRC32/CRC32C/CRC64NVME/SHA1/SHA256/MD5),
``body`` (payload verification), ``authenticator`` (scheme dispatch).
"""

from .authenticator import AuthContext, Authenticator
from .body import VerifiedBody, verified_body
from .checksums import ChecksumSet, Hasher
from .sigv4 import sign_request

__all__ = ["AuthContext", "Authenticator", "ChecksumSet", "Hasher", "VerifiedBody",
           "sign_request", "verified_body"]
