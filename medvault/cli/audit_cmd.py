"""`medvault audit ...` and `medvault registry ...`: the tamper-evident event chain."""

from __future__ import annotations

from pathlib import Path

import click

from medvault.cli import safe_text
from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.groups import SuggestingGroup
from medvault.cli.options import file_option, json_option, load_org_config, org_option
from medvault.cli.org_zone import optional_org, report_period, zone_of
from medvault.cli.output import emit_json
from medvault.cli.safe_text import safe_lines
from medvault.errors import AuditChainBroken, MedvaultError
from medvault.reports import movements

_LOCAL_TESTS = "tests/unit/reports/test_report_local_times.py::"


@click.group("audit", cls=SuggestingGroup)
def audit_group() -> None:
    """Check and anchor the registry's hash-chained audit trail."""


@audit_group.command("verify")
@click.option(
    "--head",
    "anchored",
    metavar="HASH",
    help="A head printed earlier by `audit head` (kept elsewhere): it must still be "
    "in the chain, so events after it cannot have been cut off unnoticed.",
)
@json_option
@pass_cli_context
def audit_verify(cli: CliContext, anchored: str | None, as_json: bool) -> None:
    """Recompute the chain; name the first edited, deleted, inserted or reordered event.

    Exit codes: 0 intact, 11 registry unavailable, 22 the chain is broken.
    """
    registry = cli.registry()
    problem = registry.verify_chain()
    seq, digest = registry.head()
    missing_anchor = anchored is not None and not registry.contains_head(anchored.lower())
    if as_json:
        emit_json(
            {
                "ok": problem is None and not missing_anchor,
                "events": seq,
                "head": digest,
                "first_bad_event": None if problem is None else problem.seq,
                "reason": None if problem is None else problem.reason,
                "anchor_found": None if anchored is None else not missing_anchor,
            }
        )
    if problem is not None:
        raise AuditChainBroken(f"audit chain broken: {problem.reason}")
    if missing_anchor:
        raise AuditChainBroken("the anchored head is no longer in the chain (events removed)")
    if not as_json:
        click.echo(f"audit chain intact: {seq} event(s), head {digest}")


@audit_group.command("head")
@json_option
@pass_cli_context
def audit_head(cli: CliContext, as_json: bool) -> None:
    """Print the newest event's number and hash, to keep somewhere else (ticket, email,
    another system): `audit verify --head` later proves nothing before it was removed.

    Exit codes: 0, 11.
    """
    seq, digest = cli.registry().head()
    if as_json:
        emit_json({"events": seq, "head": digest})
    else:
        click.echo(f"{seq} {digest}")


@audit_group.command("report")
@click.option(
    "--since",
    required=True,
    metavar="DATE",
    help="First day: a date is midnight on the organisation's calendar (time_zone in "
    "org.toml; UTC when none is set); a date-time with an offset (Z, -08:00) is that moment "
    f"(test: {_LOCAL_TESTS}test_a_bare_date_is_midnight_on_the_organisations_calendar).",
)
@click.option(
    "--until",
    metavar="DATE",
    help="Day after the last, read as --since is (default: now) "
    f"(test: {_LOCAL_TESTS}test_a_bare_date_is_midnight_on_the_organisations_calendar).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "html", "json"]),
    default="csv",
    show_default=True,
    help="CSV for spreadsheets, HTML to print, JSON for programs (same as --json).",
)
@file_option("--out", "out_file", help="Write to this file instead of standard output.")
@org_option
@json_option
@pass_cli_context
def audit_report(
    cli: CliContext,
    since: str,
    until: str | None,
    fmt: str,
    out_file: Path | None,
    org_path: Path | None,
    as_json: bool,
) -> None:
    """The media-movement record for an auditor (HIPAA 164.310(d)(1)): every custody event
    about a vault in the period, with the person responsible, host and custodian.

    Times are on the organisation's calendar (time_zone in org.toml) with their UTC offset,
    the zone named once: CSV adds time_local and time_zone after time_utc and the other
    columns (test:
    tests/unit/reports/test_report_local_times.py::test_csv_adds_local_times_with_offsets_across_dst_changes),
    HTML shows local times (test:
    tests/unit/reports/test_report_local_times.py::test_html_names_the_zone_once_and_shows_local_times).
    Without an org config or time_zone they are UTC and the output says why (test:
    tests/unit/reports/test_report_local_times.py::test_without_an_org_config_times_are_utc_and_say_so)
    (test: tests/unit/reports/test_report_local_times.py::
    test_without_a_time_zone_times_are_utc_and_say_so).
    JSON times stay UTC (+00:00), with the zone in time_zone (test:
    tests/unit/reports/test_report_local_times.py::test_a_bare_date_is_midnight_on_the_organisations_calendar).

    Exit codes: 0, 2 (bad date), 5 (html: no org config; an --org not found or an org
    config that cannot be read), 11.
    """
    # HTML needs the organisation's name; CSV and JSON use its time zone when it is there.
    html_org = load_org_config(org_path) if fmt == "html" and not as_json else None
    zone = zone_of(html_org or optional_org(org_path))
    start, end = report_period(since, until, cli.env.now(), zone)
    rows = movements.movements(cli.registry(), start, end)
    if as_json or fmt == "json":
        text = safe_text.dumps(movements.as_json(rows, start, end, zone)) + "\n"
    elif html_org is not None:
        text = movements.as_html(rows, html_org.name, start, end, zone)
    else:
        text = movements.as_csv(rows, zone)
    if zone.note is not None and not (as_json or fmt == "json"):
        click.echo(f"medvault: note: times are UTC: {zone.note}", err=True)
    if out_file is None:  # a terminal, perhaps: no control characters from the events
        click.echo(safe_lines(text), nl=False)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise MedvaultError(f"cannot write {out_file}: {exc.strerror}") from None
    click.echo(f"{len(rows)} event(s) written to {out_file}", err=True)


@click.group("registry", cls=SuggestingGroup)
def registry_group() -> None:
    """Administer the custody registry."""


@registry_group.command("init-roles")
@click.option("--role", required=True, help="The workstation role to create or fix.")
@pass_cli_context
def registry_init_roles(cli: CliContext, role: str) -> None:
    """PostgreSQL: give a workstation role SELECT on events; it adds events only through the
    server-side append function (which assigns seq and hash), never INSERT, UPDATE or DELETE.

    Run as the registry's owner (MEDVAULT_REGISTRY=postgresql+psycopg://owner@...).
    Exit codes: 0, 11 (not PostgreSQL, or the server refused).
    """
    cli.registry().init_roles(role)
    click.echo(f"role {role}: may add and read events; cannot change or delete them")
