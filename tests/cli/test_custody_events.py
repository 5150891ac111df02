"""Invariant 5 (the part in this release): every custody-relevant act writes a hash-chained
registry event with who, when, which host and vault, and counts/digests but never PHI."""

from __future__ import annotations

import getpass
import json
import socket
from pathlib import Path

from tests.conftest import Workspace
from tests.support.chain import assert_chain_breaks_at

SECRET_NAME = "Jane-Doe-MRN-4411"


def test_events_for_every_act(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    src = tmp_path / SECRET_NAME
    src.mkdir()
    (src / f"{SECRET_NAME}.csv").write_text(f"{SECRET_NAME},positive\n")
    new_pass = tmp_path / "new.txt"
    new_pass.write_text("another long passphrase here\n")
    created = json.loads(ws.cli("create", drive, "--json", check=True).stdout)
    ws.cli("add", drive, src, check=True)
    ws.cli("extract", drive, "--to", tmp_path / "out", check=True)
    ws.cli("passwd", drive, "--new-passphrase-file", new_pass, check=True)
    env = {"MEDVAULT_PASSPHRASE_FILE": str(new_pass)}
    ws.cli("rm", drive, SECRET_NAME, check=True, extra_env=env)
    ws.cli("compact", drive, check=True, extra_env=env)
    ws.cli("repair", drive, check=True, extra_env=env)

    registry = ws.registry()
    stored = registry.events(created["vault_id"])
    events = [s.event for s in stored]
    actions = [e.action for e in events]
    assert actions == ["create", "add", "extract", "passwd", "rm", "compact", "repair"]
    for event in events:
        assert event.actor.user == getpass.getuser()
        assert event.actor.host == socket.gethostname()
        assert event.at.endswith("Z")
        assert SECRET_NAME not in json.dumps(event.details)
    assert all(s.via == "direct" for s in stored)
    add = events[1].details
    assert add["files"] == 1
    assert add["bytes"] == len(f"{SECRET_NAME},positive\n")
    assert registry.verify_chain() is None
    packages = registry.key_packages(created["vault_id"])
    assert [p.key_id for p in packages] == created["escrow_key_ids"]
    assert registry.vault_status(created["vault_id"]) == "active"


def test_editing_an_event_breaks_the_chain(ws: Workspace, drive: Path) -> None:
    ws.cli("create", drive, check=True)
    registry = ws.registry()
    assert registry.verify_chain() is None
    with registry.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET actor = 'mallory' WHERE seq = 1")
    assert_chain_breaks_at(registry, 1)


def test_add_and_extract_of_the_same_files_record_the_same_digest(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """sha256_of_digests has one definition (custody.digest_of_digests): SHA-256 of the
    files' SHA-256s in hex, sorted and concatenated, so a privacy officer can match the
    extract of a set of files to the add that stored them."""
    import hashlib

    src = tmp_path / "batch"
    src.mkdir()
    contents = [f"row {n}\n".encode() * (n + 1) for n in range(3)]
    for n, data in enumerate(contents):
        (src / f"{n}.csv").write_bytes(data)
    created = json.loads(ws.cli("create", drive, "--json", check=True).stdout)
    ws.cli("add", drive, src, check=True)
    ws.cli("extract", drive, "--to", tmp_path / "out", check=True)
    events = {e.event.action: e.event.details for e in ws.registry().events(created["vault_id"])}
    expected = hashlib.sha256(
        "".join(sorted(hashlib.sha256(d).hexdigest() for d in contents)).encode()
    ).hexdigest()
    assert events["add"]["sha256_of_digests"] == expected
    assert events["extract"]["sha256_of_digests"] == expected
