"""`medvault org ...`: the organisation's escrow key and config."""

from __future__ import annotations

from pathlib import Path

import click

from medvault.cli.common import emit_json, json_option, load_org_config, org_option
from medvault.crypto.escrow import DEFAULT_SUITE, EscrowSuite, suite_available
from medvault.errors import CryptoUnavailable
from medvault.org import init_org
from medvault.vault.env import Env


@click.group("org")
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
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for org.toml and shares/<admin>.txt.",
)
@json_option
def org_init(
    name: str,
    contact: str,
    admins: tuple[str, ...],
    threshold: int,
    suite: str,
    out_dir: Path,
    as_json: bool,
) -> None:
    """Create the org escrow key and deal one SLIP-39 share to each admin.

    The private key exists only in memory during this command. Hand each admin their
    shares/<admin>.txt (mode 0600) on paper, then delete the files. Copy org.toml to every
    workstation ($MEDVAULT_HOME/org.toml or MEDVAULT_ORG).

    Exit codes: 0 done, 2 bad arguments, 9 org.toml already exists, 18 suite unsupported.
    """
    chosen = EscrowSuite(suite)
    reason = suite_available(chosen)
    if reason is not None:
        raise CryptoUnavailable(reason)
    created = init_org(
        name,
        contact or f"the {name} security office",
        list(admins),
        threshold,
        chosen,
        out_dir,
        Env().timestamp(),
    )
    key = created.org.escrow_keys[0]
    if as_json:
        emit_json(
            {
                "org_id": created.org.org_id,
                "config": str(created.config_path),
                "key_id": key.key_id,
                "suite": key.suite,
                "threshold": threshold,
                "shares": {a: str(p) for a, p in zip(admins, created.share_paths, strict=True)},
            }
        )
        return
    click.echo(
        f"Organisation {name}: escrow key {key.key_id} ({key.suite}), "
        f"{threshold} of {len(admins)} admins needed to recover."
    )
    click.echo(f"Config (public): {created.config_path}")
    for admin, path in zip(admins, created.share_paths, strict=True):
        click.echo(f"Share for {admin}: {path}")
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
    click.echo(f"Organisation: {org.name} ({org.org_id})")
    click.echo(f"Contact:      {org.contact}")
    click.echo(f"Config:       {org.path}")
    for k in org.escrow_keys:
        click.echo(
            f"Escrow key:   {k.key_id} {k.suite}, {k.threshold} of {len(k.admins)} "
            f"({', '.join(k.admins)}), since {k.created_at}"
        )
