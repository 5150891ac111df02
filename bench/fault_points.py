"""Crash at every I/O point of every operation and write the figures (issue 6, item 1).

    .venv/bin/python bench/fault_points.py                # -> bench/results/faults.md
    .venv/bin/python bench/fault_points.py --out /tmp/faults.md --only add,rm

The harness is tests/support/faults.py (the same one tests/campaigns/test_fault_points.py
runs on every test run); this script only runs it outside pytest and tabulates what it saw.
Exit status 1 if any crash left a vault that does not open, lost a committed file or failed
a check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medvault.store import io_points  # noqa: E402
from tests.conftest import make_workspace  # noqa: E402
from tests.support.faults import SCENARIOS, ScenarioResult, escrow_of, run_scenario  # noqa: E402


def _table(results: list[ScenarioResult]) -> list[str]:
    kinds = [k for k in io_points.KINDS if any(r.kinds[k] for r in results)]
    head = [
        "operation",
        "I/O points",
        *kinds,
        "crashes tried (kill + power cut)",
        "verify clean at once",
        "verify named the op in flight",
        "failures",
        "seconds",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        clean = sum(1 for t in r.trials if t.verify_before_repair == "ok")
        row = [
            r.name,
            str(len(r.points)),
            *(str(r.kinds[k]) for k in kinds),
            f"{len(r.trials)} ({sum(t.mode == 'kill' for t in r.trials)} + "
            f"{sum(t.mode == 'power' for t in r.trials)})",
            str(clean),
            str(len(r.trials) - clean),
            str(len(r.failures)),
            f"{r.seconds:.1f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _messages(results: list[ScenarioResult]) -> list[str]:
    out = []
    for r in results:
        said = Counter(
            f"{t.mode}: {_without_ids(t.verify_before_repair)}"
            for t in r.trials
            if t.verify_before_repair != "ok"
        )
        for message, count in sorted(said.items()):
            out.append(f"- {r.name}: {count} x `{message}`")
    return out


def _without_ids(message: str) -> str:
    return " ".join("<id>" if len(w) >= 26 and w.isalnum() else w for w in message.split())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faults.md")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--only", default="", help="comma-separated operation names")
    args = parser.parse_args()
    wanted = {x for x in args.only.split(",") if x}
    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        ws = make_workspace(work / "ws")
        identity = escrow_of(ws)
        for scenario in SCENARIOS:
            if wanted and scenario.name not in wanted:
                continue
            folder = work / scenario.name
            folder.mkdir()
            result = run_scenario(scenario, folder, ws, identity)
            results.append(result)
            print(
                f"{scenario.name}: {len(result.points)} I/O points, {len(result.trials)} crashes, "
                f"{len(result.failures)} failures, {result.seconds:.1f} s",
                flush=True,
            )
    failures = [f for r in results for f in r.failures]
    text = [
        "# Crash at every I/O point",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.machine()}, Python {platform.python_version()}) by "
        "`bench/fault_points.py` (harness: tests/support/faults.py).",
        "",
        "Each operation runs on a copy of a small vault (6 files, one of them split into 3 "
        "parts) and is stopped by os._exit() just before its k-th I/O point, for every k, "
        "twice: a kill (the kernel keeps what it was given) and a power cut (also lost: "
        "writes since a file's last fsync, renames and unlinks since their folder's last "
        "fsync). Then: the vault opens, every committed file extracts intact, verify finds "
        "no damaged or missing file, and after `repair` verify passes and a further add "
        "works.",
        "",
        *_table(results),
        "",
        f"Vaults that failed to open: {sum(1 for f in failures if 'does not open' in f)}. "
        f"Committed files lost: {sum(1 for f in failures if 'lost' in f)}. "
        f"All failures: {len(failures)}.",
        "",
        "What verify said right after a crash, when it was not clean (each is the operation "
        "in flight, and the next write or `repair` completes it):",
        "",
        *(_messages(results) or ["- (none)"]),
        "",
    ]
    if failures:
        text += ["## Failures", "", *(f"- {f}" for f in failures[:50]), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text))
    print(f"wrote {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
