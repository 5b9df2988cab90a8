"""Every runtime dependency that ``pyproject.toml`` declares is imported by the package, and every third-party
module the package imports is declared (not merely present because another package needs it)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT / "analytics_pipeline"
# Declared for what they provide without an import from the package's code.
USED_WITHOUT_IMPORT = {
    "dagster-webserver": "the UI that `analytics-pipeline dev` starts (dagster dev runs it as a command)",
}


def _declared() -> set[str]:
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    return {_normal(re.split(r"[=<>!~\[; ]", spec, maxsplit=1)[0]) for spec in pyproject["project"]["dependencies"]}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_level_modules() -> set[str]:
    modules = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m != "analytics_pipeline" and m not in sys.stdlib_module_names}


def test_every_declared_dependency_is_imported_and_every_import_is_declared():
    distributions = packages_distributions()
    imported = {m: {_normal(d) for d in distributions.get(m, [])} for m in _imported_top_level_modules()}
    declared = _declared()
    undeclared = {m: sorted(d) for m, d in imported.items() if not d & declared}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    used = set().union(*imported.values()) | set(USED_WITHOUT_IMPORT)
    assert not declared - used, f"declared in pyproject.toml but never imported: {sorted(declared - used)}"
    assert set(USED_WITHOUT_IMPORT) <= declared
