"""Edits of a configuration file that keep it as its author wrote it.

``provgate init`` and ``provgate identity add|list|rotate`` change ``[[identities]]``
with tomlkit, which keeps comments, order and formatting of everything else, and replace
the file atomically (a temporary file in the same folder, fsynced, then renamed over the
original with its permissions), so a crash or a full disk leaves the old file intact.

Secrets are generated here (``secrets``, 240 bits) and returned to the caller to show
once; they are written inline (``secret = "..."``) unless the identity reads its secret
from the environment (``secret_env = "VAR"``), in which case the file names the variable
only and the caller tells the user to set it.
"""

from __future__ import annotations

import os
import re
import secrets
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tomlkit

from gateway.identities import ROLES

# Access keys look like AWS's (20 upper-case letters and digits) so clients that check
# the shape accept them; the prefix says where they came from.
ACCESS_KEY_PREFIX = "PG"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ENV_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EditError(Exception):
    """The edit cannot be made (unknown identity, name taken, bad value, unreadable file)."""


def new_access_key() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return ACCESS_KEY_PREFIX + "".join(secrets.choice(alphabet) for _ in range(18))


def new_secret() -> str:
    return secrets.token_urlsafe(30)          # 40 characters, 240 random bits


@dataclass
class IdentityEntry:
    """An identity as the file states it; ``secret_env`` set means the secret is there."""

    name: str
    access_key: str
    role: str
    buckets: list[str]
    secret_env: str | None          # the variable named, when the secret is not inline


def read_document(path: Path) -> tomlkit.TOMLDocument:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise EditError(f"{path}: no such file (create one with `provgate init`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EditError(f"{path}: cannot read: {exc}") from None
    return read_document_text(text, path)


def read_document_text(text: str, path: Path) -> tomlkit.TOMLDocument:
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as exc:
        raise EditError(f"{path}: not valid TOML: {exc}") from None
    if not isinstance(doc.get("identities", []), list):
        raise EditError(f"{path}: 'identities' must be an array of tables ([[identities]])")
    return doc


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: all of it or none of it, keeping its permissions."""
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o600                          # a new config holds secrets: owner only
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)                      # the rename itself survives a crash
    finally:
        os.close(dir_fd)


def list_identities(doc: tomlkit.TOMLDocument) -> list[IdentityEntry]:
    out = []
    for table in doc.get("identities", []):
        out.append(IdentityEntry(name=str(table.get("name", "")),
                                 access_key=str(table.get("access_key", "")),
                                 role=str(table.get("role", "writer")),
                                 buckets=[str(b) for b in table.get("buckets", ["*"])],
                                 secret_env=(str(table["secret_env"]) if "secret_env" in table
                                             else None)))
    return out


def _check_fields(name: str, role: str, buckets: list[str], secret_env: str | None) -> None:
    if not NAME_PATTERN.match(name):
        raise EditError(f"identity name {name!r}: use letters, digits, '.', '_' or '-' "
                        "(at most 64, starting with a letter or digit)")
    if role not in ROLES:
        raise EditError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    if not buckets or any(not b or "," in b for b in buckets):
        raise EditError("buckets: give '*' or bucket names")
    if secret_env is not None and not ENV_PATTERN.match(secret_env):
        raise EditError(f"secret_env {secret_env!r}: not an environment variable name")


def add_identity(doc: tomlkit.TOMLDocument, name: str, *, role: str, buckets: list[str],
                 secret_env: str | None = None, access_key: str | None = None,
                 comment: str | None = None) -> tuple[str, str]:
    """Append an ``[[identities]]`` table; returns (access key, secret) to show once."""
    _check_fields(name, role, buckets, secret_env)
    existing = list_identities(doc)
    if any(e.name == name for e in existing):
        raise EditError(f"an identity named {name!r} exists already (rotate its secret "
                        "with `provgate identity rotate`)")
    access_key = access_key or new_access_key()
    if any(e.access_key == access_key for e in existing):
        raise EditError(f"access key {access_key!r} is in use already")
    secret = new_secret()
    table = tomlkit.table()
    if comment:
        table.add(tomlkit.comment(comment))
    table.add("name", name)
    table.add("access_key", access_key)
    if secret_env:
        table.add("secret_env", secret_env)
    else:
        table.add("secret", secret)
    table.add("role", role)
    table.add("buckets", buckets)
    if "identities" not in doc:
        doc.add("identities", tomlkit.aot())
    identities = doc["identities"]
    # Comments after the last identity introduce whatever section follows it: they stay
    # in front of that section, so they move to the end of the new table.
    trailing = _take_trailing_comments(identities[-1]) if len(identities) else []
    if trailing or len(identities):
        table.add(tomlkit.nl())
    identities.append(table)
    for key, item in trailing:
        table.value.body.append((key, item))
    return access_key, secret


def _take_trailing_comments(table) -> list:
    """Remove and return the comment lines (and blank lines among them) that end a table,
    keeping one blank line after its last value."""
    body = table.value.body
    taken = []
    while body and body[-1][0] is None and isinstance(
            body[-1][1], (tomlkit.items.Comment, tomlkit.items.Whitespace)):
        taken.insert(0, body.pop())
    if not any(isinstance(item, tomlkit.items.Comment) for _, item in taken):
        body.extend(taken)                    # only blank lines: leave them where they were
        return []
    while taken and isinstance(taken[0][1], tomlkit.items.Whitespace):
        body.append(taken.pop(0))
    return taken


def rotate_identity(doc: tomlkit.TOMLDocument, name: str, *, new_key: bool = False,
                    secret_env: str | None = None) -> tuple[str, str, str | None]:
    """Give identity ``name`` a new secret (and, asked, a new access key); returns
    (access key, secret, the variable to put the secret in or None when inline)."""
    if secret_env is not None:
        _check_fields(name, "writer", ["*"], secret_env)
    for table in doc.get("identities", []):
        if table.get("name") == name:
            break
    else:
        raise EditError(f"no identity named {name!r} (see `provgate identity list`)")
    if new_key:
        table["access_key"] = new_access_key()
    secret = new_secret()
    variable = secret_env or (str(table["secret_env"]) if "secret_env" in table else None)
    if variable:
        if "secret" in table:
            del table["secret"]
        table["secret_env"] = variable
    else:
        table["secret"] = secret
    return str(table["access_key"]), secret, variable
