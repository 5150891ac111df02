"""Crash at every I/O point of add, rm, compact, passwd, repair,
export, escrow recovery (passphrase reset), reseal and re-key. After each crash
the vault opens, every committed file extracts intact, verify names at most the operation
in flight, and repair + a further add leave it clean (tests/support/faults.py says how)."""

from __future__ import annotations

from pathlib import Path

import pytest

from medvault.store import io_points as io
from tests.conftest import Workspace
from tests.support.faults import SCENARIOS, Scenario, escrow_of, fast_workdir, run_scenario

WRITE_PROTOCOL = {io.CREATE, io.WRITE, io.FSYNC, io.RENAME, io.FSYNC_DIR}
# The kinds of point each operation must pass: if one is missing, the layer lost a wire.
KINDS = {
    "add": WRITE_PROTOCOL | {io.INDEX_APPEND},
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
    with fast_workdir(tmp_path) as work:
        result = run_scenario(scenario, work, ws, escrow_of(ws))
    assert set(result.kinds) >= KINDS[scenario.name], result.kinds
    if scenario.name == "add":  # the path index is rewritten, and crash-tested, too
        assert any("paths.mvs" in path for _kind, path in result.points), result.points
    if scenario.name == "rekey":  # in-place rewrites of packs, through the redo record
        assert any("rekey.mvr" in path for _kind, path in result.points), result.points
        assert any(".mvo" in path for kind, path in result.points if kind == io.WRITE)
    assert len(result.trials) == 2 * len(result.points)  # kill and power cut at each
    assert not result.failures, "\n".join(result.failures[:20])
