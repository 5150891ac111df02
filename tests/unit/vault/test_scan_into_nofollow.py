"""`scan --into` zeroes only the file it planned (review I5). Between the plan and the
zeroing, the plaintext is swapped for a symbolic link, for another file, or its folder for
a link to another folder; each decoy holds the same bytes, so a hash check by path alone
passes. The decoy must come out untouched, the move must say the file changed, and its
vault copy stays."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from medvault.vault.scan_move import CHANGED, move_into_vault
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace

PLAINTEXT = b"Patient: Zelphine Quarterman\nSSN: 287-65-4321\n"


def _to_symlink(note: Path, decoy: Path) -> None:
    note.unlink()
    note.symlink_to(decoy)


def _to_other_file(note: Path, decoy: Path) -> None:
    os.replace(decoy, note)


def _folder_to_symlink(note: Path, decoy: Path) -> None:
    note.parent.rename(note.parent.with_name("in.moved"))
    note.parent.symlink_to(decoy.parent, target_is_directory=True)


SWAPS: dict[str, Callable[[Path, Path], None]] = {
    "file to symlink": _to_symlink,
    "file to another file": _to_other_file,
    "folder to symlink": _folder_to_symlink,
}


@pytest.fixture
def vault(ws: Workspace, drive: Path) -> UnlockedVault:
    passphrase = to_secret(PASSPHRASE)
    create_vault(drive, "nofollow", passphrase, ws.org, ws.registry(), Env(kdf=FAST_KDF))
    return unlock(open_headers(drive), passphrase)


@pytest.mark.parametrize("swap", list(SWAPS))
def test_a_swapped_plaintext_leaves_the_decoy_untouched(
    ws: Workspace, drive: Path, tmp_path: Path, vault: UnlockedVault, swap: str
) -> None:
    note = drive / "in" / "note.txt"
    note.parent.mkdir()
    note.write_bytes(PLAINTEXT)
    # The decoy: another file with the same bytes (a copy the user keeps elsewhere).
    decoy = tmp_path / "elsewhere" / "note.txt"
    decoy.parent.mkdir()
    decoy.write_bytes(PLAINTEXT)
    swapped: list[str] = []

    def swap_after_add_read_it(_n: int) -> None:  # add reports progress once it has read
        if not swapped:
            SWAPS[swap](note, decoy)
            swapped.append(swap)

    result = move_into_vault(
        vault, drive, [(note, "in/note.txt")], ws.registry(), Env(), {"ssn": 1},
        swap_after_add_read_it,
    )  # fmt: skip
    assert swapped == [swap]
    # The decoy's bytes are whole (moved over the planned name, it is read there), and
    # nothing at the planned name was deleted.
    assert (decoy if decoy.exists() else note).read_bytes() == PLAINTEXT
    assert os.path.lexists(note)
    assert list(result.kept) == ["in/note.txt"]
    assert result.kept["in/note.txt"][0] == CHANGED
    assert result.moved == []


def test_an_unswapped_file_is_still_zeroed_and_deleted(
    ws: Workspace, drive: Path, vault: UnlockedVault
) -> None:
    note = drive / "in" / "note.txt"
    note.parent.mkdir()
    note.write_bytes(PLAINTEXT)
    keep = os.open(note, os.O_RDONLY)  # to see the bytes the unlinked inode was left with
    try:
        result = move_into_vault(
            vault, drive, [(note, "in/note.txt")], ws.registry(), Env(), {"ssn": 1}
        )
        assert result.kept == {} and len(result.moved) == 1
        assert not note.exists() and not note.parent.exists()
        assert os.pread(keep, 4096, 0) == bytes(len(PLAINTEXT))
    finally:
        os.close(keep)
