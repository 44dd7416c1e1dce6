"""The gatekeeper: the only code that changes stored data.

``gatekeeper``   :class:`Gatekeeper`, the one object the doors hold: every write, delete,
                 bucket change, tag and multipart step, and the reads with their
                 visibility rules (the quarantine bucket)
``pipeline``     :class:`IntakePipeline`, which commits writes: spool → extract →
                 policy → commit → record → catalog
``policy_gate``  the intake policy stage: defaults, judgement, quarantine, audit
"""
