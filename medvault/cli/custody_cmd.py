"""`medvault custody ...` and `medvault sync`: who holds a drive, and its history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.declared_input import Declaration, declare_options
from medvault.cli.groups import SuggestingGroup
from medvault.cli.options import VAULT_ARG, json_option, org_option
from medvault.cli.org_zone import optional_org, zone_of
from medvault.cli.output import emit_json
from medvault.cli.safe_text import safe
from medvault.cli.unlock import PassphraseSource, passphrase_options, unlock_vault
from medvault.cli.vault_lookup import vault_id_of
from medvault.errors import NotFound, UsageError
from medvault.registry.records import Event, StoredEvent, VaultRecord
from medvault.reports.local_time import ReportZone
from medvault.reports.lost import DRIVE_ACTS, custodian, plain, summarize
from medvault.vault.custody import declare, sync_drive_log, transfer
from medvault.vault.incidents import known_vault


@click.group("custody", cls=SuggestingGroup)
def custody_group() -> None:
    """Record and show who holds a vault's drive (HIPAA 164.310(d)(1) accountability)."""


@custody_group.command("transfer")
@click.argument("vault")
@click.option("--to", "to_person", required=True, help="The person who takes the drive.")
@click.option("--reason", required=True, help="Why (e.g. 'courier to lab', a ticket id).")
@passphrase_options
@json_option
@pass_cli_context
def custody_transfer(
    cli: CliContext,
    vault: str,
    to_person: str,
    reason: str,
    passphrase: PassphraseSource,
    as_json: bool,
) -> None:
    """Hand VAULT's drive to another person.

    VAULT is the drive (its passphrase is asked, and the drive's own log records the
    transfer too) or a vault id, unique id prefix or label (registry only, e.g. recorded
    afterwards).
    Exit codes: 0, 2, 3, 4, 11, 16 (vault id not in the registry).
    """
    registry = cli.registry()
    if Path(vault).exists():
        unlocked = unlock_vault(cli, Path(vault), passphrase)
        before = known_vault(registry, unlocked.vault_id_hex)
        event = transfer(
            registry,
            cli.env,
            to_person,
            reason,
            vault=unlocked,
            from_person=before.custodian or before.created_by,
        )
    else:
        before = known_vault(registry, vault_id_of(cli, vault))
        event = transfer(
            registry,
            cli.env,
            to_person,
            reason,
            vault_id=before.vault_id,
            from_person=before.custodian or before.created_by,
        )
    if as_json:
        emit_json({"vault_id": event.vault_id, "event_id": event.event_id, **event.details})
    else:
        click.echo(
            f"Vault {event.vault_id}: custody passed from {safe(event.details['from'])} to "
            f"{safe(event.details['to'])} (recorded)."
        )


@custody_group.command("declare")
@click.argument("vault")
@declare_options
@pass_cli_context
def custody_declare(
    cli: CliContext,
    vault: str,
    declaration: Declaration,
) -> None:
    """Declare what VAULT holds (the drive or its id; no passphrase), after the fact: how
    many people, per US state, which kinds of data. Registry only, never on the drive;
    declarations add up. Use it on a connected workstation for data added offline.

    Exit codes: 0, 2 (nothing or something invalid declared), 4, 11, 16.
    """
    declared = declaration.parsed()
    if declared.empty:
        raise UsageError("declare at least one of --individuals, --state, --category")
    registry = cli.registry()
    record = known_vault(registry, vault_id_of(cli, vault))
    declare(registry, cli.env, record.vault_id, declared, "declare")
    click.echo(f"Recorded for vault {record.vault_id}: {safe(plain(declared.as_details()))}")


@custody_group.command("show")
@click.argument("vault")
@org_option
@json_option
@pass_cli_context
def custody_show(cli: CliContext, vault: str, org_path: Path | None, as_json: bool) -> None:
    """Timeline of VAULT (a drive, a vault id, a unique id prefix or label; no passphrase):
    created, added, extracted,
    transfers, recoveries, last seen, and the current custodian. Counts only, no PHI.

    Times are on the organisation's calendar (time_zone in org.toml) with their UTC offset,
    the zone named once (test:
    tests/unit/reports/test_report_local_times.py::test_custody_show_prints_the_organisations_clock);
    UTC, saying why, without an org config or time_zone (test:
    tests/unit/reports/test_report_local_times.py::test_without_an_org_config_times_are_utc_and_say_so)
    (test: tests/unit/reports/test_report_local_times.py::
    test_without_a_time_zone_times_are_utc_and_say_so).
    --json keeps UTC times and adds time_zone (test:
    tests/unit/reports/test_report_local_times.py::test_custody_show_prints_the_organisations_clock).

    Exit codes: 0, 2 (a name several vaults answer to), 4, 5 (an --org not found or an org
    config that cannot be read), 11, 16 (vault id not in the registry).
    """
    zone = zone_of(optional_org(org_path))
    registry = cli.registry()
    record = known_vault(registry, vault_id_of(cli, vault))
    events = registry.events(record.vault_id)
    view = _custody_view(record, events, zone)
    if as_json:
        emit_json(view)
        return
    _print_custody(record, events, zone, view)


def _custody_view(
    record: VaultRecord, events: list[StoredEvent], zone: ReportZone
) -> dict[str, Any]:
    """What `custody show` says about RECORD, as --json prints it (UTC times)."""
    seen = [s for s in events if s.event.action in DRIVE_ACTS]
    last = seen[-1] if seen else None
    return {
        "vault_id": record.vault_id,
        "label": record.label,
        "status": record.status,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "current_custodian": custodian(record, events),
        "last_seen": None if last is None else _seen(last.event),
        "timeline": [
            {
                "seq": s.seq,
                "at": s.event.at,
                "action": s.event.action,
                "by": s.event.actor.describe(),
                "host": s.event.actor.host,
                "via": s.via,
                "details": s.event.details,
            }
            for s in events
        ],
        "time_zone": zone.name,
        "time_zone_note": zone.note,
    }


def _print_custody(
    record: VaultRecord, events: list[StoredEvent], zone: ReportZone, view: dict[str, Any]
) -> None:
    # Every value below comes from the registry, and events merged by `sync` from a
    # drive's log were written by whoever held the drive and its passphrase.
    click.echo(f"Vault {record.vault_id}  {record.label!r}  status: {safe(record.status)}")
    click.echo(safe(zone.heading([record.created_at, *(s.event.at for s in events)])))
    click.echo(
        f"Created {safe(zone.shown(record.created_at))} by {safe(record.created_by)} "
        f"on {safe(record.host)}"
    )
    click.echo(f"Current custodian: {safe(view['current_custodian'])}")
    last = view["last_seen"]
    if last is not None:
        click.echo(
            f"Last seen: {safe(zone.shown(last['at']))} on {safe(last['host'])} "
            f"by {safe(last['by'])}"
        )
    click.echo("")
    for s in events:
        ev = s.event
        note = "" if s.via == "direct" else "  [from the drive's log]"
        click.echo(
            f"{safe(zone.shown(ev.at)):<25}  {safe(ev.action):<16} "
            f"{safe(ev.actor.describe()):<20} {safe(ev.actor.host):<16} "
            f"{safe(summarize(ev.action, ev.details))}{note}"
        )


def _seen(ev: Event) -> dict[str, str]:
    return {"at": ev.at, "host": ev.actor.host, "by": ev.actor.describe()}


@click.command("sync")
@VAULT_ARG
@passphrase_options
@json_option
@pass_cli_context
def sync_cmd(cli: CliContext, vault: Path, passphrase: PassphraseSource, as_json: bool) -> None:
    """Merge the drive's encrypted custody log into this registry.

    A drive used on a laptop without the organisation's registry carries its events in
    MEDVAULT/log/; run this on a connected workstation. Events already in the registry are
    skipped (by event id), so running it twice records nothing twice.
    Exit codes: 0, 3, 4, 11, 16 (the vault is not in this registry).
    """
    # Opened before the unlock: a registry that cannot be reached fails before the prompt.
    registry = cli.registry()
    unlocked = unlock_vault(cli, vault, passphrase)
    if registry.vault(unlocked.vault_id_hex) is None:
        raise NotFound(
            f"vault {unlocked.vault_id_hex} is not in this registry",
            hint="sync into the registry the vault was created in (MEDVAULT_REGISTRY)",
        )
    result = sync_drive_log(unlocked, registry, cli.env)
    if as_json:
        emit_json(
            {
                "vault_id": unlocked.vault_id_hex,
                "on_drive": result.on_drive,
                "merged": len(result.merged),
                "already_known": result.already_known,
                "damaged": result.damaged,
            }
        )
    else:
        click.echo(
            f"Vault {unlocked.vault_id_hex}: {result.on_drive} event(s) on the drive, "
            f"{len(result.merged)} new merged into the registry, "
            f"{result.already_known} already known."
        )
    for name in result.damaged:
        click.echo(
            f"medvault: warning: log entry {safe(name)} failed authentication; skipped", err=True
        )
