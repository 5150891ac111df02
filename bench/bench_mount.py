"""Mount benchmark: a far read through `medvault mount` decrypts only the chunks it covers,
and a sequential read through the mount beside `medvault extract` of the same file (issue 22).

    python bench/bench_mount.py [--size-mib 1024] [--far-mib 700] [--runs 3]
                                [--out bench/results/mount.md] [--workdir DIR]

One file of SIZE_MIB random bytes in a vault on a local folder, mounted with `medvault
mount` (its own process, as a user runs it). Each run: a 4 KiB read at FAR_MIB (a fresh
open; a different MiB each run, so no run finds the chunk in the mount's cache), the whole
file read through the mount in 1 MiB reads, and the library call behind `medvault extract`
of that file (unlock excluded, as it is for the already-unlocked mount; every write fsynced).
Runs alternate; medians. The pack files sit in the page cache after the add, for both. The
gate (exit 1 when it fails): the slowest far read takes under 1 s. Exit 2 when FUSE or
mfusepy is missing here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

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

PASSPHRASE = "a passphrase for the mount benchmark"  # noqa: S105 (a throwaway vault)
GATE_S = 1.0
FAR_READ = 4096
BLOCK = 1 << 20
T = TypeVar("T")
MOUNT_TIMEOUT_S = 60


def _source(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True)
    with open(path, "wb") as handle:
        for at in range(0, size, BLOCK):
            handle.write(os.urandom(min(BLOCK, size - at)))


def _vault(root: Path, size: int, registry: Registry, org_path: Path) -> Path:
    drive = root / "drive"
    drive.mkdir()
    _source(root / "src" / "big.bin", size)
    env = Env()
    create_vault(drive, "bench", to_secret(PASSPHRASE), load_org(org_path), registry, env)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    add_files(vault, [root / "src"], False, registry, env)
    return drive


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


def _measure(args: argparse.Namespace, root: Path, size: int, far: int) -> dict[str, list[float]]:
    org_path, registry = throwaway_org(root)
    drive = _vault(root, size, registry, org_path)
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
        registry.close()
    return times


def _report(args: argparse.Namespace, size: int, far: int, times: dict[str, list[float]]) -> str:
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
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    where = "where the far read starts (default: 700/1024 of the size)"
    parser.add_argument("--far-mib", type=int, default=None, help=where)
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
        times = _measure(args, Path(tmp), size, far)
    report = _report(args, size, far, times)
    publish(args.out, report)
    return 0 if "**PASS**" in report else 1


if __name__ == "__main__":
    sys.exit(main())
