"""The tests mirror the code (docs/ARCHITECTURE.md, "Tests"): each test module sits in the
folder of what it tests, and shared helpers live in tests/support, never in a test module."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO_ROOT, TESTS_DIR

# The folders of tests/ and what each holds (the list ARCHITECTURE.md gives).
FOLDERS = {
    "unit": "one package of medvault/ each, in a folder named after it",
    "cli": "the commands as a user runs them",
    "media": "real FAT32 and exFAT images, failing and yanked drives",
    "campaigns": "crash at every I/O point, tamper matrix, fuzzing, hostile input, concurrency",
    "project": "the docs' promises, lint, layers, CI, mutation smoke, benchmark smoke",
    "support": "shared helpers (no tests)",
    "fuzz": "the fuzz targets and corpus",
    "vectors": "the format's test vectors and their generator",
    "data": "fixed input files",
}


def _folders(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}


def _test_modules() -> list[Path]:
    return sorted(TESTS_DIR.rglob("test_*.py"))


def test_no_test_module_sits_at_the_top_of_tests() -> None:
    assert sorted(p.name for p in TESTS_DIR.glob("test_*.py")) == []


def test_the_folders_of_tests_are_the_documented_ones() -> None:
    assert _folders(TESTS_DIR) == set(FOLDERS)
    page = (REPO_ROOT / "docs" / "ARCHITECTURE.md").read_text().split("## Tests", 1)[1]
    assert [name for name in FOLDERS if f"tests/{name}" not in page] == []


def test_each_unit_folder_is_named_after_a_medvault_package() -> None:
    packages = {p.parent.name for p in (REPO_ROOT / "medvault").glob("*/__init__.py")}
    assert _folders(TESTS_DIR / "unit") - packages == set()


def test_every_test_module_is_in_a_test_folder() -> None:
    holders = {"unit", "cli", "media", "campaigns", "project"}
    misplaced = [
        str(p.relative_to(TESTS_DIR))
        for p in _test_modules()
        if p.relative_to(TESTS_DIR).parts[0] not in holders
    ]
    assert misplaced == []
    assert len(_test_modules()) > 100  # the walk found them


def _imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def _imports_a_test_module(path: Path) -> list[str]:
    return [
        name
        for name in _imported_modules(path)
        if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")
    ]


def test_no_test_module_imports_another_test_module() -> None:
    found = {
        str(p.relative_to(TESTS_DIR)): _imports_a_test_module(p)
        for p in TESTS_DIR.rglob("*.py")
        if _imports_a_test_module(p)
    }
    assert found == {}


def test_the_import_check_sees_an_import_of_a_test_module(tmp_path: Path) -> None:
    planted = tmp_path / "test_planted.py"
    planted.write_text("from tests.cli.test_demo import something\nimport tests.unit.x.test_y\n")
    assert _imports_a_test_module(planted) == [
        "tests.cli.test_demo",
        "tests.unit.x.test_y",
    ]
