"""Helpers for the policy tests: write policy files, evaluate simple contexts."""

from __future__ import annotations

import textwrap
from pathlib import Path

from gateway.policy import build_context

RULE = '''
[[rule]]
id = "{id}"
stage = "{stage}"
validate = '{validate}'
'''


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def rule(id: str, validate: str = "true", stage: str = "intake", **extra: str) -> str:
    text = RULE.format(id=id, stage=stage, validate=validate)
    for key, value in extra.items():
        text += f"{key} = {value}\n"
    return text


def context(bucket="renders", key="a.png", size=10, content_type="image/png", **record):
    return build_context(bucket=bucket, key=key, size=size, content_type=content_type,
                         record=record, identity={"name": "alice", "role": "writer"})
