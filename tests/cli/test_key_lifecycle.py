"""Rotate, reseal, affected and reshare, each recorded with
approvers and reason; a resealed vault opens with the new shares and not the old ones."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Workspace
from tests.support.files import share_args


def _vault(ws: Workspace, root: Path, name: str, env: dict[str, str] | None = None) -> str:
    drive = root / name
    drive.mkdir()
    created = ws.cli("create", drive, "--label", name, "--json", check=True, extra_env=env)
    src = root / f"{name}.txt"
    src.write_text(f"contents of {name}\n")
    ws.cli("add", drive, src, check=True)
    return str(json.loads(created.stdout)["vault_id"])


def _affected(ws: Workspace, key_id: str, state: str = "in_force") -> set[str]:
    """Vaults `escrow affected` lists for KEY_ID whose package for it is in STATE."""
    listed = json.loads(ws.cli("escrow", "affected", key_id, "--json", check=True).stdout)
    return {row["vault_id"] for row in listed if row["package_state"] == state}


def test_rotate_reseal_affected_reshare(ws: Workspace, tmp_path: Path) -> None:
    old_key = ws.org.escrow_keys[0].key_id
    v1 = _vault(ws, tmp_path, "v1")
    v2 = _vault(ws, tmp_path, "v2")
    assert _affected(ws, old_key) == {v1, v2}

    refused = ws.cli(
        "org", "rotate", "--out", tmp_path / "rot", *share_args(ws.home, "alice"), passphrase=False
    )
    assert refused.returncode == 2  # --reason is required
    lone = ws.cli(
        "org",
        "rotate",
        "--reason",
        "r",
        "--out",
        tmp_path / "rot",
        "--shares-to-disk",
        *share_args(ws.home, "alice"),
        passphrase=False,
    )
    assert lone.returncode == 20  # one admin cannot rotate the org key

    rotated = tmp_path / "rot"
    result = ws.cli(
        "org",
        "rotate",
        "--reason",
        "annual rotation",
        "--out",
        rotated,
        "--shares-to-disk",
        *share_args(ws.home, "alice", "carol"),
        "--json",
        passphrase=False,
        check=True,
    )
    new_key = json.loads(result.stdout)["key_id"]
    assert new_key != old_key
    new_org = {"MEDVAULT_ORG": str(rotated / "org.toml")}
    shown = json.loads(ws.cli("org", "show", "--json", extra_env=new_org, check=True).stdout)
    assert [(k["key_id"]) for k in shown["escrow_keys"]] == [new_key, old_key]

    v3 = _vault(ws, tmp_path, "v3", env=new_org)
    assert _affected(ws, new_key) == {v3}
    ws.cli(
        "escrow",
        "reseal",
        tmp_path / "v1",
        "--reason",
        "after rotation",
        check=True,
        extra_env=new_org,
    )
    assert _affected(ws, old_key) == {v2}
    assert _affected(ws, old_key, "superseded") == {v1}  # still exposed, and said so
    assert _affected(ws, new_key) == {v1, v3}
    info = json.loads(ws.cli("info", tmp_path / "v1", "--json", check=True).stdout)
    assert [e["key_id"] for e in info["escrow"]] == [new_key]

    # The resealed vault opens with the new shares, not the old ones (header or registry).
    def recover(drive: str, folder: Path, *names: str, extra: tuple[str, ...] = ()) -> int:
        out = tmp_path / f"out-{drive}-{folder.name}-{'-'.join(names)}-{len(extra)}"
        return ws.cli(
            "recover",
            tmp_path / drive,
            "--reason",
            "drill",
            "--to",
            out,
            *extra,
            *share_args(folder, *names),
            passphrase=False,
            extra_env=new_org,
        ).returncode

    assert recover("v1", rotated, "bob", "carol") == 0
    assert recover("v1", ws.home, "bob", "carol") == 20
    assert recover("v1", ws.home, "bob", "carol", extra=("--from-registry",)) == 20
    assert recover("v2", ws.home, "alice", "bob") == 0  # not resealed yet: old shares still work
    assert recover("v3", rotated, "alice", "bob") == 0

    # Reshare the new key to a different admin set; the new shares open v1.
    reshared = tmp_path / "reshared"
    ws.cli(
        "org",
        "reshare",
        "--reason",
        "bob left",
        "--admin",
        "dave",
        "--admin",
        "erin",
        "--admin",
        "frank",
        "--threshold",
        "2",
        "--out",
        reshared,
        "--shares-to-disk",
        *share_args(rotated, "alice", "bob"),
        passphrase=False,
        extra_env=new_org,
        check=True,
    )
    new_org["MEDVAULT_ORG"] = str(reshared / "org.toml")
    assert recover("v1", reshared, "dave", "frank") == 0

    events = {s.event.action: s.event.details for s in ws.registry().events()}
    assert events["rotate"]["approvers"] == ["alice", "carol"]
    assert events["rotate"]["reason"] == "annual rotation"
    assert events["rotate"]["retired_key_ids"] == [old_key]
    assert events["reseal"]["reason"] == "after rotation"
    assert events["reseal"]["key_ids_before"] == [old_key]
    assert events["reseal"]["key_ids_after"] == [new_key]
    assert events["reshare"]["approvers"] == ["alice", "bob"]
    assert events["reshare"]["admins"] == ["dave", "erin", "frank"]
    assert events["recover"]["approvers"] == ["dave", "frank"]
    assert ws.registry().verify_chain() is None
