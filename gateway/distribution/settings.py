"""``[distribution]``, ``[targets.NAME]`` and ``[c2pa]``: where approved assets go and how.

Loaded right after the rest of the configuration (``gateway.cli._load``) and as strictly: an
unknown key, a missing secret, a template naming a field the record does not have, or a
webhook presigning as an identity that does not exist stops the process with a message
naming the key — a typo in a target must never deliver to the wrong place or nowhere.

Keys common to every target kind::

    kind          "s3" | "fs" | "webhook" (required)
    key_template  where the copy goes, "{key}" by default; placeholders are record fields
                  (brand, sku, channel, campaign, ...) and key, basename, stem, ext,
                  bucket, version_id. A placeholder whose field is empty fails the
                  delivery permanently with a message naming it (nothing is guessed)
    embed_xmp     write the record's IPTC/PLUS/XMP fields into the delivered file
                  (formats that cannot hold XMP get "<copy>.xmp" beside it)
    c2pa_sign     sign the delivered copy as a C2PA manifest ([c2pa] must be set)

kind = "s3": endpoint, region, bucket, access_key, secret | secret_env, storage_class,
cache_control, timeout.  kind = "fs": path.  kind = "webhook": url, secret | secret_env
(HMAC-SHA256 key), identity (the [[identities]] name the presigned GET URL is signed
as), url_lifetime (seconds the URL stays valid), public_endpoint (provgate's S3 URL as
the receiver reaches it; default: the S3 listener's own URL), timeout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import Config, ConfigError, _section, _secret_from_env
from gateway.identities import Identity

# Who the record names for the changes distribution makes (published, taken down, expired).
DISTRIBUTION_IDENTITY = Identity("provgate-distribution", "", "", "admin")

KINDS = ("s3", "fs", "webhook")
TARGET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Placeholders that are not record fields: parts of the source key and version.
KEY_PARTS = ("key", "basename", "stem", "ext", "bucket", "version_id")
C2PA_ALGORITHMS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")


@dataclass
class DistributionSettings:
    workers: int = 4                 # deliveries running at once
    max_attempts: int = 8            # a job failing this many times is dead-lettered
    backoff_initial: float = 1.0     # seconds before the first retry; doubles per attempt
    backoff_max: float = 300.0       # cap of the wait between retries
    poll_interval: float = 1.0       # seconds between looks for jobs queued by other
                                     # processes (the CLI's resync / takedown)
    expiry_interval: float = 3600.0  # seconds between rights-expiry scans (license_expires)
    spool_dir: str = ""              # where copies are prepared (default: a folder in the
                                     # catalog directory); only this process may use it


@dataclass
class TargetSettings:
    kind: str = ""
    key_template: str = "{key}"
    embed_xmp: bool = False
    c2pa_sign: bool = False
    # s3
    endpoint: str = ""
    region: str = "us-east-1"
    bucket: str = ""
    access_key: str = ""
    secret: str = field(default="", repr=False)
    storage_class: str = ""          # x-amz-storage-class of the copies ("" : the target's default)
    cache_control: str = ""          # Cache-Control stored with the copies (CDN caching)
    timeout: float = 30.0            # seconds one request to the target may stall
    # fs
    path: str = ""
    # webhook
    url: str = ""
    identity: str = ""
    url_lifetime: int = 3600
    public_endpoint: str = ""


@dataclass
class Target:
    """One resolved ``[targets.NAME]``."""

    name: str
    settings: TargetSettings
    path: Path | None = None                 # fs: the resolved folder
    identity: Identity | None = None         # webhook: who the presigned URL is signed as
    template_fields: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return self.settings.kind


@dataclass
class C2paSettings:
    cert: str = ""                   # PEM chain: signing certificate first, then its issuers
    key: str = ""                    # PEM private key file (PKCS#8)
    key_env: str = ""                # or: an environment variable holding the PEM key itself
    alg: str = "es256"               # signature algorithm matching the key
    tsa_url: str = ""                # RFC 3161 time-stamp authority ("" : none)


@dataclass
class C2paSigning:
    cert_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)
    alg: str
    tsa_url: str


@dataclass
class DistributionConfig:
    settings: DistributionSettings
    targets: dict[str, Target]
    c2pa: C2paSigning | None
    spool_dir: Path | None


def template_fields(template: str, label: str, where: str) -> tuple[str, ...]:
    from gateway.provenance.record import record_field_names
    names = _PLACEHOLDER.findall(template)
    if "{" in _PLACEHOLDER.sub("", template) or "}" in _PLACEHOLDER.sub("", template):
        raise ConfigError(f"{where}: '{label}' has an unbalanced brace: {template!r}")
    known = set(record_field_names()) | set(KEY_PARTS)
    for name in names:
        if name not in known:
            raise ConfigError(f"{where}: '{label}' names {{{name}}}, which is neither a "
                              f"record field nor one of {', '.join(KEY_PARTS)}")
    if not names:
        raise ConfigError(f"{where}: '{label}' must contain a placeholder such as {{key}}: "
                          f"every copy would land on the same key")
    return tuple(names)


def distribution_of(config: Config) -> DistributionConfig:
    """The ``[distribution]``, ``[targets.NAME]`` and ``[c2pa]`` tables of a loaded
    configuration, validated (``ConfigError`` names the file and the key)."""
    return load_distribution(config.distribution_tables, config.identities,
                             config.server.listen, config.base_dir, config.where)


def load_distribution(doc: dict, identities: list[Identity], server_listen: str,
                      base_dir: Path, where: str) -> DistributionConfig:
    settings = _section(doc, "distribution", DistributionSettings, where)
    for name in ("backoff_initial", "backoff_max", "poll_interval", "expiry_interval"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{where}: 'distribution.{name}' must be greater than 0")
    if settings.backoff_max < settings.backoff_initial:
        raise ConfigError(f"{where}: 'distribution.backoff_max' must not be below backoff_initial")
    if not 1 <= settings.workers <= 256:
        raise ConfigError(f"{where}: 'distribution.workers' must be between 1 and 256")
    if not 1 <= settings.max_attempts <= 1000:
        raise ConfigError(f"{where}: 'distribution.max_attempts' must be between 1 and 1000")
    raw_targets = doc.get("targets", {})
    if not isinstance(raw_targets, dict):
        raise ConfigError(f"{where}: [targets] must hold tables [targets.NAME]")
    by_name = {i.name: i for i in identities}
    targets = {name: _target(name, raw, by_name, server_listen, base_dir, where)
               for name, raw in raw_targets.items()}
    c2pa = _c2pa(doc, base_dir, where)
    for target in targets.values():
        if target.settings.c2pa_sign and c2pa is None:
            raise ConfigError(f"{where}: 'targets.{target.name}.c2pa_sign' needs a [c2pa] "
                              f"section with cert and key (or key_env)")
    spool = _resolve(base_dir, settings.spool_dir) if settings.spool_dir else None
    return DistributionConfig(settings, targets, c2pa, spool)


def _resolve(base_dir: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir / p


def _target(name: str, raw: object, identities: dict[str, Identity], server_listen: str,
            base_dir: Path, where: str) -> Target:
    label = f"targets.{name}"
    if not TARGET_NAME.match(name):
        raise ConfigError(f"{where}: target name '{name}' must be [a-z0-9_-], at most 64 characters")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: '{label}' must be a table")
    s = _section({label: raw}, label, TargetSettings, where)
    if s.kind not in KINDS:
        raise ConfigError(f"{where}: '{label}.kind' must be one of {', '.join(KINDS)}")
    allowed = {"kind", "key_template", "embed_xmp", "c2pa_sign"} | {
        "s3": {"endpoint", "region", "bucket", "access_key", "secret", "secret_env",
               "storage_class", "cache_control", "timeout"},
        "fs": {"path"},
        "webhook": {"url", "secret", "secret_env", "identity", "url_lifetime",
                    "public_endpoint", "timeout"}}[s.kind]
    stray = sorted(set(raw) - allowed)
    if stray:
        raise ConfigError(f"{where}: '{label}.{stray[0]}' does not apply to kind \"{s.kind}\"")
    if s.timeout <= 0:
        raise ConfigError(f"{where}: '{label}.timeout' must be greater than 0")
    fields_ = template_fields(s.key_template, f"{label}.key_template", where)
    target = Target(name, s, template_fields=fields_)
    if s.kind == "s3":
        from gateway.wire.names import validate_bucket_name
        if not re.match(r"https?://[^/]+/?$", s.endpoint):
            raise ConfigError(f"{where}: '{label}.endpoint' must be http(s)://host:port, got {s.endpoint!r}")
        if not (s.bucket and s.access_key and s.secret):
            raise ConfigError(f"{where}: '{label}' (kind \"s3\") needs bucket, access_key and "
                              f"secret (or secret_env)")
        try:
            validate_bucket_name(s.bucket)
        except Exception:  # noqa: BLE001 - InvalidBucketName, reported as a config error
            raise ConfigError(f"{where}: '{label}.bucket' is not a valid bucket name: {s.bucket!r}") from None
    elif s.kind == "fs":
        if not s.path:
            raise ConfigError(f"{where}: '{label}.path' is required for kind \"fs\"")
        target.path = _resolve(base_dir, s.path).resolve()
        if target.path.exists() and not target.path.is_dir():
            raise ConfigError(f"{where}: '{label}.path' {target.path} is not a folder")
    else:
        if not re.match(r"https?://[^/\s]+(/\S*)?$", s.url):
            raise ConfigError(f"{where}: '{label}.url' must be an http(s) URL, got {s.url!r}")
        if not s.secret:
            raise ConfigError(f"{where}: '{label}' (kind \"webhook\") needs secret or secret_env "
                              f"(the HMAC key receivers verify)")
        if s.identity not in identities:
            raise ConfigError(f"{where}: '{label}.identity' must name one of [[identities]] "
                              f"(the presigned URL is signed as it), got {s.identity!r}")
        if not 1 <= s.url_lifetime <= 604800:
            raise ConfigError(f"{where}: '{label}.url_lifetime' must be between 1 and 604800 seconds")
        if s.public_endpoint and not re.match(r"https?://[^/]+/?$", s.public_endpoint):
            raise ConfigError(f"{where}: '{label}.public_endpoint' must be http(s)://host:port")
        target.identity = identities[s.identity]
    if s.c2pa_sign and s.kind == "webhook":
        raise ConfigError(f"{where}: '{label}.c2pa_sign' does not apply to a webhook "
                          f"(the receiver fetches the stored version itself)")
    if s.embed_xmp and s.kind == "webhook":
        raise ConfigError(f"{where}: '{label}.embed_xmp' does not apply to a webhook")
    return target


def _c2pa(doc: dict, base_dir: Path, where: str) -> C2paSigning | None:
    if "c2pa" not in doc:
        return None
    raw = doc["c2pa"]
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [c2pa] must be a table")
    s = _section({"c2pa": raw}, "c2pa", C2paSettings, where)
    if s.alg not in C2PA_ALGORITHMS:
        raise ConfigError(f"{where}: 'c2pa.alg' must be one of {', '.join(C2PA_ALGORITHMS)}")
    if not s.cert:
        raise ConfigError(f"{where}: 'c2pa.cert' is required (a PEM certificate chain)")
    cert = _read(base_dir, s.cert, "c2pa.cert", where)
    if s.key_env:
        key = _secret_from_env(s.key_env, "c2pa.key_env", where).encode()
    elif s.key:
        key = _read(base_dir, s.key, "c2pa.key", where)
    else:
        raise ConfigError(f"{where}: [c2pa] needs key (a PEM file) or key_env")
    if b"-----BEGIN CERTIFICATE-----" not in cert:
        raise ConfigError(f"{where}: 'c2pa.cert' holds no PEM certificate")
    if b"PRIVATE KEY-----" not in key:
        raise ConfigError(f"{where}: the [c2pa] key is not a PEM private key")
    return C2paSigning(cert, key, s.alg, s.tsa_url)


def _read(base_dir: Path, path: str, label: str, where: str) -> bytes:
    try:
        return _resolve(base_dir, path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: '{label}' cannot be read: {exc.strerror}") from None
