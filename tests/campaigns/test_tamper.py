"""Objects copied in from another vault, truncated objects and parts swapped between two
files are rejected, and the CLI names the damage. Every single-byte change and every
truncation of every file of a vault (headers, index, packs, parts, log) is the tamper
matrix's job: tests/campaigns/test_tamper_matrix.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medvault.crypto.escrow import EscrowSuite
from medvault.engine.catalog import load_catalog
from medvault.engine.session import open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.vault.verify import verify
from tests.conftest import PASSPHRASE, Workspace, make_workspace
from tests.support.small_vault import PRELUDE, extract_and_check, small_vault


@pytest.fixture(scope="module")
def p384_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    # P-384 escrow keeps the header small, so flipping every one of its bytes stays quick.
    return make_workspace(tmp_path_factory.mktemp("ws"), EscrowSuite.P384)


def _flip(path: Path, offset: int) -> bytes:
    original = path.read_bytes()
    path.write_bytes(original[:offset] + bytes([original[offset] ^ 0x01]) + original[offset + 1 :])
    return original


def test_object_from_another_vault_is_rejected(p384_ws: Workspace, tmp_path: Path) -> None:
    a = small_vault(tmp_path, p384_ws, "a")
    b = small_vault(tmp_path, p384_ws, "b")
    foreign = b.pack_file()
    target = a.root / "objects" / foreign.parent.name
    target.mkdir(exist_ok=True)
    shutil.copy(foreign, target / foreign.name)
    report = verify(a.vault)
    assert not report.ok
    assert foreign.stem in report.damaged_packs
    assert not report.damaged
    extract_and_check(a, tmp_path / "out", broken=set())
    # B's entry bytes spliced into A's own pack (same offsets) are rejected too.
    (target / foreign.name).unlink()
    own = a.pack_file()
    loc = a.located["a-src/f0.txt"]
    b_loc = b.located["b-src/f0.txt"]
    b_bytes = foreign.read_bytes()[
        PRELUDE + b_loc.offset : PRELUDE + b_loc.offset + b_loc.header_len + b_loc.payload_len
    ]
    data = own.read_bytes()
    start = PRELUDE + loc.offset
    own.write_bytes(data[:start] + b_bytes + data[start + len(b_bytes) :])
    report = verify(a.vault)
    assert "a-src/f0.txt" in report.damaged


@pytest.mark.parametrize("keep", [0.5, -1])
def test_truncated_object_is_rejected(p384_ws: Workspace, tmp_path: Path, keep: float) -> None:
    sv = small_vault(tmp_path, p384_ws)
    pack = sv.pack_file()
    data = pack.read_bytes()
    cut = len(data) - 1 if keep == -1 else int(len(data) * keep)
    pack.write_bytes(data[:cut])
    broken = {
        p
        for p, loc in sv.located.items()
        if PRELUDE + loc.offset + loc.header_len + loc.payload_len > cut
    }
    assert broken
    report = verify(sv.vault)
    assert not report.ok
    assert broken <= set(report.damaged)
    extract_and_check(sv, tmp_path / "out", broken)


@pytest.mark.parametrize("fix_preludes", [False, True])
def test_part_swapped_between_two_files(
    p384_ws: Workspace, tmp_path: Path, fix_preludes: bool
) -> None:
    part = 64 * 1024
    sv = small_vault(tmp_path, p384_ws, part_size=part, sizes=(1_300_000, 1_250_000))
    first, second = (sv.located[p].pack for p in sorted(sv.located))
    assert first != second  # files over 1 MiB get packs of their own

    def part_path(pack: str, index: int) -> Path:
        return sv.root / "objects" / pack[:2] / f"{pack}.{index:03d}.mvp"

    a, b = part_path(first, 2), part_path(second, 2)
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    if fix_preludes:
        # Give each swapped part the prelude of the part it replaces: only crypto can tell.
        a_bytes, b_bytes = (
            b_bytes[:PRELUDE] + a_bytes[PRELUDE:],
            a_bytes[:PRELUDE] + b_bytes[PRELUDE:],
        )
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    report = verify(sv.vault)
    assert set(report.damaged) == set(sv.files)
    extract_and_check(sv, tmp_path / "out", broken=set(sv.files))


def test_cli_names_damage(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("keep-a.txt", "hurt.txt", "keep-b.txt"):
        (src / name).write_text(name * 50)
    ws.create_fast(drive)
    ws.cli("add", drive, src, check=True)
    listing = {x["path"]: x for x in json.loads(ws.cli("ls", drive, "--json", check=True).stdout)}
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    loc = {x.path: x for x in load_catalog(vault).live()}["src/hurt.txt"]
    pack = drive / "MEDVAULT" / "objects" / loc.pack[:2] / f"{loc.pack}.mvo"
    _flip(pack, PRELUDE + loc.offset + loc.header_len + 60)
    verified = ws.cli("verify", drive)
    assert verified.returncode == 19
    assert "DAMAGED src/hurt.txt" in verified.stdout
    out = tmp_path / "out"
    extracted = ws.cli("extract", drive, "--to", out)
    assert extracted.returncode == 6
    assert "src/hurt.txt" in extracted.stderr
    assert sorted(p.name for p in (out / "src").iterdir()) == ["keep-a.txt", "keep-b.txt"]
    assert set(listing) == {"src/keep-a.txt", "src/hurt.txt", "src/keep-b.txt"}
