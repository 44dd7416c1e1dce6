"""Which files in a share are work, and which are someone's scratch or our own output.

Ignored: names that tools use while a file is still being written or that file servers
add (``*.tmp``, ``*.part``, ``*.crdownload``, ``.~*``, ``~$*``, ``.syncthing.*``,
``@eaDir``, ``.DS_Store``, ``Thumbs.db``), the sidecar's own output (``*.xmp``,
``*.reason.json``, its temporary files), companion files (read with the file they
describe), and the share's own patterns. A pattern matches a name at any depth, or the
path relative to the share when it contains ``/``.
"""

from __future__ import annotations

import fnmatch
from pathlib import PurePosixPath

BUILTIN_IGNORED = ("*.tmp", "*.part", "*.crdownload", ".~*", "~$*", ".syncthing.*",
                   "@eaDir", ".DS_Store", "Thumbs.db")
XMP_SUFFIX = ".xmp"
REASON_SUFFIX = ".reason.json"
TEMP_SUFFIX = ".provgate-tmp"
FOLDER_PROMPT = "prompt.txt"
COMPANION_SUFFIXES = (".json", ".txt")


def ignored(relpath: str, patterns: tuple[str, ...] = ()) -> bool:
    """True for a path (relative to the share, ``/``-separated) that is never ingested."""
    parts = PurePosixPath(relpath).parts
    for pattern in BUILTIN_IGNORED + patterns:
        if "/" in pattern:
            if fnmatch.fnmatchcase(relpath, pattern):
                return True
        elif any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return True
    name = parts[-1]
    return name.endswith((XMP_SUFFIX, REASON_SUFFIX, TEMP_SUFFIX))


def is_companion(relpath: str, exists) -> bool:
    """``prompt.txt``, or ``<file>.json`` / ``<file>.txt`` beside an existing ``<file>``.

    ``exists(relpath)`` answers whether a path is a file in the share.
    """
    name = PurePosixPath(relpath).name
    if name == FOLDER_PROMPT:
        return True
    for suffix in COMPANION_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            if exists(relpath[: -len(suffix)]):
                return True
    return False


def xmp_owner(relpath: str) -> str | None:
    """For ``a.png.xmp``, ``a.png``; None for any other name."""
    if relpath.endswith(XMP_SUFFIX) and len(PurePosixPath(relpath).name) > len(XMP_SUFFIX):
        return relpath[: -len(XMP_SUFFIX)]
    return None


def template_fields(relpath: str, template: tuple[str, ...]) -> dict[str, str]:
    """Fields from the leading folders of ``relpath`` under a share's template.

    ``{brand}/{campaign}`` with ``acme/spring/hero.png`` gives brand=acme,
    campaign=spring. A literal segment must match exactly, ``*`` matches any folder. A
    path with fewer folders than the template, or a literal that differs, gives nothing:
    a file dropped at the top of a share is still ingested, only without these fields.
    """
    folders = PurePosixPath(relpath).parts[:-1]
    if not template or len(folders) < len(template):
        return {}
    found: dict[str, str] = {}
    for segment, folder in zip(template, folders):
        if segment.startswith("{") and segment.endswith("}"):
            found[segment[1:-1]] = folder
        elif segment != "*" and segment != folder:
            return {}
    return found
