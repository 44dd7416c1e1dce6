"""The layers of provgate: imports point down only, and nothing imports in a circle.

Reads the import statements of every module under ``gateway/`` and ``sidecar/`` (with
``ast``, so nothing is executed; imports inside functions and ``TYPE_CHECKING`` blocks
count, because they are dependencies all the same) and checks them against ``RANKS``,
the table that docs/architecture.md explains.  A module may import its own unit, or a
unit of a strictly lower rank; units of the same rank never import each other.  A new
package or top-level module must be given a rank here before it can exist.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gateway", "sidecar")

# Unit -> rank.  A unit is a package or top-level module right under gateway/, or the
# whole sidecar package.  Keep in step with the table in docs/architecture.md.
RANKS = {
    "gateway.cli": 10,
    "gateway.server": 9,
    "gateway.admin.ui": 8.5,     # the browser door, over the admin API it calls
    "gateway.admin": 8,
    "sidecar": 8,
    "gateway.s3": 7,
    "gateway.gatekeeper": 6,
    "gateway.review": 5,
    "gateway.distribution": 5,
    "gateway.policy": 4,
    "gateway.catalog": 4,
    "gateway.provenance": 3,
    "gateway.storage": 3,
    "gateway.starter": 3,
    "gateway.thumbnails": 3,
    "gateway.config": 2,
    "gateway.config_edit": 2,
    "gateway.kv": 2,
    "gateway.metrics": 2,
    "gateway.wire": 1,
    "gateway.errors": 0,
    "gateway.identities": 0,
    "gateway.logs": 0,
    "gateway": 0,            # the package itself (its __init__)
}

# The folder door is an S3 client of the gateway: it may use these and nothing else.
SIDECAR_MAY_IMPORT = ("gateway.wire", "gateway.kv", "gateway.config")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _imports(modules: dict[str, Path]) -> dict[str, set[tuple[str, int]]]:
    """Module -> {(imported provgate module, line)}; ``from pkg import name`` names the
    submodule when ``name`` is one, else the package."""
    found: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules
                           else source for alias in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] in PACKAGES:
                    while target not in modules and "." in target:
                        target = target.rsplit(".", 1)[0]   # `import a.b.c` of a name in b
                    found[name].add((target, node.lineno))
    return found


MODULES = _modules()
IMPORTS = _imports(MODULES)


# Packages inside a unit that are units of their own (a door inside the admin listener).
NESTED_UNITS = ("gateway.admin.ui",)


def unit_of(module: str) -> str:
    for nested in NESTED_UNITS:
        if module == nested or module.startswith(nested + "."):
            return nested
    parts = module.split(".")
    return parts[0] if parts[0] == "sidecar" else ".".join(parts[:2])


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out


def _collapsed(depth: int) -> dict[str, set[str]]:
    """The import graph with every module folded into its package ``depth`` names deep;
    an import between a package and one of its own subpackages is no edge."""
    def fold(module: str) -> str:
        return ".".join(module.split(".")[:depth])
    edges: dict[str, set[str]] = defaultdict(set)
    for source, targets in IMPORTS.items():
        for target, _ in targets:
            a, b = fold(source), fold(target)
            if a != b and not a.startswith(b + ".") and not b.startswith(a + "."):
                edges[a].add(b)
    return edges


def test_the_analysis_sees_the_code_base():
    # A guard for the guard: a parser that found nothing would pass every check below.
    assert "gateway.server" in MODULES and "sidecar.service" in MODULES
    assert "gateway.config" in {target for target, _ in IMPORTS["gateway.server"]}
    assert len(MODULES) > 100 and sum(map(len, IMPORTS.values())) > 300


def test_no_module_imports_in_a_circle():
    edges = {source: {t for t, _ in targets} for source, targets in IMPORTS.items()}
    assert _cycles(edges) == []


# From depth 2: at depth 1 the folder door (``sidecar``, which uses gateway.config) and
# ``gateway`` (whose server can start the sidecar in-process) are one package each; the
# rank table orders the sidecar between the gateway's units instead.
@pytest.mark.parametrize("depth", [2, 3, 4])
def test_no_package_imports_in_a_circle(depth):
    assert _cycles(_collapsed(depth)) == []


def test_every_unit_has_a_rank():
    assert sorted({unit_of(m) for m in MODULES} - set(RANKS)) == []


def test_imports_point_down_only():
    upward = []
    for source, targets in sorted(IMPORTS.items()):
        for target, line in sorted(targets):
            a, b = unit_of(source), unit_of(target)
            if a != b and RANKS.get(a, -1) <= RANKS.get(b, -1):
                upward.append(f"{source}:{line} -> {target} ({a} {RANKS.get(a)} ≤ {b} {RANKS.get(b)})")
    assert upward == []


def test_the_sidecar_imports_only_wire_kv_and_config():
    outside = [f"{source}:{line} -> {target}"
               for source, targets in sorted(IMPORTS.items()) if unit_of(source) == "sidecar"
               for target, line in sorted(targets)
               if unit_of(target) != "sidecar" and unit_of(target) not in SIDECAR_MAY_IMPORT]
    assert outside == []


def test_the_analysis_catches_a_circle_and_an_upward_import():
    # The checks above are only worth something if they can fail.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert RANKS[unit_of("gateway.storage.s3.backend")] < RANKS[unit_of("gateway.s3.auth.body")]
    assert unit_of("sidecar.service") == "sidecar"


def test_the_s3_door_reaches_stored_data_only_through_the_gatekeeper():
    # The S3 layer may use the storage interface's value types (gateway.storage.base),
    # never a backend, the catalog or the policy engine itself.
    reaching = [f"{source}:{line} -> {target}"
                for source, targets in sorted(IMPORTS.items()) if unit_of(source) == "gateway.s3"
                for target, line in sorted(targets)
                if unit_of(target) in ("gateway.storage", "gateway.catalog", "gateway.policy",
                                       "gateway.kv")
                and target != "gateway.storage.base"]
    assert reaching == []
    holding = [f"{path.relative_to(ROOT)}:{node.lineno}"
               for name, path in sorted(MODULES.items()) if unit_of(name) == "gateway.s3"
               for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Attribute) and node.attr in ("backend", "catalog", "intake")]
    assert holding == []
