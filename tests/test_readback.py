"""Issue 18 item 2: nothing is reported added unless the drive gives it back. A FUSE shim
(tests/badmedium.py) acknowledges every write but stores damaged bytes for a pack's part,
as a faulty driver or a fake-capacity stick would; the page cache still holds the true
bytes, so only a read that reaches the medium sees the damage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medvault.store.readback import needs_readback
from tests.conftest import Workspace
from tests.media import mounted_bad_medium

PACK_PART = r"MEDVAULT/tmp/.*\.0\.tmp$"
BIG = 9_000_000


def _source(root: Path) -> Path:
    src = root / "batch"
    (src / "a-notes").mkdir(parents=True)
    for n in range(5):
        (src / "a-notes" / f"n{n}.txt").write_bytes(os.urandom(300 + n))
    (src / "z-big").mkdir()
    (src / "z-big" / "nine.bin").write_bytes(os.urandom(BIG))
    return src


def _added(stdout: str) -> list[str]:
    return [line.removeprefix("added ") for line in stdout.splitlines() if line.startswith("added ")]


@pytest.mark.parametrize(
    ("mode", "kernel_cache"),
    [("flip", False), ("zeros", False), ("flip", True)],
    ids=["flipped-byte", "fake-capacity", "kernel-cache"],
)
def test_a_corrupted_pack_is_not_reported_added(
    ws: Workspace, tmp_path: Path, mode: str, kernel_cache: bool
) -> None:
    """The kernel-cache mount keeps pages across opens: only the read-back's drop of the
    page cache reaches the damaged bytes there."""
    src = _source(tmp_path)
    back = tmp_path / "back"
    back.mkdir()
    ws.create_fast(back)
    with mounted_bad_medium(
        tmp_path, back, corrupt=PACK_PART, mode=mode, start=5_000_000, kernel_cache=kernel_cache
    ) as drive:
        result = ws.cli("add", drive, src)
    assert result.returncode == 25, result.stderr
    assert "the drive gave back different bytes than were written for 1 file(s): " in (
        result.stderr
    )
    assert "batch/z-big/nine.bin" in result.stderr
    added = _added(result.stdout)
    assert added == [f"batch/a-notes/n{n}.txt" for n in range(5)]  # committed before it
    out = tmp_path / "out"
    ws.cli("extract", back, "--to", out, check=True)
    for rel in added:
        assert (out / rel).read_bytes() == (tmp_path / rel).read_bytes()
    assert not (out / "batch" / "z-big").exists()
    assert ws.cli("verify", back).returncode == 0  # the bad pack was taken off the drive


def test_without_read_back_the_damage_is_reported_added(ws: Workspace, tmp_path: Path) -> None:
    """--no-verify-writes: what the test above catches goes through, and verify finds it."""
    src = _source(tmp_path)
    back = tmp_path / "back"
    back.mkdir()
    ws.create_fast(back)
    with mounted_bad_medium(tmp_path, back, corrupt=PACK_PART, start=5_000_000) as drive:
        result = ws.cli("add", drive, src, "--no-verify-writes")
    assert result.returncode == 0, result.stderr
    assert "batch/z-big/nine.bin" in _added(result.stdout)
    assert ws.cli("verify", back).returncode == 19


def test_read_back_is_on_for_fuse_drives_and_off_for_local_disks(tmp_path: Path) -> None:
    assert needs_readback(tmp_path, "auto") is False  # the test machine's own disk
    assert needs_readback(tmp_path, "always") is True
    back = tmp_path / "back"
    back.mkdir()
    with mounted_bad_medium(tmp_path, back) as drive:
        assert needs_readback(drive, "auto") is True
        assert needs_readback(drive, "never") is False
