"""Fuzzing of every medvault parser (tests/fuzz/): a bounded atheris run per target, the
seed corpus and every past finding replayed without atheris, and the KDF caps at parse time.

The long run is bench/fuzz_long.py (figures in bench/results/fuzz.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medvault.crypto import kdf
from medvault.errors import FormatError
from medvault.format import vault_header as hfmt
from tests.fuzz import seeds
from tests.fuzz.regressions import Regression, regressions
from tests.fuzz.regressions import valid_body as regression_body
from tests.fuzz.targets import TARGETS, run_one, wrap_header_body
from tests.support.paths import REPO_ROOT

REPO = REPO_ROOT
# Per target: at most 1 s of fuzzing, ~1.8 s with start-up (bench/fuzz_long.py: minutes).
BOUNDED = ["-max_total_time=1", "-runs=2000000", "-rss_limit_mb=1024", "-timeout=10", "-seed=1"]

pytest.importorskip("atheris", reason="atheris is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def seed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-seeds")
    seeds.build(root)
    return root


def fuzz(target: str, seed_dir: Path, work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    corpus = work / f"corpus-{target}"
    corpus.mkdir(parents=True)
    argv = [sys.executable, "-m", "tests.fuzz.run", target, *BOUNDED, *extra]
    argv += [f"-artifact_prefix={work}/{target}-", str(corpus), str(seed_dir)]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("target", list(TARGETS))
def test_bounded_fuzz_finds_nothing(target: str, seed_root: Path, tmp_path: Path) -> None:
    """Each target is its own test, so pytest-xdist spreads the fuzzing over the cores."""
    result = fuzz(target, seed_root / target, tmp_path)
    findings = sorted(tmp_path.glob(f"{target}-*"))
    report = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
    assert result.returncode == 0 and not findings, (
        f"fuzz target {target} found {[f.name for f in findings]} (exit {result.returncode}); "
        f"reproduce: python -m tests.fuzz.run {target} --replay FILE\n{report}"
    )
    assert "Done " in result.stderr, report
    assert " DONE " in result.stderr or "#" in result.stderr, report


def test_a_planted_bug_is_caught(seed_root: Path, tmp_path: Path) -> None:
    """The harness itself: an IndexError planted behind a real parser (a pack prelude
    claiming more than 3 parts) is found, reported and saved as a crash file."""
    result = fuzz("planted", seed_root / "pack_prelude", tmp_path, "-max_total_time=20")
    crashes = list(tmp_path.glob("planted-crash-*"))
    assert result.returncode != 0, result.stderr[-2000:]
    assert "IndexError: planted" in result.stdout + result.stderr, result.stderr[-2000:]
    assert len(crashes) == 1
    with pytest.raises(IndexError):
        run_one("planted", crashes[0].read_bytes())


@pytest.mark.parametrize("target", list(TARGETS))
def test_seed_corpus_replays_without_atheris(target: str, seed_root: Path) -> None:
    files = sorted((seed_root / target).iterdir())
    assert len(files) >= 2, f"{target} has too few seeds"
    for path in files:
        run_one(target, path.read_bytes())


@pytest.mark.parametrize("case", regressions(), ids=lambda r: r.name)
def test_past_finding_stays_fixed(case: Regression) -> None:
    start = time.monotonic()
    if case.error is None:
        TARGETS[case.target](case.data)
    else:
        with pytest.raises(case.error):
            TARGETS[case.target](case.data)
    # The 1001-word share used to run for hours (a quadratic typo search).
    assert time.monotonic() - start < 5


def test_kdf_caps_at_parse_time_match_the_kdf() -> None:
    assert (
        hfmt.MAX_TIME_COST,
        hfmt.MAX_MEMORY_KIB,
        hfmt.MAX_PARALLELISM,
        hfmt.MIN_MEMORY_KIB,
    ) == (kdf.MAX_TIME_COST, kdf.MAX_MEMORY_KIB, kdf.MAX_PARALLELISM, kdf.MIN_MEMORY_KIB)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ('"t":1,', '"t":17,', "time cost 17"),
        ('"t":1,', '"t":4294967295,', "time cost 4294967295"),
        ('"m_kib":8192', '"m_kib":1099511627776', "memory 1099511627776 KiB"),
        ('"m_kib":8192', '"m_kib":1024', "memory 1024 KiB"),
        ('"p":1,', '"p":255,', "parallelism 255"),
    ],
)
def test_absurd_kdf_parameters_are_refused_by_the_parser(
    field: str, value: str, message: str
) -> None:
    """Checksum valid, MAC valid: the parser itself refuses, before anyone runs Argon2."""
    body = regression_body().replace(field, value)
    assert value in body
    with pytest.raises(FormatError, match=message):
        hfmt.decode(wrap_header_body(body.encode()))


def test_runner_lists_targets_without_arguments() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        },
    )
    assert result.returncode == 2
    assert all(target in result.stderr for target in TARGETS)
