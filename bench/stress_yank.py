"""Yanked-drive stress run: many FUSE kills during add and compact on FAT32 and exFAT images.

    python bench/stress_yank.py [--trials 50] [--media fat32,fat32-4k,exfat] [--seed N]
                                [--large 9000000] [--out bench/results/yank.md] [--workdir DIR]

Each trial (tests/media/test_yanked_drive.py::run_trial) makes a fresh image, creates a vault with
256 KiB parts and some committed files, then runs `medvault add` (groups of small files each
followed by a file over 1 MiB: several commit points, big files split across parts) or
`medvault compact` (after an rm of most of a pack) as a subprocess, and kills the FUSE
server: right after a random k-th "added" report, or at a random moment of the window in
which the vault's lock is held. Then fsck (-a / -y), remount, verify (repair if needed),
extract everything and compare, one more add. Large trials use the parts `medvault create`
makes, commit a file of --large bytes before the command, and the add writes another.
Trials cycle through SCHEDULE. The media (tests/media/test_yanked_drive.py MEDIA) are images sized
so that mkfs picks the cluster size: FAT32 with 512-byte clusters, FAT32 with mkfs.vfat's
default 4 KiB clusters, exFAT. Seeds are printed, so any trial can be replayed with --seed.
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

from bench.common import medvault_changes  # noqa: E402
from medvault import __version__  # noqa: E402
from medvault.engine.session import open_headers, unlock  # noqa: E402
from medvault.keys.passphrase import to_secret  # noqa: E402
from medvault.vault.add import add_files  # noqa: E402
from medvault.vault.create import create_vault  # noqa: E402
from medvault.vault.env import Env  # noqa: E402
from medvault.vault.maintenance import remove_paths  # noqa: E402
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace, make_workspace  # noqa: E402
from tests.media.test_yanked_drive import (  # noqa: E402
    CUT,
    LARGE,
    LARGE_PART_SIZE,
    MEDIA,
    PART_SIZE,
    SERVER,
    Check,
    Medium,
    Trial,
    add_tree,
    mixed_tree,
    run_trial,
)
from tests.support.media import missing_tools, mounted, tool_versions  # noqa: E402

# (command, timed kill, with a large file), cycled through.
SCHEDULE = [
    ("add", False, False),
    ("add", True, False),
    ("compact", True, False),
    ("add", False, True),
    ("add", True, True),
]
MEASURE_RUNS = 3
FALLBACK_WINDOW_S = 1.0  # when the unkilled command fails on a medium (the failure is reported)


def lock_window(ws: Workspace, workdir: Path, medium: Medium, op: str, large: int) -> float:
    """How long OP holds the vault lock on MEDIUM here (max of a few unkilled runs), plus a
    margin so some kills land just after the last write (while the command records)."""
    spans = []
    for run in range(MEASURE_RUNS):
        rng = random.Random(run)
        folder = workdir / f"measure-{medium.label}-{op}-{large}-{run}"
        folder.mkdir(parents=True)
        with mounted(medium.kind, folder, medium.image_mib, loop=True) as stick:
            drive, env, secret = stick.mountpoint, Env(kdf=FAST_KDF), to_secret(PASSPHRASE)
            part_size = LARGE_PART_SIZE if large else PART_SIZE
            create_vault(drive, "", secret, ws.org, ws.registry(), env, part_size=part_size)
            if op == "add":
                args = ["add", str(drive), str(add_tree(folder, rng, large=large))]
            else:
                vault = unlock(open_headers(drive), secret)
                src = mixed_tree(folder, rng)
                add_files(vault, [src], False, ws.registry(), env)
                names = sorted(p.name for p in src.glob("m*.bin"))
                remove_paths(vault, [f"records/{n}" for n in names[:6]], ws.registry(), env)
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
    parser.add_argument("--trials", type=int, default=50, help="trials per medium")
    parser.add_argument("--media", default=",".join(MEDIA), help="labels from MEDIA")
    parser.add_argument("--large", type=int, default=LARGE, help="bytes; 0: no large trials")
    parser.add_argument("--seed", type=int, default=None, help="first seed (default: random)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "yank.md")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    media = [MEDIA[label] for label in args.media.split(",") if label]
    for medium in media:
        reason = missing_tools(medium.kind)
        if reason is not None:
            print(f"cannot run {medium.label} trials: {reason}", file=sys.stderr)
            return 2
    schedule = [step for step in SCHEDULE if args.large or not step[2]]
    seed0 = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"first seed {seed0} (replay: --seed {seed0})", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="yank-", dir=args.workdir) as tmp:
        work = Path(tmp)
        ws = make_workspace(work / "ws")
        os.environ["MEDVAULT_HOME"] = str(ws.home)
        windows: dict[tuple[str, str], float] = {}
        trials: list[Trial] = []
        for medium in media:
            for op, large in {(op, args.large if big else 0) for op, _t, big in schedule}:
                windows[window_key(medium.label, op, large)] = measured_window(
                    ws, work / "measure", medium, op, large
                )
            for n in range(args.trials):
                op, timed, big = schedule[n % len(schedule)]
                large = args.large if big else 0
                window = windows[window_key(medium.label, op, large)]
                trial = one_trial(ws, work / "trials", medium, op, seed0 + n, timed, window, large)
                trials.append(trial)
                status = "FAIL " + "; ".join(trial.problems) if trial.problems else "ok"
                found = ", ".join(
                    f"{c.image}: {c.extracted}/{trial.committed} (fsck {c.fsck_exit}, "
                    f"repair {'yes' if c.in_flight else 'no'})"
                    for c in trial.checks
                )
                print(
                    f"{medium.label} #{n + 1} seed {trial.seed} {op}{' large' if large else ''} "
                    f"{trial.kill}: reported {trial.reported}; "
                    f"{found}; {trial.wall_s:.1f} s: {status[:400]}",
                    flush=True,
                )
    wall = time.monotonic() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(trials, windows, seed0, wall))
    print(f"wrote {args.out}")
    return 1 if any(t.problems for t in trials) else 0


def window_key(label: str, op: str, large: int) -> str:
    return f"{label} {op}" + (" large" if large else "")


def measured_window(ws: Workspace, workdir: Path, medium: Medium, op: str, large: int) -> float:
    """lock_window, or FALLBACK_WINDOW_S when the command fails on this medium unkilled
    (its trials then fail and say why)."""
    key = window_key(medium.label, op, large)
    try:
        window = lock_window(ws, workdir, medium, op, large)
    except Exception as exc:  # report it and go on: the trials record the failure
        print(f"{key}: measuring failed ({exc}); timed kills within {FALLBACK_WINDOW_S} s")
        return FALLBACK_WINDOW_S
    print(f"{key}: timed kills within {window:.2f} s", flush=True)
    return window


def one_trial(
    ws: Workspace,
    workdir: Path,
    medium: Medium,
    op: str,
    seed: int,
    timed: bool,
    window: float,
    large: int,
) -> Trial:
    """run_trial; a failure before the yank (the vault could not be made or filled on this
    medium) is a trial with that problem, not the end of the campaign."""
    part_size = LARGE_PART_SIZE if large else PART_SIZE
    try:
        return run_trial(ws, workdir, medium.kind, op, seed, timed, window, medium=medium,
                         large=large, part_size=part_size)  # fmt: skip
    except Exception as exc:
        trial = Trial(medium.kind, op, seed, medium.label, large, part_size, kill="none")
        trial.setup_problems.append(f"before the yank: {type(exc).__name__}: {exc}")
        return trial


def _checks_by_image(trials: list[Trial]) -> list[tuple[str, list[Check]]]:
    """Each image (pulled, then server killed) with its checks in TRIALS: a trial that
    failed before the yank has none."""
    return [
        (image, [c for t in trials if (c := t.check(image)) is not None]) for image in (CUT, SERVER)
    ]


def report(trials: list[Trial], windows: dict[str, float], seed0: int, wall: float) -> str:
    versions = tool_versions()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    changed = medvault_changes()
    labels = sorted({t.medium for t in trials})
    per_medium = max(1, len(trials) // max(1, len(labels)))
    large = max((t.large for t in trials), default=0)
    lines = [
        "# Yanked-drive stress run",
        "",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Machine: {platform.platform()}, "
        f"{os.cpu_count()} CPUs (shared with other jobs), Python {platform.python_version()}, "
        f"medvault {__version__} (tree at {commit or 'unknown'}, {len(changed)} uncommitted "
        "file(s) in medvault/). " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        f"Command: `nice -n 10 python bench/stress_yank.py --trials {per_medium} --media "
        f"{','.join(labels)} --large {large} --seed {seed0}` (wall time {wall / 60:.1f} min).",
        "",
        "Media: a fresh image per trial, sized so that mkfs picks the cluster size: "
        + "; ".join(
            f"**{m.label}**: {m.kind}, {m.image_mib} MiB, clusters {m.clusters}"
            for m in MEDIA.values()
            if m.label in labels
        )
        + ".",
        "",
        "Each trial: the image behind a loop device, mounted with fusefat or exfat-fuse; a "
        f"vault with {PART_SIZE // 1024} KiB parts and 11 committed files (one of 1.3 MB); "
        f"**large** trials: parts of {LARGE_PART_SIZE // 2**20} MiB (what `medvault create` "
        f"makes), a file of {large:,} bytes among the committed ones and another in the add; "
        "`sync`; then the command, and the FUSE server is SIGKILLed. Two images are "
        "checked: **pulled**, the image file copied at the kill (what the stick held: what the "
        "server had fsynced to its device, or the kernel had written back on its own; the loop "
        "device's page cache is not in it), and **server killed**, the image after the loop "
        "device is detached (everything the dead server had written). Each gets fsck (-a / -y), "
        "a mount, `verify` (then `repair` and `verify` if it failed), `extract` of everything, "
        "compared byte for byte with the sources; the second also one more `add` and `verify`.",
        "",
        "Timed kills fall uniformly in the window after the vault's lock file appears: "
        + ", ".join(f"{key} {w:.2f} s" for key, w in windows.items())
        + " (the longest lock-held time of 3 unkilled runs, x1.2, + 50 ms).",
        "",
        "## Summary",
        "",
        "| medium | command | kill | trials | reported added (compact: live) | image | "
        "must survive | extracted identical | lost | trials losing files | removed files back | "
        "fsck repaired | repair needed | median trial |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str, str], list[Trial]] = collections.defaultdict(list)
    for t in trials:
        mode = "random moment" if t.kill.startswith("t+") else "after k-th added"
        if t.kill == "none":
            mode = "none (failed before)"
        groups[t.medium, t.op + (" large" if t.large else ""), mode].append(t)
    for (label, op, mode), group in sorted(groups.items()):
        for image, checks in _checks_by_image(group):
            lines.append(
                f"| {label} | {op} | {mode} | {len(group)} | {sum(t.reported for t in group)} | "
                f"{image} | {sum(t.committed for t in group)} | "
                f"{sum(c.extracted for c in checks)} | {sum(len(c.lost) for c in checks)} | "
                f"{sum(bool(c.lost) for c in checks)} | "
                f"{sum(len(c.resurrected) for c in checks)} | "
                f"{sum(c.fsck_exit == 1 for c in checks)} | "
                f"{sum(bool(c.in_flight) for c in checks)} | "
                f"{statistics.median(t.wall_s for t in group):.1f} s |"
            )
    lines += ["", "## Totals", ""]
    for label in labels:
        mine = [t for t in trials if t.medium == label]
        failed_before = sum(1 for t in mine if t.setup_problems)
        if failed_before:
            lines.append(f"- {label}: {failed_before} trial(s) failed before the yank.")
        for image, checks in _checks_by_image(mine):
            lines.append(
                f"- {label}, {image}: {len(checks)} trials, "
                f"{sum(t.committed for t in mine)} committed files checked, "
                f"{sum(len(c.lost) for c in checks)} lost in "
                f"{sum(bool(c.lost) for c in checks)} trial(s); "
                f"{sum(bool(c.problems) for c in checks)} trial(s) with any problem."
            )
    lines += [
        "",
        "## What fsck said",
        "",
        "| medium | image | finding | trials |",
        "|---|---|---|---|",
    ]
    findings: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for t in trials:
        for c in t.checks:
            for finding in {_generic(f) for f in c.fsck_findings}:
                findings[t.medium, c.image, finding] += 1
    for (label, image, finding), n in sorted(findings.items()):
        lines.append(f"| {label} | {image} | {finding} | {n} |")
    lines += ["", "## What was in flight (verify before repair)", ""]
    flights: collections.Counter[str] = collections.Counter()
    for t in trials:
        for c in t.checks:
            for item in c.in_flight:
                flights[f"{t.medium} {t.op}, {c.image}: {_generic(item)}"] += 1
    lines += [f"- {item}: {n} trial(s)" for item, n in sorted(flights.items())] or [
        "- nothing: every re-plugged vault verified without repair"
    ]
    lines += ["", "## The killed command's last error line", ""]
    errors: collections.Counter[str] = collections.Counter()
    for t in trials:
        said = _generic(t.command_error) or "(none)"
        errors[f"{t.medium}{' large' if t.large else ''}: exit {t.command_exit}: {said}"] += 1
    lines += [f"- {item}: {n} trial(s)" for item, n in sorted(errors.items())]
    lines += [
        "",
        "## Trials",
        "",
        "| # | medium | seed | command | kill | reported | must survive | "
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
            f"| {n} | {t.medium} | {t.seed} | {t.op}{' large' if t.large else ''} | {t.kill} | "
            f"{t.reported} | {t.committed} | "
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
