"""org.toml holds the organisation's IANA time zone. `org init` and
`org rotate` take --time-zone (checked with zoneinfo; default this workstation's zone,
else UTC); an org.toml without one still loads (reports then say dates are UTC)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from medvault.config import OrgConfig, load_org, render_org_toml
from medvault.crypto.escrow import EscrowSuite
from medvault.errors import OrgConfigMissing, UsageError
from medvault.vault.env import Env
from medvault.vault.org import ShareFiles, choose_time_zone, local_time_zone, rotate_org
from tests.conftest import Workspace

BAD_ZONES = (
    "Mars/Olympus_Mons",
    "../../etc/passwd",
    "/usr/share/zoneinfo/UTC",
    "",
    " UTC",
    "x" * 65,
    "America",  # a folder of zoneinfo, not a zone
    "zone.tab",  # a data file of zoneinfo, not a zone
)


def _write(org: OrgConfig, path: Path) -> Path:
    path.write_text(render_org_toml(org), encoding="utf-8")
    return path


def test_zone_round_trips_through_org_toml(ws: Workspace, tmp_path: Path) -> None:
    org = replace(ws.org, time_zone="America/Los_Angeles")
    path = _write(org, tmp_path / "org.toml")
    assert 'time_zone = "America/Los_Angeles"' in path.read_text()
    assert load_org(path).time_zone == "America/Los_Angeles"


def test_org_toml_without_zone_still_loads(ws: Workspace, tmp_path: Path) -> None:
    path = _write(replace(ws.org, time_zone=None), tmp_path / "org.toml")
    assert "time_zone" not in path.read_text()
    assert load_org(path).time_zone is None


@pytest.mark.parametrize("zone", [*BAD_ZONES, 7])
def test_org_toml_with_a_bad_zone_is_refused(ws: Workspace, tmp_path: Path, zone: object) -> None:
    text = render_org_toml(replace(ws.org, time_zone=None))
    value = f'"{zone}"' if isinstance(zone, str) else str(zone)
    path = tmp_path / "org.toml"
    path.write_text(text.replace("format = 1\n", f"format = 1\ntime_zone = {value}\n"))
    with pytest.raises(OrgConfigMissing, match="time_zone must be an IANA time zone name"):
        load_org(path)


def test_local_zone_from_tz_else_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", ":America/New_York")
    assert local_time_zone() == "America/New_York"
    monkeypatch.setenv("TZ", "Nowhere/Land")  # not a zone: the next source is asked
    assert local_time_zone() != "Nowhere/Land"
    assert choose_time_zone(None) == local_time_zone()


@pytest.mark.parametrize("zone", BAD_ZONES)
def test_bad_time_zone_option_is_a_usage_error(zone: str) -> None:
    with pytest.raises(UsageError, match="not an IANA time zone name"):
        choose_time_zone(zone)


def test_org_init_records_the_zone(ws: Workspace, tmp_path: Path) -> None:
    def init(out: Path, *zone: str) -> int:
        args = ["org", "init", "--name", "Clinic", "--admin", "a", "--admin", "b"]
        args += ["--threshold", "2", "--out", str(out), "--shares-to-disk", *zone]
        return ws.cli(*args, passphrase=False, extra_env={"TZ": "Europe/Berlin"}).returncode

    assert init(tmp_path / "la", "--time-zone", "America/Los_Angeles") == 0
    assert load_org(tmp_path / "la" / "org.toml").time_zone == "America/Los_Angeles"
    assert init(tmp_path / "local") == 0  # default: this workstation's zone ($TZ here)
    assert load_org(tmp_path / "local" / "org.toml").time_zone == "Europe/Berlin"
    assert init(tmp_path / "bad", "--time-zone", "Mars/Olympus_Mons") == 2
    assert not (tmp_path / "bad" / "org.toml").exists()


def test_org_rotate_sets_the_zone(ws: Workspace, tmp_path: Path) -> None:
    shares = [
        "--share",
        ws.home / "shares" / "alice.txt",
        "--share",
        ws.home / "shares" / "carol.txt",
    ]

    def rotate(out: Path, *zone: str) -> int:
        args = ["org", "rotate", "--reason", "r", "--out", out, "--shares-to-disk", *shares]
        return ws.cli(*args, *zone, passphrase=False).returncode

    assert rotate(tmp_path / "bad", "--time-zone", "../../etc/passwd") == 2
    assert not (tmp_path / "bad" / "org.toml").exists()
    assert rotate(tmp_path / "ny", "--time-zone", "America/New_York") == 0
    assert load_org(tmp_path / "ny" / "org.toml").time_zone == "America/New_York"


def test_rotate_keeps_the_orgs_zone_by_default(ws: Workspace, tmp_path: Path) -> None:
    org = replace(ws.org, time_zone="Pacific/Honolulu")
    handout = ShareFiles(tmp_path / "shares", allow_disk=True)
    created = rotate_org(
        org, ["a", "b"], 2, EscrowSuite(org.escrow_keys[0].suite), tmp_path / "r",
        Env().timestamp(), handout,
    )  # fmt: skip
    assert load_org(created.config_path).time_zone == "Pacific/Honolulu"
