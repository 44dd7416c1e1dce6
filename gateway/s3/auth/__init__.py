"""S3 request authentication and payload decoding.

Two steps, so that ``Expect: 100-continue`` is answered only for authenticated
requests::

    ctx = authenticator.authenticate(request)     # headers only; raises gateway.errors
    body = verified_body(request, ctx)            # async-iterable of decoded bytes
    async for piece in body: spool(piece)         # raises on any verification failure
    commit(body.md5_hex, body.checksums)          # reached only for verified data

The signature math (SigV4, SigV2) and the payload checksums
(CRC32/CRC32C/CRC64NVME/SHA1/SHA256/MD5, ``gateway.wire.checksums``) live in
:mod:`gateway.wire`. Modules: ``chunked`` (aws-chunked framing), ``body`` (payload
verification), ``authenticator`` (scheme dispatch).
"""

from .authenticator import AuthContext, Authenticator
from .body import VerifiedBody, verified_body
from gateway.wire.checksums import ChecksumSet, Hasher

__all__ = ["AuthContext", "Authenticator", "ChecksumSet", "Hasher", "VerifiedBody",
           "verified_body"]
