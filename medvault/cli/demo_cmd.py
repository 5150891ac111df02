"""`medvault demo`: the whole flow on a throwaway organisation, in a local folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from medvault.cli.context import CliContext, pass_cli_context
from medvault.cli.options import folder_option
from medvault.config import OrgConfig, load_org
from medvault.crypto.escrow import DEFAULT_SUITE, EscrowSuite, suite_available
from medvault.crypto.kdf import RFC9106_LOW_MEMORY
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.keys.passphrase import generate, to_secret
from medvault.reports import lost
from medvault.reports.render_html import render_html
from medvault.reports.render_json import render_json
from medvault.vault.add import add_files
from medvault.vault.create import create_vault
from medvault.vault.custody import Declared, declare
from medvault.vault.env import Env
from medvault.vault.incidents import mark_lost
from medvault.vault.org import init_org
from medvault.vault.reading import extract, list_files
from medvault.vault.verify import verify

if TYPE_CHECKING:
    from medvault.registry.sql import Registry

SAMPLE = {
    "lab-results/2026-11-01-cbc.csv": "patient_id,test,value,unit\nDEMO-0001,HGB,13.9,g/dL\n",
    "lab-results/2026-11-02-lipids.csv": "patient_id,test,value,unit\nDEMO-0002,LDL,101,mg/dL\n",
    "reports/discharge-summary-DEMO.txt": "Synthetic discharge summary. No real patient.\n",
    "reports/empty-note.txt": "",
}


def _write_samples(folder: Path) -> Path:
    root = folder / "export"
    for rel, text in SAMPLE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "imaging").mkdir(exist_ok=True)
    (root / "imaging" / "scan-DEMO.bin").write_bytes(os.urandom(300_000))
    return root


@click.command("demo")
@folder_option(
    "--dir",
    "work_dir",
    help="Folder to work in (default: a new temporary folder, kept for a look).",
)
@pass_cli_context
def demo_cmd(cli: CliContext, work_dir: Path | None) -> None:
    """Run the whole flow with a throwaway organisation and synthetic data.

    Sets up an org (3 admins, 2 needed), a vault in a local folder standing in for a USB
    stick, adds files, lists, verifies, extracts, prints the custody record, and writes
    the evidence pack a privacy officer would get if the drive were lost.
    Nothing outside the demo folder is touched. Exit codes: 0 success.
    """
    base = work_dir or Path(tempfile.mkdtemp(prefix="medvault-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    home, drive = base / "home", base / "usb-stick"
    drive.mkdir(exist_ok=True)
    env = Env(actor=cli.env.actor)  # warnings as the library gives them
    org = _organisation(home, env)
    registry, vault_id, passphrase = _create(home, drive, org, env)
    vault, source = _add(base, drive, passphrase, registry, env)
    files_ok = _check(base, vault, source, registry, env)
    _show_drive(drive)
    chain_ok = _show_custody(registry, vault_id)
    _evidence(base, registry, org, vault_id, env)
    click.echo(f"Done. Everything is in {base}")
    if not (files_ok and chain_ok):
        raise click.ClickException("the demo found a problem (see above)")


def _organisation(home: Path, env: Env) -> OrgConfig:
    suite = DEFAULT_SUITE if suite_available(DEFAULT_SUITE) is None else EscrowSuite.P384
    click.echo(f"== 1. Organisation (escrow key split 2-of-3), in {home}")
    org_made = init_org(
        "Demo Health",
        "Demo Health security office, ext. 5555",
        ["alice", "bob", "carol"],
        2,
        suite,
        home,
        env.timestamp(),
    )
    org = load_org(org_made.config_path)
    click.echo(
        f"   escrow key {org.escrow_keys[0].key_id} ({suite.value}); shares: "
        f"{', '.join(p.name for p in org_made.share_paths)}"
    )
    return org


def _create(home: Path, drive: Path, org: OrgConfig, env: Env) -> tuple[Registry, str, str]:
    """The registry, the new vault's id and its (generated) passphrase."""
    click.echo(f"== 2. Create a vault on the 'drive' {drive}")
    from medvault.registry.sql import Registry

    registry = Registry.for_path(home / "registry.sqlite")
    passphrase = generate()
    created = create_vault(drive, "demo stick", to_secret(passphrase), org, registry, env)
    declare(registry, env, created.vault_id, Declared(2, {"CA": 2}, ("lab-results",)), "create")
    click.echo(f"   vault {created.vault_id}; passphrase (generated): {passphrase}")
    click.echo(
        f"   Argon2id t={RFC9106_LOW_MEMORY.time_cost} "
        f"m={RFC9106_LOW_MEMORY.memory_kib} KiB p={RFC9106_LOW_MEMORY.parallelism}"
    )
    return registry, created.vault_id, passphrase


def _add(
    base: Path, drive: Path, passphrase: str, registry: Registry, env: Env
) -> tuple[UnlockedVault, Path]:
    """The vault, unlocked, with the sample folder added; and that folder."""
    click.echo("== 3. Add an export folder")
    source = _write_samples(base)
    vault = unlock(open_headers(drive), to_secret(passphrase))
    added = add_files(vault, [source], False, registry, env)
    click.echo(f"   {len(added.files)} files, {added.bytes} bytes encrypted")
    return vault, source


def _check(base: Path, vault: UnlockedVault, source: Path, registry: Registry, env: Env) -> bool:
    """List, verify and extract; whether every file authenticated and came back the same."""
    click.echo("== 4. List")
    for loc in list_files(vault)[0]:
        click.echo(f"   {loc.size:>8}  {loc.sha256[:12]}…  {loc.path}")

    click.echo("== 5. Verify every object")
    report = verify(vault)
    click.echo(f"   {'OK' if report.ok else 'DAMAGED'}: {report.files_ok} files authenticated")

    click.echo("== 6. Extract and compare")
    out = base / "extracted"
    result = extract(vault, [], out, True, registry, env)
    same = all(
        (out / p).read_bytes() == (source.parent / p).read_bytes()
        for p in (x.path for x in list_files(vault)[0])
    )
    click.echo(f"   {len(result.written)} files to {out}; byte-identical: {same}")
    return report.ok and same


def _show_drive(drive: Path) -> None:
    click.echo("== 7. What is on the drive (names are random ids, no PHI)")
    for path in sorted(drive.rglob("*")):
        if path.is_file():
            click.echo(f"   {path.relative_to(drive)}")


def _show_custody(registry: Registry, vault_id: str) -> bool:
    """Print the vault's events; whether the audit chain is intact."""
    click.echo("== 8. Custody record (registry)")
    for stored in registry.events(vault_id):
        ev = stored.event
        who = f"{ev.actor.describe()}@{ev.actor.host}"
        click.echo(
            f"   {ev.at[:19]}  {ev.action:<8} by {who}  {lost.summarize(ev.action, ev.details)}"
        )
    broken = registry.verify_chain()
    click.echo(f"   audit chain: {'intact' if broken is None else f'broken at {broken}'}")
    return broken is None


def _evidence(base: Path, registry: Registry, org: OrgConfig, vault_id: str, env: Env) -> None:
    click.echo("== 9. If this drive were lost: the breach-assessment evidence pack")
    lost_event = mark_lost(registry, env, vault_id, env.now(), "demo privacy officer")
    record = registry.vault(vault_id)
    found = [s for s in registry.events(vault_id) if s.event == lost_event]
    if record is None or not found:
        raise click.ClickException("the demo could not read back the incident")
    pack = lost.build(
        registry,
        record,
        found[0],
        org.name,
        org.org_id,
        env.timestamp(),
        org.time_zone,
        passphrase_policy=org.passphrase_policy,
    )
    evidence = _new_folder(base / "evidence")  # evidence is never overwritten, even here
    for name, body in (("report.html", render_html(pack)), ("report.json", render_json(pack))):
        with (evidence / name).open("x", encoding="utf-8") as page:
            page.write(body)
    click.echo(f"   determination: {pack.determination.conclusion.upper()}")
    click.echo(f"   open {evidence / 'report.html'} in a browser (or print it)")


def _new_folder(first: Path) -> Path:
    """FIRST, or FIRST-2, FIRST-3, ...: the first that does not exist yet, made empty."""
    candidate, number = first, 1
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            number += 1
            candidate = first.with_name(f"{first.name}-{number}")
