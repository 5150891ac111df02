"""The lost-drive decision: a normal vault's evidence pack says
"secured, not reportable"; each disqualifying case says "reportable" with its reason.
The pack is checked against its published schema and rendered in headless Chromium."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from medvault.registry.sql import Registry
from medvault.reports import lost
from tests.conftest import Workspace
from tests.support.paths import REPO_ROOT, TESTS_DIR
from tests.support.tools import find_chromium, run_tool

ROOT = REPO_ROOT
SCHEMA = json.loads((ROOT / "docs" / "lost-report.schema.json").read_text())
DISCOVERED = "2026-11-20T08:30:00Z"


def _vault(ws: Workspace, drive: Path, tmp_path: Path, *declare: str) -> str:
    src = tmp_path / "exports"
    src.mkdir()
    (src / "labs.csv").write_text("mrn,result\n1,neg\n")
    (src / "notes.txt").write_text("x" * 1000)
    created = ws.cli("create", drive, "--json", *declare, check=True)
    ws.cli("add", drive, src, check=True)
    return str(json.loads(created.stdout)["vault_id"])


def _lost(ws: Workspace, vault_id: str, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    result = ws.cli(
        "incident", "lost", vault_id, "--discovered-at", DISCOVERED,
        "--reported-by", "Pat Privacy", "--out", out, "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    return json.loads(result.stdout), report


def _finding(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["key"] == key)


def test_normal_vault_is_secured_not_reportable(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    vault_id = _vault(
        ws, drive, tmp_path, "--individuals", "620", "--state", "CA=550", "--state", "NV=70",
        "--category", "lab-results",
    )  # fmt: skip
    summary, report = _lost(ws, vault_id, tmp_path / "pack")
    assert summary["conclusion"] == report["determination"]["conclusion"] == lost.m.SECURED
    assert report["determination"]["secured"] is True
    assert all(f["holds"] for f in report["findings"])
    assert {f["key"] for f in report["findings"]} == {
        "encryption", "key_not_on_drive", "escrow_key", "passphrase_policy", "disclosures",
        "plaintext_findings", "audit_chain",
    }  # fmt: skip
    assert report["incident"]["vault_id"] == vault_id
    assert report["incident"]["reported_by"] == "Pat Privacy"
    assert report["encryption"]["kdf"] == {"alg": "argon2id", "t": 3, "m_kib": 65536, "p": 4}
    assert report["encryption"]["escrow_suites"] == ["mlkem768-x25519"]
    assert report["contents"] == {
        "individuals": 620, "states": {"CA": 550, "NV": 70}, "categories": ["lab-results"],
        "files": 2, "bytes": 1017,
    }  # fmt: skip
    deadlines = report["deadlines"]
    assert deadlines["notify_individuals_by"] == "2027-01-19"
    assert deadlines["notify_hhs_now"] is True
    assert deadlines["media_notice_states"] == ["CA"]
    assert deadlines["hhs_annual_log_by"] is None
    assert [e["action"] for e in report["custody"]["timeline"]] == [
        "create", "declare", "add", "lost",
    ]  # fmt: skip
    # The registry flags the vault and keeps the pack's digests in the chain.
    registry = ws.registry()
    assert registry.vault_status(vault_id) == "lost"
    pack = [s.event for s in registry.events(vault_id) if s.event.action == "evidence-pack"]
    assert len(pack) == 1
    assert set(pack[0].details["sha256"]) == {"report.json", "report.html"}
    assert registry.verify_chain() is None
    # No PHI in the pack: the file names and contents never reach the registry.
    for name in ("report.json", "report.html"):
        text = (tmp_path / "pack" / name).read_text()
        assert "labs.csv" not in text
        assert "mrn,result" not in text
        # Declared states and categories read as people write them, never Python repr.
        assert "states: CA=550, NV=70" in text
        assert not [mark for mark in ("{'", "':", "['") if mark in text]
        # The deadlines name the calendar they are on.
        assert deadlines["time_zone"] in text


DISQUALIFYING = {
    "passphrase disclosed": (
        ["incident", "disclosed", "{vault}", "--secret", "passphrase", "--reason", "INC-7"],
        "disclosures",
        "passphrase is recorded as disclosed",
    ),
    "recovery code disclosed": (
        ["incident", "disclosed", "{vault}", "--secret", "recovery-code", "--reason", "taped"],
        "disclosures",
        "recovery-code is recorded as disclosed",
    ),
    "escrow key compromised": (
        ["incident", "key-compromised", "{key}", "--reason", "INC-9 intrusion"],
        "escrow_key",
        "flagged compromised",
    ),
    "plaintext on the drive": (
        ["incident", "plaintext", "{vault}", "--files", "3", "--reason", "scan"],
        "plaintext_findings",
        "3 plaintext file(s)",
    ),
}


@pytest.mark.parametrize("case", sorted(DISQUALIFYING))
def test_each_disqualifying_case_is_reportable_with_its_reason(
    ws: Workspace, drive: Path, tmp_path: Path, case: str
) -> None:
    vault_id = _vault(ws, drive, tmp_path)
    key_id = ws.org.escrow_keys[0].key_id
    argv, key, reason = DISQUALIFYING[case]
    ws.cli(*(a.format(vault=vault_id, key=key_id) for a in argv), check=True)
    summary, report = _lost(ws, vault_id, tmp_path / "pack")
    assert summary["conclusion"] == lost.m.REPORTABLE
    assert report["determination"]["secured"] is False
    assert [f["key"] for f in report["findings"] if not f["holds"]] == [key]
    assert any(reason in r for r in report["determination"]["reasons"])
    assert reason in _finding(report, key)["statement"]


def test_a_tampered_audit_trail_makes_it_reportable(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = _vault(ws, drive, tmp_path)
    with ws.registry().engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET host = 'elsewhere' WHERE action = 'add'")
    _summary, report = _lost(ws, vault_id, tmp_path / "pack")
    assert report["determination"]["conclusion"] == lost.m.REPORTABLE
    assert not _finding(report, "audit_chain")["holds"]
    assert report["audit"]["chain_intact"] is False


def test_a_vault_from_before_policy_records_is_reportable(tmp_path: Path) -> None:
    """The first release did not record the passphrase check: without evidence, no safe
    harbor is claimed (the organisation carries the burden of proof)."""
    path = tmp_path / "registry.sqlite"
    shutil.copy(TESTS_DIR / "data" / "registry_v1.sqlite", path)
    registry = Registry.for_path(path)
    vault_id = "0123456789abcdef0123456789abcdef"
    vault = registry.vault(vault_id)
    assert vault is not None
    create = next(s for s in registry.events(vault_id) if s.event.action == "create")
    details = {"incident_id": "00", "discovered_at": DISCOVERED, "reported_by": "x"}
    lost_event = replace(create, event=replace(create.event, action="lost", details=details))
    report = lost.build(registry, vault, lost_event, "Org", "org", "2026-11-23T00:00:00Z")
    failing = [f.key for f in report.findings if not f.holds]
    assert failing == ["passphrase_policy"]
    assert report.determination.conclusion == lost.m.REPORTABLE
    assert report.contents.files == 3
    assert report.deadlines.individuals is None
    assert report.deadlines.notify_hhs_now is None


def test_small_breach_goes_to_the_annual_log(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    vault_id = _vault(ws, drive, tmp_path, "--individuals", "40", "--state", "TX=40")
    _summary, report = _lost(ws, vault_id, tmp_path / "pack")
    assert report["deadlines"]["notify_hhs_now"] is False
    assert report["deadlines"]["hhs_annual_log_by"] == "2027-03-01"
    assert report["deadlines"]["media_notice_states"] == []


def test_a_lost_drive_seen_again_warns_and_records_where(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = _vault(ws, drive, tmp_path)
    _lost(ws, vault_id, tmp_path / "pack")
    result = ws.cli("ls", drive)
    assert result.returncode == 0
    assert "recorded as LOST" in result.stderr
    seen = [s.event for s in ws.registry().events(vault_id) if s.event.action == "seen"]
    assert len(seen) == 1
    assert seen[0].details["where"] == str(drive.resolve())
    assert seen[0].details["unlocked"] is True
    # `info` needs no passphrase: it warns and records too (registry only).
    looked = ws.cli("info", drive, passphrase=False)
    assert looked.returncode == 0
    assert "recorded as LOST" in looked.stderr
    seen = [s.event for s in ws.registry().events(vault_id) if s.event.action == "seen"]
    assert [s.details["unlocked"] for s in seen] == [True, False]


def test_unknown_vault_and_future_discovery_are_refused(ws: Workspace, tmp_path: Path) -> None:
    unknown = ws.cli(
        "incident", "lost", "f" * 32, "--discovered-at", DISCOVERED, "--reported-by", "x",
        "--out", tmp_path / "p",
    )  # fmt: skip
    assert unknown.returncode == 16
    assert "not in this custody registry" in unknown.stderr
    future = ws.cli(
        "incident", "lost", "f" * 32, "--discovered-at", "2999-01-01", "--reported-by", "x",
        "--out", tmp_path / "p",
    )  # fmt: skip
    assert future.returncode == 2
    assert "in the future" in future.stderr


def test_the_real_pack_renders_in_chromium(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    vault_id = _vault(ws, drive, tmp_path, "--individuals", "12")
    ws.cli("incident", "plaintext", vault_id, "--files", "1", "--reason", "scan", check=True)
    _lost(ws, vault_id, tmp_path / "pack")
    chromium = find_chromium()  # skips with the reason when no Chromium is installed
    page = (tmp_path / "pack" / "report.html").as_uri()
    profile = tmp_path / "chromium-profile"
    dom = run_tool(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--dump-dom", page],
    )  # fmt: skip
    assert dom.returncode == 0, dom.stderr
    assert "REPORTABLE" in dom.stdout
    assert vault_id in dom.stdout
    assert "2027-01-19" in dom.stdout
    shot = tmp_path / "report.png"
    taken = run_tool(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1200,1600", page],
    )  # fmt: skip
    assert taken.returncode == 0, taken.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a blank page compresses to a few KiB


def test_pack_digests_in_the_chain_match_the_files(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = _vault(ws, drive, tmp_path)
    _lost(ws, vault_id, tmp_path / "pack")
    pack = next(
        s.event for s in ws.registry().events(vault_id) if s.event.action == "evidence-pack"
    )
    for name, digest in pack.details["sha256"].items():
        assert hashlib.sha256((tmp_path / "pack" / name).read_bytes()).hexdigest() == digest


def test_an_edited_key_package_row_does_not_hide_a_compromised_key(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """key_packages is updatable by workstations; the finding reads the chain as well."""
    vault_id = _vault(ws, drive, tmp_path)
    key_id = ws.org.escrow_keys[0].key_id
    ws.cli("incident", "key-compromised", key_id, "--reason", "INC-9", check=True)
    with ws.registry().engine.begin() as conn:
        conn.exec_driver_sql("UPDATE key_packages SET key_id = 'ffffffffffffffff'")
        conn.exec_driver_sql("UPDATE vaults SET custodian = 'nobody'")
    _summary, report = _lost(ws, vault_id, tmp_path / "pack")
    assert not _finding(report, "escrow_key")["holds"]
    assert key_id in report["encryption"]["escrow_key_ids"]
    assert report["custody"]["current_custodian"] != "nobody"  # from the chain too


def test_declarations_after_the_fact_and_their_checks(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = _vault(ws, drive, tmp_path, "--individuals", "100", "--state", "CA=100")
    ws.cli(
        "custody", "declare", drive, "--individuals", "450", "--state", "CA=450",
        "--category", "billing", check=True,
    )  # fmt: skip
    for bad, why in (
        (["--state", "ZZ=5"], "state code"),
        (["--state", "CA"], "state code"),
        (["--individuals", "5", "--state", "CA=6"], "more than --individuals"),
        (["--category", "Lab Results"], "lowercase"),
        ([], "at least one"),
    ):
        refused = ws.cli("custody", "declare", vault_id, *bad)
        assert refused.returncode == 2, bad
        assert why in refused.stderr, refused.stderr
    _summary, report = _lost(ws, vault_id, tmp_path / "pack")
    assert report["contents"]["individuals"] == 550
    assert report["contents"]["states"] == {"CA": 550}
    assert report["contents"]["categories"] == ["billing"]
    assert report["deadlines"]["notify_hhs_now"] is True
    assert report["deadlines"]["media_notice_states"] == ["CA"]


def test_a_returned_drive_can_be_marked_found(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    vault_id = _vault(ws, drive, tmp_path)
    assert ws.cli("incident", "found", vault_id, "--reason", "x").returncode == 2  # not lost
    _lost(ws, vault_id, tmp_path / "pack")
    ws.cli("incident", "found", drive, "--reason", "handed in at reception", check=True)
    quiet = ws.cli("ls", drive)
    assert quiet.returncode == 0
    assert "LOST" not in quiet.stderr
    registry = ws.registry()
    assert registry.vault_status(vault_id) == "active"
    actions = [s.event.action for s in registry.events(vault_id)]
    assert actions[-3:] == ["lost", "evidence-pack", "found"]
