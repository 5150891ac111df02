"""The lost-drive report's `plaintext_findings` finding says when plaintext
was found on the drive and, when `scan --into` later moved those files into the vault,
when and how (overwritten with zeros, then deleted). It still fails: the files were
unsecured while they sat on the drive, and the overwrite cannot reach remapped flash
cells, earlier copies or deleted directory entries (docs/REPORTS.md states the rule).

The moves are real (`move_into_vault` on a temp-dir drive, real crypto) with a chosen clock
so both dates are known; the last test runs `scan --into` and `incident lost` as a user does.
"""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.registry.records import Actor, Event, StoredEvent
from medvault.registry.sql import Registry
from medvault.reports import lost
from medvault.reports.lost_model import Finding, LostDriveReport
from medvault.reports.render_html import render_html
from medvault.reports.render_json import render_json
from medvault.vault.create import create_vault
from medvault.vault.env import Env, iso
from medvault.vault.incidents import mark_lost, record_plaintext_finding
from medvault.vault.scan_move import DELETION, move_into_vault
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.paths import REPO_ROOT
from tests.support.planted_phi import plant

ROOT = REPO_ROOT
SCHEMA = json.loads((ROOT / "docs" / "lost-report.schema.json").read_text())
ZONE = "America/Los_Angeles"
T = datetime(2026, 11, 20, 22, 5, tzinfo=UTC)  # 14:05 in Los Angeles
ZEROED = "overwrote their bytes with zeros in place, then deleted them"


def _local(at: str, zone: str = ZONE) -> str:
    """An event time as the finding shows it: on the org's clock, with the zone's name."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return f"{moment:%Y-%m-%d %H:%M} {zone}"


def _ticking(start: datetime) -> Callable[[], datetime]:
    """A clock that moves on a minute each time it is read, so the finding and the move
    a single `scan --into` records get different times."""
    ticks: Iterator[int] = iter(range(10_000))
    return lambda: start + timedelta(minutes=next(ticks))


class Drive:
    """A vault on a temp-dir drive, with its registry; moves and reports at chosen times."""

    def __init__(self, ws: Workspace, root: Path) -> None:
        self.root = root
        self.registry = Registry.for_path(root.parent / "registry.sqlite")
        made = create_vault(
            root, "Lab exports", to_secret(PASSPHRASE), ws.org, self.registry,
            Env(kdf=FAST_KDF, now=lambda: T - timedelta(days=30)),
        )  # fmt: skip
        self.vault_id = made.vault_id
        self._vault: UnlockedVault | None = None

    def vault(self) -> UnlockedVault:
        if self._vault is None:
            self._vault = unlock(open_headers(self.root), to_secret(PASSPHRASE))
        return self._vault

    def found(self, at: datetime, files: int, reason: str = "USB audit") -> None:
        """`incident plaintext`: a finding made by other means, nothing moved."""
        record_plaintext_finding(self.registry, Env(now=lambda: at), self.vault_id, files, reason)

    def scan_into(self, at: datetime, files: int, folder: str = "in") -> None:
        """`scan --into` of FILES plaintext files in FOLDER on the drive, starting at AT."""
        (self.root / folder).mkdir()
        found = []
        for n in range(files):
            path = self.root / folder / f"export-{n}.csv"
            path.write_text(f"mrn,ssn\n{1000 + n},219-09-{1000 + n}\n")
            found.append((path, f"{folder}/export-{n}.csv"))
        env = Env(kdf=FAST_KDF, now=_ticking(at))
        result = move_into_vault(self.vault(), self.root, found, self.registry, env, {"ssn": files})
        assert len(result.moved) == files and result.incident_recorded

    def report(self, discovered: datetime, recorded: datetime) -> LostDriveReport:
        event = mark_lost(
            self.registry, Env(now=lambda: recorded), self.vault_id, discovered, "Pat Privacy"
        )
        stored = self.event(event.event_id)
        vault = self.registry.vault(self.vault_id)
        assert vault is not None
        return lost.build(self.registry, vault, stored, "Org", "org", iso(recorded), time_zone=ZONE)

    def event(self, event_id: str) -> StoredEvent:
        return next(s for s in self.registry.events(self.vault_id) if s.event.event_id == event_id)

    def of(self, action: str) -> list[StoredEvent]:
        return [s for s in self.registry.events(self.vault_id) if s.event.action == action]


@pytest.fixture
def usb(ws: Workspace, tmp_path: Path) -> Iterator[Drive]:
    root = tmp_path / "usb" / "drive"
    root.mkdir(parents=True)
    made = Drive(ws, root)
    yield made
    made.registry.close()


def _plaintext(report: LostDriveReport) -> Finding:
    return next(f for f in report.findings if f.key == "plaintext_findings")


def _ref(s: StoredEvent) -> str:
    return f"event {s.seq}: {s.event.action} at {s.event.at}"


def test_plaintext_found_and_not_moved_is_reportable_with_its_date(usb: Drive) -> None:
    usb.found(T, 3)
    report = usb.report(T + timedelta(days=10), T + timedelta(days=10, hours=1))
    finding = _plaintext(report)
    assert finding.holds is False
    assert report.determination.conclusion == lost.m.REPORTABLE
    assert finding.title == "Plaintext PHI found on the drive"
    assert finding.statement == (
        "3 plaintext file(s) with PHI were found on the same drive outside the vault: 3 found "
        "2026-11-20 14:05 America/Los_Angeles, with no move into the vault recorded. "
        "Encryption does not cover them."
    )
    assert finding.statement in report.determination.reasons
    [found] = usb.of("plaintext-found")
    assert finding.evidence == [f"{lost.event_ref(found)}: 3 file(s) found; USB audit"]


def test_times_are_utc_when_no_zone_is_set(usb: Drive) -> None:
    """An org.toml without a time zone: the finding's times are UTC and say so."""
    usb.found(T, 1)
    usb.report(T + timedelta(days=1), T + timedelta(days=1))
    [opened] = usb.of("lost")
    vault = usb.registry.vault(usb.vault_id)
    assert vault is not None
    report = lost.build(usb.registry, vault, opened, "Org", "org", iso(T + timedelta(days=1)))
    assert "1 found 2026-11-20 22:05 UTC, with no move" in _plaintext(report).statement


def test_plaintext_moved_before_the_loss_fails_with_both_dates(usb: Drive) -> None:
    usb.scan_into(T, 3)
    [found], [moved] = usb.of("plaintext-found"), usb.of("plaintext-moved")
    # The move names the finding it emptied, and says how the files were deleted.
    assert moved.event.details["plaintext_found_event"] == found.event.event_id
    assert moved.event.details["deletion"] == DELETION
    assert found.seq < moved.seq and found.event.at < moved.event.at
    report = usb.report(T + timedelta(days=10), T + timedelta(days=10, hours=1))
    finding = _plaintext(report)
    assert finding.holds is False
    assert report.determination.secured is False
    assert finding.title == "Plaintext PHI was on the drive (moved into the vault before the loss)"
    assert (
        f"3 found {_local(found.event.at)}; 3 moved into the vault by scan --into, which "
        f"{ZEROED}, {_local(moved.event.at)}."
    ) in finding.statement
    assert _local(found.event.at) != _local(moved.event.at)
    assert "copies may remain" in finding.statement
    assert lost.RESIDUE in finding.statement
    assert finding.statement in report.determination.reasons
    # Both events, with their UTC times, are the evidence.
    assert finding.evidence[0].startswith(_ref(found))
    assert finding.evidence[1].startswith(_ref(moved))
    assert f"of event {found.seq} moved into the vault under scan/" in finding.evidence[1]
    assert f"scan --into {ZEROED}; 0 left on the drive" in finding.evidence[1]
    assert lost.RESIDUE in finding.evidence[2]


def test_found_twice_and_moved_once(usb: Drive) -> None:
    usb.found(T, 2)
    usb.scan_into(T + timedelta(days=2), 3)
    first, second = usb.of("plaintext-found")
    [moved] = usb.of("plaintext-moved")
    report = usb.report(T + timedelta(days=10), T + timedelta(days=10, hours=1))
    finding = _plaintext(report)
    assert finding.holds is False
    assert finding.title == "Plaintext PHI found on the drive"  # not all of it was moved
    assert finding.statement.startswith(
        "5 plaintext file(s) with PHI were found on the same drive outside the vault: "
        f"2 found {_local(first.event.at)}, with no move into the vault recorded; "
        f"3 found {_local(second.event.at)}; 3 moved into the vault by scan --into, which "
        f"{ZEROED}, {_local(moved.event.at)}. "
    )
    assert [e.split(":")[0] for e in finding.evidence[:3]] == [
        f"event {first.seq}", f"event {second.seq}", f"event {moved.seq}",
    ]  # fmt: skip


@pytest.mark.parametrize("how", ["recorded after the loss", "timed after the discovery"])
def test_a_move_after_the_loss_does_not_count(usb: Drive, how: str) -> None:
    """The drive was gone: a move recorded after the loss, or one recorded before the
    report but timed after the discovery, cannot have emptied it."""
    discovered = T + timedelta(days=1)
    if how == "recorded after the loss":
        usb.report(discovered, discovered)
        usb.scan_into(T + timedelta(days=2), 2)
        opened = usb.of("lost")[0]
        vault = usb.registry.vault(usb.vault_id)
        assert vault is not None
        report = lost.build(usb.registry, vault, opened, "O", "o", iso(T), time_zone=ZONE)
    else:
        usb.scan_into(T + timedelta(days=2), 2)
        report = usb.report(discovered, T + timedelta(days=3))
    [moved] = usb.of("plaintext-moved")
    finding = _plaintext(report)
    assert finding.holds is False
    assert finding.title == "Plaintext PHI found on the drive"
    assert (
        f"; the move into the vault recorded {_local(moved.event.at)} came after the loss, "
        "so they were on the drive when it was lost."
    ) in finding.statement
    assert "copies may remain" not in finding.statement
    assert f"{lost.event_ref(moved)}: recorded after the loss, so it does not count" in (
        finding.evidence
    )


def _append(usb: Drive, at: datetime, actor: Actor, action: str, details: dict) -> None:
    n = len(usb.registry.events(usb.vault_id)) + 1
    usb.registry.append_event(Event(f"{n:032x}", iso(at), actor, usb.vault_id, action, details))


OLD_MOVE = {
    "found": 3, "files": 3, "bytes": 90, "left": 0, "sha256_of_digests": "ab" * 32,
    "indicators": {"ssn": 3}, "stored_under": "scan/20261120T220500.000000Z/",
    "folders_removed": 1,
}  # fmt: skip
OLD_REASON = (
    "medvault scan --into: 3 file(s) with PHI indicators found outside the vault; "
    "3 moved in and deleted, 0 left"
)


@pytest.mark.parametrize("paired", [True, False])
def test_older_events_without_the_link_still_pair(usb: Drive, paired: bool) -> None:
    """Events recorded before the move named its finding (the move first, then the
    finding, from one process) still read; another user's move is not taken for it."""
    sam = Actor("sam", "desk-2")
    _append(usb, T, sam, "plaintext-moved", OLD_MOVE)
    _append(usb, T + timedelta(seconds=1), sam if paired else Actor("pat", "desk-2"),
            "plaintext-found", {"files": 3, "reason": OLD_REASON})  # fmt: skip
    report = usb.report(T + timedelta(days=1), T + timedelta(days=1))
    finding = _plaintext(report)
    assert finding.holds is False
    moved = (
        "3 moved into the vault by scan --into, which deleted them (whether their bytes "
        f"were overwritten first is not recorded), {_local(iso(T))}"
    )
    assert (moved in finding.statement) is paired
    assert ("with no move into the vault recorded" in finding.statement) is not paired


def test_files_left_on_the_drive_are_counted(usb: Drive) -> None:
    """A move that left files behind (changed meanwhile, or not deletable): the finding
    counts them, and its title does not say the plaintext was moved."""
    pat = Actor("pat", "desk-2")
    _append(usb, T, pat, "plaintext-found", {"files": 3, "reason": OLD_REASON})
    [found] = usb.of("plaintext-found")
    left = {**OLD_MOVE, "files": 2, "left": 1, "deletion": DELETION}
    _append(usb, T + timedelta(minutes=1), pat, "plaintext-moved",
            {**left, "plaintext_found_event": found.event.event_id})  # fmt: skip
    finding = _plaintext(usb.report(T + timedelta(days=1), T + timedelta(days=1)))
    assert finding.holds is False
    assert finding.title == "Plaintext PHI found on the drive"
    when = _local(iso(T + timedelta(minutes=1)))
    assert (
        f"3 found {_local(iso(T))}; 2 moved into the vault by scan --into, which {ZEROED}, "
        f"{when}; 1 left on the drive by scan --into {when}."
    ) in finding.statement
    assert "copies may remain" in finding.statement


def test_html_json_and_text_show_both_dates(usb: Drive) -> None:
    usb.scan_into(T, 2)
    [found], [moved] = usb.of("plaintext-found"), usb.of("plaintext-moved")
    report = usb.report(T + timedelta(days=5), T + timedelta(days=5))
    shown = [_local(found.event.at), _local(moved.event.at), found.event.at, moved.event.at]
    page = render_html(report)
    data = json.loads(render_json(report))
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    [finding] = [f for f in data["findings"] if f["key"] == "plaintext_findings"]
    for text in shown:
        assert html.escape(text) in page, text
        assert text in json.dumps(finding), text
    assert html.escape(ZEROED) in page
    assert any(ZEROED in r for r in data["determination"]["reasons"])


def test_scan_into_then_incident_lost_end_to_end(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """As a user does it: PHI on the stick, `scan --into` the stick's own vault, then the
    stick is lost; the terminal, report.json and report.html give both dates."""
    vault_id = ws.create_fast(drive, "Lab exports")
    plant(tmp_path / "planted")
    shutil.copytree(tmp_path / "planted", drive / "incoming")
    files = len(list((drive / "incoming").iterdir()))
    scan = ws.cli("scan", drive, "--into", drive, "--json")
    assert scan.returncode == 1, scan.stderr  # found (and moved)
    assert json.loads(scan.stdout)["moved"]["incident_recorded"] is True
    events = ws.registry().events(vault_id)
    [found] = [s.event for s in events if s.event.action == "plaintext-found"]
    [moved] = [s.event for s in events if s.event.action == "plaintext-moved"]

    result = ws.cli(
        "incident", "lost", vault_id, "--discovered-at", datetime.now(UTC).isoformat(),
        "--reported-by", "Pat Privacy", "--out", tmp_path / "pack", passphrase=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "pack" / "report.json").read_text())
    zone = data["deadlines"]["time_zone"]
    said = (
        f"{files} found {_local(found.at, zone)}; {files} moved into the vault by scan "
        f"--into, which {ZEROED}, {_local(moved.at, zone)}"
    )
    assert "Determination: REPORTABLE" in result.stdout
    assert said in result.stdout
    [finding] = [f for f in data["findings"] if f["key"] == "plaintext_findings"]
    assert finding["holds"] is False and said in finding["statement"]
    assert any(found.at in e for e in finding["evidence"])
    assert any(moved.at in e for e in finding["evidence"])
    assert html.escape(said) in (tmp_path / "pack" / "report.html").read_text()
