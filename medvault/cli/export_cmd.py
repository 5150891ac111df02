"""`medvault export`: getting files onto the drive only encrypted."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.declared_input import Declaration, declare_options
from medvault.cli.options import folder_option, json_option
from medvault.cli.output import (
    added_printer,
    emit_json,
    progress_bar,
    renamed_json,
    warn_renamed,
)
from medvault.cli.unlock import PassphraseSource, passphrase_options, unlock_vault
from medvault.engine.catalog import Located
from medvault.vault.custody import declare
from medvault.vault.export import ExportResult, check_name, run_export
from medvault.workstation import staging


def _interrupt_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the staging folder is wiped on the way out."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


EXPORT_HELP = """Run an export command so that its output reaches the drive only encrypted.

    \b
      medvault export --vault /media/usb --name labs -- ./export-labs.sh {}
      medvault export --vault /media/usb -- psql -c "\\copy ... to '$MEDVAULT_EXPORT_DIR/x.csv'"

    CMD (everything after --) runs with MEDVAULT_EXPORT_DIR set to a private staging folder
    in memory (mode 0700; `{}` in its arguments is replaced by the same path). When CMD
    exits 0, every file it wrote is encrypted into the vault under exports/NAME/<UTC time>/,
    read back and authenticated, and the staging folder is wiped. When CMD fails, nothing is
    added and medvault exits with CMD's exit code. The event records CMD's name and a
    SHA-256 of its arguments (not the arguments: they can hold PHI; --record-args adds
    them, redacted), who, where, counts, bytes and digests
    (test: tests/cli/test_export.py::test_export_records_no_arguments).

    CMD runs as you, with your full authority (no sandbox): it can read any file you can,
    a passphrase file included, whose path it can read in /proc; medvault warns when
    --passphrase-file or MEDVAULT_PASSPHRASE_FILE is used
    (test: tests/cli/test_export_passphrase.py::test_passphrase_file_is_warned_about).
    Give the passphrase at the prompt or with --passphrase-fd from a pipe: it is read and
    the vault unlocked before CMD starts, MEDVAULT_PASSPHRASE* are not passed on, and
    medvault is non-dumpable, so CMD cannot read its memory, environment or descriptors
    (test: tests/cli/test_export_passphrase.py::test_passphrase_fd_leaks_nothing).
    A key cached with `unlock --remember` is in your keyring, which CMD can query like any
    program of yours.

    Exit codes: 0, CMD's own code when it fails, 2 (no memory-backed staging; bad --name),
    3, 4, 6 (read-back failed: the staged files are kept and named), 7, 8 (CMD not found),
    10, 13, 130.
    """


@click.command(
    "export",
    help=EXPORT_HELP,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@folder_option(
    "--vault",
    "vault_path",
    required=True,
    help="The vault (drive root or its MEDVAULT/ folder) that receives the export.",
)
@click.option("--name", help="Export name, used in exports/NAME/<time>/ (default: CMD's name).")
@click.option(
    "--allow-disk-staging",
    is_flag=True,
    help="Stage on disk when no memory-backed folder exists (Linux: /dev/shm, "
    "$XDG_RUNTIME_DIR; macOS and Windows have none); plaintext on a disk can be recovered "
    "after deletion.",
)
@click.option(
    "--record-args",
    is_flag=True,
    help="Also record CMD's arguments in the export event, with passwords, tokens, keys "
    "and URL passwords replaced by *** (by default only CMD's name and a SHA-256 of its "
    "arguments are recorded: arguments can hold PHI) "
    "(test: tests/unit/vault/test_export_redaction.py::"
    "test_record_args_stores_the_redacted_command).",
)
@declare_options
@passphrase_options
@json_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_cli_context
def export_cmd(
    cli: CliContext,
    vault_path: Path,
    name: str | None,
    allow_disk_staging: bool,
    record_args: bool,
    declaration: Declaration,
    passphrase: PassphraseSource,
    as_json: bool,
    command: tuple[str, ...],
) -> None:
    # The help text is EXPORT_HELP (a page of its own, as extract has EXTRACT_HELP).
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    export_name = check_name(name or _default_name(argv))
    declared = declaration.parsed()
    root = _staging_root(allow_disk_staging)
    _warn_if_passphrase_file(passphrase.file)
    unlocked = unlock_vault(cli, vault_path, passphrase)
    _interrupt_on_sigterm()

    registry = cli.registry_on_first_use()
    with progress_bar(None, "encrypting") as bar:  # the size is known only after CMD
        result = run_export(
            unlocked,
            export_name,
            argv,
            registry,
            cli.env,
            root,
            progress=bar,
            on_commit=added_printer(as_json),
            record_args=record_args,
            person=cli.person,
        )
    _exit_if_the_command_failed(result)
    if result.files:
        declare(registry, cli.env, unlocked.vault_id_hex, declared, "export")
    _report_exported(result, unlocked.vault_id_hex, as_json)


def _staging_root(allow_disk_staging: bool) -> staging.StagingRoot:
    explicit = os.environ.get("MEDVAULT_STAGING_DIR")
    root = staging.choose_root(Path(explicit) if explicit else None, allow_disk_staging)
    if not root.memory_backed:
        click.echo(f"medvault: warning: staging on disk ({root.path}, {root.filesystem})", err=True)
    return root


def _exit_if_the_command_failed(result: ExportResult) -> None:
    """CMD's own exit code when it failed (nothing was added), after saying so."""
    for path in result.swept:
        click.echo(f"medvault: removed staging left by an interrupted export: {path}", err=True)
    if result.command_exit != 0:
        click.echo(
            f"medvault: the export command exited {result.command_exit}; nothing was added "
            "and its staging folder was wiped",
            err=True,
        )
        sys.exit(result.command_exit)


def _report_exported(result: ExportResult, vault_id: str, as_json: bool) -> None:
    warn_renamed(result.renamed)
    if as_json:
        emit_json(
            {
                "vault_id": vault_id,
                "stored_under": result.stored_under,
                "files": [_entry(x) for x in result.files],
                "bytes": result.bytes,
                "staging_memory_backed": result.staging_memory_backed,
                "renamed": renamed_json(result.renamed),
            }
        )
    else:
        click.echo(
            f"{len(result.files)} file(s), {result.bytes} bytes exported into vault "
            f"{vault_id} under {result.stored_under} (read back and verified).",
            err=True,
        )


def _warn_if_passphrase_file(passphrase_file: Path | None) -> None:
    """The export command runs as the user: a passphrase file is one it can read too."""
    if passphrase_file is not None:
        origin = "--passphrase-file (named in this process's command line)"
    elif os.environ.get("MEDVAULT_PASSPHRASE_FILE"):
        origin = "MEDVAULT_PASSPHRASE_FILE (named in your shell's environment)"
    else:
        return
    click.echo(
        f"medvault: warning: the export command runs as you and can read the passphrase "
        f"file given by {origin}; prefer the prompt or --passphrase-fd from a pipe",
        err=True,
    )


def _entry(loc: Located) -> dict[str, object]:
    return {"path": loc.path, "size": loc.size, "sha256": loc.sha256}


def _default_name(argv: list[str]) -> str:
    base = Path(argv[0]).name if argv else "export"
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", base).lstrip(".-_") or "export"
    return cleaned[:64]
