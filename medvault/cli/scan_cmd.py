"""`medvault scan PATH [--into VAULT]`: find plaintext PHI on a drive, optionally move it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from medvault.cli import scan_output
from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.options import folder_option, json_option
from medvault.cli.output import emit_json, progress_bar, warn_renamed
from medvault.cli.unlock import PassphraseSource, passphrase_options, unlock_vault
from medvault.engine.session import open_headers
from medvault.errors import NotAVault, SourceUnreadable
from medvault.phi.model import MIB, Limits
from medvault.phi.scanner import ScanReport, Walk, scan, walk
from medvault.vault.scan_move import MoveResult, move_into_vault

FOUND = 1  # like grep: the scan worked and found something


@click.command("scan")
@click.argument("path", type=click.Path(path_type=Path))
@folder_option(
    "--into",
    "into",
    metavar="VAULT",
    help="Move every file with findings into this vault (read back and verified), then "
    "zero and delete the plaintext.",
)
@click.option(
    "--max-mib",
    type=click.IntRange(1, 4096),
    default=64,
    show_default=True,
    help="Read at most this many MiB of each text file.",
)
@passphrase_options
@json_option
@pass_cli_context
def scan_cmd(
    cli: CliContext,
    path: Path,
    into: Path | None,
    max_mib: int,
    passphrase: PassphraseSource,
    as_json: bool,
) -> None:
    """Look for plaintext PHI outside vaults on a drive or in a folder.

    Reads text, CSV/TSV, XLSX and DOCX files (not PDF, images or legacy .xls/.doc, which
    are counted as not scanned) and reports, per indicator, SSNs, dates of birth next to
    names, medical record numbers, ICD-10 codes, HL7 v2 messages and patient-data column
    headers, with masked samples: never the values. Symbolic links are not followed and
    vault folders are skipped. With --into VAULT, each file with findings is encrypted into
    the vault under scan/<UTC time>/, read back and verified, and only then zeroed in place
    and deleted from the drive; the move and a plaintext-found incident are recorded.

    Exit codes: 0 nothing found, 1 PHI indicators found (even when moved with --into),
    2 bad option, 3 wrong passphrase, 4 PATH or VAULT does not exist or VAULT is not a
    vault, 6 a moved file did not read back (its plaintext is kept), 7 drive full,
    8 PATH unreadable or a file changed while being moved (its plaintext is kept),
    10 vault busy, 11 registry unavailable, 13 no passphrase source, 15 a file could not
    be deleted (read-only drive; its vault copy is kept).
    """
    if not os.path.lexists(path):
        raise NotAVault(f"{path} does not exist", hint="give a mounted drive or a folder")
    if into is not None:
        open_headers(into)  # not a vault: fail now, before a long scan
    with _counter("listing") as listed:
        found = _walk(path, listed)
    limits = Limits(max_bytes=max_mib * MIB)
    total = sum(min(c.size, limits.max_bytes) for c in found.files)
    with progress_bar(total, "scanning") as bar:
        report = scan(found, limits, progress=bar)
    if not as_json:
        scan_output.print_report(report)  # before any passphrase prompt: say why it is asked
    moved, vault_id = None, None
    if into is not None and report.found:
        moved, vault_id = _move(cli, report, into, passphrase)
        warn_renamed(moved.renamed)
    if as_json:
        emit_json(scan_output.as_json(report, moved, vault_id))
    elif moved is not None and vault_id is not None:
        scan_output.print_moved(report, moved, vault_id)
    failure = moved.failure() if moved is not None else None
    if failure is not None:
        raise failure
    if report.found:
        sys.exit(FOUND)


@contextmanager
def _counter(desc: str) -> Iterator[Callable[[int], None]]:
    """A count of files on stderr while a large tree is listed, only on a terminal."""
    from tqdm import tqdm

    with tqdm(desc=desc, unit=" files", file=sys.stderr, disable=None, leave=False) as bar:

        def advance(n: int) -> None:
            bar.update(n)

        yield advance


def _walk(path: Path, progress: Callable[[int], None]) -> Walk:
    try:
        return walk(path, progress)
    except OSError as exc:
        raise SourceUnreadable(f"cannot read {path}: {exc.strerror or exc}") from None


def _move(
    cli: CliContext, report: ScanReport, into: Path, passphrase: PassphraseSource
) -> tuple[MoveResult, str]:
    unlocked = unlock_vault(cli, into, passphrase)
    registry = cli.registry()
    with progress_bar(sum(f.size for f in report.files), "encrypting") as bar:
        moved = move_into_vault(
            unlocked,
            report.root,
            [(f.path, f.rel) for f in report.files],
            registry,
            cli.env,
            dict(report.counts),
            progress=bar,
        )
    return moved, unlocked.vault_id_hex
