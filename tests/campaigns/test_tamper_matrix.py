"""The tamper matrix: single-byte changes and truncations of every file of a
small vault are detected, release no wrong plaintext, and leave the undamaged files
extractable; `repair` recovers what it can. bench/stress_tamper.py tries every offset and
every length; this test, on every run, a deterministic sample of them.

The vault (part_size 64 KiB, the format's minimum): four small files and four 15 KB scans
in one pack whose last scan crosses into a second part (a .mvo and a .mvp), one small file
removed (a tombstone pack, and a dead entry in the first pack), custody events under log/
from a registry-backed run, both header copies and the index. README-MEDVAULT.txt is a
plaintext notice for whoever finds the drive: it is not authenticated, and nothing reads
it (test_readme_is_not_trusted).

A tried offset gets one xor (a bit cycling through the eight positions). Tried: every
offset and every length in the first DENSE_BYTES and the last 64 bytes of each file (its
magic, prelude, first entry header or record, its tag), every SPARSE_STRIDE-th in between
(more of the same: ciphertext under one tag, JSON under one MAC, padding under the
checksum), and past DENSE_LIMIT in the 64 KiB part 0 every 61st length (each cuts a
non-last part: the same refusal). Each mutation gets the fast check of its
file kind (the library function that detects it: header authentication and verify's
header status; the index read and verify's index status; authenticated reads of the live
files the change can reach, the pack walk and verify's pack checks; the custody log
reader). A deterministic sample (the first offsets and lengths of each file and every 35th
after that, every 265th in the 64 KiB part) also gets the full check: `verify`, `extract`
of every file into a fresh folder (each output identical or absent, no partial file) and,
for log damage, `sync`. bench/stress_tamper.py runs every offset and length, the full
check far more often and all 255 xor values, and writes bench/results/tamper.md. With
MEDVAULT_TAMPER_RESULTS=FILE, test_matrix appends the figures of each file kind to FILE.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from medvault.crypto.escrow import EscrowSuite
from medvault.engine.catalog import Catalog, Located, load_catalog, scan_packs
from medvault.engine.entry_reading import open_reader, stream_entry
from medvault.engine.landing import PARTIAL_SUFFIX
from medvault.engine.session import UnlockedVault, open_headers, unlock, unlock_with_key
from medvault.errors import IntegrityError, MedvaultError, UnsupportedVersion
from medvault.format import entry as efmt
from medvault.format import pack as pfmt
from medvault.keys.passphrase import to_secret
from medvault.registry.records import Event
from medvault.registry.sql import Registry
from medvault.store import drive_log
from medvault.store.journal import read_journal, rewrite_journal
from medvault.vault.add import add_files
from medvault.vault.create import create_vault
from medvault.vault.custody import sync_drive_log
from medvault.vault.env import Env
from medvault.vault.maintenance import remove_paths, repair
from medvault.vault.reading import extract, list_files
from medvault.vault.verify import header_status, index_status, pack_damage, verify
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace, make_workspace
from tests.support.paths import REPO_ROOT

PRELUDE = pfmt.PRELUDE_LEN
PART_SIZE = 64 * 1024  # the format's minimum: the smallest vault that has .mvp parts
SMALL = {"notes/a.txt": 300, "notes/b.txt": 1, "c.txt": 700, "gone.txt": 40}
# Three 15 KB scans share a one-part pack with the small files (mid-size files rather than
# one large file: a changed byte then costs decrypting 15 KB; few of them, as every
# damaged-index case walks every entry). The fourth is larger than a part: it gets a pack
# of its own (packs of several entries never span parts, pack files being written once,
# front to back) and ends ~780 bytes into that pack's part 1, the .mvp (its payload is
# padded to 65,536 bytes: format 1.1 buckets are 2 KiB wide at this size).
SCANS = {**{f"scans/p{i}.bin": 15_242 for i in range(3)}, "scans/p3.bin": 65_215}
CROSSING = "src/scans/p3.bin"
# Every offset and length in the first DENSE_BYTES and the last 64 bytes of a file, every
# SPARSE_STRIDE-th in between, and past DENSE_LIMIT (the 64 KiB .mvo) every 61st length
# (each one cuts a non-last part, the same refusal). bench/stress_tamper.py tries them all.
DENSE_BYTES = 1024
SPARSE_STRIDE = 5
DENSE_LIMIT = 4096
REMOVED = "src/gone.txt"
# Full verify + extract on the first few offsets and lengths of each file and every
# 31st after that (a prime: no aliasing with field sizes); on files over FULL_PER_FILE * 31
# bytes (the 64 KiB part) on about FULL_PER_FILE of each kind of change. When offsets are
# sampled, the stride is rounded up to a multiple of SPARSE_STRIDE (35, 265), so that it
# lands on tried offsets.
FULL_FIRST = 4
FULL_STRIDE = 31
FULL_PER_FILE = 250
KINDS = ("header", "index", "pack .mvo", "pack .mvp", "log")


def xor_value(offset: int) -> int:
    """One bit per offset, cycling through all eight positions."""
    return 1 << (offset % 8)


@dataclass(frozen=True)
class Mutation:
    rel: str  # path inside MEDVAULT/
    kind: str
    op: str  # "xor" or "truncate"
    at: int  # offset, or the length kept
    value: int = 0

    def describe(self) -> str:
        if self.op == "xor":
            return f"{self.rel} byte {self.at} ^ {self.value:#04x}"
        return f"{self.rel} truncated to {self.at} bytes"


@dataclass
class Tally:
    mutations: int = 0
    detected: int = 0
    full: int = 0


@dataclass
class Results:
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)  # (kind, op)
    failures: list[str] = field(default_factory=list)

    def count(self, mutation: Mutation, detected: bool, full: bool) -> None:
        tally = self.tallies.setdefault((mutation.kind, mutation.op), Tally())
        tally.mutations += 1
        tally.detected += detected
        tally.full += full

    def table(self) -> list[str]:
        rows = [
            "| file kind | change | mutations | detected | full verify+extract |",
            "|---|---|---:|---:|---:|",
        ]
        total = Tally()
        for (kind, op), t in sorted(self.tallies.items(), key=lambda x: KINDS.index(x[0][0])):
            name = "single-byte xor" if op == "xor" else "truncation"
            pct = 100.0 * t.detected / t.mutations
            rows.append(
                f"| {kind} | {name} | {t.mutations} | {t.detected} ({pct:.1f} %) | {t.full} |"
            )
            total.mutations += t.mutations
            total.detected += t.detected
            total.full += t.full
        pct = 100.0 * total.detected / max(1, total.mutations)
        rows.append(
            f"| **all** | | **{total.mutations}** | **{total.detected} ({pct:.1f} %)** "
            f"| **{total.full}** |"
        )
        return rows


class EventList:
    """A registry for the many extracts of the matrix: events kept in memory."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def append_event(self, event: Event) -> str:
        self.events.append(event)
        return event.event_id

    def append_logged_event(self, event: Event) -> str:
        return self.append_event(event)

    # The rest of the CustodyRegistry protocol: any call fails the matrix.
    def record_vault(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("not used by the matrix")

    def set_vault_status(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("not used by the matrix")


@dataclass(frozen=True)
class Span:
    path: str  # "" for a tombstone
    live: bool
    start: int  # logical offsets in the pack
    end: int


@dataclass(frozen=True)
class PartFile:
    rel: str
    pack: str
    index: int
    count: int
    lo: int  # logical data range of this part
    hi: int


class TamperVault:
    """The small vault, its pristine bytes, and the expected effect of each mutation."""

    def __init__(self, base: Path, ws: Workspace) -> None:
        self.base = base
        self.ws = ws
        self.drive = base / "drive"
        self.drive.mkdir()
        self.registry = Registry("sqlite://")  # the registry-backed run that writes log/
        self.env = Env(kdf=FAST_KDF, warn=self._no_warning)
        create_vault(
            self.drive, "", to_secret(PASSPHRASE), ws.org, self.registry, self.env, PART_SIZE
        )
        src = base / "src"
        self.plain: dict[str, bytes] = {}
        for i, (name, size) in enumerate([*SMALL.items(), *SCANS.items()]):
            data = bytes((i * 31 + j * 7) % 251 for j in range(size))
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes(data)
            self.plain[f"src/{name}"] = data
        self.vault = unlock(open_headers(self.drive), to_secret(PASSPHRASE))
        add_files(self.vault, [src], False, self.registry, self.env)
        remove_paths(self.vault, [REMOVED], self.registry, self.env)
        del self.plain[REMOVED]
        self.digests = {p: hashlib.sha256(d).digest() for p, d in self.plain.items()}
        self.root = self.drive / "MEDVAULT"
        self.pristine = {
            p.relative_to(self.root).as_posix(): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and p.name != "lock"
        }
        self.header = self.vault.require_header()
        self.scanned = load_catalog(self.vault, use_index=False)
        self.indexed = load_catalog(self.vault)
        self.live = {x.path: x for x in self.scanned.live()}
        assert set(self.live) == set(self.plain)
        self.spans: dict[str, list[Span]] = {}
        for loc in self.scanned.located.values():
            live = self.live.get(loc.path) == loc
            span = Span(loc.path if live else "", live, loc.offset, loc.offset + _length(loc))
            self.spans.setdefault(loc.pack, []).append(span)
        self.parts = self._parts()
        self.log_ids = sorted(r for r in self.pristine if r.startswith("log/"))
        self.events = EventList()
        self.sync_registry = Registry("sqlite://")
        self.out_count = 0

    @staticmethod
    def _no_warning(message: str) -> None:
        raise AssertionError(f"unexpected warning: {message}")

    def _parts(self) -> dict[str, PartFile]:
        parts = {}
        for rel, data in self.pristine.items():
            if not rel.startswith("objects/"):
                continue
            prelude = pfmt.decode_prelude(data[:PRELUDE])
            pack = Path(rel).name.split(".")[0]
            lo = prelude.part_index * PART_SIZE
            parts[rel] = PartFile(
                rel, pack, prelude.part_index, prelude.part_count, lo, lo + len(data) - PRELUDE
            )
        return parts

    def kind(self, rel: str) -> str:
        if rel.startswith("vault.mvh"):
            return "header"
        if rel.startswith("index/"):
            return "index"
        if rel.startswith("log/"):
            return "log"
        return "pack .mvo" if rel.endswith(".mvo") else "pack .mvp"

    def matrix_files(self) -> list[str]:
        return [r for r in self.pristine if r != "README-MEDVAULT.txt"]

    def mutations(
        self,
        rel: str,
        all_values: bool = False,
        every_length: bool = False,
        every_offset: bool = False,
    ) -> Iterator[Mutation]:
        kind, size = self.kind(rel), len(self.pristine[rel])
        for offset in range(size):
            if every_offset or _tried(offset, size, SPARSE_STRIDE):
                for value in range(1, 256) if all_values else [xor_value(offset)]:
                    yield Mutation(rel, kind, "xor", offset, value)
        for length in range(size):
            stride = SPARSE_STRIDE if length < DENSE_LIMIT else 61
            if every_length or _tried(length, size, stride):
                yield Mutation(rel, kind, "truncate", length)

    # Applying and undoing a mutation touches only the bytes involved.

    def apply(self, m: Mutation) -> None:
        path = self.root / m.rel
        if m.op == "truncate":
            os.truncate(path, m.at)
            return
        with open(path, "r+b") as handle:
            handle.seek(m.at)
            handle.write(bytes([self.pristine[m.rel][m.at] ^ m.value]))

    def restore(self, m: Mutation) -> None:
        path = self.root / m.rel
        with open(path, "r+b") as handle:
            handle.seek(m.at)
            handle.write(self.pristine[m.rel][m.at : m.at + 1] if m.op == "xor" else b"")
            if m.op == "truncate":
                handle.write(self.pristine[m.rel][m.at :])

    def cleanup_log(self) -> None:
        """Extract and sync record events on the drive: drop the ones the matrix made."""
        for item in (self.root / "log").iterdir():
            if f"log/{item.name}" not in self.pristine:
                item.unlink()

    # What a pack mutation must break (MUST) and may break (MAY), as live stored paths.

    def expected(self, m: Mutation) -> tuple[set[str], set[str]]:
        if not m.kind.startswith("pack"):
            return set(), set()
        part = self.parts[m.rel]
        spans = [s for s in self.spans[part.pack] if s.live]
        in_pack = {s.path for s in spans}

        def touching(lo: int, hi: int) -> set[str]:
            return {s.path for s in spans if s.start < hi and s.end > lo}

        last = part.index == part.count - 1
        if m.op == "xor" and m.at >= PRELUDE:
            x = part.lo + m.at - PRELUDE
            hit = {s.path for s in spans if s.start <= x < s.end}
            return hit, hit
        if m.op == "xor" and part.index == 0:
            # Part 0's prelude is read by every reader; a changed part count only shows
            # when another part is opened.
            return touching(PART_SIZE, 1 << 62), in_pack
        if m.op == "xor" or m.at < PRELUDE or not last:
            broken = in_pack if part.index == 0 else touching(part.lo, part.hi)
            return broken, broken
        cut = part.lo + m.at - PRELUDE
        broken = {s.path for s in spans if s.end > cut}
        return broken, broken

    def verify_may(self, m: Mutation, may: set[str]) -> set[str]:
        """verify opens every part for each file of a pack, so a damaged prelude or part
        length is reported against all of the pack's files."""
        part = self.parts[m.rel]
        whole = m.at < PRELUDE or (m.op == "truncate" and part.index < part.count - 1)
        if not whole:
            return may
        return {s.path for s in self.spans[part.pack] if s.live}

    # The checks: each returns (detected, problems).

    def fast_check(self, m: Mutation) -> tuple[bool, list[str]]:
        if m.kind == "header":
            return self._fast_header(m)
        if m.kind == "index":
            catalog = load_catalog(self.vault)
            status = index_status(catalog, self.scanned)
            live = {x.file_id for x in catalog.live()}
            ok = live == {x.file_id for x in self.live.values()}
            return status != "ok", [] if ok else ["the damaged index changed the file list"]
        if m.kind == "log":
            return self._fast_log(m)
        return self._fast_pack(m)

    def _fast_header(self, m: Mutation) -> tuple[bool, list[str]]:
        other = "vault.mvh.bak" if m.rel == "vault.mvh" else "vault.mvh"
        vault = unlock_with_key(open_headers(self.drive), self.vault.keys.vault_key())
        status = header_status(vault)
        problems = []
        if vault.header != self.header or other not in vault.authentic_copies:
            problems.append("the undamaged header copy was not the one used")
        if status[other] != "ok":
            problems.append(f"the undamaged copy reported as {status[other]!r}")
        return status[m.rel] != "ok" and m.rel not in vault.authentic_copies, problems

    def _fast_log(self, m: Mutation) -> tuple[bool, list[str]]:
        found = drive_log.read_all(self.vault.paths, self.vault.keys)
        name = Path(m.rel).name
        ids = {e["event_id"] for e in found.events}
        expected = {Path(r).stem for r in self.log_ids} - {Path(name).stem}
        problems = [] if ids == expected else ["other custody events were lost or let through"]
        return found.damaged == [name], problems

    def _fast_pack(self, m: Mutation) -> tuple[bool, list[str]]:
        """Authenticated reads of the live files the change may reach (the full check reads
        them all), then verify's pack checks."""
        part = self.parts[m.rel]
        must, may = self.expected(m)
        failed = set()
        problems = []
        try:
            reader = open_reader(self.vault, part.pack)
        except IntegrityError:
            failed = set(may)  # extract opens this same reader for each file of the pack
        else:
            with reader:
                for path in sorted(may):
                    digest = hashlib.sha256()
                    try:
                        stream_entry(self.vault, reader, self.live[path], digest.update)
                    except (IntegrityError, UnsupportedVersion):  # what extract refuses
                        failed.add(path)
                        continue
                    if digest.digest() != self.digests[path]:
                        problems.append(f"{path}: wrong plaintext accepted")
        if not must <= failed:
            problems.append(f"read {sorted(may - failed)}, expected to fail {sorted(must)}")
        if failed:
            return True, problems
        # No live file reads the changed byte: verify's pack checks must still see it.
        scan = Catalog(packs_on_disk=[part.pack])
        scan_packs(self.vault, [part.pack], scan)
        try:
            with open_reader(self.vault, part.pack) as reader:
                reader.check_all_parts()
        except MedvaultError as exc:
            scan.scan_damage.setdefault(part.pack, exc.message)
        live_ids = {x.file_id for x in self.live.values()}
        return bool(pack_damage(self.vault, self.indexed, scan, live_ids)), problems

    def full_check(self, m: Mutation) -> tuple[bool, list[str]]:
        """verify, extract of every file into a fresh folder, and sync for the log."""
        vault = self.vault
        if m.kind == "header":
            vault = unlock_with_key(open_headers(self.drive), self.vault.keys.vault_key())
        report = verify(vault)
        must, may = self.expected(m)
        problems = []
        if m.kind == "header":
            detected = report.headers[m.rel] != "ok"
        elif m.kind == "index":
            detected = report.index != "ok"
        elif m.kind == "log":
            detected = True  # named by sync below; verify covers headers, index, objects
            if not report.ok:
                problems.append(f"log damage made verify fail: {report.to_json()}")
        else:
            detected = bool(report.damaged or report.damaged_packs)
            if not must <= set(report.damaged) <= self.verify_may(m, may):
                problems.append(f"verify named {sorted(report.damaged)}, expected {sorted(must)}")
        problems += self._extract_all(vault, must, may)
        if m.kind == "log":
            self.cleanup_log()  # the event extract just recorded
            result = sync_drive_log(vault, self.sync_registry, self.env)
            detected = result.damaged == [Path(m.rel).name]
            if result.on_drive != len(self.log_ids) - 1:
                problems.append(f"sync read {result.on_drive} events")
        self.cleanup_log()
        return detected, problems

    def _extract_all(self, vault: UnlockedVault, must: set[str], may: set[str]) -> list[str]:
        self.out_count += 1
        out = self.base / f"out{self.out_count}"
        result = extract(vault, [], out, False, self.events, self.env)
        problems = []
        failed = set(result.failed)
        if not must <= failed <= may:
            problems.append(f"extract failed {sorted(failed)}, expected {sorted(must)}")
        found = {p.relative_to(out).as_posix(): p for p in out.rglob("*") if p.is_file()}
        if set(found) != set(self.plain) - failed:
            problems.append(f"extract left {sorted(found)} (failed {sorted(failed)})")
        for rel, path in found.items():
            if rel.endswith(PARTIAL_SUFFIX) or self.plain.get(rel) != path.read_bytes():
                problems.append(f"extract released wrong or partial plaintext: {rel}")
        shutil.rmtree(out)
        return problems

    def run(
        self,
        results: Results,
        files: list[str] | None = None,
        full_every: int = 0,
        all_values: bool = False,
        every_length: bool = False,
        keep: Callable[[Mutation], bool] | None = None,
        every_offset: bool = False,
    ) -> None:
        """The mutations of FILES (those KEEP accepts; every offset with EVERY_OFFSET, every
        length with EVERY_LENGTH); the full check on a sample, or on every FULL_EVERY-th
        offset and length (1: on all)."""
        for rel in files or self.matrix_files():
            stride = full_every or max(FULL_STRIDE, len(self.pristine[rel]) // FULL_PER_FILE)
            if not every_offset:
                stride = -(-stride // SPARSE_STRIDE) * SPARSE_STRIDE
            for m in self.mutations(rel, all_values, every_length, every_offset):
                if keep is not None and not keep(m):
                    continue
                full = m.at < FULL_FIRST or m.at % stride == 0
                if all_values and m.op == "xor":
                    full = full and m.value == xor_value(m.at)
                self.check(m, full, results)
        for rel, data in self.pristine.items():
            assert (self.root / rel).read_bytes() == data, f"{rel} was not restored"

    def check(self, m: Mutation, full: bool, results: Results) -> None:
        self.apply(m)
        try:
            detected, problems = self.fast_check(m)
            if full:
                full_detected, more = self.full_check(m)
                detected = detected and full_detected
                problems += more
        except Exception as exc:  # any escape is a finding, reported with the case
            detected, problems = False, [f"{type(exc).__name__}: {exc}"]
        finally:
            self.restore(m)
        if not detected:
            problems.append("not detected")
        results.failures += [f"{m.describe()}: {p}" for p in problems]
        results.count(m, detected and not problems, full)


def _length(loc: Located) -> int:
    return loc.header_len + loc.payload_len


def _tried(at: int, size: int, stride: int) -> bool:
    """Whether the sampled matrix tries offset or length AT of a file of SIZE bytes."""
    return at < DENSE_BYTES or at >= size - 64 or at % stride == 0


def fast_base(tmp_path: Path) -> Iterator[Path]:
    """A RAM-backed folder when there is one (extract fsyncs every file), else tmp_path."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm, prefix="medvault-tamper-") as name:
            yield Path(name)
    else:
        yield tmp_path


@pytest.fixture(scope="module")
def p384_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    # P-384 escrow keeps the header small, so every header byte stays quick to test.
    return make_workspace(tmp_path_factory.mktemp("ws"), EscrowSuite.P384)


@pytest.fixture
def tv(p384_ws: Workspace, tmp_path: Path) -> Iterator[TamperVault]:
    for base in fast_base(tmp_path):
        yield TamperVault(base, p384_ws)


def test_vault_has_every_file_kind(tv: TamperVault) -> None:
    kinds = [tv.kind(r) for r in tv.matrix_files()]
    # The index: its base file and one segment per commit (two packs by add, one by rm).
    assert kinds.count("header") == 2 and kinds.count("index") == 4
    assert kinds.count("pack .mvo") == 3 and kinds.count("pack .mvp") == 1
    assert kinds.count("log") >= 3  # create, add, rm
    big = tv.live[CROSSING]
    assert big.offset < PART_SIZE < big.offset + _length(big)  # crosses into the .mvp
    assert big.offset + _length(big) - PART_SIZE < 1024
    assert any(not s.live and s.path == "" for spans in tv.spans.values() for s in spans)
    small_pack = tv.live["src/c.txt"].pack
    assert len([s for s in tv.spans[small_pack] if not s.live]) == 1  # the removed file
    assert verify(tv.vault).ok


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_matrix(tv: TamperVault, kind: str) -> None:
    results = Results()
    tv.run(results, [r for r in tv.matrix_files() if tv.kind(r) == kind])
    summary = "\n".join(results.table())
    if os.environ.get("MEDVAULT_TAMPER_RESULTS"):  # a file to append this kind's figures to
        with open(os.environ["MEDVAULT_TAMPER_RESULTS"], "a") as out:
            out.write(summary + "\n\n")
    assert not results.failures, f"{len(results.failures)} failure(s), first ones:\n" + "\n".join(
        results.failures[:20]
    )
    for (_kind, op), tally in results.tallies.items():
        assert tally.detected == tally.mutations, summary
        assert tally.full >= tally.mutations // 300, (op, summary)


def test_readme_is_not_trusted(tv: TamperVault) -> None:
    """The README is an unauthenticated plaintext notice: changing, emptying or deleting it
    changes nothing medvault does (nothing reads it)."""
    readme = tv.root / "README-MEDVAULT.txt"
    original = readme.read_bytes()
    for content in (b"", b"\xff" * len(original), original[::-1], None):
        if content is None:
            readme.unlink()
        else:
            readme.write_bytes(content)
        vault = unlock(open_headers(tv.drive), to_secret(PASSPHRASE))
        assert verify(vault).ok
        assert tv._extract_all(vault, set(), set()) == []
        tv.cleanup_log()
    readme.write_bytes(original)
    # And no code reads it: every use of the path in medvault/ writes it.
    package = REPO_ROOT / "medvault"
    uses = [
        line.strip()
        for source in package.rglob("*.py")
        for line in source.read_text().splitlines()
        if ".readme" in line and "def readme" not in line
    ]
    assert uses and all(u.startswith("write_durable(") for u in uses), uses


# `repair` on a sample of damaged vaults: each file kind, several offsets and lengths.


# Repair bugs this matrix found (fixed in medvault/vault/maintenance.py): the rebuilt index
# held only what the pack walk read, so damage that stopped the walk dropped the files after
# it (and tombstones, bringing a removed file back); payload damage was not named, so
# `medvault repair` exited 0. Every case below now passes.


@dataclass(frozen=True)
class RepairCase:
    target: str  # a key of _repair_targets
    op: str
    at: int  # negative: counted from the end of the file
    bug: str = ""

    @property
    def id(self) -> str:
        return f"{self.target}-{self.op}-{self.at}"


def _repair_targets(tv: TamperVault) -> dict[str, str]:
    big_pack = tv.live[CROSSING].pack
    files = {x.pack for x in tv.scanned.located.values() if x.kind == efmt.Kind.FILE}
    (tomb,) = [r for r, p in tv.parts.items() if p.pack not in files]
    (mvp,) = [r for r, p in tv.parts.items() if p.index == 1]
    return {
        "vault.mvh": "vault.mvh",
        "vault.mvh.bak": "vault.mvh.bak",
        # The first commit's records: the base file holds only the prelude until a fold.
        "index": min(r for r in tv.pristine if r.startswith("index/journal.0")),
        "mvo": f"objects/{big_pack[:2]}/{big_pack}.mvo",
        "mvp": mvp,
        "tombstone": tomb,
        "log": tv.log_ids[0],
    }


_CASES = [
    ("vault.mvh", "xor", 0, ""),
    ("vault.mvh", "xor", 300, ""),
    ("vault.mvh.bak", "xor", -1, ""),
    ("vault.mvh.bak", "truncate", 0, ""),
    ("vault.mvh.bak", "truncate", 400, ""),
    ("index", "xor", 9, ""),
    ("index", "xor", 200, ""),
    ("index", "truncate", 0, ""),
    ("index", "truncate", 100, ""),
    ("index", "truncate", -1, ""),
    ("mvo", "xor", 0, ""),  # magic of part 0: the whole pack
    ("mvo", "xor", 70, ""),  # the first entry's header
    ("mvo", "xor", -1, ""),  # the big file's payload
    ("mvo", "truncate", 30_000, ""),
    ("mvp", "xor", 20, ""),  # part 1's prelude
    ("mvp", "xor", -1, ""),
    ("mvp", "truncate", 56, ""),  # only the tail of the last entry: nothing after it
    ("tombstone", "xor", 70, ""),
    ("tombstone", "xor", -1, ""),
    ("tombstone", "truncate", 56, ""),  # an empty pack: the walk sees nothing wrong
    ("log", "xor", 50, ""),
    ("log", "truncate", 10, ""),
]
REPAIR_CASES = [
    pytest.param(
        RepairCase(*c),
        id=f"{c[0]}-{c[1]}-{c[2]}",
    )
    for c in _CASES
]


@pytest.fixture(scope="module")
def pristine(p384_ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TamperVault]:
    for base in fast_base(tmp_path_factory.mktemp("pristine")):
        yield TamperVault(base, p384_ws)


@pytest.mark.parametrize("case", REPAIR_CASES)
def test_repair(pristine: TamperVault, tmp_path: Path, case: RepairCase) -> None:
    """repair restores what has a good copy (a header copy from the other, the index from
    the objects) and names what it cannot; every file it could still read before stays
    listed and extractable after, and a removed file stays removed."""
    tv = pristine
    rel = _repair_targets(tv)[case.target]
    size = len(tv.pristine[rel])
    at = case.at % size if case.at < 0 else case.at
    drive = tmp_path / "drive"
    shutil.copytree(tv.drive, drive)
    data = bytearray(tv.pristine[rel])
    if case.op == "xor":
        data[at] ^= xor_value(at) | 0x80
    else:
        del data[at:]
    (drive / "MEDVAULT" / rel).write_bytes(bytes(data))

    vault = _open(drive, tv, case)
    assert not verify(vault).ok or case.target == "log"
    readable_before = _extractable(vault, tmp_path / "before", tv)
    result = repair(vault, Registry("sqlite://"), tv.env)

    vault = _open(drive, tv, case)
    after = verify(vault)
    listed = {x.path for x in list_files(vault)[0]}
    readable_after = _extractable(vault, tmp_path / "after", tv)
    if case.target in ("vault.mvh", "vault.mvh.bak"):
        assert result.headers_restored == [rel]
        header = drive / "MEDVAULT" / "vault.mvh"
        assert header.read_bytes() == (drive / "MEDVAULT" / "vault.mvh.bak").read_bytes()
    else:
        assert result.headers_restored == []
    assert result.index_rebuilt == (case.target == "index")
    damaged_pack = tv.parts[rel].pack if rel in tv.parts else None
    if damaged_pack is None:
        assert after.ok and not result.damaged_packs, (after.to_json(), result)
        assert listed == readable_after == set(tv.plain)
        return
    # An object has no second copy: repair must name the damaged pack (exit 19), and must
    # not lose a file that still read back before it ran, nor bring back a removed one.
    assert damaged_pack in result.damaged_packs, result
    assert readable_before <= readable_after, sorted(readable_before - readable_after)
    assert REMOVED not in listed
    assert all(v == "ok" for v in after.headers.values()) and after.index == "ok", after
    assert damaged_pack in after.damaged_packs or after.damaged, after
    undamaged = {p for p, loc in tv.live.items() if loc.pack != damaged_pack}
    assert undamaged <= readable_after


def _open(drive: Path, tv: TamperVault, case: RepairCase) -> UnlockedVault:
    """Header cases go through the passphrase (Argon2id, slot, MAC); the rest use the key."""
    if case.target.startswith("vault.mvh"):
        return unlock(open_headers(drive), to_secret(PASSPHRASE))
    return unlock_with_key(open_headers(drive), tv.vault.keys.vault_key())


def _extractable(vault: UnlockedVault, out: Path, tv: TamperVault) -> set[str]:
    """The files extract writes, each checked identical; nothing else is left behind."""
    result = extract(vault, [], out, False, tv.events, tv.env)
    found = {p.relative_to(out).as_posix(): p for p in out.rglob("*") if p.is_file()}
    assert not set(found) & set(result.failed)
    for rel, path in found.items():
        assert path.read_bytes() == tv.plain[rel], rel
    return set(found)


def test_repair_cli_exit_codes(pristine: TamperVault, tmp_path: Path) -> None:
    """`medvault repair` (docs/CLI.md): 0 and the restored copy named when a header copy
    was damaged; 19 and the damaged pack named when an object was."""
    tv = pristine
    targets = _repair_targets(tv)
    header, tomb = tv.drive.parent / "cli-header", tv.drive.parent / "cli-pack"
    for drive, rel, at in (
        (header, targets["vault.mvh.bak"], 40),
        (tomb, targets["tombstone"], 70),
    ):
        shutil.copytree(tv.drive, drive)
        path = drive / "MEDVAULT" / rel
        data = bytearray(path.read_bytes())
        data[at] ^= 0x10
        path.write_bytes(bytes(data))
    env = {"MEDVAULT_NO_KEYRING": "1"}
    fixed = tv.ws.cli("repair", header, extra_env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert "restored header copy vault.mvh.bak" in fixed.stdout
    assert tv.ws.cli("verify", header, extra_env=env).returncode == 0
    damaged = tv.ws.cli("repair", tomb, extra_env=env)
    assert damaged.returncode == 19, (damaged.stdout, damaged.stderr)
    pack = tv.parts[targets["tombstone"]].pack
    assert f"DAMAGED pack {pack}" in damaged.stdout
    assert len(damaged.stderr.strip().splitlines()) == 1  # one line: what and what to do


@pytest.mark.parametrize(
    "record",
    [
        {"op": "drop", "packs": [[1]]},
        {"op": "drop", "packs": [{}]},
        {
            "op": "add",
            "pack": "x",
            "entries": [{"id": "a", "off": 0, "hlen": 1, "plen": 1, "kind": 2, "refs": [{}]}],
        },
    ],
)
def test_authentic_index_record_of_wrong_shape(
    pristine: TamperVault, tmp_path: Path, record: dict[str, object]
) -> None:
    """An index record that authenticates but lists something other than ids (only the
    vault key can write one: a bug or a key holder) is index damage, not a crash: the
    catalog falls back to the objects, verify names the index, every file extracts."""
    tv = pristine
    drive = tmp_path / "drive"
    shutil.copytree(tv.drive, drive)
    vault = unlock_with_key(open_headers(drive), tv.vault.keys.vault_key())
    records = read_journal(vault.paths, vault.keys).records
    key = vault.keys.index()
    rewrite_journal(vault.paths, key, vault.vault_id, [*records, record])
    report = verify(vault)
    assert report.index.startswith("index"), report.index
    assert not report.damaged and not report.damaged_packs
    assert _extractable(vault, tmp_path / "out", tv) == set(tv.plain)
