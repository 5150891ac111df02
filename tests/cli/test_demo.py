"""`medvault demo` needs no arguments and shows the whole flow working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_whole_flow(tmp_path: Path) -> None:
    home = tmp_path / "user-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDVAULT_")}
    env.update(HOME=str(home), TMPDIR=str(tmp_path), XDG_DATA_HOME=str(home / ".local/share"))
    result = subprocess.run(
        [sys.executable, "-m", "medvault", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for step in (
        "Organisation",
        "Create a vault",
        "Add",
        "List",
        "Verify",
        "Extract",
        "Custody record",
    ):
        assert step in out
    assert "byte-identical: True" in out
    assert "OK: 5 files authenticated" in out
    assert "audit chain: intact" in out
    assert "determination: SECURED, NOT REPORTABLE" in out
    reports = list(tmp_path.glob("medvault-demo-*/evidence/report.html"))
    assert len(reports) == 1
    assert "NOT REPORTABLE" in reports[0].read_text()
    # A throwaway org: the user's own medvault home is untouched.
    assert not (home / ".local/share/medvault").exists()
    listed = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("MEDVAULT/")]
    # The demo's file names hold a hyphen, which no name medvault writes on a drive does
    # (a random pack name held "lab" about once in 1,400 runs).
    assert all("lab-results" not in ln and "discharge-summary" not in ln for ln in listed)
    # Events are shown in words, never as Python's text for a dict or list.
    assert "{'" not in out and "':" not in out and "['" not in out
