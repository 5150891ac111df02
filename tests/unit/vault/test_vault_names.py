"""Vaults are found the way people name them. `medvault vaults` lists the
registry's inventory; every command that takes a vault id also takes a unique id prefix
(6+ hex digits) or a unique label, and lists the matches when the name is ambiguous."""

from __future__ import annotations

import json
from pathlib import Path

from medvault.vault.env import current_actor
from tests.conftest import Workspace

DISCOVERED = "2026-12-04T16:30:00Z"


def _create(ws: Workspace, tmp_path: Path, name: str, label: str) -> str:
    drive = tmp_path / name
    drive.mkdir()
    return ws.create_fast(drive, label)


def _lost(ws: Workspace, name: str, out: Path) -> tuple[int, str, str]:
    result = ws.cli(
        "incident", "lost", name, "--discovered-at", DISCOVERED, "--reported-by", "Pat Officer",
        "--out", out, "--json", passphrase=False,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def _status(ws: Workspace, vault_id: str) -> str | None:
    registry = ws.registry()
    try:
        return registry.vault_status(vault_id)
    finally:
        registry.close()


def test_incident_lost_by_a_unique_label_in_any_case(ws: Workspace, tmp_path: Path) -> None:
    wanted = _create(ws, tmp_path, "a", "Lab exports")
    other = _create(ws, tmp_path, "b", "Billing")
    code, _out, err = _lost(ws, "lab EXPORTS", tmp_path / "pack")
    assert code == 0, err
    assert _status(ws, wanted) == "lost"
    assert _status(ws, other) == "active"


def test_an_ambiguous_label_lists_the_matches_and_changes_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    first = _create(ws, tmp_path, "a", "Lab exports")
    second = _create(ws, tmp_path, "b", "lab exports")
    code, _out, err = _lost(ws, "Lab exports", tmp_path / "pack")
    assert code == 2, err
    assert "names 2 vaults" in err
    assert f'{first} "Lab exports" (active)' in err
    assert f'{second} "lab exports" (active)' in err
    assert "hint:" in err
    assert _status(ws, first) == _status(ws, second) == "active"
    pack = tmp_path / "pack"
    assert not pack.exists() or not any(pack.iterdir())  # nothing written: a retry may reuse it


def test_a_six_digit_id_prefix_names_the_vault(ws: Workspace, tmp_path: Path) -> None:
    vault_id = _create(ws, tmp_path, "a", "Lab exports")
    code, _out, err = _lost(ws, vault_id[:6].upper(), tmp_path / "pack")
    assert code == 0, err
    assert _status(ws, vault_id) == "lost"
    found = ws.cli("incident", "found", vault_id[:7], "--reason", "back", passphrase=False)
    assert found.returncode == 0, found.stderr
    assert _status(ws, vault_id) == "active"


def test_a_five_digit_prefix_or_an_unknown_name_is_not_found(ws: Workspace, tmp_path: Path) -> None:
    vault_id = _create(ws, tmp_path, "a", "Lab exports")
    # A name longer than a file name may be is no path (ENAMETOOLONG), and is not echoed whole.
    for name in (vault_id[:5], "Lab export", "Lab exports 2", "x" * 5000):
        code, _out, err = _lost(ws, name, tmp_path / "pack")
        assert code == 16, (name[:20], err)
        assert "medvault vaults" in err and len(err) < 1000
    assert _status(ws, vault_id) == "active"


def test_a_shared_prefix_is_ambiguous(ws: Workspace, tmp_path: Path) -> None:
    """Two vaults whose ids share 6 digits (made so in the registry: random ids rarely do)."""
    registry = ws.registry()
    try:
        for vault_id, label in (("abcdef" + "1" * 26, "one"), ("abcdef" + "2" * 26, "two")):
            registry.record_vault(vault_id, label, "org", DISCOVERED, current_actor(), [])
    finally:
        registry.close()
    result = ws.cli("custody", "show", "ABCDEF", passphrase=False)
    assert result.returncode == 2, result.stderr
    assert '"one" (pending)' in result.stderr and '"two" (pending)' in result.stderr
    shown = ws.cli("custody", "show", "abcdef1", "--json", passphrase=False)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["vault_id"] == "abcdef" + "1" * 26


def test_every_command_that_takes_a_vault_id_takes_a_label(ws: Workspace, tmp_path: Path) -> None:
    """The neighbours of incident lost: custody show/declare/transfer, incident plaintext/
    disclosed (found: test_a_six_digit_id_prefix_names_the_vault) and lock all resolve the
    same name to the same vault."""
    vault_id = _create(ws, tmp_path, "a", "Clinic B scans")
    _create(ws, tmp_path, "b", "Other")
    name = "clinic b SCANS"
    runs = [
        ("custody", "show", name, "--json"),
        ("custody", "declare", name, "--individuals", "3"),
        ("custody", "transfer", name, "--to", "Sam Courier", "--reason", "to the lab"),
        ("incident", "plaintext", name, "--files", "1", "--reason", "copied off"),
        ("incident", "disclosed", name, "--secret", "passphrase", "--reason", "on a note"),
        ("lock", name, "--json"),
    ]
    for args in runs:
        result = ws.cli(*args, passphrase=False)
        assert result.returncode == 0, (args, result.stderr)
        assert vault_id in result.stdout, (args, result.stdout)
    wrong = ws.cli("custody", "show", "no such vault", passphrase=False)
    assert wrong.returncode == 16, wrong.stderr


def test_a_drive_path_and_a_whole_id_work_as_before(ws: Workspace, tmp_path: Path) -> None:
    vault_id = _create(ws, tmp_path, "a", "Lab exports")
    by_path = ws.cli("custody", "show", tmp_path / "a", "--json", passphrase=False)
    assert by_path.returncode == 0, by_path.stderr
    assert json.loads(by_path.stdout)["vault_id"] == vault_id
    by_id = ws.cli("custody", "show", vault_id.upper(), "--json", passphrase=False)
    assert json.loads(by_id.stdout)["vault_id"] == vault_id
    for path in (str(tmp_path / "unplugged"), "/" + "x" * 5000):
        missing = ws.cli("custody", "show", path, passphrase=False)
        assert missing.returncode == 4, missing.stderr  # a path: "is the drive plugged in?"
        assert "does not exist" in missing.stderr


def test_vaults_lists_the_inventory_with_filters(ws: Workspace, tmp_path: Path) -> None:
    kept = _create(ws, tmp_path, "a", "Lab exports")
    gone = _create(ws, tmp_path, "b", "Billing \x1b[31m")
    declared = ws.cli(
        "custody", "declare", kept, "--individuals", "620", "--state", "CA=550",
        "--state", "NV=70", passphrase=False,
    )  # fmt: skip
    assert declared.returncode == 0, declared.stderr
    assert _lost(ws, gone, tmp_path / "pack")[0] == 0
    listed = ws.cli("vaults", "--json", passphrase=False)
    assert listed.returncode == 0, listed.stderr
    rows = {row["vault_id"]: row for row in json.loads(listed.stdout)}
    assert rows[kept]["short_id"] == kept[:8]
    assert rows[kept]["label"] == "Lab exports"
    assert rows[kept]["state"] == "active"
    assert rows[kept]["individuals"] == 620
    assert rows[kept]["states"] == {"CA": 550, "NV": 70}
    assert rows[kept]["last_seen_at"] is not None
    assert rows[kept]["custodian"]
    assert rows[gone]["state"] == "lost"
    assert rows[gone]["individuals"] is None
    lost_only = json.loads(ws.cli("vaults", "--state", "lost", "--json").stdout)
    assert [row["vault_id"] for row in lost_only] == [gone]
    by_label = json.loads(ws.cli("vaults", "--label", "LAB", "--json").stdout)
    assert [row["vault_id"] for row in by_label] == [kept]
    moved = ws.cli("custody", "transfer", "lab exports", "--to", "Sam Courier", "--reason", "x")
    assert moved.returncode == 0, moved.stderr
    by_custodian = json.loads(ws.cli("vaults", "--custodian", "sam", "--json").stdout)
    assert [(row["vault_id"], row["custodian"]) for row in by_custodian] == [(kept, "Sam Courier")]
    table = ws.cli("vaults", passphrase=False)
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout
    assert "Billing \\x1b[31m" in table.stdout
    assert kept[:8] in table.stdout and "CA=550, NV=70" in table.stdout
    none = ws.cli("vaults", "--label", "nothing like it", passphrase=False)
    assert none.stdout.strip() == "No vault matches."


def test_vaults_reads_registry_details_as_the_lost_report_does(
    ws: Workspace, tmp_path: Path
) -> None:
    """The inventory uses the report's rules: last seen is the last authenticated act by
    parsed time (an unauthenticated sighting, or a later-sorting text, does not win), and
    a declared count that is not a whole number is left out rather than crashing."""
    kept = _create(ws, tmp_path, "a", "Lab exports")  # created now; the acts below are later
    ws.append_event(kept, "verify", "2027-11-06T10:00:00+02:00", {})  # 08:00 UTC
    ws.append_event(kept, "add", "2027-11-06T09:00:00Z", {"files": 1, "bytes": 3})
    ws.append_event(kept, "seen", "2027-11-07T10:00:00Z", {"authenticated": False})
    ws.append_event(kept, "declare", "2027-11-07T11:00:00Z", {"individuals": "many"})
    ws.append_event(
        kept, "declare", "2027-11-07T12:00:00Z", {"individuals": 5, "states": {"CA": "x"}}
    )
    ws.append_event(kept, "declare", "2027-11-07T13:00:00Z", {"states": {"NV": 2}})
    listed = ws.cli("vaults", "--json", passphrase=False)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["last_seen_at"] == "2027-11-06T09:00:00Z"
    assert (row["individuals"], row["states"]) == (5, {"NV": 2})
