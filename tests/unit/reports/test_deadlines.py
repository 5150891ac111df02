"""Every deadline in the lost-drive report is a date on the
organisation's calendar (org.toml's IANA time zone), counted with zoneinfo, and the zone
is printed in report.html and report.json. Cases across local midnight, both DST changes
and New Year; an org.toml without a zone gives UTC and says so."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

from medvault.reports import lost
from medvault.reports import lost_model as m
from medvault.reports.render_html import render_html
from medvault.reports.render_json import render_json
from tests.conftest import Workspace
from tests.support.declared_loss import LA, declared_loss_report
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
SCHEMA = json.loads((ROOT / "docs" / "lost-report.schema.json").read_text())
NY = "America/New_York"


def _contents(individuals: int | None, **states: int) -> m.Contents:
    return m.Contents(individuals, dict(states), ["lab-results"], 1, 10)


def test_la_afternoon_is_the_clinics_date_not_utcs() -> None:
    # 16:30 -08:00 on 4 December is 00:30 UTC on the 5th: the UTC date gave 2027-02-03.
    due = lost.deadlines("2026-12-05T00:30:00.000000Z", _contents(620, CA=550, NV=70), LA)
    assert due.notify_individuals_by == "2027-02-02"
    assert due.time_zone == LA
    assert due.discovered_local == "2026-12-04T16:30-08:00"
    assert due.time_zone_note is None
    assert due.notify_hhs_now is True
    assert due.media_notice_states == ["CA"]


@pytest.mark.parametrize(
    ("discovered", "zone", "notify_by"),
    [
        # 23:30 PST the night before DST starts (2027-03-14): an instant + 60 days would
        # land at 00:30 PDT on 05-13; the UTC date would give 05-13 as well.
        ("2027-03-13T23:30:00-08:00", LA, "2027-05-12"),
        # 23:30 PDT the night before DST ends (2026-11-01): the UTC date would give 12-31.
        ("2026-10-31T23:30:00-07:00", LA, "2026-12-30"),
        # 00:30 PDT the same day: an instant + 60 days would land at 23:30 PST on 12-29.
        ("2026-10-31T00:30:00-07:00", LA, "2026-12-30"),
        # 00:30 EST just after New Year's midnight: still 2027 locally, 2027-01-01 05:30 UTC.
        ("2027-01-01T00:30:00-05:00", NY, "2027-03-02"),
    ],
)
def test_dst_changes_do_not_move_the_date(discovered: str, zone: str, notify_by: str) -> None:
    due = lost.deadlines(discovered, _contents(None), zone)
    assert due.notify_individuals_by == notify_by
    assert due.discovered_local == datetime.fromisoformat(discovered).isoformat("T", "minutes")


def test_new_years_eve_counts_the_old_year() -> None:
    # 23:30 -05:00 on 31 December is already 2027 in UTC: the annual HHS log is the 2026
    # one (due 60 days after 2026 ends), and individuals are due 60 days after 12-31.
    due = lost.deadlines("2026-12-31T23:30:00-05:00", _contents(120, NY=120), NY)
    assert due.notify_individuals_by == "2027-03-01"
    assert due.notify_hhs_now is False
    assert due.hhs_annual_log_by == "2027-03-01"
    assert due.media_notice_states == []


def test_no_zone_in_org_toml_is_utc_and_says_so() -> None:
    due = lost.deadlines("2026-12-05T00:30:00.000000Z", _contents(None), None)
    assert due.time_zone == "UTC"
    assert due.notify_individuals_by == "2027-02-03"
    assert due.time_zone_note == "time zone not set in org.toml; dates are UTC"


def test_zone_is_printed_in_html_and_json(ws: Workspace, drive: Path) -> None:
    report = declared_loss_report(ws, drive, LA)
    data = json.loads(render_json(report))
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert data["deadlines"]["time_zone"] == LA
    assert data["deadlines"]["notify_individuals_by"] == "2027-02-02"
    assert data["deadlines"]["discovered_local"] == "2026-12-04T16:30-08:00"
    page = render_html(report)
    assert "Notify individuals by <time>2027-02-02</time> (America/Los_Angeles)" in page
    assert "2026-12-04 16:30-08:00 (America/Los_Angeles)" in page


def test_report_without_zone_says_dates_are_utc(ws: Workspace, drive: Path) -> None:
    report = declared_loss_report(ws, drive, None)
    data = json.loads(render_json(report))
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert data["deadlines"]["time_zone"] == "UTC"
    assert data["deadlines"]["notify_individuals_by"] == "2027-02-03"
    assert "time zone not set in org.toml; dates are UTC" in render_html(report)
