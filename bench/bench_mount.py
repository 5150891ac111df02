"""Mount benchmark: a far read through `medvault mount` decrypts only the chunks it covers,
and a sequential read through the mount beside `medvault extract` of the same file (issue 22).

    python bench/bench_mount.py [--size-mib 1024] [--far-mib 700] [--runs 3]
                                [--pull-runs 10] [--out bench/results/mount.md]
                                [--workdir DIR]

One file of SIZE_MIB random bytes in a vault on a local folder, mounted with `medvault
mount` (its own process, as a user runs it). Each run: a 4 KiB read at FAR_MIB (a fresh
open; a different MiB each run, so no run finds the chunk in the mount's cache), the whole
file read through the mount in 1 MiB reads, and the library call behind `medvault extract`
of that file (unlock excluded, as it is for the already-unlocked mount; every write fsynced).
Runs alternate; medians. The pack files sit in the page cache after the add, for both.

Then the pulled stick (issue 22, acceptance 3), PULL_RUNS times: a vault on a FAT32 image
mounted with fusefat (tests/support/media.py), each run on a fresh copy of the image,
mounted with `medvault mount`; a file is read through the mount (on every second run it
is kept open), fusefat is killed (SIGKILL: its dead mount stays, as a pulled stick's
does), and the time from the kill to the exit of `medvault mount` is taken (a pidfd, so
to within a millisecond). Not measured, with the reason, where fusefat is missing.

The gates (exit 1 when one fails): the slowest far read takes under 1 s, and every pulled
stick ends `medvault mount` with exit 23 (DriveGone) within 5 s of the kill. Exit 2 when
FUSE or mfusepy is missing here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import add_run_arguments, date_and_machine, publish, throwaway_org  # noqa: E402
from medvault.config import load_org  # noqa: E402
from medvault.engine.session import open_headers, unlock  # noqa: E402
from medvault.keys.passphrase import to_secret  # noqa: E402
from medvault.registry.sql import Registry  # noqa: E402
from medvault.vault.add import add_files  # noqa: E402
from medvault.vault.create import create_vault  # noqa: E402
from medvault.vault.env import Env  # noqa: E402
from medvault.vault.reading import extract  # noqa: E402
from tests.support import media  # noqa: E402

PASSPHRASE = "a passphrase for the mount benchmark"  # noqa: S105 (a throwaway vault)
GATE_S = 1.0
FAR_READ = 4096
BLOCK = 1 << 20
T = TypeVar("T")
MOUNT_TIMEOUT_S = 60
PULL_GATE_S = 5.0
PULL_EXIT = 23  # DriveGone
PULL_WAIT_S = 60  # a run not ended by then counts as hung
PULL_IMAGE_MIB = 64
PULL_FILE = 2 * BLOCK + 7


def _source(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True)
    with open(path, "wb") as handle:
        for at in range(0, size, BLOCK):
            handle.write(os.urandom(min(BLOCK, size - at)))


def _vault(drive: Path, src: Path, size: int, registry: Registry, org_path: Path) -> None:
    """A vault on DRIVE (a folder) holding SRC/big.bin of SIZE random bytes as src/big.bin."""
    _source(src / "big.bin", size)
    env = Env()
    create_vault(drive, "bench", to_secret(PASSPHRASE), load_org(org_path), registry, env)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    add_files(vault, [src], False, registry, env)


def _start_mount(root: Path, drive: Path, mnt: Path) -> subprocess.Popen[bytes]:
    passfile = root / "passphrase.txt"
    passfile.write_text(PASSPHRASE + "\n")
    passfile.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDVAULT_")}
    env |= {"MEDVAULT_HOME": str(root / "home"), "MEDVAULT_PASSPHRASE_FILE": str(passfile)}
    mnt.mkdir()
    argv = [sys.executable, "-m", "medvault", "mount", str(drive), str(mnt)]
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + MOUNT_TIMEOUT_S
    while not os.path.ismount(mnt):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"medvault mount did not mount: {process.communicate()[1]!r}")
        time.sleep(0.05)
    return process


def _stop_mount(process: subprocess.Popen[bytes], mnt: Path) -> None:
    tool = shutil.which("fusermount") or shutil.which("fusermount3") or "fusermount"
    if os.path.ismount(mnt):
        subprocess.run([tool, "-u", "-z", str(mnt)], capture_output=True, check=False)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _timed(path: Path, read: Callable[[int], T]) -> tuple[float, T]:
    """Seconds to open PATH, READ its descriptor and close it, and what READ gave."""
    started = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        result = read(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - started, result


def _far_read(path: Path, offset: int, expected: bytes) -> float:
    seconds, got = _timed(path, lambda fd: os.pread(fd, FAR_READ, offset))
    if got != expected:
        raise SystemExit(f"the far read at {offset} returned other bytes than the source's")
    return seconds


def _read_to_end(fd: int) -> int:
    total = 0
    while chunk := os.read(fd, BLOCK):
        total += len(chunk)
    return total


def _sequential(path: Path, size: int) -> float:
    seconds, total = _timed(path, _read_to_end)
    if total != size:
        raise SystemExit(f"read {total} bytes through the mount, not {size}")
    return seconds


def _extract(drive: Path, dest: Path, registry: Registry) -> float:
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    dest.mkdir()
    started = time.perf_counter()
    extract(vault, ["src/big.bin"], dest, False, registry, Env())
    seconds = time.perf_counter() - started
    shutil.rmtree(dest)
    return seconds


def _measure(
    args: argparse.Namespace, root: Path, size: int, far: int, org_path: Path, registry: Registry
) -> dict[str, list[float]]:
    drive = root / "drive"
    drive.mkdir()
    _vault(drive, root / "src", size, registry, org_path)
    source = root / "src" / "big.bin"
    times: dict[str, list[float]] = {"far": [], "mount": [], "extract": []}
    mnt = root / "mnt"
    process = _start_mount(root, drive, mnt)
    try:
        with open(source, "rb") as handle:
            for run in range(args.runs):
                offset = min(far + run * BLOCK, size - FAR_READ)
                handle.seek(offset)
                expected = handle.read(FAR_READ)
                times["far"].append(_far_read(mnt / "src" / "big.bin", offset, expected))
                times["mount"].append(_sequential(mnt / "src" / "big.bin", size))
                times["extract"].append(_extract(drive, root / f"out{run}", registry))
    finally:
        _stop_mount(process, mnt)
    return times


@dataclass
class Pulls:
    """The pulled-stick runs: seconds from the kill to the exit of `medvault mount` (None:
    not ended within PULL_WAIT_S), its exit code, whether its mount point was left mounted
    and its error line on stderr, per run;
    HELD[i] says whether run i kept a file open in the mount. NOT_MEASURED: why none ran."""

    seconds: list[float | None] = field(default_factory=list)
    codes: list[int | None] = field(default_factory=list)
    held: list[bool] = field(default_factory=list)
    left: list[bool] = field(default_factory=list)  # its mount point still mounted after
    said: list[str] = field(default_factory=list)
    not_measured: str | None = None


def _stick_image(root: Path, registry: Registry, org_path: Path) -> Path:
    """A FAT32 image holding a vault with one file, written through fusefat and unmounted."""
    image = root / "stick.img"
    media.make_image(media.FAT32, image, PULL_IMAGE_MIB)
    with media.mount_image(media.FAT32, image, root / "stick-mnt") as stick:
        _vault(stick.mountpoint, root / "stick" / "src", PULL_FILE, registry, org_path)
    return image


def _listed(mountpoint: Path) -> bool:
    """MOUNTPOINT is in /proc/self/mountinfo (a dead FUSE mount is listed too)."""
    target = os.path.abspath(mountpoint).replace(" ", "\\040")
    with open("/proc/self/mountinfo") as handle:
        return any(line.split(" ")[4] == target for line in handle)


def _wait_exit(pidfd: int, started: float) -> float | None:
    """Seconds from STARTED (perf_counter) until the process of PIDFD exits; None when it
    has not within PULL_WAIT_S."""
    ready, _, _ = select.select([pidfd], [], [], PULL_WAIT_S)
    return time.perf_counter() - started if ready else None


def _pull_once(root: Path, image: Path, run: int, hold_open: bool, pulls: Pulls) -> None:
    """One pulled stick: a fresh copy of IMAGE mounted with fusefat, its vault mounted
    with `medvault mount`, a file read through it (kept open when HOLD_OPEN), fusefat
    killed; the time until `medvault mount` exits goes into PULLS."""
    copy = root / f"pull{run}.img"
    shutil.copyfile(image, copy)
    mnt = root / f"pull{run}-mnt"
    held = None
    try:
        with media.mount_image(media.FAT32, copy, root / f"pull{run}-stick") as stick:
            process = _start_mount(root, stick.mountpoint, mnt)
            pidfd = os.pidfd_open(process.pid)
            try:
                held = open(mnt / "src" / "big.bin", "rb")  # noqa: SIM115
                if len(held.read(BLOCK)) != BLOCK:
                    raise SystemExit("the file did not read through the mount")
                if not hold_open:
                    held.close()
                started = time.perf_counter()
                os.kill(stick.pid, signal.SIGKILL)  # the stick is pulled
                seconds = _wait_exit(pidfd, started)
                pulls.left.append(seconds is None or _listed(mnt))
            finally:
                os.close(pidfd)
                if held is not None:
                    with contextlib.suppress(OSError):  # ENOTCONN: the mount is gone
                        held.close()
                _stop_mount(process, mnt)
            said = process.stderr.read().decode(errors="replace") if process.stderr else ""
    finally:
        copy.unlink(missing_ok=True)
    pulls.seconds.append(seconds)
    pulls.codes.append(process.returncode if seconds is not None else None)
    pulls.held.append(hold_open)
    errors = [line for line in said.splitlines() if line.startswith("medvault: error:")]
    line = (errors or said.strip().splitlines() or [""])[-1]
    pulls.said.append(line.replace(str(root), "$WORKDIR"))


def _measure_pulls(
    args: argparse.Namespace, root: Path, org_path: Path, registry: Registry
) -> Pulls:
    pulls = Pulls()
    missing = media.missing_tools(media.FAT32)
    if missing is not None:
        pulls.not_measured = missing
        return pulls
    try:
        image = _stick_image(root, registry, org_path)
        for run in range(args.pull_runs):
            _pull_once(root, image, run, run % 2 == 1, pulls)
    except pytest.skip.Exception as exc:  # tests/support/media.py skips when fusefat fails
        pulls.not_measured = str(exc.msg)
    return pulls


def _pull_row(what: str, seconds: list[float | None], codes: list[int | None]) -> str:
    ended = [t for t in seconds if t is not None]
    runs = ", ".join("hung" if t is None else f"{t:.2f}" for t in seconds)
    exits = ", ".join(sorted({"none" if c is None else str(c) for c in codes}))
    if len(ended) < len(seconds):
        return f"| {what} | {len(seconds)} | | not ended in {PULL_WAIT_S} s | {runs} s | {exits} |"
    median, slowest = statistics.median(ended), max(ended)
    return f"| {what} | {len(seconds)} | {median:.2f} s | {slowest:.2f} s | {runs} s | {exits} |"


def _pull_report(pulls: Pulls) -> list[str]:
    lines = [
        "",
        "## A pulled stick ends the mount",
        "",
        f"A vault on a {PULL_IMAGE_MIB} MiB FAT32 image mounted with fusefat, a fresh copy of "
        "the image each run, mounted with `medvault mount`; a file read through the mount, "
        "then fusefat killed (SIGKILL; its dead mount stays, as a pulled stick's does). Time "
        "from the kill to the exit of `medvault mount` (seen through a pidfd); runs "
        "alternate between an idle mount and one with a file held open in it.",
        "",
    ]
    if pulls.not_measured is not None:
        return [*lines, f"Not measured: {pulls.not_measured}.", ""]
    if not pulls.seconds:
        return [*lines, "Not measured: --pull-runs 0.", ""]
    lines += ["| mount | runs | median | max | all runs | exit |", "|---|---|---|---|---|---|"]
    for what, held in (("idle", False), ("a file held open in it", True)):
        picked = [i for i, h in enumerate(pulls.held) if h is held]
        if picked:
            lines.append(_pull_row(what, [pulls.seconds[i] for i in picked],
                                   [pulls.codes[i] for i in picked]))  # fmt: skip
    lines.append(_pull_row("all", pulls.seconds, pulls.codes))
    ended = [t for t in pulls.seconds if t is not None]
    passed = len(ended) == len(pulls.seconds) and max(ended) <= PULL_GATE_S
    passed = passed and all(code == PULL_EXIT for code in pulls.codes) and not any(pulls.left)
    slowest = "a run did not end" if len(ended) < len(pulls.seconds) else f"{max(ended):.2f} s"
    return [
        *lines,
        "",
        f"`medvault mount` said: `{pulls.said[-1]}`. Mount points left mounted after it "
        f"ended: {sum(pulls.left)} of {len(pulls.left)}.",
        "",
        f"**{'PASS' if passed else 'FAIL'}** every pulled stick ends `medvault mount` with exit "
        f"{PULL_EXIT} within {PULL_GATE_S:g} s of the kill, its mount gone: slowest {slowest}",
        "",
    ]


def _report(
    args: argparse.Namespace, size: int, far: int, times: dict[str, list[float]], pulls: Pulls
) -> str:
    med = {name: statistics.median(values) for name, values in times.items()}
    slowest_far = max(times["far"])
    mib = size / BLOCK
    lines = [
        "# `medvault mount`: a far read, and reading a whole file beside `extract`",
        "",
        f"{date_and_machine()}. One file of {mib:g} MiB (random bytes) in a vault on a local "
        f"folder; medians of {args.runs} alternating runs; the pack files in the page cache.",
        "",
        "| what | median | all runs | MiB/s |",
        "|---|---|---|---|",
        f"| 4 KiB read at {far / BLOCK:g} MiB (+1 MiB a run) through the mount, open to close "
        f"| {med['far'] * 1e3:.1f} ms | {', '.join(f'{t * 1e3:.1f}' for t in times['far'])} ms "
        "| |",
    ]
    rows = (
        ("mount", "whole file through the mount (1 MiB reads)"),
        ("extract", "`medvault extract` of it (library call, fsynced)"),
    )
    for name, what in rows:
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        lines.append(f"| {what} | {med[name]:.2f} s | {runs} s | {mib / med[name]:.0f} |")
    passed = slowest_far < GATE_S
    lines += [
        "",
        f"Reading the whole file through the mount takes {med['mount'] / med['extract']:.2f}x "
        "the time of extracting it.",
        "",
        f"**{'PASS' if passed else 'FAIL'}** the slowest far read takes under {GATE_S:g} s: "
        f"{slowest_far * 1e3:.1f} ms",
    ]
    return "\n".join([*lines, *_pull_report(pulls)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    where = "where the far read starts (default: 700/1024 of the size)"
    parser.add_argument("--far-mib", type=int, default=None, help=where)
    pulled = "pulled-stick runs (default 10, half of them with a file held open; 0: none)"
    parser.add_argument("--pull-runs", type=int, default=10, help=pulled)
    add_run_arguments(parser, "mount.md")
    args = parser.parse_args()
    from medvault.errors import MedvaultError
    from medvault.vault.mount import load_fuse

    try:
        load_fuse()
    except MedvaultError as exc:
        print(f"bench_mount: cannot mount here: {exc.message}", file=sys.stderr)
        return 2
    size = args.size_mib * BLOCK
    far = (args.far_mib if args.far_mib is not None else args.size_mib * 700 // 1024) * BLOCK
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        org_path, registry = throwaway_org(root)
        try:
            times = _measure(args, root, size, far, org_path, registry)
            pulls = _measure_pulls(args, root, org_path, registry)
        finally:
            registry.close()
    report = _report(args, size, far, times, pulls)
    publish(args.out, report)
    return 1 if "**FAIL**" in report else 0


if __name__ == "__main__":
    sys.exit(main())
