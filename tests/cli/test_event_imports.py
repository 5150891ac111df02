"""`medvault add`, `extract` and `rm` record their custody event in an up-to-date SQLite
registry without importing SQLAlchemy or Alembic (registry/sqlite_append.py; issue 23: the
import cost ~0.25 s of CPU on a thread sharing the GIL with the command's work), and the
events are in the registry's chain, which verifies. A drive reported lost still gets its
sighting recorded through the registry, before the command's own event. Times are
measured by the benchmarks, never here."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Workspace
from tests.support.module_probe import run_listing_modules

MUST_STAY_UNLOADED = {
    "sqlalchemy": "the ORM/Core: ~0.25 s of CPU and ~30 MiB to import",
    "alembic": "the migrations: only when a registry must be upgraded",
    "medvault.registry.sql": "the registry over SQLAlchemy",
    "medvault.registry.migrate": "the migration check, over SQLAlchemy",
    "psycopg": "the PostgreSQL driver",
}


def _run(ws: Workspace, tmp_path: Path, *args: str | Path) -> tuple[set[str], str]:
    env = {**ws.env, "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)}
    result, loaded = run_listing_modules(env, tmp_path / "modules.txt", *args)
    assert result.returncode == 0, result.stderr
    return loaded, result.stderr


def _sources(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    for n in range(20):
        (folder / f"d{n % 3}").mkdir(parents=True, exist_ok=True)
        (folder / f"d{n % 3}" / f"f{n:02d}.txt").write_text(f"file {n}\n" * 50)
    return folder


def test_add_extract_and_rm_record_their_events_without_sqlalchemy(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = ws.create_fast(drive)
    sources = _sources(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    for args in (
        ("add", drive, sources),
        ("extract", drive, "--to", out),
        ("rm", drive, "exports/d0/f00.txt"),
    ):
        loaded, _stderr = _run(ws, tmp_path, *args)
        assert "medvault.registry.sqlite_append" in loaded, args  # the probe sees it
        assert {name: why for name, why in MUST_STAY_UNLOADED.items() if name in loaded} == {}
    assert len(list(out.rglob("*.txt"))) == 20
    registry = ws.registry()
    try:
        stored = registry.events(vault_id)
        assert [s.event.action for s in stored] == ["create", "add", "extract", "rm"]
        assert [s.event.details["files"] for s in stored[1:3]] == [20, 20]
        assert registry.verify_chain() is None
    finally:
        registry.close()
    # The drive's custody log holds the same events: a sync finds them all recorded.
    synced = ws.cli("sync", drive, check=True)
    assert ws.cli("audit", "verify", check=True).returncode == 0
    registry = ws.registry()
    try:
        actions = [s.event.action for s in registry.events(vault_id)]
    finally:
        registry.close()
    assert actions == ["create", "add", "extract", "rm", "sync"], synced.stderr


def test_add_to_a_lost_drive_records_the_sighting_first_through_the_registry(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = ws.create_fast(drive)
    ws.cli(
        "incident", "lost", vault_id, "--discovered-at", "2026-11-20T08:30:00Z",
        "--reported-by", "Pat Privacy", "--out", tmp_path / "pack", check=True,
    )  # fmt: skip
    loaded, stderr = _run(ws, tmp_path, "add", drive, _sources(tmp_path))
    assert "recorded as LOST" in stderr
    assert {"sqlalchemy", "medvault.registry.sql"} <= loaded
    registry = ws.registry()
    try:
        actions = [s.event.action for s in registry.events(vault_id)]
        assert actions[-2:] == ["seen", "add"]
        assert registry.verify_chain() is None
    finally:
        registry.close()
