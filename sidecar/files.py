"""File operations on a share that must not lose anything: hashing, atomic writes, moves.

All blocking; the service runs them in threads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from sidecar.names import COMPANION_SUFFIXES, TEMP_SUFFIX, XMP_SUFFIX

CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """(hex digest, bytes read)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def read_if_file(path: Path) -> bytes | None:
    try:
        if path.is_symlink():
            return None
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


def sha256_or_none(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def write_atomically(path: Path, data: bytes) -> tuple[int, int]:
    """Readers see the old file or the new one, never half of it. Returns the new file's
    (size, mtime_ns), taken before it became visible: a later write by someone else
    always shows as a different stat."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")
    try:
        with open(temp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            st = os.fstat(fh.fileno())
        os.replace(temp, path)
        return st.st_size, st.st_mtime_ns
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def free_name(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext``... if something is already there."""
    if not path.exists():
        return path
    stem, suffix = path.name.split(".", 1) if "." in path.name else (path.name, "")
    n = 2
    while True:
        candidate = path.with_name(f"{stem}-{n}" + (f".{suffix}" if suffix else ""))
        if not candidate.exists():
            return candidate
        n += 1


def belongings(path: Path) -> list[Path]:
    """The files that travel with ``path``: its XMP and its companion files."""
    return [p for p in (path.with_name(path.name + s) for s in (XMP_SUFFIX,) + COMPANION_SUFFIXES)
            if p.is_file() and not p.is_symlink()]


def move_with_belongings(path: Path, destination: Path) -> Path:
    """Move a file (and its XMP and companions) to ``destination``, never overwriting."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    target = free_name(destination)
    extras = belongings(path)
    shutil.move(path, target)
    for extra in extras:
        shutil.move(extra, free_name(target.with_name(target.name + extra.name[len(path.name):])))
    return target


def delete_with_belongings(path: Path) -> None:
    for extra in belongings(path):
        extra.unlink(missing_ok=True)
    path.unlink(missing_ok=True)
