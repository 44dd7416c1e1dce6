"""Quarantine: where a file goes when a policy says no, with the reason beside it.

The file (with its companions and any XMP) moves to the share's quarantine folder,
keeping its path below the share, never overwriting an earlier quarantined file of the
same name; ``<file>.reason.json`` says which rule, what it said, when, and how to retry.
Runs only after the gateway answered, so nothing is moved on a guess.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from sidecar import files
from sidecar.gateway_client import Answer
from sidecar.names import REASON_SUFFIX
from sidecar.settings import Share


def reason_for(share: Share, rel: str, answer: Answer) -> dict:
    """The reason document: a denial (403 + rule), or a hold for review (the gateway
    kept the write in its quarantine bucket)."""
    if answer.denied_by:
        rule, message, action = answer.denied_by, answer.message, "deny"
        back = f"then move the file back to {share.path / rel}; the sidecar sends it again"
        subject = answer.denial_subject
        if subject == "provenance":
            retry = (f"the rule asks for provenance the file did not carry: add the field "
                     f"it names to {Path(rel).name}.json beside the file (e.g. "
                     f'{{"prompt": "..."}}; docs/sidecar.md lists the companion files), {back}')
        elif subject == "object":
            retry = (f"the rule is about the file itself (its type, size or name), which "
                     f"no provenance can change: bucket {share.bucket} does not take it as it "
                     f"is. Convert it to a type the rule allows, drop it into a share whose "
                     f"bucket takes it, or ask ops to change rule {rule}; {back}")
        else:
            retry = f"change what the rule's message asks for, {back}"
    else:
        rule, _, message = (answer.held_by or "").partition(": ")
        action = "quarantine"
        retry = ("nothing to resend: the gateway keeps this write in its quarantine bucket "
                 "until a reviewer decides; this copy is for reference")
    return {"file": rel, "share": share.name, "bucket": share.bucket, "key": share.key_for(rel),
            "rule": rule, "action": action, "message": message, "status": answer.status,
            "code": answer.code, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "retry": retry}


def quarantine(share: Share, rel: str, answer: Answer) -> tuple[Path, dict]:
    """Move the file out of the share with its reason (blocking); (new path, reason)."""
    reason = reason_for(share, rel, answer)
    target = files.move_with_belongings(share.path / rel, share.quarantine / rel)
    files.write_atomically(target.with_name(target.name + REASON_SUFFIX),
                           (json.dumps(reason, indent=2, ensure_ascii=False) + "\n").encode())
    return target, reason
