"""The ``provgate`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from gateway import config as config_module
from gateway.logs import setup_logging

DEFAULT_CONFIG = "config.example.toml"


def _load(path: str) -> config_module.Config:
    """The whole configuration, the folder sidecar's ``[sidecar]`` included, so that a
    mistake anywhere stops every command before it starts."""
    from sidecar.settings import load_sidecar
    try:
        config = config_module.load(path)
        config.sidecar = load_sidecar(config)
        return config
    except config_module.ConfigError as exc:
        print(f"provgate: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.server import BrokenPolicySet, serve
    config = _load(args.config)
    setup_logging(config.server.log_format)
    try:
        asyncio.run(serve(config))
    except BrokenPolicySet as exc:
        print(f"provgate: the policy set does not load; refusing to start:\n{exc}",
              file=sys.stderr)
        return 2
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
    return Catalog(config.resolve(config.catalog.path))


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


_SHOWN_FIELDS = ("source_type", "generator", "model", "model_version", "prompt",
                 "negative_prompt", "seed", "steps", "sampler", "cfg_scale", "creator",
                 "copyright", "license", "license_expires", "data_mining", "brand",
                 "campaign", "sku", "identity", "door", "sha256", "size", "content_type")


def _render_show(data: dict) -> None:
    record = data["record"]
    print(f"{data['bucket']}/{data['key']}  version {data['version_id']}")
    print(f"  instance   {data['instance_id']}")
    for name in _SHOWN_FIELDS:
        if record.get(name) not in (None, "", []):
            print(f"  {name:<15}{record[name]}")
    for notice in record.get("notices", []):
        print(f"  {notice['severity']}: {notice['message']}")


def _render_history(data: dict) -> None:
    print(f"{data['bucket']}/{data['key']}  ({len(data['versions'])} versions)")
    current = (data["asset"] or {}).get("current")
    for v in data["versions"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(v["committed"]))
        mark = "*" if v["version_id"] == current else " "
        print(f" {mark} {when}  {v['version_id']}  {v['record'].get('identity') or '-'}  "
              f"{v['record'].get('size')} bytes")


def _render_lineage(data: dict) -> None:
    print(f"{data['bucket']}/{data['key']}  version {data['version_id']}")
    print("  made from:" if data["parents"] else "  made from: nothing recorded")
    for p in data["parents"]:
        print(f"    {p['relation']}: {p['bucket']}/{p['key']}"
              + (f"?versionId={p['version_id']}" if p.get("version_id") else ""))
    print("  used by:" if data["children"] else "  used by: nothing recorded")
    for c in data["children"]:
        print(f"    {c['relation']}: {c['bucket']}/{c['key']}?versionId={c['version_id']}")


def cmd_reindex(args: argparse.Namespace) -> int:
    from gateway.catalog.reindex import reindex
    from gateway.storage import open_backend
    config = _load(args.config)

    def progress(report, bucket: str) -> None:
        if sys.stderr.isatty() or args.progress:
            print(f"\rreindex: bucket {report.buckets} ({bucket}), {report.assets} assets, "
                  f"{report.versions} versions", end="", file=sys.stderr, flush=True)

    async def run():
        backend = open_backend(config)
        await backend.start()
        catalog = _open_catalog(config)
        try:
            return await reindex(backend, catalog, progress)
        finally:
            catalog.close()
            await backend.close()

    report = asyncio.run(run())
    print(file=sys.stderr)
    summary = {"buckets": report.buckets, "assets": report.assets, "versions": report.versions,
               "missing_sidecars": report.missing_sidecars,
               "unreadable_sidecars": report.unreadable_sidecars}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"reindexed {report.assets} assets ({report.versions} versions) in "
              f"{report.buckets} buckets")
        for item in report.missing_sidecars:
            print(f"  no sidecar for {item}")
        for item in report.unreadable_sidecars:
            print(f"  unreadable sidecar {item}")
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
    from gateway.policy import PolicyError, Sandbox, load_policies
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
    settings = config.policies
    with Sandbox(workers=1, timeout=settings.eval_timeout) as sandbox:
        try:
            policy_set = load_policies([config.resolve(d) for d in settings.dirs],
                                       sandbox=sandbox, mode=settings.mode,
                                       dry_run=settings.dry_run)
        except PolicyError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            return 1
        _print(explain(policy_set, bucket, key, version), args.json, _render_explain)
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provgate",
        description="Storage gateway for AI-generated creative content: an S3 endpoint "
                    "that captures provenance and enforces policy on every write.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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

    asset = sub.add_parser("asset", help="show what the catalog knows of an asset",
                           description="Read an asset's provenance record, its version "
                                       "history or its lineage from the catalog.")
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

    rebuild = sub.add_parser("reindex", help="rebuild the catalog from storage",
                             description="Drop the catalog and rebuild it from the objects "
                                         "and XMP sidecars in storage. Run it with the "
                                         "gateway stopped, or on a gateway's own catalog "
                                         "after restoring storage.")
    rebuild.add_argument("--config", default=DEFAULT_CONFIG, help="TOML configuration file")
    rebuild.add_argument("--json", action="store_true", help="print the summary as JSON")
    rebuild.add_argument("--progress", action="store_true",
                         help="show progress even when stderr is not a terminal")
    rebuild.set_defaults(func=cmd_reindex)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
