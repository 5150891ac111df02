"""`medvault escrow ...`: key packages of vaults (reseal after rotation, scope a compromise)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import click

from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.groups import SuggestingGroup
from medvault.cli.options import VAULT_ARG, json_option, load_org_config, org_option
from medvault.cli.output import emit_json
from medvault.cli.safe_text import safe
from medvault.cli.unlock import (
    PassphraseSource,
    forget_cached_key,
    passphrase_options,
    unlock_with_passphrase,
    warn_about_header_copies,
)
from medvault.engine.session import open_headers, refuse_superseded
from medvault.vault.escrow_ops import Resealed, reseal


@click.group("escrow", cls=SuggestingGroup)
def escrow_group() -> None:
    """Manage vaults' escrow key packages."""


@escrow_group.command("reseal")
@VAULT_ARG
@click.option("--reason", required=True, help="Why (e.g. the rotation ticket); recorded.")
@click.option(
    "--rekey",
    is_flag=True,
    help="Also give the vault a new vault key (every file key re-wrapped; payloads "
    "untouched). Automatic when a key this vault was ever sealed to is flagged compromised.",
)
@passphrase_options
@org_option
@json_option
@pass_cli_context
def escrow_reseal(
    cli: CliContext,
    vault: Path,
    reason: str,
    rekey: bool,
    passphrase: PassphraseSource,
    org_path: Path | None,
    as_json: bool,
) -> None:
    """Seal the vault key to the organisation's current escrow key(s).

    Replaces the key packages in both header copies (rewritten in place) and in the
    registry, where the old packages are kept as superseded, their sealed bytes emptied.
    No file is re-encrypted. The vault key itself stays the same: a copy of it recovered
    with the old key before the reseal would still open the vault (docs/ADMIN.md).

    Re-key (--rekey, or automatically after `incident key-compromised` for a key this vault
    was ever sealed to, or to finish an interrupted re-key): the vault gets a new vault key;
    every file key is re-wrapped in place, the index and custody log re-encrypted; old
    passphrase slots and packages are gone from the drive and the registry. It takes time
    in proportion to the number of files, not their size, and can be run again after an
    interruption. A vault that had a recovery code gets a new one, printed once.

    The passphrase is always asked (a key cached by `unlock --remember` is not used).
    Refused (exit 20) when one of the organisation's active keys is itself flagged
    compromised: rotate it first.
    Exit codes: 0, 3, 4, 5, 6, 7, 10, 11, 13, 20.
    """
    org = load_org_config(org_path)
    copies = open_headers(vault)
    unlocked, secret = unlock_with_passphrase(copies, passphrase)
    warn_about_header_copies(unlocked)
    # A re-key makes its passphrase slot from SECRET: never from a passphrase replaced.
    refuse_superseded(unlocked)
    with _entries_progress() as progress:
        done = reseal(
            unlocked,
            org,
            cli.registry(),
            cli.env,
            reason,
            passphrase=secret,
            rekey_requested=rekey,
            progress=progress,
        )
    if done.rekeyed:  # a key cached before is the old vault key: it opens nothing now
        forget_cached_key(cli, unlocked.vault_id_hex, "rekey")
    _report_resealed(unlocked.vault_id_hex, done, as_json)


def _report_resealed(vault_id: str, done: Resealed, as_json: bool) -> None:
    if as_json:
        emit_json({"vault_id": vault_id, **asdict(done)})
        return
    before, after = ", ".join(done.key_ids_before), ", ".join(done.key_ids_after)
    click.echo(f"Vault {vault_id}: escrow key(s) {before} -> {after}.")
    if done.rekeyed:
        why = (
            f" (escrow key {', '.join(done.compromised)} is flagged compromised)"
            if done.compromised
            else ""
        )
        click.echo(
            f"Re-keyed{why}: new vault key, epoch {done.key_epoch}; "
            f"{done.entries_rewrapped} file key(s) re-wrapped."
        )
    if done.recovery_code is not None:
        click.echo("The old recovery code no longer opens the vault. New recovery code:")
        click.echo(f"  {done.recovery_code}")
        click.echo("Write it down now and keep it apart from the drive; it is not stored.")


@contextmanager
def _entries_progress() -> Iterator[Callable[[int, int], None]]:
    """A count of entries re-wrapped on stderr, only on a terminal."""
    if not sys.stderr.isatty():
        yield lambda _done, _total: None
        return
    from tqdm import tqdm

    with tqdm(desc="re-keying", unit=" files", file=sys.stderr, leave=False) as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield advance


@escrow_group.command("affected")
@click.argument("key_id")
@json_option
@pass_cli_context
def escrow_affected(cli: CliContext, key_id: str, as_json: bool) -> None:
    """List every vault whose key is, or ever was, sealed to KEY_ID.

    For scoping a suspected escrow-key compromise (from this workstation's registry). Each
    vault's package for the key is "in_force", "superseded" (resealed since: whoever held
    the key before then may have opened it, unless the vault was re-keyed) or "destroyed"
    (erased). Exit codes: 0 (an empty list is not an error), 11.
    """
    vaults = cli.registry().vaults_for_key(key_id.lower())
    rows = [{k: v for k, v in row.items() if k != "status"} for row in vaults]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        since = f" since {row['package_state_at'][:19]}" if row.get("package_state_at") else ""
        click.echo(
            f"{row['vault_id']}  {safe(row['package_state'])}{safe(since)}  "
            f"{safe(row['created_at'][:19])}  "
            f"{safe(row['created_by'])}@{safe(row['host'])}  {safe(row['label'])}"
        )
    click.echo(f"{len(rows)} vault(s) sealed to escrow key {key_id} now or before.", err=True)
