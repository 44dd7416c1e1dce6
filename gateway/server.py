"""``provgate serve``: the S3 listener and the admin listener in one process."""

from __future__ import annotations

import asyncio
import logging
import ssl

from gateway.admin.app import build_admin_app
from gateway.admin.policy_api import add_policy_routes
from gateway.catalog import Catalog
from gateway import errors
from gateway.config import Config
from gateway.identities import IdentityStore
from gateway.gatekeeper.gatekeeper import Gatekeeper
from gateway.gatekeeper.pipeline import IntakePipeline
from gateway.gatekeeper.policy_gate import PolicyGate
from gateway.policy import AuditLog, PolicyError, PolicyStore
from gateway.policy.recheck import Recheck
from gateway.provenance import Extractor
from gateway.s3.app import S3Application
from gateway.s3.auth import Authenticator
from gateway.s3.call import Services
from gateway.storage import open_backend
from gateway.wire.listen import SHUTDOWN_TIMEOUT, start_site, until_stop_signal
from sidecar import metrics as sidecar_metrics
from sidecar.run import gateway_endpoint
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
    sidecar = Sidecar(config, endpoint)
    await sidecar.start()
    return sidecar


async def serve(config: Config) -> None:
    catalog = Catalog(config.resolve(config.catalog.path))
    audit = AuditLog(catalog.env)
    try:
        policies = await asyncio.to_thread(_policy_store, config, audit)
    except BaseException:
        catalog.close()
        raise
    backend = open_backend(config)
    await backend.start()
    await _ensure_bucket(backend, config.policies.quarantine_bucket)
    extractor = Extractor(pool_size=config.intake.exiftool_processes,
                          exiftool_timeout=config.intake.exiftool_timeout)
    await extractor.start()
    gate = PolicyGate(policies, audit, config.policies.quarantine_bucket)
    policies.start()                       # hot reload from here on
    recheck = Recheck(policies, catalog, skip_buckets=(config.policies.quarantine_bucket,))
    recheck.start()                        # stored assets against each new set
    gatekeeper = Gatekeeper(backend, IntakePipeline(backend, extractor, catalog, gate),
                            quarantine_bucket=config.policies.quarantine_bucket)
    services = Services(gatekeeper=gatekeeper, region=config.server.region)
    authenticator = Authenticator(IdentityStore(config.identities), region=config.server.region)
    s3 = S3Application(services, authenticator, config.server.domain,
                       max_header_bytes=config.server.max_header_bytes)
    s3_app = s3.build()
    limits = {"max_line_size": config.server.max_header_bytes,
              "max_field_size": config.server.max_header_bytes,
              # Content-Encoding on a PUT describes the stored object (S3 keeps gzip bytes
              # as sent); aiohttp must not inflate request bodies (nor a gzip bomb).
              "auto_decompress": False}
    s3_runner, s3_url = await start_site(s3_app, config.server.listen,
                                          ssl_context=_tls_context(config), handler_args=limits)
    admin_app = build_admin_app(backend, catalog, extractor, (sidecar_metrics.REGISTRY,))
    add_policy_routes(admin_app, store=policies, audit=audit, catalog=catalog,
                      quarantine_bucket=config.policies.quarantine_bucket, recheck=recheck)
    admin_runner, admin_url = await start_site(admin_app, config.admin.listen)
    # Tests and scripts read these two lines to learn the ports (listen may say port 0).
    print(f"provgate: S3 endpoint {s3_url}", flush=True)
    print(f"provgate: admin {admin_url}", flush=True)
    sidecar = await _start_sidecar(config, s3_url)

    await until_stop_signal()
    log.info("stopping: no new connections; finishing in-flight requests")
    if sidecar is not None:
        await sidecar.stop()     # first: its in-flight uploads need the S3 listener
    for site in list(s3_runner.sites):
        await site.stop()
    if not await s3.drain(SHUTDOWN_TIMEOUT):
        log.warning("stopping: requests still running after %.0fs are cut off", SHUTDOWN_TIMEOUT)
    await s3_runner.cleanup()
    await admin_runner.cleanup()
    await recheck.close()
    await policies.close()
    await extractor.close()
    await backend.close()
    catalog.close()
