"""The embedded filesystem backend (the default: no other server needed)."""

from gateway.storage.fs.backend import FsBackend

__all__ = ["FsBackend"]
