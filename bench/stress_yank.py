"""Yanked-drive stress run: many FUSE kills during add and compact on FAT32 and exFAT images.

    python bench/stress_yank.py [--trials 50] [--kinds fat32,exfat] [--seed N]
                                [--out bench/results/yank.md] [--workdir DIR]

Each trial (tests/test_yanked_drive.py::run_trial) makes a fresh image, creates a vault with
256 KiB parts and some committed files, then runs `medvault add` (groups of small files each
followed by a file over 1 MiB: several commit points, big files split across parts) or
`medvault compact` (after an rm of most of a pack) as a subprocess, and kills the FUSE
server: right after a random k-th "added" report, or at a random moment of the window in
which the vault's lock is held. Then fsck (-a / -y), remount, verify (repair if needed),
extract everything and compare, one more add. Trials cycle through add/k-th report,
add/timed and compact/timed. Seeds are printed, so any trial can be replayed with --seed.
Exit 1 if any trial lost a committed file or left a vault that does not verify.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medvault import __version__  # noqa: E402
from medvault.keys.passphrase import to_secret  # noqa: E402
from medvault.vault.add import add_files  # noqa: E402
from medvault.vault.create import create_vault  # noqa: E402
from medvault.vault.env import Env  # noqa: E402
from medvault.vault.maintenance import remove_paths  # noqa: E402
from medvault.vault.session import open_headers, unlock  # noqa: E402
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace, make_workspace  # noqa: E402
from tests.media import KINDS, missing_tools, mounted, tool_versions  # noqa: E402
from tests.test_yanked_drive import (  # noqa: E402
    CUT,
    IMAGE_MIB,
    PART_SIZE,
    SERVER,
    Trial,
    add_tree,
    mixed_tree,
    run_trial,
)

SCHEDULE = [("add", False), ("add", True), ("compact", True)]  # cycled through
MEASURE_RUNS = 3


def lock_window(ws: Workspace, workdir: Path, kind: str, op: str) -> float:
    """How long OP holds the vault lock on KIND here (max of a few unkilled runs), plus a
    margin so some kills land just after the last write (while the command records)."""
    spans = []
    for run in range(MEASURE_RUNS):
        rng = random.Random(run)
        folder = workdir / f"measure-{kind}-{op}-{run}"
        folder.mkdir(parents=True)
        with mounted(kind, folder, IMAGE_MIB, loop=True) as stick:
            drive, env, secret = stick.mountpoint, Env(kdf=FAST_KDF), to_secret(PASSPHRASE)
            create_vault(drive, "", secret, ws.org, ws.registry(), env, part_size=PART_SIZE)
            if op == "add":
                args = ["add", str(drive), str(add_tree(folder, rng))]
            else:
                vault = unlock(open_headers(drive), secret)
                src = mixed_tree(folder, rng)
                add_files(vault, [src], False, ws.registry(), env)
                medium = sorted(p.name for p in src.glob("m*.bin"))
                remove_paths(vault, [f"records/{n}" for n in medium[:6]], ws.registry(), env)
                args = ["compact", str(drive)]
            spans.append(_held(ws, args, drive / "MEDVAULT" / "lock"))
    return max(spans) * 1.2 + 0.05


def _held(ws: Workspace, args: list[str], lock: Path) -> float:
    env = dict(ws.env, MEDVAULT_PASSPHRASE_FILE=str(ws.passfile))
    proc = subprocess.Popen(
        [sys.executable, "-m", "medvault", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: float | None = None
    gone: float | None = None
    while proc.poll() is None:
        exists = lock.exists()
        now = time.monotonic()
        if exists and seen is None:
            seen = now
        if seen is not None and not exists and gone is None:
            gone = now
        time.sleep(0.002)
    proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"medvault {args[0]} failed while measuring")
    end = gone or time.monotonic()
    return end - seen if seen is not None else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50, help="trials per file system")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--seed", type=int, default=None, help="first seed (default: random)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "yank.md")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    for kind in kinds:
        reason = missing_tools(kind)
        if reason is not None:
            print(f"cannot run {kind} trials: {reason}", file=sys.stderr)
            return 2
    seed0 = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"first seed {seed0} (replay: --seed {seed0})", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="yank-", dir=args.workdir) as tmp:
        work = Path(tmp)
        ws = make_workspace(work / "ws")
        os.environ["MEDVAULT_HOME"] = str(ws.home)
        windows: dict[tuple[str, str], float] = {}
        trials: list[Trial] = []
        for kind in kinds:
            for op in ("add", "compact"):
                windows[kind, op] = lock_window(ws, work / "measure", kind, op)
                print(f"{kind} {op}: timed kills within {windows[kind, op]:.2f} s", flush=True)
            for n in range(args.trials):
                op, timed = SCHEDULE[n % len(SCHEDULE)]
                seed = seed0 + n
                trial = run_trial(ws, work / "trials", kind, op, seed, timed, windows[kind, op])
                trials.append(trial)
                status = "FAIL " + "; ".join(trial.problems) if trial.problems else "ok"
                found = ", ".join(
                    f"{c.image}: {c.extracted}/{trial.committed} (fsck {c.fsck_exit}, "
                    f"repair {'yes' if c.in_flight else 'no'})"
                    for c in trial.checks
                )
                print(
                    f"{kind} #{n + 1} seed {seed} {op} {trial.kill}: reported {trial.reported}; "
                    f"{found}; {trial.wall_s:.1f} s: {status[:400]}",
                    flush=True,
                )
    wall = time.monotonic() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(trials, windows, seed0, wall))
    print(f"wrote {args.out}")
    return 1 if any(t.problems for t in trials) else 0


def report(
    trials: list[Trial], windows: dict[tuple[str, str], float], seed0: int, wall: float
) -> str:
    versions = tool_versions()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    per_kind = max(1, len(trials) // max(1, len({t.kind for t in trials})))
    lines = [
        "# Yanked-drive stress run",
        "",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Machine: {platform.platform()}, "
        f"{os.cpu_count()} CPUs (shared with other jobs), Python {platform.python_version()}, "
        f"medvault {__version__} (tree at {commit or 'unknown'}, with the other helpers' "
        "uncommitted edits). " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        f"Command: `nice -n 10 python bench/stress_yank.py --trials {per_kind} --seed {seed0}` "
        f"(wall time {wall / 60:.1f} min).",
        "",
        f"Each trial: a fresh {IMAGE_MIB} MiB image behind a loop device, mounted with fusefat "
        f"or exfat-fuse; a vault with {PART_SIZE // 1024} KiB parts and 11 committed files (one "
        "of 1.3 MB); `sync`; then the command, and the FUSE server is SIGKILLed. Two images are "
        "checked: **pulled**, the image file copied at the kill (what the stick held: what the "
        "server had fsynced to its device, or the kernel had written back on its own; the loop "
        "device's page cache is not in it), and **server killed**, the image after the loop "
        "device is detached (everything the dead server had written). Each gets fsck (-a / -y), "
        "a mount, `verify` (then `repair` and `verify` if it failed), `extract` of everything, "
        "compared byte for byte with the sources; the second also one more `add` and `verify`.",
        "",
        "Timed kills fall uniformly in the window after the vault's lock file appears: "
        + ", ".join(f"{k} {o} {w:.2f} s" for (k, o), w in windows.items())
        + " (the longest lock-held time of 3 unkilled runs, x1.2, + 50 ms).",
        "",
        "## Summary",
        "",
        "| file system | command | kill | trials | reported added (compact: live) | image | "
        "must survive | extracted identical | lost | trials losing files | removed files back | "
        "fsck repaired | repair needed | median trial |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str, str], list[Trial]] = collections.defaultdict(list)
    for t in trials:
        timed = t.kill.startswith("t+")
        groups[t.kind, t.op, "random moment" if timed else "after k-th added"].append(t)
    for (kind, op, mode), group in sorted(groups.items()):
        for image in (CUT, SERVER):
            checks = [c for t in group if (c := t.check(image)) is not None]
            lines.append(
                f"| {kind} | {op} | {mode} | {len(group)} | {sum(t.reported for t in group)} | "
                f"{image} | {sum(t.committed for t in group)} | "
                f"{sum(c.extracted for c in checks)} | {sum(len(c.lost) for c in checks)} | "
                f"{sum(bool(c.lost) for c in checks)} | "
                f"{sum(len(c.resurrected) for c in checks)} | "
                f"{sum(c.fsck_exit == 1 for c in checks)} | "
                f"{sum(bool(c.in_flight) for c in checks)} | "
                f"{statistics.median(t.wall_s for t in group):.1f} s |"
            )
    lines += ["", "## Totals", ""]
    for kind in sorted({t.kind for t in trials}):
        mine = [t for t in trials if t.kind == kind]
        for image in (CUT, SERVER):
            checks = [c for t in mine if (c := t.check(image)) is not None]
            lines.append(
                f"- {kind}, {image}: {len(checks)} trials, "
                f"{sum(t.committed for t in mine)} committed files checked, "
                f"{sum(len(c.lost) for c in checks)} lost in "
                f"{sum(bool(c.lost) for c in checks)} trial(s); "
                f"{sum(bool(c.problems) for c in checks)} trial(s) with any problem."
            )
    lines += [
        "",
        "## What fsck said",
        "",
        "| file system | image | finding | trials |",
        "|---|---|---|---|",
    ]
    findings: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for t in trials:
        for c in t.checks:
            for finding in {_generic(f) for f in c.fsck_findings}:
                findings[t.kind, c.image, finding] += 1
    for (kind, image, finding), n in sorted(findings.items()):
        lines.append(f"| {kind} | {image} | {finding} | {n} |")
    lines += ["", "## What was in flight (verify before repair)", ""]
    flights: collections.Counter[str] = collections.Counter()
    for t in trials:
        for c in t.checks:
            for item in c.in_flight:
                flights[f"{t.kind} {t.op}, {c.image}: {_generic(item)}"] += 1
    lines += [f"- {item}: {n} trial(s)" for item, n in sorted(flights.items())] or [
        "- nothing: every re-plugged vault verified without repair"
    ]
    lines += ["", "## The killed command's last error line", ""]
    errors: collections.Counter[str] = collections.Counter()
    for t in trials:
        errors[f"{t.kind}: exit {t.command_exit}: {_generic(t.command_error) or '(none)'}"] += 1
    lines += [f"- {item}: {n} trial(s)" for item, n in sorted(errors.items())]
    lines += [
        "",
        "## Trials",
        "",
        "| # | file system | seed | command | kill | reported | must survive | "
        "pulled: extracted, fsck, in flight | server killed: extracted, fsck, in flight | "
        "problems | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, t in enumerate(trials, 1):
        cells = []
        for image in (CUT, SERVER):
            c = t.check(image)
            cells.append(
                "-"
                if c is None
                else f"{c.extracted}, {c.fsck_exit}, "
                + ("; ".join(_generic(x) for x in c.in_flight) or "-")
            )
        problems = "; ".join(_generic(p) for p in t.problems)[:300] or "-"
        lines.append(
            f"| {n} | {t.kind} | {t.seed} | {t.op} | {t.kill} | {t.reported} | {t.committed} | "
            f"{cells[0]} | {cells[1]} | {problems} | {t.wall_s:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _generic(text: str) -> str:
    """A finding without the numbers and names that differ from trial to trial."""
    out = []
    for word in text.replace("|", "/").split():
        if any(c.isdigit() for c in word) and len(word) > 3:
            word = "N"
        out.append(word)
    return " ".join(out)


if __name__ == "__main__":
    sys.exit(main())
