"""`medvault ls` imports only what a listing needs (issue 23, goal 3: its fixed cost). The
lost-drive check after the unlock reads the vault's status without SQLAlchemy
(registry/lookup.py), and ls does not load the add/extract machinery. The time itself is
measured by bench/bench_fixed_cost.py, never here."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Workspace
from tests.support.module_probe import run_listing_modules

# Modules that must stay unloaded in a `medvault ls` of a vault not reported lost, with
# the reason each is heavy. If one of them comes back, ls pays for it at every run.
MUST_STAY_UNLOADED = {
    "sqlalchemy": "the ORM/Core: ~0.17 s and ~30 MiB to import",
    "alembic": "the migrations: only when a registry must be upgraded",
    "medvault.registry.sql": "the registry over SQLAlchemy",
    "medvault.registry.migrate": "the migration check, over SQLAlchemy",
    "psycopg": "the PostgreSQL driver",
    "keyring": "the OS keyring: only when a key was cached (unlock --remember)",
    "tqdm": "progress bars: only on a terminal",
    "zxcvbn": "the passphrase strength estimate: only when a passphrase is set",
    "importlib.metadata": "package metadata: only for --version and strength records",
    "medvault.cli.files_cmd": "add, extract, cat, rm and their use cases",
    # Memory (goal 5) more than time: each is ~0.2-0.5 MiB of every command's peak.
    "socket": "the host name comes from uname (workstation/host.py)",
    "difflib": "close matches: only for a name that is no command",
    "shutil": "with bz2 and lzma: only where a drive's size or a tree is copied",
    "concurrent.futures": "with logging: only where writers or readers run in threads",
}


def _ls_imports(ws: Workspace, drive: Path, tmp_path: Path) -> tuple[set[str], str]:
    """The modules loaded by `medvault ls DRIVE` (run as a user runs it), and its stderr."""
    env = {**ws.env, "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)}
    result, loaded = run_listing_modules(env, tmp_path / "modules.txt", "ls", drive)
    assert result.returncode == 0, result.stderr
    assert "one.txt" in result.stdout
    return loaded, result.stderr


def _vault_with_one_file(ws: Workspace, drive: Path, tmp_path: Path) -> str:
    vault_id = ws.create_fast(drive)
    (tmp_path / "one.txt").write_text("one\n")
    ws.cli("add", drive, tmp_path / "one.txt", check=True)
    return vault_id


def test_ls_loads_neither_sqlalchemy_nor_alembic_nor_the_writers(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    _vault_with_one_file(ws, drive, tmp_path)
    imported, _stderr = _ls_imports(ws, drive, tmp_path)
    assert "medvault.cli.ls_cmd" in imported  # the probe sees the command's modules
    assert "medvault.registry.lookup" in imported  # the lost-drive check ran
    loaded = {name: why for name, why in MUST_STAY_UNLOADED.items() if name in imported}
    assert loaded == {}


def test_ls_of_a_lost_drive_still_records_the_sighting_through_the_registry(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """The cheap check does not replace the registry: a lost drive's sighting is recorded
    (and the probe above would see SQLAlchemy if it were loaded)."""
    vault_id = _vault_with_one_file(ws, drive, tmp_path)
    ws.cli(
        "incident", "lost", vault_id, "--discovered-at", "2026-11-20T08:30:00Z",
        "--reported-by", "Pat Privacy", "--out", tmp_path / "pack", check=True,
    )  # fmt: skip
    imported, stderr = _ls_imports(ws, drive, tmp_path)
    assert "recorded as LOST" in stderr
    assert {"sqlalchemy", "medvault.registry.sql"} <= imported
    registry = ws.registry()
    try:
        seen = [s.event for s in registry.events(vault_id) if s.event.action == "seen"]
    finally:
        registry.close()
    assert [(e.details["unlocked"], e.details["where"]) for e in seen] == [
        (True, str(drive.resolve()))
    ]
