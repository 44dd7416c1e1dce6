"""Configuration: one TOML file, every key documented in ``config.example.toml``.

Loading is strict: an unknown section or key, a wrong type or a missing secret stops
the process with a message naming the key, because a typo in a guardrail config must
never silently fall back to a default.  Secrets may come from the environment
(``secret_env = "NAME"``) and are never logged.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

from gateway.identities import ROLES, XMP_MODES, Identity
from gateway.wire.addresses import parse_listen
from gateway.wire.names import validate_bucket_name

# Modes of a policy file (and of ``[policies] mode``): the policy package reads them here.
POLICY_MODES = ("enforce", "warn", "audit")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


@dataclass
class ServerConfig:
    listen: str = "127.0.0.1:9000"
    region: str = "us-east-1"
    domain: str = ""                 # enables virtual-host style: <bucket>.<domain>
    tls_cert: str = ""
    tls_key: str = ""
    trusted_proxies: list[str] = field(default_factory=list)  # peers whose X-Forwarded-* we believe
    max_header_bytes: int = 16384    # whole header section, and each line
    log_format: str = "text"         # "text" | "json"


@dataclass
class AdminConfig:
    listen: str = "127.0.0.1:9001"
    session_ttl: float = 28800.0     # seconds a /ui login lasts (8 hours)


VERSIONING_CHOICES = ("enabled", "off", "locked")
VERSIONING_DEFAULT = "enabled"


@dataclass
class StorageConfig:
    kind: str = "fs"                 # "fs" | "s3"
    # What a new bucket starts as, and whether versioning may be suspended:
    #   "enabled" (default)  new buckets keep every version; PutBucketVersioning may suspend
    #   "off"                new buckets are unversioned, S3's default (a write replaces
    #                        the null version, a delete removes it); a client may enable
    #   "locked"             new buckets keep every version, and no bucket may be
    #                        suspended (PutBucketVersioning Suspended: InvalidBucketState)
    # Buckets that exist keep their state; the quarantine bucket is always versioned. The
    # provenance record of every version written is kept in every state.
    versioning: str = "enabled"
    path: str = "./data"             # fs: where buckets live
    endpoint: str = ""               # s3: upstream endpoint URL
    region: str = "us-east-1"
    access_key: str = ""
    secret: str = field(default="", repr=False)
    bucket_prefix: str = ""          # s3: prepended to every bucket name upstream
    spool_dir: str = ""              # s3: local spool for request bodies (default: system temp)
    timeout: float = 30.0            # s3: seconds before an upstream call counts as failed
    # /readyz reports "not ready" while the spool, fs data or catalog filesystem has less
    # free space than this (bytes; 0 = no check), before writes fail on a full disk.
    min_free_bytes: int = 512 * 1024 * 1024


@dataclass
class CatalogConfig:
    path: str = "./data/.catalog"
    thumbnails: str = ""      # cache of thumbnails and posters ("": catalog dir/thumbnails)
    thumbnails_max_bytes: int = 256 * 1024 * 1024   # the cache's size; least recently used go


@dataclass
class IntakeConfig:
    exiftool_processes: int = 2      # ExifTool processes (-stay_open) at most; one from the start
    exiftool_timeout: float = 10.0   # seconds one file may take before its process is replaced


@dataclass
class PoliciesConfig:
    dirs: list[str] = field(default_factory=lambda: ["policies"])  # each must exist
    mode: str = "enforce"            # mode of policy files that set none
    dry_run: bool = False            # every enforce-mode rule runs as audit
    eval_timeout: float = 1.0        # seconds one rule may run before it fails closed
    workers: int = 2                 # CEL evaluation worker processes
    poll_interval: float = 30.0      # seconds between fingerprint checks besides file events
    quarantine_bucket: str = "provgate-quarantine"   # where quarantined writes are kept


@dataclass
class Config:
    server: ServerConfig
    admin: AdminConfig
    storage: StorageConfig
    catalog: CatalogConfig
    intake: IntakeConfig
    policies: PoliciesConfig
    identities: list[Identity]
    base_dir: Path                   # relative paths in the file resolve against its folder
    # [sidecar] and its [[sidecar.shares]] as written; the folder door validates them
    # (``sidecar.settings.load_sidecar``) and the command that runs it puts the result
    # in ``sidecar``.
    sidecar_table: dict = field(default_factory=dict)
    sidecar: Any = None
    # [distribution], [targets.NAME] and [c2pa] as written; the distribution package
    # validates them (``gateway.distribution.settings.load_distribution``) into
    # ``distribution`` when the command loads the whole configuration.
    distribution_tables: dict = field(default_factory=dict)
    distribution: Any = None
    where: str = ""                  # the config file, as error messages name it

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)


def _section(doc: dict, name: str, cls, where: str):
    raw = doc.get(name, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    allowed = {f.name: f for f in cls.__dataclass_fields__.values()}
    values = {}
    for key, value in raw.items():
        if key == "secret_env":
            continue
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key '{name}.{key}' (known: {', '.join(sorted(allowed))})")
        spec = allowed[key]
        default = spec.default_factory() if spec.default is MISSING else spec.default
        if (isinstance(value, bool) != isinstance(default, bool)) or (
                not isinstance(value, type(default))
                and not (isinstance(default, float) and isinstance(value, int))):
            raise ConfigError(f"{where}: '{name}.{key}' must be {type(default).__name__}")
        values[key] = value
    if "secret" in allowed and "secret_env" in raw:
        values["secret"] = _secret_from_env(raw["secret_env"], f"{name}.secret_env", where)
    return cls(**values)


def _secret_from_env(var: object, key: str, where: str) -> str:
    if not isinstance(var, str) or not var:
        raise ConfigError(f"{where}: '{key}' must name an environment variable")
    value = os.environ.get(var)
    if not value:
        raise ConfigError(f"{where}: '{key}' names ${var}, which is not set")
    return value


def _identities(doc: dict, where: str) -> list[Identity]:
    out: list[Identity] = []
    seen: set[str] = set()
    for n, raw in enumerate(doc.get("identities", [])):
        label = f"identities[{n}]"
        unknown = set(raw) - {"name", "access_key", "secret", "secret_env", "role", "buckets",
                              "xmp", "groups"}
        if unknown:
            raise ConfigError(f"{where}: unknown key '{label}.{sorted(unknown)[0]}'")
        for key in ("name", "access_key"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise ConfigError(f"{where}: '{label}.{key}' is required")
        if "secret_env" in raw:
            secret = _secret_from_env(raw["secret_env"], f"{label}.secret_env", where)
        elif isinstance(raw.get("secret"), str) and raw["secret"]:
            secret = raw["secret"]
        else:
            raise ConfigError(f"{where}: '{label}' needs 'secret' or 'secret_env'")
        role = raw.get("role", "writer")
        if role not in ROLES:
            raise ConfigError(f"{where}: '{label}.role' must be one of {', '.join(ROLES)}")
        buckets = raw.get("buckets", ["*"])
        if not isinstance(buckets, list) or not all(isinstance(b, str) for b in buckets):
            raise ConfigError(f"{where}: '{label}.buckets' must be a list of bucket names")
        xmp = raw.get("xmp", "served")
        if xmp not in XMP_MODES:
            raise ConfigError(f"{where}: '{label}.xmp' must be one of {', '.join(XMP_MODES)}")
        groups = raw.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
            raise ConfigError(f"{where}: '{label}.groups' must be a list of group names")
        if raw["access_key"] in seen:
            raise ConfigError(f"{where}: access key of '{label}' is used twice")
        seen.add(raw["access_key"])
        out.append(Identity(raw["name"], raw["access_key"], secret, role, tuple(buckets),
                            xmp=xmp, groups=tuple(groups)))
    return out


KNOWN_SECTIONS = {"server", "admin", "storage", "catalog", "intake", "policies", "identities",
                  "sidecar", "distribution", "targets", "c2pa"}


def _policies(doc: dict, where: str) -> PoliciesConfig:
    policies = _section(doc, "policies", PoliciesConfig, where)
    if not policies.dirs or not all(isinstance(d, str) and d for d in policies.dirs):
        raise ConfigError(f"{where}: 'policies.dirs' must be a non-empty list of directories")
    if policies.mode not in POLICY_MODES:
        raise ConfigError(f"{where}: 'policies.mode' must be one of {', '.join(POLICY_MODES)}")
    if not 0 < policies.eval_timeout <= 60:
        raise ConfigError(f"{where}: 'policies.eval_timeout' must be more than 0 and at most 60 seconds")
    if not 1 <= policies.workers <= 64:
        raise ConfigError(f"{where}: 'policies.workers' must be between 1 and 64")
    if not 0.5 <= policies.poll_interval <= 3600:
        raise ConfigError(f"{where}: 'policies.poll_interval' must be between 0.5 and 3600 seconds")
    try:
        validate_bucket_name(policies.quarantine_bucket)
    except Exception:  # noqa: BLE001 - InvalidBucketName, reported as a config error
        raise ConfigError(f"{where}: 'policies.quarantine_bucket' is not a valid bucket name: "
                          f"{policies.quarantine_bucket!r}") from None
    return policies


def load(path: str | os.PathLike) -> Config:
    where = str(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    unknown = set(doc) - KNOWN_SECTIONS
    if unknown:
        raise ConfigError(f"{where}: unknown section [{sorted(unknown)[0]}]")
    storage = _section(doc, "storage", StorageConfig, where)
    if storage.kind not in ("fs", "s3"):
        raise ConfigError(f"{where}: 'storage.kind' must be \"fs\" or \"s3\"")
    if storage.versioning not in VERSIONING_CHOICES:
        raise ConfigError(f"{where}: 'storage.versioning' must be \"enabled\", \"off\" or \"locked\"")
    if storage.kind == "s3" and not (storage.endpoint and storage.access_key and storage.secret):
        raise ConfigError(f"{where}: storage kind \"s3\" needs endpoint, access_key and secret (or secret_env)")
    server = _section(doc, "server", ServerConfig, where)
    if server.log_format not in ("text", "json"):
        raise ConfigError(f"{where}: 'server.log_format' must be \"text\" or \"json\"")
    if bool(server.tls_cert) != bool(server.tls_key):
        raise ConfigError(f"{where}: 'server.tls_cert' and 'server.tls_key' go together")
    for name, listen in (("server.listen", server.listen), ("admin.listen", doc.get("admin", {}).get("listen", "127.0.0.1:9001"))):
        try:
            parse_listen(listen, f"{where}: '{name}'")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    admin = _section(doc, "admin", AdminConfig, where)
    if not admin.session_ttl > 0:
        raise ConfigError(f"{where}: 'admin.session_ttl' must be a positive number of seconds")
    catalog = _section(doc, "catalog", CatalogConfig, where)
    if catalog.thumbnails_max_bytes < 1:
        raise ConfigError(f"{where}: 'catalog.thumbnails_max_bytes' must be at least 1")
    identities = _identities(doc, where)
    sidecar_table = doc.get("sidecar", {})
    if not isinstance(sidecar_table, dict):
        raise ConfigError(f"{where}: [sidecar] must be a table")
    return Config(server=server, admin=admin, storage=storage,
                  catalog=catalog,
                  intake=_section(doc, "intake", IntakeConfig, where),
                  policies=_policies(doc, where),
                  identities=identities, base_dir=Path(path).resolve().parent,
                  sidecar_table=sidecar_table, where=where,
                  distribution_tables={k: doc[k] for k in ("distribution", "targets", "c2pa")
                                       if k in doc})

