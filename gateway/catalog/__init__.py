"""The LMDB catalog: an index of assets, versions, records and lineage (see store.py)."""

from gateway.catalog.store import Catalog, Ref

__all__ = ["Catalog", "Ref"]
