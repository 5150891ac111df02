"""Re-key benchmark: the cost of `escrow reseal --rekey` grows with the number of files, not
with their bytes (issue 16: every file key is re-wrapped in place; payloads are untouched).

    python bench/bench_rekey.py [--big-mib 512] [--small-files 2000] [--runs 3]
                                [--out bench/results/rekey.md] [--workdir DIR]

Three vaults, re-keyed in alternation (a re-key of a re-keyed vault does the same work
again): one file of 1 MiB, one file of BIG_MIB, and SMALL_FILES files of 4 KiB. Each run is
the library call the CLI makes, Argon2id of the new passphrase slot included (RFC 9106
defaults), timed from the call to its return (every write fsynced). The gate (exit 1 when
it fails): re-keying the big file takes at most 2x the time of the 1 MiB file, whatever
BIG_MIB is. Ratios, not absolute times, because this machine is noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import add_run_arguments, publish, throwaway_org  # noqa: E402
from medvault.config import load_org  # noqa: E402
from medvault.engine.session import open_headers, unlock  # noqa: E402
from medvault.keys.passphrase import to_secret  # noqa: E402
from medvault.registry.sql import Registry  # noqa: E402
from medvault.vault.add import add_files  # noqa: E402
from medvault.vault.create import create_vault  # noqa: E402
from medvault.vault.env import Env  # noqa: E402
from medvault.vault.escrow_ops import reseal  # noqa: E402

PASSPHRASE = "a passphrase for the re-key benchmark"  # noqa: S105 (a throwaway vault)
GATE_RATIO = 2.0


def _vault(
    root: Path, name: str, files: dict[str, int], registry: Registry, org_path: Path
) -> Path:
    drive = root / name
    drive.mkdir()
    src = root / f"{name}-src"
    for rel, size in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            remaining = size
            while remaining:
                step = min(remaining, 1 << 20)
                handle.write(os.urandom(step))
                remaining -= step
    env = Env()
    create_vault(drive, name, to_secret(PASSPHRASE), load_org(org_path), registry, env)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    add_files(vault, [src / top for top in sorted({r.split("/")[0] for r in files})], False,
              registry, env)  # fmt: skip
    return drive


def _rekey_seconds(drive: Path, registry: Registry, org_path: Path) -> tuple[float, int]:
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    started = time.perf_counter()
    done = reseal(vault, load_org(org_path), registry, Env(), "bench",
                  passphrase=to_secret(PASSPHRASE), rekey_requested=True)  # fmt: skip
    return time.perf_counter() - started, done.entries_rewrapped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-mib", type=int, default=512)
    parser.add_argument("--small-files", type=int, default=2000)
    add_run_arguments(parser, "rekey.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        org_path, registry = throwaway_org(root)
        cases = {
            "1 file, 1 MiB": {"one/f.bin": 1 << 20},
            f"1 file, {args.big_mib} MiB": {"big/f.bin": args.big_mib << 20},
            f"{args.small_files} files, 4 KiB": {
                f"many/d{i // 500}/f{i}.bin": 4096 for i in range(args.small_files)
            },
        }
        drives = {name: _vault(root, f"v{n}", files, registry, org_path)
                  for n, (name, files) in enumerate(cases.items())}  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in cases}
        entries: dict[str, int] = {}
        for _ in range(args.runs):
            for name, drive in drives.items():
                seconds, entries[name] = _rekey_seconds(drive, registry, org_path)
                times[name].append(seconds)
        registry.close()

    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["1 file, 1 MiB"]
    big_name = f"1 file, {args.big_mib} MiB"
    ratio = medians[big_name] / base
    passed = ratio <= GATE_RATIO
    lines = [
        "# Re-key cost: per file, not per byte",
        "",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; medians of "
        f"{args.runs} alternating runs of the library call behind `escrow reseal --rekey` "
        "(Argon2id t=3, m=64 MiB for the new slot included; every write fsynced).",
        "",
        "| vault | entries re-wrapped | seconds (median) | vs 1 MiB |",
        "|---|---|---|---|",
    ]
    for name in cases:
        lines.append(
            f"| {name} | {entries[name]} | {medians[name]:.3f} | {medians[name] / base:.2f}x |"
        )
    per_file = (medians[f"{args.small_files} files, 4 KiB"] - base) / max(1, args.small_files - 1)
    lines += [
        "",
        f"Each further file costs about {per_file * 1e3:.2f} ms.",
        "",
        f"**{'PASS' if passed else 'FAIL'}** re-keying {args.big_mib} MiB takes at most "
        f"{GATE_RATIO:.0f}x the time of 1 MiB: {ratio:.2f}x",
        "",
    ]
    publish(args.out, "\n".join(lines))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
