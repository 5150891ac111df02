"""Crash at every I/O point of add, rm, compact, passwd, repair,
export, escrow recovery (passphrase reset), reseal and re-key. After each crash
the vault opens, every committed file extracts intact, verify names at most the operation
in flight, and repair + a further add leave it clean (tests/support/faults.py says how)."""

from __future__ import annotations

from pathlib import Path

import pytest

from medvault.store import io_points as io
from medvault.store.fsio import filesystem_type
from medvault.store.sequential import HOLE_FILESYSTEMS
from tests.conftest import Workspace
from tests.support.faults import SCENARIOS, Scenario, escrow_of, fast_workdir, run_scenario

WRITE_PROTOCOL = {io.CREATE, io.WRITE, io.FSYNC, io.RENAME, io.FSYNC_DIR}
# The kinds of point each operation must pass: if one is missing, the layer lost a wire.
KINDS = {
    "add": WRITE_PROTOCOL | {io.INDEX_APPEND},
    "add-large": WRITE_PROTOCOL | {io.INDEX_APPEND},
    "rm": WRITE_PROTOCOL | {io.INDEX_APPEND},
    "compact": WRITE_PROTOCOL | {io.INDEX_APPEND, io.UNLINK},
    "passwd": WRITE_PROTOCOL,
    "repair": WRITE_PROTOCOL | {io.UNLINK},
    "export": WRITE_PROTOCOL | {io.INDEX_APPEND},
    "recover-reset": WRITE_PROTOCOL,
    "reseal": WRITE_PROTOCOL,
    "rekey": WRITE_PROTOCOL | {io.UNLINK},
}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_crash_at_every_point(scenario: Scenario, ws: Workspace, tmp_path: Path) -> None:
    if scenario.name == "add-large":
        # The pack writer leaves the header's block for last only on these (FORMAT.md
        # section 4): the crash points must include that order.
        if filesystem_type(tmp_path.stat().st_dev) not in HOLE_FILESYSTEMS:
            pytest.skip("tmp_path is not on ext4, XFS or f2fs: no header block written last")
        result = run_scenario(scenario, tmp_path, ws, escrow_of(ws))
        part0 = [n for n, (kind, path) in enumerate(result.points) if path.endswith(".0.tmp")]
        part1 = [n for n, (kind, path) in enumerate(result.points) if path.endswith(".1.tmp")]
        assert part0 and part1 and max(part0) > min(part1), result.points
    else:
        with fast_workdir(tmp_path) as work:
            result = run_scenario(scenario, work, ws, escrow_of(ws))
    assert set(result.kinds) >= KINDS[scenario.name], result.kinds
    if scenario.name in ("add", "add-large"):  # the path index is rewritten, crash-tested too:
        # front to back on tmpfs ("add"), its prelude last on ext4, XFS or f2fs ("add-large")
        assert any("paths.mvs" in path for _kind, path in result.points), result.points
    if scenario.name == "rekey":  # in-place rewrites of packs, through the redo record
        assert any("rekey.mvr" in path for _kind, path in result.points), result.points
        assert any(".mvo" in path for kind, path in result.points if kind == io.WRITE)
    assert len(result.trials) == 2 * len(result.points)  # kill and power cut at each
    assert not result.failures, "\n".join(result.failures[:20])
