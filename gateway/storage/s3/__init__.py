"""The s3 storage backend: objects kept in an upstream S3 (SeaweedFS first)."""

from gateway.storage.s3.backend import S3Backend

__all__ = ["S3Backend"]
