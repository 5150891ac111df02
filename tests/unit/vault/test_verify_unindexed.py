"""verify tells "a pack not yet indexed" from damage (in the new-user
walkthrough's section 2.1, an add stopped between a pack's rename and its index record
made verify say "the vault has damage", exit 19).

Such a pack is complete and authentic, its files are listed and extracted from it
directly; verify names it with what fixes it and exits 24 (repair has work to finish).
Real damage (a tampered or cut pack) stays exit 19.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.format import pack as pfmt
from medvault.keys.passphrase import to_secret
from medvault.store.journal import read_journal, rewrite_journal
from tests.conftest import PASSPHRASE, Workspace


def _unlocked(drive: Path) -> UnlockedVault:
    return unlock(open_headers(drive), to_secret(PASSPHRASE))


def _two_adds(ws: Workspace, tmp_path: Path, drive: Path) -> Path:
    """A vault with two packs; returns the second pack's part 0."""
    ws.create_fast(drive)
    for batch in ("one", "two"):
        src = tmp_path / batch
        src.mkdir()
        for i in range(3):
            (src / f"f{i}.txt").write_bytes(f"{batch} {i}\n".encode())
        before = set((drive / "MEDVAULT" / "objects").rglob("*.mvo"))
        ws.cli("add", drive, src, check=True)
    (second,) = set((drive / "MEDVAULT" / "objects").rglob("*.mvo")) - before
    return second


def _drop_last_index_record(drive: Path, count: int = 1) -> None:
    """What an add stopped after its pack's rename and before its index record leaves."""
    vault = _unlocked(drive)
    records = read_journal(vault.paths, vault.keys).records
    key = vault.keys.index()
    rewrite_journal(vault.paths, key, vault.vault_id, records[:-count])


def test_a_pack_not_yet_indexed_is_named_with_its_fix_and_exit_24(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    pending = _two_adds(ws, tmp_path, drive)
    _drop_last_index_record(drive)
    name = pending.name.removesuffix(".mvo")

    result = ws.cli("verify", drive)
    assert result.returncode == 24, result.stdout + result.stderr
    assert (
        f"pack {name}: not yet indexed: 3 entries written by an interrupted add, rm or "
        "compact; run `medvault repair` to index it"
    ) in result.stdout
    assert f"index: not in the index yet: pack {name} (3 entries)" in result.stdout
    assert "DAMAGED" not in result.stdout and "has damage" not in result.stderr
    assert "6 file(s)" in result.stdout
    assert "no damage" in result.stderr and "medvault repair" in result.stderr

    report = json.loads(ws.cli("verify", drive, "--json").stdout)
    assert report["ok"] is False and report["needs_repair"] is True
    assert list(report["unindexed"]) == [name]
    assert report["damaged"] == {} and report["damaged_packs"] == {}
    assert report["index"].startswith("not in the index yet")

    # Its files are there meanwhile, read from the pack directly.
    assert ws.cli("ls", drive, check=True).stdout.count("two/") == 3
    ws.cli("repair", drive, check=True)
    assert ws.cli("verify", drive).returncode == 0


def test_a_spare_copy_left_by_a_compact_is_not_damage_either(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """A pack holding only copies of entries indexed elsewhere (a compact stopped before
    it deleted the old pack): the same prelude under a new pack id."""
    second = _two_adds(ws, tmp_path, drive)
    new_id = bytes(range(16))
    new_name = pfmt.id_to_name(new_id)
    data = bytearray(second.read_bytes())
    data[24:40] = new_id
    folder = drive / "MEDVAULT" / "objects" / new_name[:2]
    folder.mkdir(exist_ok=True)
    (folder / f"{new_name}.mvo").write_bytes(bytes(data))

    result = ws.cli("verify", drive)
    assert result.returncode == 24, result.stdout + result.stderr
    assert f"pack {new_name}: holds only copies of entries stored elsewhere" in result.stdout
    repaired = ws.cli("repair", drive, check=True)
    # One of the two identical packs goes (the rebuilt index may name either).
    assert repaired.stdout.count("a spare copy left by an interrupted compact") == 1
    assert ws.cli("verify", drive).returncode == 0
    assert ws.cli("ls", drive, check=True).stdout.count("two/") == 3


def test_a_tampered_pack_is_still_damage_exit_19_even_beside_an_unindexed_one(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    second = _two_adds(ws, tmp_path, drive)
    _drop_last_index_record(drive)
    (first,) = set((drive / "MEDVAULT" / "objects").rglob("*.mvo")) - {second}
    data = bytearray(first.read_bytes())
    data[-20] ^= 1  # a payload byte of the first pack's last entry
    first.write_bytes(bytes(data))
    result = ws.cli("verify", drive)
    assert result.returncode == 19, result.stdout + result.stderr
    assert "DAMAGED one/f" in result.stdout
    assert "not yet indexed" in result.stdout  # still said, beside the damage


def test_a_cut_unindexed_pack_is_damage_exit_19(ws: Workspace, tmp_path: Path, drive: Path) -> None:
    """Not indexed and unreadable past its middle: that may be damage, so it is not
    called "not yet indexed"."""
    second = _two_adds(ws, tmp_path, drive)
    _drop_last_index_record(drive)
    data = second.read_bytes()
    second.write_bytes(data[: pfmt.PRELUDE_LEN + 200])
    result = ws.cli("verify", drive)
    assert result.returncode == 19, result.stdout + result.stderr
    assert "is in no index record and cannot be read" in result.stdout
    assert "not yet indexed" not in result.stdout


def _spare_copy(drive: Path, pack: Path) -> Path:
    """PACK's part 0 again under a new pack id: what a compact writes (copies of its
    entries) before the index record that would make them the ones to read."""
    new_name = pfmt.id_to_name(bytes(range(16)))
    data = bytearray(pack.read_bytes())
    data[24:40] = bytes(range(16))
    folder = drive / "MEDVAULT" / "objects" / new_name[:2]
    folder.mkdir(exist_ok=True)
    copy = folder / f"{new_name}.mvo"
    copy.write_bytes(bytes(data))
    return copy


def test_a_spare_copy_cut_short_is_removed_by_repair(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """A compact's copy cut inside its last entry's payload (a yank on fusefat, which can
    lose what sync(2) said was written): damage for verify, but the three entries whose
    headers it still holds are stored elsewhere, so repair deletes it and the vault verifies
    clean."""
    copy = _spare_copy(drive, _two_adds(ws, tmp_path, drive))
    copy.write_bytes(copy.read_bytes()[:-10])
    assert ws.cli("verify", drive).returncode == 19
    repaired = ws.cli("repair", drive, check=True)
    name = copy.name.removesuffix(".mvo")
    assert (
        f"removed pack {name}: cut short; the 3 entries it can be seen to hold are each "
        "stored elsewhere (a copy an interrupted compact was writing)"
    ) in repaired.stdout
    assert not copy.exists()
    assert ws.cli("verify", drive).returncode == 0
    assert ws.cli("ls", drive, check=True).stdout.count("two/") == 3


def test_a_cut_pack_is_kept_when_what_it_shows_is_not_all_elsewhere(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """Cut inside its first entry (nothing readable to match), or an add's pack not yet
    indexed and cut (its entries are nowhere else): repair keeps it and verify names it."""
    second = _two_adds(ws, tmp_path, drive)
    copy = _spare_copy(drive, second)
    copy.write_bytes(copy.read_bytes()[: pfmt.PRELUDE_LEN + 200])
    assert ws.cli("repair", drive).returncode == 19
    assert copy.exists()
    copy.unlink()
    _drop_last_index_record(drive)
    second.write_bytes(second.read_bytes()[:-10])
    ws.cli("repair", drive)
    assert second.exists()
    assert ws.cli("verify", drive).returncode == 19


def _split_pack_out_of_the_index(ws: Workspace, tmp_path: Path, drive: Path) -> Path:
    """A vault of 64 KiB parts whose last add (one file of 200,000 bytes, a pack of four
    parts) lost its index record; returns that pack's part 0."""
    ws.create_fast(drive, part_size=64 * 1024)
    src = tmp_path / "split"
    src.mkdir()
    (src / "scan.bin").write_bytes(os.urandom(200_000))
    before = set((drive / "MEDVAULT" / "objects").rglob("*.mvo"))
    ws.cli("add", drive, src, check=True)
    (part0,) = set((drive / "MEDVAULT" / "objects").rglob("*.mvo")) - before
    assert len(list(part0.parent.glob(part0.name.replace(".mvo", ".*.mvp")))) == 3
    _drop_last_index_record(drive)
    return part0


@pytest.mark.parametrize("kept", [0, pfmt.PRELUDE_LEN], ids=["emptied", "prelude-only"])
def test_a_split_pack_whose_first_part_lost_its_header_is_removed_by_repair(
    ws: Workspace, tmp_path: Path, drive: Path, kept: int
) -> None:
    """fsck truncated part 0 of a pack being written when the drive was pulled (fusefat had
    not written its clusters): the entry header, with the file's wrapped key, is gone, so
    the other parts are ciphertext no one can decrypt; nothing names the pack; repair
    removes every part of it and the vault verifies clean."""
    part0 = _split_pack_out_of_the_index(ws, tmp_path, drive)
    part0.write_bytes(part0.read_bytes()[:kept])
    assert ws.cli("verify", drive).returncode == 19
    repaired = ws.cli("repair", drive, check=True)
    assert "its first part lost all but its prelude" in repaired.stdout
    assert not list(part0.parent.glob(part0.name.replace(".mvo", ".*")))
    assert ws.cli("verify", drive).returncode == 0


def test_a_split_pack_with_part_of_its_header_is_kept(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """Some of the header is left (its wrapped key may be): kept and named as damage."""
    part0 = _split_pack_out_of_the_index(ws, tmp_path, drive)
    part0.write_bytes(part0.read_bytes()[: pfmt.PRELUDE_LEN + 40])
    assert ws.cli("repair", drive).returncode == 19
    assert part0.exists()
    assert ws.cli("verify", drive).returncode == 19


def test_two_packs_out_of_the_index_are_lost_records_exit_19(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """One interrupted write leaves at most one pack of its own out of the index (packs
    are renamed one at a time before their record): two mean records were lost."""
    _two_adds(ws, tmp_path, drive)
    _drop_last_index_record(drive, count=2)
    result = ws.cli("verify", drive)
    assert result.returncode == 19, result.stdout + result.stderr
    assert "not in the index yet" in result.stdout
    ws.cli("repair", drive, check=True)
    assert ws.cli("verify", drive).returncode == 0


def test_verify_help_lists_exit_24() -> None:
    from click.testing import CliRunner

    from medvault.cli.check_cmd import verify_cmd

    text = CliRunner().invoke(verify_cmd, ["--help"]).output
    assert "24 no damage but" in " ".join(text.split())
