"""A vault can carry key packages for several escrow keys (primary and backup org keys),
and the shares of either key recover it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from medvault.config import load_org, render_org_toml
from medvault.crypto.escrow import EscrowSuite
from tests.conftest import Workspace, make_workspace


def test_primary_and_backup_keys(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    backup = make_workspace(tmp_path / "backup-org", EscrowSuite.P384)
    primary = load_org(ws.org_created.config_path)
    combined = dataclasses.replace(
        primary,
        escrow_keys=(*primary.escrow_keys, *load_org(backup.org_created.config_path).escrow_keys),
    )
    (ws.home / "org.toml").write_text(render_org_toml(combined))
    ws.cli("create", drive, check=True)
    src = tmp_path / "f.txt"
    src.write_text("two keys\n")
    ws.cli("add", drive, src, check=True)
    info = json.loads(ws.cli("info", drive, "--json", check=True).stdout)
    assert [e["key_id"] for e in info["escrow"]] == [k.key_id for k in combined.escrow_keys]
    assert [e["suite"] for e in info["escrow"]] == ["mlkem768-x25519", "p384"]
    for home in (ws.home, backup.home):
        out = tmp_path / f"out-{home.parent.name}"
        shares = home / "shares"
        result = ws.cli(
            "recover",
            drive,
            "--reason",
            "backup key drill",
            "--to",
            out,
            "--share",
            shares / "alice.txt",
            "--share",
            shares / "carol.txt",
            passphrase=False,
        )
        assert result.returncode == 0, result.stderr
        assert (out / "f.txt").read_text() == "two keys\n"
