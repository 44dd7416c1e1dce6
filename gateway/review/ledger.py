"""A version's review state inside its provenance record, and the history events.

The record is the durable home of the review (``pg:ReviewStatus``, ``pg:ReviewDecisions``,
``pg:ReviewComments``, ``xmp:Rating``); every decision and comment also appends an
``xmpMM:History`` event (``stEvt:action`` ``reviewed`` or ``commented``) whose
``stEvt:parameters`` say who did what. These functions change a record in memory only;
the gatekeeper stores it.
"""

from __future__ import annotations

from gateway.provenance import HistoryEvent, ProvenanceRecord
from gateway.provenance.record import Review, ReviewComment, ReviewDecision
from gateway.review.states import PENDING

REVIEWED = "reviewed"
COMMENTED = "commented"


def review_of(record: ProvenanceRecord) -> Review:
    """The record's review, created ``pending`` on first use."""
    if record.review is None:
        record.review = Review(status=PENDING)
    return record.review


def add_decision(record: ProvenanceRecord, decision: ReviewDecision, status: str) -> None:
    """Append ``decision`` and set the status it leads to; ``by``/``at``/``comment`` name
    the decision that set a decided status."""
    review = review_of(record)
    review.decisions.append(decision)
    review.status = status
    if status != PENDING:
        review.by, review.at, review.comment = decision.by, decision.at, decision.note
    else:
        review.by = review.at = review.comment = None


def next_comment_id(record: ProvenanceRecord) -> str:
    return f"c{len(review_of(record).comments) + 1}"


def find_comment(record: ProvenanceRecord, comment_id: str) -> ReviewComment | None:
    return next((c for c in review_of(record).comments if c.id == comment_id), None)


def event(action: str, when: str, instance_id: str, parameters: str) -> HistoryEvent:
    """An ``xmpMM:History`` entry for a review action on the version ``instance_id``."""
    return HistoryEvent(action, when, instance_id=instance_id, changed="/metadata",
                        parameters=parameters)


def decision_words(decision: ReviewDecision, status: str) -> str:
    """``stEvt:parameters`` of a decision: who, in which role, what, with what effect."""
    groups = f" [{', '.join(decision.groups)}]" if decision.groups else ""
    words = f"{decision.decision} by {decision.by} ({decision.role}{groups}); status {status}"
    return words + (f": {decision.note}" if decision.note else "")
