"""Collecting escrow shares from admins: share files (drills) or hidden prompts."""

from __future__ import annotations

from pathlib import Path

import click

from medvault.cli import passphrase as pp
from medvault.cli.options import file_option
from medvault.keys.shares import ParsedShare, ShareError, parse_share

MAX_SHARE_FILE = 64 * 1024


def share_from_file(path: Path) -> ParsedShare:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_SHARE_FILE)
    except (OSError, UnicodeDecodeError) as exc:
        raise ShareError(f"cannot read share file {path}: {exc}") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1:
        raise ShareError(f"share file {path.name}: expected one line of words")
    return parse_share(lines[0], f"share file {path.name}")


def _shares_from_prompts() -> list[ParsedShare]:
    if not pp.interactive():
        raise ShareError("no --share files and no terminal to ask the admins on")
    shares: list[ParsedShare] = []
    while not shares or len({s.member_index for s in shares}) < shares[0].threshold:
        number = len(shares) + 1
        text: str = click.prompt(
            f"Admin {number}, type your escrow share (hidden)", hide_input=True, err=True
        )
        try:
            share = parse_share(text, f"share {number}")
        except ShareError as exc:
            click.echo(f"medvault: {exc.message}; please type it again", err=True)
            continue
        if any(s.member_index == share.member_index for s in shares):
            click.echo("medvault: that share was already given; the next admin, please", err=True)
            continue
        shares.append(share)
        if len(shares) == 1:
            click.echo(f"{share.threshold} shares are needed.", err=True)
    return shares


def collect_shares(share_files: tuple[Path, ...]) -> list[ParsedShare]:
    if share_files:
        return [share_from_file(path) for path in share_files]
    return _shares_from_prompts()


share_option = file_option(
    "--share",
    "share_files",
    multiple=True,
    help="An admin's share file (repeat; for drills). Default: hidden prompts.",
)
