"""The lost-drive evidence pack as one self-contained, printable HTML page for people.

Page 1 is the summary a privacy officer signs off on; the details follow on later pages.
The document loads nothing (inline CSS, no scripts, a CSP that forbids fetching anything)
so it renders the same from a USB stick, an e-mail attachment or a records archive years
later. Every value from the report passes through `_e` (html.escape): labels and names
are typed by staff and must never become markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from medvault.reports.lost_model import (
    AuditIntegrity,
    Contents,
    Custody,
    Deadlines,
    Determination,
    Encryption,
    Finding,
    Incident,
    LostDriveReport,
    TimelineEntry,
)

# 164.406: media notice when *more than* 500 residents of one state are affected.
MEDIA_THRESHOLD = 500
# 164.408(b): HHS is told contemporaneously when 500 *or more* individuals are affected.
HHS_THRESHOLD = 500

_UTC_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2})?(?:\.\d+)?(?:Z|\+00:00)$")

_CSS = """
@page { margin: 12mm 13mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body {
  margin: 0; background: #e9ecef; color: #1d232a;
  font: 14px/1.45 "Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans",
    sans-serif;
}
.sheet {
  max-width: 860px; margin: 24px auto; padding: 32px 40px; background: #fff;
  box-shadow: 0 1px 4px rgba(0, 0, 0, .18);
}
h1, h2, h3 { margin: 0; line-height: 1.25; }
h1 { font-size: 22px; }
h2 {
  font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: #3c4650;
  margin: 18px 0 6px; padding-bottom: 3px; border-bottom: 1px solid #cfd5db;
}
h3 { font-size: 14px; margin: 12px 0 4px; }
h2, h3 { break-after: avoid; page-break-after: avoid; }
p { margin: 4px 0; }
ul { margin: 4px 0; padding-left: 20px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 4px 6px; }
th { font-size: 12px; color: #4a545e; font-weight: 600; }
tr { break-inside: avoid; }
.mono {
  font-family: ui-monospace, "SFMono-Regular", Consolas, "DejaVu Sans Mono", monospace;
  font-size: .92em; overflow-wrap: anywhere;
}
.muted { color: #5b6670; }
.small { font-size: 12px; }
.kicker {
  font-size: 11px; text-transform: uppercase; letter-spacing: .08em; color: #5b6670;
}
.masthead { display: flex; justify-content: space-between; gap: 24px; align-items: flex-end; }
.masthead .right { text-align: right; white-space: nowrap; }
.banner { margin: 16px 0 12px; padding: 14px 18px; border-left: 10px solid; border-radius: 3px; }
.banner .verdict { font-size: 26px; font-weight: 700; letter-spacing: .03em; }
.banner ul { margin-top: 6px; }
.banner.secured { background: #e3f1e6; border-color: #1d7a3a; color: #11502a; }
.banner.reportable { background: #fbe4e2; border-color: #b42318; color: #7d1a12; }
.facts { display: grid; grid-template-columns: 1fr 1fr; gap: 0 28px; }
.facts dl { margin: 0; display: grid; grid-template-columns: 7.5em 1fr; gap: 2px 10px; }
.facts dt { color: #5b6670; font-size: 12.5px; }
.facts dd { margin: 0; }
.checklist td { border-top: 1px solid #e3e7eb; }
.checklist tr:first-child td, .kv tr:first-child > * { border-top: 0; }
.checklist td.mark { width: 1.6em; font-size: 17px; font-weight: 700; line-height: 1.2; }
.checklist td.title { width: 15.5em; font-weight: 600; }
.ok { color: #1d7a3a; }
.bad { color: #b42318; }
.deadline { margin-top: 14px; padding: 10px 16px; border: 2px solid #8a949e; border-radius: 3px; }
.deadline.due { border-color: #b42318; }
.deadline .by { font-size: 20px; font-weight: 700; }
.deadline dl { margin: 6px 0 0; display: grid; grid-template-columns: 11em 1fr; gap: 2px 10px; }
.deadline dt { color: #4a545e; }
.deadline dd { margin: 0; }
.pagefoot {
  margin-top: 14px; padding-top: 6px; border-top: 1px solid #cfd5db; font-size: 11.5px;
  color: #5b6670;
}
.details {
  break-before: page; page-break-before: always; margin-top: 36px; padding-top: 8px;
  border-top: 4px double #cfd5db;
}
.finding { break-inside: avoid; border-top: 1px solid #e3e7eb; padding: 4px 0 6px; }
h2 + .finding { border-top: 0; }
.kv th { width: 11em; font-weight: 400; font-size: inherit; color: #5b6670; }
.kv td, .kv th { border-top: 1px solid #e3e7eb; }
.grid-table th { border-bottom: 1.5px solid #8a949e; }
.grid-table td { border-top: 1px solid #e3e7eb; }
.grid-table.narrow { width: auto; min-width: 50%; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.hash { font-size: 11px; color: #5b6670; }
.nowrap, time { white-space: nowrap; }
.deadline .note { margin-top: 6px; font-size: 12.5px; color: #4a545e; }
footer { margin-top: 22px; padding-top: 8px; border-top: 1px solid #cfd5db; font-size: 12px; }
@media print {
  /* Tighter than on screen: the whole summary must fit one A4 or Letter page. */
  body { background: #fff; font-size: 9pt; line-height: 1.32; }
  .sheet { max-width: none; margin: 0; padding: 0; box-shadow: none; }
  h1 { font-size: 15pt; }
  h2 { font-size: 8.5pt; margin: 9px 0 4px; }
  .banner { margin: 8px 0 6px; padding: 6px 12px; border-left-width: 8px; }
  .banner .verdict { font-size: 17pt; }
  .banner ul { margin-top: 2px; }
  .facts dt { font-size: 8.5pt; }
  .facts dl { gap: 0 8px; }
  .checklist td { padding: 2px 5px; }
  .checklist td.mark { font-size: 12pt; }
  .checklist td.title { width: 14.5em; }
  .deadline { margin-top: 8px; padding: 5px 12px; }
  .deadline .by { font-size: 13pt; }
  .deadline dl { margin-top: 3px; gap: 0 10px; }
  .banner, .deadline, .facts { break-inside: avoid; }
  .pagefoot { margin-top: 8px; }
  .details { margin-top: 0; padding-top: 0; border-top: 0; }
  .small, .grid-table th, .pagefoot, footer, .deadline .note { font-size: 7.5pt; }
  .kv th { font-size: inherit; }
  .hash { font-size: 7pt; }
}
"""


def _e(value: object) -> str:
    """Escape any value for element content and attribute values alike."""
    return html.escape(str(value), quote=True)


def _when(value: str | None, *, seconds: bool = False) -> str:
    """A UTC timestamp as people read it; the exact value stays in the datetime attribute."""
    if value is None:
        return "—"
    match = _UTC_STAMP.match(value)
    if match is None:  # a bare date or an unexpected form: show it exactly as recorded
        return f"<time>{_e(value)}</time>"
    secs = (match[3] or "") if seconds else ""
    shown = f"{match[1]} {match[2]}{secs} UTC"
    return f'<time datetime="{_e(value)}">{_e(shown)}</time>'


def _local(d: Deadlines) -> str:
    """The discovery as the organisation's clock showed it, with the zone named."""
    if d.discovered_local is None:
        return _when(d.discovered_at)
    shown = d.discovered_local.replace("T", " ", 1)
    return f'<time datetime="{_e(d.discovered_at)}">{_e(shown)} ({_e(d.time_zone)})</time>'


def _dated(day: str, d: Deadlines) -> str:
    """A deadline: a calendar date on the organisation's calendar, with its zone."""
    return f"{_when(day)} ({_e(d.time_zone)})"


def _zone_line(d: Deadlines) -> str:
    return _e(d.time_zone if d.time_zone_note is None else f"{d.time_zone}: {d.time_zone_note}")


def _count(value: int | None, unknown: str = "not declared") -> str:
    return _e(unknown) if value is None else _e(f"{value:,}")


def _size(n: int) -> str:
    units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
    size, unit = float(n), 0
    while size >= 1024 and unit < len(units) - 1:
        size, unit = size / 1024, unit + 1
    exact = f"{n:,} bytes"
    return _e(exact if unit == 0 else f"{size:.1f} {units[unit]} ({exact})")


def _mark(holds: bool) -> str:
    # The glyph carries the meaning in black-and-white print; the label serves screen readers.
    if holds:
        return '<span class="ok" role="img" aria-label="holds">✓</span>'
    return '<span class="bad" role="img" aria-label="fails">✗</span>'


def _items(values: Iterable[str], empty: str) -> str:
    lis = "".join(f"<li>{_e(v)}</li>" for v in values)
    return f"<ul>{lis}</ul>" if lis else f'<p class="muted">{_e(empty)}</p>'


def _dl(rows: Iterable[tuple[str, str]]) -> str:
    """Definition rows; the second element is already HTML (escaped by the caller)."""
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _kv_table(rows: Iterable[tuple[str, str]]) -> str:
    body = "".join(f'<tr><th scope="row">{_e(k)}</th><td>{v}</td></tr>' for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _conclusion(det: Determination) -> str:
    return det.conclusion.upper()


# ---------------------------------------------------------------- page 1: the summary


def _masthead(report: LostDriveReport) -> str:
    inc = report.incident
    return (
        '<header class="masthead"><div>'
        '<div class="kicker">Lost-drive evidence pack · HIPAA breach determination</div>'
        f"<h1>{_e(report.org_name)}</h1>"
        f'<div class="small muted">Organisation id <span class="mono">{_e(report.org_id)}'
        "</span></div></div>"
        '<div class="right small">'
        f'<div>Incident <strong class="mono">{_e(inc.incident_id)}</strong></div>'
        f"<div>Report generated {_when(report.generated_at)}</div></div></header>"
    )


def _banner(det: Determination) -> str:
    tone = "secured" if det.secured else "reportable"
    return (
        f'<section class="banner {tone}" aria-label="Determination">'
        f'<div class="verdict">{_e(_conclusion(det))}</div>'
        f"{_items(det.reasons, 'No reasons recorded.')}</section>"
    )


def _facts(report: LostDriveReport) -> str:
    inc, cus = report.incident, report.custody
    vault = _dl(
        [
            ("Label", f"<strong>{_e(inc.label)}</strong>"),
            ("Vault id", f'<span class="mono">{_e(inc.vault_id)}</span>'),
            ("Created", f"{_when(cus.created_at)} by {_e(cus.created_by)}"),
            ("Custodian", _e(cus.current_custodian)),
            ("Last seen", f"{_when(cus.last_seen_at)}, {_e(cus.last_seen_by)}"),
            ("Last host", _e(cus.last_seen_host)),
        ]
    )
    incident = _dl(
        [
            ("Discovered lost", f"<strong>{_when(inc.discovered_at)}</strong>"),
            ("Reported by", _e(inc.reported_by)),
            ("Recorded", _when(inc.recorded_at)),
            ("Recorded by", _e(inc.recorded_by)),
            ("On host", _e(inc.host)),
        ]
    )
    return (
        '<div class="facts">'
        f"<section><h2>Vault</h2>{vault}</section>"
        f"<section><h2>Incident</h2>{incident}</section></div>"
    )


def _checklist(findings: list[Finding]) -> str:
    rows = "".join(
        f'<tr><td class="mark">{_mark(f.holds)}</td>'
        f'<td class="title">{_e(f.title)}</td><td>{_e(f.statement)}</td></tr>'
        for f in findings
    )
    return (
        "<section><h2>Safe-harbor checklist (45 CFR 164.402, NIST SP 800-111)</h2>"
        f'<table class="checklist">{rows}</table></section>'
    )


def _hhs_line(d: Deadlines) -> str:
    if d.notify_hhs_now is None:
        return "unknown: the number of individuals was never declared"
    if d.notify_hhs_now:
        return f"{HHS_THRESHOLD} or more individuals: notify HHS by the same date"
    if d.hhs_annual_log_by is None:
        return f"under {HHS_THRESHOLD}: annual log (date not computed)"
    return f"under {HHS_THRESHOLD}: annual log, submit by {d.hhs_annual_log_by} ({d.time_zone})"


def _media_line(d: Deadlines) -> str:
    if d.media_notice_states:
        return "required in " + ", ".join(d.media_notice_states) + ", by the same date"
    if d.individuals is None:
        return "unknown: no per-state counts were declared"
    return f"not required (no state has more than {MEDIA_THRESHOLD} residents affected)"


_SECURED_NOTE = (
    '<p class="note">No notification is due while this determination stands. If new facts '
    "undo a finding, these dates still run from the discovery date.</p>"
)


def _deadline_box(d: Deadlines, secured: bool) -> str:
    heading = "If the loss were reportable" if secured else "Notification deadlines"
    rows = _dl(
        [
            ("Discovered", _local(d)),
            ("Time zone", _zone_line(d)),
            ("Individuals", _count(d.individuals)),
            ("HHS (164.408)", _e(_hhs_line(d))),
            ("Media (164.406)", _e(_media_line(d))),
        ]
    )
    return (
        f'<section class="deadline{"" if secured else " due"}" aria-label="Deadlines">'
        f'<div class="kicker">{_e(heading)}</div>'
        f'<div class="by">Notify individuals by {_dated(d.notify_individuals_by, d)}</div>'
        f"{rows}{_SECURED_NOTE if secured else ''}</section>"
    )


def _summary(report: LostDriveReport) -> str:
    return (
        '<section class="summary">'
        f"{_masthead(report)}{_banner(report.determination)}{_facts(report)}"
        f"{_checklist(report.findings)}"
        f"{_deadline_box(report.deadlines, report.determination.secured)}"
        '<div class="pagefoot">Evidence for each finding, the custody timeline, declared '
        "contents and the audit-chain check follow on the next pages. The same data is in "
        f'report.json (schema <span class="mono">{_e(report.schema)}</span>).</div>'
        "</section>"
    )


# ---------------------------------------------------------------- details


def _findings_detail(findings: list[Finding]) -> str:
    parts = "".join(
        '<div class="finding">'
        f'<h3>{_mark(f.holds)} {_e(f.title)} <span class="small muted mono">{_e(f.key)}'
        f"</span></h3><p>{_e(f.statement)}</p>"
        f"{_items(f.evidence, 'No evidence recorded.')}</div>"
        for f in findings
    )
    return f"<section><h2>1. Findings and evidence</h2>{parts}</section>"


def _kdf(kdf: dict[str, object]) -> str:
    if not kdf:
        return '<span class="muted">not recorded</span>'
    parts = [str(kdf["alg"])] if "alg" in kdf else []
    parts += [f"{k}={v}" for k, v in kdf.items() if k != "alg"]
    return _e(", ".join(parts))


def _encryption(enc: Encryption) -> str:
    rows = _kv_table(
        [
            ("Standard", _e(enc.standard)),
            ("File contents", _e(enc.payload)),
            ("File keys", _e(enc.file_keys)),
            ("Key wrap", _e(enc.key_wrap)),
            ("Passphrase KDF", _kdf(enc.kdf)),
            ("Escrow suites", _e(", ".join(enc.escrow_suites) or "none")),
            (
                "Escrow key ids",
                f'<span class="mono">{_e(", ".join(enc.escrow_key_ids) or "none")}</span>',
            ),
        ]
    )
    return f"<section><h2>2. Encryption</h2>{rows}</section>"


def _timeline_row(t: TimelineEntry) -> str:
    return (
        f'<tr><td class="num">{_e(t.seq)}</td><td class="nowrap">{_when(t.at, seconds=True)}</td>'
        f"<td>{_e(t.action)}</td><td>{_e(t.who)}</td><td>{_e(t.host)}</td>"
        f'<td>{_e(t.summary)}<div class="mono hash">{_e(t.event_hash)}</div></td></tr>'
    )


def _custody(c: Custody) -> str:
    rows = "".join(_timeline_row(t) for t in c.timeline) or (
        '<tr><td colspan="6" class="muted">No events recorded.</td></tr>'
    )
    return (
        "<section><h2>3. Custody timeline</h2>"
        f"<p>Created {_when(c.created_at)} by {_e(c.created_by)}. Current custodian: "
        f"{_e(c.current_custodian)}. Last seen {_when(c.last_seen_at)} on "
        f"{_e(c.last_seen_host)} by {_e(c.last_seen_by)}.</p>"
        '<table class="grid-table"><thead><tr><th class="num">#</th><th>Time</th>'
        "<th>Action</th><th>Who</th><th>Host</th><th>Summary and event hash</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></section>"
    )


def _states_table(states: dict[str, int]) -> str:
    if not states:
        return '<p class="muted">No per-state counts declared.</p>'
    rows = "".join(
        f'<tr><td>{_e(code)}</td><td class="num">{_count(n)}</td>'
        f"<td>{'media notice (more than 500)' if n > MEDIA_THRESHOLD else ''}</td></tr>"
        for code, n in sorted(states.items())
    )
    return (
        '<table class="grid-table narrow"><thead><tr><th>State</th>'
        '<th class="num">Individuals</th><th>164.406</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _contents(c: Contents) -> str:
    rows = _kv_table(
        [
            ("Individuals", _count(c.individuals)),
            ("Categories", _e(", ".join(c.categories) or "none declared")),
            ("Files", _count(c.files)),
            ("Size", _size(c.bytes)),
        ]
    )
    return (
        "<section><h2>4. Declared contents</h2>"
        '<p class="small muted">Declared by staff when the vault was created or filled, and '
        "counted from registry events; the drive itself was not read.</p>"
        f"{rows}<h3>Individuals by state of residence</h3>{_states_table(c.states)}</section>"
    )


def _deadlines_explained(d: Deadlines) -> str:
    hhs = (
        "The number of individuals was never declared, so the HHS route cannot be chosen "
        "from this record; establish the count first."
        if d.notify_hhs_now is None
        else f"This record: {_hhs_line(d)}."
    )
    return (
        "<section><h2>5. Deadlines explained</h2>"
        "<p>These apply only when the determination is <em>reportable</em>.</p><ul>"
        "<li><strong>Individuals, 164.404:</strong> without unreasonable delay and no later "
        "than 60 calendar days after discovery. Discovered "
        f"{_local(d)}; notify by {_dated(d.notify_individuals_by, d)}. Days are counted on "
        f"the organisation's calendar ({_zone_line(d)}).</li>"
        "<li><strong>Media, 164.406:</strong> prominent media outlets in each state or "
        f"jurisdiction where more than {MEDIA_THRESHOLD} residents are affected, on the same "
        f"timeline. This record: {_e(_media_line(d))}.</li>"
        f"<li><strong>HHS, 164.408:</strong> {HHS_THRESHOLD} or more individuals: at the same "
        "time as the individual notices, within 60 days of discovery. Fewer than "
        f"{HHS_THRESHOLD}: record in the breach log and submit it to HHS no later than 60 "
        f"days after the end of the calendar year. {_e(hhs)}</li>"
        "</ul></section>"
    )


def _audit(a: AuditIntegrity) -> str:
    intact = f"{_mark(a.chain_intact)} {'intact' if a.chain_intact else 'broken'}"
    rows = _kv_table(
        [
            ("Hash chain", intact),
            ("Events checked", _count(a.events)),
            ("Head hash", f'<span class="mono">{_e(a.head_hash)}</span>'),
            ("Problem", _e(a.problem) if a.problem else '<span class="muted">none</span>'),
        ]
    )
    return f"<section><h2>6. Audit chain integrity</h2>{rows}</section>"


def _footer(report: LostDriveReport) -> str:
    return (
        '<footer class="muted">'
        f"Generated by {_e(report.generator)} at {_when(report.generated_at, seconds=True)}. "
        f'Schema <span class="mono">{_e(report.schema)}</span>. '
        "Contains no PHI: counts, digests, ids, staff and host names, and times only. "
        "Keep with the incident record for six years (45 CFR 164.316(b)(2)(i)).</footer>"
    )


def _details(report: LostDriveReport) -> str:
    return (
        '<div class="details">'
        f"{_findings_detail(report.findings)}{_encryption(report.encryption)}"
        f"{_custody(report.custody)}{_contents(report.contents)}"
        f"{_deadlines_explained(report.deadlines)}{_audit(report.audit)}"
        f"{_footer(report)}</div>"
    )


def _title(inc: Incident, det: Determination) -> str:
    return f"{_conclusion(det)}: lost drive {inc.label} ({inc.vault_id}), {inc.incident_id}"


def render_html(report: LostDriveReport) -> str:
    """One HTML5 document: summary on page 1, details from page 2 when printed."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        # Nothing may be fetched: the pack must render identically offline, years later.
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        f"<title>{_e(_title(report.incident, report.determination))}</title>"
        f"<style>{_CSS}</style></head>\n"
        f'<body><main class="sheet">{_summary(report)}{_details(report)}</main></body>'
        "</html>\n"
    )
