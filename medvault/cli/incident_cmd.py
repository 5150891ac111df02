"""`medvault incident ...`: a lost drive and the facts that decide whether it is a breach."""

from __future__ import annotations

import hashlib
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.groups import SuggestingGroup
from medvault.cli.options import json_option, load_org_config, org_option, out_folder_option
from medvault.cli.output import emit_json, writable_folder
from medvault.cli.safe_text import safe
from medvault.cli.unlock import forget_cached_key
from medvault.cli.vault_lookup import vault_id_of
from medvault.errors import AlreadyExists, MedvaultError
from medvault.reports import lost
from medvault.reports.lost_model import REPORTABLE, LostDriveReport
from medvault.reports.render_html import render_html
from medvault.reports.render_json import render_json
from medvault.vault.incidents import (
    SECRETS,
    flag_key_compromised,
    known_vault,
    mark_found,
    parse_moment,
    record_disclosure,
    record_evidence_pack,
    record_plaintext_finding,
    report_lost,
)


@click.group("incident", cls=SuggestingGroup)
def incident_group() -> None:
    """Record a lost drive and produce the breach-assessment evidence pack."""


@incident_group.command("lost")
@click.argument("vault_id")
@click.option(
    "--discovered-at",
    required=True,
    metavar="TIME",
    help="When the loss was discovered (ISO date or date-time; without an offset it is "
    "read in the organisation's time zone from org.toml, UTC if none is set): the 60-day "
    "notification clock starts here, on the organisation's calendar.",
)
@click.option("--reported-by", required=True, metavar="NAME", help="Who reported the loss.")
@out_folder_option("Folder for the evidence pack (report.html, report.json).")
@org_option
@json_option
@pass_cli_context
def incident_lost(
    cli: CliContext,
    vault_id: str,
    discovered_at: str,
    reported_by: str,
    out_dir: Path,
    org_path: Path | None,
    as_json: bool,
) -> None:
    """Flag VAULT_ID (a vault id, a unique id prefix of 6+ hex digits or a unique label: see
    `medvault vaults`) as lost and write the evidence pack a privacy officer needs to decide
    whether the loss is a reportable breach (HIPAA 164.402-414).

    The pack states the algorithms and parameters, that no key was on the drive, whether
    the escrow key was used or compromised, the passphrase policy, the custody timeline,
    the declared contents, and the determination ("secured, not reportable" or
    "reportable", with the reasons), the 60-day deadline and the 500-person thresholds.
    A workstation that sees the drive again warns and records where.
    A second report of a vault still flagged lost is added to its open incident (the
    earliest discovery starts the clock). Evidence is never overwritten: --out must be a
    new or empty folder.
    Exit codes: 0 (whatever the determination), 2 (also: a name several vaults answer to),
    4 (a path that is not a vault), 5, 9 (--out is not a new or empty folder), 11,
    16 (vault id not in the registry).
    """
    org = load_org_config(org_path)
    registry = cli.registry()
    environment = cli.env
    zone = ZoneInfo(org.time_zone) if org.time_zone else UTC
    moment = parse_moment(discovered_at, "--discovered-at", environment.now(), zone=zone)
    # The vault first (an unknown or ambiguous name leaves no folder behind), then the
    # folder, both before the incident is recorded, so a retry is not needed.
    wanted = vault_id_of(cli, vault_id)
    fresh_evidence_folder(out_dir)
    incident = report_lost(registry, environment, wanted, moment, reported_by)
    vault = known_vault(registry, incident.opened.event.vault_id or "")
    # A key of the lost vault cached here goes now, before the report looks for one.
    forget_cached_key(cli, vault.vault_id, "incident lost")
    report = lost.build(
        registry,
        vault,
        incident.as_reported(),
        org.name,
        org.org_id,
        environment.timestamp(),
        time_zone=org.time_zone,
        passphrase_policy=org.passphrase_policy,
    )
    written = write_pack(
        out_dir, {"report.json": render_json(report), "report.html": render_html(report)}
    )
    record_evidence_pack(registry, environment, vault.vault_id, incident, written)
    _report_lost(report, vault.vault_id, incident.added, out_dir, written, as_json)


def _report_lost(
    report: LostDriveReport,
    vault_id: str,
    added: bool,
    out_dir: Path,
    written: dict[str, str],
    as_json: bool,
) -> None:
    """What `incident lost` prints: the determination, the deadline and the pack's files."""
    if as_json:
        emit_json(
            {
                "incident_id": report.incident.incident_id,
                "added_to_open_incident": added,
                "vault_id": vault_id,
                "conclusion": report.determination.conclusion,
                "reasons": report.determination.reasons,
                "notify_individuals_by": report.deadlines.notify_individuals_by,
                "time_zone": report.deadlines.time_zone,
                "files": {n: str(out_dir / n) for n in written},
                "sha256": written,
            }
        )
        return
    if added:
        click.echo(
            f"Vault {vault_id} was already LOST: this report is added to its open "
            f"incident {report.incident.incident_id}."
        )
    else:
        click.echo(f"Vault {vault_id} recorded as LOST (incident {report.incident.incident_id}).")
    click.echo(f"Determination: {report.determination.conclusion.upper()}")
    for reason in report.determination.reasons:  # may quote the registry's text
        click.echo(f"  - {safe(reason)}")
    due = f"{report.deadlines.notify_individuals_by} ({report.deadlines.time_zone})"
    if report.determination.conclusion == REPORTABLE:
        click.echo(f"Notify individuals by {due}.")
    else:  # the deadline still runs if a later finding makes it reportable
        click.echo(f"Should it become reportable, notify individuals by {due}.")
    click.echo(
        f"Evidence pack: {safe(out_dir / 'report.html')} and {safe(out_dir / 'report.json')}"
    )


def fresh_evidence_folder(folder: Path) -> None:
    """Evidence is never overwritten: an --out that exists and is not an empty folder is
    refused before anything is recorded or written."""
    try:
        taken = folder.exists() and (not folder.is_dir() or any(folder.iterdir()))
    except OSError as exc:
        raise MedvaultError(f"cannot read {folder}: {exc.strerror}") from None
    if taken:
        raise AlreadyExists(
            f"{folder} already exists and is not an empty folder: evidence is never overwritten",
            hint="give --out a new folder (the earlier evidence pack stays as it is)",
        )
    writable_folder(folder)


def write_pack(folder: Path, bodies: dict[str, str]) -> dict[str, str]:
    """Write each file of the pack, never over an existing one (O_EXCL: a file that
    appeared since the check is refused, not replaced); the SHA-256 of the bytes written."""
    written: dict[str, str] = {}
    for name, body in bodies.items():
        data = body.encode("utf-8")
        try:
            with (folder / name).open("xb") as out:
                out.write(data)
        except FileExistsError:
            raise AlreadyExists(
                f"{folder / name} appeared while the pack was written: evidence is never "
                "overwritten",
                hint="give --out a new folder",
            ) from None
        except OSError as exc:
            raise MedvaultError(f"cannot write {folder / name}: {exc.strerror}") from None
        written[name] = hashlib.sha256(data).hexdigest()
    return written


@incident_group.command("found")
@click.argument("vault")
@click.option("--reason", required=True, help="How it came back (no PHI), e.g. a ticket id.")
@pass_cli_context
def incident_found(cli: CliContext, vault: str, reason: str) -> None:
    """Clear the lost flag of VAULT (the drive or its id) once the drive is back in the
    organisation's hands. The incident, its evidence pack and every sighting stay recorded.

    Exit codes: 0, 2 (not recorded as lost), 4, 11, 16.
    """
    event = mark_found(cli.registry(), cli.env, vault_id_of(cli, vault), reason)
    click.echo(f"Vault {event.vault_id} is no longer flagged lost (recorded).")


@incident_group.command("disclosed")
@click.argument("vault")
@click.option("--secret", type=click.Choice(SECRETS), required=True, help="What was disclosed.")
@click.option("--reason", required=True, help="What happened (no PHI), e.g. a ticket id.")
@pass_cli_context
def incident_disclosed(cli: CliContext, vault: str, secret: str, reason: str) -> None:
    """Record that VAULT's passphrase or recovery code was disclosed (written on the drive,
    shared, phished). A lost drive whose secret was disclosed is reportable.

    Exit codes: 0, 2, 4, 11, 16.
    """
    event = record_disclosure(cli.registry(), cli.env, vault_id_of(cli, vault), secret, reason)
    click.echo(f"Recorded: the {secret} of vault {event.vault_id} is disclosed.")
    click.echo("Change it now: medvault passwd (a recovery code: create a new vault).")


@incident_group.command("plaintext")
@click.argument("vault")
@click.option("--files", type=click.IntRange(1), required=True, help="How many files.")
@click.option("--reason", required=True, help="Where it was found (no PHI).")
@pass_cli_context
def incident_plaintext(cli: CliContext, vault: str, files: int, reason: str) -> None:
    """Record plaintext PHI found on VAULT's drive outside the vault. A lost drive that
    held plaintext PHI is reportable.

    Exit codes: 0, 2, 4, 11, 16.
    """
    event = record_plaintext_finding(
        cli.registry(), cli.env, vault_id_of(cli, vault), files, reason
    )
    click.echo(f"Recorded: {files} plaintext file(s) on the drive of vault {event.vault_id}.")


@incident_group.command("key-compromised")
@click.argument("key_id")
@click.option("--reason", required=True, help="What happened, e.g. the incident ticket.")
@pass_cli_context
def incident_key_compromised(cli: CliContext, key_id: str, reason: str) -> None:
    """Flag escrow key KEY_ID as compromised: every vault ever sealed to it loses safe
    harbor in lost-drive reports. Rotate (medvault org rotate) and reseal at once; list
    the vaults with `medvault escrow affected KEY_ID`.

    Exit codes: 0, 2, 11.
    """
    event = flag_key_compromised(cli.registry(), cli.env, key_id, reason)
    click.echo(f"Recorded: escrow key {safe(event.details['key_id'])} is compromised.")
