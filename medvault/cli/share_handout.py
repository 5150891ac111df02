"""Handing new escrow shares to admins: on the terminal one admin at a time, or as files.

On a terminal nothing is written: each admin in turn presses Enter, sees their share,
copies it, presses Enter, and the screen and its scrollback are cleared before the next
admin is called. Share files are written only when asked (--shares-to-files, or no terminal to
show them on), and on a memory-backed file system unless --shares-to-disk.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import click

from medvault.cli.safe_text import safe
from medvault.vault.org import DealtShare, ShareFiles, ShareHandout

# Cursor home, erase the screen, erase the scrollback (xterm, VTE, kitty, iTerm2, Windows
# Terminal; a multiplexer such as tmux keeps its own history).
CLEAR = "\x1b[H\x1b[2J\x1b[3J"
WORDS_PER_ROW = 4

F = TypeVar("F", bound=Callable[..., object])


def on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


class ScreenHandout:
    """Each share shown alone on the terminal, cleared before the next admin's."""

    def prepare(self, admins: Sequence[str]) -> None:
        """Nothing to check: the terminal is there."""

    def hand_out(self, shares: Sequence[DealtShare]) -> tuple[Path, ...]:
        _show(CLEAR)
        for share in shares:
            _call(share)
            try:
                _show(_card(share))
                _wait("Press Enter when done: the screen is cleared for the next admin.")
            finally:  # also on Ctrl-C or end of input: the words leave the screen
                _show(CLEAR)
            _show(f"Share {share.number} of {share.total} handed out.\n")
        _show(f"All {len(shares)} shares handed out; none was written to a file.\n")
        return ()


def _show(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _wait(prompt: str) -> None:
    _show(prompt + "\n")
    if not sys.stdin.readline():
        raise click.exceptions.Abort()


def _call(share: DealtShare) -> None:
    _show(f"== Share {share.number} of {share.total}, for {share.admin} ==\n")
    _show(f"Only {share.admin} should look at the screen now.\n")
    _wait(f"{share.admin}, press Enter to see your share.")


def _card(share: DealtShare) -> str:
    words = share.words()
    cells = [f"{n:>2} {word:<10}" for n, word in enumerate(words, 1)]
    rows = [
        "  ".join(cells[i : i + WORDS_PER_ROW]).rstrip()
        for i in range(0, len(cells), WORDS_PER_ROW)
    ]
    return (
        f"\nmedvault escrow share for {share.admin}\n"
        f"Organisation: {safe(share.org_name)}   escrow key id: {share.key_id}\n"
        f"{share.threshold} of {share.total} admins' shares are needed to recover a vault.\n\n"
        + "\n".join(rows)
        + f"\n\nCopy the {len(words)} words, in order, by hand onto paper and check them "
        "against the screen. Store it offline, apart from the other admins' shares.\n"
    )


def choose(out_dir: Path, to_files: bool, shares_to_disk: bool) -> ShareHandout:
    """The screen on a terminal; files under OUT_DIR/shares when asked or with no terminal."""
    if to_files or shares_to_disk or not on_terminal():
        return ShareFiles(out_dir / "shares", allow_disk=shares_to_disk)
    return ScreenHandout()


def handout_options(func: F) -> F:
    func = click.option(
        "--shares-to-disk",
        is_flag=True,
        help="Allow share files on a disk (not tmpfs/ramfs): a deleted file's blocks can be "
        "read back from a disk. Implies --shares-to-files.",
    )(func)
    return click.option(
        "--shares-to-files",
        "write_share_files",
        is_flag=True,
        help="Write DIR/shares/<admin>.txt instead of showing each share on the terminal "
        "(always so without a terminal); DIR must be on a tmpfs unless --shares-to-disk.",
    )(func)
