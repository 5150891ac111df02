"""Memory against the vault's size: each command's peak outside Argon2id, on two vaults,
one four times the size of the other.

    python bench/bench_memory.py [--files 10000] [--out bench/results/memory.md] [--no-gate]

Issue 23 asks that a vault of 1,000,000 files (a 4 TB imaging drive) be used with peak
RSS under 150 MiB (goal 4) and that the rest of a command, beyond the org's Argon2id
memory, stay small (goal 5). A command whose memory grows with the number of files the
vault holds breaks both on a big drive whatever its figure on a small one: adding one
file to a vault of 40,000 files held 142 MiB (110 MiB beyond a fresh vault's add) until
add read the whole journal no more. So each command below runs once on a vault of FILES
files and once on one of 4 x FILES (512-byte files in folders of 500, each vault built by
one `medvault add`), each under bench_peers.KDF_FREE, which reports the peak resident set
outside the Argon2id derivation. Gated (exit 1 unless --no-gate): a command that touches
one file (add one, replace one, ls, extract one, rm one) may grow by at most GROWTH_MIB
from the small vault to the big one. Reported, not gated: commands that handle every file, whose
memory still grows with the files they handle (figures per 1,000 files).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.bench_core import setup_workspace  # noqa: E402
from bench.bench_peers import KDF_FREE, KDF_FREE_OUT  # noqa: E402

GROWTH_MIB = 4.0  # allowed growth from FILES to 4 x FILES for a one-file command
PER_FOLDER = 500
FILE_SIZE = 512
SCALE = 4
ONE = "d0000/f0000000.bin"  # the first file of every vault


REPLACE_ONE = ("add", "--replace", "--to", "d0000", "VAULT", "SAME")


@dataclass(frozen=True)
class Case:
    label: str
    args: tuple[str, ...]  # VAULT, NEW (a new file), SAME (d0000's first name) and OUT filled in
    gated: bool


CASES = (
    Case("add one new file", ("add", "VAULT", "NEW"), True),
    Case("add --replace of a file already there", REPLACE_ONE, True),
    Case("ls", ("ls", "VAULT"), True),
    Case("extract one file", ("extract", "VAULT", ONE, "--to", "OUT"), True),
    Case("rm one file", ("rm", "VAULT", "d0001/f0000500.bin"), True),
    Case("extract every file", ("extract", "VAULT", "--to", "OUT"), False),
    Case("verify", ("verify", "VAULT"), False),
)


def build(base: Path, env: dict[str, str], files: int) -> Path:
    """A vault of FILES random 512-byte files in folders of PER_FOLDER, made by one add."""
    src = base / f"src{files}" / "tree"
    for number in range(files):
        folder = src / f"d{number // PER_FOLDER:04d}"
        if number % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        (folder / f"f{number:07d}.bin").write_bytes(os.urandom(FILE_SIZE))
    drive = base / f"vault{files}"
    drive.mkdir()
    medvault(env, "create", drive)
    # The tree's folders go in at the vault's top: d0000/f0000000.bin is ONE.
    medvault(env, "add", drive, *sorted(src.iterdir()))
    shutil.rmtree(src.parent)
    return drive


def medvault(env: dict[str, str], *args: str | Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "medvault", *map(str, args)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def peak_outside_kdf(base: Path, env: dict[str, str], case: Case, drive: Path) -> float:
    """CASE on DRIVE under KDF_FREE: the peak (MiB) outside the Argon2id derivation."""
    src, out = base / "sources" / drive.name, base / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    src.mkdir(parents=True, exist_ok=True)
    new, same = src / f"new-{case.label.replace(' ', '-')}.bin", src / ONE.split("/")[1]
    for path in (new, same):
        path.write_bytes(os.urandom(FILE_SIZE))
    fill = {"VAULT": str(drive), "OUT": str(out), "NEW": str(new), "SAME": str(same)}
    args = [fill.get(a, a) for a in case.args]
    report = base / "kdf-free.json"
    result = subprocess.run(
        [sys.executable, "-c", KDF_FREE, *args],
        env={**env, KDF_FREE_OUT: str(report)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"medvault {' '.join(args)} exited {result.returncode}: {result.stderr}")
    peaks = json.loads(report.read_text())
    if peaks["calls"] < 1:
        raise SystemExit(f"medvault {' '.join(args)}: no Argon2id call seen")
    return float(max(peaks["before"], peaks["after"]))


def render(files: int, rows: list[tuple[Case, float, float]], verdict: str) -> str:
    big = files * SCALE
    lines = [
        "# Memory against the vault's size (issue 23, goals 4 and 5)",
        "",
        common.date_and_machine(),
        "",
        f"Each command ran once on a vault of {files:,} files and once on one of {big:,} "
        f"({FILE_SIZE}-byte files, folders of {PER_FOLDER}, each vault built by one `medvault "
        "add`), as its own process under bench_peers.KDF_FREE: the figure is the peak "
        "resident set outside the Argon2id derivation (the org's choice of memory), in MiB. "
        f"Produced by `bench/bench_memory.py --files {files}`.",
        "",
        f"| command | {files:,} files | {big:,} files | growth MiB | per 1,000 more files "
        "| gated |",
        "|---|---|---|---|---|---|",
    ]
    for case, small, large in rows:
        growth = large - small
        per = growth / ((big - files) / 1000)
        gated = f"yes (< {GROWTH_MIB:g} MiB)" if case.gated else "no"
        lines.append(
            f"| {case.label} | {small:.1f} | {large:.1f} | {growth:+.1f} | {per * 1024:+.0f} KiB "
            f"| {gated} |"
        )
    lines += ["", verdict, ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_run_arguments(parser, "memory.md", runs=1)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--no-gate", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mvbench-memory-", dir=args.workdir))
    try:
        env = setup_workspace(base)
        env.update(MEDVAULT_NO_KEYRING="1", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
        os.chmod(env["MEDVAULT_PASSPHRASE_FILE"], 0o600)
        common.byte_compile_medvault()
        small, large = build(base, env, args.files), build(base, env, args.files * SCALE)
        rows = []
        for case in CASES:
            on_small = peak_outside_kdf(base, env, case, small)
            rows.append((case, on_small, peak_outside_kdf(base, env, case, large)))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    over = [case.label for case, s, b in rows if case.gated and b - s >= GROWTH_MIB]
    verdict = (
        f"**FAIL**: grew by {GROWTH_MIB:g} MiB or more: {', '.join(over)}."
        if over
        else f"**PASS**: every gated command grew by less than {GROWTH_MIB:g} MiB."
    )
    common.publish(args.out, render(args.files, rows, verdict))
    return 1 if over and not args.no_gate else 0


if __name__ == "__main__":
    raise SystemExit(main())
