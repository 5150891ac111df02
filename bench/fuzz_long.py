"""The long fuzz run: every target of tests/fuzz/ for N minutes each, one after another.

    python bench/fuzz_long.py [--minutes 3] [--targets a,b] [--out bench/results/fuzz.md]

Each target runs as `python -m tests.fuzz.run TARGET` (atheris + libFuzzer) under `nice -n
10`, with -rss_limit_mb=1024 and -timeout=10, starting from the seed corpus (test vectors,
a library-made vault, past findings). The report gives per target: executions, exec/s,
coverage (libFuzzer's `cov`: edges, and `ft`: features, of the instrumented modules listed
in tests/fuzz/covers.py), corpus size, peak RSS, and findings (crash-/timeout-/oom- files,
kept under --keep). Exit 1 if any target found anything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.covers import COVERS  # noqa: E402
from tests.fuzz.regressions import regressions  # noqa: E402

FLAGS = ["-rss_limit_mb=1024", "-timeout=10", "-print_final_stats=1", "-seed=1"]
DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")
ANY = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")
STAT = re.compile(r"stat::(\w+):\s+(\d+)")
SEEDS_FOUND = re.compile(r"INFO:\s+(\d+) files found in \S+/seeds/\w+")


@dataclass
class Result:
    target: str
    seconds: float
    exit_code: int
    execs: int = 0
    exec_per_s: int = 0
    cov: int = 0
    ft: int = 0
    corpus_units: int = 0
    corpus_size: str = ""
    peak_rss_mb: int = 0
    seeds: int = 0
    findings: list[str] = field(default_factory=list)
    first_error: str = ""
    commit: str = ""


def _error_line(output: str) -> str:
    """The exception (or libFuzzer error) a finding reported, on one line."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "Uncaught Python exception" in line:
            tail = [ln for ln in lines[i + 1 : i + 40] if ln and not ln.startswith((" ", "\t"))]
            return next((ln for ln in tail if not ln.startswith("Traceback")), line)
    return next((ln for ln in lines if "ERROR: libFuzzer" in ln), "")


def run_target(target: str, seconds: int, seeds: Path, keep: Path) -> Result:
    corpus = Path(tempfile.mkdtemp(prefix=f"medvault-fuzz-long-{target}-"))
    artifacts = keep / target
    artifacts.mkdir(parents=True, exist_ok=True)
    argv = ["nice", "-n", "10", sys.executable, "-m", "tests.fuzz.run", target]
    argv += [*FLAGS, f"-max_total_time={seconds}", f"-artifact_prefix={artifacts}/"]
    argv += [str(corpus), str(seeds / target)]
    start = time.monotonic()
    proc = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, check=False, timeout=seconds + 600
    )
    output = proc.stdout + proc.stderr
    (artifacts / "libfuzzer.log").write_text(output)
    (artifacts / "commit.txt").write_text(_commit())
    shutil.rmtree(corpus, ignore_errors=True)
    return parse(target, output, time.monotonic() - start, proc.returncode, seeds, artifacts)


def parse(
    target: str, output: str, seconds: float, exit_code: int, seeds: Path, artifacts: Path
) -> Result:
    """A Result from libFuzzer's output (-print_final_stats=1) and the artifacts folder."""
    result = Result(target, seconds, exit_code)
    stats = {k: int(v) for k, v in STAT.findall(output)}
    result.execs = stats.get("number_of_executed_units", 0)
    result.exec_per_s = stats.get("average_exec_per_sec", 0)
    result.peak_rss_mb = stats.get("peak_rss_mb", 0)
    lines = DONE.findall(output) or ANY.findall(output)
    if lines:
        _, cov, ft, units, size = lines[-1]
        result.cov, result.ft, result.corpus_units = int(cov), int(ft), int(units)
        result.corpus_size = size
    found = SEEDS_FOUND.findall(output)  # libFuzzer names each corpus folder it loads
    result.seeds = int(found[-1]) if found else len(list((seeds / target).iterdir()))
    commit = artifacts / "commit.txt"
    result.commit = commit.read_text().strip() if commit.exists() else _commit()
    result.findings = sorted(
        p.name for p in artifacts.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))
    )
    if result.findings or exit_code:
        result.first_error = _error_line(output)
    return result


def from_logs(keep: Path, targets: list[str]) -> list[Result]:
    """Results re-read from an earlier run's --keep folder (to re-render the report)."""
    results = []
    for target in targets:
        artifacts = keep / "runs" / target
        output = (artifacts / "libfuzzer.log").read_text()
        done = re.search(r"Done \d+ runs in (\d+) second", output)
        seconds = float(done.group(1)) if done else 0.0
        results.append(parse(target, output, seconds, 0 if done else 1, keep / "seeds", artifacts))
    return results


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "medvault", "tests/fuzz"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def _commits(results: list[Result]) -> str:
    """The commit the targets ran at, and any target that ran at another."""
    counts = Counter(r.commit for r in results)
    main = counts.most_common(1)[0][0]
    others = [f"{r.target} at {r.commit}" for r in results if r.commit != main]
    return main + (f" ({'; '.join(others)})" if others else "")


def render(results: list[Result], minutes: float, started: dt.datetime) -> str:
    total_execs = sum(r.execs for r in results)
    found = [r for r in results if r.findings or r.exit_code]
    lines = [
        "# Fuzzing: long run",
        "",
        f"Date {started:%Y-%m-%d %H:%M} UTC; {minutes:g} min per target, one target at a time "
        f"under `nice -n 10`; {os.cpu_count()} cores (shared with other work); "
        f"Python {platform.python_version()}; atheris {_version('atheris')}; "
        f"cryptography {_version('cryptography')}; shamir-mnemonic "
        f"{_version('shamir-mnemonic')}; medvault at {_commits(results)}; "
        f"{platform.platform()}.",
        "",
        f"libFuzzer flags: `{' '.join(FLAGS)} -max_total_time={int(minutes * 60)}`. "
        "Seeds: every test vector, the files of a vault made by the library, and past "
        "findings (`python -m tests.fuzz.seeds DIR`).",
        "",
        "| target | executions | exec/s | cov (edges) | ft (features) | corpus (units/bytes) "
        "| seeds | peak RSS MB | findings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        finding = ", ".join(r.findings) or ("exit " + str(r.exit_code) if r.exit_code else "none")
        lines.append(
            f"| {r.target} | {r.execs:,} | {r.exec_per_s:,} | {r.cov} | {r.ft} | "
            f"{r.corpus_units}/{r.corpus_size} | {r.seeds} | {r.peak_rss_mb} | {finding} |"
        )
    lines += [
        "",
        f"**Total:** {total_execs:,} executions in "
        f"{sum(r.seconds for r in results) / 60:.1f} min; "
        f"{'no findings' if not found else f'{len(found)} target(s) with findings'}.",
        "",
    ]
    for r in found:
        lines.append(f"- {r.target}: {r.first_error or 'see its libfuzzer.log'}")
    lines += ["", "## Findings fixed (now in tests/fuzz/regressions.py)", ""]
    lines += [
        f"- `{case.target}` {case.name}: was {case.was}; now "
        f"{case.error.__name__ if case.error else 'handled'}"
        for case in regressions()
        if case.was  # the others are valid inputs kept as seeds
    ]
    lines += [
        "",
        "What each target feeds (tests/fuzz/targets.py); instrumented modules in "
        "tests/fuzz/covers.py:",
        "",
    ]
    for r in results:
        lines.append(f"- `{r.target}`: {', '.join(COVERS[r.target])}")
    lines += [
        "",
        "`cov` counts the instrumented Python branches (edges) reached, `ft` libFuzzer's "
        "finer features (edge hit-count buckets and compared values); both cover only the "
        "modules listed, so they compare across runs of one target, not across targets.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="per target (default 3)")
    parser.add_argument("--targets", default=",".join(COVERS.keys() - {"planted"}))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fuzz.md")
    parser.add_argument(
        "--keep", type=Path, default=None, help="folder for logs and findings (default: temp)"
    )
    parser.add_argument(
        "--from-logs",
        type=Path,
        default=None,
        help="re-render the report from an earlier run's --keep folder (no fuzzing)",
    )
    args = parser.parse_args()
    wanted = [t for t in COVERS if t in args.targets.split(",") and t != "planted"]
    if args.from_logs:
        results = from_logs(args.from_logs, wanted)
        # When the first target started: its log was written as it ended.
        first = min(
            (args.from_logs / "runs" / r.target / "libfuzzer.log").stat().st_mtime - r.seconds
            for r in results
        )
        started = dt.datetime.fromtimestamp(first, dt.UTC)
        args.out.write_text(render(results, args.minutes, started))
        return 1 if any(r.findings or r.exit_code for r in results) else 0
    keep = args.keep or Path(tempfile.mkdtemp(prefix="medvault-fuzz-long-"))
    seeds = keep / "seeds"
    subprocess.run([sys.executable, "-m", "tests.fuzz.seeds", str(seeds)], cwd=ROOT, check=True)
    started = dt.datetime.now(dt.UTC)
    results = []
    for target in wanted:
        result = run_target(target, int(args.minutes * 60), seeds, keep / "runs")
        print(
            f"{target}: {result.execs:,} execs, {result.exec_per_s:,}/s, cov {result.cov}, "
            f"ft {result.ft}, findings {result.findings or 'none'}",
            flush=True,
        )
        results.append(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, args.minutes, started))
    print(f"wrote {args.out}; logs and findings under {keep / 'runs'}")
    return 1 if any(r.findings or r.exit_code for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
