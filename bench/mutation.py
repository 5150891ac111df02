"""Mutation campaign over the modules that hold medvault's security and evidence checks
(issue 19 item 3).

    python bench/mutation.py                    # every module -> bench/results/mutation.md
    python bench/mutation.py --module format    # rerun some (repeatable), keep the others
    python bench/mutation.py --report-only      # rebuild mutation.md from the saved results
    python bench/mutation.py --survivors --module format   # rerun saved survivors (new tests)
    python bench/mutation.py --list             # the plan's modules

The tool is mutmut (pinned below; installed on first use with pip into bench/work/, never into
the project's environment). For each module of bench/mutation_plan.toml the script takes a
`git archive HEAD` copy of the repository (so edits in the working tree during a run change
nothing; the results name the commit), adds a `[tool.mutmut]` section naming the module's
files and its pool of test files, and runs `mutmut run`. mutmut makes every small change its
mutators know (an operator, a constant, a comparison, a removed call argument, ...) to the
module's functions, one at a time, and runs the pool's tests that reach the changed function;
a mutant is killed when a test fails. Tests that run the CLI as a subprocess kill mutants too
(the subprocess inherits the mutant), but mutmut cannot see which functions they reach, so a
mutant that only they could kill is reported as "no tests": counted as not killed.

Results: bench/results/mutation/<module>.json (every mutant: status, file:line, the changed
line before and after) and bench/results/mutation.md (score per module and every survivor with
file:line). A survivor that is an equivalent mutant (no test can tell it apart, e.g. a check
repeated by a later check that always runs) belongs in bench/mutation_allowlist.toml, keyed by
file and the changed line's text before and after, with a reviewed reason; allowlisted mutants
leave the score's denominator. An allowlist entry that matches no survivor is reported as
stale. The score is killed / (mutants - allowlisted); the gate (exit 1) is a score of at least
GATE on every module.

This is a campaign of hours on 2 cores: run it by hand, never in .ci/run. The fixed subset of
mutants that the test suite runs is tests/project/test_mutation_smoke.py.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import difflib
import fnmatch
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tokenize
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "bench" / "mutation_plan.toml"
ALLOWLIST = ROOT / "bench" / "mutation_allowlist.toml"
RESULTS = ROOT / "bench" / "results" / "mutation"
REPORT = ROOT / "bench" / "results" / "mutation.md"
WORK = ROOT / "bench" / "work" / "mutation"
TOOL_DIR = ROOT / "bench" / "work" / "mutmut-lib"
MUTMUT = "mutmut==3.8.1"
GATE = 95.0
JOIN = " ⏎ "  # joins the lines of a mutant that changes several (" / " would read as division)
HOOK_DIR = WORK / "child-hits"
PYTEST_ARGS = [
    *("-p", "no:xdist", "-p", "no:cacheprovider", "-o", "addopts=-ra --strict-markers"),
    *("-p", "mutmut_child_hits"),
]

# mutmut learns which tests reach a function by recording calls in the test process; a CLI
# test's `python -m medvault` child records them in its own memory and they are lost, so
# the function shows "no tests" and its mutants are never run. These two files carry the
# child's calls back: sitecustomize.py (on the children's PYTHONPATH) collects them while
# mutmut gathers its stats and appends them to a file at exit; the pytest plugin adds them
# to the test's calls before mutmut's own teardown hook files them under the test. A forked
# child (engine/helper_process.py's helper, of a test or of a CLI child) leaves with
# os._exit, which runs no atexit: it appends each call to the file as it is first made.
CHILD_SITECUSTOMIZE = """\
# Written by bench/mutation.py; active only while mutmut gathers its stats.
import os


def _in_forked_child():
    if os.environ.get("MUTANT_UNDER_TEST") != "stats" or not os.environ.get("MUTMUT_CHILD_HITS"):
        return
    from mutmut.mutation import trampoline

    seen = set()

    def record(name, caller=None):
        if name not in seen:
            seen.add(name)
            with open(os.environ["MUTMUT_CHILD_HITS"], "a") as out:
                out.write(name + "\\n")

    trampoline.record_trampoline_hit = record


os.register_at_fork(after_in_child=_in_forked_child)

if os.environ.get("MUTANT_UNDER_TEST") == "stats" and os.environ.get("MUTMUT_CHILD_HITS"):
    import atexit

    from mutmut.mutation import trampoline

    _hits = set()

    def _record(name, caller=None):
        _hits.add(name)

    def _save():
        if _hits:
            with open(os.environ["MUTMUT_CHILD_HITS"], "a") as out:
                out.write("".join(h + "\\n" for h in sorted(_hits)))

    trampoline.record_trampoline_hit = _record
    atexit.register(_save)
"""
CHILD_PLUGIN = """\
# Written by bench/mutation.py: a test's CLI children's calls count as the test's.
import os

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    # Each test run gets a process group of its own: a mutant that makes a test signal pid
    # 0 (its group: a Helper whose fork roles were swapped holds pid 0) ends that run, which
    # counts as killed, not the campaign.
    try:
        os.setpgid(0, 0)
    except OSError:
        pass


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    path = os.environ.get("MUTMUT_CHILD_HITS")
    if os.environ.get("MUTANT_UNDER_TEST") != "stats" or not path or not os.path.exists(path):
        return
    from mutmut.state import state

    with open(path) as hits:
        state()._stats.update(hits.read().split())
    os.unlink(path)
"""


def write_child_hook() -> None:
    HOOK_DIR.mkdir(parents=True, exist_ok=True)
    (HOOK_DIR / "sitecustomize.py").write_text(CHILD_SITECUSTOMIZE)
    (HOOK_DIR / "mutmut_child_hits.py").write_text(CHILD_PLUGIN)


# mutmut's exit-code meanings (mutmut/stats.py); timeouts and crashes count as killed, as there.
KILLED = {"killed", "timeout", "segfault", "caught by type check"}


@dataclass(frozen=True)
class Module:
    name: str
    mutate: list[str]
    tests: list[str]
    wide: list[str]
    mutants: list[str]
    note: str
    # mutmut stops a mutant's run after (its tests' own time + 1 s) x `timeout_multiplier`
    # (15 unless the plan says) of wall time, and counts it killed (a timeout): a module
    # whose mutants can deadlock a pipeline lowers it, or each such mutant waits it out.
    timeout_multiplier: float | None = None


def load_plan() -> list[Module]:
    data = tomllib.loads(PLAN.read_text())
    return [
        Module(
            name=m["name"],
            mutate=list(m["mutate"]),
            tests=list(m["tests"]),
            wide=list(m.get("wide", [])),
            mutants=list(m.get("mutants", [])),
            note=m.get("note", ""),
            timeout_multiplier=m.get("timeout_multiplier"),
        )
        for m in data["module"]
    ]


def ensure_tool() -> Path:
    script = TOOL_DIR / "bin" / "mutmut"
    if not script.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(TOOL_DIR), MUTMUT],
            check=True,
        )
    return script


def git_commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def snapshot(dest: Path) -> None:
    """The committed tree, so a long run measures one commit."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tempfile.TemporaryFile() as tar:
        subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, stdout=tar, check=True)
        tar.seek(0)
        with tarfile.open(fileobj=tar) as archive:
            archive.extractall(dest, filter="data")
    (dest / ".mutation-commit").write_text(git_commit() + "\n")


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def configure(copy: Path, module: Module, tests: list[str]) -> None:
    # xdist off (mutmut runs the tests in its own forked workers); the project's addopts carry
    # `-n auto`, so they are replaced. mutmut copies only tests/ beside the mutants; the doc
    # tests read docs/, README.md and bench/ too.
    section = f"""

[tool.mutmut]
source_paths = ["medvault/"]
only_mutate = {toml_list(module.mutate)}
pytest_add_cli_args = {toml_list(PYTEST_ARGS)}
pytest_add_cli_args_test_selection = {toml_list(tests)}
use_git_change_detection = false
also_copy = ["docs/", "bench/", "README.md", "LICENSE"]
"""
    if module.timeout_multiplier is not None:
        section += f"timeout_multiplier = {float(module.timeout_multiplier)}\n"
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + section)


def run_mutmut(copy: Path, module: Module, names: list[str], max_children: int, log: Path) -> float:
    script = ensure_tool()
    # Without a mutants/ folder at start-up the editable install would be imported instead.
    (copy / "mutants").mkdir(exist_ok=True)
    env = dict(os.environ)
    write_child_hook()
    env["PYTHONPATH"] = f"{copy / 'mutants'}:{TOOL_DIR}:{HOOK_DIR}"
    env["MUTMUT_CHILD_HITS"] = str(copy / "child-hits.txt")
    env.pop("CI", None)
    cmd = [sys.executable, str(script), "run", "--max-children", str(max_children), *names]
    start = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(cmd, cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"mutmut failed for {module.name} (exit {done.returncode}):\n{tail}")
    return time.monotonic() - start


DUMP = r"""
import json, sys
from mutmut.configuration import config
from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files
out = []
for path in walk_mutatable_files():
    data = SourceFileMutationData(path=path)
    data.load()
    for key, code in sorted(data.exit_code_by_key.items()):
        out.append({"key": key, "file": str(path), "exit_code": code,
                    "status": status_by_exit_code[code],
                    "diff": get_diff_for_mutant(key, path=path)})
json.dump(out, sys.stdout)
"""


def dump_mutants(copy: Path) -> list[dict[str, Any]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(TOOL_DIR)
    done = subprocess.run(
        [sys.executable, "-c", DUMP], cwd=copy, env=env, capture_output=True, text=True, check=True
    )
    return list(json.loads(done.stdout))


def changed_lines(diff: str) -> tuple[str, str]:
    old = [
        ln[1:].strip()
        for ln in diff.splitlines()
        if ln.startswith("-") and not ln.startswith("---")
    ]
    new = [
        ln[1:].strip()
        for ln in diff.splitlines()
        if ln.startswith("+") and not ln.startswith("+++")
    ]
    return JOIN.join(old), JOIN.join(new)


def function_spans(source: str) -> dict[str, tuple[int, int]]:
    """mutmut's mangled name of every function and method -> its first and last line."""
    spans: dict[str, tuple[int, int]] = {}
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            spans[f"x_{node.name}"] = (node.lineno, node.end_lineno or node.lineno)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    key = f"x\u01c1{node.name}\u01c1{item.name}"
                    spans[key] = (item.lineno, item.end_lineno or item.lineno)
    return spans


def locate(source_lines: list[str], span: tuple[int, int] | None, old: str, diff: str) -> int:
    """The line of the original file that the mutant changes (0 when it cannot be placed)."""
    first_old = old.split(JOIN)[0]
    if span is None or not first_old:
        return 0
    start, end = span
    hits = [n for n in range(start, end + 1) if source_lines[n - 1].strip() == first_old]
    if len(hits) == 1:
        return hits[0]
    # Several identical lines: use the hunk's offset inside the function.
    for ln in diff.splitlines():
        if ln.startswith("@@"):
            rel = int(ln.split()[1].lstrip("-").split(",")[0])
            offset = next(
                (i for i, ln2 in enumerate(diff.splitlines()[3:]) if ln2.startswith("-")), 0
            )
            guess = start + rel - 1 + offset
            return min(hits, key=lambda n: abs(n - guess)) if hits else guess
    return hits[0] if hits else start


def describe(copy: Path, mutants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sources: dict[str, tuple[list[str], dict[str, tuple[int, int]]]] = {}
    rows = []
    for m in mutants:
        if m["file"] not in sources:
            text = (copy / m["file"]).read_text()
            sources[m["file"]] = (text.splitlines(), function_spans(text))
        lines, spans = sources[m["file"]]
        function = m["key"].rpartition(".")[2].rsplit("__mutmut_", 1)[0]
        old, new = changed_lines(m["diff"])
        rows.append(
            {
                "key": m["key"],
                "file": m["file"],
                "line": locate(lines, spans.get(function), old, m["diff"]),
                "status": m["status"],
                "old": old,
                "new": new,
            }
        )
    return rows


def _tokens(line: str) -> list[tuple[int, str]] | None:
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(line + "\n").readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    skip = {tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT}
    return [(t.type, t.string) for t in toks if t.type not in skip and t.type != tokenize.COMMENT]


def diagnostic_text(row: dict[str, Any]) -> bool:
    """A mutant that changes only the words of an error message or a diagnostic label.

    The rule (stated in mutation.md): the old and new lines differ only in string literals, in
    the name `what` (the label medvault's parsers put in their errors) or in `None` put in their
    place, and the line is a `raise` or assigns `what`, or only `what` changed (by convention
    the parameter that carries a parser's label into its errors), or each changed string holds
    a space and more than whitespace (protocol constants such as JSON field names, labels and
    magics hold no space, and a separator such as " " is whitespace alone, so a surviving
    mutant of one is still reported). crypto/labels.py is never matched:
    its strings are the domain-separation labels."""
    if row["file"].endswith("crypto/labels.py") or JOIN in row["old"]:
        return False
    old, new = _tokens(row["old"]), _tokens(row["new"])
    if old is None or new is None:
        return False
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    changed_old: list[tuple[int, str]] = []
    changed_new: list[tuple[int, str]] = []
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op != "equal":
            changed_old += old[a1:a2]
            changed_new += new[b1:b2]
    if not changed_old:
        return False
    if not all(t[0] == tokenize.STRING or t == (tokenize.NAME, "what") for t in changed_old):
        return False
    if not all(t[0] == tokenize.STRING or t == (tokenize.NAME, "None") for t in changed_new):
        return False
    stripped = row["old"].lstrip()
    if stripped.startswith("raise ") or stripped.startswith("what ="):
        return True
    if all(t == (tokenize.NAME, "what") for t in changed_old):
        return True
    strings = [t[1] for t in changed_old if t[0] == tokenize.STRING]
    # Words hold a space; a string of whitespace alone is a separator (a protocol constant).
    return bool(strings) and all(" " in s and _words(s) for s in strings)


def _words(token: str) -> bool:
    """Whether the string literal TOKEN holds more than whitespace."""
    try:
        value = ast.literal_eval(token)
    except (ValueError, SyntaxError):
        return True  # an f-string: words around its fields
    return not isinstance(value, str) or bool(value.strip())


def load_allowlist() -> list[dict[str, str]]:
    if not ALLOWLIST.exists():
        return []
    return list(tomllib.loads(ALLOWLIST.read_text()).get("equivalent", []))


def allowlisted(row: dict[str, Any], allow: list[dict[str, str]]) -> dict[str, str] | None:
    for entry in allow:
        if (entry["file"], entry["old"].strip(), entry["new"].strip()) == (
            row["file"],
            row["old"],
            row["new"],
        ):
            return entry
    return None


def run_phase(
    module: Module,
    phase: str,
    tests: list[str],
    names: list[str],
    max_children: int,
    resume: bool = False,
) -> tuple[list[dict[str, Any]], float]:
    copy = WORK / f"{module.name}-{phase}"
    if resume and (copy / "mutants").is_dir():
        # mutmut keeps each mutant's result as it goes and skips those already run.
        print(f"[{module.name}] {phase}: resuming the stopped run in {copy.relative_to(ROOT)}")
    else:
        snapshot(copy)
        configure(copy, module, tests)
    log = WORK / f"{module.name}-{phase}.log"
    print(f"[{module.name}] {phase}: mutmut run (log: {log.relative_to(ROOT)})", flush=True)
    seconds = run_mutmut(copy, module, names, max_children, log)
    return describe(copy, dump_mutants(copy)), seconds


def selected(rows: list[dict[str, Any]], globs: list[str]) -> list[dict[str, Any]]:
    if not globs:
        return rows
    return [r for r in rows if any(fnmatch.fnmatch(r["key"], g) for g in globs)]


def save(
    module: Module, rows: list[dict[str, Any]], commit: str, seconds: float, phases: list[str]
) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "module": module.name,
        "commit": commit,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(seconds),
        "phases": phases,
        "mutate": module.mutate,
        "mutants_filter": module.mutants,
        "tests": module.tests,
        "wide": module.wide,
        "mutants": rows,
    }
    (RESULTS / f"{module.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"[{module.name}] {len(rows)} mutants in {seconds:.0f} s", flush=True)


def collect_quick(module: Module) -> None:
    """Save phase 1's results from its copy, as a --quick-only run would have (for a run
    stopped before phase 2; mutmut keeps each mutant's result as it goes)."""
    copy = WORK / f"{module.name}-quick"
    marker = copy / ".mutation-commit"
    commit = marker.read_text().strip() if marker.exists() else git_commit()
    rows = selected(describe(copy, dump_mutants(copy)), module.mutants)
    save(module, rows, commit, 0.0, ["quick"])


def run_module(
    module: Module, max_children: int, commit: str, quick_only: bool = False, resume: bool = False
) -> None:
    """Phase 1 runs every mutant against the module's quick pool; phase 2 runs only phase 1's
    survivors against the quick pool plus the slow one (`wide`), so a slow campaign test is paid
    for only by the mutants that the quick tests did not kill."""
    if resume and (WORK / f"{module.name}-quick" / ".mutation-commit").exists():
        commit = (WORK / f"{module.name}-quick" / ".mutation-commit").read_text().strip()
    rows, seconds = run_phase(module, "quick", module.tests, module.mutants, max_children, resume)
    rows = selected(rows, module.mutants)
    left = [r["key"] for r in rows if r["status"] not in KILLED]
    phases = ["quick"]
    if module.wide and left and not quick_only:
        phases.append("wide")
        wide_rows, more = run_phase(module, "wide", module.tests + module.wide, left, max_children)
        seconds += more
        merge_statuses(rows, {r["key"]: r for r in wide_rows}, "wide")
    save(module, rows, commit, seconds, phases)


def merge_statuses(
    rows: list[dict[str, Any]], later: dict[str, dict[str, Any]], phase: str
) -> None:
    """A later phase's verdict replaces a survivor's; a kill is never taken back, and a
    mutant the later phase did not check (it was stopped first) keeps its verdict."""
    for r in rows:
        if (
            r["key"] in later
            and r["status"] not in KILLED
            and later[r["key"]]["status"] != ("not checked")
        ):
            r["status"] = later[r["key"]]["status"]
            r["phase"] = phase


def mutated_blobs(commit: str, globs: list[str]) -> dict[str, str]:
    """The blob id of each file a module mutates, as COMMIT holds it."""
    out = subprocess.run(
        ["git", "ls-tree", "-r", commit, "medvault"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    blobs: dict[str, str] = {}
    for line in out.stdout.splitlines():
        meta, path = line.split("\t", 1)
        if any(fnmatch.fnmatch(path, g) for g in globs):
            blobs[path] = meta.split()[2]
    return blobs


def changed_since(old: str, new: str) -> list[str]:
    out = subprocess.run(
        ["git", "diff", "--name-only", old, new, "--", "medvault"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def function_sources(commit: str, path: str) -> tuple[dict[str, str], str]:
    """PATH at COMMIT: each function's source by mutmut's mangled name, and the rest of the
    file (what lies outside every function)."""
    done = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        return {}, ""
    lines = done.stdout.splitlines()
    spans = function_spans(done.stdout)
    inside = {n for a, b in spans.values() for n in range(a, b + 1)}
    outside = "\n".join(ln for n, ln in enumerate(lines, 1) if n not in inside)
    return {name: "\n".join(lines[a - 1 : b]) for name, (a, b) in spans.items()}, outside


def changed_functions(module: Module, old: str, new: str) -> list[str]:
    """The mutant-name prefix of every function of MODULE's mutated files whose source
    differs between OLD and NEW. mutmut mutates only inside functions and numbers each
    function's mutants from its own source, so a mutant of an unchanged function is the
    same change to the same code. A change outside the functions (a constant, an import)
    could change what any mutant does: then only a whole run will do."""
    before, after = mutated_blobs(old, module.mutate), mutated_blobs(new, module.mutate)
    changed: list[str] = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) == after.get(path):
            continue
        (old_funcs, old_rest), (new_funcs, new_rest) = (
            function_sources(old, path),
            function_sources(new, path),
        )
        if old_rest != new_rest:
            raise SystemExit(
                f"{module.name}: {path} changed outside its functions since {old[:7]}; "
                "run the whole module"
            )
        prefix = path.removesuffix(".py").replace("/", ".")
        changed += [
            f"{prefix}.{name}"
            for name in sorted(set(old_funcs) | set(new_funcs))
            if old_funcs.get(name) != new_funcs.get(name)
        ]
    return changed


def rerun_survivors(module: Module, max_children: int, commit: str, collect: bool = False) -> None:
    """Run the saved result's survivors again on HEAD, the quick pool first and then both
    pools for what is left: for tests added since. Every mutant of a function changed since
    the saved run is run afresh the same way and replaces that function's old results; a
    mutant of an unchanged function is the same change to the same code, so its result
    stands. The result names both commits, the functions run afresh and any other file of
    medvault/ that changed between them. COLLECT: run nothing; save what the copies of such
    a rerun that was stopped hold (a mutant it did not reach keeps its verdict)."""
    path = RESULTS / f"{module.name}.json"
    if not path.exists():
        raise SystemExit(f"{module.name}: no saved result to rerun; run the module first")
    result = json.loads(path.read_text())
    if collect:
        marker = WORK / f"{module.name}-again-quick" / ".mutation-commit"
        if not marker.exists():
            raise SystemExit(f"{module.name}: no survivors rerun to collect")
        commit = marker.read_text().strip()

    def phase_rows(
        phase: str, tests: list[str], names: list[str]
    ) -> tuple[list[dict[str, Any]], float] | None:
        if not collect:
            return run_phase(module, phase, tests, names, max_children)
        copy = WORK / f"{module.name}-{phase}"
        if not (copy / "mutants").is_dir():
            return None
        return describe(copy, dump_mutants(copy)), 0.0

    fresh = changed_functions(module, result["commit"], commit)
    globs = [f"{prefix}__mutmut_*" for prefix in fresh]

    def afresh(key: str) -> bool:
        return any(fnmatch.fnmatch(key, g) for g in globs)

    result["mutants"] = [r for r in result["mutants"] if not afresh(r["key"])]
    # Surviving message-text and allowlisted mutants are accepted already: not run again.
    # Those a stopped run never checked are run.
    allow = load_allowlist()
    left = [
        r["key"]
        for r in result["mutants"]
        if r["status"] not in KILLED
        and (
            r["status"] == "not checked"
            or (not diagnostic_text(r) and allowlisted(r, allow) is None)
        )
    ]
    if not left and not globs:
        print(f"[{module.name}] no survivors to rerun")
        return
    seconds = 0.0
    by_key: dict[str, dict[str, Any]] = {}
    new_rows: list[dict[str, Any]] = []
    pools = [("again-quick", module.tests), ("again-wide", module.tests + module.wide)]
    for phase, tests in pools if module.wide else pools[:1]:
        names = [k for k in left if by_key.get(k, {}).get("status") not in KILLED]
        if phase == "again-quick":
            names += globs
        if not names:
            break
        got = phase_rows(phase, tests, names)
        if got is None:
            break
        rows, more = got
        seconds += more
        if phase == "again-quick":
            new_rows = [dict(r, phase="again") for r in rows if afresh(r["key"])]
            left += [
                r["key"]
                for r in new_rows
                if not diagnostic_text(r) and allowlisted(r, allow) is None
            ]
        ran = set(names) | {r["key"] for r in new_rows if phase == "again-quick"}
        by_key.update({r["key"]: r for r in rows if r["key"] in ran})
    merge_statuses(new_rows, by_key, "again")
    merge_statuses(result["mutants"], by_key, "again")
    result["mutants"] += new_rows
    result["phases"] = [*result.get("phases", ["quick", "wide"]), "again"]
    result["survivors_rerun"] = {
        "commit": commit,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mutants": len(left),
        "seconds": round(seconds),
        "functions_afresh": fresh,
        "other_changes": changed_since(result["commit"], commit),
        "stopped": collect,
    }
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"[{module.name}] {len(left)} survivors rerun in {seconds:.0f} s", flush=True)


def score(rows: list[dict[str, Any]], allow: list[dict[str, str]]) -> dict[str, Any]:
    # A run stopped part way leaves mutants "not checked": counted apart, outside the score.
    unchecked = [r for r in rows if r["status"] == "not checked"]
    rows = [r for r in rows if r["status"] != "not checked"]
    killed = [r for r in rows if r["status"] in KILLED]
    rest = [r for r in rows if r["status"] not in KILLED]
    texts = [r for r in rest if diagnostic_text(r)]
    rest = [r for r in rest if not diagnostic_text(r)]
    accepted = [(r, e) for r in rest if (e := allowlisted(r, allow)) is not None]
    survivors = [r for r in rest if allowlisted(r, allow) is None]
    denominator = len(rows) - len(accepted) - len(texts)
    pct = 100.0 * len(killed) / denominator if denominator else 100.0
    return {
        "killed": killed,
        "texts": texts,
        "accepted": accepted,
        "survivors": survivors,
        "score": pct,
        "unchecked": unchecked,
    }


def report(plan: list[Module]) -> bool:
    allow = load_allowlist()
    used: set[int] = set()
    lines = [
        "# Mutation campaign (issue 19)",
        "",
        "Written by `bench/mutation.py` (mutmut 3.8.1, plan `bench/mutation_plan.toml`, "
        "allowlist `bench/mutation_allowlist.toml`). Each module was run on a `git archive` "
        "copy of the commit named in its row. Score = killed / (mutants - allowlisted "
        'equivalents - surviving message-text mutants); timeouts count as killed; "no tests" '
        "(reached only by CLI subprocess tests, or by none) counts as not killed. "
        f"Gate: >= {GATE:.0f} % per module.",
        "",
        "Message-text mutants: a surviving mutant that changes only the words of an error "
        "message or a parser's diagnostic label (`what`), or puts `None` in their place, leaves "
        "every check as it was: the same error class is raised at the same place. The rule "
        "(`diagnostic_text` in bench/mutation.py) takes only a `raise` line, an assignment of "
        "`what`, a changed `what` argument, or strings that hold a space and more than "
        "whitespace, so a surviving change to a protocol constant (a JSON field name, a "
        'magic, a label, a separator such as `" "`) is still a survivor. They are counted, '
        "not listed.",
        "",
        "| module | files | mutants | killed | message text | allowlisted | survivors | score "
        "| commit | date | time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    ok = True
    details: list[str] = []
    results = {
        m.name: json.loads(path.read_text())
        for m in plan
        if (path := RESULTS / f"{m.name}.json").exists()
    }
    for module in plan:
        if module.name not in results:
            lines.append(
                f"| {module.name} | {', '.join(module.mutate)} | not run | | | | | | | | |"
            )
            ok = False
            continue
        res = results[module.name]
        s = score(res["mutants"], allow)
        for _, entry in s["accepted"]:
            used.add(id(entry))
        passed = s["score"] >= GATE and not s["unchecked"]
        ok = ok and passed
        files = ", ".join(f"`{g}`" for g in res["mutate"])
        if res["mutants_filter"]:
            files += " (the functions the plan names)"
        counts = [len(res["mutants"]), len(s["killed"]), len(s["texts"]), len(s["accepted"])]
        counts.append(len(s["survivors"]))
        commit = res["commit"][:7]
        phases = res.get("phases", ["quick", "wide"])
        if "wide" not in phases and "again" not in phases and res["wide"]:
            commit += " (quick pool only)"
        if s["unchecked"]:
            commit += f" (stopped: {len(s['unchecked'])} not checked, outside the score)"
        if "survivors_rerun" in res:
            again = res["survivors_rerun"]
            commit += f", survivors again at {again['commit'][:7]}"
            if again.get("stopped"):
                commit += (
                    " (that rerun stopped part way: a mutant it did not reach keeps its verdict)"
                )
            if again.get("functions_afresh"):
                commit += (
                    f" (functions changed since, run afresh: {len(again['functions_afresh'])})"
                )
            if again.get("other_changes"):
                commit += f" (other medvault/ files changed: {len(again['other_changes'])})"
        verdict = "" if passed else " (incomplete)" if s["unchecked"] else " (below gate)"
        lines.append(
            f"| {module.name} | {files} | {' | '.join(str(c) for c in counts)} "
            f"| {s['score']:.1f} %{verdict} | {commit} "
            f"| {res['date']} | {res['seconds'] // 60} min |"
        )
        if s["survivors"]:
            details.append(f"### {module.name}: survivors")
            details.append("")
            for r in sorted(s["survivors"], key=lambda r: (r["file"], r["line"])):
                details.append(
                    f"- `{r['file']}:{r['line']}` ({r['status']}): `{r['old']}` -> `{r['new']}`"
                )
            details.append("")
    # An entry of a module not run yet is not stale, only unused so far.
    run_files = {r["file"] for res in results.values() for r in res["mutants"]}
    stale = [e for e in allow if id(e) not in used and e["file"] in run_files]
    lines += ["", *details]
    lines += ["## Allowlisted equivalent mutants", ""]
    for entry in allow:
        if id(entry) in used:
            lines.append(
                f"- `{entry['file']}`: `{entry['old']}` -> `{entry['new']}`: {entry['reason']}"
            )
    if stale:
        lines += ["", "## Stale allowlist entries (match no survivor)", ""]
        lines += [f"- `{e['file']}`: `{e['old']}` -> `{e['new']}`" for e in stale]
    REPORT.write_text("\n".join(lines) + "\n")
    return ok


def need_project_python() -> None:
    """mutmut runs pytest in this interpreter: without the project's packages every mutant
    would fail to start and count as killed, so refuse at once."""
    missing = [m for m in ("pytest", "medvault") if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(
            f"{sys.executable} lacks {', '.join(missing)}: run this with the project's "
            "virtualenv python (.venv/bin/python bench/mutation.py)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--module", action="append", default=[], help="run only this module (repeatable)"
    )
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--quick-only",
        action="store_true",
        help="phase 1 only; --survivors later runs the survivors with both pools",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="go on with a stopped phase 1 in its copy instead of starting afresh",
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="save phase 1's results from the copy of a run that was stopped (with "
        "--survivors: those of a stopped survivors rerun)",
    )
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="rerun only the saved survivors (the module's mutated files unchanged since that run)",
    )
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    plan = load_plan()
    if args.list:
        for m in plan:
            print(f"{m.name}: {', '.join(m.mutate)} ({len(m.tests)} test files)")
        return 0
    names = {m.name for m in plan}
    unknown = set(args.module) - names
    if unknown:
        parser.error(f"unknown module(s): {', '.join(sorted(unknown))}; see --list")
    if not args.report_only:
        need_project_python()
        commit = git_commit()
        for module in plan:
            if not args.module or module.name in args.module:
                if args.collect and args.survivors:
                    rerun_survivors(module, args.max_children, commit, collect=True)
                elif args.collect:
                    collect_quick(module)
                elif args.survivors:
                    rerun_survivors(module, args.max_children, commit)
                else:
                    run_module(module, args.max_children, commit, args.quick_only, args.resume)
    ok = report(plan)
    print(f"wrote {REPORT.relative_to(ROOT)}; gate {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
