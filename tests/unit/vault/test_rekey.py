"""Revocation re-keys. After `incident key-compromised KEY` and
`escrow reseal`, the old shares (and the old vault key they open) open neither the drive's
headers, entries, index or custody log, nor any registry row; the new shares do; every file
extracts byte-identical. A re-key stopped at any point is finished by running it again, and
the vault stays readable meanwhile. After a plain rotation, what the old shares can still
open is exactly what docs/ADMIN.md says.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from medvault.crypto.key_schedule import VaultKeys
from medvault.engine.session import open_headers, unlock
from medvault.errors import MedvaultError
from medvault.format import entry as efmt
from medvault.keys import header_auth
from medvault.keys.passphrase import to_secret
from medvault.secret import Secret, VaultKey
from medvault.store import drive_log, io_points, redo
from medvault.store.entries import open_header
from medvault.store.journal import read_journal
from medvault.store.layout import locate
from medvault.store.packs import PackReader, list_packs
from medvault.vault.env import Env
from medvault.vault.escrow_ops import reseal
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.escrow import escrow_from_shares

FILES = {
    "labs/a.csv": b"mrn,result\n12345678,positive\n",
    "labs/b.csv": b"mrn,result\n87654321,negative\n" * 40,
    "scans/big.bin": hashlib.sha256(b"big").digest() * 9000,  # 288,000 bytes: several parts
    "empty.txt": b"",
}


def _share_args(shares: list[Path]) -> list[str]:
    return [arg for share in shares for arg in ("--share", str(share))]


def _make_vault(ws: Workspace, tmp_path: Path) -> tuple[Path, str, dict[str, object]]:
    drive = tmp_path / "usb"
    drive.mkdir()
    src = tmp_path / "src"
    for name, data in FILES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    created = json.loads(
        ws.cli(
            "create", drive, "--recovery-code", "--part-size", "65536", "--json", check=True
        ).stdout
    )
    for item in sorted(src.iterdir()):
        ws.cli("add", drive, item, check=True)
    return drive, created["vault_id"], created


def _old_key_opens(drive: Path, vmk: Secret) -> list[str]:
    """Everything on the drive that VMK (the vault key before the re-key) still opens."""
    paths = locate(drive)
    copies = open_headers(drive)
    vault_id = copies.any.header.vault_id
    opened = [
        f"header {n}"
        for n, p in copies.parsed.items()
        if header_auth.is_authentic(VaultKeys(vmk, vault_id), p)
    ]
    any_epoch = VaultKey(vmk.reveal(), epoch=None)
    for name in list_packs(paths):
        with PackReader(paths, vault_id, name, copies.any.header.body.part_size) as reader:
            offset, size = 0, reader.logical_size()
            while offset < size:
                hlen = efmt.peek_header_len(reader.read(offset, 12))
                data = reader.read(offset, hlen)
                try:
                    open_header(VaultKeys(any_epoch, vault_id), data)
                    opened.append(f"entry at {name}+{offset}")
                except MedvaultError:
                    pass
                offset += hlen + efmt.decode(data).header.payload_len
    journal = read_journal(paths, VaultKeys(vmk, vault_id))
    if journal.records:
        opened.append(f"{len(journal.records)} index record(s)")
    log = drive_log.read_all(paths, VaultKeys(vmk, vault_id))
    if log.events:
        opened.append(f"{len(log.events)} custody log entr(ies)")
    return opened


def _registry_rows(ws: Workspace, vault_id: str) -> list[tuple[str, bytes]]:
    with sqlite3.connect(ws.home / "registry.sqlite") as db:
        rows = db.execute(
            "SELECT key_id, sealed FROM key_packages WHERE vault_id = ?", (vault_id,)
        ).fetchall()
    return [(key_id, bytes(sealed)) for key_id, sealed in rows]


def _rotate(ws: Workspace, tmp_path: Path) -> tuple[Path, list[Path], dict[str, str]]:
    org2 = tmp_path / "org-2"
    old_shares = [ws.home / "shares" / f"{n}.txt" for n in ("alice", "bob")]
    ws.cli(
        "org", "rotate", "--reason", "compromise", "--out", org2, "--shares-to-disk",
        *_share_args(old_shares), passphrase=False, check=True,
    )  # fmt: skip
    return (
        org2,
        [org2 / "shares" / f"{n}.txt" for n in ("alice", "bob")],
        {"MEDVAULT_ORG": str(org2 / "org.toml")},
    )


def test_compromise_reseal_rekeys_and_old_shares_open_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    drive, vault_id, created = _make_vault(ws, tmp_path)
    old_key_id = ws.org.escrow_keys[0].key_id
    old_shares = [ws.home / "shares" / f"{n}.txt" for n in ("alice", "bob")]
    old_escrow = escrow_from_shares(ws.org_created.config_path, old_shares)
    header = open_headers(drive).any.header
    old_vmk = old_escrow.open(header.body.escrow[0].sealed, bytes.fromhex(vault_id))
    assert len(_old_key_opens(drive, old_vmk)) >= 2 + len(FILES)  # the check can see

    copy = tmp_path / "copy-made-before"
    shutil.copytree(drive, copy)
    ws.cli("incident", "key-compromised", old_key_id, "--reason", "INC-1", check=True)
    _org2, new_shares, new_org = _rotate(ws, tmp_path)
    result = ws.cli("escrow", "reseal", drive, "--reason", "INC-1", "--json", extra_env=new_org)
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout)
    assert done["rekeyed"] is True
    assert done["compromised"] == [old_key_id]
    assert done["entries_rewrapped"] == len(FILES)
    assert done["key_epoch"] == 2
    assert done["recovery_code"] and done["recovery_code"] != created["recovery_code"]

    notice = (drive / "MEDVAULT" / "README-MEDVAULT.txt").read_text()
    assert done["key_ids_after"][0] in notice and old_key_id not in notice

    # The old key and the old shares: nothing on the drive, nothing in the registry.
    assert _old_key_opens(drive, old_vmk) == []
    assert len(_old_key_opens(copy, old_vmk)) >= 2 + len(FILES)  # a copy keeps what it held
    for name, parsed in open_headers(drive).parsed.items():
        assert parsed.header.body.previous == (), name
        for slot in parsed.header.body.escrow:
            assert slot.key_id != old_key_id
            with pytest.raises(MedvaultError):
                old_escrow.open(slot.sealed, bytes.fromhex(vault_id))
    rows = _registry_rows(ws, vault_id)
    assert {k for k, _ in rows} == {old_key_id, done["key_ids_after"][0]}
    assert all(sealed == b"" for key_id, sealed in rows if key_id == old_key_id)
    for _key_id, sealed in rows:
        if sealed:
            with pytest.raises(MedvaultError):
                old_escrow.open(sealed, bytes.fromhex(vault_id))
    old_recover = ws.cli(
        "recover", drive, "--reason", "t", "--to", tmp_path / "old", *_share_args(old_shares),
        passphrase=False,
    )  # fmt: skip
    assert old_recover.returncode != 0
    old_code = tmp_path / "old-code.txt"
    old_code.write_text(created["recovery_code"] + "\n")
    assert ws.cli("ls", drive, "--recovery-code-file", old_code, passphrase=False).returncode == 3

    # The new shares, the passphrase and the new recovery code open it; files unchanged.
    new_recover = ws.cli(
        "recover", drive, "--reason", "t", "--to", tmp_path / "new", *_share_args(new_shares),
        passphrase=False, extra_env=new_org,
    )  # fmt: skip
    assert new_recover.returncode == 0, new_recover.stderr
    ws.cli("extract", drive, "--to", tmp_path / "out", check=True)
    for name, data in FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == data, name
        assert (tmp_path / "new" / name).read_bytes() == data, name
    new_code = tmp_path / "new-code.txt"
    new_code.write_text(done["recovery_code"] + "\n")
    assert ws.cli("ls", drive, "--recovery-code-file", new_code, passphrase=False).returncode == 0
    assert ws.cli("verify", drive).returncode == 0
    # Nothing is left to do: a second reseal is a plain one.
    again = json.loads(ws.cli("escrow", "reseal", drive, "--reason", "again", "--json",
                              extra_env=new_org, check=True).stdout)  # fmt: skip
    assert again["rekeyed"] is False


def test_reseal_refuses_to_seal_to_a_compromised_key(ws: Workspace, tmp_path: Path) -> None:
    drive, _vault_id, _ = _make_vault(ws, tmp_path)
    ws.cli("incident", "key-compromised", ws.org.escrow_keys[0].key_id, "--reason", "x",
           check=True)  # fmt: skip
    refused = ws.cli("escrow", "reseal", drive, "--reason", "no rotation first")
    assert refused.returncode == 20, refused.stderr
    assert "flagged compromised" in refused.stderr
    assert "org rotate" in refused.stderr


def test_plain_rotation_what_old_shares_still_open(ws: Workspace, tmp_path: Path) -> None:
    """docs/ADMIN.md section 6: after a reseal without --rekey, the old shares open no
    header copy and no registry row; a vault key someone recovered with them BEFORE the
    reseal still opens the files, because the vault key did not change."""
    drive, vault_id, _ = _make_vault(ws, tmp_path)
    old_shares = [ws.home / "shares" / f"{n}.txt" for n in ("alice", "bob")]
    old_escrow = escrow_from_shares(ws.org_created.config_path, old_shares)
    old_vmk = old_escrow.open(open_headers(drive).any.header.body.escrow[0].sealed,
                              bytes.fromhex(vault_id))  # fmt: skip
    _org2, _new, new_org = _rotate(ws, tmp_path)
    done = json.loads(ws.cli("escrow", "reseal", drive, "--reason", "annual", "--json",
                             extra_env=new_org, check=True).stdout)  # fmt: skip
    assert done["rekeyed"] is False
    notice = (drive / "MEDVAULT" / "README-MEDVAULT.txt").read_text()
    assert f"Escrow key id:   {done['key_ids_after'][0]}" in notice
    for parsed in open_headers(drive).parsed.values():
        for slot in parsed.header.body.escrow:
            with pytest.raises(MedvaultError):
                old_escrow.open(slot.sealed, bytes.fromhex(vault_id))
    for _key_id, sealed in _registry_rows(ws, vault_id):
        if sealed:
            with pytest.raises(MedvaultError):
                old_escrow.open(sealed, bytes.fromhex(vault_id))
    assert any(sealed == b"" for _k, sealed in _registry_rows(ws, vault_id))
    # ... but the vault key recovered before the reseal still opens every entry.
    opened = _old_key_opens(drive, old_vmk)
    assert sum(item.startswith("entry") for item in opened) == len(FILES)


def _stop_at(kind: str, nth: int) -> io_points.Observer:
    seen = [0]

    def observer(point: str, path: Path, source: Path | None) -> None:
        if point == kind and "objects" in str(path):
            seen[0] += 1
            if seen[0] == nth:
                raise OSError(5, "the drive went away")

    return observer


def test_interrupted_rekey_stays_readable_and_finishes_when_run_again(
    ws: Workspace, tmp_path: Path
) -> None:
    drive, _vault_id, _ = _make_vault(ws, tmp_path)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    registry = ws.registry()
    env = Env(kdf=FAST_KDF)
    with io_points.observed(_stop_at(io_points.WRITE, 2)), pytest.raises(MedvaultError):
        reseal(vault, ws.org, registry, env, "t", passphrase=to_secret(PASSPHRASE),
               rekey_requested=True)  # fmt: skip
    # Stopped inside the entries: the header holds the old key too, some entries are
    # re-wrapped, some not; a redo record may be pending. Everything reads.
    header = open_headers(drive).any.header
    assert header.body.key_epoch == 2 and header.body.previous
    epochs = set()
    paths = locate(drive)
    for name in list_packs(paths):
        with PackReader(paths, header.vault_id, name, header.body.part_size) as reader:
            epochs.add(efmt.decode(reader.read(0, efmt.peek_header_len(reader.read(0, 12))))
                       .header.key_epoch)  # fmt: skip
    assert epochs == {1, 2}, epochs
    ws.cli("extract", drive, "--to", tmp_path / "mid", check=True)
    for name, data in FILES.items():
        assert (tmp_path / "mid" / name).read_bytes() == data, name
    assert ws.cli("verify", drive).returncode == 0
    # Adding meanwhile is fine: new entries get the new epoch.
    (tmp_path / "late.txt").write_text("added during the re-key\n")
    ws.cli("add", drive, tmp_path / "late.txt", check=True)

    finished = ws.cli("escrow", "reseal", drive, "--reason", "finish", "--json", check=True)
    result = json.loads(finished.stdout)
    assert result["rekeyed"] is True and result["key_epoch"] == 2
    header = open_headers(drive).any.header
    assert header.body.previous == ()
    assert not redo.record_path(paths).exists()
    ws.cli("extract", drive, "--to", tmp_path / "after", check=True)
    assert (tmp_path / "after" / "late.txt").read_text() == "added during the re-key\n"
    assert ws.cli("verify", drive).returncode == 0


def test_a_planted_redo_record_is_ignored(ws: Workspace, tmp_path: Path) -> None:
    """The redo record is authenticated under the vault key: one made without it (here: a
    record whose MAC is wrong, naming a pack's first bytes) is never applied."""
    drive, _vault_id, _ = _make_vault(ws, tmp_path)
    paths = locate(drive)
    name = list_packs(paths)[0]
    part = paths.pack_dir(name) / f"{name}.mvo"
    before = part.read_bytes()
    forged = redo.encode(
        VaultKeys(Secret(bytes(32)), open_headers(drive).any.header.vault_id),
        [redo.Patch(part.relative_to(paths.root).as_posix(), 0, b"X" * 64)],
    )
    redo.record_path(paths).write_bytes(forged)  # fmt: skip
    ws.cli("escrow", "reseal", drive, "--reason", "t", "--rekey", check=True)
    assert part.read_bytes()[:64] != b"X" * 64
    assert len(part.read_bytes()) == len(before)
    assert ws.cli("verify", drive).returncode == 0
