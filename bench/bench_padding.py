"""What format 1.1's padding costs: bytes on the drive and time to add, format 1.0 against
format 1.1 side by side in one run (docs/THREAT_MODEL.md, "What the drive reveals").

    python bench/bench_padding.py [--small-files 10000] [--spread-files 2000]
                                  [--big-mib 512] [--runs 3]
                                  [--out bench/results/padding.md] [--workdir DIR]

Three sets, each added to a fresh vault by the library call the CLI makes, once as format
1.0 entries and once as format 1.1, alternating, medians of RUNS: SMALL_FILES files of
4 KiB (the peers benchmark's small-file set), SPREAD_FILES files whose sizes are spread
log-uniformly from 1 byte to 1 MiB (seeded: what a folder of exports looks like),
and one file of BIG_MIB. Bytes are those of every pack file on the drive (the index and
headers are the same in both formats). The gate (exit 1 when it fails): format 1.1 costs at
most 12 % more bytes than format 1.0 on each set (Padmé adds at most 1/9 above 512 bytes),
and at most 1.25x its add time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import add_run_arguments, date_and_machine, publish, throwaway_org  # noqa: E402
from medvault.config import load_org  # noqa: E402
from medvault.crypto.kdf import Argon2Params  # noqa: E402
from medvault.engine.session import open_headers, unlock  # noqa: E402
from medvault.format import entry as entry_fmt  # noqa: E402
from medvault.keys.passphrase import to_secret  # noqa: E402
from medvault.store import entries  # noqa: E402
from medvault.vault.add import add_files  # noqa: E402
from medvault.vault.create import create_vault  # noqa: E402
from medvault.vault.env import Env  # noqa: E402

PASSPHRASE = "a passphrase for the padding benchmark"  # noqa: S105 (a throwaway vault)
FAST = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
MAX_BYTES_RATIO = 1.12
MAX_TIME_RATIO = 1.25
FORMATS = {"1.0": entry_fmt.SUITE_V1, "1.1": entry_fmt.SUITE_PADDED}


def small_set(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"s{n:06d}.bin").write_bytes(random.randbytes(4096))


def spread_set(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    rng = random.Random(11)
    for n in range(count):
        size = int(2 ** rng.uniform(0, 20))
        (folder / f"m{n:06d}.bin").write_bytes(rng.randbytes(size))


def big_set(folder: Path, mib: int) -> None:
    folder.mkdir(parents=True)
    with open(folder / "big.bin", "wb") as out:
        for _ in range(mib):
            out.write(random.randbytes(1 << 20))


def pack_bytes(drive: Path) -> int:
    return sum(p.stat().st_size for p in (drive / "MEDVAULT" / "objects").rglob("*") if p.is_file())


def add_as(suite: int, source: Path, work: Path) -> tuple[float, int]:
    """Seconds to add SOURCE to a new vault writing SUITE entries, and its pack bytes."""
    config, registry = throwaway_org(work)
    org = load_org(config)
    drive = work / "drive"
    drive.mkdir()
    try:
        create_vault(drive, "bench", to_secret(PASSPHRASE), org, registry, Env(kdf=FAST))
        vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
        written = entries.WRITE_SUITE
        entries.WRITE_SUITE = suite
        try:
            start = time.perf_counter()
            add_files(vault, [source], False, registry, Env(kdf=FAST))
            seconds = time.perf_counter() - start
        finally:
            entries.WRITE_SUITE = written
    finally:
        registry.close()
    return seconds, pack_bytes(drive)


def measure(
    name: str, make: Callable[[Path], None], runs: int, workdir: Path | None
) -> dict[str, tuple[float, int]]:
    """Median seconds and the pack bytes of each format for one set."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        source = Path(tmp) / name
        make(source)
        times: dict[str, list[float]] = {label: [] for label in FORMATS}
        sizes: dict[str, int] = {}
        for run in range(runs):
            for label, suite in FORMATS.items():
                work = Path(tmp) / f"{label}-{run}"
                work.mkdir()
                seconds, size = add_as(suite, source, work)
                times[label].append(seconds)
                sizes[label] = size
        return {label: (statistics.median(times[label]), sizes[label]) for label in FORMATS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--spread-files", type=int, default=2_000)
    parser.add_argument("--big-mib", type=int, default=512)
    add_run_arguments(parser, "padding.md")
    args = parser.parse_args()
    sets: dict[str, Callable[[Path], None]] = {
        f"{args.small_files:,} files of 4 KiB": lambda p: small_set(p, args.small_files),
        f"{args.spread_files:,} files of 1 B to 1 MiB": lambda p: spread_set(p, args.spread_files),
        f"one file of {args.big_mib} MiB": lambda p: big_set(p, args.big_mib),
    }
    lines = [
        "# Padding: format 1.0 against format 1.1",
        "",
        f"{date_and_machine()}; medians of {args.runs} runs, the formats alternating "
        "(bench/bench_padding.py).",
        "",
        "| set | 1.0 pack bytes | 1.1 pack bytes | bytes ratio | 1.0 add s | 1.1 add s | "
        "time ratio | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    failed = False
    for name, make in sets.items():
        got = measure(name.split()[0], make, args.runs, args.workdir)
        (old_s, old_b), (new_s, new_b) = got["1.0"], got["1.1"]
        bytes_ratio, time_ratio = new_b / old_b, new_s / old_s
        ok = bytes_ratio <= MAX_BYTES_RATIO and time_ratio <= MAX_TIME_RATIO
        failed |= not ok
        lines.append(
            f"| {name} | {old_b:,} | {new_b:,} | {bytes_ratio:.3f}x | {old_s:.2f} | "
            f"{new_s:.2f} | {time_ratio:.2f}x | {'PASS' if ok else 'FAIL'} |"
        )
    lines += [
        "",
        f"Gate: bytes ratio <= {MAX_BYTES_RATIO} and time ratio <= {MAX_TIME_RATIO} on every set.",
        "",
    ]
    publish(args.out, "\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
