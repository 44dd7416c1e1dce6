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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
