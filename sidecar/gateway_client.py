"""The sidecar's side of the S3 door: the gateway's own S3 client, signed as the share's
identity, with every answer sorted into what the sidecar does next.

Answers are read whole here (``stream=True`` hands the raw response over), because the
storage client would otherwise turn the gateway's refusals into "the backend is
unavailable": a policy denial has to stay a denial, with its rule id.
"""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import Identity
from gateway.wire import xmldoc
from gateway.wire.client import FileSection, S3Client, Unreachable

DOOR_HEADER = "x-provgate-door"
DOOR = "sidecar"
POLICY_HEADER = "x-provgate-policy"
# "provenance" or "object": what the denying rule checked (absent from older gateways).
POLICY_SUBJECT_HEADER = "x-provgate-policy-subject"
WARNING_HEADER = "x-provgate-warning"
QUARANTINE_HEADER = "x-provgate-quarantine"
ANY_STATUS = tuple(range(100, 600))
# Refusals that say "not now" rather than "not this file": retried with backoff.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
RETRY_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
                         # credentials or clock: an operator fixes them on the gateway
                         "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
                         "RequestTimeTooSkewed"})


@dataclass
class Answer:
    """What the gateway said, sorted: exactly one of the flags below is true."""

    status: int
    code: str = ""
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    unreachable: bool = False        # no HTTP answer at all (refused, cut, timed out)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def denied_by(self) -> str | None:
        """The policy rule that denied the write, if a policy did."""
        if self.status == 403:
            return self.headers.get(POLICY_HEADER) or None
        return None

    @property
    def denial_subject(self) -> str | None:
        """What the denying rule checked: "provenance", "object", or None if unsaid."""
        return self.headers.get(POLICY_SUBJECT_HEADER) if self.denied_by else None

    @property
    def held_by(self) -> str | None:
        """``<rule id>: <message>`` when a policy sent the write to the gateway's
        quarantine (stored for review, not under the writer's key)."""
        return self.headers.get(QUARANTINE_HEADER) if self.ok else None

    @property
    def retry(self) -> bool:
        if self.unreachable:
            return True
        if self.ok or self.denied_by:
            return False
        return self.status in RETRY_STATUSES or self.code in RETRY_CODES

    @property
    def outage(self) -> bool:
        """The gateway (or its storage) is away: every file would fail the same way."""
        return self.unreachable or self.status in (502, 503, 504)

    def describe(self) -> str:
        if self.unreachable:
            return self.message
        return f"{self.status} {self.code}: {self.message}".strip(": ")


class GatewayClient:
    def __init__(self, endpoint: str, region: str, timeout: float, connections: int,
                 pinned_cert: str | None = None) -> None:
        """``pinned_cert``: see :class:`~gateway.wire.client.S3Client`."""
        self.endpoint = endpoint
        self.pinned_cert = pinned_cert
        self.region = region
        self.timeout = timeout
        self.connections = connections
        self._clients: dict[str, S3Client] = {}

    def _client(self, identity: Identity) -> S3Client:
        client = self._clients.get(identity.access_key)
        if client is None:
            client = S3Client(self.endpoint, self.region, identity.access_key, identity.secret,
                              self.timeout, connections=self.connections,
                              pinned_cert=self.pinned_cert)
            self._clients[identity.access_key] = client
        return client

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def _call(self, identity: Identity, method: str, bucket: str = "", key: str = "", *,
                    headers: dict[str, str] | None = None, body=None,
                    query: dict[str, str] | None = None, resend: bool = True) -> Answer:
        """``resend=False`` for PUTs: the storage client resends an idempotent request once
        when the connection drops, but on the gateway every PUT is a new version, so a
        write whose answer was lost is checked (HEAD) before it is sent again."""
        client = self._client(identity)
        await client.start()
        try:
            reply = await client.send(method, bucket, key, headers=headers, body=body,
                                      query=query, expect=ANY_STATUS, stream=True,
                                      resend=resend)
        except Unreachable as exc:
            return Answer(0, "ServiceUnavailable", exc.message, unreachable=True)
        assert reply.response is not None
        try:
            content = await reply.response.read()
        except (OSError, TimeoutError) as exc:
            return Answer(0, "ServiceUnavailable", f"the answer was cut: {exc}",
                          unreachable=True)
        finally:
            reply.response.release()
        answer = Answer(reply.status, headers={k.lower(): v for k, v in reply.headers.items()},
                        body=content)
        if not answer.ok:
            problem = xmldoc.error(content) if content else None
            answer.code, answer.message = (problem.code, problem.message) if problem else (
                {404: "NoSuchKey"}.get(reply.status, str(reply.status)), "")
        return answer

    async def put_file(self, identity: Identity, bucket: str, key: str, path: Path, size: int,
                       sha256_hex: str, metadata: dict[str, str]) -> Answer:
        """PUT a file's bytes; the gateway checks them against ``sha256_hex`` (a file
        that changed after it was hashed is refused with BadDigest, never stored)."""
        headers = {DOOR_HEADER: DOOR, **metadata,
                   "Content-Type": content_type_for(path.name),
                   "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(sha256_hex)).decode()}
        return await self._call(identity, "PUT", bucket, key, headers=headers,
                                body=FileSection(path, 0, size), resend=False)

    async def put_bytes(self, identity: Identity, bucket: str, key: str, data: bytes,
                        content_type: str) -> Answer:
        return await self._call(identity, "PUT", bucket, key, body=data, resend=False,
                                headers={DOOR_HEADER: DOOR, "Content-Type": content_type})

    async def get(self, identity: Identity, bucket: str, key: str) -> Answer:
        return await self._call(identity, "GET", bucket, key)

    async def stored_sha256(self, identity: Identity, bucket: str, key: str) -> str | None:
        """The SHA-256 (hex) the gateway keeps for the current object, if it has one."""
        answer = await self._call(identity, "HEAD", bucket, key,
                                  headers={"x-amz-checksum-mode": "ENABLED"})
        value = answer.headers.get("x-amz-checksum-sha256") if answer.ok else None
        try:
            return base64.b64decode(value).hex() if value else None
        except ValueError:
            return None

    async def create_bucket(self, identity: Identity, bucket: str) -> Answer:
        answer = await self._call(identity, "PUT", bucket)
        if answer.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            answer.status = 200
        return answer

    async def probe(self, identity: Identity) -> Answer:
        """Any HTTP answer to a ListBuckets means the gateway is back."""
        return await self._call(identity, "GET")


def content_type_for(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
