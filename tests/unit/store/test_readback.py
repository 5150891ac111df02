"""Where read-back is on by default (tests/media/test_write_readback.py shows
what it catches)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medvault.store.readback import from_medium, needs_readback
from tests.conftest import Workspace
from tests.support.media import mounted_bad_medium


def test_read_back_is_on_for_fuse_drives_and_off_for_local_disks(tmp_path: Path) -> None:
    assert needs_readback(tmp_path, "auto") is False  # the test machine's own disk
    assert needs_readback(tmp_path, "always") is True
    back = tmp_path / "back"
    back.mkdir()
    with mounted_bad_medium(tmp_path, back) as drive:
        assert needs_readback(drive, "auto") is True
        assert needs_readback(drive, "never") is False


def test_compact_reads_its_copies_back_before_deleting_the_old_packs(
    ws: Workspace, tmp_path: Path
) -> None:
    """compact deletes the packs it copied from: a copy the drive gives back wrong would
    lose the files, so it stops (exit 25) with every old pack still there."""
    back = tmp_path / "back"
    back.mkdir()
    ws.create_fast(back)
    src = tmp_path / "src"
    src.mkdir()
    for n in range(6):
        (src / f"{n}.bin").write_bytes(os.urandom(20_000))
    ws.cli("add", back, src, check=True)
    ws.cli("rm", back, *(f"src/{n}.bin" for n in range(4)), check=True)
    before = sorted(p.name for p in (back / "MEDVAULT" / "objects").rglob("*.mv*"))
    with mounted_bad_medium(
        tmp_path, back, corrupt=r"MEDVAULT/tmp/.*\.0\.tmp$", start=1000, end=1001
    ) as drive:
        result = ws.cli("compact", drive)
    assert result.returncode == 25, (result.stdout, result.stderr)
    assert sorted(p.name for p in (back / "MEDVAULT" / "objects").rglob("*.mv*")) == before
    out = tmp_path / "out"
    ws.cli("extract", back, "--to", out, check=True)
    assert sorted(p.name for p in (out / "src").iterdir()) == ["4.bin", "5.bin"]
    assert ws.cli("verify", back).returncode == 0


def test_a_read_back_descriptor_drops_the_cache_and_reads_no_further_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """from_medium drops the cached pages and turns read-ahead off on that descriptor
    (fusefat answers read-ahead's requests at a cost growing with the offset)."""
    advised: list[tuple[int, int, int, int]] = []
    monkeypatch.setattr(os, "posix_fadvise", lambda *args: advised.append(args))
    path = tmp_path / "pack"
    path.write_bytes(b"x" * 4096)
    with open(path, "rb") as handle:
        from_medium(handle.fileno())
        fd = handle.fileno()
    assert advised == [
        (fd, 0, 0, os.POSIX_FADV_DONTNEED),
        (fd, 0, 0, os.POSIX_FADV_RANDOM),
    ]


def test_read_back_still_reads_when_the_advice_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: int) -> None:
        raise OSError(22, "not supported")

    monkeypatch.setattr(os, "posix_fadvise", refuse)
    path = tmp_path / "pack"
    path.write_bytes(b"written")
    with open(path, "rb") as handle:
        from_medium(handle.fileno())
        assert handle.read() == b"written"
