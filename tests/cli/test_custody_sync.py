"""The drive carries its own custody history: events made on a
laptop without the organisation's registry reach that registry once via `sync`, never
twice; the drive's log is encrypted, authenticated and bound to its vault."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

from medvault.registry.sql import Registry
from tests.conftest import Workspace
from tests.support.files import write_tree

PHI_NAME = "Smith-John-MRN-99812"


def _laptop(ws: Workspace, tmp_path: Path) -> dict[str, str]:
    """A second workstation of the same organisation, with its own (local) registry."""
    home = tmp_path / "laptop-home"
    home.mkdir()
    shutil.copy(ws.home / "org.toml", home / "org.toml")
    return {"MEDVAULT_HOME": str(home)}


def _vault_id(ws: Workspace, drive: Path) -> str:
    return str(json.loads(ws.cli("info", drive, "--json", check=True).stdout)["vault_id"])


def test_offline_events_reach_the_registry_once(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    src = write_tree(tmp_path / PHI_NAME, {"labs.csv": f"{PHI_NAME},positive\n"})
    ws.cli("create", drive, check=True)
    vault_id = _vault_id(ws, drive)
    laptop = _laptop(ws, tmp_path)
    ws.cli("--as", "Dr Lee", "add", drive, src, check=True, extra_env=laptop)
    ws.cli("extract", drive, "--to", tmp_path / "out", check=True, extra_env=laptop)

    central = ws.registry()
    assert [s.event.action for s in central.events(vault_id)] == ["create"]
    offline = Registry.for_path(Path(laptop["MEDVAULT_HOME"]) / "registry.sqlite")
    made_offline = [s.event for s in offline.events(vault_id)]
    assert [e.action for e in made_offline] == ["add", "extract"]

    first = json.loads(ws.cli("sync", drive, "--json", check=True).stdout)
    assert (first["on_drive"], first["merged"], first["already_known"]) == (3, 2, 1)
    second = json.loads(ws.cli("sync", drive, "--json", check=True).stdout)
    assert second["merged"] == 0  # everything is known now, including the first sync

    stored = central.events(vault_id)
    by_id = {s.event.event_id: s for s in stored}
    for original in made_offline:
        merged = by_id[original.event_id]
        assert merged.via == "sync"
        assert merged.event == original  # same time, person, host, details as on the laptop
    assert merged.event.actor.person is None
    assert by_id[made_offline[0].event_id].event.actor.person == "Dr Lee"
    counts = Counter(s.event.event_id for s in stored)
    assert max(counts.values()) == 1
    actions = [s.event.action for s in stored]
    assert actions == ["create", "add", "extract", "sync", "sync"]
    assert central.verify_chain() is None
    # The drive's log holds no readable trace of the PHI name or the person.
    for entry in (drive / "MEDVAULT" / "log").iterdir():
        raw = entry.read_bytes()
        assert PHI_NAME.encode() not in raw
        assert b"Dr Lee" not in raw


def test_every_drive_event_is_in_the_log(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "d", {"a.txt": "a"})
    ws.cli("create", drive, check=True)
    ws.cli("add", drive, src, check=True)
    ws.cli("custody", "transfer", drive, "--to", "bob", "--reason", "courier", check=True)
    vault_id = _vault_id(ws, drive)
    registry_ids = {s.event.event_id for s in ws.registry().events(vault_id)}
    log_ids = {p.name.removesuffix(".mve") for p in (drive / "MEDVAULT" / "log").iterdir()}
    assert log_ids == registry_ids
    assert len(log_ids) == 3


def test_damaged_or_foreign_log_entries_are_skipped(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-drive"
    other.mkdir()
    ws.cli("create", drive, check=True)
    ws.cli("create", other, check=True)
    laptop = _laptop(ws, tmp_path)
    src = write_tree(tmp_path / "d", {"a.txt": "a"})
    ws.cli("add", drive, src, check=True, extra_env=laptop)
    ws.cli("add", other, src, check=True, extra_env=laptop)
    log = drive / "MEDVAULT" / "log"
    # Flip one bit of an entry of this vault, and plant an entry from the other vault.
    victim = sorted(log.iterdir())[0]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1
    victim.write_bytes(bytes(data))
    foreign = next((other / "MEDVAULT" / "log").iterdir())
    shutil.copy(foreign, log / foreign.name)

    vault_id = _vault_id(ws, drive)
    before = {st.event.event_id for st in ws.registry().events(vault_id)}
    authentic = {p.name.removesuffix(".mve") for p in log.iterdir()} - {
        victim.name.removesuffix(".mve"),
        foreign.name.removesuffix(".mve"),
    }

    result = ws.cli("sync", drive, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert sorted(out["damaged"]) == sorted([victim.name, foreign.name])
    assert "failed authentication" in result.stderr
    after = {
        st.event.event_id for st in ws.registry().events(vault_id) if st.event.action != "sync"
    }
    assert after == before | authentic
    assert foreign.name.removesuffix(".mve") not in after


def test_sync_into_a_registry_without_the_vault_is_refused(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    laptop = _laptop(ws, tmp_path)
    ws.cli("create", drive, check=True, extra_env=laptop)
    result = ws.cli("sync", drive)
    assert result.returncode == 16
    assert "not in this registry" in result.stderr


def test_read_only_drive_still_records_in_the_registry(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    src = write_tree(tmp_path / "d", {"a.txt": "a"})
    ws.cli("create", drive, check=True)
    ws.cli("add", drive, src, check=True)
    # A log the drive cannot take (here: a file where the folder should be; root ignores
    # permission bits, so chmod would prove nothing).
    log = drive / "MEDVAULT" / "log"
    shutil.rmtree(log)
    log.write_bytes(b"")
    result = ws.cli("extract", drive, "--to", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "custody log was not updated" in result.stderr
    assert (tmp_path / "out" / "d" / "a.txt").read_text() == "a"
    vault_id = _vault_id(ws, drive)
    assert [s.event.action for s in ws.registry().events(vault_id)][-1] == "extract"
