"""`ls`: the files in a vault. Kept apart from files_cmd.py so that a listing imports only
what it needs: files_cmd's add, extract and rm machinery costs ~0.1 s of imports at every
start, as much as the rest of `medvault ls` beside Argon2id (issue 23)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from medvault.cli.options import VAULT_ARG, json_option
from medvault.cli.output import emit_json_array
from medvault.cli.safe_text import safe
from medvault.cli.unlock import with_unlocked_vault
from medvault.config import find_org_config, load_org
from medvault.engine.names import shown
from medvault.engine.path_index import live_files
from medvault.errors import MedvaultError
from medvault.reports.local_time import ReportZone

if TYPE_CHECKING:
    from medvault.engine.catalog import Located
    from medvault.engine.session import UnlockedVault

# Listings show whole paths (control characters escaped, so one file is one line).
MAX_SHOWN = 1 << 16
LINES_AT_ONCE = 1024


def entry_json(loc: Located) -> dict[str, object]:
    """One listed (or added) file as `--json` shows it."""
    return {
        "path": loc.path,
        "size": loc.size,
        "sha256": loc.sha256,
        "added_at": loc.added_at,
        "file_id": loc.file_id,
    }


@click.command("ls")
@VAULT_ARG
@click.argument("paths", nargs=-1)
@with_unlocked_vault
@json_option
def ls_cmd(unlocked: UnlockedVault, paths: tuple[str, ...], as_json: bool) -> None:
    """List the files in the vault (optionally only under PATHS): size, time added, path.

    Times are shown on the organisation's clock (`time_zone` in org.toml), else this
    computer's, with their UTC offset (2026-03-08 01:59:00 -08:00); --json keeps UTC ISO
    8601 times.

    Exit codes: 0 listed, 3 wrong passphrase, 4 not a vault, 16 a named path is not there.
    """
    with live_files(unlocked) as live:
        # Streamed from the path index: a vault of 100,000 files lists in bounded memory.
        chosen = live.select(list(paths)) if paths else live.all()
        if live.index_damage:
            click.echo(
                f"medvault: warning: {safe(live.index_damage)}; listed from the objects "
                "(run `medvault repair`)",
                err=True,
            )
        if as_json:
            emit_json_array(entry_json(x) for x in chosen)
            return
        zone, times = listing_zone(), dict[str, str]()
        lines: list[str] = []  # written LINES_AT_ONCE at a time: one write per line cost more
        try:
            for loc in chosen:
                second = loc.added_at[:19]  # files added together share it: convert it once
                if second not in times:
                    times[second] = zone.shown(loc.added_at)
                lines.append(
                    f"{loc.size:>12}  {times[second]}  {shown(loc.path, limit=MAX_SHOWN)}\n"
                )
                if len(lines) >= LINES_AT_ONCE:
                    sys.stdout.write("".join(lines))
                    lines.clear()
        finally:  # what was listed before an error is shown before it
            sys.stdout.write("".join(lines))


def listing_zone() -> ReportZone:
    """The zone `ls` shows times in: the organisation's (`time_zone` in org.toml), else
    this workstation's; an org config that cannot be read does not stop a listing."""
    try:
        org = load_org(find_org_config(None))
    except MedvaultError:  # none found (OrgConfigMissing), or unreadable
        org = None
    if org is not None and org.time_zone:
        return ReportZone.of(org.time_zone)
    # Imported only here: vault/org.py (escrow keys, shares) is ~10 ms of imports that a
    # listing in the organisation's own zone does not need.
    from medvault.vault.org import local_time_zone

    return ReportZone.of(local_time_zone())
