"""Review states of one object version and the decisions that move it (DESIGN "Review
and distribution").

    pending ──approve (quorum reached)──▶ approved
       │  └─request changes──▶ changes_requested
       └────reject──────────▶ rejected

A new version starts ``pending``; older versions keep their state. Each reviewer's
latest decision on a version is the one that counts (a reviewer may change their mind).
The status follows from the decisions that stand: any rejection rejects; else any
request for changes holds the version at ``changes_requested``; else the approvals make
it ``approved`` once the review rules' quorum is reached, and leave it ``pending`` until
then. ``published``, ``taken_down`` and ``expired`` are set by distribution; only a
rejection moves a version out of them.
"""

from __future__ import annotations

from gateway.policy.context import standing_approvals

PENDING = "pending"
APPROVED = "approved"
CHANGES_REQUESTED = "changes_requested"
REJECTED = "rejected"
DISTRIBUTION_STATES = ("published", "taken_down", "expired")
STATES = (PENDING, APPROVED, CHANGES_REQUESTED, REJECTED, *DISTRIBUTION_STATES)
DECISIONS = (APPROVED, CHANGES_REQUESTED, REJECTED)

# What doors accept for a decision (CLI verbs, API values, S3 tag values).
_SPELLINGS = {
    "approve": APPROVED, "approved": APPROVED,
    "reject": REJECTED, "rejected": REJECTED,
    "request-changes": CHANGES_REQUESTED, "request_changes": CHANGES_REQUESTED,
    "changes_requested": CHANGES_REQUESTED, "changes-requested": CHANGES_REQUESTED,
}


def decision_named(text: object) -> str | None:
    """The decision a door's word names (``approve``, ``request-changes``, ...), or None."""
    return _SPELLINGS.get(text.strip().lower()) if isinstance(text, str) else None


def standing(decisions: list[dict]) -> dict[str, dict]:
    """Each reviewer's latest decision, by identity name, in the order first made."""
    latest: dict[str, dict] = {}
    for d in decisions:
        latest[d["by"]] = d
    return latest


def status_of(decisions: list[dict], *, quorum_reached: bool, previous: str = PENDING) -> str:
    """The status the standing decisions give (``quorum_reached``: what the review rules
    say of the standing approvals)."""
    current = list(standing(decisions).values())
    kinds = {d["decision"] for d in current}
    if REJECTED in kinds:
        return REJECTED
    if previous in DISTRIBUTION_STATES:
        return previous
    if CHANGES_REQUESTED in kinds:
        return CHANGES_REQUESTED
    if APPROVED in kinds and quorum_reached:
        return APPROVED
    return PENDING


def approvals(decisions: list[dict]) -> list[dict]:
    """The approvals that stand, as the review rules see them: {identity, role, groups}."""
    return standing_approvals(decisions)


# The object tag through which S3 clients make review decisions (``review=approved``).
REVIEW_TAG = "review"
REVIEW_TAG_VALUES = ("approved", "changes_requested", "rejected")
