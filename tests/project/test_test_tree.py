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


def _private_medvault_names(path: Path) -> list[str]:
    """Private names of medvault that PATH imports, reads or patches: `from medvault.x import
    _y`, `module._y` and `setattr(module, "_y", ...)` for a name bound by a medvault import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("medvault"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{node.module}.{alias.name}")
                bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            bound.update(a.asname or a.name for a in node.names if a.name.startswith("medvault"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            name, attr = node.value.id, node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setattr"
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Name)
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            name, attr = node.args[0].id, node.args[1].value
        else:
            continue
        if name in bound and attr.startswith("_") and not attr.startswith("__"):
            found.append(f"{name}.{attr}")
    return found


def test_no_test_uses_a_private_name_of_medvault() -> None:
    """Tests use what the code offers (its seams are public names), so a refactor inside a
    module does not break them."""
    found = {
        str(p.relative_to(TESTS_DIR)): _private_medvault_names(p)
        for p in sorted(TESTS_DIR.rglob("*.py"))
        if _private_medvault_names(p)
    }
    assert found == {}


def test_the_private_name_check_sees_imports_reads_and_patches(tmp_path: Path) -> None:
    planted = tmp_path / "test_planted.py"
    planted.write_text(
        "from medvault.engine import landing\n"
        "from medvault.vault.add import _walk\n"
        "landing._probe(1, 'x')\n"
        "monkeypatch.setattr(landing, '_renameat2', None)\n"
        "landing.__name__\n"
    )
    assert sorted(_private_medvault_names(planted)) == [
        "landing._probe",
        "landing._renameat2",
        "medvault.vault.add._walk",
    ]
