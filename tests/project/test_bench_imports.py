"""Every benchmark and stress script's imports of medvault, bench and tests resolve: the
scripts that no smoke test runs (stress_*, fault_points, mutation) would otherwise break
unseen when a module moves (it happened once: a test-tree move)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

SCRIPTS = sorted((REPO_ROOT / "bench").glob("*.py"))
PROJECT = ("medvault", "bench", "tests")


def _project_imports(script: Path) -> list[tuple[str, str | None]]:
    """(module, name) for each `from MODULE import NAME` and (module, None) for each
    `import MODULE` of this project in SCRIPT."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROJECT:
            found.extend((node.module or "", alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((a.name, None) for a in node.names if a.name.split(".")[0] in PROJECT)
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_the_scripts_project_imports_resolve(script: Path) -> None:
    missing = []
    for module_name, name in _project_imports(script):
        module = importlib.import_module(module_name)
        if name is None or hasattr(module, name):
            continue
        try:
            importlib.import_module(f"{module_name}.{name}")  # a submodule
        except ModuleNotFoundError:
            missing.append(f"{module_name}.{name}")
    assert missing == []


def test_the_check_sees_a_missing_module(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("from tests.support.media.test_yanked_drive import run_trial\n")
    [(module_name, name)] = _project_imports(planted)
    assert name == "run_trial"
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(module_name)
