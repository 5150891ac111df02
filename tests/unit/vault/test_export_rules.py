"""The export wrapper's own rules (vault/export.py), called in-process: what the export
event records by default, progress and commit callbacks, an export that never replaces a
stored file, a command that cannot start, and `-u user:password` redaction. Each case was
seen to fail with one of the mutation campaign's surviving mutants applied
(bench/results/mutation.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from medvault.engine.catalog import load_catalog
from medvault.errors import AlreadyExists, SourceUnreadable
from medvault.vault.env import Env
from medvault.vault.export import redact, run_export
from medvault.workstation import staging
from tests.conftest import FAST_KDF, Workspace

DATA = b"mrn,result\n1,positive\n"
WRITE = ["/bin/sh", "-c", f"printf '%s' '{DATA.decode()}' > \"$1/a.csv\"", "sh", "{}"]
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def _env() -> Env:
    return Env(kdf=FAST_KDF, now=lambda: NOW)


def test_the_export_event_records_its_name_and_staging_but_not_the_command(
    ws: Workspace, drive: Path, disk_staging: staging.StagingRoot
) -> None:
    vault, root, registry = ws.create_unlocked(drive), disk_staging, ws.registry()
    try:
        run_export(vault, "labs", WRITE, registry, _env(), root)
        (event,) = [s.event for s in registry.events() if s.event.action == "export"]
    finally:
        registry.close()
    details = event.details
    assert (details["name"], details["staging"]) == ("labs", root.filesystem)
    assert details["staging_memory_backed"] is root.memory_backed
    assert "command" not in details  # only with --record-args


def test_progress_and_commit_are_reported_to_the_caller(
    ws: Workspace, drive: Path, disk_staging: staging.StagingRoot
) -> None:
    vault, root, registry = ws.create_unlocked(drive), disk_staging, ws.registry()
    done: list[int] = []
    committed: list[str] = []
    try:
        run_export(
            vault, "labs", WRITE, registry, _env(), root,
            progress=done.append,
            on_commit=lambda located: committed.extend(loc.path for loc in located),
        )  # fmt: skip
    finally:
        registry.close()
    assert sum(done) == len(DATA)
    assert committed == ["exports/labs/20261205T100000.000000Z/a.csv"]


def test_an_export_never_replaces_a_stored_file(
    ws: Workspace, drive: Path, disk_staging: staging.StagingRoot
) -> None:
    """Two exports stamped the same microsecond would store the same path: the second is
    refused and the first file stays as it was."""
    vault, root, registry = ws.create_unlocked(drive), disk_staging, ws.registry()
    other = ["/bin/sh", "-c", 'printf other > "$1/a.csv"', "sh", "{}"]
    try:
        run_export(vault, "labs", WRITE, registry, _env(), root)
        with pytest.raises(AlreadyExists):
            run_export(vault, "labs", other, registry, _env(), root)
    finally:
        registry.close()
    (stored,) = load_catalog(vault).live()
    assert stored.size == len(DATA)


def test_a_command_that_cannot_start_says_what_to_check(
    ws: Workspace, drive: Path, tmp_path: Path, disk_staging: staging.StagingRoot
) -> None:
    vault, root, registry = ws.create_unlocked(drive), disk_staging, ws.registry()
    try:
        with pytest.raises(SourceUnreadable) as raised:
            run_export(vault, "labs", [str(tmp_path / "no-such-command")], registry, _env(), root)
    finally:
        registry.close()
    assert raised.value.hint == "check the command and its path"


def test_only_the_password_after_the_first_colon_of_a_user_option_is_hidden() -> None:
    assert redact(["curl", "-u", "alice:se:cret"]) == ["curl", "-u", "alice:***"]


def test_a_command_killed_by_a_signal_exits_128_plus_its_number_and_adds_nothing(
    ws: Workspace, drive: Path, disk_staging: staging.StagingRoot
) -> None:
    """As a shell reports it: SIGTERM (15) is 143, SIGKILL (9) is 137."""
    vault, root, registry = ws.create_unlocked(drive), disk_staging, ws.registry()
    try:
        codes = [
            run_export(vault, "labs", ["/bin/sh", "-c", f"kill -{sig} $$"], registry, _env(), root)
            for sig in ("TERM", "KILL")
        ]
    finally:
        registry.close()
    assert [(r.command_exit, r.files) for r in codes] == [(143, []), (137, [])]
    assert load_catalog(vault).live() == []
