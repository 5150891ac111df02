"""Whole entries of the same vault moved on the drive: two equal-size entries swapped
inside one pack, and an entry copied from one pack over an equal-length entry of another.

Every moved entry still authenticates (its header is bound to the vault and its own file
id, not to a place), so only the reader's check that the entry it finds is the file the
index names (vault/reading.py, stream_entry) stops B's contents landing as a.txt. What
is right: a file either extracts with its own contents (medvault found its entry by its
authenticated header elsewhere in its pack) or is reported damaged; never swapped. verify
never says ok with an entry out of place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from medvault.crypto.escrow import EscrowSuite
from medvault.engine.catalog import Located, load_catalog
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.registry.sql import Registry
from medvault.vault.add import add_files
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from medvault.vault.reading import extract
from medvault.vault.verify import verify
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace, make_workspace

PRELUDE = 56  # pack part prelude (FORMAT.md): entry offsets count from its end
SIZE = 400  # every file the same size, so that their entries are the same length
MTIME_NS = 1_700_000_000_000_000_000


@dataclass
class Drive:
    drive: Path
    vault: UnlockedVault
    files: dict[str, bytes]  # stored path -> plaintext
    registry: Registry
    env: Env

    def located(self) -> dict[str, Located]:
        return {loc.path: loc for loc in load_catalog(self.vault).live()}

    def pack_file(self, pack: str) -> Path:
        return self.drive / "MEDVAULT" / "objects" / pack[:2] / f"{pack}.mvo"

    def entry_bytes(self, loc: Located) -> bytes:
        start = PRELUDE + loc.offset
        return self.pack_file(loc.pack).read_bytes()[start : start + _length(loc)]

    def put_entry(self, at: Located, entry: bytes) -> None:
        """ENTRY's bytes written over the entry at AT (same length)."""
        assert len(entry) == _length(at)
        path = self.pack_file(at.pack)
        data = path.read_bytes()
        start = PRELUDE + at.offset
        path.write_bytes(data[:start] + entry + data[start + len(entry) :])


def _length(loc: Located) -> int:
    return loc.header_len + loc.payload_len


@pytest.fixture(scope="module")
def p384_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    # P-384 escrow: a small header, a quick vault.
    return make_workspace(tmp_path_factory.mktemp("ws"), EscrowSuite.P384)


def _drive(
    root: Path, ws: Workspace, batches: list[list[str]], registry: Registry | None = None
) -> Drive:
    """A vault with each batch of names added by one add (one pack per batch); every file
    SIZE bytes, distinct contents, the same mtime, names of the same length. REGISTRY: the
    workspace's, for a vault the CLI then opens."""
    drive = root / "drive"
    drive.mkdir()
    registry = registry or Registry("sqlite://")
    env = Env(kdf=FAST_KDF)
    create_vault(drive, "", to_secret(PASSPHRASE), ws.org, registry, env, part_size=1 << 30)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    files = {}
    for number, names in enumerate(batches):
        src = root / f"src{number}"
        src.mkdir()
        for name in names:
            data = name.encode() * (SIZE // len(name)) + b"x" * (SIZE % len(name))
            (src / name).write_bytes(data)
            os.utime(src / name, ns=(MTIME_NS, MTIME_NS))
            files[f"src{number}/{name}"] = data
        add_files(vault, [src], False, registry, env)
    return Drive(drive, vault, files, registry, env)


def _extract_never_swapped(d: Drive, out: Path) -> set[str]:
    """Extract everything; every file written holds its own contents. Returns the failed."""
    result = extract(d.vault, [], out, False, d.registry, d.env)
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for path in written:
        assert (out / path).read_bytes() == d.files[path], f"{path} holds another file"
    assert written | set(result.failed) == set(d.files)
    return set(result.failed)


def test_two_entries_swapped_inside_one_pack(p384_ws: Workspace, tmp_path: Path) -> None:
    d = _drive(tmp_path, p384_ws, [["a.txt", "b.txt", "c.txt"]])
    at = d.located()
    a, b = at["src0/a.txt"], at["src0/b.txt"]
    assert a.pack == b.pack and _length(a) == _length(b)
    a_bytes, b_bytes = d.entry_bytes(a), d.entry_bytes(b)
    d.put_entry(a, b_bytes)
    d.put_entry(b, a_bytes)

    # Each entry is found by its own authenticated header, at the other's offset: both
    # extract with their own contents, and verify names them as work for repair.
    assert _extract_never_swapped(d, tmp_path / "out") == set()
    report = verify(d.vault)
    assert not report.ok
    assert report.damage_free and report.needs_repair
    assert set(report.misplaced) == {"src0/a.txt", "src0/b.txt"}


def _copy_a_over_b(root: Path, ws: Workspace, registry: Registry | None = None) -> Drive:
    """src0/a.txt's entry (pack 1) copied over src1/b.txt's (pack 2)."""
    d = _drive(root, ws, [["a.txt", "c.txt"], ["b.txt", "d.txt"]], registry)
    at = d.located()
    a, b = at["src0/a.txt"], at["src1/b.txt"]
    assert a.pack != b.pack and _length(a) == _length(b)
    d.put_entry(b, d.entry_bytes(a))
    return d


def test_entry_copied_over_an_entry_of_another_pack(p384_ws: Workspace, tmp_path: Path) -> None:
    d = _copy_a_over_b(tmp_path, p384_ws)
    # b.txt's entry is gone from the drive: it cannot be extracted, only reported.
    assert _extract_never_swapped(d, tmp_path / "out") == {"src1/b.txt"}
    report = verify(d.vault)
    assert not report.ok
    assert report.damaged == {"src1/b.txt": "object is not the file the index names"}
    assert report.files_ok == len(d.files) - 1


def test_cli_reports_an_entry_of_another_pack_as_damage(p384_ws: Workspace, tmp_path: Path) -> None:
    """What a user sees: extract exits 6 naming b.txt and writes the others; verify 19."""
    registry = p384_ws.registry()
    try:
        d = _copy_a_over_b(tmp_path, p384_ws, registry)
    finally:
        registry.close()
    out = tmp_path / "out"
    extracted = p384_ws.cli("extract", d.drive, "--to", out)
    assert extracted.returncode == 6, extracted.stderr
    assert "src1/b.txt" in extracted.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["src0/a.txt", "src0/c.txt", "src1/d.txt"]
    for path in written:
        assert (out / path).read_bytes() == d.files[path]
    verified = p384_ws.cli("verify", d.drive)
    assert verified.returncode == 19, verified.stdout
    assert "DAMAGED src1/b.txt" in verified.stdout
