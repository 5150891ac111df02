"""`medvault escrow ...`: key packages of vaults (reseal after rotation, scope a compromise)."""

from __future__ import annotations

from pathlib import Path

import click

from medvault.cli.common import (
    VAULT_ARG,
    emit_json,
    env,
    json_option,
    load_org_config,
    open_registry,
    org_option,
    passphrase_options,
    unlock_vault,
)
from medvault.cli.safe_text import safe
from medvault.vault.escrow_ops import reseal


@click.group("escrow")
def escrow_group() -> None:
    """Manage vaults' escrow key packages."""


@escrow_group.command("reseal")
@VAULT_ARG
@click.option("--reason", required=True, help="Why (e.g. the rotation ticket); recorded.")
@passphrase_options
@org_option
@json_option
def escrow_reseal(
    vault: Path,
    reason: str,
    passphrase_fd: int | None,
    passphrase_file: Path | None,
    org_path: Path | None,
    as_json: bool,
) -> None:
    """Seal the vault key to the organisation's current escrow key(s).

    Replaces the key packages in both header copies and in the registry (the old ones are
    kept there, marked superseded, and never used again). No file is re-encrypted.
    Exit codes: 0, 3, 4, 5, 10, 11.
    """
    org = load_org_config(org_path)
    unlocked = unlock_vault(vault, passphrase_fd, passphrase_file)
    before, after = reseal(unlocked, org, open_registry(), env(), reason)
    if as_json:
        emit_json(
            {"vault_id": unlocked.vault_id_hex, "key_ids_before": before, "key_ids_after": after}
        )
        return
    click.echo(
        f"Vault {unlocked.vault_id_hex}: escrow key(s) {', '.join(before)} -> {', '.join(after)}."
    )


@escrow_group.command("affected")
@click.argument("key_id")
@json_option
def escrow_affected(key_id: str, as_json: bool) -> None:
    """List every vault whose key is, or ever was, sealed to KEY_ID.

    For scoping a suspected escrow-key compromise (from this workstation's registry). Each
    vault's package for the key is "in_force", "superseded" (resealed since: whoever held
    the key before then may have opened it, unless the vault was re-keyed) or "destroyed"
    (erased). Exit codes: 0 (an empty list is not an error), 11.
    """
    vaults = open_registry().real().vaults_for_key(key_id.lower())
    rows = [{k: v for k, v in row.items() if k != "status"} for row in vaults]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        since = f" since {row['package_state_at'][:19]}" if row.get("package_state_at") else ""
        click.echo(
            f"{row['vault_id']}  {row['package_state']}{since}  {row['created_at'][:19]}  "
            f"{safe(row['created_by'])}@{safe(row['host'])}  {safe(row['label'])}"
        )
    click.echo(f"{len(rows)} vault(s) sealed to escrow key {key_id} now or before.", err=True)
