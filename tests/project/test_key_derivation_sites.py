"""Where keys are derived: crypto/key_schedule.py is the only code that derives a key from
the vault key (or from a file key or a slot's secret). The import-linter contract "Only the
key schedule and escrow key generation derive keys with HKDF" (run by tests/project/test_lint.py)
guards the HKDF module; these tests guard the labels and escrow key generation. They read
the source, so they are not in the mutation campaign's pools."""

from __future__ import annotations

import ast
from pathlib import Path

from medvault.crypto import labels
from tests.support.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "medvault"
SCHEDULE = PACKAGE / "crypto" / "key_schedule.py"
ESCROW_KEYGEN = PACKAGE / "crypto" / "escrow.py"
HKDF_MODULE = PACKAGE / "crypto" / "hkdf.py"

# Every label of a key derived from the vault key, a file key or a slot's secret.
SCHEDULE_LABELS = {
    "FILE_WRAP",
    "PAYLOAD",
    "META",
    "HEADER_MAC",
    "VAULT_HEADER_MAC",
    "SLOT_WRAP",
    "RECOVERY_SLOT",
    "INDEX",
    "PATH_INDEX",
    "CUSTODY_LOG",
    "PREVIOUS_EPOCH",
    "REKEY_REDO",
    "COBBLESTONE_256",
}
HKDF_NAMES = {"hkdf_expand", "HKDFExpand", "HKDF"}


def _names_used(path: Path) -> set[str]:
    """Every name and attribute name PATH's code refers to, and every name it imports."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            used.update(alias.name for alias in node.names)
    return used


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_only_the_key_schedule_names_a_derived_keys_label() -> None:
    """A module that named labels.INDEX (say) could derive the index key itself."""
    assert set(labels.__dict__) >= SCHEDULE_LABELS
    users = {
        path.relative_to(PACKAGE).as_posix(): sorted(_names_used(path) & SCHEDULE_LABELS)
        for path in _modules()
        if path not in (SCHEDULE, PACKAGE / "crypto" / "labels.py")
    }
    assert {name: found for name, found in users.items() if found} == {}
    assert _names_used(SCHEDULE) >= SCHEDULE_LABELS  # the check can see a label's use


def test_only_the_key_schedule_and_escrow_key_generation_call_hkdf() -> None:
    callers = {
        path.relative_to(PACKAGE).as_posix()
        for path in _modules()
        if path != HKDF_MODULE and _names_used(path) & HKDF_NAMES
    }
    assert callers == {"crypto/key_schedule.py", "crypto/escrow.py"}


def test_escrow_key_generation_expands_only_an_org_seed() -> None:
    """crypto/escrow.py may call HKDF, but only with the escrow seed labels."""
    tree = ast.parse(ESCROW_KEYGEN.read_text())
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "hkdf_expand"
    ]
    assert calls
    used = {ast.unparse(call.args[1]) for call in calls}
    assert used <= {"labels.ESCROW_SEED_ECDH", "labels.ESCROW_SEED_MLKEM"}
