"""``provgate review``: the review queue and decisions from the command line.

Every command is a call to the admin API (``gateway.admin.review_api``) made with an
identity's credentials, so the CLI is held to exactly the roles, scopes and review
rules of every other door:

    --endpoint     admin listener URL (default: http://<[admin] listen of --config>;
                   env PROVGATE_ADMIN_ENDPOINT)
    --access-key   the identity's access key (env PROVGATE_ACCESS_KEY)
    --secret-key   its secret (env PROVGATE_SECRET_KEY; prefer the environment: a
                   command line is visible to other users of the machine)

Exit status: 0 done, 1 refused or failed (the API's error code and message on stderr,
and the rule id when a review rule refused), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys

from gateway.wire.admin_client import (AdminClient, ApiError, add_credential_options,
                                       client_for)

ACTIONS = {"approve": "approve", "reject": "reject", "request-changes": "request-changes"}


def _target(value: str) -> tuple[str, str]:
    bucket, _, key = value.partition("/")
    if not bucket or not key:
        raise argparse.ArgumentTypeError("expected BUCKET/KEY, e.g. renders/campaign/hero.png")
    return bucket, key


def _floats(count: int, names: str):
    def parse(value: str) -> dict[str, float]:
        parts = value.split(",")
        if len(parts) != count:
            raise argparse.ArgumentTypeError(f"expected {count} numbers: {names}")
        try:
            return dict(zip(names.split(","), (float(p) for p in parts)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected numbers: {names}") from None
    return parse


def add_parser(sub, default_config: str):
    """``provgate review`` and its actions that act through the admin API; returns the
    actions' subparsers so the command line adds the ones that read the local catalog
    (``queue``)."""
    review = sub.add_parser("review", help="the review queue and decisions (admin API)",
                            description="The review queue and decisions, through the admin "
                                        "API with your identity's credentials (roles, "
                                        "bucket scopes and review rules apply).")
    actions = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")

    def common(parser: argparse.ArgumentParser, data: bool = True) -> None:
        parser.add_argument("--config", default=default_config,
                            help="TOML configuration file (for the admin listen address)")
        add_credential_options(parser)
        if data:
            parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(func=run)

    show = actions.add_parser("show", help="the review of a version and of every version")
    show.add_argument("target", type=_target, metavar="BUCKET/KEY")
    show.add_argument("--version-id", help="a specific version (default: current)")
    common(show)
    for name, text in (("approve", "approve a version (review rules decide the quorum)"),
                       ("reject", "reject a version"),
                       ("request-changes", "ask for changes (a new version starts over)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("target", type=_target, metavar="BUCKET/KEY")
        action.add_argument("--version-id", help="a specific version (default: current)")
        action.add_argument("--note", help="why (kept in the record)")
        common(action)
    comment = actions.add_parser("comment", help="comment on a version, a region or a moment")
    comment.add_argument("target", type=_target, metavar="BUCKET/KEY")
    comment.add_argument("text")
    comment.add_argument("--region", type=_floats(4, "x,y,w,h"), metavar="X,Y,W,H",
                         help="a rectangle in fractions (0..1) of the image, from its top left")
    comment.add_argument("--timecode", type=_floats(2, "start,end"), metavar="START,END",
                         help="a time range in seconds (video, audio)")
    comment.add_argument("--reply-to", metavar="ID", help="the comment this one answers (c1)")
    comment.add_argument("--resolve", metavar="ID",
                         help="mark comment ID resolved instead (TEXT is ignored)")
    comment.add_argument("--version-id", help="a specific version (default: current)")
    common(comment)
    rate = actions.add_parser("rate", help="rate a version 0..5 (xmp:Rating)")
    rate.add_argument("target", type=_target, metavar="BUCKET/KEY")
    rate.add_argument("rating", type=int, choices=range(0, 6), metavar="0..5")
    rate.add_argument("--version-id", help="a specific version (default: current)")
    common(rate)
    for name, text in (("release", "move a quarantined write into its bucket (approves it)"),
                       ("discard", "delete a quarantined write")):
        action = actions.add_parser(name, help=text)
        action.add_argument("target", type=_target, metavar="BUCKET/KEY",
                            help="where the write was sent")
        action.add_argument("--note", help="why (kept in the record)")
        common(action)
    return actions


def _client(args: argparse.Namespace) -> AdminClient:
    admin_listen = ""
    if not args.endpoint:
        from gateway import config as config_module
        try:
            admin_listen = config_module.load(args.config).admin.listen
        except config_module.ConfigError as exc:
            raise SystemExit(f"provgate: configuration error: {exc}") from None
    return client_for(args, admin_listen)


def _request(args: argparse.Namespace) -> tuple[str, str, dict | None, dict | None]:
    """(method, path, body, query) of the API call a command makes."""
    command = args.review_command
    bucket, key = args.target
    base = f"/api/v1/reviews/{bucket}/{key}"
    version = {"version_id": args.version_id} if getattr(args, "version_id", None) else {}
    if command == "show":
        return "GET", base, None, {"versionId": args.version_id}
    if command in ACTIONS:
        return "POST", base + "/decisions", {"decision": ACTIONS[command], "note": args.note,
                                             **version}, None
    if command == "comment":
        if args.resolve:
            return "POST", f"{base}/comments/{args.resolve}/resolve", version, None
        body = {"text": args.text, "region": args.region, "timecode": args.timecode,
                "reply_to": args.reply_to, **version}
        return "POST", base + "/comments", {k: v for k, v in body.items() if v is not None}, None
    if command == "rate":
        return "PUT", base + "/rating", {"rating": args.rating, **version}, None
    return "POST", f"/api/v1/quarantine/{bucket}/{key}/{command}", {"note": args.note}, None


def run(args: argparse.Namespace) -> int:
    client = _client(args)
    method, path, body, query = _request(args)
    try:
        data = client.call(method, path, body, query)
    except ApiError as exc:
        rule = f" (rule {exc.rule})" if exc.rule else ""
        print(f"provgate: {exc.code}{rule}: {exc.message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))
    else:
        _render_state(data)
    return 0


def _render_state(data: dict) -> None:
    if "discarded" in data:
        gone = data["discarded"]
        print(f"discarded {gone['bucket']}/{gone['key']} (version {gone['version_id']})")
        return
    print(f"{data['bucket']}/{data['key']}  version {data['version_id']}: {data['status']}"
          + (f"  rating {data['rating']}" if data.get("rating") is not None else ""))
    for waiting in data.get("waiting_for") or []:
        print(f"  waiting for {waiting['rule']}: {waiting['message']}")
    for d in data.get("decisions", []):
        print(f"  {d['at']}  {d['decision']:<17} {d['by']}" + (f": {d['note']}" if d.get("note") else ""))
    for c in data.get("comments", []):
        where = ""
        if c.get("x") is not None:
            where = f" [region {c['x']},{c['y']} {c['w']}x{c['h']}]"
        if c.get("start") is not None:
            where += f" [{c['start']}-{c['end']}s]"
        reply = f" (reply to {c['reply_to']})" if c.get("reply_to") else ""
        done = " (resolved)" if c.get("resolved_by") else ""
        print(f"  {c['id']} {c['by']}{reply}{where}{done}: {c['text']}")
    for v in data.get("versions", []):
        print(f"  version {v['version_id']}: {v['status']}")
