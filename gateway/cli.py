"""The ``provgate`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from gateway import config as config_module
from gateway.logs import setup_logging

DEFAULT_CONFIG = "config.example.toml"


def _load(path: str) -> config_module.Config:
    """The whole configuration, the folder sidecar's ``[sidecar]`` included, so that a
    mistake anywhere stops every command before it starts."""
    from gateway.distribution.settings import distribution_of
    from sidecar.settings import load_sidecar
    try:
        config = config_module.load(path)
        config.sidecar = load_sidecar(config)
        config.distribution = distribution_of(config)
        return config
    except config_module.ConfigError as exc:
        print(f"provgate: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _secret_env_of(path: str) -> dict[str, str]:
    """Access key → the environment variable its secret is read from (for the banner,
    which must never print such a secret)."""
    import tomllib
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {i["access_key"]: i["secret_env"] for i in doc.get("identities", [])
            if isinstance(i, dict) and "secret_env" in i and "access_key" in i}


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.server import BrokenPolicySet, ListenError, exiftool_missing, serve
    config = _load(args.config)
    problem = exiftool_missing()
    if problem:
        print(f"provgate: {problem}", file=sys.stderr)
        return 3
    setup_logging(config.server.log_format)
    try:
        asyncio.run(serve(config, secret_env=_secret_env_of(args.config)))
    except BrokenPolicySet as exc:
        print(f"provgate: the policy set does not load; refusing to start:\n{exc}",
              file=sys.stderr)
        return 2
    except ListenError as exc:
        print(f"provgate: {exc}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:            # Ctrl-C before the event loop took over signals
        return 130
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from sidecar.run import watch
    config = _load(args.config)
    if config.sidecar is None or not config.sidecar.shares:
        print(f"provgate: {args.config} configures no [[sidecar.shares]]; nothing to watch",
              file=sys.stderr)
        return 2
    setup_logging(config.server.log_format)
    asyncio.run(watch(config))
    return 0


def _asset_target(value: str) -> tuple[str, str]:
    bucket, _, key = value.partition("/")
    if not bucket or not key:
        raise argparse.ArgumentTypeError("expected BUCKET/KEY, e.g. renders/campaign/hero.png")
    return bucket, key


def _open_catalog(config: config_module.Config):
    from gateway.catalog import Catalog
    catalog = Catalog(config.resolve(config.catalog.path))
    if catalog.indexed_on_open:
        print(f"provgate: indexed {catalog.indexed_on_open} catalog versions for search "
              f"(this catalog predates its search indexes)", file=sys.stderr)
    return catalog


def _print(data, as_json: bool, render) -> None:
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))
    else:
        render(data)


def cmd_asset(args: argparse.Namespace) -> int:
    config = _load(args.config)
    bucket, key = args.target
    catalog = _open_catalog(config)
    try:
        if args.asset_command == "show":
            found = catalog.version(bucket, key, args.version_id)
            if found is None:
                print(f"provgate: no asset {bucket}/{key}"
                      + (f" version {args.version_id}" if args.version_id else ""), file=sys.stderr)
                return 1
            _print({"bucket": bucket, "key": key, **found}, args.json, _render_show)
        elif args.asset_command == "history":
            versions = catalog.history(bucket, key)
            if not versions:
                print(f"provgate: no asset {bucket}/{key}", file=sys.stderr)
                return 1
            _print({"bucket": bucket, "key": key, "asset": catalog.asset(bucket, key),
                    "versions": versions}, args.json, _render_history)
        else:
            if catalog.asset(bucket, key) is None:
                print(f"provgate: no asset {bucket}/{key}", file=sys.stderr)
                return 1
            _print(catalog.lineage(bucket, key, args.version_id), args.json, _render_lineage)
    finally:
        catalog.close()
    return 0


# ``provgate asset search`` / ``review queue`` options → filter names (catalog.search).
_SEARCH_OPTIONS = ("prompt", "model", "generator", "campaign", "brand", "sku", "review",
                   "identity", "door", "bucket", "prefix", "from", "to")
_QUEUE_OPTIONS = ("bucket", "prefix", "campaign", "brand", "model", "door")


_OPTION_DEST = {"from": "date_from", "to": "date_to"}   # argparse names they cannot have


def _filters(args: argparse.Namespace, names) -> dict:
    """The filters given on the command line, by their search names (strings)."""
    filters = {name: getattr(args, _OPTION_DEST.get(name, name)) for name in names}
    filters = {name: value for name, value in filters.items() if value is not None}
    if getattr(args, "warned", False):
        filters["warned"] = "true"
    if getattr(args, "all_versions", False):
        filters["all_versions"] = "true"
    return filters


def cmd_asset_search(args: argparse.Namespace) -> int:
    return _page_command(args, _SEARCH_OPTIONS, queue=False)


def cmd_review_queue(args: argparse.Namespace) -> int:
    return _page_command(args, _QUEUE_OPTIONS, queue=True)


def _page_command(args: argparse.Namespace, names, *, queue: bool) -> int:
    from gateway import errors
    from gateway.catalog import search as searching
    config = _load(args.config)
    catalog = _open_catalog(config)
    try:
        filters = searching.parse_params(_filters(args, names))
        limit = searching.parse_limit(args.limit)
        if queue:
            page = catalog.queue(limit=limit, page=args.page, **filters,
                                 skip_buckets=(config.policies.quarantine_bucket,))
        else:
            page = catalog.search(limit=limit, page=args.page, **filters)
    except errors.GatewayError as exc:
        print(f"provgate: {exc.message}", file=sys.stderr)
        return 2
    finally:
        catalog.close()
    _print(page.to_json(), args.json, _render_page)
    return 0


def _render_page(data: dict) -> None:
    if not data["items"]:
        print("nothing found" if data["next"] is None else "nothing on this page")
    for item in data["items"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(item["committed"]))
        prompt = " ".join((item.get("prompt") or "").split())
        prompt = prompt[:60] + ("…" if len(prompt) > 60 else "")
        mark = "" if item["current"] else "  (superseded)"
        print(f"{when}  {item['review']:<17} {item['bucket']}/{item['key']}  "
              f"version {item['version_id']}{mark}")
        details = [f"{name}={item[name]}" for name in ("model", "generator", "campaign",
                                                        "brand", "sku", "identity")
                   if item.get(name) not in (None, "")]
        if prompt:
            details.append(f'prompt "{prompt}"')
        for warning in item.get("policy_warnings") or []:
            details.append(f"warning {warning}")
        if details:
            print("    " + "  ".join(details))
    if data["next"]:
        print(f"more: --page {data['next']}")


# What `asset show` prints, in this order: descriptive fields first (a DAM's edits land
# there), then provenance, rights, the campaign fields, and where the version came from.
_SHOWN_FIELDS = ("title", "description", "keywords", "rating", "source_type", "generator",
                 "model", "model_version", "prompt", "negative_prompt", "prompt_author",
                 "seed", "steps", "sampler", "cfg_scale", "job_id", "derived_from",
                 "creator", "copyright", "license", "license_url", "usage_terms", "licensor",
                 "license_expires", "model_release", "people", "data_mining", "brand",
                 "campaign", "sku", "channel", "identity", "door", "captured_at",
                 "modified_at", "sha256", "size", "content_type")


def _shown_value(value) -> str:
    if isinstance(value, list):
        return ", ".join(_shown_value(v) for v in value)
    if isinstance(value, dict):
        if "bucket" in value and "key" in value:
            ref = f"{value['bucket']}/{value['key']}"
            return ref + (f"?versionId={value['version_id']}" if value.get("version_id") else "")
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return " ".join(str(value).split())       # a multi-line prompt stays on its row


def _render_show(data: dict) -> None:
    record = data["record"]
    rows = [("instance", data["instance_id"])]
    rows += [(name.replace("_", " "), _shown_value(record[name])) for name in _SHOWN_FIELDS
             if record.get(name) not in (None, "", [])]
    review = record.get("review") or {}
    if review.get("status"):
        rows.append(("review", review["status"] + (f" by {review['by']}" if review.get("by")
                                                   else "")))
    width = max(len(label) for label, _ in rows) + 2
    print(f"{data['bucket']}/{data['key']}  version {data['version_id']}")
    for label, value in rows:
        print(f"  {label:<{width}}{value}")
    for notice in record.get("notices", []):
        print(f"  {notice['severity']}: {notice['message']}")


def _render_history(data: dict) -> None:
    print(f"{data['bucket']}/{data['key']}  ({len(data['versions'])} versions)")
    current = (data["asset"] or {}).get("current")
    for v in data["versions"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(v["committed"]))
        mark = "*" if v["version_id"] == current else " "
        review = v.get("review") or {"status": "pending"}
        print(f" {mark} {when}  {v['version_id']}  {v['record'].get('identity') or '-'}  "
              f"{v['record'].get('size')} bytes  review: {review['status']}")
        for d in review.get("decisions", []):
            print(f"       {d['at']}  {d['decision']:<17} {d['by']}"
                  + (f": {d['note']}" if d.get("note") else ""))


def _render_lineage(data: dict) -> None:
    print(f"{data['bucket']}/{data['key']}  version {data['version_id']}")
    print("  made from:" if data["parents"] else "  made from: nothing recorded")
    for p in data["parents"]:
        print(f"    {p['relation']}: {p['bucket']}/{p['key']}"
              + (f"?versionId={p['version_id']}" if p.get("version_id") else ""))
    print("  used by:" if data["children"] else "  used by: nothing recorded")
    for c in data["children"]:
        print(f"    {c['relation']}: {c['bucket']}/{c['key']}?versionId={c['version_id']}")


def cmd_migrate_records(args: argparse.Namespace) -> int:
    from gateway.catalog.migrate import migrate_records
    from gateway.storage import open_backend
    config = _load(args.config)

    async def run():
        backend = open_backend(config)
        await backend.start(recover=False)
        try:
            return await migrate_records(backend)
        finally:
            await backend.close()

    report = asyncio.run(run())
    if args.json:
        print(json.dumps({"buckets": report.buckets, "records": report.records,
                          "kept": report.kept}, indent=2))
    else:
        print(f"moved {report.records} records into the record store of "
              f"{len(report.buckets)} buckets")
        for name in report.kept:
            print(f"  kept {name} (not a provgate record)")
    return 0


class Progress:
    """Progress of long work: one self-overwriting line on a terminal, else a plain line
    every ``every`` seconds (logs and CI keep readable output)."""

    def __init__(self, what: str, *, stream=None, force_lines: bool = False,
                 every: float = 5.0) -> None:
        self.what = what
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() and not force_lines
        self.every = every
        self._last = 0.0
        self._shown = False

    def update(self, text: str) -> None:
        if self.tty:
            print(f"\r\033[K{self.what}: {text}", end="", file=self.stream, flush=True)
            self._shown = True
        elif time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            print(f"{self.what}: {text}", file=self.stream, flush=True)

    def done(self, text: str) -> None:
        if self.tty and self._shown:
            print("\r\033[K", end="", file=self.stream, flush=True)
        print(f"{self.what}: {text}", file=self.stream, flush=True)


def _gateway_answers(listen: str) -> bool:
    """Whether something accepts connections at a configured listen address."""
    import socket
    host, port = config_module.parse_listen(listen)
    if port == 0:
        return False
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def cmd_reindex(args: argparse.Namespace) -> int:
    from gateway.catalog.reindex import reindex
    from gateway.policy import AuditLog
    from gateway.storage import open_backend
    config = _load(args.config)
    if args.indexes_only:
        catalog = _open_catalog(config)
        try:
            count = catalog.rebuild_indexes()
        finally:
            catalog.close()
        if args.json:
            print(json.dumps({"indexed_versions": count}, indent=2))
        else:
            print(f"rebuilt the search indexes of {count} catalogued versions")
        return 0
    if not args.force and _gateway_answers(config.server.listen):
        # Reindex empties the catalog and rebuilds it: writes a running gateway commits
        # meanwhile would be indexed in the old catalog and lost from the new one.
        print(f"provgate: a gateway answers on {config.server.listen}; stop it first "
              "(reindex rebuilds its catalog from scratch), or pass --force if that is "
              "another machine's gateway", file=sys.stderr)
        return 1
    shown = Progress("reindex", force_lines=args.progress)

    def progress(report, bucket: str) -> None:
        shown.update(f"bucket {report.buckets} ({bucket}), {report.assets} assets, "
                     f"{report.versions} versions")

    async def run():
        backend = open_backend(config)
        # No crash recovery: a gateway may be running on the same data beside us.
        await backend.start(recover=False)
        catalog = await asyncio.to_thread(_open_catalog, config)
        try:
            return await reindex(backend, catalog, progress,
                                 AuditLog(catalog.env).intake_warnings())
        finally:
            catalog.close()
            await backend.close()

    report = asyncio.run(run())
    shown.done(f"{report.buckets} buckets, {report.assets} assets, {report.versions} versions")
    summary = {"buckets": report.buckets, "assets": report.assets, "versions": report.versions,
               "missing_records": report.missing_records,
               "unreadable_records": report.unreadable_records,
               "mismatched_records": report.mismatched_records}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"reindexed {report.assets} assets ({report.versions} versions) in "
              f"{report.buckets} buckets")
        for item in report.missing_records:
            print(f"  no record for {item}")
        for item in report.unreadable_records:
            print(f"  unreadable record of {item}")
        for item in report.mismatched_records:
            print(f"  refused record of {item} (not indexed)")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from gateway.config_edit import EditError
    from gateway.starter import init_directory
    try:
        started = init_directory(Path(args.dir))
    except EditError as exc:
        print(f"provgate: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"provgate: cannot set up {args.dir}: {exc.strerror or exc}"
              + (f" ({exc.filename})" if exc.filename else ""), file=sys.stderr)
        return 1
    for path in started.made:
        print(f"created {path}")
    print(f"\nadmin identity: access key {started.access_key}")
    print(f"                secret     {started.secret}")
    print("The secret is shown only now; it is in the config file, readable by its owner "
          "only.\nStart the gateway:  provgate serve --config " + str(started.config))
    return 0


def _identity_doc(args):
    from gateway.config_edit import EditError, read_document
    try:
        return read_document(Path(args.config))
    except EditError as exc:
        print(f"provgate: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_identity(args: argparse.Namespace) -> int:
    from gateway import config_edit
    path = Path(args.config)
    doc = _identity_doc(args)
    if args.identity_command == "list":
        entries = config_edit.list_identities(doc)
        rows = [{"name": e.name, "access_key": e.access_key, "role": e.role,
                 "buckets": e.buckets,
                 "secret": f"${e.secret_env}" if e.secret_env else "in the config file"}
                for e in entries]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print(f"{'NAME':16}  {'ACCESS KEY':22}  {'ROLE':9}  {'BUCKETS':20}  SECRET")
            for r in rows:
                print(f"{r['name']:16}  {r['access_key']:22}  {r['role']:9}  "
                      f"{','.join(r['buckets']):20}  {r['secret']}")
        return 0
    try:
        if args.identity_command == "add":
            buckets = [b.strip() for b in args.buckets.split(",")]
            access_key, secret = config_edit.add_identity(
                doc, args.name, role=args.role, buckets=buckets, secret_env=args.secret_env)
            variable = args.secret_env
        else:
            access_key, secret, variable = config_edit.rotate_identity(
                doc, args.name, new_key=args.new_access_key, secret_env=args.secret_env)
        config_edit.write_atomically(path, doc.as_string())
    except config_edit.EditError as exc:
        print(f"provgate: {exc}", file=sys.stderr)
        return 1
    print(f"identity {args.name}: access key {access_key}")
    print(f"secret (shown only now): {secret}")
    if variable:
        print(f"{path} reads the secret from ${variable}: set it there, e.g. "
              f"export {variable}='{secret}'")
    print("Restart provgate serve (and provgate watch) for the change to take effect.")
    return 0


def cmd_policy_lint(args: argparse.Namespace) -> int:
    from gateway.policy import PolicyError, Sandbox, load_policies
    with Sandbox(workers=1) as sandbox:
        try:
            policy_set = load_policies(args.dirs, sandbox=sandbox)
        except PolicyError as exc:
            for problem in exc.problems:
                print(problem)
            print(f"{len(exc.problems)} problem(s); the policy set would be rejected",
                  file=sys.stderr)
            return 1
    print(f"ok: {len(policy_set.rules)} rules, {len(policy_set.sets)} defaults, "
          f"{len(policy_set.routes)} routes in {len(policy_set.files)} file(s) "
          f"(revision {policy_set.revision})")
    return 0


def cmd_policy_test(args: argparse.Namespace) -> int:
    from gateway.policy import PolicyError, Sandbox
    from gateway.policy.testing import format_table, run_tests
    with Sandbox(workers=1) as sandbox:
        try:
            report = run_tests(args.dir, sandbox=sandbox)
        except PolicyError as exc:
            for problem in exc.problems:
                print(problem)
            return 1
    if not report.cases:
        print(f"no test cases in {args.dir}/tests/*.toml")
        return 1
    print(format_table(report))
    failed = len(report.failures)
    print(f"\n{report.cases} case(s), {len(report.checks)} check(s), {failed} mismatch(es) "
          f"(policy revision {report.revision})")
    return 1 if failed else 0


def cmd_policy_explain(args: argparse.Namespace) -> int:
    from gateway.policy import Sandbox
    from gateway.policy.explain import explain
    config = _load(args.config)
    bucket, key = args.target
    catalog = _open_catalog(config)
    try:
        version = catalog.version(bucket, key, args.version_id)
    finally:
        catalog.close()
    if version is None:
        print(f"provgate: no asset {bucket}/{key}"
              + (f" version {args.version_id}" if args.version_id else ""), file=sys.stderr)
        return 1
    with Sandbox(workers=1, timeout=config.policies.eval_timeout) as sandbox:
        policy_set = _load_policy_set(config, sandbox)
        if policy_set is None:
            return 1
        _print(explain(policy_set, bucket, key, version), args.json, _render_explain)
    return 0


def _load_policy_set(config: config_module.Config, sandbox):
    """The configuration's policy set, or None after printing why it does not load."""
    from gateway.policy import PolicyError, load_policies
    settings = config.policies
    try:
        return load_policies([config.resolve(d) for d in settings.dirs], sandbox=sandbox,
                             mode=settings.mode, dry_run=settings.dry_run)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _render_explain(data: dict) -> None:
    print(f"{data['bucket']}/{data['key']}  version {data['version_id']}  "
          f"(policy revision {data['revision']}{', dry run' if data['dry_run'] else ''})")
    for stage, verdict in data["stages"].items():
        print(f"\n{stage}: {verdict['action']}")
        for o in verdict["outcomes"]:
            print(f"  {o['rule_id']:<28} {o['result']:<5} {o['action']:<10} "
                  f"{o['file']}:{o['line']}")
            if o["result"] == "skip":
                print(f"      match is false: {' '.join((o['match'] or '').split())}")
            elif o["result"] != "pass":
                print(f"      {o['message']}")
    if data["defaults"]:
        print("\ndefaults it would get:")
        for name, d in data["defaults"].items():
            print(f"  {name} = {d['value']!r}  ({d['from']})")
    print(f"\nroutes: {', '.join(data['routes']) or 'none'}")


def cmd_audit(args: argparse.Namespace) -> int:
    from gateway.policy.audit import AuditLog
    config = _load(args.config)
    path = config.resolve(config.catalog.path)
    try:
        log = AuditLog.open(path, readonly=True)
    except FileNotFoundError:
        print(f"provgate: no catalog at {path} (nothing audited yet)", file=sys.stderr)
        return 1
    try:
        entries = log.iter(args.since, args.limit)
        if args.json:
            for entry in entries:
                print(json.dumps(entry, ensure_ascii=False, sort_keys=True))
        else:
            _print_audit_table(entries)
    finally:
        log.close()
    return 0


def _print_audit_table(entries) -> None:
    print(f"{'SEQ':>6}  {'TIME':24}  {'REVISION':16}  {'STAGE':10}  {'RULE':24}  "
          f"{'ACTION':10}  {'OBJECT':40}  IDENTITY")
    for e in entries:
        if e.get("kind") == "decision":
            obj = f"{e.get('bucket')}/{e.get('key')}"
            if e.get("version_id"):
                obj += f"?versionId={e['version_id']}"
            action = e["action"] if e["action"] == e.get("intended") or e["action"] != "audit" \
                else f"audit({e['intended']})"
            print(f"{e['seq']:>6}  {e['time']:24}  {e.get('revision') or '':16}  "
                  f"{e.get('stage', ''):10}  {e.get('rule', ''):24}  {action:10}  {obj:40}  "
                  f"{e.get('identity') or ''}")
        else:
            print(f"{e['seq']:>6}  {e['time']:24}  {e.get('revision') or '':16}  {'':10}  "
                  f"{'[' + e.get('kind', '?') + ']':24}")


def _page_options(parser: argparse.ArgumentParser, names) -> None:
    from gateway.catalog.search import DEFAULT_LIMIT, FILTERS, MAX_LIMIT
    for name in names:
        parser.add_argument(f"--{name}", dest=_OPTION_DEST.get(name, name),
                            metavar="WORDS" if name == "prompt" else name.upper(),
                            help=FILTERS[name])
    parser.add_argument("--warned", action="store_true",
                        help="only versions that intake policy answered with a warning")
    parser.add_argument("--limit", metavar="N",
                        help=f"results per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})")
    parser.add_argument("--page", metavar="TOKEN", help="the token a previous page ended with")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="TOML configuration file")


def cmd_distribute(args: argparse.Namespace) -> int:
    """``provgate distribute status|retry|resync|takedown``. ``status`` reads the queue in
    the catalog; the others change it, so they ask the running gateway through the admin
    API (with your identity's credentials: role publisher or above)."""
    from gateway.wire.admin_client import ApiError, client_for
    config = _load(args.config)
    target = getattr(args, "target", None)
    if target is not None and target not in config.distribution.targets:
        print(f"provgate: no target named {target!r} in {args.config} "
              f"(configured: {', '.join(config.distribution.targets) or 'none'})", file=sys.stderr)
        return 2
    bucket, key = args.asset if getattr(args, "asset", None) else (None, None)
    version_id = getattr(args, "version_id", None)
    if version_id and bucket is None:
        print("provgate: --version-id needs BUCKET/KEY", file=sys.stderr)
        return 2
    command = args.distribute_command
    if command == "status":
        from gateway.distribution import Distributor
        catalog = _open_catalog(config)
        try:
            # Reading only: no policies, no delivery worker.
            data = Distributor(config.distribution, catalog, None).status(
                target=target, bucket=bucket, key=key)
        finally:
            catalog.close()
        _print(data, args.json, _render_distribution_status)
        return 0
    body = {"target": target, "bucket": bucket, "key": key, "version_id": version_id,
            "reason": getattr(args, "reason", None)}
    try:
        data = client_for(args, config.admin.listen).call(
            "POST", f"/api/v1/distribution/{command}",
            {name: value for name, value in body.items() if value is not None})
    except ApiError as exc:
        print(f"provgate: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    _print(data, args.json, _render_jobs)
    return 0


def _render_distribution_status(data: dict) -> None:
    print(f"{'TARGET':20}  {'DEPTH':>6}  {'OLDEST':>8}  STATES")
    for name, entry in sorted(data["targets"].items()):
        states = ", ".join(f"{k} {v}" for k, v in sorted(entry["states"].items()))
        print(f"{name:20}  {entry['depth']:>6}  {entry['oldest_age']:>7.0f}s  {states}")
    for job in data["jobs"]:
        print(f"  {job['state']:9} {job['op']:8} {job['target']:16} "
              f"{job['bucket']}/{job['key']}?versionId={job['version_id']}"
              + (f"  attempts {job['attempts']}" if job["attempts"] else "")
              + (f"  {job['last_error'] or job['reason']}" if job["last_error"] or job["reason"] else ""))


def _render_jobs(data: dict) -> None:
    for job in data["jobs"]:
        print(f"{job['state']:9} {job['op']:8} {job['target']:16} "
              f"{job['bucket']}/{job['key']}?versionId={job['version_id']}"
              + (f"  {job['reason']}" if job["reason"] else ""))
    print(f"{len(data['jobs'])} job(s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provgate",
        description="Storage gateway for AI-generated creative content: an S3 endpoint "
                    "that captures provenance and enforces policy on every write.")
    parser.add_argument("--version", action="version", version=f"provgate {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = sub.add_parser(
        "init", help="make a folder ready to serve: config, policies, an admin identity",
        description="Write DIR/provgate.toml (every key commented, as config.example.toml, "
                    "with a fresh admin identity whose secret is printed once), "
                    "DIR/policies (the shipped policy set and its tests) and the sample "
                    "share DIR/inbox. Nothing existing is overwritten.")
    init.add_argument("dir", nargs="?", default=".", metavar="DIR",
                      help="the folder to set up (default: the current one)")
    init.set_defaults(func=cmd_init)

    identity = sub.add_parser(
        "identity", help="list, add or rotate the access keys of [[identities]]",
        description="Edit [[identities]] of the config file in place: comments and layout "
                    "are kept, the file is replaced atomically. New secrets are random and "
                    "printed once. A running gateway sees the change after a restart.")
    identity_sub = identity.add_subparsers(dest="identity_command", required=True,
                                           metavar="ACTION")
    listing = identity_sub.add_parser("list", help="every identity (secrets never shown)",
                                      description="Every identity: name, access key, role, "
                                                  "buckets and where its secret is kept.")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add = identity_sub.add_parser("add", help="a new identity with a random key and secret",
                                  description="Append an identity with a random access key "
                                              "and secret (printed once).")
    add.add_argument("name", help="identity name, shown in logs and records")
    add.add_argument("--role", default="writer",
                     choices=("reader", "writer", "reviewer", "publisher", "admin"),
                     help="what it may do (default: writer)")
    add.add_argument("--buckets", default="*",
                     help="comma-separated bucket names it may use, or * (default: *)")
    add.add_argument("--secret-env", metavar="VAR",
                     help="keep the secret in environment variable VAR instead of the file")
    rotate = identity_sub.add_parser("rotate", help="a new secret for an identity",
                                     description="Replace an identity's secret with a new "
                                                 "random one (printed once); the old one "
                                                 "stops working at the next restart.")
    rotate.add_argument("name", help="the identity to rotate")
    rotate.add_argument("--new-access-key", action="store_true",
                        help="also give it a new access key")
    rotate.add_argument("--secret-env", metavar="VAR",
                        help="from now on keep the secret in environment variable VAR")
    for action in (listing, add, rotate):
        action.add_argument("--config", default=DEFAULT_CONFIG,
                            help=f"TOML configuration file (default: {DEFAULT_CONFIG})")
        action.set_defaults(func=cmd_identity)

    serve = sub.add_parser("serve", help="run the S3 endpoint and the admin listener",
                           description="Run the S3 endpoint and the admin listener "
                                       "(health, readiness), and watch the folders of "
                                       "[[sidecar.shares]], until SIGTERM or Ctrl-C.")
    serve.add_argument("--config", default=DEFAULT_CONFIG,
                       help=f"TOML configuration file (default: {DEFAULT_CONFIG})")
    serve.set_defaults(func=cmd_serve)
    watch = sub.add_parser("watch", help="run the folder sidecar alone",
                           description="Watch the folders of [[sidecar.shares]] and send "
                                       "every complete file through the gateway's S3 API "
                                       "(its XMP is written beside it; a policy denial moves "
                                       "it to quarantine) until SIGTERM or Ctrl-C.")
    watch.add_argument("--config", default=DEFAULT_CONFIG,
                       help=f"TOML configuration file (default: {DEFAULT_CONFIG})")
    watch.set_defaults(func=cmd_watch)

    asset = sub.add_parser("asset", help="show and search what the catalog knows of assets",
                           description="Read an asset's provenance record, its version "
                                       "history or its lineage from the catalog, or search "
                                       "the catalog.")
    asset_sub = asset.add_subparsers(dest="asset_command", required=True, metavar="ACTION")
    for name, text in (("show", "the provenance record of the current (or a given) version"),
                       ("history", "every stored version, oldest first"),
                       ("lineage", "what a version was made from, and what was made from it")):
        action = asset_sub.add_parser(name, help=text, description=text.capitalize() + ".")
        action.add_argument("target", type=_asset_target, metavar="BUCKET/KEY")
        if name != "history":
            action.add_argument("--version-id", help="a specific version (default: current)")
        else:
            action.set_defaults(version_id=None)
        action.add_argument("--json", action="store_true", help="print JSON")
        action.add_argument("--config", default=DEFAULT_CONFIG, help="TOML configuration file")
        action.set_defaults(func=cmd_asset)

    found = asset_sub.add_parser(
        "search", help="find versions by prompt words and record fields",
        description="Find asset versions in the catalog. Every filter given must hold "
                    "(AND); text filters ignore case. Current versions only, newest first, "
                    "unless --all-versions. A page ends with a token for --page.")
    _page_options(found, _SEARCH_OPTIONS)
    found.add_argument("--all-versions", action="store_true",
                       help="also superseded and deleted versions")
    found.set_defaults(func=cmd_asset_search)


    rebuild = sub.add_parser("reindex", help="rebuild the catalog from storage",
                             description="Drop the catalog and rebuild it from the objects "
                                         "and their XMP records in storage. A record that "
                                         "does not name its object version and the SHA-256 "
                                         "of its bytes is reported and not indexed. Run it "
                                         "with the gateway stopped (it refuses while a "
                                         "gateway answers on [server] listen). Progress goes "
                                         "to stderr: one updating line on a terminal, plain "
                                         "lines every few seconds otherwise.")
    rebuild.add_argument("--config", default=DEFAULT_CONFIG, help="TOML configuration file")
    rebuild.add_argument("--json", action="store_true", help="print the summary as JSON")
    rebuild.add_argument("--progress", action="store_true",
                         help="progress as plain lines even on a terminal")
    rebuild.add_argument("--force", action="store_true",
                         help="run even though something answers on [server] listen")
    rebuild.add_argument("--indexes-only", action="store_true",
                         help="only rebuild the search indexes from the catalog itself "
                              "(no storage access); safe while the gateway runs")
    rebuild.set_defaults(func=cmd_reindex)
    migrate = sub.add_parser(
        "migrate-records", help="move XMP records of the old layout into the record store",
        description="Move the XMP records that older provgate versions kept as <key>.xmp "
                    "objects into each bucket's record store; a user's own .xmp objects "
                    "stay. `provgate serve` does this on start; run it by hand when that "
                    "failed.")
    migrate.add_argument("--config", default=DEFAULT_CONFIG, help="TOML configuration file")
    migrate.add_argument("--json", action="store_true", help="print the summary as JSON")
    migrate.set_defaults(func=cmd_migrate_records)
    policy = sub.add_parser("policy", help="check and test policy files",
                            description="Check and test the policy files (docs/policies.md).")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True,
                                       metavar="SUBCOMMAND")
    lint = policy_sub.add_parser(
        "lint", help="check policy files; non-zero exit on any problem",
        description="Load the policy files as the server would and print every problem "
                    "as FILE:LINE RULE: MESSAGE. Exit 1 if the set would be rejected.")
    lint.add_argument("dirs", nargs="*", default=["policies"], metavar="DIR",
                      help="policy directories (default: policies)")
    lint.set_defaults(func=cmd_policy_lint)
    test = policy_sub.add_parser(
        "test", help="run the test cases beside the policies",
        description="Run DIR/tests/*.toml against the policies in DIR and print a table. "
                    "Exit 1 on any mismatch, on broken files, or when there are no cases.")
    test.add_argument("dir", metavar="DIR", help="policy directory, e.g. policies")
    test.set_defaults(func=cmd_policy_test)
    explain = policy_sub.add_parser(
        "explain", help="which rules match a stored asset, and why",
        description="Evaluate every rule of the configured policy set (all stages), its "
                    "defaults and routes on the record the catalog holds for BUCKET/KEY, "
                    "and say for each rule whether it matched, passed or failed and why.")
    explain.add_argument("target", type=_asset_target, metavar="BUCKET/KEY")
    explain.add_argument("--version-id", help="a specific version (default: current)")
    explain.add_argument("--json", action="store_true", help="print JSON")
    explain.add_argument("--config", default=DEFAULT_CONFIG,
                         help=f"TOML configuration file (default: {DEFAULT_CONFIG})")
    explain.set_defaults(func=cmd_policy_explain)

    from gateway.review import commands as review_commands
    review_actions = review_commands.add_parser(sub, DEFAULT_CONFIG)
    waiting = review_actions.add_parser(
        "queue", help="versions waiting for review, oldest first",
        description="Current versions whose review is pending, oldest first, optionally "
                    "filtered (every filter given must hold), read from the catalog. "
                    "Quarantined writes are not queued: they are released or discarded.")
    _page_options(waiting, _QUEUE_OPTIONS)
    waiting.set_defaults(func=cmd_review_queue)

    audit = sub.add_parser("audit", help="print the policy audit log",
                           description="Print the append-only policy audit log kept in the "
                                       "catalog directory of the configuration.")
    audit.add_argument("--config", default=DEFAULT_CONFIG,
                       help=f"TOML configuration file (default: {DEFAULT_CONFIG})")
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    audit.add_argument("--since", type=int, default=0, metavar="SEQ",
                       help="only entries after this sequence number")
    audit.add_argument("--limit", type=int, default=None, metavar="N",
                       help="at most N entries")
    audit.set_defaults(func=cmd_audit)

    from gateway.wire.admin_client import add_credential_options
    distribute = sub.add_parser("distribute", help="the distribution queue: status, retry, "
                                "resync, takedown",
                                description="Inspect and steer the durable distribution queue "
                                            "(copies of approved assets on [targets.NAME]).")
    distribute_sub = distribute.add_subparsers(dest="distribute_command", required=True,
                                               metavar="ACTION")
    actions = {
        "status": "per target: queue depth, oldest job, jobs by state; unfinished jobs",
        "retry": "run dead, retrying and blocked jobs again from their first attempt",
        "resync": "evaluate the routes again for approved and published versions and queue "
                  "what is missing",
        "takedown": "remove the copies of an asset (one version with --version-id) from "
                    "every target",
    }
    for name, text in actions.items():
        action = distribute_sub.add_parser(name, help=text, description=text.capitalize() + ".")
        action.add_argument("--config", default=DEFAULT_CONFIG,
                            help=f"TOML configuration file (default: {DEFAULT_CONFIG})")
        action.add_argument("--json", action="store_true", help="print JSON")
        if name != "resync":
            action.add_argument("--target", help="only this [targets.NAME]")
        if name == "takedown":
            action.add_argument("asset", type=_asset_target, metavar="BUCKET/KEY")
            action.add_argument("--reason", default="manual takedown",
                                help="why (kept in the job and the record's history)")
        else:
            action.add_argument("asset", type=_asset_target, metavar="BUCKET/KEY", nargs="?",
                                help="only this asset")
        if name in ("resync", "takedown"):
            action.add_argument("--version-id", dest="version_id",
                                help="only this version (resync: as if its review just changed)")
        if name != "status":
            add_credential_options(action)
        action.set_defaults(func=cmd_distribute)
    return parser


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("provgate")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader went away (`provgate audit --json | head`): stop quietly, as cat does.
        # stdout is pointed at /dev/null so that flushing it at exit raises nothing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
