"""Walking a drive or folder and scanning each regular file for PHI indicators.

Symbolic links are never followed (a link could lead off the drive, or loop), special
files are never opened (a FIFO would block), and medvault vault folders are skipped: they
hold only ciphertext. A file that cannot be read is counted and named, never fatal.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medvault.phi.detectors import detect
from medvault.phi.model import INDICATORS, Finding, Limits, Reading, Skipped
from medvault.phi.readers import chunks_of

# The names medvault.store.layout gives a vault's folder and files (phi sits beside store
# in the layers and may not import it; tests/cli/test_scan.py checks they agree).
VAULT_DIRNAME = "MEDVAULT"
VAULT_HEADERS = ("vault.mvh", "vault.mvh.bak")
MAX_PROBLEMS = 1000  # files named in the report as not read; the rest are only counted

# Why something was not scanned: the keys of ScanReport.skipped.
SKIP_REASONS = {
    "symlink": "symbolic links (not followed)",
    "special": "special files (devices, FIFOs, sockets)",
    "vault": "medvault vault folders",
    "unsupported": "files in formats not read (binary, PDF, images, legacy Office)",
    "refused": "files refused (over a size limit, or XML with entities)",
    "unreadable": "files or folders that could not be read",
}


@dataclass(frozen=True)
class Candidate:
    path: Path
    rel: str  # relative to the scanned root, '/'-separated
    size: int


@dataclass
class Walk:
    root: Path
    single_file: bool = False  # ROOT is a file, not a folder
    files: list[Candidate] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (rel, kind, reason)

    def note(self, rel: str, kind: str, reason: str) -> None:
        self.skipped[kind] += 1
        if kind in ("refused", "unreadable") and len(self.problems) < MAX_PROBLEMS:
            self.problems.append((rel, kind, reason))


@dataclass
class FileReport:
    rel: str
    path: Path
    format: str
    size: int
    counts: Counter[str]
    findings: list[Finding]
    partial: bool = False  # only the first Limits.max_bytes (or max_cells) were read
    problem: str | None = None  # reading stopped early for this reason

    @property
    def truncated(self) -> bool:
        return sum(self.counts.values()) > len(self.findings)


@dataclass
class ScanReport:
    root: Path
    single_file: bool = False
    files_scanned: int = 0
    bytes_scanned: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    files: list[FileReport] = field(default_factory=list)  # those with findings
    partial: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.files)


def is_vault_folder(path: Path) -> bool:
    if any(os.path.lexists(path / name) for name in VAULT_HEADERS):
        return True
    return path.name.upper() == VAULT_DIRNAME and os.path.isdir(path / "objects")


def walk(root: Path, progress: Callable[[int], None] | None = None) -> Walk:
    """Every regular file under ROOT (or ROOT itself), in a stable order; PROGRESS gets
    the number of files found in each folder as it is listed."""
    found = Walk(root)
    top = os.stat(root)  # the root as given may be a link (a mount point's alias)
    if stat.S_ISREG(top.st_mode):
        found.files.append(Candidate(root, root.name, top.st_size))
        found.single_file = True
        return found
    if not stat.S_ISDIR(top.st_mode):
        found.note(root.name, "special", "not a regular file or folder")
        return found
    if is_vault_folder(root):
        found.skipped["vault"] += 1
        return found
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name, reverse=True)
        except OSError as exc:
            found.note(prefix or ".", "unreadable", exc.strerror or "cannot list")
            continue
        before = len(found.files)
        for entry in entries:
            _visit(found, entry, prefix + entry.name, pending)
        if progress is not None:
            progress(len(found.files) - before)
    found.files.sort(key=lambda c: c.rel)
    return found


def _visit(found: Walk, entry: os.DirEntry[str], rel: str, pending: list[tuple[Path, str]]) -> None:
    try:
        if entry.is_symlink():
            found.skipped["symlink"] += 1
        elif entry.is_dir(follow_symlinks=False):
            if is_vault_folder(Path(entry.path)):
                found.skipped["vault"] += 1
            else:
                pending.append((Path(entry.path), rel + "/"))
        elif entry.is_file(follow_symlinks=False):
            size = entry.stat(follow_symlinks=False).st_size
            found.files.append(Candidate(Path(entry.path), rel, size))
        else:
            found.skipped["special"] += 1
    except OSError as exc:
        found.note(rel, "unreadable", exc.strerror or "cannot stat")


def scan_file(candidate: Candidate, limits: Limits) -> FileReport:
    """Findings in one file. Raises Skipped if nothing could be read from it; a file that
    fails part-way keeps what was found, with the reason in `problem`."""
    reading = Reading()
    counts: Counter[str] = Counter()
    kept: list[Finding] = []
    per_indicator = max(1, limits.max_findings // len(INDICATORS))
    problem = None
    try:
        for chunk in chunks_of(candidate.path, limits, reading):
            for finding in detect(chunk):
                counts[finding.indicator] += 1
                if counts[finding.indicator] <= per_indicator and len(kept) < limits.max_findings:
                    kept.append(finding)
    except Skipped as exc:
        if not counts:
            raise
        problem = exc.reason
    return FileReport(
        candidate.rel,
        candidate.path,
        reading.format,
        candidate.size,
        counts,
        kept,
        reading.partial,
        problem,
    )


def scan(
    found: Walk, limits: Limits | None = None, progress: Callable[[int], None] | None = None
) -> ScanReport:
    """Scan the files of a walk; PROGRESS gets the bytes of each file once it is done."""
    limits = limits or Limits()
    report = ScanReport(
        found.root, found.single_file, skipped=Counter(found.skipped), problems=list(found.problems)
    )
    for candidate in found.files:
        read = min(candidate.size, limits.max_bytes)
        try:
            result = scan_file(candidate, limits)
        except Skipped as exc:
            report.skipped[exc.kind] += 1
            if exc.kind in ("refused", "unreadable") and len(report.problems) < MAX_PROBLEMS:
                report.problems.append((candidate.rel, exc.kind, exc.reason))
        else:
            report.files_scanned += 1
            report.bytes_scanned += read
            report.counts.update(result.counts)
            if result.partial:
                report.partial.append(candidate.rel)
            if result.counts:
                report.files.append(result)
        if progress is not None:
            progress(read)
    return report


def scan_path(
    root: Path, limits: Limits | None = None, progress: Callable[[int], None] | None = None
) -> ScanReport:
    return scan(walk(root), limits, progress)
