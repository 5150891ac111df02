"""Entry point: the command group and the one place errors become exit codes."""

from __future__ import annotations

import importlib
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from medvault.cli.groups import SuggestingGroup
from medvault.cli.safe_text import safe
from medvault.errors import MedvaultError, UsageError
from medvault.secret import make_non_dumpable

if TYPE_CHECKING:
    from medvault.cli.context import CliContext

INTERNAL_ERROR = 70
MAX_PERSON = 200
INTERRUPTED = 130

# Each command's module (cli/*_cmd.py) is imported only when that command runs: the imports
# a command does not need would sit in memory beside Argon2id's 64 MiB while the vault
# unlocks (the peak).
COMMANDS = {
    "org": "org_cmd:org_group",
    "create": "vault_cmd:create_cmd",
    "add": "files_cmd:add_cmd",
    "cp": "files_cmd:cp_cmd",
    "export": "export_cmd:export_cmd",
    "drives": "drives_cmd:drives_cmd",
    "scan": "scan_cmd:scan_cmd",
    "ls": "ls_cmd:ls_cmd",
    "extract": "files_cmd:extract_cmd",
    "mount": "mount_cmd:mount_cmd",
    "unmount": "mount_cmd:unmount_cmd",
    "cat": "files_cmd:cat_cmd",
    "verify": "check_cmd:verify_cmd",
    "info": "vault_cmd:info_cmd",
    "passwd": "vault_cmd:passwd_cmd",
    "rm": "files_cmd:rm_cmd",
    "repair": "check_cmd:repair_cmd",
    "compact": "check_cmd:compact_cmd",
    "recover": "recover_cmd:recover_cmd",
    "escrow": "escrow_cmd:escrow_group",
    "unlock": "unlock_cmd:unlock_cmd",
    "lock": "unlock_cmd:lock_cmd",
    "custody": "custody_cmd:custody_group",
    "sync": "custody_cmd:sync_cmd",
    "incident": "incident_cmd:incident_group",
    "erase": "erase_cmd:erase_cmd",
    "audit": "audit_cmd:audit_group",
    "registry": "audit_cmd:registry_group",
    "demo": "demo_cmd:demo_cmd",
    "vaults": "vaults_cmd:vaults_cmd",
}


class LazyGroup(SuggestingGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr = COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(f"medvault.cli.{module}"), attr)
        if not isinstance(command, click.Command) or command.name != cmd_name:
            raise TypeError(f"COMMANDS[{cmd_name!r}] does not name that command")
        take_person_option(command)
        return command


PERSON_HELP = (
    "The person doing this, recorded with your OS account in every audit event "
    "(default: $MEDVAULT_PERSON). Also accepted after the command: `medvault add --as NAME ...` "
    "(test: tests/cli/test_terminal_habits.py::test_as_is_accepted_after_the_command)."
)
AFTER_HELP = "The person doing this (as `medvault --as NAME COMMAND`)."


def take_person_option(command: click.Command) -> None:
    """Give COMMAND (each command of a group) the root group's --as NAME too, so that it
    may follow the command's name."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            take_person_option(sub)
    elif not any(param.name == "person_after" for param in command.params):
        command.params.append(
            click.Option(
                ["--as", "person_after"],
                metavar="NAME",
                expose_value=False,
                callback=_acting_after,
                help=AFTER_HELP,
            )
        )


def _acting_after(ctx: click.Context, param: click.Parameter, person: str | None) -> None:
    """--as after the command's name: the command acts as PERSON (as if given before)."""
    if person is None or ctx.resilient_parsing:
        return
    acting = acting_context(person)
    before = getattr(ctx.find_root().obj, "person", None)
    if before is not None and before != acting.person:
        raise UsageError("--as given twice with different names")
    node: click.Context | None = ctx
    while node is not None:
        node.obj = acting
        node = node.parent


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="medvault", prog_name="medvault")
@click.option("--as", "person", metavar="NAME", help=PERSON_HELP)
@click.pass_context
def cli(ctx: click.Context, person: str | None) -> None:
    """Encrypted vaults for patient data on USB sticks and external drives.

    Every file gets its own key; the vault key is escrowed to your organisation, so a lost
    drive holds only ciphertext and a forgotten passphrase is recoverable. Start with
    `medvault demo`. Exit codes are listed in each command's --help and docs/CLI.md.
    """
    ctx.obj = acting_context(person)
    ctx.call_on_close(finish_background_work)


def finish_background_work() -> None:
    """The lost-drive check may still be running (cli/context.py): finish it, and raise
    what it raised, before the exit status is decided. Run as the command's context
    closes, so also when a program (or a test) invokes `cli` itself, not through main():
    a check left running would read the registry of whatever $MEDVAULT_HOME is later."""
    context = sys.modules.get("medvault.cli.context")
    if context is not None:
        context.join_background()


def acting_context(person: str | None) -> CliContext:
    """The CliContext acting as PERSON (--as), checked: 1 to MAX_PERSON printable characters."""
    if person is not None:
        if not person.strip() or len(person) > MAX_PERSON or not person.isprintable():
            raise UsageError(f"--as: a name of 1 to {MAX_PERSON} printable characters")
        person = person.strip()
    # Imported here, like the commands (COMMANDS): not for --help or --version.
    from medvault.cli.context import CliContext

    return CliContext.acting_as(person)


def purge_expired_keys() -> None:
    """Delete vault keys cached by `unlock --remember` whose time is up, whatever command
    runs (keyring has no expiry of its own). One directory listing when none is cached."""
    from medvault.keys import keycache

    keycache.purge_expired(datetime.now(UTC))


def main() -> None:
    # Any command may hold a vault key: keep other processes of the user (and core dumps)
    # out of this one's memory from the start, not only while an export command runs.
    make_non_dumpable()
    try:
        purge_expired_keys()
        # prog_name and complete_var as installed, also under `python -m medvault`:
        # `_MEDVAULT_COMPLETE=bash_source medvault` prints the completion script. The
        # lost-drive check is finished as the command's context closes (cli() above).
        cli.main(standalone_mode=False, prog_name="medvault", complete_var="_MEDVAULT_COMPLETE")
    except MedvaultError as exc:
        # A message may quote a drive's or the registry's text (a name, a reason).
        click.echo(f"medvault: error: {safe(exc.message)}", err=True)
        if exc.hint:
            click.echo(f"hint: {safe(exc.hint)}", err=True)
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
        # Only writers of files have something to reassure about.
        said = "; files reported as added are safe" if _writes_files(sys.argv) else ""
        click.echo(f"medvault: interrupted{said}", err=True)
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


WRITERS = frozenset({"add", "cp", "export", "scan", "compact", "rm", "repair"})


def _writes_files(argv: list[str]) -> bool:
    """Whether the command line names a command that adds or moves files into a vault."""
    return any(word in WRITERS for word in argv[1:])
