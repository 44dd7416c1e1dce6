"""``[sidecar]`` and ``[[sidecar.shares]]``: what the folder door watches and how.

Read from the configuration file's ``[sidecar]`` table (which ``gateway.config.load``
keeps as written) by :func:`load_sidecar`, right after the rest of the configuration and
as strictly: an
unknown key, a missing share folder or an identity that does not exist stops the
process with a message naming the key, because a share that silently watches nothing
loses nobody's files but ingests nobody's either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import Config, ConfigError, Identity, _section

AFTER_INGEST = ("keep", "move", "delete")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass
class SidecarSettings:
    endpoint: str = ""               # the gateway's S3 URL; empty: this config's own [server]
    state_dir: str = "./data/.sidecar"
    metrics_listen: str = "127.0.0.1:9002"   # `provgate watch` only; "" turns it off
    stable_seconds: float = 1.0      # size and mtime unchanged this long = the file is complete
    rescan_seconds: float = 300.0    # full walk of every share, besides the one at start
    poll_seconds: float = 2.0        # default interval of shares with poll = true
    workers: int = 4                 # files uploaded at once
    retry_max_seconds: float = 60.0  # longest wait between retries while the gateway is away
    timeout: float = 60.0            # seconds one request to the gateway may stall


@dataclass
class ShareSettings:
    path: str = ""
    bucket: str = ""
    identity: str = ""
    quarantine: str = ""
    name: str = ""
    prefix: str = ""
    poll: bool = False
    poll_seconds: float = 0.0        # 0: [sidecar] poll_seconds
    template: str = ""               # e.g. "{brand}/{campaign}": leading folders -> fields
    fields: dict = field(default_factory=dict)   # fixed fields for every file of the share
    ignore: list = field(default_factory=list)   # extra glob patterns (names or paths)
    after: str = "keep"              # keep | move | delete the source once acknowledged
    done: str = ""                   # where `after = "move"` puts ingested files


@dataclass
class Share:
    """One watched folder, resolved and validated."""

    name: str
    path: Path
    bucket: str
    prefix: str
    identity: Identity
    quarantine: Path
    poll: bool
    poll_seconds: float
    template: tuple[str, ...]
    fields: dict[str, str]
    ignore: tuple[str, ...]
    after: str
    done: Path | None

    def key_for(self, relpath: str) -> str:
        return self.prefix + relpath


@dataclass
class SidecarConfig:
    settings: SidecarSettings
    state_dir: Path
    shares: list[Share]


def load_sidecar(config: Config) -> SidecarConfig:
    """``config``'s ``[sidecar]`` table, validated and resolved; ``ConfigError`` naming the
    key otherwise."""
    where, base_dir = config.where, config.base_dir
    raw = dict(config.sidecar_table)
    raw_shares = raw.pop("shares", [])
    settings = _section({"sidecar": raw}, "sidecar", SidecarSettings, where)
    for name in ("stable_seconds", "rescan_seconds", "poll_seconds", "retry_max_seconds",
                 "timeout"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{where}: 'sidecar.{name}' must be greater than 0")
    if settings.workers < 1:
        raise ConfigError(f"{where}: 'sidecar.workers' must be at least 1")
    if settings.endpoint and not re.match(r"https?://[^/]+/?$", settings.endpoint):
        raise ConfigError(f"{where}: 'sidecar.endpoint' must be http(s)://host:port, "
                          f"got {settings.endpoint!r}")
    if not isinstance(raw_shares, list):
        raise ConfigError(f"{where}: 'sidecar.shares' must be an array of tables "
                          f"([[sidecar.shares]])")
    by_name = {i.name: i for i in config.identities}
    shares = [_share(n, item, settings, by_name, base_dir, where)
              for n, item in enumerate(raw_shares)]
    _check_overlaps(shares, where)
    return SidecarConfig(settings, _resolve(base_dir, settings.state_dir), shares)


def _resolve(base_dir: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return (p if p.is_absolute() else base_dir / p).resolve()


def _share(n: int, raw: object, settings: SidecarSettings, identities: dict[str, Identity],
           base_dir: Path, where: str) -> Share:
    label = f"sidecar.shares[{n}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: '{label}' must be a table")
    s = _section({label: raw}, label, ShareSettings, where)
    for key in ("path", "bucket", "identity", "quarantine"):
        if not getattr(s, key):
            raise ConfigError(f"{where}: '{label}.{key}' is required")
    path = _resolve(base_dir, s.path)
    if not path.is_dir():
        raise ConfigError(f"{where}: '{label}.path': {path} is not a folder")
    identity = identities.get(s.identity)
    if identity is None:
        raise ConfigError(f"{where}: '{label}.identity' names '{s.identity}', which is not "
                          f"among [[identities]]")
    if s.after not in AFTER_INGEST:
        raise ConfigError(f"{where}: '{label}.after' must be one of {', '.join(AFTER_INGEST)}")
    if s.after == "move" and not s.done:
        raise ConfigError(f"{where}: '{label}.after = \"move\"' needs '{label}.done'")
    if s.poll_seconds < 0:
        raise ConfigError(f"{where}: '{label}.poll_seconds' must not be negative")
    quarantine = _resolve(base_dir, s.quarantine)
    done = _resolve(base_dir, s.done) if s.done else None
    for key, value in (("quarantine", quarantine), ("done", done)):
        if value == path:
            raise ConfigError(f"{where}: '{label}.{key}' must not be the share folder itself")
    if s.prefix.startswith("/"):
        raise ConfigError(f"{where}: '{label}.prefix' must not start with '/'")
    fields = {}
    for name, value in s.fields.items():
        if not _FIELD_NAME.fullmatch(name) or not isinstance(value, str):
            raise ConfigError(f"{where}: '{label}.fields.{name}' must be a lower-case field "
                              f"name with a text value")
        fields[name] = value
    if not all(isinstance(p, str) and p for p in s.ignore):
        raise ConfigError(f"{where}: '{label}.ignore' must be a list of glob patterns")
    return Share(name=s.name or path.name, path=path, bucket=s.bucket, prefix=s.prefix,
                 identity=identity, quarantine=quarantine, poll=s.poll,
                 poll_seconds=s.poll_seconds or settings.poll_seconds,
                 template=_template(s.template, f"{where}: '{label}.template'"),
                 fields=fields, ignore=tuple(s.ignore), after=s.after, done=done)


def _template(text: str, label: str) -> tuple[str, ...]:
    """``{brand}/{campaign}/*`` -> its folder segments, each checked."""
    segments = tuple(p for p in text.strip("/").split("/") if p) if text else ()
    for segment in segments:
        names = _PLACEHOLDER.findall(segment)
        if names and (len(names) > 1 or segment != "{" + names[0] + "}"):
            raise ConfigError(f"{label}: a placeholder must be a whole folder name, "
                              f"got {segment!r}")
        if names and not _FIELD_NAME.fullmatch(names[0]):
            raise ConfigError(f"{label}: {{{names[0]}}} is not a field name")
        if not names and ("{" in segment or "}" in segment):
            raise ConfigError(f"{label}: unbalanced braces in {segment!r}")
    return segments


def _check_overlaps(shares: list[Share], where: str) -> None:
    names = set()
    for i, share in enumerate(shares):
        if share.name in names:
            raise ConfigError(f"{where}: two shares are named '{share.name}' (set 'name')")
        names.add(share.name)
        for other in shares[:i]:
            if share.path == other.path or share.path in other.path.parents \
                    or other.path in share.path.parents:
                raise ConfigError(f"{where}: shares '{other.name}' and '{share.name}' overlap "
                                  f"({other.path}, {share.path}): a file would be ingested twice")
