"""The CEL binding (PyPI ``common-expression-language``), imported without its REPL.

The package's ``__init__`` imports ``cel.cli``, an interactive shell built on typer, rich
and prompt_toolkit: about 380 modules and 150 ms of CPU before the first expression is
compiled, in every process that compiles or evaluates one. Each policy evaluation worker
is a fresh interpreter (``sandbox.py``), as is every ``provgate policy`` command, and
provgate never starts the shell. So an empty module takes the shell's place before the
package is first imported: the compiler, ``Context`` and ``cel.stdlib`` are untouched.
"""

from __future__ import annotations

import sys
import types


def cel() -> types.ModuleType:
    """The ``cel`` package (imported on first use)."""
    module = sys.modules.get("cel")
    if module is None:
        sys.modules.setdefault("cel.cli", types.ModuleType(
            "cel.cli", "cel's interactive shell, not loaded by provgate (cel_binding.py)"))
        import cel as module
    return module
