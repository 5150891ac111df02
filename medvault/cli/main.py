"""Entry point: the command group and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys

import click

from medvault import __version__
from medvault.cli.audit_cmd import audit_group, registry_group
from medvault.cli.check_cmds import compact_cmd, repair_cmd, verify_cmd
from medvault.cli.custody_cmd import custody_group, sync_cmd
from medvault.cli.demo import demo_cmd
from medvault.cli.drives_cmd import drives_cmd
from medvault.cli.erase_cmd import erase_cmd
from medvault.cli.escrow_cmd import escrow_group
from medvault.cli.export_cmd import export_cmd
from medvault.cli.files_cmds import add_cmd, cp_cmd, extract_cmd, ls_cmd, rm_cmd
from medvault.cli.incident_cmd import incident_group
from medvault.cli.org_cmd import org_group
from medvault.cli.recover_cmd import recover_cmd
from medvault.cli.scan_cmd import scan_cmd
from medvault.cli.unlock_cmd import lock_cmd, unlock_cmd
from medvault.cli.vault_cmds import create_cmd, info_cmd, passwd_cmd
from medvault.errors import MedvaultError, UsageError
from medvault.secret import make_non_dumpable

INTERNAL_ERROR = 70
MAX_PERSON = 200
INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="medvault")
@click.option(
    "--as",
    "person",
    metavar="NAME",
    help="The person doing this, recorded with your OS account in every audit event "
    "(default: $MEDVAULT_PERSON).",
)
def cli(person: str | None) -> None:
    """Encrypted vaults for patient data on USB sticks and external drives.

    Every file gets its own key; the vault key is escrowed to your organisation, so a lost
    drive holds only ciphertext and a forgotten passphrase is recoverable. Start with
    `medvault demo`. Exit codes are listed in each command's --help and docs/CLI.md.
    """
    if person is not None:
        if not person.strip() or len(person) > MAX_PERSON or not person.isprintable():
            raise UsageError(f"--as: a name of 1 to {MAX_PERSON} printable characters")
        os.environ["MEDVAULT_PERSON"] = person.strip()  # read by every Env() of this process


for command in (
    org_group,
    create_cmd,
    add_cmd,
    cp_cmd,
    export_cmd,
    drives_cmd,
    scan_cmd,
    ls_cmd,
    extract_cmd,
    verify_cmd,
    info_cmd,
    passwd_cmd,
    rm_cmd,
    repair_cmd,
    compact_cmd,
    recover_cmd,
    escrow_group,
    unlock_cmd,
    lock_cmd,
    custody_group,
    sync_cmd,
    incident_group,
    erase_cmd,
    audit_group,
    registry_group,
    demo_cmd,
):
    cli.add_command(command)


def main() -> None:
    # Any command may hold a vault key: keep other processes of the user (and core dumps)
    # out of this one's memory from the start, not only while an export command runs.
    make_non_dumpable()
    try:
        cli.main(standalone_mode=False)
    except MedvaultError as exc:
        click.echo(f"medvault: error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("medvault: aborted", err=True)
        sys.exit(INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("medvault: interrupted; files reported as added are safe", err=True)
        sys.exit(INTERRUPTED)
    except Exception as exc:
        if os.environ.get("MEDVAULT_DEBUG"):
            raise
        click.echo(
            f"medvault: internal error: {exc.__class__.__name__} "
            "(set MEDVAULT_DEBUG=1 for details)",
            err=True,
        )
        sys.exit(INTERNAL_ERROR)
