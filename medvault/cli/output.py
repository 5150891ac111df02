"""What the commands print: JSON, "added PATH" lines, progress bars and warnings, and the
check that an --out folder can take the files a command writes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from medvault.cli import safe_text
from medvault.cli.safe_text import safe
from medvault.engine.names import shown
from medvault.errors import MedvaultError

if TYPE_CHECKING:
    from medvault.engine.catalog import Located
    from medvault.vault.add import Renamed

# More names than this that normalization changes are summed up in one warning line.
RENAMED_NAMED = 5
RENAMED_WHY = (
    "not in composed Unicode (NFC), the form every stored path takes (macOS writes names "
    "decomposed, NFD)"
)


def warn_safely(message: str) -> None:
    # Warnings may quote a drive's or the registry's text (a file name, a reason).
    sys.stderr.write(f"medvault: warning: {safe(message)}\n")


def warn_renamed(renamed: Sequence[Renamed]) -> None:
    """Say on stderr which names are stored otherwise than they are written: a line per
    name, or for many a count and the first few (--json lists them all: renamed_json)."""
    if len(renamed) <= RENAMED_NAMED:
        for one in renamed:
            sys.stderr.write(
                f"medvault: warning: the name of {shown(one.source)} is {RENAMED_WHY}: it is "
                f"stored as {shown(one.stored)} and extracted under that name\n"
            )
        return
    first = ", ".join(shown(one.source) for one in renamed[:3])
    sys.stderr.write(
        f"medvault: warning: {len(renamed)} names are {RENAMED_WHY}: they are stored and "
        f"extracted in composed form ({first} and {len(renamed) - 3} more; --json lists "
        "them all)\n"
    )


def renamed_json(renamed: Sequence[Renamed]) -> list[dict[str, str]]:
    """`renamed` in --json: each name normalization changed, as found and as stored."""
    return [{"source": one.source, "stored": one.stored} for one in renamed]


def writable_folder(folder: Path) -> None:
    """Create FOLDER if needed and prove a file can be written there (exit 1 otherwise)."""
    probe = folder / ".medvault-write-test"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise MedvaultError(
            f"cannot write to {folder}: {exc.strerror}", hint="choose another --out folder"
        ) from None


# The progress bar being drawn on stderr (progress_bar), if any: lines for stdout are
# written through it (tqdm.write), so that a line never glues onto the bar.
ACTIVE_BARS: list[Any] = []


def print_lines(lines: Iterable[str]) -> None:
    """Write LINES (each ending in a newline) to stdout in one write, clearing the progress
    bar first and drawing it again after, when one is shown."""
    text = "".join(lines)
    if not text:
        return
    if ACTIVE_BARS:
        ACTIVE_BARS[-1].write(text[:-1] if text.endswith("\n") else text, file=sys.stdout)
    else:
        sys.stdout.write(text)
    sys.stdout.flush()


class AddedPrinter:
    """on_commit for add/cp/export: "added PATH" once each file is durably committed when
    VERBOSE (nothing with --json, whose output comes at the end); counts what was added
    either way, so that an add that fails midway can say how many files it kept."""

    def __init__(self, as_json: bool, verbose: bool = True) -> None:
        self.lines = verbose and not as_json
        self.count = 0
        self.last = ""  # the stored path of the last file added

    def __call__(self, done: list[Located]) -> None:
        self.count += len(done)
        if done:
            self.last = done[-1].path
        if self.lines:  # one write per group: 10,000 click.echo calls cost ~0.1 s
            print_lines(f"added {shown(x.path, limit=1 << 16)}\n" for x in done)


def added_printer(as_json: bool, verbose: bool = True) -> AddedPrinter:
    return AddedPrinter(as_json, verbose)


def _no_progress(_n: int) -> None:
    return None


def emit_json(value: object) -> None:
    click.echo(safe_text.dumps(value))


def emit_json_array(items: Iterable[object]) -> None:
    """emit_json of a list, byte for byte, written item by item: a listing of 100,000
    files is never held whole."""
    out = sys.stdout
    first = True
    for item in items:
        body = safe_text.dumps(item).replace("\n", "\n  ")
        out.write(("[\n  " if first else ",\n  ") + body)
        first = False
    out.write("[]\n" if first else "\n]\n")


@contextmanager
def progress_bar(total: int | None, desc: str) -> Iterator[Callable[[int], None]]:
    """Bytes progress on stderr, only when stderr is a terminal (disable=None).

    tqdm is imported here, after unlocking, to keep it out of memory during Argon2id, and
    only for a terminal: importing it costs ~0.1 s, which a script (stderr not a terminal,
    where tqdm would draw nothing) should not pay."""
    if not sys.stderr.isatty():
        yield _no_progress
        return
    from tqdm import tqdm

    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        file=sys.stderr,
        disable=None,
        mininterval=0.2,
        dynamic_ncols=True,
        leave=False,
    ) as bar:

        def advance(n: int) -> None:
            bar.update(n)

        ACTIVE_BARS.append(bar)
        try:
            yield advance
        finally:
            ACTIVE_BARS.remove(bar)
