"""Who may call provgate: access keys, their secrets, roles and bucket scope.

Identities come from ``[[identities]]`` in the config.  Roles are ordered by what they
may do; ``buckets`` limits an identity to a list of bucket names (``["*"]`` = all);
``groups`` names teams that ``stage = "review"`` policy rules can ask for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# reader: read and list.  writer: + write and delete objects.  reviewer: + review
# decisions.  publisher: + distribution.  admin: everything, including buckets.
ROLES = ("reader", "writer", "reviewer", "publisher", "admin")
# How an identity meets the XMP records: "served" (the default) reads a record at
# ``<key>.xmp`` but never sees it in listings, as a plain S3 client expects; "listed" also
# sees every record in listings, read-only (for DAM tools that sync a bucket to a folder).
XMP_MODES = ("served", "listed")


@dataclass(frozen=True)
class Identity:
    name: str
    access_key: str
    secret: str = field(repr=False)
    role: str = "writer"
    buckets: tuple[str, ...] = ("*",)
    xmp: str = "served"            # one of XMP_MODES
    # Named groups (e.g. "legal") that review rules can require an approval from;
    # they grant nothing by themselves.
    groups: tuple[str, ...] = ()

    def may_access_bucket(self, bucket: str) -> bool:
        return "*" in self.buckets or bucket in self.buckets

    def has_role(self, needed: str) -> bool:
        """True when this identity's role is ``needed`` or ranks above it."""
        return ROLES.index(self.role) >= ROLES.index(needed)


class IdentityStore:
    """Access-key lookup used by request authentication."""

    def __init__(self, identities: list[Identity]) -> None:
        self._by_key = {i.access_key: i for i in identities}

    def lookup(self, access_key: str) -> Identity | None:
        return self._by_key.get(access_key)

    def __iter__(self):
        return iter(self._by_key.values())
