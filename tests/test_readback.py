"""Issue 18 item 2: where read-back is on by default (tests/test_write_readback.py shows
what it catches)."""

from __future__ import annotations

from pathlib import Path

from medvault.store.readback import needs_readback
from tests.media import mounted_bad_medium


def test_read_back_is_on_for_fuse_drives_and_off_for_local_disks(tmp_path: Path) -> None:
    assert needs_readback(tmp_path, "auto") is False  # the test machine's own disk
    assert needs_readback(tmp_path, "always") is True
    back = tmp_path / "back"
    back.mkdir()
    with mounted_bad_medium(tmp_path, back) as drive:
        assert needs_readback(drive, "auto") is True
        assert needs_readback(drive, "never") is False
