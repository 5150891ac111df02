"""Registry times (UTC) as a privacy officer reads them: on the organisation's calendar
(`time_zone` in org.toml), each with its UTC offset, and the zone named once."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

NO_ORG_NOTE = "no organisation config found, so its time zone is not known"
NO_ZONE_NOTE = "time zone not set in org.toml"
# What the registry writes (vault.env.iso). Events merged by `sync` come from a drive's log,
# written by whoever held the drive: anything else is shown exactly as recorded.
_REGISTRY_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|\+00:00)")


@dataclass(frozen=True)
class ReportZone:
    """The zone times are shown in: NAME (IANA), or UTC with a NOTE saying why."""

    name: str
    note: str | None = None

    @classmethod
    def of(cls, time_zone: str | None, note_when_unset: str = NO_ZONE_NOTE) -> ReportZone:
        return cls(time_zone) if time_zone else cls("UTC", note_when_unset)

    @property
    def tz(self) -> tzinfo:
        if self.note is not None:
            return UTC
        from zoneinfo import ZoneInfo  # loads sysconfig (~0.5 MiB): only to show a local time

        return ZoneInfo(self.name)

    def local(self, recorded: object) -> datetime | None:
        """RECORDED (a registry time) in this zone; None when it is not a registry time."""
        if not isinstance(recorded, str) or _REGISTRY_TIME.fullmatch(recorded) is None:
            return None
        try:
            moment = datetime.fromisoformat(recorded.replace("Z", "+00:00"))
        except ValueError:  # e.g. month 13: the pattern checks the form only
            return None
        return moment.astimezone(self.tz)

    def iso(self, recorded: object) -> str:
        """For CSV: 2026-12-04T16:30:00-08:00."""
        moment = self.local(recorded)
        return str(recorded) if moment is None else moment.isoformat(timespec="seconds")

    def shown(self, recorded: object) -> str:
        """For people: 2026-12-04 16:30:00 -08:00, or 2026-12-05 00:30:00 UTC when the
        organisation's zone is not known."""
        moment = self.local(recorded)
        if moment is None:
            return str(recorded)
        wall = moment.strftime("%Y-%m-%d %H:%M:%S")
        return f"{wall} UTC" if self.note is not None else f"{wall} {_offset(moment)}"

    def heading(self, recorded_times: Iterable[object]) -> str:
        """The line naming the zone once: "Times are America/Los_Angeles (UTC-08:00/-07:00)."
        with the offsets of RECORDED_TIMES (both, when they straddle a DST change)."""
        if self.note is not None:
            return f"Times are UTC ({self.note})."
        if self.name == "UTC":
            return "Times are UTC."
        offsets = sorted(
            {m.utcoffset() or timedelta(0) for m in map(self.local, recorded_times) if m}
        )
        if not offsets:
            offsets = [datetime.now(self.tz).utcoffset() or timedelta(0)]
        if offsets == [timedelta(0)]:
            return f"Times are {self.name} (UTC)."
        return f"Times are {self.name} (UTC{'/'.join(map(_signed, offsets))})."


def _offset(moment: datetime) -> str:
    return _signed(moment.utcoffset() or timedelta(0))


def _signed(offset: timedelta) -> str:
    """-08:00, +05:30, +00:00."""
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"
