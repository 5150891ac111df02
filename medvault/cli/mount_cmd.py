"""`medvault mount` and `medvault unmount`: the vault's files as a read-only folder."""

from __future__ import annotations

from pathlib import Path

import click

from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.options import VAULT_ARG
from medvault.cli.safe_text import safe
from medvault.cli.unlock import PassphraseSource, passphrase_options, unlock_vault
from medvault.vault.mount import check_mountpoint, load_fuse, mount, unmount

_T = "tests/media/test_mount.py::"
MOUNT_HELP = (
    "Show the vault's files, read-only, in the empty folder MOUNTPOINT (FUSE).\n\n"
    "Runs in the foreground until Ctrl-C, `medvault unmount MOUNTPOINT`, or --idle minutes "
    "without access while no file is open; then the folder is empty again. Only the chunks "
    "a read needs are decrypted, each authenticated first; a damaged range reads as an I/O "
    "error (EIO) and the rest still reads. Nothing can be written (EROFS); only you can see "
    "the files; decrypted bytes are never written to a file. If the drive holding the vault "
    "goes away, the mount unmounts itself and exits 23. Records a `mount` custody "
    "event. Needs mfusepy: pip install 'medvault[mount]'.\n\n"
    "\b\n"
    f"(test: {_T}test_every_file_reads_through_the_mount_as_its_source)\n"
    f"(test: {_T}test_a_damaged_chunk_is_eio_for_its_range_only)\n"
    f"(test: {_T}test_ctrl_c_unmounts_and_leaves_no_process)\n"
    "(test: tests/media/test_mount_media.py::test_a_pulled_stick_ends_the_mount)\n\n"
    "Exit codes: 0 unmounted, 1 no FUSE or mfusepy (the message says what to install), 2 "
    "MOUNTPOINT is not an empty folder, 3 wrong passphrase, 4 not a vault, 6 the index "
    "cannot be read, 13 no passphrase source, 23 the drive went away (MOUNTPOINT is unmounted)."
)


@click.command("mount", help=MOUNT_HELP)
@VAULT_ARG
@click.argument("mountpoint", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--idle",
    type=click.FloatRange(min=0.01),
    metavar="MINUTES",
    help="Unmount after this many minutes without access (and no file open).",
)
@passphrase_options
@pass_cli_context
def mount_cmd(
    cli: CliContext,
    vault: Path,
    mountpoint: Path,
    idle: float | None,
    passphrase: PassphraseSource,
) -> None:
    load_fuse()
    check_mountpoint(mountpoint)  # before the passphrase is asked for
    unlocked = unlock_vault(cli, vault, passphrase)

    def ready(files: int) -> None:
        click.echo(
            f"mounted {files} file(s) read-only at {safe(str(mountpoint))}; "
            f"Ctrl-C or `medvault unmount {safe(str(mountpoint))}` to unmount",
            err=True,
        )

    mount(unlocked, mountpoint, cli.registry_on_first_use(), cli.env, idle, ready)
    click.echo(f"unmounted {safe(str(mountpoint))}", err=True)


@click.command("unmount")
@click.argument("mountpoint", type=click.Path(path_type=Path, file_okay=False))
def unmount_cmd(mountpoint: Path) -> None:
    """Unmount a vault mounted with `medvault mount`; that command then exits.

    Exit codes: 0 unmounted, 1 the system refused, 10 a file in it is still open, 16
    nothing is mounted there.
    """
    unmount(mountpoint)
    click.echo(f"unmounted {safe(str(mountpoint))}")
