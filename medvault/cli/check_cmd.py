"""`verify`, `repair`, `compact`: checking and maintaining a vault."""

from __future__ import annotations

import click

from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.options import VAULT_ARG, json_option
from medvault.cli.output import emit_json, progress_bar
from medvault.cli.safe_text import safe
from medvault.cli.unlock import with_unlocked_vault
from medvault.engine.session import UnlockedVault
from medvault.errors import DamageFound, RepairNeeded
from medvault.vault.maintenance import compact, repair
from medvault.vault.verify import REMOVALS_OK, REMOVALS_SOUND, verify


@click.command("verify")
@VAULT_ARG
@with_unlocked_vault
@json_option
def verify_cmd(unlocked: UnlockedVault, as_json: bool) -> None:
    """Authenticate every header copy, the index, and every object and part.

    Names each damaged or missing file, and says whether every removal is proven (the
    packs hold each tombstone the header records). Exit codes: 0 all good, 3 wrong
    passphrase, 4 not a vault, 19 damage found (or removals not proven), 24 no damage but
    `medvault repair` has work to finish (a pack not yet indexed, an index placing
    entries where they are not).
    """
    with progress_bar(0, "verifying") as bar:
        report = verify(unlocked, progress=bar)
    if as_json:
        emit_json(report.to_json())
    else:
        # File names and problems may quote the drive's text.
        for name, state in report.headers.items():
            click.echo(f"header {name}: {safe(state)}")
        click.echo(f"index: {safe(report.index)}")
        click.echo(f"path index: {safe(report.path_index)}")
        click.echo(f"removals: {safe(report.removals)}")
        for pack, what in report.unindexed.items():
            click.echo(f"pack {safe(pack)}: {safe(what)}")
        for name, where in report.misplaced.items():
            click.echo(f"MISPLACED in the index {safe(name)}: {safe(where)}")
        for path, problem in report.damaged.items():
            click.echo(f"DAMAGED {safe(path)}: {safe(problem)}")
        for path, problem in report.missing.items():
            click.echo(f"MISSING {safe(path)}: {safe(problem)}")
        for pack, problem in report.damaged_packs.items():
            click.echo(f"DAMAGED pack {safe(pack)}: {safe(problem)}")
        click.echo(f"{report.files_ok} file(s), {report.bytes_ok} bytes authenticated.")
    if not report.damage_free:
        raise DamageFound(
            "the vault has damage (see above)",
            hint="`medvault repair` restores headers and the index; damaged "
            "files need a backup or escrow recovery",
        )
    if report.needs_repair:
        raise RepairNeeded("no damage, but an interrupted write left work for `medvault repair`")


@click.command("repair")
@VAULT_ARG
@with_unlocked_vault
@json_option
@click.option(
    "--accept-missing-removals",
    is_flag=True,
    help="After checking what they brought back: record the tombstones the packs hold "
    "now as the vault's removals (verify then stops reporting the missing ones).",
)
@pass_cli_context
def repair_cmd(
    cli: CliContext, unlocked: UnlockedVault, as_json: bool, accept_missing_removals: bool
) -> None:
    """Restore a missing, damaged or older header copy, rebuild the index, sweep tmp/.

    Both header copies become the newest one authentic under the vault key, so a
    passphrase change that reached one copy only is completed, never undone.

    Exit codes: 0 repaired (or nothing to do), 3 wrong passphrase, 4 not a vault,
    10 vault busy, 19 damaged objects remain (listed), or removals are not proven (a
    tombstone the header records is gone: files removed earlier may be back).
    """
    result = repair(unlocked, cli.registry_on_first_use(), cli.env, accept_missing_removals)
    if as_json:
        emit_json(result.__dict__)
    else:
        for name in result.headers_restored:
            click.echo(f"restored header copy {safe(name)}")
        if result.index_rebuilt:
            click.echo("rebuilt the index from the objects")
        if result.path_index_rewritten:
            click.echo("rewrote the path index")
        click.echo(
            f"swept {result.tmp_swept} temp file(s), removed "
            f"{result.orphan_parts_removed} orphan part(s)"
        )
        for pack, why in result.spare_packs_removed.items():
            click.echo(f"removed pack {safe(pack)}: {safe(why)}")
        for pack, problem in result.damaged_packs.items():
            click.echo(f"DAMAGED pack {safe(pack)}: {safe(problem)}")
        if result.removals_accepted is not None:
            before, now = result.removals_accepted
            was = "none" if before < 0 else str(before)
            click.echo(
                f"recorded the {now} tombstone(s) the packs hold as the removals (was {was})"
            )
        if result.removals != REMOVALS_OK:
            click.echo(f"removals: {safe(result.removals)}")
    if result.damaged_packs:
        raise DamageFound("some objects are damaged and cannot be repaired")
    if result.removals not in REMOVALS_SOUND:
        raise DamageFound(
            "removals are not proven: a tombstone the vault header records is not in any pack",
            hint="files removed earlier may be listed again: treat the drive as tampered with; "
            "compare `medvault ls` with the registry's rm events, `medvault rm` them again, "
            "then `medvault repair --accept-missing-removals`",
        )


@click.command("compact")
@VAULT_ARG
@with_unlocked_vault
@json_option
@pass_cli_context
def compact_cmd(cli: CliContext, unlocked: UnlockedVault, as_json: bool) -> None:
    """Rewrite packs that are mostly removed files, reclaiming their space.

    On FUSE and removable drives the copies are read back from the drive and authenticated
    before the old packs are deleted.

    Exit codes: 0 done, 3 wrong passphrase, 4 not a vault, 6 damage (repair first),
    7 drive full, 10 vault busy, 25 a copy did not read back (the old packs are kept).
    """
    result = compact(unlocked, cli.registry_on_first_use(), cli.env)
    if as_json:
        emit_json(result.__dict__)
    else:
        click.echo(
            f"rewrote {result.packs_rewritten} pack(s), reclaimed "
            f"{result.bytes_before - result.bytes_after} bytes"
        )
