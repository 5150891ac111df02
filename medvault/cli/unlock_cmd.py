"""`medvault unlock --remember` and `medvault lock`: the workstation key cache."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import click

from medvault.cli import passphrase as pp
from medvault.cli.common import VAULT_ARG, env, open_registry, passphrase_options
from medvault.errors import UsageError
from medvault.keys import keycache
from medvault.keys.passphrase import to_secret
from medvault.vault.custody import record as record_event
from medvault.vault.session import open_headers, unlock

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
def unlock_cmd(
    vault: Path, duration: str, passphrase_fd: int | None, passphrase_file: Path | None
) -> None:
    """Cache the vault key in this workstation's OS keyring for a while.

    Later commands on this workstation need no passphrase until it expires or `medvault
    lock` is run. The key never goes to the drive or to a plaintext keyring.
    Exit codes: 0, 2, 3, 4, 13, 21 (no secure OS keyring).
    """
    lifetime = parse_duration(duration)
    keycache.secure_backend()  # refuse an insecure keyring before asking for anything
    copies = open_headers(vault)
    secret = pp.obtain(passphrase_fd, passphrase_file, confirm=False, text="Vault passphrase")
    unlocked = unlock(copies, to_secret(secret))
    environment = env()
    expires = environment.now() + lifetime
    keycache.remember(unlocked.vault_id_hex, unlocked.vmk, expires)
    record_event(
        open_registry(),
        environment,
        "remember",
        {"expires": expires.isoformat(), "backend": type(keycache.secure_backend()).__module__},
        vault=unlocked,
    )
    click.echo(
        f"Vault {unlocked.vault_id_hex} unlocked on this workstation until "
        f"{expires:%Y-%m-%d %H:%M} UTC."
    )


@click.command("lock")
@VAULT_ARG
def lock_cmd(vault: Path) -> None:
    """Forget the vault key cached on this workstation.

    Exit codes: 0 (also when nothing was cached), 4 not a vault.
    """
    vault_id = open_headers(vault).any.header.vault_id.hex()
    if keycache.forget(vault_id):
        environment = env()
        record_event(open_registry(), environment, "lock", {}, vault_id=vault_id)
        click.echo(f"Forgot the key of vault {vault_id} on this workstation.")
    else:
        click.echo(f"No key of vault {vault_id} was cached here.")
