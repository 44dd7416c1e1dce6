"""The ``provgate`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys

from gateway import config as config_module
from gateway.logs import setup_logging

DEFAULT_CONFIG = "config.example.toml"


def _load(path: str) -> config_module.Config:
    try:
        return config_module.load(path)
    except config_module.ConfigError as exc:
        print(f"provgate: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.server import serve
    config = _load(args.config)
    setup_logging(config.server.log_format)
    asyncio.run(serve(config))
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


def cmd_audit(args: argparse.Namespace) -> int:
    import json

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
                                       "(health, readiness) until SIGTERM or Ctrl-C.")
    serve.add_argument("--config", default=DEFAULT_CONFIG,
                       help=f"TOML configuration file (default: {DEFAULT_CONFIG})")
    serve.set_defaults(func=cmd_serve)

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
