"""`medvault org ...`: the organisation's escrow key and config."""

from __future__ import annotations

from pathlib import Path

import click

from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.groups import SuggestingGroup
from medvault.cli.options import json_option, load_org_config, org_option, out_folder_option
from medvault.cli.output import emit_json
from medvault.cli.safe_text import safe
from medvault.cli.share_handout import choose, handout_options
from medvault.cli.shares_input import collect_shares, share_option
from medvault.crypto.escrow import DEFAULT_SUITE, EscrowSuite
from medvault.vault.org import (
    NewKey,
    OrgCreated,
    choose_time_zone,
    init_org,
    reshare_approved,
    rotate_approved,
    usable_suite,
)

_ZONE_TESTS = "tests/unit/vault/test_org_time_zone.py::"


@click.group("org", cls=SuggestingGroup)
def org_group() -> None:
    """Set up the organisation: escrow key, admin shares, org.toml."""


@org_group.command("init")
@click.option("--name", required=True, help="Organisation name shown on every drive's notice.")
@click.option("--contact", default="", help="Who to call if a drive is found (printed on it).")
@click.option(
    "--admin",
    "admins",
    multiple=True,
    required=True,
    help="A security admin who receives one share (repeat for each).",
)
@click.option("--threshold", type=int, required=True, help="How many admins must join to recover.")
@click.option(
    "--suite",
    type=click.Choice([s.value for s in EscrowSuite]),
    default=DEFAULT_SUITE.value,
    show_default=True,
    help="Escrow algorithm: hybrid post-quantum, or P-384 for a FIPS-only profile.",
)
@out_folder_option("Folder for org.toml (and shares/<admin>.txt with --shares-to-files).")
@click.option(
    "--time-zone",
    "time_zone",
    metavar="ZONE",
    help="The organisation's IANA time zone, e.g. America/Los_Angeles: the calendar the "
    "lost-drive report counts deadlines on (default: this workstation's zone, else UTC) "
    f"(test: {_ZONE_TESTS}test_org_init_records_the_zone).",
)
@handout_options
@json_option
@pass_cli_context
def org_init(
    cli: CliContext,
    name: str,
    contact: str,
    admins: tuple[str, ...],
    threshold: int,
    suite: str,
    out_dir: Path,
    write_share_files: bool,
    shares_to_disk: bool,
    time_zone: str | None,
    as_json: bool,
) -> None:
    """Create the org escrow key and deal one SLIP-39 share to each admin.

    The private key exists only in memory during this command. On a terminal each admin in
    turn presses Enter, copies their share from the screen onto paper, and presses Enter
    again; the screen and its scrollback are cleared before the next admin, and no share is
    written to a file. Without a terminal, or with --shares-to-files, the shares are written to
    DIR/shares/<admin>.txt (mode 0600), which must be on a tmpfs unless --shares-to-disk.
    Copy org.toml to every workstation ($MEDVAULT_HOME/org.toml or MEDVAULT_ORG).

    Exit codes: 0 done, 2 bad arguments or share files on a disk without --shares-to-disk,
    9 org.toml or a share file already exists, 18 suite unsupported, 130 hand-out stopped
    (nothing kept).
    """
    created = init_org(
        name,
        contact or f"the {name} security office",
        list(admins),
        threshold,
        usable_suite(suite),
        out_dir,
        cli.env.timestamp(),
        choose(out_dir, write_share_files, shares_to_disk),
        time_zone,
    )
    _report_org_created(created, admins, threshold, as_json)


def _report_org_created(
    created: OrgCreated, admins: tuple[str, ...], threshold: int, as_json: bool
) -> None:
    key = created.org.escrow_keys[0]
    if as_json:
        emit_json(
            {
                "org_id": created.org.org_id,
                "config": str(created.config_path),
                "key_id": key.key_id,
                "suite": key.suite,
                "threshold": threshold,
                "shares": {a: str(p) for a, p in zip(admins, created.share_paths, strict=False)},
                "shares_on_screen": not created.share_paths,
                "time_zone": created.org.time_zone,
            }
        )
        return
    click.echo(
        f"Organisation {created.org.name}: escrow key {key.key_id} ({key.suite}), "
        f"{threshold} of {len(admins)} admins needed to recover."
    )
    click.echo(f"Config (public): {created.config_path}")
    click.echo(f"Time zone (report deadlines): {created.org.time_zone}")
    for admin, path in zip(admins, created.share_paths, strict=False):
        click.echo(f"Share for {safe(admin)}: {safe(path)}")
    if created.share_paths:
        click.echo("Give each admin their share offline, then delete the shares folder.")


@org_group.command("show")
@org_option
@json_option
def org_show(org_path: Path | None, as_json: bool) -> None:
    """Show the organisation config in use, with each escrow key's id and suite.

    The first escrow key is the current one (new vaults are sealed to it); later ones are
    kept so older vaults can still be matched. Exit codes: 0 shown, 5 no org config.
    """
    org = load_org_config(org_path)
    keys = [
        {
            "key_id": k.key_id,
            "suite": k.suite,
            "threshold": k.threshold,
            "admins": list(k.admins),
            "created_at": k.created_at,
        }
        for k in org.escrow_keys
    ]
    if as_json:
        emit_json(
            {
                "name": org.name,
                "contact": org.contact,
                "org_id": org.org_id,
                "config": str(org.path),
                "escrow_keys": keys,
            }
        )
        return
    # org.toml is not authenticated: every value from it is shown escaped.
    click.echo(f"Organisation: {safe(org.name)} ({safe(org.org_id)})")
    click.echo(f"Contact:      {safe(org.contact)}")
    click.echo(f"Config:       {safe(org.path)}")
    for k in org.escrow_keys:
        click.echo(
            f"Escrow key:   {safe(k.key_id)} {safe(k.suite)}, {k.threshold} of "
            f"{len(k.admins)} ({safe(', '.join(k.admins))}), since {safe(k.created_at)}"
        )


@org_group.command("rotate")
@click.option("--reason", required=True, help="Why the key is rotated; recorded.")
@out_folder_option("Folder for the new org.toml (and shares/<admin>.txt with --shares-to-files).")
@click.option(
    "--admin",
    "admins",
    multiple=True,
    help="Admins for the new key (default: the current key's admins).",
)
@click.option("--threshold", type=int, help="Quorum for the new key (default: unchanged).")
@click.option(
    "--suite",
    type=click.Choice([s.value for s in EscrowSuite]),
    help="Escrow algorithm for the new key (default: the current key's).",
)
@share_option
@handout_options
@click.option(
    "--time-zone",
    "time_zone",
    metavar="ZONE",
    help="The organisation's IANA time zone, e.g. America/Los_Angeles: the calendar the "
    "lost-drive report counts deadlines on (default: the current org.toml's, else this "
    f"workstation's, else UTC) (test: {_ZONE_TESTS}test_org_rotate_sets_the_zone) "
    f"(test: {_ZONE_TESTS}test_rotate_keeps_the_orgs_zone_by_default).",
)
@org_option
@json_option
@pass_cli_context
def org_rotate(
    cli: CliContext,
    reason: str,
    out_dir: Path,
    admins: tuple[str, ...],
    threshold: int | None,
    suite: str | None,
    share_files: tuple[Path, ...],
    write_share_files: bool,
    shares_to_disk: bool,
    time_zone: str | None,
    org_path: Path | None,
    as_json: bool,
) -> None:
    """Make a new escrow key (new shares); the old key is kept as retired.

    A quorum of the current key's admins must approve with their shares. New vaults are
    sealed to the new key at once; existing vaults move to it with `medvault escrow reseal`
    (their old shares open them until then). The new shares are handed out as by `org
    init`: on the terminal one admin at a time, or as files with --shares-to-files (on a tmpfs
    unless --shares-to-disk).

    Exit codes: 0, 2 (also: share files on a disk without --shares-to-disk), 5, 9 (a share
    file exists), 18, 20 (shares refused), 130 (hand-out stopped; nothing kept).
    """
    handout = choose(out_dir, write_share_files, shares_to_disk)
    org = load_org_config(org_path)
    zone = choose_time_zone(time_zone, org.time_zone)  # refused before shares are typed
    current = org.active_keys[0]
    new_key = NewKey(
        list(admins or current.admins), threshold or current.threshold, suite or current.suite
    )
    handout.prepare(new_key.admins)  # refused before the admins type their shares
    shares = collect_shares(share_files)
    registry = cli.registry_on_first_use()
    created = rotate_approved(
        org, shares, new_key, out_dir, handout, zone, reason, registry, cli.env
    )
    made = created.org.escrow_keys[0]
    if as_json:
        _emit_changed_config(created, made.key_id)
        return
    click.echo(f"New escrow key {safe(made.key_id)} ({safe(made.suite)}); old key(s) retired.")
    click.echo(
        f"Config: {created.config_path}; give each admin their new share, then run "
        "`medvault escrow reseal` on every vault (`medvault escrow affected OLD_KEY_ID`)."
    )


@org_group.command("reshare")
@click.option("--reason", required=True, help="Why the shares are re-dealt; recorded.")
@click.option("--admin", "admins", multiple=True, required=True, help="The new admin set.")
@click.option("--threshold", type=int, required=True, help="Quorum for the new shares.")
@out_folder_option("Folder for the updated org.toml (and the new shares with --shares-to-files).")
@share_option
@handout_options
@org_option
@json_option
@pass_cli_context
def org_reshare(
    cli: CliContext,
    reason: str,
    admins: tuple[str, ...],
    threshold: int,
    out_dir: Path,
    share_files: tuple[Path, ...],
    write_share_files: bool,
    shares_to_disk: bool,
    org_path: Path | None,
    as_json: bool,
) -> None:
    """Deal the same escrow key to a new set of admins (someone left or joined).

    A quorum of the current shares rebuilds the key in memory, and it is split anew. The
    old shares still work (they hold the same key): if one may have leaked, rotate instead.
    The new shares are handed out as by `org init` (the terminal, or --shares-to-files).

    Exit codes: 0, 2 (also: share files on a disk without --shares-to-disk), 5, 9, 20, 130
    (hand-out stopped; nothing kept).
    """
    handout = choose(out_dir, write_share_files, shares_to_disk)
    handout.prepare(admins)  # refused before the admins type their shares
    org = load_org_config(org_path)
    shares = collect_shares(share_files)
    registry = cli.registry_on_first_use()
    created, key = reshare_approved(
        org, shares, list(admins), threshold, out_dir, handout, reason, registry, cli.env
    )
    if as_json:
        _emit_changed_config(created, key.key_id)
        return
    click.echo(
        f"Escrow key {safe(key.key_id)} re-dealt to {safe(', '.join(admins))} ({threshold} needed)."
    )


def _emit_changed_config(created: OrgCreated, key_id: str) -> None:
    """--json of rotate and reshare: the new org.toml, the key and its share files."""
    emit_json(
        {
            "config": str(created.config_path),
            "key_id": key_id,
            "shares": [str(p) for p in created.share_paths],
        }
    )
