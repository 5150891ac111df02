"""A fixed subset of mutants, each killed by the suite.

Each entry of tests/mutants.toml disables one security or evidence check with a one-line
change (the review's survivors, and about one real check per module of the mutation
campaign, bench/mutation.py). For each, medvault/ is copied into the test's folder, the
line is replaced there, and the entry's tests run in their own pytest process with that
copy first on PYTHONPATH (so the tests, and every CLI subprocess they start, import the
mutant). The mutant must be killed: pytest exits 1 and names one of the entry's tests as
FAILED. A survivor, an error, a usage error, no tests or a skip fails this test. So does
an `old` line found 0 or several times: a refactor that moves a check must update its
entry. The control test proves that the copy, not the repo's editable install, is what
the pytest process and the CLI processes it starts import.

To add an entry: pick a line whose change disables one check; find the fastest test that
fails without the check (a single node id, measured with --durations) and passes with it;
add `[[mutant]]` with `name`, `file` (under medvault/), `old` (the exact line, found once),
`new`, `tests` and `why`. Check it passes unmutated with
`MUTATION_SMOKE_UNMUTATED=1 pytest -n 0 tests/project/test_mutation_smoke.py -k NAME` (every
entry's tests must then pass), and killed as it is. The whole file has a budget of about
60 s of CPU: prefer in-process tests to CLI ones.
"""

from __future__ import annotations

import compileall
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
MUTANTS = ROOT / "tests" / "mutants.toml"
PROBE_ENV = "MUTATION_SMOKE_PROBE"  # not MEDVAULT_*: the fixtures drop those
# Appended to the copy's medvault/__init__.py: each process that imports the copy leaves a
# file (named by its pid, holding its argv[0]) in the probe folder.
PROBE = f"""

def _mutation_smoke_probe() -> None:  # added by tests/project/test_mutation_smoke.py
    import os, sys
    folder = os.environ.get("{PROBE_ENV}")
    if folder:
        with open(os.path.join(folder, str(os.getpid())), "w") as note:
            note.write(sys.argv[0])


_mutation_smoke_probe()
"""
# The control: no check changed; one test that starts the CLI as a subprocess.
CONTROL_TEST = (
    "tests/unit/engine/test_tamper_entry_swap.py::"
    "test_cli_reports_an_entry_of_another_pack_as_damage"
)
PYTEST_MAIN = os.path.join("pytest", "__main__.py")  # argv[0] of `python -m pytest`
# A run that checks the entries' tests pass on the unmutated copy (for adding an entry).
UNMUTATED = os.environ.get("MUTATION_SMOKE_UNMUTATED") == "1"
TIMEOUT = 300
# One process, no cache, none of pyproject's addopts (-n auto); stop at the first failure.
ISOLATED = ["-p", "no:xdist", "-p", "no:cacheprovider", "-o", "addopts=", "-q", "-x"]
ISOLATED += ["--import-mode=append"]


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str


def _load() -> list[Mutant]:
    entries = tomllib.loads(MUTANTS.read_text())["mutant"]
    return [
        Mutant(e["name"], e["file"], e["old"], e["new"], tuple(e["tests"]), e["why"])
        for e in entries
    ]


MUTANT_LIST = _load()


def test_the_entries_are_well_formed() -> None:
    names = [m.name for m in MUTANT_LIST]
    assert len(set(names)) == len(names), names
    for m in MUTANT_LIST:
        assert m.tests and m.why and m.old.strip() != m.new.strip(), m.name
        assert (ROOT / "medvault" / m.file).is_file(), m.name
        assert all((ROOT / t.split("::")[0]).is_file() for t in m.tests), m.name


def _copy_package(dest: Path) -> Path:
    """medvault/ (sources only) under DEST, byte-compiled: with PYTHONDONTWRITEBYTECODE
    set, every CLI subprocess would otherwise compile each module again."""
    shutil.copytree(
        ROOT / "medvault", dest / "medvault", ignore=shutil.ignore_patterns("__pycache__")
    )
    return dest / "medvault"


def _mutate(package: Path, mutant: Mutant, apply: bool) -> None:
    """Replace the one line of MUTANT.file whose stripped text is MUTANT.old (keeping its
    indentation); fails if there is not exactly one (checked even when not APPLY)."""
    path = package / mutant.file
    lines = path.read_text().splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.strip() == mutant.old.strip()]
    assert len(at) == 1, (
        f"{mutant.name}: `{mutant.old.strip()}` occurs {len(at)} times in medvault/{mutant.file}"
        " (it must occur exactly once): update tests/mutants.toml to where the check is now"
    )
    if not apply:
        return
    line = lines[at[0]]
    indent = line[: len(line) - len(line.lstrip())]
    lines[at[0]] = indent + mutant.new.strip() + "\n"
    path.write_text("".join(lines))
    assert path.read_text() != (ROOT / "medvault" / mutant.file).read_text(), mutant.name


def _env(copy_root: Path, probe: Path) -> dict[str, str]:
    """This environment (CI included) without pytest's own variables (xdist worker ids,
    PYTEST_ADDOPTS), with the copy first on PYTHONPATH and the repo (for tests/) next."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = f"{copy_root}{os.pathsep}{ROOT}"
    env[PROBE_ENV] = str(probe)
    return env


def _run_pytest(
    copy_root: Path, env: dict[str, str], tests: tuple[str, ...]
) -> subprocess.CompletedProcess[str]:
    """TESTS in their own pytest process, from the copy's folder (so `python -m medvault`
    finds the copy), importing test modules with the repo appended to sys.path, not
    prepended (which would put the repo's medvault ahead of the copy)."""
    config = ["--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")]
    argv = [sys.executable, "-m", "pytest", *ISOLATED, *config, *(str(ROOT / t) for t in tests)]
    return subprocess.run(
        argv,
        cwd=copy_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _prepared(tmp_path: Path, mutant: Mutant | None) -> tuple[Path, dict[str, str], Path]:
    copy_root, probe = tmp_path / "copy", tmp_path / "probe"
    probe.mkdir()
    package = _copy_package(copy_root)
    with (package / "__init__.py").open("a") as init:
        init.write(PROBE)
    if mutant is not None:
        _mutate(package, mutant, apply=not UNMUTATED)
    assert compileall.compile_dir(package, quiet=2, workers=1)
    return copy_root, _env(copy_root, probe), probe


def _imported_by(probe: Path) -> list[str]:
    """argv[0] of each process that imported the copy."""
    return [p.read_text() for p in probe.iterdir()]


def _failed_ids(output: str, copy_root: Path) -> list[str]:
    """The node ids pytest reports FAILED, relative to the repo (it prints them relative
    to its working folder, the copy's)."""
    ids = []
    for shown in re.findall(r"^FAILED (\S+)", output, re.M):
        path, sep, rest = shown.partition("::")
        ids.append(f"{(copy_root / path).resolve().relative_to(ROOT)}{sep}{rest}")
    return ids


def _names(test: str, node_id: str) -> bool:
    """Whether TEST (a file, a function or a parametrized node id) names NODE_ID."""
    return node_id == test or node_id.startswith((f"{test}::", f"{test}["))


@pytest.mark.slow
def test_control_the_unchanged_copy_is_what_is_imported(tmp_path: Path) -> None:
    copy_root, env, probe = _prepared(tmp_path, None)
    where = subprocess.run(
        [sys.executable, "-c", "import medvault; print(medvault.__file__)"],
        cwd=copy_root, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()) == copy_root / "medvault" / "__init__.py"
    run = _run_pytest(copy_root, env, (CONTROL_TEST,))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout, run.stdout
    imported = _imported_by(probe)
    # The pytest process itself, and at least one `python -m medvault` it started.
    assert any(a.endswith(PYTEST_MAIN) for a in imported), imported
    assert "-m" in imported, imported


@pytest.mark.slow
@pytest.mark.parametrize("mutant", MUTANT_LIST, ids=[m.name for m in MUTANT_LIST])
def test_mutant_is_killed(mutant: Mutant, tmp_path: Path) -> None:
    copy_root, env, probe = _prepared(tmp_path, mutant)
    run = _run_pytest(copy_root, env, mutant.tests)
    output = run.stdout + run.stderr
    imported = _imported_by(probe)
    assert any(a.endswith(PYTEST_MAIN) for a in imported), f"the copy was not imported\n{output}"
    if UNMUTATED:
        assert run.returncode == 0, output
        return
    if run.returncode == 0 and re.search(r"\d+ skipped", run.stdout):
        pytest.skip(f"{mutant.name}: its tests were skipped here, so it is not checked:\n{output}")
    assert "skipped in CI" not in output, f"{mutant.name}: its tests did not run\n{output}"
    assert run.returncode == 1, (
        f"{mutant.name} ({mutant.why}) "
        + ("SURVIVED" if run.returncode == 0 else f"not run: pytest exited {run.returncode}")
        + f"\n{output}"
    )
    failed = _failed_ids(run.stdout, copy_root)
    assert any(_names(t, f) for f in failed for t in mutant.tests), (
        f"{mutant.name}: pytest failed, but none of {mutant.tests} is FAILED\n{output}"
    )
