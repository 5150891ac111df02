"""`medvault unlock --remember` and `medvault lock`: the workstation key cache."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import click

from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.options import VAULT_ARG, json_option
from medvault.cli.output import emit_json
from medvault.cli.unlock import (
    PassphraseSource,
    passphrase_options,
    unlock_with_passphrase,
    warn_about_header_copies,
)
from medvault.cli.vault_lookup import vault_id_of
from medvault.engine.session import open_headers, refuse_superseded
from medvault.errors import KeyCacheRefused, UsageError
from medvault.keys import keycache
from medvault.vault.cached_keys import forget, remember

MAX_REMEMBER = timedelta(days=7)
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d{1,4})([mhd])", text.strip().lower())
    if not match:
        raise UsageError(f"duration {text!r}: use a number and m, h or d, such as 8h")
    duration = timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    if not timedelta(minutes=1) <= duration <= MAX_REMEMBER:
        raise UsageError("the key can be remembered for 1 minute to 7 days")
    return duration


@click.command("unlock")
@VAULT_ARG
@click.option(
    "--remember",
    "duration",
    required=True,
    metavar="DURATION",
    help="How long to keep the key on this workstation: 30m, 8h, 2d (max 7d).",
)
@passphrase_options
@pass_cli_context
def unlock_cmd(cli: CliContext, vault: Path, duration: str, passphrase: PassphraseSource) -> None:
    """Cache the vault key in this workstation's OS keyring for a while.

    Until it expires or `medvault lock` is run, the commands that read or add files (ls,
    extract, add, cp, rm, verify, repair, compact, sync, export, scan --into, custody
    transfer) need no passphrase on this workstation
    (test: tests/cli/test_keycache_expiry.py::test_every_command_on_the_cached_key_list_exists);
    passwd, erase and escrow reseal always ask for it
    (test: tests/cli/test_keycache_expiry.py::test_passwd_erase_and_reseal_refuse_a_cached_key).
    Every medvault start deletes expired keys
    (test: tests/cli/test_keycache_expiry.py::test_an_expired_key_is_deleted_by_any_command). On
    GNOME Keyring the key is kept in memory only and is gone at logout
    (test: tests/cli/test_keycache_expiry.py::test_a_remembered_key_is_kept_in_memory_only). The
    key never goes to the drive or to a plaintext keyring
    (test: tests/cli/test_keycache.py::test_remember_then_lock_on_real_secret_service)
    (test: tests/cli/test_keycache.py::test_plaintext_keyring_backend_is_refused).

    Exit codes: 0, 2, 3, 4, 13, 21 (no secure OS keyring).
    """
    lifetime = parse_duration(duration)
    keycache.secure_backend()  # refuse an insecure keyring before asking for anything
    copies = open_headers(vault)
    unlocked, _secret = unlock_with_passphrase(copies, passphrase)
    warn_about_header_copies(unlocked)
    refuse_superseded(unlocked)  # a replaced passphrase does not unlock for later
    expires, kept_in = remember(unlocked, lifetime, cli.registry_on_first_use(), cli.env)
    where = "in memory until logout, at most" if kept_in == "session" else "until"
    click.echo(
        f"Vault {unlocked.vault_id_hex} unlocked on this workstation {where} "
        f"{expires:%Y-%m-%d %H:%M} UTC."
    )


@click.command("lock")
@click.argument("vault", required=False)
@click.option(
    "--all", "everything", is_flag=True, help="Forget every vault key cached on this workstation."
)
@json_option
@pass_cli_context
def lock_cmd(cli: CliContext, vault: str | None, everything: bool, as_json: bool) -> None:
    """Forget vault keys cached on this workstation (no passphrase, no drive needed).

    VAULT is the drive, the vault's id, a unique id prefix (6+ hex digits) or a unique
    label (so a key can be forgotten after the drive is lost or erased); --all forgets
    every key cached here. Records a `lock` event
    for each key forgotten
    (test: tests/cli/test_keycache_expiry.py::test_lock_by_id_and_lock_all_need_no_drive).
    Exit codes: 0 (also when nothing was cached), 2 (give VAULT or --all; or a name several
    vaults answer to), 4 not a vault, 11, 16 (no vault of that name in the registry),
    21 the OS keyring could not be reached to delete a key.
    """
    if (vault is None) == (not everything):
        raise UsageError("give VAULT (the drive, its vault id or label) or --all, not both")
    vault_ids = keycache.cached_vaults() if everything else [vault_id_of(cli, vault or "")]
    forgotten, failed = forget(vault_ids, cli.registry_on_first_use(), cli.env)
    _report_locked(vault_ids, forgotten, as_json)
    if failed:
        why = next(iter(failed.values()))
        raise KeyCacheRefused(
            f"the key of vault(s) {', '.join(failed)} may still be in the OS keyring ({why})"
        )


def _report_locked(vault_ids: list[str], forgotten: list[str], as_json: bool) -> None:
    if as_json:
        emit_json({"forgotten": forgotten, "not_cached": sorted(set(vault_ids) - set(forgotten))})
        return
    for vault_id in forgotten:
        click.echo(f"Forgot the key of vault {vault_id} on this workstation.")
    if not forgotten:
        which = "No vault key" if len(vault_ids) != 1 else f"No key of vault {vault_ids[0]}"
        click.echo(f"{which} was cached here.")
