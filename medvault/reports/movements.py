"""`audit report`: the media-movement record (HIPAA 164.310(d)(1)) for an auditor: every
custody event in a period with the vault, the person responsible, the host and what moved."""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from typing import Any, Protocol

from medvault.registry.actions import Action
from medvault.registry.records import StoredEvent, VaultRecord
from medvault.reports.local_time import ReportZone
from medvault.reports.lost import summarize

COLUMNS = (
    "seq", "time_utc", "vault_id", "vault_label", "action", "os_user", "person", "host",
    "custodian_after", "summary", "via", "event_hash",
)  # fmt: skip
# Added after the columns above, so a reader that counts columns still finds each one: the
# time on the organisation's calendar with its offset, and the zone it is in.
CSV_COLUMNS = (*COLUMNS, "time_local", "time_zone")


class MovementRegistry(Protocol):
    def events(
        self, vault_id: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[StoredEvent]: ...

    def vault(self, vault_id: str) -> VaultRecord | None: ...


@dataclass(frozen=True)
class Movement:
    seq: int
    time_utc: str
    vault_id: str
    vault_label: str
    action: str
    os_user: str
    person: str
    host: str
    custodian_after: str
    summary: str
    via: str
    event_hash: str
    # The counts and ids the summary is made of, as values (JSON), never PHI.
    details: dict[str, Any] = field(default_factory=dict)


# The details a movement carries into JSON: the ones its summary names.
DETAIL_KEYS = (
    "files", "bytes", "failed", "to", "from", "reason", "individuals", "states", "categories",
    "discovered_at", "reported_by", "secret", "where", "merged", "key_id", "approvers", "name",
    "incident_id",
)  # fmt: skip


def movements(registry: MovementRegistry, since: str, until: str | None) -> list[Movement]:
    """Events about vaults in [SINCE, UNTIL), with the custodian after each one (the
    creator until the first transfer, computed over the whole history)."""
    labels: dict[str, str] = {}
    custodian: dict[str, str] = {}
    rows: list[Movement] = []
    for stored in registry.events(until=until):
        ev = stored.event
        if ev.vault_id is None:
            continue
        if ev.vault_id not in labels:
            record = registry.vault(ev.vault_id)
            labels[ev.vault_id] = record.label if record else ""
        if ev.action == Action.CREATE:
            custodian[ev.vault_id] = ev.actor.describe()
        elif ev.action == Action.TRANSFER:
            custodian[ev.vault_id] = str(ev.details.get("to"))
        if ev.at < since:
            continue
        rows.append(
            Movement(
                stored.seq,
                ev.at,
                ev.vault_id,
                labels[ev.vault_id],
                ev.action,
                ev.actor.user,
                ev.actor.person or "",
                ev.actor.host,
                custodian.get(ev.vault_id, ""),
                summarize(ev.action, ev.details),
                stored.via,
                stored.hash,
                {k: ev.details[k] for k in DETAIL_KEYS if k in ev.details},
            )
        )
    return rows


def with_offset(moment: str) -> str:
    """A registry time (`...Z`) as ISO 8601 with its offset (`...+00:00`)."""
    return moment[:-1] + "+00:00" if moment.endswith("Z") else moment


def as_json(
    rows: list[Movement], since: str, until: str | None, zone: ReportZone
) -> dict[str, Any]:
    """The movements for a program: each time in ISO 8601 UTC with its offset, the details
    as values (a state's count is a number, not text), and the organisation's zone."""
    return {
        "since": with_offset(since),
        "until": None if until is None else with_offset(until),
        "time_zone": zone.name,
        "time_zone_note": zone.note,
        "events": [
            {
                **{c: getattr(row, c) for c in COLUMNS if c != "time_utc"},
                "time": with_offset(row.time_utc),
                "details": row.details,
            }
            for row in rows
        ],
    }


def as_csv(rows: list[Movement], zone: ReportZone) -> str:
    out = io.StringIO()
    # RFC 4180 line ends: the csv module then quotes a cell holding a CR as well as a LF,
    # so a CR inside a label cannot start a new row (whose first cell could be a formula).
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = [getattr(row, c) for c in COLUMNS] + [zone.iso(row.time_utc), zone.name]
        writer.writerow([_cell(value) for value in cells])
    return out.getvalue()


# A cell starting with one of these can run as a formula in a spreadsheet (the OWASP CSV
# injection list: a leading TAB or CR is skipped by some spreadsheets, which then see the
# = after it).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else value


HTML_COLUMNS = tuple(c for c in COLUMNS if c not in ("time_utc", "event_hash"))


def as_html(
    rows: list[Movement], org_name: str, since: str, until: str | None, zone: ReportZone
) -> str:
    zone_column = "time" if zone.note is not None else f"time ({zone.name})"
    head = f"<th>seq</th><th>{html.escape(zone_column)}</th>" + "".join(
        f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in HTML_COLUMNS[1:]
    )
    body = "\n".join(_html_row(r, zone) for r in rows)
    start = zone.shown(since)
    period = f"{start} to {zone.shown(until)}" if until else f"since {start}"
    shown_times = [since, *([until] if until else []), *(r.time_utc for r in rows)]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Media movement record: {html.escape(org_name)}</title>
<style>
body {{ font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; margin: 2em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #999; padding: 3px 6px; text-align: left; vertical-align: top; }}
th {{ background: #e8e8e8; }}
tr:nth-child(even) td {{ background: #f7f7f7; }}
</style></head><body>
<h1>Media movement record</h1>
<p>{html.escape(org_name)} &mdash; {html.escape(period)} &mdash; {len(rows)} event(s).
HIPAA 45 CFR 164.310(d)(1): receipt and removal of media and the person responsible.
Each row is an event of the registry's hash-chained audit trail (verify with
<code>medvault audit verify</code>).</p>
<p class="zone">{html.escape(zone.heading(shown_times))}</p>
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table></body></html>
"""


def _html_row(row: Movement, zone: ReportZone) -> str:
    """The seq, then the time on the organisation's calendar (the recorded UTC time stays
    in the datetime attribute), then the other columns."""
    when = (
        f'<td><time datetime="{html.escape(str(row.time_utc))}">'
        f"{html.escape(zone.shown(row.time_utc))}</time></td>"
    )
    rest = "".join(f"<td>{html.escape(str(getattr(row, c)))}</td>" for c in HTML_COLUMNS[1:])
    return f"<tr><td>{row.seq}</td>{when}{rest}</tr>"
