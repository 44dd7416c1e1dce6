"""Where copies go: an S3 bucket, a folder, or a webhook. One small class per kind.

Every target answers ``put`` (store a prepared local file under a key), ``delete`` (remove
what was stored under a key) and, for webhooks, ``notify`` (POST an event). Failures are
``DeliveryError``: ``permanent`` ones (a 4xx from a webhook, a key a folder cannot hold)
are dead-lettered at once, the rest are retried with backoff.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from pathlib import Path

import aiohttp

from gateway import errors
from gateway.distribution.settings import Target
from gateway.wire.client import FileSection, S3Client

SIGNATURE_HEADER = "X-Provgate-Signature"     # "sha256=<hex HMAC of '<timestamp>.<body>'>"
TIMESTAMP_HEADER = "X-Provgate-Timestamp"     # unix seconds the signature was made at
DELIVERY_HEADER = "X-Provgate-Delivery"       # stable id of the job: receivers dedupe on it
EVENT_HEADER = "X-Provgate-Event"             # published | taken_down


class DeliveryError(Exception):
    """A delivery attempt failed; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>.<body>") (Stripe's scheme:
    the timestamp is signed too, so a captured request cannot be replayed later)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class S3Destination:
    """Any S3 service: a CDN origin or a storefront bucket (created when missing)."""

    def __init__(self, target: Target) -> None:
        s = target.settings
        self.target = target
        self.bucket = s.bucket
        self.client = S3Client(s.endpoint, s.region, s.access_key, s.secret, s.timeout,
                               connections=16)
        self._bucket_ready = False

    async def start(self) -> None:
        await self.client.start()

    async def close(self) -> None:
        await self.client.close()

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    async def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        try:
            await self.client.send("HEAD", self.bucket, expect=(200,), subject=(self.bucket, ""))
        except errors.NoSuchBucket:
            try:
                await self.client.send("PUT", self.bucket, expect=(200,),
                                       subject=(self.bucket, ""))
            except (errors.BucketAlreadyOwnedByYou, errors.BucketAlreadyExists):
                pass
        self._bucket_ready = True

    async def put(self, key: str, path: Path, content_type: str) -> str:
        headers = {"Content-Type": content_type,
                   "Content-MD5": base64.b64encode(await asyncio.to_thread(_md5, path)).decode()}
        if self.target.settings.cache_control:
            headers["Cache-Control"] = self.target.settings.cache_control
        if self.target.settings.storage_class:
            headers["x-amz-storage-class"] = self.target.settings.storage_class
        try:
            await self._ensure_bucket()
            await self.client.send("PUT", self.bucket, key, headers=headers,
                                   body=FileSection(path, 0, path.stat().st_size),
                                   subject=(self.bucket, key))
        except errors.GatewayError as exc:
            # A lost answer is safe to resend: the same bytes under the same key.
            raise DeliveryError(f"{self.location(key)}: {exc.message}") from None
        return self.location(key)

    async def delete(self, key: str) -> None:
        try:
            await self.client.send("DELETE", self.bucket, key, expect=(200, 204),
                                   subject=(self.bucket, key))
        except (errors.NoSuchKey, errors.NoSuchBucket):
            pass
        except errors.GatewayError as exc:
            raise DeliveryError(f"{self.location(key)}: {exc.message}") from None


class FolderDestination:
    """A folder a web server exports: files appear whole (written aside, then renamed)."""

    def __init__(self, target: Target) -> None:
        assert target.path is not None
        self.root = target.path

    async def start(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    async def close(self) -> None:
        pass

    def resolve(self, key: str) -> Path:
        """The file for ``key``; a key that would leave the folder is refused for good."""
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts) or "\\" in key or "\x00" in key:
            raise DeliveryError(f"key {key!r} cannot be a path inside {self.root}",
                                permanent=True)
        return self.root.joinpath(*parts)

    def location(self, key: str) -> str:
        return str(self.resolve(key))

    async def put(self, key: str, path: Path, content_type: str) -> str:
        dest = self.resolve(key)
        try:
            await asyncio.to_thread(_atomic_copy, path, dest)
        except OSError as exc:
            raise DeliveryError(f"{dest}: {exc.strerror or exc}") from None
        return str(dest)

    async def delete(self, key: str) -> None:
        dest = self.resolve(key)
        try:
            await asyncio.to_thread(dest.unlink)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise DeliveryError(f"{dest}: {exc.strerror or exc}") from None


def _atomic_copy(source: Path, dest: Path) -> None:
    """Copy to a hidden file in the destination folder, fsync, then rename over ``dest``:
    a reader sees the old file or the whole new one, never a part."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part"
    try:
        with open(source, "rb") as src, open(temp, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, dest)
    except BaseException:
        try:
            temp.unlink()
        except FileNotFoundError:
            pass
        raise
    fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _md5(path: Path) -> bytes:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


class WebhookDestination:
    """A connector to an ad or commerce platform: signed JSON events, no bytes."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.url = target.settings.url
        self.secret = target.settings.secret
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=self.target.settings.timeout))

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def notify(self, event: str, delivery_id: str, payload: dict) -> str:
        """POST one signed event; 2xx is done, 4xx permanent, 5xx and timeouts retried."""
        assert self._session is not None
        body = json.dumps({"event": event, "delivery_id": delivery_id, **payload},
                          ensure_ascii=False, sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: webhook_signature(self.secret, timestamp, body),
                   DELIVERY_HEADER: delivery_id, EVENT_HEADER: event,
                   "User-Agent": "provgate-distribution"}
        try:
            async with self._session.post(self.url, data=body, headers=headers,
                                          allow_redirects=False) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"{self.url}: {type(exc).__name__}: {exc}".rstrip(": ")) from None
        if 200 <= status < 300:
            return self.url
        if 400 <= status < 500 and status not in (408, 429):
            raise DeliveryError(f"{self.url} answered {status}", permanent=True)
        raise DeliveryError(f"{self.url} answered {status}")


def open_destination(target: Target):
    return {"s3": S3Destination, "fs": FolderDestination,
            "webhook": WebhookDestination}[target.kind](target)
