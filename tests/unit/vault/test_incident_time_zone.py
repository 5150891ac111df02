"""Through the CLI, `incident lost` counts the deadlines on the calendar of
the organisation's time zone (org.toml), and reads a discovery time without an offset in
that zone."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from medvault.config import render_org_toml
from tests.conftest import Workspace


@pytest.mark.parametrize("discovered", ["2026-12-04T16:30", "2026-12-04T16:30-08:00"])
def test_incident_lost_counts_on_the_orgs_calendar(
    ws: Workspace, drive: Path, tmp_path: Path, discovered: str
) -> None:
    org_toml = ws.org_created.config_path
    org_toml.write_text(
        render_org_toml(replace(ws.org, time_zone="America/Los_Angeles")), encoding="utf-8"
    )
    vault_id = ws.create_fast(drive)
    result = ws.cli(
        "incident", "lost", vault_id, "--discovered-at", discovered,
        "--reported-by", "Pat Privacy", "--out", tmp_path / "inc", "--json", passphrase=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    # 16:30 in Los Angeles is already the 5th in UTC; on the clinic's calendar it is the 4th.
    assert said["notify_individuals_by"] == "2027-02-02"
    assert said["time_zone"] == "America/Los_Angeles"
    text = ws.cli(
        "incident", "lost", vault_id, "--discovered-at", discovered,
        "--reported-by", "Pat Privacy", "--out", tmp_path / "inc2", passphrase=False,
    ).stdout  # fmt: skip
    assert "otify individuals by 2027-02-02 (America/Los_Angeles)" in text


def test_the_deadline_line_matches_the_verdict(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    """The walkthrough saw "If reportable, notify ..." printed under a REPORTABLE verdict."""
    vault_id = ws.create_fast(drive)
    args = ("incident", "lost", vault_id, "--discovered-at", "2026-12-04T16:30Z",
            "--reported-by", "Pat Privacy", "--out")  # fmt: skip
    secured = ws.cli(*args, tmp_path / "one", passphrase=False)
    assert secured.returncode == 0, secured.stderr
    assert "Determination: SECURED, NOT REPORTABLE" in secured.stdout
    assert "Should it become reportable, notify individuals by 2027-02-02" in secured.stdout
    told = ws.cli(
        "incident", "disclosed", vault_id, "--secret", "passphrase", "--reason", "on a note",
        passphrase=False,
    )  # fmt: skip
    assert told.returncode == 0, told.stderr
    reportable = ws.cli(*args, tmp_path / "two", passphrase=False)
    assert reportable.returncode == 0, reportable.stderr
    assert "Determination: REPORTABLE" in reportable.stdout
    assert "Notify individuals by 2027-02-02" in reportable.stdout
    assert "Should it become" not in reportable.stdout
