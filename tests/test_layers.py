"""The dependency direction of DESIGN.md, enforced: core ← store/config ← services ← edges."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "townsquare"

# What each package may import from townsquare (besides itself). Leaf modules (errors, log)
# may be imported by every layer except core, which imports nothing of ours.
LEAVES = {"errors", "log"}
ALLOWED = {
    "core": set(),
    "config": {"core"} | LEAVES,
    "store": {"core", "config"} | LEAVES,
    "pipeline": {"core", "config", "store"} | LEAVES,
    "services": {"core", "config", "store", "pipeline"} | LEAVES,
    "assistant": {"core", "config", "store", "pipeline", "services"} | LEAVES,
    "api": {"core", "config", "store", "pipeline", "services", "assistant"} | LEAVES,
    "web": {"core", "config", "store", "pipeline", "services", "assistant", "api"} | LEAVES,
    "adapters": {"core", "config", "store", "pipeline", "services", "assistant"} | LEAVES,
    # Benchmarks drive whole edges (the Discord bot) against local fakes, like the CLI does.
    "bench": {"core", "config", "store", "pipeline", "services", "adapters", "fakes"} | LEAVES,
    "fakes": set() | LEAVES,
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {
        name.split(".")[1]
        for name in names
        if name.startswith("townsquare.") and len(name.split(".")) > 1
    }


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_is_below_it(layer: str) -> None:
    root = PACKAGE / layer
    violations = []
    for path in sorted(root.rglob("*.py")) if root.exists() else []:
        for imported in _imports(path) - {layer} - ALLOWED[layer]:
            violations.append(f"{path.relative_to(PACKAGE)} imports townsquare.{imported}")
    assert violations == []


def test_core_imports_no_io_or_framework() -> None:
    forbidden = {
        "sqlalchemy",
        "fastapi",
        "psycopg",
        "structlog",
        "httpx",
        "os",
        "socket",
        "asyncio",
    }
    violations = []
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            violations += [
                f"{path.name} imports {m}" for m in modules if m.split(".")[0] in forbidden
            ]
    assert violations == []
