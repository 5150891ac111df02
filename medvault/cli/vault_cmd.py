"""`create`, `info`, `passwd`: making and managing a vault's keys."""

from __future__ import annotations

from pathlib import Path

import click

from medvault.cli import passphrase as pp
from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.declared_input import Declaration, declare_options
from medvault.cli.options import (
    VAULT_ARG,
    file_option,
    json_option,
    load_org_config,
    org_option,
)
from medvault.cli.output import emit_json
from medvault.cli.safe_text import safe
from medvault.cli.unlock import (
    PassphraseSource,
    forget_cached_key,
    new_passphrase_options,
    warn_if_lost,
    with_unlocked_vault,
)
from medvault.config import OrgConfig
from medvault.engine.session import UnlockedVault
from medvault.errors import UsageError
from medvault.format.vault_header import MAX_PART_SIZE, MIN_PART_SIZE
from medvault.keys.passphrase import check_strength, generate, to_secret
from medvault.keys.recovery_code import generate as generate_recovery_code
from medvault.vault.create import Created, create_vault
from medvault.vault.custody import declare
from medvault.vault.info import vault_info
from medvault.vault.maintenance import change_passphrase


@click.command("create")
@click.argument("drive", type=click.Path(path_type=Path, file_okay=False))
@click.option("--label", default="", help="A short label shown without a passphrase (no PHI).")
@click.option(
    "--generate-passphrase", is_flag=True, help="Make a strong 8-word passphrase and print it once."
)
@click.option(
    "--recovery-code",
    "make_recovery_code",
    is_flag=True,
    help="Also make a printed 48-digit recovery code that opens the vault.",
)
@click.option("--part-size", type=int, default=MAX_PART_SIZE, hidden=True)
@declare_options
@new_passphrase_options
@org_option
@json_option
@pass_cli_context
def create_cmd(
    cli: CliContext,
    drive: Path,
    label: str,
    generate_passphrase: bool,
    make_recovery_code: bool,
    part_size: int,
    declaration: Declaration,
    passphrase: PassphraseSource,
    org_path: Path | None,
    as_json: bool,
) -> None:
    """Make DRIVE an encrypted vault (creates DRIVE/MEDVAULT/).

    The passphrase is asked twice (or read from --passphrase-fd/--passphrase-file); it must
    have at least 15 characters. On a terminal, one the policy refuses is asked again, three
    tries in all
    (test: tests/cli/test_terminal_habits.py::test_a_weak_new_passphrase_at_create_is_asked_again).
    The vault key is escrowed to the organisation and recorded
    in the custody registry before the vault is reported created. With --recovery-code, a
    48-digit code that also opens the vault is printed once: print it, seal it, keep it
    apart from the drive (use it with --use-recovery-code or --recovery-code-file).

    Exit codes: 0 created, 4 DRIVE missing, 5 no org config, 7 drive full, 9 already a vault,
    11 registry unavailable (nothing written), 12 weak passphrase, 13 no passphrase source,
    15 read-only drive.
    """
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise UsageError("part size out of range")
    declared = declaration.parsed()
    org = load_org_config(org_path)
    secret_text = generate() if generate_passphrase else _chosen_passphrase(passphrase, org, label)
    registry = cli.registry_on_first_use()
    code_text, code = generate_recovery_code() if make_recovery_code else ("", None)
    created = create_vault(
        drive,
        label,
        to_secret(secret_text),
        org,
        registry,
        cli.env,
        part_size=part_size,
        recovery_code=code,
    )
    declare(registry, cli.env, created.vault_id, declared, "create")
    generated = secret_text if generate_passphrase else None
    _report_created(created, generated, code_text if code is not None else None, as_json)


def _chosen_passphrase(passphrase: PassphraseSource, org: OrgConfig, label: str) -> str:
    # The org named by --org, and the label: words an attacker tries first. Typed at the
    # terminal, a passphrase this refuses is asked again (cli/passphrase.prompt).
    def check(text: str) -> object:
        return check_strength(text, org.passphrase_policy, (org.name, label))

    secret_text = passphrase.passphrase(confirm=True, text="New vault passphrase", check=check)
    check(secret_text)
    return secret_text


def _report_created(
    created: Created, passphrase: str | None, code: str | None, as_json: bool
) -> None:
    """PASSPHRASE (if generated) and CODE (if made) are shown here once, never again."""
    if as_json:
        out = {
            "vault_id": created.vault_id,
            "path": str(created.paths.root),
            "escrow_key_ids": list(created.escrow_key_ids),
        }
        if passphrase is not None:
            out["passphrase"] = passphrase
        if code is not None:
            out["recovery_code"] = code
        emit_json(out)
        return
    click.echo(f"Created vault {created.vault_id} at {safe(created.paths.root)}")
    click.echo(f"Vault key escrowed to {safe(', '.join(created.escrow_key_ids))} and recorded.")
    if passphrase is not None:
        click.echo("Passphrase (shown once; write it down and keep it apart from the drive):")
        click.echo(f"  {passphrase}")
    if code is not None:
        click.echo("Recovery code (shown once; print it and keep it apart from the drive):")
        click.echo(f"  {code}")


@click.command("info")
@VAULT_ARG
@json_option
@pass_cli_context
def info_cmd(cli: CliContext, vault: Path, as_json: bool) -> None:
    """Show what the vault header says, without a passphrase.

    Exit codes: 0 shown, 4 not a vault.
    """
    info = vault_info(vault)
    warn_if_lost(cli, str(info["vault_id"]), vault)
    if as_json:
        emit_json(info)
        return
    # Everything here is read from the drive before any passphrase: unauthenticated.
    click.echo(f"Vault id:       {info['vault_id']}")
    click.echo(f"Location:       {safe(info['path'])}")
    click.echo(f"Label:          {safe(info['label'])}")
    click.echo(f"Format version: {info['format_version']}")
    click.echo(f"Created (UTC):  {safe(info['created_at'])}")
    click.echo(f"Organisation:   {safe(info['org']['name'])} ({safe(info['org']['contact'])})")
    for esc in info["escrow"]:
        click.echo(f"Escrow key:     {safe(esc['key_id'])} ({safe(esc['suite'])})")
    click.echo(f"Payload:        {info['payload']}")
    for kdf in info["kdf"]:
        click.echo(f"Passphrase KDF: argon2id t={kdf['t']} m={kdf['m_kib']} KiB p={kdf['p']}")
    for name, state in info["header_copies"].items():
        click.echo(f"Header copy:    {name}: {safe(state)}")


@click.command("passwd")
@VAULT_ARG
@file_option(
    "--new-passphrase-file",
    help="Read the new passphrase from this file instead of asking twice.",
)
@with_unlocked_vault
@pass_cli_context
def passwd_cmd(cli: CliContext, unlocked: UnlockedVault, new_passphrase_file: Path | None) -> None:
    """Change the vault passphrase. Only the header changes, whatever the vault's size.

    The current passphrase (or the recovery code) is always asked: a key cached by `unlock
    --remember` is not enough
    (test: tests/cli/test_keycache_expiry.py::test_passwd_erase_and_reseal_refuse_a_cached_key),
    and it is deleted from this workstation's keyring
    (test: tests/cli/test_keycache_expiry.py::test_passwd_and_recover_forget_the_vaults_key).

    Both header copies are overwritten in place and read back: neither is left opening
    with the old passphrase. A passphrase that opens only an older header copy (a change
    interrupted earlier: `medvault repair` completes it) is refused.

    Exit codes: 0 changed, 3 wrong current passphrase (or one already replaced), 4 not a
    vault, 7 a header copy could not be written (the hint says what to do), 10 vault busy,
    12 weak new passphrase, 13 no passphrase source, 15 read-only drive, 23 the drive is
    gone, 25 a header copy did not read back as written (run `medvault repair`).
    """
    body = unlocked.require_header().body

    def check(text: str) -> object:
        return check_strength(text, names=(body.org_name, body.label))

    if new_passphrase_file is not None:
        new = pp.from_file(new_passphrase_file, "--new-passphrase-file")
    else:
        new = pp.prompt("New vault passphrase", confirm=True, check=check)
    check(new)
    change_passphrase(unlocked, to_secret(new), cli.registry_on_first_use(), cli.env)
    forget_cached_key(cli, unlocked.vault_id_hex, "passwd")
    click.echo("Passphrase changed.")
