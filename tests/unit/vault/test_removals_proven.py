"""Removals stay provable when the index is lost.

The vault header (version 3) records how many tombstones the vault has and a sum over
their ids (docs/FORMAT.md section 3.3). Deleting the pack that holds a tombstone together
with the index, then `repair`, used to bring the removed file back with `verify` exiting 0;
now repair and verify both say the removals are not proven (exit 19), until someone checks
and runs `repair --accept-missing-removals`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medvault.engine.catalog import load_catalog
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.errors import FormatError
from medvault.format import vault_header as hfmt
from medvault.keys.passphrase import to_secret
from medvault.store import io_points as io
from medvault.vault import maintenance
from medvault.vault.env import Env
from medvault.vault.verify import REMOVALS_NOT_RECORDED, REMOVALS_OK, verify
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace, put_back_version_2_header

FILES = {"src/a.txt": b"alpha\n", "src/secret.txt": b"removed on purpose\n", "src/c.txt": b"c\n"}


def _vault_with_files(ws: Workspace, tmp_path: Path, drive: Path) -> None:
    ws.create_fast(drive)
    src = tmp_path / "src"
    src.mkdir()
    for path, data in FILES.items():
        (tmp_path / path).write_bytes(data)
    ws.cli("add", drive, src, check=True)


def _packs(drive: Path) -> set[Path]:
    return set((drive / "MEDVAULT" / "objects").rglob("*.mvo"))


def _rm_and_lose_the_tombstone(ws: Workspace, drive: Path, path: str = "src/secret.txt") -> None:
    """The review's reproduction: rm, then delete the pack rm wrote and the index."""
    before = _packs(drive)
    ws.cli("rm", drive, path, check=True)
    (tombstone_pack,) = _packs(drive) - before
    tombstone_pack.unlink()
    _delete_the_index(drive)


def _delete_the_index(drive: Path) -> None:
    """Every file of the index (the journal, whatever files it is kept in, and the path
    index): the review deleted index/journal.mvi."""
    for item in (drive / "MEDVAULT" / "index").iterdir():
        item.unlink()


def _unlocked(drive: Path) -> UnlockedVault:
    return unlock(open_headers(drive), to_secret(PASSPHRASE))


def _env() -> Env:
    return Env(kdf=FAST_KDF, warn=lambda _m: None)


def test_a_lost_tombstone_and_index_are_not_laundered_by_repair(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    _vault_with_files(ws, tmp_path, drive)
    _rm_and_lose_the_tombstone(ws, drive)

    repaired = ws.cli("repair", drive)
    assert repaired.returncode == 19, repaired.stdout + repaired.stderr
    assert "rebuilt the index from the objects" in repaired.stdout
    assert "removals: not proven: 1 of the 1 tombstone(s)" in repaired.stdout
    assert "removals are not proven" in repaired.stderr

    verified = ws.cli("verify", drive)
    assert verified.returncode == 19, verified.stdout + verified.stderr
    assert "removals: not proven" in verified.stdout
    # The file is back (that is what the drive holds), and verify says so rather than 0.
    assert "src/secret.txt" in ws.cli("ls", drive, check=True).stdout


def test_accepting_the_missing_removals_after_removing_again_makes_verify_clean(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    _vault_with_files(ws, tmp_path, drive)
    _rm_and_lose_the_tombstone(ws, drive)
    ws.cli("rm", drive, "src/secret.txt", check=True)  # removed again: still not proven
    assert ws.cli("verify", drive).returncode == 19
    accepted = ws.cli("repair", drive, "--accept-missing-removals", check=True)
    assert "recorded the 1 tombstone(s) the packs hold as the removals (was 2)" in accepted.stdout
    verified = ws.cli("verify", drive, check=True)
    assert "removals: ok" in verified.stdout
    assert "src/secret.txt" not in ws.cli("ls", drive, check=True).stdout
    events = [e.event for e in ws.registry().events() if e.event.action == "repair"]
    assert events[-1].details["removals_accepted"] == [2, 1]


def test_compact_keeps_every_tombstone_so_removals_stay_proven(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """Compacting twice once dropped a tombstone whose removed entry was already gone."""
    _vault_with_files(ws, tmp_path, drive)
    ws.cli("rm", drive, "src/secret.txt", "src/a.txt", check=True)
    for _ in range(2):
        ws.cli("compact", drive, check=True)
    verified = ws.cli("verify", drive)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "removals: ok" in verified.stdout
    vault = _unlocked(drive)
    assert vault.require_header().body.removals == hfmt.Removals(
        load_catalog(vault, use_index=False).tombstones()
    )
    assert load_catalog(vault, use_index=False).tombstones().count == 1


def test_an_rm_stopped_after_its_pending_record_leaves_the_files_and_a_clean_vault(
    ws: Workspace, tmp_path: Path, drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _vault_with_files(ws, tmp_path, drive)

    def crash(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(maintenance, "write_tombstone", crash)
    with pytest.raises(KeyboardInterrupt):
        maintenance.remove_paths(_unlocked(drive), ["src/secret.txt"], ws.registry(), _env())
    monkeypatch.undo()
    removals = _unlocked(drive).require_header().body.removals
    assert removals is not None and removals.pending == hfmt.Tally(1, removals.pending.total)
    report = verify(_unlocked(drive))
    assert report.removals == REMOVALS_OK and report.ok
    assert "src/secret.txt" in ws.cli("ls", drive, check=True).stdout


def test_an_rm_stopped_before_its_final_record_is_settled_by_repair_and_then_proven(
    ws: Workspace, tmp_path: Path, drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _vault_with_files(ws, tmp_path, drive)
    real = maintenance.write_removals
    calls: list[hfmt.Removals] = []

    def once_then_crash(vault: UnlockedVault, removals: hfmt.Removals) -> None:
        calls.append(removals)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(vault, removals)

    monkeypatch.setattr(maintenance, "write_removals", once_then_crash)
    with pytest.raises(KeyboardInterrupt):
        maintenance.remove_paths(_unlocked(drive), ["src/secret.txt"], ws.registry(), _env())
    monkeypatch.undo()
    # The tombstone is in place, the header still says pending: both read as proven.
    assert verify(_unlocked(drive)).removals == REMOVALS_OK
    assert "src/secret.txt" not in ws.cli("ls", drive, check=True).stdout
    maintenance.repair(_unlocked(drive), ws.registry(), _env())
    removals = _unlocked(drive).require_header().body.removals
    assert removals is not None and removals.pending is None and removals.recorded.count == 1
    # Settled: losing that tombstone now is caught.
    (tombstone_pack,) = [
        p for p in _packs(drive) if p.stem in {x.pack for x in _tombstone_locations(drive)}
    ]
    tombstone_pack.unlink()
    _delete_the_index(drive)
    assert ws.cli("repair", drive).returncode == 19
    assert ws.cli("verify", drive).returncode == 19


def _tombstone_locations(drive: Path) -> list[maintenance.Located]:
    catalog = load_catalog(_unlocked(drive), use_index=False)
    return [x for x in catalog.located.values() if x.kind == 2]


def _as_version_2(drive: Path) -> None:
    put_back_version_2_header(_unlocked(drive))


def test_a_version_2_vault_says_removals_are_not_recorded_until_its_first_rm(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    _vault_with_files(ws, tmp_path, drive)
    _as_version_2(drive)
    verified = ws.cli("verify", drive, check=True)
    assert f"removals: {REMOVALS_NOT_RECORDED}" in verified.stdout
    ws.cli("rm", drive, "src/c.txt", check=True)  # starts the record, header version 3
    vault = _unlocked(drive)
    assert vault.require_header().body.version == 3
    removals = vault.require_header().body.removals
    assert removals is not None and removals.recorded.count == 1
    _rm_and_lose_the_tombstone(ws, drive)
    assert ws.cli("repair", drive).returncode == 19


@pytest.mark.parametrize(
    "record",
    [
        {"count": 1, "sum": "00" * 32},  # no "pending"
        {"count": 1, "sum": "00" * 32, "pending": {"count": 0, "sum": "00" * 32}},
        {"count": -1, "sum": "00" * 32, "pending": None},
        {"count": 1, "sum": "AB" * 32, "pending": None},
        {"count": 1, "sum": "00" * 31, "pending": None},
        {"count": 1, "sum": "00" * 32, "pending": None, "extra": 1},
        {"count": True, "sum": "00" * 32, "pending": None},
        [1, 2],
    ],
)
def test_a_malformed_removal_record_is_refused(record: object) -> None:
    with pytest.raises(FormatError):
        hfmt.Removals.from_json(record, "vault header")


def test_the_record_accepts_only_the_recorded_set_or_it_plus_the_pending_one() -> None:
    ids = [bytes([i]) * 16 for i in range(4)]
    recorded = hfmt.Tally.of(ids[:2])
    removals = hfmt.Removals(recorded, hfmt.Tally.of(ids[2:3]))
    assert removals.accepts(hfmt.Tally.of(ids[:2]))
    assert removals.accepts(hfmt.Tally.of(reversed(ids[:3])))  # order-free
    assert not removals.accepts(hfmt.Tally.of(ids[:1]))  # one deleted
    assert not removals.accepts(hfmt.Tally.of([ids[0], ids[2]]))  # the same count, another set
    assert not removals.accepts(hfmt.Tally.of(ids))
    assert not hfmt.Removals(recorded).accepts(hfmt.Tally.of(ids[:3]))


class _Stop(Exception):
    """Stands for the process dying at an I/O point."""


def _stopper(stop_at: int) -> io.Observer:
    """An observer that stops the operation before its STOP_AT-th I/O point (from 0)."""
    seen = [0]

    def stop(_kind: str, _path: Path, _src: Path | None) -> None:
        if seen[0] == stop_at:
            raise _Stop
        seen[0] += 1

    return stop


def test_an_rm_stopped_at_any_io_point_leaves_its_removals_proven(
    ws: Workspace, tmp_path: Path
) -> None:
    """Stop rm before each of its I/O points in turn (store/io_points.py): the vault's
    removals are always proven, the file is either still there or removed, and repair
    settles the record so that a tombstone lost afterwards is caught."""
    template = tmp_path / "template"
    template.mkdir()
    _vault_with_files(ws, tmp_path, template)
    points: list[str] = []
    with io.observed(lambda kind, path, _src: points.append(f"{kind} {path.name}")):
        trial = tmp_path / "count"
        shutil.copytree(template, trial)
        maintenance.remove_paths(_unlocked(trial), ["src/secret.txt"], ws.registry(), _env())
    assert sum(" vault.mvh" in p for p in points) >= 4, points  # two header writes, 2 copies
    pending_trials = 0
    for stop_at in range(len(points)):
        drive = tmp_path / f"trial{stop_at}"
        shutil.copytree(template, drive)
        stop = _stopper(stop_at)
        with pytest.raises(_Stop), io.observed(stop):
            maintenance.remove_paths(_unlocked(drive), ["src/secret.txt"], ws.registry(), _env())
        report = verify(_unlocked(drive))
        assert report.removals == REMOVALS_OK, (points[stop_at], report.removals)
        assert not report.damaged and not report.damaged_packs, points[stop_at]
        removals = _unlocked(drive).require_header().body.removals
        assert removals is not None, points[stop_at]
        if removals.pending is None:
            continue
        maintenance.repair(_unlocked(drive), ws.registry(), _env())
        settled = _unlocked(drive).require_header().body.removals
        assert settled is not None and settled.pending is None, points[stop_at]
        assert verify(_unlocked(drive)).ok, points[stop_at]
        pending_trials += 1
    assert pending_trials >= 5, pending_trials  # the tombstone's whole write, at least
