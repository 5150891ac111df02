"""What the benchmark and stress scripts share: their --runs, --out and --workdir options,
writing the report, a child's peak RSS, the date and machine line, the state of the
medvault/ tree measured, a throwaway organisation, and running again from a `git archive`
copy (--snapshot)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medvault.registry.sql import Registry

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SNAPSHOT_ENV = "MEDVAULT_BENCH_SNAPSHOT"  # the commit a --snapshot run was copied from


def add_run_arguments(parser: argparse.ArgumentParser, report: str, runs: int = 3) -> None:
    """--runs, --out (bench/results/REPORT unless given) and --workdir (the temporary
    folders go there; the system's default when not given)."""
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--out", type=Path, default=RESULTS / report)
    parser.add_argument("--workdir", type=Path, default=None)


def publish(out: Path, report: str) -> None:
    """Write REPORT to OUT (its folder made if need be) and print it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(report)


def hwm_mib(pid: int) -> float | None:
    """The process's peak resident set so far (VmHWM; reset at exec, unlike ru_maxrss,
    which would count this benchmark's own memory at fork time)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def tree_pss_mib(pid: int) -> float:
    """The proportional set size (MiB) of PID and every process it started, summed: pages
    a forked helper shares with its parent count once (as RSS would count them twice).
    What a process that runs alone holds is its VmHWM; a command that forks (extract's
    decrypting helper) holds this much at the moment it is read."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                total += (
                    next(int(line.split()[1]) for line in rollup if line.startswith("Pss:")) / 1024
                )
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo.extend(int(child) for child in children.read().split())
        except (OSError, StopIteration, ValueError):
            continue
    return total


def peak_until_exit(proc: subprocess.Popen[bytes]) -> float:
    """Peak RSS (MiB) of PROC: VmHWM polled every 10 ms until it exits. It only grows, so
    the last reading is the peak up to within the final 10 ms; 0 if the process exited
    before the first reading."""
    peak = 0.0
    while proc.poll() is None:
        hwm = hwm_mib(proc.pid)
        if hwm is not None and proc.poll() is None:
            peak = max(peak, hwm)
        time.sleep(0.01)
    return peak


def date_and_machine() -> str:
    """The start of a report's first line: date (UTC), cores, RAM and Python version."""
    return (
        f"Date {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') >> 30} GiB RAM; "
        f"Python {platform.python_version()}"
    )


def throwaway_org(root: Path) -> tuple[Path, Registry]:
    """A throwaway organisation in ROOT/home (admins a and b, threshold 2, ML-KEM-768 +
    X25519 escrow) and a SQLite registry beside it: the config's path and the registry,
    which the caller closes. medvault is imported here, not by every script that imports
    this module."""
    from medvault.crypto.escrow import EscrowSuite
    from medvault.registry.sql import Registry
    from medvault.vault.env import Env
    from medvault.vault.org import init_org

    home = root / "home"
    home.mkdir()
    created = init_org("Bench", "c", ["a", "b"], 2, EscrowSuite.MLKEM768_X25519, home,
                       Env().timestamp())  # fmt: skip
    return created.config_path, Registry.for_path(home / "registry.sqlite")


def medvault_changes() -> list[str]:
    """`git status --porcelain` of medvault/: one line per uncommitted file (none when git
    cannot tell)."""
    return subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "medvault"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()


def run_from_snapshot(
    script: str, args: argparse.Namespace, prefix: str, say: Callable[[str], None]
) -> int:
    """Run bench/SCRIPT again, with this process's arguments but --snapshot, from a
    `git archive HEAD` copy of the repository made in a PREFIX folder under args.workdir:
    medvault is being edited while a long run goes on, and a half-saved file would fail or
    skew the cases that start at that moment. PYTHONPATH puts the copy first for every
    process, PYTHONSAFEPATH keeps the current folder (perhaps the working tree) off
    sys.path, and SNAPSHOT_ENV names the commit. Returns the child's exit status."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    copy = Path(tempfile.mkdtemp(prefix=prefix, dir=args.workdir))
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(copy)], input=archive, check=True)
        say(f"measuring commit {commit[:7]} from a copy in {copy}")
        argv = [arg for arg in sys.argv[1:] if arg != "--snapshot"]
        env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONSAFEPATH": "1", SNAPSHOT_ENV: commit}
        child = copy / "bench" / script
        out = ["--out", str(args.out.resolve())]  # the copy's own ROOT is not where it goes
        done = subprocess.run([sys.executable, str(child), *argv, *out], env=env, check=False)
        return int(done.returncode)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def byte_compile_medvault() -> str:
    """Compile the medvault being measured to bytecode first, as pip does when it installs
    a package. With PYTHONDONTWRITEBYTECODE set (it is, on this machine) and a source tree
    or editable install, every command would otherwise compile each of its modules again,
    0.1-0.15 s a command here: a cost of this set-up, not of medvault."""
    import compileall

    import medvault

    package = Path(medvault.__file__).parent
    ok = compileall.compile_dir(package, quiet=1)
    state = "byte-compiled first" if ok else "NOT all byte-compiled (compileall failed)"
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
    return f"medvault's modules were {state}, as pip does on install" + (
        " (PYTHONDONTWRITEBYTECODE is set here, so nothing else would)" if flag else ""
    )
