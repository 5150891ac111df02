"""`medvault vaults`: the organisation's vaults as the custody registry knows them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import click

from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.options import json_option
from medvault.cli.output import emit_json
from medvault.cli.safe_text import safe
from medvault.registry.records import StoredEvent, VaultRecord
from medvault.reports.lost import custodian as current_custodian
from medvault.reports.lost import declared_contents, last_act

SHORT_ID = 8  # hex digits shown; any unique prefix of 6 or more names the vault
STATES = ("pending", "active", "aborted", "lost", "erased")


@click.command("vaults")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATES),
    help="Only vaults in this state (repeatable).",
)
@click.option("--label", metavar="TEXT", help="Only vaults whose label contains TEXT (any case).")
@click.option(
    "--custodian",
    metavar="TEXT",
    help="Only vaults whose current custodian contains TEXT (any case).",
)
@json_option
@pass_cli_context
def vaults_cmd(
    cli: CliContext,
    states: tuple[str, ...],
    label: str | None,
    custodian: str | None,
    as_json: bool,
) -> None:
    """List the vaults in the custody registry: label, short id, custodian, when the drive
    was last in someone's hand, state, and the declared number of individuals
    (test: tests/unit/vault/test_vault_names.py::
    test_vaults_lists_the_inventory_with_filters).

    Any command that takes a vault id also takes a unique id prefix (6 or more hex
    digits) or a unique label (test: tests/unit/vault/test_vault_names.py::
    test_every_command_that_takes_a_vault_id_takes_a_label); a name several vaults answer
    to lists them and exits 2
    (test: tests/unit/vault/test_vault_names.py::test_a_shared_prefix_is_ambiguous).

    Exit codes: 0, 2, 11 (registry unreachable).
    """
    registry = cli.registry()
    records = [r for r in registry.vaults() if _wanted(r, states, label)]
    events: dict[str, list[StoredEvent]] = defaultdict(list)
    for stored in registry.events() if records else []:
        events[stored.event.vault_id or ""].append(stored)
    rows = [_row(r, events[r.vault_id]) for r in records]
    if custodian is not None:  # the chain's custodian, known only once the events are read
        rows = [row for row in rows if custodian.casefold() in row["custodian"].casefold()]
    if as_json:
        emit_json(rows)
    elif not rows:
        click.echo(
            "No vault matches." if states or label or custodian else "No vault is recorded yet."
        )
    else:
        _print_table(rows)


def _wanted(record: VaultRecord, states: tuple[str, ...], label: str | None) -> bool:
    if states and record.status not in states:
        return False
    return label is None or label.casefold() in record.label.casefold()


def _row(record: VaultRecord, events: list[StoredEvent]) -> dict[str, Any]:
    act = last_act(events)
    last = act[1] if act else None
    return {
        "label": record.label,
        "short_id": record.vault_id[:SHORT_ID],
        "vault_id": record.vault_id,
        "custodian": current_custodian(record, events),
        "last_seen_at": last.event.at if last else None,
        "last_seen_host": last.event.actor.host if last else None,
        "state": record.status,
        **_declared(events),
    }


def _declared(events: list[StoredEvent]) -> dict[str, Any]:
    """Declared counts, added up by the lost-drive report's own rule (an upper bound; a
    value that is not a count is left out there, never a crash here)."""
    contents = declared_contents(events)
    return {"individuals": contents.individuals, "states": contents.states}


def _print_table(rows: list[dict[str, Any]]) -> None:
    header = ("LABEL", "ID", "CUSTODIAN", "LAST SEEN", "STATE", "INDIVIDUALS")
    lines = [header] + [_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*padded, line[-1]]).rstrip())


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    # Labels, names and hosts are registry text a workstation wrote: shown through safe().
    seen = f"{row['last_seen_at']} ({row['last_seen_host']})" if row["last_seen_at"] else "-"
    count = "not declared" if row["individuals"] is None else f"{row['individuals']:,}"
    by_state = ", ".join(f"{code}={n:,}" for code, n in row["states"].items())
    return (
        safe(row["label"]) or "-",
        row["short_id"],
        safe(row["custodian"]),
        safe(seen),
        row["state"],
        f"{count} ({safe(by_state)})" if by_state else count,
    )
