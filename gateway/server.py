"""``provgate serve``: the S3 listener and the admin listener in one process."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import shutil
import warnings
import ssl
import time
from pathlib import Path

from aiohttp import web

from gateway.admin.app import build_admin_app
from gateway.admin.auth import AdminAuthenticator
from gateway.admin.content_api import add_content_routes
from gateway.admin.sessions import SessionStore
from gateway.admin.ui import add_ui_routes
from gateway.admin.distribution_api import add_distribution_routes
from gateway.admin.policy_api import add_policy_routes
from gateway.admin.prompts_api import add_prompt_routes
from gateway.admin.search_api import add_search_routes
from gateway.admin.spend_api import add_spend_routes
from gateway.admin.thumbnails_api import add_thumbnail_routes
from gateway.admin.review_api import add_review_routes
from gateway.catalog import Catalog
from gateway.catalog.prompts import PromptLibrary
from gateway.catalog.spend import Spend
from gateway.thumbnails.service import Thumbnails
from gateway import errors, kv, metrics
from gateway.config import Config
from gateway.distribution import Distributor
from gateway.identities import Identity, IdentityStore
from gateway.gatekeeper.gatekeeper import Gatekeeper
from gateway.gatekeeper.pipeline import IntakePipeline
from gateway.gatekeeper.policy_gate import PolicyGate
from gateway.gatekeeper.review_gate import ReviewGate
from gateway.policy import AuditLog, PolicyError, PolicyStore
from gateway.policy.recheck import Recheck
from gateway.provenance import Extractor
from gateway.s3.app import S3Application
from gateway.s3.auth import Authenticator
from gateway.s3.call import Services
from gateway.catalog.migrate import migrate_records
from gateway.storage import open_backend
from gateway.storage.space import FreeSpace
from gateway.wire.listen import SHUTDOWN_TIMEOUT, start_site, stop_signal_event
from sidecar import metrics as sidecar_metrics
from sidecar.run import gateway_certificate, gateway_endpoint
from sidecar.service import Sidecar

log = logging.getLogger("provgate")


def _tls_context(config: Config) -> ssl.SSLContext | None:
    if not config.server.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.resolve(config.server.tls_cert),
                            config.resolve(config.server.tls_key))
    return context


class BrokenPolicySet(Exception):
    """The policy files do not load: the server refuses to start without its guardrails."""


def _policy_store(config: Config, audit: AuditLog) -> PolicyStore:
    """The policy set in force, loaded now; ``BrokenPolicySet`` names every problem."""
    settings = config.policies
    store = PolicyStore([config.resolve(d) for d in settings.dirs], mode=settings.mode,
                        dry_run=settings.dry_run, workers=settings.workers,
                        timeout=settings.eval_timeout, audit=audit,
                        poll_interval=settings.poll_interval)
    try:
        policy_set = store.load_initial()
    except PolicyError as exc:
        store.sandbox.close()
        raise BrokenPolicySet(str(exc)) from None
    log.info("policy set %s in force: %d rules, %d defaults, %d routes from %s%s",
             policy_set.revision, len(policy_set.rules), len(policy_set.sets),
             len(policy_set.routes), ", ".join(str(d) for d in store.dirs),
             " (dry run: nothing is denied or quarantined)" if settings.dry_run else "")
    return store


async def _ensure_bucket(backend, bucket: str) -> None:
    try:
        await backend.head_bucket(bucket)
    except errors.NoSuchBucket:
        try:
            await backend.create_bucket(bucket)
        except errors.BucketAlreadyOwnedByYou:
            pass                           # another gateway of the cluster was quicker


async def _start_sidecar(config: Config, s3_url: str):
    """The shares of ``[[sidecar.shares]]``, watched in this process (none: no sidecar)."""
    if config.sidecar is None or not config.sidecar.shares:
        return None
    endpoint = gateway_endpoint(config) if config.sidecar.settings.endpoint else s3_url
    sidecar = Sidecar(config, endpoint, gateway_certificate(config))
    await sidecar.start()
    return sidecar


async def _close_quietly(extractor: Extractor) -> None:
    """Close the ExifTool pool at shutdown. Ctrl-C in a terminal reaches the ExifTool
    processes too (one process group), so finding them gone then is expected, not news."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ExifTool process was previously running")
        await extractor.close()


class ListenError(Exception):
    """A listener could not be opened (the address is taken, or not this machine's)."""


async def _open_site(app: web.Application, listen: str, what: str, **kwargs):
    try:
        return await start_site(app, listen, **kwargs)
    except OSError as exc:
        reason = ("the address is already in use (another provgate, or another server?)"
                  if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc))
        raise ListenError(f"cannot listen on {listen} for the {what}: {reason}; "
                          f"free the port or change {'[server]' if what == 'S3 endpoint' else '[admin]'} "
                          f"listen in the configuration") from None


def exiftool_missing(executable: str = "exiftool") -> str | None:
    """A one-paragraph explanation when ExifTool is not installed, else None."""
    if shutil.which(executable):
        return None
    return ("ExifTool is not installed (provgate reads and writes provenance with it). "
            "Install it — Debian/Ubuntu: `sudo apt-get install libimage-exiftool-perl`; "
            "Fedora: `sudo dnf install perl-Image-ExifTool`; macOS: `brew install exiftool` — "
            "and start provgate again.")


# The development secret of config.example.toml: public anyway, so the banner may show it.
EXAMPLE_SECRET = "provgate-dev-secret"


def _banner_identity(config: Config) -> Identity | None:
    """The identity a first-time user should try: the first admin, else the first writer."""
    for role in ("admin", "publisher", "reviewer", "writer"):
        for identity in config.identities:
            if identity.role == role:
                return identity
    return config.identities[0] if config.identities else None


def banner(config: Config, s3_url: str, admin_url: str,
           secret_env: dict[str, str] | None = None) -> list[str]:
    """The start-up lines after the two address lines: where to point a client and with
    which keys, ready to paste. A secret is shown only if it is the example config's
    public development secret; one read from the environment is shown as that variable.

    ``secret_env`` maps access keys to the environment variable their secret came from.
    """
    lines = [f"  S3 API     {s3_url}  (region {config.server.region}, path-style"
             + (f" and virtual-host *.{config.server.domain}" if config.server.domain else "")
             + ")",
             f"  Admin API  {admin_url}/api/v1   health {admin_url}/healthz   "
             f"metrics {admin_url}/metrics",
             f"  Review UI  {admin_url}/ui/  (log in with an identity's access key and secret)"]
    identity = _banner_identity(config)
    if identity is None:
        lines.append("  No [[identities]] configured: every S3 request will be refused.")
        return lines
    env_var = (secret_env or {}).get(identity.access_key)
    if env_var:
        secret, shown = f'"${env_var}"', f"from ${env_var}"
    elif identity.secret == EXAMPLE_SECRET:
        secret = shown = identity.secret
    else:
        secret, shown = "<secret>", "as written in the configuration (not shown)"
    lines += [f"  Identity   {identity.name} ({identity.role}): access key {identity.access_key}, "
              f"secret {shown}",
              f"  aws CLI    AWS_ACCESS_KEY_ID={identity.access_key} "
              f"AWS_SECRET_ACCESS_KEY={secret} AWS_DEFAULT_REGION={config.server.region} "
              f"aws --endpoint-url {s3_url} s3 ls",
              f"  rclone     rclone config create provgate s3 provider=Other "
              f"endpoint={s3_url} access_key_id={identity.access_key} "
              f"secret_access_key={secret} region={config.server.region}"]
    if identity.secret == EXAMPLE_SECRET:
        lines.append("  This is the development identity of config.example.toml: before "
                     "listening beyond loopback, `provgate init DIR` makes a config of "
                     "your own with a fresh admin.")
    return lines


async def serve(config: Config, *, secret_env: dict[str, str] | None = None) -> None:
    """Run until SIGTERM/SIGINT. Raises ``BrokenPolicySet`` or ``ListenError`` at
    start-up, after closing whatever it had opened. ``secret_env``: see ``banner``."""
    async with contextlib.AsyncExitStack() as stack:
        await _serve(config, stack, secret_env)


async def _serve(config: Config, stack: contextlib.AsyncExitStack,
                 secret_env: dict[str, str] | None) -> None:
    stop = stop_signal_event()
    # Opening may index an older catalog (a syncing write): not on the event loop.
    catalog = await kv.offload(Catalog, config.resolve(config.catalog.path))
    stack.callback(catalog.close)
    audit = AuditLog(catalog.env)
    policies = await asyncio.to_thread(_policy_store, config, audit)
    stack.push_async_callback(policies.close)
    backend = open_backend(config)
    await backend.start()
    stack.push_async_callback(backend.close)
    try:
        await migrate_records(backend)
    except errors.GatewayError as exc:
        raise SystemExit(f"provgate: cannot move the XMP records of the old layout into the "
                         f"record store ({exc.message}); fix the storage, then start again "
                         f"or run `provgate migrate-records`") from None
    await _ensure_bucket(backend, config.policies.quarantine_bucket)
    extractor = Extractor(pool_size=config.intake.exiftool_processes,
                          exiftool_timeout=config.intake.exiftool_timeout)
    await extractor.start()
    stack.push_async_callback(_close_quietly, extractor)
    gate = PolicyGate(policies, audit, config.policies.quarantine_bucket)
    policies.start()                       # hot reload from here on
    recheck = Recheck(policies, catalog, skip_buckets=(config.policies.quarantine_bucket,))
    recheck.start()                        # stored assets against each new set
    stack.push_async_callback(recheck.close)
    pipeline = IntakePipeline(backend, extractor, catalog, gate)
    distributor = Distributor(config.distribution, catalog, policies, audit=audit,
                              pipeline=pipeline, region=config.server.region)
    reviews = ReviewGate(pipeline, policies, audit, config.policies.quarantine_bucket,
                         on_decision=distributor.on_review_change)
    gatekeeper = Gatekeeper(backend, pipeline,
                            quarantine_bucket=config.policies.quarantine_bucket,
                            reviews=reviews, replication_status=distributor.replication_status,
                            versioning=config.storage.versioning)
    services = Services(gatekeeper=gatekeeper, region=config.server.region)
    identities = IdentityStore(config.identities)
    authenticator = Authenticator(identities, region=config.server.region)
    s3 = S3Application(services, authenticator, config.server.domain,
                       max_header_bytes=config.server.max_header_bytes)
    s3_app = s3.build()
    limits = {"max_line_size": config.server.max_header_bytes,
              "max_field_size": config.server.max_header_bytes,
              # Content-Encoding on a PUT describes the stored object (S3 keeps gzip bytes
              # as sent); aiohttp must not inflate request bodies (nor a gzip bomb).
              "auto_decompress": False}
    s3_runner, s3_url = await _open_site(s3_app, config.server.listen, "S3 endpoint",
                                         ssl_context=_tls_context(config), handler_args=limits)
    stack.push_async_callback(s3_runner.cleanup)
    space = FreeSpace([backend.spool_dir, config.resolve(config.catalog.path)]
                      + ([config.resolve(config.storage.path)] if config.storage.kind == "fs" else []),
                      config.storage.min_free_bytes)
    readiness: dict = {}     # more readiness checks, added as their parts start
    sessions = SessionStore(config.admin.session_ttl)
    admin_authenticator = AdminAuthenticator(identities, authenticator, sessions)
    admin_app = build_admin_app(backend, catalog, extractor, admin_authenticator,
                                quarantine_bucket=config.policies.quarantine_bucket,
                                space=space, readiness=readiness,
                                registries=(sidecar_metrics.REGISTRY,))
    add_policy_routes(admin_app, store=policies, audit=audit, catalog=catalog,
                      quarantine_bucket=config.policies.quarantine_bucket, recheck=recheck)
    add_search_routes(admin_app, catalog=catalog,
                      quarantine_bucket=config.policies.quarantine_bucket)
    add_review_routes(admin_app, reviews)
    spend = Spend(catalog, skip_buckets=(config.policies.quarantine_bucket,))
    add_spend_routes(admin_app, spend)
    add_prompt_routes(admin_app, PromptLibrary(
        catalog, skip_buckets=(config.policies.quarantine_bucket,)))
    thumbnail_dir = (config.resolve(config.catalog.thumbnails) if config.catalog.thumbnails
                     else Path(catalog.path) / "thumbnails")
    thumbnails = await asyncio.to_thread(Thumbnails, thumbnail_dir,
                                         config.catalog.thumbnails_max_bytes)
    add_thumbnail_routes(admin_app, gatekeeper=gatekeeper, catalog=catalog, thumbnails=thumbnails)
    metrics.watch_spend(spend.gauges)
    metrics.watch_review_queue(lambda: _queue_figures(catalog, config.policies.quarantine_bucket))
    add_distribution_routes(admin_app, distributor)
    add_content_routes(admin_app, gatekeeper)
    add_ui_routes(admin_app, authenticator=admin_authenticator, sessions=sessions)
    admin_runner, admin_url = await _open_site(admin_app, config.admin.listen, "admin listener")
    stack.push_async_callback(admin_runner.cleanup)
    stack.push_async_callback(distributor.close)
    await distributor.start(s3_url)        # resumes the queue left by the last run
    # Tests and scripts read these two lines to learn the ports (listen may say port 0).
    print(f"provgate: S3 endpoint {s3_url}", flush=True)
    print(f"provgate: admin {admin_url}", flush=True)
    print("\n".join(banner(config, s3_url, admin_url, secret_env)), flush=True)
    sidecar = await _start_sidecar(config, s3_url)
    if sidecar is not None:
        from sidecar.run import not_ready_reason
        readiness["sidecar"] = lambda: not_ready_reason(sidecar)

    await stop.wait()
    log.info("stopping: no new connections; finishing in-flight requests")
    if sidecar is not None:
        await sidecar.stop()     # first: its in-flight uploads need the S3 listener
    for site in list(s3_runner.sites):
        await site.stop()
    if not await s3.drain(SHUTDOWN_TIMEOUT):
        log.warning("stopping: requests still running after %.0fs are cut off", SHUTDOWN_TIMEOUT)
    # The exit stack closes the rest in reverse order: listeners, distribution, re-check, ExifTool,
    # backend, policies, catalog.


def _queue_figures(catalog: Catalog, quarantine_bucket: str) -> tuple[int, float]:
    """(pending versions, age in seconds of the oldest) for the review queue gauges."""
    summary = catalog.queue_summary(skip_buckets=(quarantine_bucket,))
    oldest = summary["oldest"]
    return summary["count"], (max(0.0, time.time() - oldest) if oldest is not None else 0.0)
