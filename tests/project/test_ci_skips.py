"""With CI=true a skipped test fails; without it, it stays a skip; an
expected failure is not affected."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
SAMPLE = """
import pytest

def test_needs_something() -> None:
    pytest.skip("the thing is not installed")

@pytest.mark.xfail(strict=True, reason="known")
def test_known_failure() -> None:
    raise AssertionError

def test_fine() -> None:
    pass
"""


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.support.ci_skips",
         "-p", "no:cacheprovider", "-n", "0", "--rootdir", str(tmp_path), "-c", os.devnull,
         str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_a_skip_fails_in_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 passed, 1 xfailed" in result.stdout
    assert "skipped in CI (CI=true), where every test must run: " in result.stdout
    assert "the thing is not installed" in result.stdout


def test_a_module_skipped_whole_fails_in_ci(tmp_path: Path) -> None:
    (tmp_path / "test_module.py").write_text(
        'import pytest\n\npytest.importorskip("no_such_module_here")\n'
    )
    result = _run(tmp_path, "true")
    assert result.returncode == 2, result.stdout  # a collection error stops the run
    assert "no_such_module_here" in result.stdout
    assert "skipped in CI" in result.stdout


def test_a_skip_stays_a_skip_outside_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, None)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped, 1 xfailed" in result.stdout
