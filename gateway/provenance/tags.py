"""A read-only view of one file's ExifTool JSON (``exiftool -j -G1 -struct -n``).

Keys look like ``PNG:Parameters``, ``IFD0:Make``, ``XMP-iptcExt:DigitalSourceType``.
ExifTool capitalises PNG text keywords it does not know (``invokeai_metadata`` becomes
``PNG:Invokeai_metadata``), so lookups are case-insensitive.
"""

from __future__ import annotations

from typing import Any


class Tags:
    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = data or {}
        self._lower = {key.lower(): key for key in self.data}

    def __bool__(self) -> bool:
        return bool(self.data)

    def get(self, *names: str) -> Any:
        """The value of the first of ``names`` ("Group:Tag") that is present, else None."""
        for name in names:
            key = self._lower.get(name.lower())
            if key is not None:
                return self.data[key]
        return None

    def text(self, *names: str) -> str | None:
        """Like ``get``, as text: numbers are printed, lists joined with ", ", empty -> None."""
        value = self.get(*names)
        if value is None:
            return None
        if isinstance(value, list):
            value = ", ".join(self._plain(v) for v in value
                              if v is not None and not isinstance(v, (dict, list)))
        elif isinstance(value, dict):
            return None
        elif isinstance(value, bool):
            value = "true" if value else "false"   # ExifTool printed "true"/"false" bare
        else:
            value = str(value)                     # Decimal keeps "3.0" as "3.0"
        return value if value.strip() else None

    @staticmethod
    def _plain(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    def with_name(self, tag: str) -> list[tuple[str, Any]]:
        """All (key, value) whose tag name (after the group) is ``tag``, any group."""
        wanted = tag.lower()
        return [(key, self.data[key]) for low, key in self._lower.items()
                if low.partition(":")[2] == wanted]

    def has_group(self, group: str) -> bool:
        prefix = group.lower() + ":"
        return any(low.startswith(prefix) for low in self._lower)

    def key_of(self, *names: str) -> str | None:
        """The actual key ("PNG:Parameters") of the first present name."""
        for name in names:
            key = self._lower.get(name.lower())
            if key is not None:
                return key
        return None


def as_list(value: Any) -> list[Any]:
    """ExifTool prints a one-item list as a scalar; make it a list either way."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
