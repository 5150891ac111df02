"""`add`, `cp`, `extract`, `cat`, `rm`: putting files in and getting them back (`ls` is
in ls_cmd.py, which imports only what a listing needs)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from medvault.cli.context import Background, CliContext, pass_cli_context
from medvault.cli.declared_input import Declaration, declare_options
from medvault.cli.ls_cmd import MAX_SHOWN, entry_json
from medvault.cli.options import VAULT_ARG, apply_options, json_option
from medvault.cli.output import (
    AddedPrinter,
    added_printer,
    emit_json,
    print_lines,
    progress_bar,
    renamed_json,
    warn_renamed,
)
from medvault.cli.safe_text import safe
from medvault.cli.unlock import (
    PassphraseSource,
    passphrase_options,
    unlock_vault,
    with_unlocked_vault,
)
from medvault.engine.names import shown
from medvault.engine.session import UnlockedVault
from medvault.errors import (
    AlreadyExists,
    IntegrityError,
    MedvaultError,
    UnsafePath,
    UnsupportedVersion,
    UsageError,
)
from medvault.store.layout import locate
from medvault.vault.custody import declare

if TYPE_CHECKING:
    from medvault.vault.add import AddResult, Renamed
    from medvault.vault.reading import ExtractResult

# Each command imports its own use case where it runs: an extract need not hold add's
# modules in memory, nor an add extract's (issue 23, goal 5).


@dataclass(frozen=True)
class AddRequest:
    """How add and cp are to add, besides the vault and the sources (add_options)."""

    replace: bool
    skip_existing: bool
    check_space: bool
    verify_writes: bool | None
    declaration: Declaration
    passphrase: PassphraseSource
    as_json: bool
    verbose: bool


def add_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options add and cp share (also the declared contents, the passphrase and
    --json), given to COMMAND as one `request: AddRequest`."""

    @functools.wraps(command)
    def with_request(
        *args: Any,
        replace: bool,
        skip_existing: bool,
        no_space_check: bool,
        verify_writes: bool | None,
        declaration: Declaration,
        passphrase: PassphraseSource,
        as_json: bool,
        verbose: bool,
        **kwargs: Any,
    ) -> None:
        request = AddRequest(
            replace,
            skip_existing,
            not no_space_check,
            verify_writes,
            declaration,
            passphrase,
            as_json,
            verbose,
        )
        command(*args, request=request, **kwargs)

    shared = declare_options(passphrase_options(json_option(with_request)))
    return apply_options(
        shared,
        [
            click.option(
                "--replace", is_flag=True, help="Store a new version of paths already in the vault."
            ),
            click.option(
                "--skip-existing",
                is_flag=True,
                help="Skip a path already in the vault with the same size and SHA-256 (counted, "
                "not added again): run an interrupted add again to finish it.",
            ),
            click.option(
                "--no-space-check",
                is_flag=True,
                help="Do not refuse up front when the drive reports too little free space (for "
                "a driver that misreports it); a full drive still stops the add with exit 7.",
            ),
            click.option(
                "--verify-writes/--no-verify-writes",
                default=None,
                help="Read each commit back from the drive (past the page cache) and "
                "authenticate it before its files are reported added. Default: on for FUSE "
                "and removable drives.",
            ),
            verbose_option("added PATH"),
        ],
    )


def verbose_option(line: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help=f'Print a line "{line}" for each file as it is done (stdout); without it, one '
        "summary line at the end (stderr).",
    )


@click.command("add")
@VAULT_ARG
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path, exists=False))
@click.option(
    "--to",
    "folder",
    metavar="FOLDER",
    help="Store the files under FOLDER inside the vault (e.g. reports/2026), normalised as "
    "stored paths are; an unsafe FOLDER ('..', empty parts) is refused with exit 14.",
)
@add_options
@pass_cli_context
def add_cmd(
    cli: CliContext,
    vault: Path,
    sources: tuple[Path, ...],
    folder: str | None,
    request: AddRequest,
) -> None:
    """Encrypt files and folders into the vault (folders recursively, like cp -r).

    Each file is stored under its path relative to the SOURCE's parent (under FOLDER with
    --to FOLDER). A file is durably committed before it is counted as added: it then
    survives a crash or the drive being pulled. One summary line is printed at the end;
    with -v, a line "added PATH" as each file is committed. An add that fails midway says
    how many files it had added: they are kept.

    Symbolic links, FIFOs, devices and sockets inside a folder, and names that are not
    UTF-8, are refused (nothing is added); a link named as a SOURCE is followed. A name
    not in composed Unicode (NFC; macOS writes names decomposed) is stored, and extracted,
    composed: a warning names each one ("renamed" in --json).

    The drive's free space is checked first: a drive without room for the files once
    encrypted is refused with the numbers, before anything is written. On FUSE and
    removable drives (or with --verify-writes) each commit is read back from the drive and
    authenticated before its files are reported added.

    Exit codes: 0 all added (or skipped with --skip-existing), 2 a SOURCE is (or holds)
    the vault itself, or two names differ only in Unicode normalization, 3 wrong
    passphrase, 4 not a vault, 7 drive full (refused up front, or files reported as added
    are kept), 8 unreadable source, link, special file, non-UTF-8 name or a file changing
    while read (nothing more is added), 9 path already in the vault (use --replace or
    --skip-existing), 10 vault busy, 13 no passphrase source, 14 an unsafe FOLDER, 25 the
    drive gave back other bytes than were written (those files were not added; the ones
    reported before were read back).
    """
    _add(cli, vault, list(sources), request, folder)


@click.command("cp")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@add_options
@pass_cli_context
def cp_cmd(cli: CliContext, paths: tuple[Path, ...], request: AddRequest) -> None:
    """Copy files and folders into a vault the way cp does: `medvault cp SRC... VAULT`.

    The last argument is the vault (a drive root or its MEDVAULT/ folder), or VAULT:FOLDER
    to store the sources under FOLDER inside it (as `add --to FOLDER`); everything before
    it is copied in, encrypted, exactly as `medvault add VAULT SRC...` would: each file
    durably committed before it counts as added ("added PATH" with -v), nothing in
    plaintext on the drive.

    Exit codes: as for add: 0, 2 (fewer than two arguments, or a SOURCE is the vault), 3,
    4, 7, 8, 9, 10, 13, 14 (an unsafe FOLDER), 25.
    """
    if len(paths) < 2:
        raise UsageError("usage: medvault cp SRC... VAULT[:FOLDER] (the vault comes last)")
    vault, folder = split_vault_folder(paths[-1])
    _add(cli, vault, list(paths[:-1]), request, folder)


def split_vault_folder(arg: Path) -> tuple[Path, str | None]:
    """cp's last argument: VAULT, or VAULT:FOLDER. An argument that exists is the vault
    whatever its name holds; otherwise it is split at the first ':' whose left part exists
    (a mount point may hold a ':', a folder in the vault too)."""
    text = str(arg)
    if os.path.exists(text):
        return arg, None
    at = text.find(":")
    while at > 0:
        if os.path.exists(text[:at]):
            return Path(text[:at]), text[at + 1 :]
        at = text.find(":", at + 1)
    return arg, None


def _add(
    cli: CliContext, vault: Path, sources: list[Path], request: AddRequest, folder: str | None
) -> None:
    from medvault.vault.add import SourcePlan, add_planned, check_sources, stored_folder

    declared = request.declaration.parsed()
    as_json = request.as_json
    prefix = stored_folder(folder)
    # Missing sources (and the vault itself) are refused before the passphrase is asked.
    # Folders are walked twice (the walk reads every file's metadata), once to check
    # everything before anything is written and once as they are stored: nothing about
    # each file is held for the whole add, unless --json has to list them all at the end.
    # The checking walk runs while the passphrase is asked and stretched (its system calls
    # and Argon2id leave the GIL); what it finds is raised once the vault is unlocked.
    vault_root = locate(vault).root
    check_sources(sources, vault_root)
    planned = SourcePlan(sources, prefix, vault_root=vault_root)
    checking = Background("medvault-check", daemon=True)
    checking.start(planned.check)
    unlocked = unlock_vault(cli, vault, request.passphrase)
    checking.join()
    warn_renamed(planned.renamed)

    registry = cli.registry_on_first_use()
    printer = added_printer(as_json, request.verbose)
    # The bar is cleared before _kept_on_failure writes, so that its warning starts a line.
    with _kept_on_failure(printer), progress_bar(planned.bytes, "encrypting") as bar:
        result = add_planned(
            unlocked,
            planned,
            request.replace,
            registry,
            cli.env,
            progress=bar,
            on_commit=printer,
            keep_files=as_json,
            skip_existing=request.skip_existing,
            check_space=request.check_space,
            verify_writes="auto"
            if request.verify_writes is None
            else ("always" if request.verify_writes else "never"),
        )
    if result.count:
        declare(registry, cli.env, unlocked.vault_id_hex, declared, "add")
    _report_added(result, unlocked.vault_id_hex, as_json, planned.renamed)


@contextlib.contextmanager
def _kept_on_failure(printer: AddedPrinter) -> Iterator[None]:
    """An add stopped by an error or Ctrl-C says how many files it had added (kept), and
    the last of them (files are added in the order given, folders in path order)."""
    try:
        yield
    except BaseException:
        if printer.count and not printer.lines:  # with -v, each is listed above
            sys.stderr.write(
                f"medvault: warning: {printer.count} file(s) were added before this stopped "
                f"and are kept (the last: {shown(printer.last)}; `medvault ls` lists them); "
                "the same add run again with --skip-existing adds the rest\n"
            )
        raise


def _report_added(result: AddResult, vault_id: str, as_json: bool, renamed: list[Renamed]) -> None:
    if as_json:
        emit_json(
            {
                "added": [entry_json(x) for x in result.files],
                "bytes": result.bytes,
                "skipped": result.skipped,
                "skipped_bytes": result.skipped_bytes,
                "renamed": renamed_json(renamed),
            }
        )
        return
    click.echo(f"{result.count} file(s), {result.bytes} bytes added to vault {vault_id}.", err=True)
    if result.skipped:
        click.echo(
            f"{result.skipped} file(s), {result.skipped_bytes} bytes already in the vault "
            "(same size and SHA-256): skipped.",
            err=True,
        )


_RACE = "tests/media/test_extract_race.py::"
# Each promise is followed by the test that proves it; \b keeps those lines unwrapped.
EXTRACT_HELP = (
    "Decrypt files (all, or those under PATHS) into a folder.\n\n"
    "Each file is written to a private temp file (mode 0600) and renamed into place only "
    "after it is fully authenticated; a damaged file leaves nothing behind. DIR and the "
    "folders made in it are 0700. Below DIR nothing is reached through a symbolic link, and "
    "no file is replaced without --force, even one that appears during the extract.\n\n"
    "\b\n"
    f"(test: {_RACE}test_dest_and_its_missing_parents_are_made_0700_and_others_cannot_list_them)\n"
    f"(test: {_RACE}test_a_folder_swapped_for_a_link_by_another_user_is_not_followed)\n"
    f"(test: {_RACE}test_a_file_appearing_at_a_name_during_the_extract_is_replaced_only_with_force)"
    "\n\n"
    "With --to - the files (one, or several concatenated) go to standard output, nothing "
    "to disk, exactly as `medvault cat` writes them: see its --help for which bytes are "
    "written before a damaged file stops it (exit 6) and for exit 141.\n\n"
    "\b\n"
    "(test: tests/cli/test_cat.py::test_cat_and_extract_to_stdout_write_the_bytes_and_no_file)\n"
    "(test: tests/cli/test_cat.py::test_a_damaged_chunk_stops_cat_with_only_a_prefix_written)"
    "\n\n"
    "One summary line is printed at the end (stderr); with -v, a line per file (stdout).\n\n"
    "Exit codes: 0 all extracted (a stored time that cannot be set is a warning), 3 wrong "
    "passphrase, 4 not a vault, 6 a file failed authentication (others are still extracted), "
    "9 target exists (use --force; one that appears during the extract is not replaced, the "
    "others are extracted), 14 unsafe stored path, a name FAT/exFAT refuses (nothing "
    "extracted), DIR a symbolic link, another user's or writable by others (nothing "
    "extracted), or a symbolic link, file or another user's folder where a file or its "
    "folder goes (that file is not extracted; the others are), 16 a named path is not "
    "there, 17 written by a newer medvault, 141 (--to -) the reader of the output went "
    "away.\n\n"
    "\b\n"
    f"(test: {_RACE}test_the_cli_names_a_refused_file_and_exits_14)\n"
    f"(test: {_RACE}test_a_dest_others_can_write_is_refused_before_anything_is_written)"
)


@click.command("extract", help=EXTRACT_HELP)
@VAULT_ARG
@click.argument("paths", nargs=-1)
@click.option(
    "--to",
    "dest",
    required=True,
    type=click.Path(path_type=Path, file_okay=False, allow_dash=True),
    help="Folder to write the files into (created if needed); - for standard output "
    "(as `medvault cat`; a folder named - is ./-).",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist in --to.")
@verbose_option("extracted PATH")
@with_unlocked_vault
@json_option
@pass_cli_context
def extract_cmd(
    cli: CliContext,
    unlocked: UnlockedVault,
    paths: tuple[str, ...],
    dest: Path,
    force: bool,
    verbose: bool,
    as_json: bool,
) -> None:
    # The help text is EXTRACT_HELP (its test markers are longer than a source line).
    if str(dest) == "-":
        if as_json or force or verbose:
            raise UsageError("--to - writes the files' bytes alone: no --json, --force or -v")
        stream_to_stdout(cli, unlocked, list(paths), "extract")
        return
    from medvault.vault.reading import extract

    registry = cli.registry_on_first_use()
    with progress_bar(0, "decrypting") as bar:
        # The paths are kept only to be shown: a whole-vault extract holds none otherwise.
        result = extract(
            unlocked,
            list(paths),
            dest,
            force,
            registry,
            cli.env,
            progress=bar,
            keep_written=verbose or as_json,
        )
        if verbose and not as_json:
            print_lines(f"extracted {shown(path, limit=MAX_SHOWN)}\n" for path in result.written)
    if as_json:
        emit_json(
            {
                "extracted": [str(p) for p in result.written],
                "bytes": result.bytes,
                "failed": result.failed,
                "not_extracted": {k: e.message for k, e in result.refused.items()},
                "time_not_set": result.untimed,
            }
        )
    raise_for_problems(result, "extracted")
    if not as_json:  # a failed extract ends with its error line instead
        click.echo(
            f"{result.files} file(s), {result.bytes} bytes extracted to {shown(dest)}.",
            err=True,
        )


# Exit status when the reader of standard output went away (`medvault cat ... | head`):
# 128 + SIGPIPE, what cat's death by SIGPIPE gives, with no message.
BROKEN_PIPE_EXIT = 141


def stream_to_stdout(
    cli: CliContext, unlocked: UnlockedVault, paths: list[str], command: str
) -> None:
    """cat and extract --to -: the files' plaintext to stdout (vault/streaming.py says
    which bytes may be written before a failure). A reader that goes away ends it quietly."""
    from medvault.vault.streaming import stream_files

    out = sys.stdout.buffer
    try:
        stream_files(unlocked, paths, out.write, cli.registry_on_first_use(), cli.env, command)
        out.flush()
    except BrokenPipeError:
        # Nothing more can be written; keep the interpreter's final flush from failing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(BROKEN_PIPE_EXIT)
    except MedvaultError:
        out.flush()  # what was written is authenticated: let it out before the error
        raise


CAT_HELP = (
    "Write files' plaintext to standard output, one after the other, in the order named "
    "(a folder's files in path order); nothing is written to disk.\n\n"
    "Only authenticated bytes are written. A file of up to 1 MiB is held in memory and "
    "written whole once its SHA-256 matches: nothing of a damaged one is written. A larger "
    "file is written block by block, each only after every chunk in it authenticated; its "
    "SHA-256 is checked at its end, so a damaged large file has had an authenticated "
    "prefix written when medvault stops with exit 6 and names how many bytes: treat that "
    "output as incomplete. Memory stays bounded whatever the sizes. Each cat is recorded "
    "in the custody log as an extract to stdout. A reader that goes away (| head) ends it "
    "quietly, exit 141.\n\n"
    "\b\n"
    "(test: tests/cli/test_cat.py::test_cat_and_extract_to_stdout_write_the_bytes_and_no_file)\n"
    "(test: tests/cli/test_cat.py::test_a_damaged_chunk_stops_cat_with_only_a_prefix_written)\n"
    "(test: tests/cli/test_cat.py::test_a_damaged_small_file_writes_nothing_of_it)\n"
    "(test: tests/cli/test_cat.py::test_cat_is_recorded_in_the_custody_log)\n"
    "(test: tests/cli/test_cat.py::test_a_closed_pipe_ends_cat_quietly)\n\n"
    "Exit codes: 0 all written, 3 wrong passphrase, 4 not a vault, 6 a file failed "
    "authentication (the files before it, and an authenticated prefix of a large one, were "
    "written; nothing after), 13 no passphrase source, 16 a named path is not there "
    "(nothing written), 17 written by a newer medvault, 141 the reader of the output "
    "went away."
)


@click.command("cat", help=CAT_HELP)
@VAULT_ARG
@click.argument("paths", nargs=-1, required=True)
@with_unlocked_vault
@pass_cli_context
def cat_cmd(cli: CliContext, unlocked: UnlockedVault, paths: tuple[str, ...]) -> None:
    stream_to_stdout(cli, unlocked, list(paths), "cat")


def raise_for_problems(result: ExtractResult, done: str) -> None:
    """Name on stderr each file that was not DONE (extracted, recovered) or whose time
    could not be set, then raise the error for the exit code: 14 a link or another user's
    folder in the way, 9 a file appeared at a name, 17 only newer-format files, 6 damage."""
    for stored in result.untimed:
        click.echo(
            f"medvault: warning: {shown(stored)}: its stored modification time cannot be set "
            "here; it has the time of extraction",
            err=True,
        )
    for stored, error in result.refused.items():
        click.echo(f"medvault: not {done}: {shown(stored)}: {safe(error.message)}", err=True)
    for stored, problem in result.failed.items():
        click.echo(f"medvault: damaged: {shown(stored)}: {safe(problem)}", err=True)
    unsafe = [e for e in result.refused.values() if isinstance(e, UnsafePath)]
    if unsafe:
        raise UnsafePath(
            f"{len(unsafe)} file(s) were not {done}: a symbolic link, a file or another "
            "user's folder is where they go (nothing was followed)",
            hint="check who can write the destination; extract to a new folder",
        )
    if result.refused:
        raise AlreadyExists(
            f"{len(result.refused)} file(s) were not {done}: a file appeared at their name "
            "during the extract and was not replaced",
            hint="use --force to overwrite",
        )
    if result.newer and len(result.newer) == len(result.failed):
        raise UnsupportedVersion(
            f"{len(result.newer)} file(s) were written by a newer medvault and were not "
            f"{done} (or their object headers are damaged: `medvault verify` tells)"
        )
    if result.failed:
        raise IntegrityError(
            f"{len(result.failed)} file(s) failed authentication and were not {done}"
        )


@click.command("rm")
@VAULT_ARG
@click.argument("paths", nargs=-1, required=True)
@with_unlocked_vault
@pass_cli_context
def rm_cmd(cli: CliContext, unlocked: UnlockedVault, paths: tuple[str, ...]) -> None:
    """Remove files (or folders) from the vault. `medvault compact` reclaims the space.

    Exit codes: 0 removed, 3 wrong passphrase, 4 not a vault, 10 vault busy, 16 not there,
    25 the drive gave back other bytes than were written (nothing was removed).
    """
    from medvault.vault.maintenance import remove_paths

    count = remove_paths(unlocked, list(paths), cli.registry_on_first_use(), cli.env)
    click.echo(f"removed {count} file(s)")
