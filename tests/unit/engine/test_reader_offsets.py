"""Entries are found by their own authenticated headers when the index's offsets are wrong
but the entries are intact.

The index (authentic, but wrong: a writer's bug) places entries a few bytes off, or at
another entry. extract walks that pack's headers and reads each entry where it is; verify
names the misplaced entries (no damage: exit 24) and repair rewrites the index. Nothing
extra is read when the offsets are right, and real damage is still damage.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from medvault.engine import entry_reading
from medvault.engine.catalog import load_catalog
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.store.journal import read_journal, rewrite_journal
from medvault.vault import reading
from medvault.vault.env import Env
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace

BIG = 1024 * 1024 + 4097  # over entry_reading.HASH_ON_WORKER and LAND_IN_MEMORY: the streamed path
SMALL = {f"src/s{i}.txt": f"small file {i}\n".encode() for i in range(4)}


def _unlocked(drive: Path) -> UnlockedVault:
    return unlock(open_headers(drive), to_secret(PASSPHRASE))


def _vault(ws: Workspace, tmp_path: Path, drive: Path) -> dict[str, bytes]:
    ws.create_fast(drive)
    files = {**SMALL, "src/big.bin": os.urandom(BIG)}
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_bytes(data)
    ws.cli("add", drive, tmp_path / "src", check=True)
    return files


def _edit_index(drive: Path, edit: Any) -> None:
    """Rewrite the (authentic) index with EDIT(entries by path) applied to its records."""
    vault = _unlocked(drive)
    records = read_journal(vault.paths, vault.keys).records
    by_path = {e["path"]: e for r in records if r["op"] == "add" for e in r["entries"]}
    edit(by_path)
    key = vault.keys.index()
    rewrite_journal(vault.paths, key, vault.vault_id, records)


def _off_by_some_bytes_and_swapped(by_path: dict[str, dict[str, Any]]) -> None:
    by_path["src/s0.txt"]["off"] += 7
    by_path["src/big.bin"]["off"] += 3
    one, two = by_path["src/s1.txt"], by_path["src/s2.txt"]
    for field in ("off", "hlen", "plen"):
        one[field], two[field] = two[field], one[field]


def _extracts_whole(ws: Workspace, drive: Path, out: Path, files: dict[str, bytes]) -> None:
    result = ws.cli("extract", drive, "--to", out)
    assert result.returncode == 0, result.stdout + result.stderr
    for path, data in files.items():
        assert (out / path).read_bytes() == data, path


def test_extract_finds_entries_by_their_headers_when_offsets_are_wrong(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    files = _vault(ws, tmp_path, drive)
    _edit_index(drive, _off_by_some_bytes_and_swapped)
    _extracts_whole(ws, drive, tmp_path / "out", files)


def test_verify_names_misplaced_entries_and_repair_rewrites_the_index(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    files = _vault(ws, tmp_path, drive)
    _edit_index(drive, _off_by_some_bytes_and_swapped)
    result = ws.cli("verify", drive)
    assert result.returncode == 24, result.stdout + result.stderr
    misplaced = sorted(
        line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("MISPLACED")
    )
    assert misplaced == [
        f"MISPLACED in the index {p}"
        for p in ("src/big.bin", "src/s0.txt", "src/s1.txt", "src/s2.txt")
    ]
    assert "DAMAGED" not in result.stdout
    assert f"{len(files)} file(s)" in result.stdout

    repaired = ws.cli("repair", drive, check=True)
    assert "rebuilt the index from the objects" in repaired.stdout
    assert ws.cli("verify", drive).returncode == 0
    vault = _unlocked(drive)
    indexed, walked = load_catalog(vault), load_catalog(vault, use_index=False)
    assert indexed.located == walked.located
    _extracts_whole(ws, drive, tmp_path / "out", files)


def test_a_damaged_entry_is_still_damage_not_found_elsewhere(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    _vault(ws, tmp_path, drive)
    _edit_index(drive, _off_by_some_bytes_and_swapped)
    vault = _unlocked(drive)
    s3 = next(x for x in load_catalog(vault).live() if x.path == "src/s3.txt")
    (pack,) = (drive / "MEDVAULT" / "objects").rglob(f"{s3.pack}.mvo")
    data = bytearray(pack.read_bytes())
    data[56 + s3.offset + s3.header_len + 60] ^= 1  # a payload byte of s3 (offset right)
    pack.write_bytes(bytes(data))
    result = ws.cli("extract", drive, "--to", tmp_path / "out")
    assert result.returncode == 6, result.stdout + result.stderr
    assert "src/s3.txt" in result.stderr
    assert (tmp_path / "out" / "src" / "s0.txt").read_bytes() == SMALL["src/s0.txt"]
    verified = ws.cli("verify", drive)
    assert verified.returncode == 19
    assert "DAMAGED src/s3.txt" in verified.stdout


def test_right_offsets_read_nothing_extra(ws: Workspace, tmp_path: Path, drive: Path) -> None:
    """The common path: no pack is walked when every offset is right."""
    files = _vault(ws, tmp_path, drive)
    entry_reading.WALKED_PACKS.clear()
    result = reading.extract(
        _unlocked(drive), [], tmp_path / "out", False, ws.registry(),
        Env(kdf=FAST_KDF, warn=lambda _m: None),
    )  # fmt: skip
    assert len(result.written) == len(files) and not result.failed
    assert entry_reading.WALKED_PACKS == {}
