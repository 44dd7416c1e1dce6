"""Policy guardrails defined in config files (``policies/*.toml``, ``docs/policies.md``).

The pieces, each in its own module:

``schema``       the file format: every key of [[rule]], [[set]], [[route]]
``loader``       files -> checked ``PolicySet`` or ``PolicyError`` (file:line rule: message)
``expressions``  CEL compile + static checks;  ``functions``: what expressions may call
``context``      the evaluation context (object, asset, identity, review, now)
``sandbox``      CEL evaluation in worker processes with a per-rule deadline
``policyset``    evaluate(stage, context) -> Decision, defaults(context), routing(context)
``decision``     outcomes, modes, the overall verdict
``store``        the current set, hot reload with watchfiles, last error for the admin API
``audit``        the append-only LMDB audit log
``testing``      ``provgate policy test``: test cases beside the policies

Intake uses: ``PolicyStore.current.evaluate("intake", build_context(...))``.
"""

# Exports are resolved lazily (PEP 562): the evaluation worker process imports this
# package too, and should not pay for LMDB and watchfiles it never uses.
_EXPORTS = {
    "AuditLog": "gateway.policy.audit",
    "build_context": "gateway.policy.context",
    "Decision": "gateway.policy.decision",
    "Outcome": "gateway.policy.decision",
    "PolicyError": "gateway.policy.errors",
    "Problem": "gateway.policy.errors",
    "load_policies": "gateway.policy.loader",
    "Defaults": "gateway.policy.policyset",
    "PolicySet": "gateway.policy.policyset",
    "Routing": "gateway.policy.policyset",
    "Sandbox": "gateway.policy.sandbox",
    "PolicyStore": "gateway.policy.store",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gateway.policy' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
