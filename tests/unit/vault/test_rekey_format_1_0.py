"""A re-key of a format 1.0 vault (tests/data/vault-1.0), in this process: every entry
keeps format 1.0 (suite 1, its length and payload) while its file key is wrapped again
under the new epoch, with a new metadata nonce and a header MAC that holds; the old
headers' wrapped keys no longer open under the new vault key; every file reads back the
same bytes. The format 1.1 re-key: tests/unit/vault/test_rekey.py."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from medvault.engine.session import open_headers, unlock
from medvault.errors import IntegrityError
from medvault.format import entry as entry_fmt
from medvault.keys.passphrase import to_secret
from medvault.registry.sql import Registry
from medvault.store.entries import open_header
from medvault.vault.env import Env
from medvault.vault.escrow_ops import reseal
from medvault.vault.reading import extract
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.drive_entries import pack_stream
from tests.support.paths import TESTS_DIR

DATA = TESTS_DIR / "data" / "vault-1.0"
EXPECTED: dict[str, str] = json.loads((DATA / "expected.json").read_text())


def _headers(drive: Path) -> dict[bytes, tuple[entry_fmt.EntryHeader, bytes]]:
    """Each entry's header and its bytes, by file id, walked from the packs."""
    found: dict[bytes, tuple[entry_fmt.EntryHeader, bytes]] = {}
    for first_part in sorted((drive / "MEDVAULT" / "objects").rglob("*.mvo")):
        data = pack_stream(first_part)
        offset = 0
        while offset < len(data):
            length = entry_fmt.peek_header_len(data[offset : offset + 12])
            raw = data[offset : offset + length]
            header = entry_fmt.decode(raw).header
            found[header.file_id] = (header, raw)
            offset += length + header.payload_len
    return found


def test_a_format_1_0_vault_is_rekeyed_in_format_1_0(ws: Workspace, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    shutil.copytree(DATA / "MEDVAULT", drive / "MEDVAULT")
    before = _headers(drive)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    registry, env = Registry("sqlite://"), Env(kdf=FAST_KDF)
    done = reseal(
        vault, ws.org, registry, env, "test", passphrase=to_secret(PASSPHRASE),
        rekey_requested=True,
    )  # fmt: skip
    assert done.entries_rewrapped == len(before) > 0
    after = _headers(drive)
    assert after.keys() == before.keys()
    rekeyed = unlock(open_headers(drive), to_secret(PASSPHRASE))
    for file_id, (new, raw) in after.items():
        old, old_raw = before[file_id]
        assert new.suite == old.suite == entry_fmt.SUITE_V1
        assert (new.kind, new.vault_id, new.payload_len) == (
            old.kind,
            old.vault_id,
            old.payload_len,
        )
        assert new.key_epoch == old.key_epoch + 1
        assert new.wrapped_fk != old.wrapped_fk and new.meta_nonce != old.meta_nonce
        assert len(raw) == len(old_raw)
        opened = open_header(rekeyed.keys, raw)  # its wrapped key and MAC hold
        assert opened.header == new
        with pytest.raises(IntegrityError):
            open_header(rekeyed.keys, old_raw)  # the old epoch's key is gone
    out = tmp_path / "out"
    result = extract(rekeyed, [], out, False, registry, env)
    assert not result.failed
    got = {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }
    assert got == EXPECTED
