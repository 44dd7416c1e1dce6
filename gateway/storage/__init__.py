"""Storage backends behind one small interface (``base.StorageBackend``).

``fs`` keeps objects on the local disk (the embedded default); ``s3`` keeps them in any
S3-compatible store, SeaweedFS first.
"""

from __future__ import annotations

from gateway.config import Config
from gateway.storage.base import StorageBackend


def open_backend(config: Config) -> StorageBackend:
    """The backend ``[storage] kind`` names, not yet started."""
    if config.storage.kind == "s3":
        from gateway.storage.s3 import S3Backend
        return S3Backend(config.storage, spool_dir=config.resolve(config.storage.spool_dir) if config.storage.spool_dir else None)
    from gateway.storage.fs import FsBackend
    return FsBackend(config.resolve(config.storage.path))
