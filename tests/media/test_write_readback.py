"""A file is reported `added` only after what the drive gives back
was checked. tests/support/badmedium.py plays a drive that acknowledges every write but keeps
different bytes (one flipped byte per write, or zeros like a fake-capacity stick) for a
pack's first part from byte 5,000,000 on; the page cache keeps the true bytes, so only a
read that reaches the drive sees the damage.

`add` of small files and a 9,000,000-byte file must then exit 25 (WriteNotVerified), print
no `added` line for the damaged file, and every file it did report extracts byte-identical.
With --no-verify-writes the same add exits 0 and `verify` finds the damage (so this test can
fail), and a mount with kernel_cache (where a fresh open is served from the page cache)
still exits 25: the read-back bypasses the cache.
"""

from __future__ import annotations

import filecmp
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.support import media

pytestmark = pytest.mark.fuse

PACK_FIRST_PART = r"^/MEDVAULT/tmp/.*\.0\.tmp$"
DAMAGE_FROM = 5_000_000
LARGE = "batch/nine.bin"
WRITE_NOT_VERIFIED = 25
DAMAGE_FOUND = 19


def _source(root: Path) -> list[str]:
    """Small files sorted before the large one, so they are committed (and reported) first."""
    batch = root / "batch"
    (batch / "a-small").mkdir(parents=True)
    for n in range(20):
        (batch / "a-small" / f"m{n:02d}.txt").write_bytes(os.urandom(300 + 50 * n))
    (batch / "nine.bin").write_bytes(os.urandom(9_000_000))
    return sorted(p.relative_to(root).as_posix() for p in batch.rglob("*") if p.is_file())


def _add_on_bad_medium(
    ws: Workspace,
    tmp_path: Path,
    mode: str,
    *flags: str,
    kernel_cache: bool = False,
    end: int | None = None,
) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """The vault is made on the plain folder (so creating it is never damaged); only the
    add goes through the bad medium. Returns the folder, the source and the add's result."""
    back, src = tmp_path / "back", tmp_path / "src"
    back.mkdir()
    _source(src)
    ws.create_fast(back, "readback")
    with media.mounted_bad_medium(
        tmp_path, back, corrupt=PACK_FIRST_PART, mode=mode, start=DAMAGE_FROM, end=end,
        kernel_cache=kernel_cache,
    ) as mnt:  # fmt: skip
        result = ws.cli("add", "-v", mnt, src / "batch", *flags)
    return back, src, result


def _reported(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [
        line[len("added ") :] for line in result.stdout.splitlines() if line.startswith("added ")
    ]


def _assert_reported_files_are_intact(
    ws: Workspace, back: Path, src: Path, reported: list[str], out: Path
) -> None:
    """Read from the folder itself: what the drive really holds."""
    extracted = ws.cli("extract", back, *reported, "--to", out)
    assert extracted.returncode == 0, extracted.stderr
    for name in reported:
        assert filecmp.cmp(src / name, out / name, shallow=False), name


def _assert_refused(
    ws: Workspace, tmp_path: Path, back: Path, src: Path, result: subprocess.CompletedProcess[str]
) -> None:
    assert result.returncode == WRITE_NOT_VERIFIED, result.stdout + result.stderr
    assert "the drive gave back different bytes than were written" in result.stderr
    assert LARGE in result.stderr
    assert "they were not added" in result.stderr
    reported = _reported(result)
    assert LARGE not in reported
    assert reported == [n for n in _source_names(src) if n != LARGE]  # added before it: kept
    _assert_reported_files_are_intact(ws, back, src, reported, tmp_path / "out")
    verified = ws.cli("verify", back)  # the refused pack is not left behind as damage
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _source_names(src: Path) -> list[str]:
    return sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())


@pytest.mark.parametrize("mode", ["flip", "zeros"])
def test_add_refuses_a_file_the_drive_gives_back_wrong(
    ws: Workspace, tmp_path: Path, mode: str
) -> None:
    back, src, result = _add_on_bad_medium(ws, tmp_path, mode)
    _assert_refused(ws, tmp_path, back, src, result)


def test_the_read_back_does_not_come_from_the_page_cache(ws: Workspace, tmp_path: Path) -> None:
    """With kernel_cache a fresh open is served from the cache, which holds the true bytes:
    only a read that drops the cache (or bypasses it) reaches the drive's wrong ones. One
    byte is wrong, in the middle of the part, so every page around it is cached whole (a
    partly written page would be read from the drive anyway)."""
    back, src, result = _add_on_bad_medium(
        ws, tmp_path, "flip", kernel_cache=True, end=DAMAGE_FROM + 1
    )
    _assert_refused(ws, tmp_path, back, src, result)


def test_without_the_read_back_the_damage_is_reported_added(ws: Workspace, tmp_path: Path) -> None:
    """The control: the same drive, --no-verify-writes, and the bad file is `added`."""
    back, src, result = _add_on_bad_medium(ws, tmp_path, "flip", "--no-verify-writes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _reported(result) == _source_names(src)
    verified = ws.cli("verify", back)
    assert verified.returncode == DAMAGE_FOUND, verified.stdout + verified.stderr
    assert LARGE in verified.stdout + verified.stderr
