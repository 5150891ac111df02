"""Crash at every I/O point of an operation: the harness behind tests/campaigns/test_fault_points.py
and bench/fault_points.py.

A scenario prepares a small vault once (the template). For its operation a forked child
first runs on a copy with an observer that only counts the I/O points (store/io_points.py):
N points. Then for every k in 0..N-1 a fresh copy is made and a child runs the operation
and calls os._exit() just before point k, as if killed: what Python still buffered is lost,
what the kernel already had stays. The parent then checks the copy:

1. the vault opens (with the old or the new passphrase, for passwd and recovery);
2. every file committed before the crash (the template's, and each one the child reported
   committed) extracts intact, and nothing else appears but files the operation adds;
3. `verify` finds no damaged or missing file and no damaged pack; what it may still name is
   only the operation in flight (a pack not yet in the index, a header copy one sequence
   number behind);
4. after `repair`, `verify` passes and a further `add` works.

Each point is tried twice. "kill": the process dies and the kernel keeps everything it was
given. "power": the medium also loses what was never made durable (PowerCut below):
writes to a file since its last fsync, and renames and unlinks since their folder's last
fsync. A kill never tests an fsync; a power cut tests every one of them, in order.

Forking keeps each trial to milliseconds (no interpreter start-up, no imports). A kill by a
signal behaves the same at these points: nothing runs between them that writes the drive.
The yanked-drive trials (tests/media/test_yanked_drive.py) do the same on real FUSE file systems.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from medvault.config import OrgConfig
from medvault.crypto.kdf import Argon2Params, argon2id
from medvault.engine import path_index
from medvault.engine.catalog import Located
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.errors import MedvaultError, WrongPassphrase
from medvault.keys import slots
from medvault.keys.passphrase import to_secret
from medvault.keys.shares import parse_share
from medvault.registry.sql import Registry
from medvault.secret import Secret
from medvault.store import io_points
from medvault.vault import verify as verify_module
from medvault.vault.add import add_files
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from medvault.vault.escrow_ops import reseal
from medvault.vault.export import run_export
from medvault.vault.maintenance import change_passphrase, compact, remove_paths, repair
from medvault.vault.reading import extract, list_files
from medvault.vault.recovery import EscrowIdentity, escrow_identity, escrow_unlock
from medvault.vault.verify import REMOVALS_SOUND, VerifyReport, verify
from medvault.workstation import staging
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace

CRASH_EXIT = 87
MODES = ("kill", "power")
NEW_PASSPHRASE = "a brand new passphrase for the vault 7"
PART_SIZE = 64 * 1024  # the smallest allowed: big files span several parts
# What verify may still say right after a crash: the operation that was in flight.
IN_FLIGHT_INDEX = ("not in the index yet", "holds only copies of entries stored elsewhere")
IN_FLIGHT_HEADER = "stale copy (older sequence number)"


@dataclass
class Context:
    """What a scenario's operation gets inside the child."""

    drive: Path
    registry: Registry
    env: Env
    org: OrgConfig
    identity: EscrowIdentity
    workdir: Path
    report: Callable[[list[str]], None]  # paths committed (add, export)
    done: Callable[[], None]  # the operation returned


@dataclass
class Scenario:
    name: str
    build: Callable[[Path, Workspace], None]  # prepares template/drive (+ src/) in a folder
    run: Callable[[Context], None]
    may_add: dict[str, bytes] = field(default_factory=dict)  # files OP may add
    removes: set[str] = field(default_factory=set)  # files OP removes once it returns
    passphrases: tuple[str, ...] = (PASSPHRASE,)


@dataclass
class Trial:
    mode: str
    point: int
    kind: str
    path: str
    committed_reported: int
    verify_before_repair: str  # "ok" or what verify named


@dataclass
class ScenarioResult:
    name: str
    points: list[tuple[str, str]]
    trials: list[Trial] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def kinds(self) -> Counter[str]:
        return Counter(kind for kind, _ in self.points)


def _unlocked(drive: Path, passphrases: tuple[str, ...]) -> UnlockedVault:
    copies = open_headers(drive)
    for text in passphrases:
        try:
            return unlock(copies, to_secret(text))
        except WrongPassphrase:
            continue
    raise AssertionError("no passphrase opens the vault")


def _rng_bytes(seed: str, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


# The template vault: a few packed small files and one file split into parts.
BASE_FILES = {
    "base/scan.bin": _rng_bytes("scan", 150_000),
    **{f"base/notes/n{i}.txt": _rng_bytes(f"note{i}", 100 + 700 * i) for i in range(4)},
    "base/empty.txt": b"",
}
ADD_FILES = {
    "incoming/big.bin": _rng_bytes("big", 140_000),
    **{f"incoming/small/s{i}.csv": _rng_bytes(f"small{i}", 50 + 300 * i) for i in range(5)},
}
LARGE_PART_SIZE = 1024 * 1024
LARGE_FILES = {"incoming/large.bin": _rng_bytes("large", LARGE_PART_SIZE + 300_000)}
EXPORT_FILES = {"a.csv": b"mrn,result\n1,ok\n" * 40, "b.csv": b"x" * 5000}


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@contextlib.contextmanager
def path_index_always() -> Iterator[None]:
    """Every add (re)writes the path index, as it does for a big vault, so its writes are
    crash points too and every check reads through it."""
    before = path_index.REBUILD_MIN_ENTRIES
    path_index.REBUILD_MIN_ENTRIES = 1
    try:
        yield
    finally:
        path_index.REBUILD_MIN_ENTRIES = before


@contextlib.contextmanager
def no_writer_to_wait_for() -> Iterator[None]:
    """verify reads the index and the objects again, pausing, for up to 2 s while the
    writer lock file exists and they disagree: a live writer may be between a pack's
    rename and its index record. In a check the crashed writer is dead (waited for) and
    none other runs, so a second read sees the same bytes: read once, don't wait (not
    even the pause settled_catalogs takes after its last read)."""
    before = verify_module.SETTLE_TRIES, verify_module.SETTLE_PAUSE_S
    verify_module.SETTLE_TRIES, verify_module.SETTLE_PAUSE_S = 1, 0.0
    try:
        yield
    finally:
        verify_module.SETTLE_TRIES, verify_module.SETTLE_PAUSE_S = before


@contextlib.contextmanager
def argon2id_once() -> Iterator[None]:
    """Argon2id stretches each (passphrase, salt, cost) once. A check unlocks the crashed
    vault three times and each trial's child once more, always with the same slots: at
    FAST_KDF's 12 ms a stretch, a third of a check's CPU. Every unlock still runs in full
    (slot choice, cost budget, unwrap, header MAC); only the stretch, a pure function of
    these inputs, is reused. A slot the operation writes (passwd, rekey) has a new salt,
    so it is stretched for real. Forked children inherit what the parent has stretched."""
    stretched: dict[tuple[bytes, bytes, Argon2Params], bytes] = {}

    def once(passphrase: Secret, salt: bytes, params: Argon2Params) -> Secret:
        params.check()
        inputs = (passphrase.reveal(), salt, params)
        if inputs not in stretched:
            stretched[inputs] = argon2id(passphrase, salt, params).reveal()
        return Secret(stretched[inputs])

    setattr(slots, _SLOTS_STRETCH, once)  # the name slots.py calls
    try:
        yield
    finally:
        setattr(slots, _SLOTS_STRETCH, argon2id)


_SLOTS_STRETCH = "argon2id"


@contextlib.contextmanager
def fast_workdir(fallback: Path) -> Iterator[Path]:
    """A RAM-backed folder (/dev/shm) when there is one, else FALLBACK. Each check extracts
    and adds, fsyncing every file; what a crash leaves does not depend on the file system
    (the points are medvault's own calls, and PowerCut models what a power cut undoes)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield fallback
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="medvault-faults-") as name:
        yield Path(name)


def _base_vault(folder: Path, ws: Workspace, env: Env, part_size: int = PART_SIZE) -> Registry:
    drive = folder / "drive"
    drive.mkdir(parents=True)
    registry = Registry.for_path(folder / "registry.sqlite")
    create_vault(drive, "faults", to_secret(PASSPHRASE), ws.org, registry, env, part_size)
    src = folder / "base-src"
    _write_tree(src, {k.removeprefix("base/"): v for k, v in BASE_FILES.items()})
    vault = _unlocked(drive, (PASSPHRASE,))
    # Sources are added under their folder name: base-src/... -> base/...
    staged = folder / "base"
    src.rename(staged)
    with path_index_always():
        add_files(vault, [staged], False, registry, env)
    shutil.rmtree(staged)
    return registry


def build_plain(folder: Path, ws: Workspace) -> None:
    env = Env(kdf=FAST_KDF)
    _base_vault(folder, ws, env).close()
    _write_tree(folder, ADD_FILES)


def build_large(folder: Path, ws: Workspace) -> None:
    """A vault of 1 MiB parts and a file over 1 MiB to add: on ext4, XFS or f2fs it is read
    once and its header block, in a part that is full before the header is known, is
    written last (PackWriter.leave_hole)."""
    env = Env(kdf=FAST_KDF)
    _base_vault(folder, ws, env, LARGE_PART_SIZE).close()
    _write_tree(folder, LARGE_FILES)


def build_with_removals(folder: Path, ws: Workspace) -> None:
    """Half of the base files removed, so compact has packs to rewrite."""
    env = Env(kdf=FAST_KDF)
    registry = _base_vault(folder, ws, env)
    vault = _unlocked(folder / "drive", (PASSPHRASE,))
    remove_paths(vault, ["base/notes/n0.txt", "base/notes/n1.txt", "base/scan.bin"], registry, env)
    registry.close()


def build_damaged(folder: Path, ws: Workspace) -> None:
    """One header copy gone, the index gone, an orphan part and tmp leftovers."""
    build_plain(folder, ws)
    root = folder / "drive" / "MEDVAULT"
    (root / "vault.mvh.bak").unlink()
    for item in (root / "index").iterdir():
        item.unlink()
    (root / "tmp" / "leftover.tmp").write_bytes(b"junk")
    shard = next(p for p in (root / "objects").iterdir() if p.is_dir())
    (shard / ("z" * 26 + ".001.mvp")).write_bytes(b"orphan part")


def _open(ctx: Context, passphrase: str = PASSPHRASE) -> UnlockedVault:
    return unlock(open_headers(ctx.drive), to_secret(passphrase))


def run_add(ctx: Context) -> None:
    vault = _open(ctx)
    sources = [ctx.workdir / "incoming"]
    with path_index_always():
        add_files(vault, sources, False, ctx.registry, ctx.env, on_commit=lambda c: _paths(ctx, c))
    ctx.done()


def _paths(ctx: Context, committed: list[Located]) -> None:
    ctx.report([loc.path for loc in committed])


def run_rm(ctx: Context) -> None:
    vault = _open(ctx)
    remove_paths(vault, ["base/notes/n2.txt", "base/scan.bin"], ctx.registry, ctx.env)
    ctx.done()


def run_compact(ctx: Context) -> None:
    compact(_open(ctx), ctx.registry, ctx.env)
    ctx.done()


def run_passwd(ctx: Context) -> None:
    change_passphrase(_open(ctx), to_secret(NEW_PASSPHRASE), ctx.registry, ctx.env)
    ctx.done()


def run_repair(ctx: Context) -> None:
    repair(_open(ctx), ctx.registry, ctx.env)
    ctx.done()


def run_export_op(ctx: Context) -> None:
    (ctx.workdir / "staging").mkdir(exist_ok=True)
    root = staging.choose_root(ctx.workdir / "staging", allow_disk=True)
    script = "; ".join(
        f"printf '%s' '{data.decode()}' > \"$1/{name}\"" for name, data in EXPORT_FILES.items()
    )
    result = run_export(
        _open(ctx),
        "labs",
        ["/bin/sh", "-c", script, "sh", "{}"],
        ctx.registry,
        ctx.env,
        root,
        on_commit=lambda c: _paths(ctx, c),
    )
    if result.command_exit != 0:
        raise AssertionError(f"export command failed: {result.command_exit}")
    ctx.done()


def run_recover_reset(ctx: Context) -> None:
    vault = escrow_unlock(ctx.drive, ctx.identity, None)
    audit: dict[str, object] = {"reason": "fault test", "approvers": list(ctx.identity.approvers)}
    change_passphrase(
        vault, to_secret(NEW_PASSPHRASE), ctx.registry, ctx.env, "recover-reset", audit
    )
    ctx.done()


def run_reseal(ctx: Context) -> None:
    reseal(_open(ctx), ctx.org, ctx.registry, ctx.env, "fault test")
    ctx.done()


def run_rekey(ctx: Context) -> None:
    """A re-key: the header, every entry, index record and log entry rewritten in place."""
    reseal(_open(ctx), ctx.org, ctx.registry, ctx.env, "fault test",
           passphrase=to_secret(PASSPHRASE), rekey_requested=True)  # fmt: skip
    ctx.done()


SCENARIOS = [
    Scenario("add", build_plain, run_add, may_add=ADD_FILES),
    Scenario("rm", build_plain, run_rm, removes={"base/notes/n2.txt", "base/scan.bin"}),
    # Where a large file is read once: run on a kernel file system (test_fault_points).
    Scenario("add-large", build_large, run_add, may_add=LARGE_FILES),
    Scenario("compact", build_with_removals, run_compact),
    Scenario("passwd", build_plain, run_passwd, passphrases=(PASSPHRASE, NEW_PASSPHRASE)),
    Scenario("repair", build_damaged, run_repair),
    Scenario(
        "export",
        build_plain,
        run_export_op,
        may_add={f"exports/labs/*/{name}": data for name, data in EXPORT_FILES.items()},
    ),
    Scenario(
        "recover-reset",
        build_plain,
        run_recover_reset,
        passphrases=(PASSPHRASE, NEW_PASSPHRASE),
    ),
    Scenario("reseal", build_plain, run_reseal),
    Scenario("rekey", build_plain, run_rekey),
]


def escrow_of(ws: Workspace) -> EscrowIdentity:
    """The escrow key rebuilt once from two admins' shares (SLIP-39 is slow on purpose)."""
    shares = [parse_share(_share_words(path), path.name) for path in ws.org_created.share_paths[:2]]
    return escrow_identity(ws.org, shares)


def _share_words(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return " ".join(line for line in lines if not line.lstrip().startswith("#"))


class _ChildLog:
    """Lines the child appends (unbuffered, so a crash loses none already written)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def put(self, obj: dict[str, object]) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(obj) + "\n").encode())
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]


class PowerCut:
    """What a power cut before the current point may undo, and undoing it.

    Called at every point; each call first settles the previous point's operation, which
    has completed by then: an fsync makes its file durable, an fsync of a folder makes the
    renames and unlinks in it durable. Until then a file keeps its last durable content (a
    file never synced: none), and a rename or unlink can be undone.
    """

    def __init__(self) -> None:
        self.durable: dict[Path, bytes | None] = {}  # dirty file -> its durable content
        self.undo: dict[Path, list[tuple[str, Path, Path | None, bytes | None]]] = {}
        self.settling: tuple[str, Path] | None = None

    @staticmethod
    def _content(path: Path) -> bytes | None:
        return path.read_bytes() if path.is_file() else None

    def settle(self) -> None:
        if self.settling is not None:
            kind, path = self.settling
            if kind == io_points.FSYNC:
                self.durable.pop(path, None)
            else:
                self.undo.pop(path, None)
            self.settling = None

    def before(self, kind: str, path: Path, source: Path | None) -> None:
        self.settle()
        if kind in (io_points.CREATE, io_points.WRITE, io_points.TRUNCATE, io_points.INDEX_APPEND):
            if path not in self.durable:
                self.durable[path] = self._content(path)
        elif kind in (io_points.FSYNC, io_points.FSYNC_DIR):
            self.settling = (kind, path)
        elif kind == io_points.RENAME and source is not None:
            old = self.durable.pop(path, self._content(path))
            if source in self.durable:
                self.durable[path] = self.durable.pop(source)
            self.undo.setdefault(path.parent, []).append(("rename", path, source, old))
        elif kind == io_points.UNLINK:
            content = self.durable.pop(path, self._content(path))
            self.undo.setdefault(path.parent, []).append(("unlink", path, None, content))

    def cut(self) -> None:
        """The medium as it would be after the power cut."""
        self.settle()
        for path, content in self.durable.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        undone = [step for steps in self.undo.values() for step in steps]
        for action, path, source, old in reversed(undone):
            if action == "rename" and source is not None:
                if path.exists():
                    os.replace(path, source)
                if old is not None:
                    path.write_bytes(old)
            elif action == "unlink" and old is not None:
                path.write_bytes(old)


def _in_child(
    scenario: Scenario,
    trial_dir: Path,
    ws: Workspace,
    identity: EscrowIdentity,
    crash_at: int | None,
    mode: str,
    log: _ChildLog,
) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    try:
        points: list[tuple[str, str]] = []
        power = PowerCut()

        def observe(kind: str, path: Path, source: Path | None) -> None:
            if crash_at is not None and len(points) == crash_at:
                if mode == "power":
                    power.cut()
                os._exit(CRASH_EXIT)
            if mode == "power":
                power.before(kind, path, source)
            points.append((kind, _relative(path, trial_dir)))

        registry = Registry.for_path(trial_dir / "registry.sqlite")
        ctx = Context(
            drive=trial_dir / "drive",
            registry=registry,
            env=Env(kdf=FAST_KDF, warn=lambda _m: None),
            org=ws.org,
            identity=identity,
            workdir=trial_dir,
            report=lambda paths: log.put({"committed": paths}),
            done=lambda: log.put({"done": True}),
        )
        with io_points.observed(observe):
            scenario.run(ctx)
        log.put({"points": points})
    except BaseException:
        log.put({"error": traceback.format_exc()})
        code = 1
    finally:
        os._exit(code)


def _relative(path: Path, base: Path) -> str:
    try:
        text = str(path.relative_to(base))
    except ValueError:
        return "<outside>"
    # Random object and event ids vary between runs; keep the shape only.
    return "/".join(_shape(part) for part in text.split("/"))


def _shape(part: str) -> str:
    stem = part.split(".")[0]
    if len(stem) >= 26 and stem.isalnum():
        return "<id>" + part[len(stem) :]
    return part


def _fork(
    scenario: Scenario,
    trial_dir: Path,
    ws: Workspace,
    identity: EscrowIdentity,
    crash_at: int | None,
    mode: str = "kill",
) -> tuple[int, list[dict[str, object]]]:
    log = _ChildLog(trial_dir / "child.log")
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _in_child(scenario, trial_dir, ws, identity, crash_at, mode, log)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), log.read()


def _expected_after(scenario: Scenario, lines: list[dict[str, object]]) -> tuple[set[str], bool]:
    reported: set[str] = set()
    done = False
    for line in lines:
        committed = line.get("committed")
        if isinstance(committed, list):
            reported.update(str(p) for p in committed)
        if line.get("done"):
            done = True
    return reported, done


def _content_for(scenario: Scenario, stored: str) -> bytes | None:
    if stored in BASE_FILES:
        return BASE_FILES[stored]
    for pattern, data in scenario.may_add.items():
        if "*" in pattern:
            head, tail = pattern.split("*", 1)
            if stored.startswith(head) and stored.endswith(tail):
                return data
        elif stored == pattern:
            return data
    return None


def check_vault(
    scenario: Scenario, trial_dir: Path, lines: list[dict[str, object]]
) -> tuple[str, list[str]]:
    """Returns (what verify said before repair, problems)."""
    with no_writer_to_wait_for():
        return _check_vault(scenario, trial_dir, lines)


def _check_vault(
    scenario: Scenario, trial_dir: Path, lines: list[dict[str, object]]
) -> tuple[str, list[str]]:
    problems: list[str] = []
    reported, done = _expected_after(scenario, lines)
    drive = trial_dir / "drive"
    try:
        vault = _unlocked(drive, scenario.passphrases)
    except (AssertionError, MedvaultError) as exc:
        return "does not open", [f"vault does not open: {exc}"]
    files, _catalog = list_files(vault)
    live = {loc.path for loc in files}
    with path_index.live_files(vault) as fast:
        if list(fast.all()) != files:
            problems.append("the path index and the journal disagree")
    must_have = (set(BASE_FILES) - _removed_before(scenario) - scenario.removes) | reported
    lost = must_have - live
    if lost:
        problems.append(f"committed files lost: {sorted(lost)}")
    gone = scenario.removes - live
    if done and gone != scenario.removes:
        problems.append(f"files still listed after rm returned: {sorted(scenario.removes - gone)}")
    if gone and gone != scenario.removes:
        problems.append(f"rm half-applied: {sorted(gone)} gone of {sorted(scenario.removes)}")
    for path in sorted(live):
        if _content_for(scenario, path) is None:
            problems.append(f"unexpected file listed: {path}")
    out = trial_dir / "out"
    try:
        extract(vault, [], out, False, _scratch_registry(), Env(kdf=FAST_KDF, warn=lambda _m: None))
    except MedvaultError as exc:
        problems.append(f"extract failed: {exc}")
    for path in sorted(live):
        target = out / path
        expected = _content_for(scenario, path)
        if expected is not None and (not target.exists() or target.read_bytes() != expected):
            problems.append(f"{path} did not extract intact")
    report = verify(vault)
    said = _verify_summary(report)
    if report.damaged or report.missing or report.damaged_packs:
        problems.append(f"verify found damage: {said}")
    for name, state in report.headers.items():
        if state not in ("ok", IN_FLIGHT_HEADER) and scenario.name != "repair":
            problems.append(f"header {name}: {state}")
    in_flight = any(said in report.index for said in IN_FLIGHT_INDEX)
    if report.index != "ok" and not in_flight and scenario.name != "repair":
        problems.append(f"index: {report.index}")
    if report.removals not in REMOVALS_SOUND:  # a crash never makes removals unprovable
        problems.append(f"removals: {report.removals}")
    problems += _repair_then_write(trial_dir, scenario)
    return said, problems


_SCRATCH: list[Registry] = []


def _scratch_registry() -> Registry:
    """One in-memory registry for the checks' own events (building one runs the migrations,
    which would cost more than the trial itself)."""
    if not _SCRATCH:
        _SCRATCH.append(Registry("sqlite://"))
    return _SCRATCH[0]


def _removed_before(scenario: Scenario) -> set[str]:
    if scenario.build is build_with_removals:
        return {"base/notes/n0.txt", "base/notes/n1.txt", "base/scan.bin"}
    return set()


def _verify_summary(report: VerifyReport) -> str:
    if report.ok:
        return "ok"
    parts = [f"{k}: {v}" for k, v in report.headers.items() if v != "ok"]
    if report.index != "ok":
        parts.append(f"index: {report.index}")
    parts += [f"damaged {k}" for k in report.damaged]
    parts += [f"missing {k}" for k in report.missing]
    parts += [f"damaged pack {k}" for k in report.damaged_packs]
    if report.path_index not in path_index.SOUND:
        parts.append(f"path index: {report.path_index}")
    if report.removals not in REMOVALS_SOUND:
        parts.append(f"removals: {report.removals}")
    parts += [f"not yet indexed {k}" for k in report.unindexed]
    parts += [f"misplaced {k}" for k in report.misplaced]
    return "; ".join(parts)


def _repair_then_write(trial_dir: Path, scenario: Scenario) -> list[str]:
    """The crashed vault is usable: repair leaves it clean and a new add works."""
    registry = _scratch_registry()
    env = Env(kdf=FAST_KDF, warn=lambda _m: None)
    vault = _unlocked(trial_dir / "drive", scenario.passphrases)
    try:
        repair(vault, registry, env)
        vault = _unlocked(trial_dir / "drive", scenario.passphrases)
        extra = trial_dir / "after"
        extra.mkdir()
        (extra / "later.txt").write_bytes(b"written after the crash")
        add_files(vault, [extra], False, registry, env)
        report = verify(vault)
    except MedvaultError as exc:
        return [f"repair/add after the crash failed: {exc}"]
    if not report.ok:
        return [f"verify after repair and add: {_verify_summary(report)}"]
    return []


def run_scenario(
    scenario: Scenario,
    workdir: Path,
    ws: Workspace,
    identity: EscrowIdentity,
    every: int = 1,
    modes: tuple[str, ...] = MODES,
) -> ScenarioResult:
    """Crash at every EVERY-th point (1: all of them) in each mode and check each outcome."""
    with argon2id_once():
        return _run_scenario(scenario, workdir, ws, identity, every, modes)


def _run_scenario(
    scenario: Scenario,
    workdir: Path,
    ws: Workspace,
    identity: EscrowIdentity,
    every: int,
    modes: tuple[str, ...],
) -> ScenarioResult:
    started = time.monotonic()
    template = workdir / f"{scenario.name}-template"
    scenario.build(template, ws)
    count_dir = workdir / f"{scenario.name}-count"
    shutil.copytree(template, count_dir)
    code, lines = _fork(scenario, count_dir, ws, identity, None)
    errors = [str(line["error"]) for line in lines if "error" in line]
    if code != 0 or errors:
        raise AssertionError(f"{scenario.name} failed without a crash: {errors}")
    raw_points = next(line["points"] for line in lines if "points" in line)
    assert isinstance(raw_points, list)
    result = ScenarioResult(scenario.name, [(str(k), str(p)) for k, p in raw_points])
    problems = check_vault(scenario, count_dir, lines)[1]
    result.failures += [f"{scenario.name} without a crash: {p}" for p in problems]
    shutil.rmtree(count_dir)
    for mode in modes:
        for k in range(0, len(result.points), every):
            _trial(scenario, template, workdir, ws, identity, mode, k, result)
    shutil.rmtree(template)
    result.seconds = time.monotonic() - started
    return result


def _trial(
    scenario: Scenario,
    template: Path,
    workdir: Path,
    ws: Workspace,
    identity: EscrowIdentity,
    mode: str,
    k: int,
    result: ScenarioResult,
) -> None:
    trial_dir = workdir / f"{scenario.name}-{mode}-{k}"
    shutil.copytree(template, trial_dir)
    code, lines = _fork(scenario, trial_dir, ws, identity, k, mode)
    kind, path = result.points[k]
    where = f"{scenario.name} {mode} before point {k} ({kind} {path})"
    if code != CRASH_EXIT:
        errors = [str(line.get("error", "")) for line in lines if "error" in line]
        result.failures.append(
            f"{where}: child exited {code}, not at the point (not deterministic?) {errors}"
        )
    else:
        said, problems = check_vault(scenario, trial_dir, lines)
        reported = sum(len(c) for c in (x.get("committed") for x in lines) if isinstance(c, list))
        result.trials.append(Trial(mode, k, kind, path, reported, said))
        result.failures += [f"{where}: {p}" for p in problems]
    shutil.rmtree(trial_dir)
