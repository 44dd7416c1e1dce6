"""``provgate init``: a working installation folder, and the files shipped to make one.

The shipped files are the repository's own ``config.example.toml`` and ``policies/``.
A wheel carries copies under ``gateway/shipped/`` (setup.py's build step puts them
there); a source checkout or an editable install reads them from the checkout itself,
so there is one copy to keep true.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gateway import config_edit

CONFIG_NAME = "provgate.toml"
EXAMPLE_CONFIG = "config.example.toml"
POLICIES = "policies"

# The comment above the example's development identity, replaced by init's own.
_DEV_COMMENT = re.compile(r"^# DEVELOPMENT IDENTITY.*?(?=^\[\[identities\]\])", re.M | re.S)
_ADMIN_COMMENT = ("# The administrator made by `provgate init`; its secret was shown once. "
                  "A new one:\n# `provgate identity rotate admin` (add --secret-env VAR to "
                  "keep it in the environment).\n")


def shipped(name: str) -> Path:
    """Path of a shipped file or folder (``config.example.toml``, ``policies``)."""
    packaged = resources.files("gateway") / "shipped" / name
    if packaged.is_file() or packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[1] / name
    if checkout.exists():
        return checkout
    raise FileNotFoundError(f"shipped file {name} is missing from this installation")


@dataclass
class Started:
    config: Path
    access_key: str
    secret: str
    made: list[Path]


def init_directory(target: Path) -> Started:
    """Write ``target/provgate.toml`` (the example's comments, a fresh admin identity
    instead of the development one), ``target/policies`` (the shipped set and its tests)
    and the sample share ``target/inbox``. Refuses to overwrite anything."""
    target = target.resolve()
    config_path = target / CONFIG_NAME
    policies = target / POLICIES
    for existing in (config_path, policies):
        if existing.exists():
            raise config_edit.EditError(f"{existing} exists already; init writes only into "
                                        "a folder without a provgate.toml and policies/")
    text = shipped(EXAMPLE_CONFIG).read_text("utf-8")
    text = _DEV_COMMENT.sub(_ADMIN_COMMENT, text, count=1)
    doc = config_edit.read_document_text(text, shipped(EXAMPLE_CONFIG))
    # The example's development identity becomes a fresh admin, in its place in the file.
    identities = doc.get("identities")
    if identities:
        while len(identities) > 1:
            identities.pop(1)
        admin = identities[0]
        admin["name"] = "admin"
        admin["role"] = "admin"
        admin["buckets"] = ["*"]
        if "secret_env" in admin:
            del admin["secret_env"]
        access_key, secret, _ = config_edit.rotate_identity(doc, "admin", new_key=True)
    else:
        access_key, secret = config_edit.add_identity(doc, "admin", role="admin",
                                                      buckets=["*"])
    for table in doc.get("sidecar", {}).get("shares", []):
        if table.get("identity") == "dev":
            table["identity"] = "admin"
    target.mkdir(parents=True, exist_ok=True)
    made = []
    shutil.copytree(shipped(POLICIES), policies,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    made.append(policies)
    for folder in ("inbox",):
        path = target / folder
        if not path.exists():
            path.mkdir()
            made.append(path)
    config_edit.write_atomically(config_path, doc.as_string())
    made.insert(0, config_path)
    return Started(config_path, access_key, secret, made)
