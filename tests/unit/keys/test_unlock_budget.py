"""A hostile header cannot make unlock do more than one unlock's
Argon2id budget (docs/FORMAT.md section 3, docs/THREAT_MODEL.md), summed over every slot
of both copies; a slot found in both copies is tried once.

The hostile copies are made as the review's hostile_header.py made them: a header with 16
passphrase slots at the format's caps, checksummed, written over both copies (its MAC is
wrong, which unlock can only tell after the slot opens: the work is what is measured).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medvault.engine.session import open_headers
from medvault.errors import FormatError, WrongPassphrase
from medvault.format import vault_header as hfmt
from medvault.keys.passphrase import to_secret
from medvault.keys.slots import UNLOCK_KDF_BUDGET, KdfBudget, open_slots
from medvault.store.layout import locate
from tests.conftest import Workspace

# What the child may cost: the budget is ~1.6 million KiB-passes (about a second or two of
# Argon2id here); 16 slots at t=16, m=1 GiB would be 268 million (18 minutes, 1 GiB held).
TIME_LIMIT_S = 20.0
RSS_LIMIT_KIB = 400 * 1024


def _hostile_copies(drive: Path, t: int, m_kib: int, p: int, slots: int) -> None:
    paths = locate(drive)
    parsed = hfmt.decode(paths.header_a.read_bytes())
    body = parsed.header.body
    hostile = tuple(
        hfmt.PassphraseSlot(i, t, m_kib, p, os.urandom(32), os.urandom(40), body.created_at)
        for i in range(1, slots + 1)
    )
    header = hfmt.VaultHeader(
        parsed.header.vault_id, parsed.header.seq + 1, dataclasses.replace(body, slots=hostile)
    )
    data = hfmt.encode(header, bytes(32))
    hfmt.decode(data)  # within the caps: the parser accepts it
    for copy in (paths.header_a, paths.header_b):
        copy.write_bytes(data)


# A small launcher runs medvault and reports its peak RSS from wait4. Measured from the test
# process itself, the figure would include the test process's own memory: a child's high
# water mark starts at its parent's size when it forks, and survives the exec.
LAUNCHER = """
import json, os, subprocess, sys, threading
child = subprocess.Popen([sys.executable, "-m", "medvault", *sys.argv[2:]],
                         stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
stopper = threading.Timer(float(sys.argv[1]), child.kill)  # a broken budget: stop it
stopper.start()
_pid, status, usage = os.wait4(child.pid, 0)
stopper.cancel()
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "maxrss": usage.ru_maxrss}))
"""


def _run_measured(ws: Workspace, *args: str | Path) -> tuple[int, str, float, int]:
    """Run medvault in a child; its exit code, stderr, wall time and its own peak RSS (KiB)."""
    env = ws.env
    env["MEDVAULT_PASSPHRASE_FILE"] = str(ws.passfile)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(3 * TIME_LIMIT_S), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=6 * TIME_LIMIT_S,
        check=True,
    )
    seconds = time.monotonic() - started
    measured = json.loads(result.stdout)
    return measured["code"], result.stderr, seconds, measured["maxrss"]


@pytest.mark.slow
def test_sixteen_slots_at_the_caps_on_both_copies_stop_within_the_budget(
    ws: Workspace, drive: Path
) -> None:
    ws.cli("create", drive, check=True)
    _hostile_copies(drive, hfmt.MAX_TIME_COST, hfmt.MAX_MEMORY_KIB, hfmt.MAX_PARALLELISM, 16)
    code, stderr, seconds, peak_kib = _run_measured(ws, "ls", drive)
    assert code == 6, stderr
    assert "more key-derivation work than medvault allows" in stderr
    assert seconds < TIME_LIMIT_S, seconds
    assert peak_kib < RSS_LIMIT_KIB, peak_kib


@pytest.mark.slow
def test_a_header_within_the_budget_costs_one_run_not_two(ws: Workspace, drive: Path) -> None:
    """One slot at t=2, m=256 MiB (524,288 KiB-passes) in both copies: tried once, with the
    memory it asks for, then a wrong passphrase; never 16 runs or 1 GiB."""
    ws.cli("create", drive, check=True)
    _hostile_copies(drive, 2, 256 * 1024, 4, 1)
    code, stderr, seconds, peak_kib = _run_measured(ws, "ls", drive)
    assert code == 3, stderr  # wrong passphrase: the slot was tried, and opened nothing
    assert seconds < TIME_LIMIT_S, seconds
    assert 256 * 1024 <= peak_kib < 256 * 1024 + RSS_LIMIT_KIB, peak_kib


def test_a_slot_in_both_copies_is_tried_once_and_the_budget_spans_copies(
    ws: Workspace, drive: Path
) -> None:
    ws.cli("create", drive, check=True)
    copies = open_headers(drive)
    slots = copies.any.header.body.slots
    vault_id = copies.any.header.vault_id
    cost = sum(s.time_cost * s.memory_kib for s in slots if isinstance(s, hfmt.PassphraseSlot))
    budget = KdfBudget()
    wrong = to_secret("not the passphrase of this vault")
    for _copy in ("vault.mvh", "vault.mvh.bak"):
        with pytest.raises(WrongPassphrase):
            open_slots(slots, vault_id, wrong, budget)
    assert budget.remaining == UNLOCK_KDF_BUDGET - cost  # the second copy cost nothing
    budget.remaining = cost - 1
    budget.tried.clear()
    with pytest.raises(FormatError, match="more key-derivation work"):
        open_slots(slots, vault_id, wrong, budget)  # refused before any work
