"""Human output of `audit report` (CSV, HTML) and `custody show` is on the organisation's
calendar: each time in org.toml's `time_zone` with its UTC
offset, the zone named once; a bare --since/--until date is midnight there. Without an
org config or a time_zone the times are UTC and the output says why. JSON stays UTC."""

from __future__ import annotations

import csv
import io
import json
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from medvault.cli.org_zone import report_period
from medvault.config import render_org_toml
from medvault.registry.records import Actor, Event
from medvault.reports.local_time import ReportZone
from medvault.reports.movements import COLUMNS, movements
from tests.conftest import Workspace

LA = "America/Los_Angeles"
KOLKATA = "Asia/Kolkata"
# Los Angeles, 8 March 2026: 01:59 PST, then the clocks jump from 02:00 to 03:00 PDT.
DST_START = ("2026-03-08T09:59:00.000000Z", "2026-03-08T10:01:00.000000Z")
# 1 November 2026: 01:30 happens twice, first in PDT, then in PST.
DST_END = ("2026-11-01T08:30:00.000000Z", "2026-11-01T09:30:00.000000Z")


def _with_zone(ws: Workspace, zone: str | None) -> None:
    """org.toml as it is, with time_zone set to ZONE (None: no time_zone line)."""
    ws.org_created.config_path.write_text(render_org_toml(replace(ws.org, time_zone=zone)))


def _vault_with_events(ws: Workspace, drive: Path, *times: str) -> str:
    """A vault with one transfer recorded at each of TIMES, to p0, p1, ... in that order."""
    vault_id = ws.create_fast(drive, "Lab exports")
    registry = ws.registry()
    try:
        for n, at in enumerate(times):
            details = {"from": "lee", "to": f"p{n}", "reason": "courier"}
            actor = Actor("lee", "ws-3", "Dr Lee")
            registry.append_event(
                Event(secrets.token_hex(16), at, actor, vault_id, "transfer", details)
            )
    finally:
        registry.close()
    return vault_id


def _csv(ws: Workspace, *args: str) -> list[dict[str, str]]:
    out = ws.cli("audit", "report", *args, check=True).stdout
    return [r for r in csv.DictReader(io.StringIO(out)) if r["action"] == "transfer"]


def _local_by_person(rows: list[dict[str, str]]) -> dict[str, str]:
    return {r["custodian_after"]: r["time_local"] for r in rows}


def test_csv_adds_local_times_with_offsets_across_dst_changes(ws: Workspace, drive: Path) -> None:
    _vault_with_events(ws, drive, *DST_START, *DST_END)
    _with_zone(ws, LA)
    out = ws.cli("audit", "report", "--since", "2026-03-01", check=True)
    header = next(csv.reader(io.StringIO(out.stdout)))
    # Additive: the columns consumers know keep their names and places.
    assert header == [*COLUMNS, "time_local", "time_zone"]
    rows = [r for r in csv.DictReader(io.StringIO(out.stdout)) if r["action"] == "transfer"]
    assert _local_by_person(rows) == {
        "p0": "2026-03-08T01:59:00-08:00",
        "p1": "2026-03-08T03:01:00-07:00",
        "p2": "2026-11-01T01:30:00-07:00",  # the first 01:30 ...
        "p3": "2026-11-01T01:30:00-08:00",  # ... and the second: the offset tells them apart
    }
    assert [r["time_utc"] for r in rows] == [*DST_START, *DST_END]  # unchanged
    assert {r["time_zone"] for r in rows} == {LA}
    assert "note" not in out.stderr


def test_html_names_the_zone_once_and_shows_local_times(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    _vault_with_events(ws, drive, *DST_START)
    _with_zone(ws, LA)
    page = tmp_path / "movements.html"
    ws.cli(
        "audit", "report", "--since", "2026-03-01", "--until", "2026-03-09", "--format", "html",
        "--out", page, check=True,
    )  # fmt: skip
    text = page.read_text()
    assert text.count("America/Los_Angeles") == 2  # the zone line and the column title
    assert "Times are America/Los_Angeles (UTC-08:00/-07:00)." in text
    assert "<th>time (America/Los_Angeles)</th>" in text
    assert "2026-03-01 00:00:00 -08:00 to 2026-03-09 00:00:00 -07:00" in text
    assert f'<time datetime="{DST_START[0]}">2026-03-08 01:59:00 -08:00</time>' in text
    assert f'<time datetime="{DST_START[1]}">2026-03-08 03:01:00 -07:00</time>' in text
    assert "(UTC)" not in text and "time utc" not in text


def test_custody_show_prints_the_organisations_clock(ws: Workspace, drive: Path) -> None:
    vault_id = _vault_with_events(ws, drive, *DST_START)
    _with_zone(ws, LA)
    text = ws.cli("custody", "show", vault_id, check=True).stdout
    lines = text.splitlines()
    assert lines[1] == "Times are America/Los_Angeles (UTC-08:00/-07:00)."
    assert text.count("America/Los_Angeles") == 1
    assert any(line.startswith("2026-03-08 01:59:00 -08:00  transfer") for line in lines)
    assert any(line.startswith("2026-03-08 03:01:00 -07:00  transfer") for line in lines)
    created = next(line for line in lines if line.startswith("Created "))
    assert created.split(" by ")[0].endswith(("-08:00", "-07:00"))  # now, in Los Angeles
    assert "Z " not in text and "UTC " not in text
    view = json.loads(ws.cli("custody", "show", vault_id, "--json", check=True).stdout)
    assert [t["at"] for t in view["timeline"][1:]] == list(DST_START)  # JSON stays UTC
    assert view["time_zone"] == LA and view["time_zone_note"] is None


@pytest.mark.parametrize(
    ("zone", "day", "before", "after", "shown_before", "shown_after"),
    [
        # 23:59 on 3 December in Los Angeles is 07:59 UTC on the 4th.
        (
            LA, "2026-12-04", "2026-12-04T07:59:00.000000Z", "2026-12-04T08:00:00.000000Z",
            "2026-12-03T23:59:00-08:00", "2026-12-04T00:00:00-08:00",
        ),
        # New Year west of UTC ...
        (
            LA, "2026-01-01", "2026-01-01T07:59:00.000000Z", "2026-01-01T08:00:00.000000Z",
            "2025-12-31T23:59:00-08:00", "2026-01-01T00:00:00-08:00",
        ),
        # ... and east of it, half an hour off the hour: the year starts at 18:30 UTC.
        (
            KOLKATA, "2026-01-01", "2025-12-31T18:29:00.000000Z", "2025-12-31T18:30:00.000000Z",
            "2025-12-31T23:59:00+05:30", "2026-01-01T00:00:00+05:30",
        ),
    ],
)  # fmt: skip
def test_a_bare_date_is_midnight_on_the_organisations_calendar(
    ws: Workspace,
    drive: Path,
    zone: str,
    day: str,
    before: str,
    after: str,
    shown_before: str,
    shown_after: str,
) -> None:
    _vault_with_events(ws, drive, before, after)
    _with_zone(ws, zone)
    everything = _csv(ws, "--since", "2025-12-01")
    assert _local_by_person(everything) == {"p0": shown_before, "p1": shown_after}
    assert _local_by_person(_csv(ws, "--since", day)) == {"p1": shown_after}
    assert _local_by_person(_csv(ws, "--since", "2025-12-01", "--until", day)) == {
        "p0": shown_before
    }
    # An explicit offset is that moment, wherever the organisation is.
    explicit = _csv(ws, "--since", before.replace(".000000Z", "Z"))
    assert _local_by_person(explicit) == {"p0": shown_before, "p1": shown_after}
    report = json.loads(ws.cli("audit", "report", "--since", day, "--json", check=True).stdout)
    assert report["since"] == after.replace("Z", "+00:00")  # JSON says the moment in UTC
    assert report["time_zone"] == zone


def test_the_day_starts_at_midnight_in_los_angeles_not_utc(ws: Workspace, drive: Path) -> None:
    """The review's case, with the clock past it: --since 2026-12-05 in Los Angeles leaves
    out 23:59 on the 4th (07:59 UTC on the 5th) and keeps midnight (08:00 UTC)."""
    _vault_with_events(ws, drive, "2026-12-05T07:59:00.000000Z", "2026-12-05T08:00:00.000000Z")
    later = datetime(2026, 12, 6, tzinfo=UTC)  # the real clock may not be past it yet
    since, until = report_period("2026-12-05", "2026-12-06", later, ReportZone.of(LA))
    assert (since, until) == ("2026-12-05T08:00:00.000000Z", "2026-12-06T08:00:00.000000Z")
    registry = ws.registry()
    try:
        rows = movements(registry, since, until)
    finally:
        registry.close()
    assert [r.time_utc for r in rows if r.action == "transfer"] == ["2026-12-05T08:00:00.000000Z"]


def test_custody_show_east_of_utc_names_its_offset(ws: Workspace, drive: Path) -> None:
    vault_id = _vault_with_events(ws, drive, "2025-12-31T18:30:00.000000Z")
    _with_zone(ws, KOLKATA)
    lines = ws.cli("custody", "show", vault_id, check=True).stdout.splitlines()
    assert lines[1] == "Times are Asia/Kolkata (UTC+05:30)."
    assert any(line.startswith("2026-01-01 00:00:00 +05:30  transfer") for line in lines)


def test_without_a_time_zone_times_are_utc_and_say_so(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = _vault_with_events(ws, drive, "2026-12-04T07:59:00.000000Z")
    _with_zone(ws, None)
    out = ws.cli("audit", "report", "--since", "2026-12-04", check=True)
    [row] = [r for r in csv.DictReader(io.StringIO(out.stdout)) if r["action"] == "transfer"]
    assert row["time_local"] == "2026-12-04T07:59:00+00:00"  # a bare date: UTC midnight
    assert row["time_zone"] == "UTC"
    assert "times are UTC: time zone not set in org.toml" in out.stderr
    page = tmp_path / "m.html"
    ws.cli("audit", "report", "--since", "2026-12-04", "--format", "html", "--out", page)
    text = page.read_text()
    assert "Times are UTC (time zone not set in org.toml)." in text
    assert ">2026-12-04 07:59:00 UTC</time>" in text
    shown = ws.cli("custody", "show", vault_id, check=True).stdout.splitlines()
    assert shown[1] == "Times are UTC (time zone not set in org.toml)."
    assert any(line.split()[:4] == ["2026-12-04", "07:59:00", "UTC", "transfer"] for line in shown)


def test_without_an_org_config_times_are_utc_and_say_so(ws: Workspace, drive: Path) -> None:
    vault_id = _vault_with_events(ws, drive, "2026-12-04T07:59:00.000000Z")
    ws.org_created.config_path.unlink()
    out = ws.cli("audit", "report", "--since", "2026-12-04", check=True)  # CSV needs no org
    [row] = [r for r in csv.DictReader(io.StringIO(out.stdout)) if r["action"] == "transfer"]
    assert (row["time_local"], row["time_zone"]) == ("2026-12-04T07:59:00+00:00", "UTC")
    assert "no organisation config found" in out.stderr
    report = json.loads(ws.cli("audit", "report", "--since", "2026-12-04", "--json").stdout)
    assert report["time_zone"] == "UTC" and "no organisation config" in report["time_zone_note"]
    shown = ws.cli("custody", "show", vault_id, check=True).stdout.splitlines()
    assert shown[1].startswith("Times are UTC (no organisation config found")
    assert ws.cli("audit", "report", "--since", "2026-12-04", "--format", "html").returncode == 5
    # An --org that is not there is a mistake to report, not a reason to fall back to UTC.
    missing = ["--org", str(drive / "nowhere.toml")]
    assert ws.cli("audit", "report", "--since", "2026-12-04", *missing).returncode == 5
    assert ws.cli("custody", "show", vault_id, *missing).returncode == 5


@pytest.mark.parametrize(
    "recorded", ["yesterday", "2026-13-01T00:00:00Z", "2026-12-04T07:59:00Z\x1b[2J", 17]
)
def test_a_time_that_is_not_the_registrys_is_shown_as_recorded(recorded: object) -> None:
    """A drive's log (merged by sync) is written by whoever held the drive."""
    zone = ReportZone.of(LA)
    assert zone.shown(recorded) == zone.iso(recorded) == str(recorded)
    assert zone.heading([recorded]).startswith("Times are America/Los_Angeles (UTC-0")
