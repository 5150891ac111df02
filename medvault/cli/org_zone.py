"""The organisation's time zone for human output of commands that work without an org
config (`audit report` CSV/JSON, `custody show`): used when the config is there."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from medvault.config import OrgConfig, find_org_config, load_org
from medvault.errors import OrgConfigMissing
from medvault.reports.local_time import NO_ORG_NOTE, ReportZone
from medvault.vault.env import iso
from medvault.vault.incidents import parse_moment


def optional_org(org_path: Path | None) -> OrgConfig | None:
    """The org config from --org, $MEDVAULT_ORG or $MEDVAULT_HOME/org.toml; None when none
    is found by default. An --org that is not there, or a config that cannot be read, is
    an error (as for registry_url): a typo must not quietly turn times into UTC."""
    try:
        found = find_org_config(org_path)
    except OrgConfigMissing:
        if org_path is not None:
            raise
        return None
    return load_org(found)


def zone_of(org: OrgConfig | None) -> ReportZone:
    return ReportZone.of(None, NO_ORG_NOTE) if org is None else ReportZone.of(org.time_zone)


def report_period(
    since: str, until: str | None, now: datetime, zone: ReportZone
) -> tuple[str, str | None]:
    """--since and --until as registry times (UTC): a bare date is midnight on ZONE's
    calendar, a date-time with an offset is that moment; UNTIL may be in the future."""
    start = iso(parse_moment(since, "--since", now, zone=zone.tz))
    if until is None:
        return start, None
    return start, iso(parse_moment(until, "--until", now, allow_future=True, zone=zone.tz))
