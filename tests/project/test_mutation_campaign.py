"""The mutation campaign's own rules (bench/mutation.py), without running
mutmut: its plan names test files that exist, every allowlist entry names a line that is in
its file and gives a reason, the message-text rule takes only message text, and the score
leaves out exactly what bench/README.md says it does."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mutation", ROOT / "bench" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_mutation"] = module
    spec.loader.exec_module(module)
    return module


M = _load()


def _row(
    old: str, new: str, status: str = "survived", file: str = "medvault/x.py"
) -> dict[str, Any]:
    return {"key": "k", "file": file, "line": 1, "status": status, "old": old, "new": new}


def test_the_plan_names_test_files_that_exist() -> None:
    plan = M.load_plan()
    names = {m.name for m in plan}
    assert names >= {"format", "crypto", "keys", "keycache", "engine-reading", "registry"}
    for module in plan:
        for test in module.tests + module.wide:
            assert (ROOT / test).is_file(), f"{module.name}: {test} does not exist"
        for glob in module.mutate:
            assert list(ROOT.glob(glob)), f"{module.name}: {glob} matches no file"


def test_every_allowlist_entry_names_a_line_of_its_file_and_a_reason() -> None:
    """An entry whose line changed is stale: the suite says so before a campaign does."""
    for entry in M.load_allowlist():
        assert set(entry) == {"file", "old", "new", "reason"}, entry
        assert len(entry["reason"]) > 30, entry
        lines = {ln.strip() for ln in (ROOT / entry["file"]).read_text().splitlines()}
        first_old = entry["old"].split(M.JOIN)[0].split(" / ")[0]
        assert first_old in lines, f"stale allowlist entry: {entry['file']}: {entry['old']}"
        assert entry["old"] != entry["new"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('raise FormatError(f"{what}: too large")', "raise FormatError(None)"),
        ('raise FormatError("pack: bad part")', 'raise FormatError("XXpack: bad partXX")'),
        ('what = "path index page"', 'what = "PATH INDEX PAGE"'),
        ('r = Reader(data, "custody log entry")', "r = Reader(data, None)"),
        # a message's list separator: words around it
        (
            'where = ", ".join(str(c) for c in candidates)',
            'where = "XX, XX".join(str(c) for c in candidates)',
        ),
        ('x = cj.field(obj, "covers", dict, what)', 'x = cj.field(obj, "covers", dict, None)'),
    ],
)
def test_message_text_mutants_are_set_apart(old: str, new: str) -> None:
    assert M.diagnostic_text(_row(old, new))


@pytest.mark.parametrize(
    ("old", "new", "file"),
    [
        # a protocol constant, not words: still a survivor
        (
            'salt = cj.field(obj, "salt", str, what)',
            'salt = cj.field(obj, "XXsaltXX", str, what)',
            "",
        ),
        ('r.expect(MAGIC, "magic")', 'r.expect(MAGIC, "MAGIC")', ""),
        # a separator of whitespace alone is a protocol constant (mountinfo's fields)
        ('fields = line.split(" ")', "fields = line.split(None)", ""),
        ('fields = line.split(" ")', 'fields = line.split("XX XX")', ""),
        # a changed check on a raise line's neighbour is never message text
        ("if len(data) > MAX_FILE:", "if len(data) >= MAX_FILE:", ""),
        ("raise FormatError(msg) from None", "raise ValueError(msg) from None", ""),
        # the domain-separation labels are never message text, even with spaces
        ('HEADER = b"medvault v1 header"', 'HEADER = b"XXmedvault v1 headerXX"', "crypto/labels"),
    ],
)
def test_checks_and_constants_are_not_message_text(old: str, new: str, file: str) -> None:
    path = "medvault/crypto/labels.py" if file else "medvault/x.py"
    assert not M.diagnostic_text(_row(old, new, file=path))


def test_the_score_leaves_out_accepted_mutants_and_unchecked_ones() -> None:
    allow = [{"file": "medvault/x.py", "old": "a = 0", "new": "a = None", "reason": "r" * 40}]
    rows = [
        _row("if a < b:", "if a <= b:", status="killed"),
        _row("if a < b:", "if a > b:", status="timeout"),
        _row("if a < b:", "if a == b:", status="survived"),
        _row("if c:", "if not c:", status="no tests"),
        _row("a = 0", "a = None"),  # allowlisted
        _row('raise E("x y")', "raise E(None)"),  # message text
        _row("if d:", "if not d:", status="not checked"),
    ]
    s = M.score(rows, allow)
    assert len(s["killed"]) == 2
    assert [r["new"] for r in s["survivors"]] == ["if a == b:", "if not c:"]
    assert len(s["accepted"]) == 1 and len(s["texts"]) == 1 and len(s["unchecked"]) == 1
    assert s["score"] == pytest.approx(100.0 * 2 / 4)


def test_a_mutant_is_placed_on_its_line_of_the_file() -> None:
    source = "def f(a):\n    if a:\n        return 1\n    if a:\n        return 2\n"
    spans = M.function_spans(source)
    assert spans == {"x_f": (1, 5)}
    diff = "--- f\n+++ f\n@@ -3,3 +3,3 @@\n     if a:\n-        return 2\n+        return 3\n"
    assert M.locate(source.splitlines(), spans["x_f"], "return 2", diff) == 5


def _module(name: str) -> Any:
    return next(m for m in M.load_plan() if m.name == name)


def test_a_survivors_rerun_runs_afresh_only_the_functions_that_changed() -> None:
    """Between these commits only unb64's body changed in format/: its mutants are run
    afresh, every other format/ mutant keeps its result; a file of another module that
    changed outside its functions (lost.py gained a constant and an import) needs a whole
    run, as a changed constant can change what any of its mutants does."""
    fmt = _module("format")
    assert M.changed_functions(fmt, "91a334f", "ca377fa") == [
        "medvault.format.canonical_json.x_unb64"
    ]
    assert M.changed_functions(fmt, "ca377fa", "ca377fa") == []
    with pytest.raises(SystemExit, match="changed outside its functions"):
        M.changed_functions(_module("reports-lost"), "aea1374^", "aea1374")


def test_a_later_phase_replaces_only_verdicts_it_reached_and_never_a_kill() -> None:
    rows = [
        dict(_row("a", "b", status="survived"), key="s1"),
        dict(_row("a", "b", status="survived"), key="s2"),
        dict(_row("a", "b", status="killed"), key="k1"),
        dict(_row("a", "b", status="no tests"), key="n1"),
    ]
    later = {
        "s1": {"status": "killed"},
        "s2": {"status": "not checked"},  # a stopped phase did not reach it
        "k1": {"status": "survived"},
        "n1": {"status": "survived"},
    }
    M.merge_statuses(rows, later, "wide")
    assert {r["key"]: r["status"] for r in rows} == {
        "s1": "killed",
        "s2": "survived",
        "k1": "killed",
        "n1": "survived",
    }
    assert [r.get("phase") for r in rows] == ["wide", None, None, "wide"]


_FORKED_CHILD = """
import os, sys, types
# A stand-in for mutmut's trampoline module: the hook replaces its recorder.
mutmut = types.ModuleType("mutmut"); mutation = types.ModuleType("mutmut.mutation")
trampoline = types.ModuleType("mutmut.mutation.trampoline")
trampoline.record_trampoline_hit = lambda name, caller=None: None
mutation.trampoline = trampoline; mutmut.mutation = mutation
sys.modules.update({"mutmut": mutmut, "mutmut.mutation": mutation,
                    "mutmut.mutation.trampoline": trampoline})
exec(compile(sys.argv[1], "sitecustomize", "exec"), {"__name__": "sitecustomize"})
pid = os.fork()
if pid == 0:  # like the helper: record, then leave with os._exit (no atexit)
    for name in ("medvault.a.x_f", "medvault.a.x_g", "medvault.a.x_f"):
        trampoline.record_trampoline_hit(name)
    os._exit(0)
os.waitpid(pid, 0)
"""


def test_a_forked_childs_calls_reach_the_hits_file(tmp_path: Path) -> None:
    """A forked child (the helper) ends with os._exit: its calls are written as made, each
    once, while mutmut gathers its stats, and not otherwise."""
    hits = tmp_path / "hits.txt"
    for under_test, expected in (("stats", "medvault.a.x_f\nmedvault.a.x_g\n"), ("m.x_f__1", "")):
        env = {**os.environ, "MUTANT_UNDER_TEST": under_test, "MUTMUT_CHILD_HITS": str(hits)}
        subprocess.run(
            [sys.executable, "-c", _FORKED_CHILD, M.CHILD_SITECUSTOMIZE], env=env, check=True
        )
        assert (hits.read_text() if hits.exists() else "") == expected
        hits.unlink(missing_ok=True)


def test_each_test_run_gets_a_process_group_of_its_own() -> None:
    """So that a mutant making a test signal pid 0 ends only that run."""
    script = (
        "import os, sys\n"
        "ns = {}\n"
        "exec(compile(sys.argv[1], 'mutmut_child_hits', 'exec'), ns)\n"
        "assert os.getpgrp() != os.getpid()\n"
        "ns['pytest_sessionstart'](None)\n"
        "assert os.getpgrp() == os.getpid()\n"
    )
    subprocess.run([sys.executable, "-c", script, M.CHILD_PLUGIN], check=True)


def test_a_module_may_lower_mutmuts_wall_timeout(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    plan = {m.name: m for m in M.load_plan()}
    assert plan["engine-reading"].timeout_multiplier == 4.0
    M.configure(tmp_path, plan["engine-reading"], ["tests/x.py"])
    assert "\ntimeout_multiplier = 4.0\n" in (tmp_path / "pyproject.toml").read_text()
    M.configure(tmp_path, plan["format"], ["tests/x.py"])
    assert (tmp_path / "pyproject.toml").read_text().count("timeout_multiplier") == 1


def test_every_module_met_the_gate_at_its_last_run() -> None:
    """RELIABILITY.md says so: every module of the plan has a row in mutation.md with a
    score, none below the gate (a module never run, or below it, must change that sentence)."""
    report = (REPO_ROOT / "bench" / "results" / "mutation.md").read_text()
    rows = {
        line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("| ")
    }
    for module in M.load_plan():
        row = rows.get(module.name)
        assert row is not None, module.name
        assert "not run" not in row and "below gate" not in row, row
        score = float(row.split("|")[8].strip().split(" ")[0])
        assert score >= M.GATE, row
