"""Human review of object versions: states, decisions, quorum, comments, ratings.

Each module does one thing, none of them stores anything (the gatekeeper,
``gateway.gatekeeper.review_gate``, persists every change through ``write_record``):

``states``    the review states of a version and the decisions that move it
``inputs``    what a door may send (decision, note, comment, region, time range, rating),
              validated: hostile or out-of-range input is refused with a clear error
``quorum``    the ``stage = "review"`` policy rules: may this approval be made, and do
              the approvals that stand reach the quorum the rules ask for
``ledger``    a version's review state in the record: decisions and comments added,
              the status recomputed, the xmpMM:History event for each change
``queue``     pending versions, oldest first, and the figures the metrics export
"""
