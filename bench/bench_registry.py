"""Registry benchmark: the custody registry on SQLite and PostgreSQL, and the drive's log.

    python bench/bench_registry.py [--events 20000] [--runs 3] [--out bench/results/registry.md]

Cases (each on SQLite and on a throwaway PostgreSQL server, backends alternating inside
every run): append, concurrent append (2 processes), verify_chain, merge of 1,000 events
half of which are known; then the drive log: one fsync'ed append beside one SQLite
append_event, and read_all of 1,000 entries. Medians over --runs.

Gates (exit 1): the chain written by two concurrent processes verifies and holds every
event; verify_chain of N events on SQLite takes under 10 s per 20,000 events; a drive-log
append costs at most 3x a SQLite append_event.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import add_run_arguments, publish  # noqa: E402
from medvault.crypto.key_schedule import VaultKeys  # noqa: E402
from medvault.registry.records import Actor, Event  # noqa: E402
from medvault.registry.sql import Registry  # noqa: E402
from medvault.secret import Secret  # noqa: E402
from medvault.store import drive_log  # noqa: E402
from medvault.store.layout import VaultPaths  # noqa: E402
from medvault.vault.custody import to_log_dict  # noqa: E402

if TYPE_CHECKING:
    from tests.support.pg import PgServer

SQLITE, POSTGRES, DISK = "SQLite", "PostgreSQL", "local disk"
APPEND = "append (1 process)"
CONCURRENT = "concurrent append (2 processes)"
VERIFY = "verify_chain"
MERGE = "merge 1000 (500 known)"
DRIVE_APPEND = "drive log append (fsync)"
REGISTRY_APPEND = "registry append_event"
RATIO = "drive log / registry append"
READ_ALL = "drive log read_all 1000"
CASES = (APPEND, CONCURRENT, VERIFY, MERGE, DRIVE_APPEND, REGISTRY_APPEND, RATIO, READ_ALL)

MERGE_BATCH = 1000
DRIVE_SAMPLES = 200  # per run, alternating drive log and registry appends
READ_ENTRIES = 1000
READ_REPEATS = 3
VERIFY_LIMIT_S = 10.0  # per VERIFY_LIMIT_EVENTS
VERIFY_LIMIT_EVENTS = 20_000
RATIO_LIMIT = 3.0
VAULT_ID = bytes.fromhex("0123456789abcdef0123456789abcdef")
ACTOR = Actor("bench", "ws-bench", "Bench Person")
# A durable server, like a real one: tests/support/pg.py switches fsync off for speed, which would
# compare SQLite's fsync'ed commits with PostgreSQL's unsynced ones.
DURABLE_PG = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}

# One writer of the concurrent case: opens the registry, says "ready", waits for "go" so
# that interpreter start-up and the SQLAlchemy import are not timed, then prints the
# CLOCK_MONOTONIC time (system-wide on Linux) at which it finished.
WRITER = """
import sys, time
from medvault.registry.records import Actor, Event  # noqa: E402
from medvault.registry.sql import Registry  # noqa: E402
url, tag, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
registry = Registry.for_url(url)
actor = Actor(f"writer{tag}", "ws-bench")
print("ready", flush=True)
sys.stdin.readline()
for n in range(count):
    at = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    registry.append_event(Event(f"{tag:08x}{n:024x}", at, actor, None, "add", {"n": n}))
print(time.monotonic(), flush=True)
registry.close()
"""


@dataclass
class Row:
    case: str
    backend: str
    unit: str
    digits: int  # decimals shown
    values: list[float] = field(default_factory=list)  # one per run

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def fmt(self, value: float) -> str:
        return f"{value:.{self.digits}f}"


@dataclass
class Postgres:
    """The throwaway server, or why there is none."""

    server: PgServer | None
    version: str = ""
    settings: str = ""
    unavailable: str = ""

    def new_url(self) -> str:
        assert self.server is not None
        return self.server.owner_url(self.server.create_database())


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_event(tag: int, n: int) -> Event:
    """An event shaped like `medvault add`'s (what most custody events look like)."""
    digest = hashlib.sha256(f"{tag}/{n}".encode()).hexdigest()
    details = {"files": 12, "bytes": 48_213_771, "sha256_of_digests": digest, "requested": 12}
    return Event(f"{tag:08x}{n:024x}", now_iso(), ACTOR, VAULT_ID.hex(), "add", details)


def start_postgres() -> Postgres:
    """A throwaway server made durable; MEDVAULT_TEST_PG_URL's server is used as it is."""
    from tests.support.pg import ENV_URL, PgUnavailable, connect_external, start_local

    try:
        url = os.environ.get(ENV_URL)
        server = connect_external(url) if url else start_local(settings=DURABLE_PG)
    except PgUnavailable as exc:
        return Postgres(None, unavailable=str(exc).splitlines()[0])
    pg = Postgres(server)
    try:
        registry = Registry.for_url(pg.new_url())
        with registry.engine.connect() as conn:
            pg.version = str(conn.exec_driver_sql("SHOW server_version").scalar_one())
            pg.settings = ", ".join(
                f"{name}={conn.exec_driver_sql(f'SHOW {name}').scalar_one()}"
                for name in ("fsync", "synchronous_commit")
            )
        registry.close()
    except Exception as exc:  # e.g. psycopg missing: still produce the SQLite rows
        server.stop()
        return Postgres(None, unavailable=f"{type(exc).__name__}: {exc}".splitlines()[0])
    return pg


def sqlite_settings(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    conn.close()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return f"journal_mode={journal}, synchronous={names.get(sync, sync)}"


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def append_events(registry: Registry, events: Sequence[Event]) -> float:
    """Seconds to append EVENTS one transaction each, as `medvault` commands do."""
    started = time.perf_counter()
    for ev in events:
        registry.append_event(ev)
    return time.perf_counter() - started


def concurrent_append(url: str, total: int) -> tuple[float, str | None]:
    """Wall seconds for two processes to append TOTAL events between them, and what is wrong
    with the chain afterwards (None when it verifies and holds every event)."""
    Registry.for_url(url).close()  # create the schema before the writers race
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    counts = (total // 2, total - total // 2)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(tag), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for tag, count in zip((1, 2), counts, strict=True)
    ]
    for writer in writers:
        assert writer.stdout is not None
        if writer.stdout.readline().strip() != "ready":
            raise SystemExit(f"concurrent writer failed to start: {writer.communicate()[1]}")
    started = time.monotonic()
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    ends: list[float] = []
    for writer in writers:
        out, err = writer.communicate(timeout=3600)
        if writer.returncode != 0:
            raise SystemExit(f"concurrent writer exited {writer.returncode}: {err}")
        ends.append(float(out.split()[-1]))
    elapsed = max(ends) - started
    registry = Registry.for_url(url)
    try:
        problem = registry.verify_chain()
        seq, _hash = registry.head()
    finally:
        registry.close()
    if problem is not None:
        return elapsed, f"chain broken at event {problem.seq}: {problem.reason}"
    if seq != total:
        return elapsed, f"chain holds {seq} events, {total} were written"
    return elapsed, None


def merge_batch(registry: Registry, known: Sequence[Event], tag: int) -> tuple[float, int]:
    """Seconds to merge 1,000 events, the first half already in the registry (a drive synced
    before, then used offline), and how many were appended (must be 500)."""
    half = MERGE_BATCH // 2
    batch = [*known[-half:], *(make_event(tag, n) for n in range(half))]
    started = time.perf_counter()
    merged = registry.merge_events(batch, now_iso())
    return time.perf_counter() - started, len(merged)


def drive_vs_registry(
    paths: VaultPaths, vmk: Secret, registry: Registry, tag: int
) -> tuple[float, float]:
    """Median seconds of one drive-log append and of one SQLite append_event, interleaved
    (and the order flipped each time) so both see the same disk and the same noise."""
    drive: list[float] = []
    sqlite: list[float] = []
    for n in range(DRIVE_SAMPLES):
        ev = make_event(tag, n)
        # The same event id in both places, as `custody.record` does.
        ops = [
            (
                drive,
                lambda ev=ev: drive_log.append(paths, VaultKeys(vmk, VAULT_ID), to_log_dict(ev)),
            ),
            (sqlite, lambda ev=ev: registry.append_event(ev)),
        ]
        for samples, op in ops if n % 2 == 0 else reversed(ops):
            samples.append(timed(op))
    return statistics.median(drive), statistics.median(sqlite)


def fill_drive_log(paths: VaultPaths, vmk: Secret) -> None:
    for n in range(READ_ENTRIES):
        drive_log.append(paths, VaultKeys(vmk, VAULT_ID), to_log_dict(make_event(0xD0, n)))


def read_all_seconds(paths: VaultPaths, vmk: Secret) -> float:
    def read() -> None:
        found = drive_log.read_all(paths, VaultKeys(vmk, VAULT_ID))
        if len(found.events) != READ_ENTRIES or found.damaged:
            raise SystemExit(f"read_all found {len(found.events)} events, {found.damaged}")

    return statistics.median(timed(read) for _ in range(READ_REPEATS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    add_run_arguments(parser, "registry.md")
    args = parser.parse_args()
    if args.events < MERGE_BATCH // 2 or args.runs < 1:
        parser.error(f"--events must be at least {MERGE_BATCH // 2} and --runs at least 1")

    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="mvbench-registry-", dir=args.workdir))
    pg = Postgres(None)
    try:
        pg = start_postgres()
        backends = [SQLITE] if pg.server is None else [SQLITE, POSTGRES]
        rows: dict[tuple[str, str], Row] = {}

        def add(case: str, backend: str, unit: str, digits: int, value: float) -> None:
            rows.setdefault((case, backend), Row(case, backend, unit, digits)).values.append(value)

        failures: list[str] = []
        n = args.events
        vmk = Secret(os.urandom(32))
        read_paths = VaultPaths(base / "read-drive" / "MEDVAULT")
        read_paths.root.mkdir(parents=True)
        fill_drive_log(read_paths, vmk)
        sqlite_note = ""
        for run in range(args.runs):
            work = base / f"run{run}"
            work.mkdir()
            # Alternate which backend goes first, so drift over a run favours neither.
            order = backends if run % 2 == 0 else backends[::-1]
            registries: dict[str, Registry] = {}
            appended: dict[str, list[Event]] = {}
            for backend in order:
                url = f"sqlite:///{work / 'append.sqlite'}" if backend == SQLITE else pg.new_url()
                registries[backend] = Registry.for_url(url)
                appended[backend] = [make_event(run, i) for i in range(n)]
                seconds = append_events(registries[backend], appended[backend])
                add(APPEND, backend, "events/s", 0, n / seconds)
            for backend in order:
                verify_started = time.perf_counter()
                problem = registries[backend].verify_chain()
                seconds = time.perf_counter() - verify_started
                if problem is not None:
                    raise SystemExit(f"{backend}: the benchmark's own chain is broken: {problem}")
                add(VERIFY, backend, "events/s", 0, n / seconds)
                if backend == SQLITE and seconds >= VERIFY_LIMIT_S * n / VERIFY_LIMIT_EVENTS:
                    failures.append(
                        f"verify_chain of {n} events on SQLite took {seconds:.2f} s (limit "
                        f"{VERIFY_LIMIT_S * n / VERIFY_LIMIT_EVENTS:.2f} s)"
                    )
            for backend in order:
                seconds, merged = merge_batch(registries[backend], appended[backend], 1000 + run)
                if merged != MERGE_BATCH // 2:
                    raise SystemExit(f"{backend}: merge appended {merged} events, not 500")
                add(MERGE, backend, "ms", 1, seconds * 1000)
            for backend in order:
                url = (
                    f"sqlite:///{work / 'concurrent.sqlite'}" if backend == SQLITE else pg.new_url()
                )
                seconds, broken = concurrent_append(url, n)
                if broken:
                    failures.append(f"concurrent append on {backend}: {broken}")
                add(CONCURRENT, backend, "events/s", 0, n / seconds)
            paths = VaultPaths(work / "drive" / "MEDVAULT")
            paths.root.mkdir(parents=True)
            drive_s, registry_s = drive_vs_registry(paths, vmk, registries[SQLITE], 2000 + run)
            add(DRIVE_APPEND, DISK, "ms", 2, drive_s * 1000)
            add(REGISTRY_APPEND, SQLITE, "ms", 2, registry_s * 1000)
            add(RATIO, DISK, "x", 2, drive_s / registry_s)
            add(READ_ALL, DISK, "ms", 1, read_all_seconds(read_paths, vmk) * 1000)
            sqlite_note = sqlite_settings(work / "append.sqlite")
            for registry in registries.values():
                registry.close()
            shutil.rmtree(work)

        ratio = rows[(RATIO, DISK)].median
        if ratio > RATIO_LIMIT:
            failures.append(
                f"a drive-log append costs {ratio:.2f}x a SQLite append (limit {RATIO_LIMIT}x)"
            )
        report = render(args, rows, pg, sqlite_note, failures, time.perf_counter() - started)
        publish(args.out, report)
        for failure in failures:
            print(f"FAIL: {failure}", file=sys.stderr)
        return 1 if failures else 0
    finally:
        if pg.server is not None:
            pg.server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _version(module: str) -> str:
    try:
        return str(__import__(module).__version__)
    except ImportError:
        return "not installed"


def render(
    args: argparse.Namespace,
    rows: dict[tuple[str, str], Row],
    pg: Postgres,
    sqlite_note: str,
    failures: list[str],
    elapsed: float,
) -> str:
    n = args.events
    pg_line = (
        f"PostgreSQL {pg.version} ({pg.settings}), throwaway local server on a Unix socket"
        if pg.server is not None
        else f"PostgreSQL unavailable: {pg.unavailable}"
    )
    lines = [
        f"# Registry benchmark: {n} events",
        "",
        f"Date {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}; "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}; "
        f"SQLAlchemy {_version('sqlalchemy')}; psycopg {_version('psycopg')}; "
        f"SQLite {sqlite3.sqlite_version} ({sqlite_note}); {pg_line}. "
        f"runs: {args.runs} (medians; backends alternate inside each run); "
        f"{elapsed / 60:.1f} min in all.",
        "",
        "| case | backend | median | unit | min-max |",
        "|---|---|---|---|---|",
    ]
    for row in sorted(rows.values(), key=lambda r: CASES.index(r.case)):  # stable: SQLite first
        spread = f"{row.fmt(min(row.values))}-{row.fmt(max(row.values))}"
        lines.append(
            f"| {row.case} | {row.backend} | {row.fmt(row.median)} | {row.unit} | {spread} |"
        )
    limit = VERIFY_LIMIT_S * n / VERIFY_LIMIT_EVENTS
    lines += [
        "",
        f"**append**: {n} `Registry.append_event` calls in one process, one event per "
        "transaction, as each `medvault` command records its event. **concurrent append**: "
        f"two processes append {n // 2} events each at once (timed from a start signal, so "
        "interpreter start-up is not counted); the chain must then verify and hold every "
        f"event. **verify_chain**: re-hash all {n} events. **merge**: `merge_events` of "
        f"{MERGE_BATCH} events, the first half already in the registry (a drive synced once "
        "and then used offline: sync's worst realistic case), on the registry left by "
        f"*append*. **drive log append**: `drive_log.append` of one event to a folder on "
        f"local disk (temp file, fsync, rename, fsync the folder) beside one SQLite "
        f"`append_event`, alternating, median of {DRIVE_SAMPLES} each per run; the ratio is "
        "the per-command cost the drive log adds. **read_all**: decrypt and check "
        f"{READ_ENTRIES} log entries (warm page cache; a USB drive is slower on first read).",
        "",
        f"Gates: the concurrent chain verifies; verify_chain of {n} events on SQLite under "
        f"{limit:.1f} s; drive-log append at most {RATIO_LIMIT:.0f}x a SQLite append. "
        + ("**FAILED**: " + "; ".join(failures) if failures else "All passed."),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
