"""Line numbers for policy-file problems.

``tomllib`` returns plain dicts without positions, so problems found after parsing
(an unknown key, a CEL error in ``validate``) would otherwise only name the rule. This
module re-scans the text to find where the n-th ``[[rule]]`` (or ``[[set]]``, ``[[route]]``)
starts and on which line one of its keys is written. It understands only what policy
files use — array-of-tables headers, ``key = value`` lines, multi-line strings — and
answers ``None`` when unsure: a position is a help for the reader, never a guess.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]")
_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
_KEY = re.compile(r"""^\s*("?)([A-Za-z0-9_-]+)\1\s*=""")
_TOML_ERROR_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


class Locator:
    """Positions in one policy file's text."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self._code = _code_lines(self.lines)          # False: inside a multi-line string
        # kind -> 1-based header line of each [[kind]] table, in file order
        self.headers: dict[str, list[int]] = {}
        for n, line in enumerate(self.lines, 1):
            if self._code[n - 1]:
                m = _HEADER.match(line)
                if m:
                    self.headers.setdefault(m.group(1), []).append(n)

    def table(self, kind: str, index: int) -> int | None:
        """Header line of the ``index``-th (0-based) ``[[kind]]`` table."""
        found = self.headers.get(kind, [])
        return found[index] if index < len(found) else None

    def key(self, kind: str | None, index: int, key: str) -> int | None:
        """Line where ``key`` is assigned in the ``index``-th ``[[kind]]`` table.

        ``kind`` None means the top level (before the first table header).
        """
        if kind is None:
            start, end = 1, self._end_of(None, 1)
        else:
            start = self.table(kind, index)
            if start is None:
                return None
            end = self._end_of(kind, start + 1)
        for n in range(start, end):
            if not self._code[n - 1]:
                continue
            m = _KEY.match(self.lines[n - 1])
            if m and m.group(2) == key:
                return n
        return start if kind is not None else None

    def _end_of(self, kind: str | None, start: int) -> int:
        """First line after ``start`` that opens a table not nested in ``kind``."""
        for n in range(start, len(self.lines) + 1):
            if not self._code[n - 1]:
                continue
            m = _HEADER.match(self.lines[n - 1]) or _TABLE.match(self.lines[n - 1])
            if m and (kind is None or not m.group(1).startswith(kind + ".")):
                return n
        return len(self.lines) + 1


def _code_lines(lines: list[str]) -> list[bool]:
    """For each line, whether it starts outside a multi-line string."""
    out, open_quote = [], None
    for line in lines:
        out.append(open_quote is None)
        i = 0
        while i < len(line):
            if open_quote is None:
                if line[i] == "#":
                    break
                for q in ('"""', "'''"):
                    if line.startswith(q, i):
                        open_quote, i = q, i + 3
                        break
                else:
                    if line[i] in "\"'":              # one-line string: skip to its end
                        q, i = line[i], i + 1
                        while i < len(line) and line[i] != q:
                            i += 2 if (q == '"' and line[i] == "\\") else 1
                    i += 1
            else:
                if line.startswith(open_quote, i):
                    open_quote, i = None, i + 3
                else:
                    i += 2 if (open_quote == '"""' and line[i] == "\\") else 1
    return out


def toml_error_line(message: str) -> int | None:
    """The line number tomllib puts in a ``TOMLDecodeError`` message."""
    m = _TOML_ERROR_POS.search(message)
    return int(m.group(1)) if m else None
