"""`medvault recover`: escrow recovery by a quorum of security admins."""

from __future__ import annotations

from pathlib import Path

import click

from medvault.cli import passphrase as pp
from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.files_cmd import raise_for_problems
from medvault.cli.options import (
    VAULT_ARG,
    file_option,
    folder_option,
    json_option,
    load_org_config,
    org_option,
)
from medvault.cli.output import emit_json
from medvault.cli.safe_text import safe
from medvault.cli.shares_input import collect_shares, share_option
from medvault.cli.unlock import forget_cached_key, warn_about_header_copies
from medvault.config import OrgConfig
from medvault.engine.names import shown
from medvault.errors import UsageError
from medvault.keys.passphrase import check_strength, to_secret
from medvault.vault.recovery import (
    Recovery,
    escrow_identity,
    escrow_unlock,
    recover_files,
    reset_passphrase,
)


@click.command("recover")
@VAULT_ARG
@click.argument("paths", nargs=-1)
@click.option(
    "--reason", required=True, help="Why (ticket, incident); recorded in the audit trail."
)
@folder_option(
    "--to",
    "dest",
    help="Extract the named files (all if none are named) into this folder.",
)
@click.option("--reset-passphrase", is_flag=True, help="Replace the passphrase instead.")
@file_option(
    "--new-passphrase-file",
    help="With --reset-passphrase: read the new passphrase from this file.",
)
@share_option
@click.option(
    "--from-registry",
    is_flag=True,
    help="Use the registry's key package (when the vault's headers are destroyed).",
)
@click.option("--force", is_flag=True, help="Overwrite existing files in --to.")
@org_option
@json_option
@pass_cli_context
def recover_cmd(
    cli: CliContext,
    vault: Path,
    paths: tuple[str, ...],
    reason: str,
    dest: Path | None,
    reset_passphrase: bool,
    new_passphrase_file: Path | None,
    share_files: tuple[Path, ...],
    from_registry: bool,
    force: bool,
    org_path: Path | None,
    as_json: bool,
) -> None:
    """Recover a vault with the escrow shares of a quorum of security admins.

    Each admin types their SLIP-39 share at a hidden prompt (or --share FILE is given for
    each). The escrow key is rebuilt in memory only; it opens the vault's key package, and
    then either the named files are extracted (--to) or the passphrase is replaced
    (--reset-passphrase). The approvers, the reason and what was released are recorded.

    Exit codes: 0 done, 2 bad arguments (--reason is required), 4 not a vault or no header
    (try --from-registry), 5 no org config, 6 a file failed authentication, 9 target exists,
    12 weak new passphrase, 14 a name FAT/exFAT refuses (nothing extracted), 16 path not in
    the vault, 17 written by a newer medvault, 20 shares refused (too few, mistyped — the
    word's position is named — from another key, or another organisation's).
    """
    _refuse_unclear_request(reason, dest, reset_passphrase, paths)
    org = load_org_config(org_path)
    identity = escrow_identity(org, collect_shares(share_files))
    registry = cli.registry_on_first_use()
    unlocked = escrow_unlock(vault, identity, registry if from_registry else None, org)
    warn_about_header_copies(unlocked)
    recovery = Recovery(unlocked, identity, reason, from_registry)
    if reset_passphrase:
        _reset(cli, recovery, org, new_passphrase_file, as_json)
        return
    assert dest is not None
    result = recover_files(recovery, list(paths), dest, force, registry, cli.env)
    forget_cached_key(cli, unlocked.vault_id_hex, "recover")
    if as_json:
        emit_json(
            {
                "vault_id": unlocked.vault_id_hex,
                "extracted": [str(p) for p in result.written],
                "failed": result.failed,
                "not_extracted": {k: safe(e.message) for k, e in result.refused.items()},
                "time_not_set": result.untimed,
                **recovery.details(),
            }
        )
    else:
        for path in result.written:
            click.echo(f"recovered {shown(path, limit=1 << 16)}")
        click.echo(
            f"{len(result.written)} file(s) released; approved by "
            f"{safe(', '.join(identity.approvers))}; recorded.",
            err=True,
        )
    raise_for_problems(result, "recovered")


def _reset(
    cli: CliContext,
    recovery: Recovery,
    org: OrgConfig,
    new_passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """--reset-passphrase: a new passphrase, held to the organisation's policy, replaces the old."""
    unlocked = recovery.vault
    label = unlocked.header.body.label if unlocked.header is not None else ""

    def check(text: str) -> object:
        return check_strength(text, org.passphrase_policy, (org.name, label))

    if new_passphrase_file is not None:
        new = pp.from_file(new_passphrase_file, "--new-passphrase-file")
    else:
        new = pp.prompt("New vault passphrase", confirm=True, check=check)
    check(new)
    reset_passphrase(recovery, to_secret(new), cli.registry_on_first_use(), cli.env)
    forget_cached_key(cli, unlocked.vault_id_hex, "recover")
    if as_json:
        emit_json({"vault_id": unlocked.vault_id_hex, "reset": True, **recovery.details()})
    else:
        click.echo(
            f"Passphrase of vault {unlocked.vault_id_hex} replaced; approved by "
            f"{safe(', '.join(recovery.identity.approvers))}."
        )


def _refuse_unclear_request(
    reason: str, dest: Path | None, reset_passphrase: bool, paths: tuple[str, ...]
) -> None:
    """UsageError (before any share is asked for) unless the request is one clear act."""
    if not reason.strip():
        raise UsageError("--reason must say why the vault is being recovered")
    if (dest is None) == (not reset_passphrase):
        raise UsageError("give either --to DIR (extract) or --reset-passphrase")
    if reset_passphrase and paths:
        raise UsageError("--reset-passphrase takes no PATH arguments")
