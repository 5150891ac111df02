"""`medvault erase`: cryptographic erase with a certificate of sanitization."""

from __future__ import annotations

from pathlib import Path

import click

from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.options import (
    VAULT_ARG,
    json_option,
    load_org_config,
    org_option,
    out_folder_option,
)
from medvault.cli.output import emit_json, progress_bar, writable_folder
from medvault.cli.safe_text import safe
from medvault.cli.unlock import (
    PassphraseSource,
    forget_cached_key,
    passphrase_options,
    unlock_vault,
)
from medvault.errors import MedvaultError, UsageError
from medvault.reports import certificate
from medvault.vault.env import Env
from medvault.vault.erase import Erased, erase_vault


@click.command("erase")
@VAULT_ARG
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@out_folder_option(
    "Folder for the certificate of sanitization (certificate.txt, certificate.json)."
)
@click.option(
    "--wipe-free-space",
    is_flag=True,
    help="Also overwrite the drive's free space with random data (slow: the whole free "
    "space is written once). Reaches header versions that medvault 0.1 left behind.",
)
@passphrase_options
@org_option
@json_option
@pass_cli_context
def erase_cmd(
    cli: CliContext,
    vault: Path,
    yes: bool,
    out_dir: Path,
    wipe_free_space: bool,
    passphrase: PassphraseSource,
    org_path: Path | None,
    as_json: bool,
) -> None:
    """Cryptographically erase VAULT: destroy every copy of its key, so nothing (not the
    passphrase, not the recovery code, not the escrow quorum) can open it again.

    Destroys the registry's key packages, overwrites in place and deletes both header
    copies (key slots and escrow packages; since header format 2 they are the only header
    versions on the drive), overwrites and deletes leftovers of interrupted writes, removes
    the index and log, verifies that no route to the key is left, records the event, and
    writes a certificate of sanitization (NIST SP 800-88) that also says what a file-level
    erase cannot reach (flash wear levelling). The passphrase is asked first, to prove this
    is your vault: a key cached by `unlock --remember` is never used
    (test: tests/cli/test_keycache_expiry.py::test_passwd_erase_and_reseal_refuse_a_cached_key),
    and it is deleted from this workstation's keyring
    (test: tests/cli/test_keycache_expiry.py::test_erase_forgets_the_vaults_key).

    Exit codes: 0, 2 (not confirmed), 3, 4, 5, 10, 11, 13 (no passphrase source), 15.
    """
    org = load_org_config(org_path)
    writable_folder(out_dir)  # before anything is destroyed: the certificate must land
    unlocked = unlock_vault(cli, vault, passphrase)
    if not yes and not click.confirm(
        f"Erase vault {unlocked.vault_id_hex} for good? No one will be able to recover it",
        default=False,
        err=True,
    ):
        raise UsageError("not erased (not confirmed)")
    environment = cli.env
    try:
        with progress_bar(None, "wiping free space") as advance:
            erased = erase_vault(
                unlocked,
                cli.registry(),
                environment,
                wipe_free_space=wipe_free_space,
                progress=advance,
            )
    finally:
        # Even a failed erase may have destroyed the headers: a cached key must not be
        # the last way in to what is left.
        forget_cached_key(cli, unlocked.vault_id_hex, "erase")
    _certify(erased, environment, org.name, out_dir, as_json)


def _certify(erased: Erased, env: Env, org_name: str, out_dir: Path, as_json: bool) -> None:
    """Write the certificate of sanitization to OUT_DIR, and say what was destroyed."""
    cert = certificate.certificate(erased, env.actor.describe(), env.actor.host, org_name)
    try:
        written = certificate.write(out_dir, cert)
    except OSError as exc:
        raise MedvaultError(
            f"the vault is erased, but the certificate could not be written: {exc.strerror}",
            hint="the erase event in the registry holds the same facts (medvault custody show)",
        ) from None
    if as_json:
        emit_json({**cert, "files": [str(p) for p in written]})
        return
    click.echo(f"Vault {erased.vault_id} erased: every copy of its key is destroyed.")
    for check in erased.verified:
        click.echo(f"  verified: {safe(check)}")
    click.echo(f"Certificate of sanitization: {safe(written[1])}")
