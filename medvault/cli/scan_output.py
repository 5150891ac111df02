"""How `medvault scan` reports: counts per indicator, then each file with masked samples.
Only masked samples ever come from a file's content; names and locations are printed
with control characters escaped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from medvault.cli.output import renamed_json
from medvault.cli.safe_text import safe
from medvault.phi.model import INDICATORS
from medvault.phi.scanner import SKIP_REASONS, FileReport, ScanReport
from medvault.vault.scan_move import MoveResult

SAMPLES_SHOWN = 5  # per file, in the human report (--json has every kept finding)


def printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown_path(report: ScanReport, rel: str) -> str:
    return printable(str(report.root if report.single_file else Path(report.root, rel)))


def as_json(report: ScanReport, moved: MoveResult | None, vault_id: str | None) -> dict[str, Any]:
    return {
        "path": str(report.root),
        "found": report.found,
        "files_scanned": report.files_scanned,
        "bytes_scanned": report.bytes_scanned,
        "files_with_findings": len(report.files),
        "counts": {name: report.counts.get(name, 0) for name in INDICATORS},
        "files": [_file_json(f) for f in report.files],
        "skipped": {name: report.skipped.get(name, 0) for name in SKIP_REASONS},
        "not_read": [
            {"path": rel, "kind": kind, "reason": reason} for rel, kind, reason in report.problems
        ],
        "partial": report.partial,
        "moved": None if moved is None else _moved_json(moved, vault_id),
    }


def _file_json(f: FileReport) -> dict[str, Any]:
    return {
        "path": f.rel,
        "format": f.format,
        "size": f.size,
        "counts": {name: f.counts[name] for name in INDICATORS if f.counts[name]},
        "findings": [
            {"indicator": x.indicator, "location": x.location, "sample": x.sample}
            for x in f.findings
        ],
        "truncated": f.truncated,
        "partial": f.partial,
        "problem": f.problem,
    }


def _moved_json(moved: MoveResult, vault_id: str | None) -> dict[str, Any]:
    return {
        "vault_id": vault_id,
        "stored_under": moved.stored_under,
        "files": [{"stored": x.path, "size": x.size, "sha256": x.sha256} for x in moved.moved],
        "bytes": moved.bytes,
        "left": [{"path": rel, "reason": msg} for rel, (_, msg) in moved.kept.items()],
        "folders_removed": moved.folders_removed,
        "same_drive": moved.same_drive,
        "incident_recorded": moved.incident_recorded,
        "renamed": renamed_json(moved.renamed),
    }


def print_report(report: ScanReport) -> None:
    size = f"{report.bytes_scanned / 1e6:.1f} MB"
    where = printable(str(report.root))
    if not report.found:
        click.echo(
            f"No PHI indicators found: {report.files_scanned} file(s), {size} scanned under "
            f"{where}."
        )
    else:
        click.echo(
            f"PHI indicators in {len(report.files)} of {report.files_scanned} file(s) "
            f"({size}) under {where}:"
        )
        for name in INDICATORS:
            click.echo(f"  {name:<14} {report.counts.get(name, 0):>8}")
        for f in report.files:
            _print_file(report, f)
    _print_skipped(report)


def _print_file(report: ScanReport, f: FileReport) -> None:
    counts = ", ".join(f"{name} {f.counts[name]}" for name in INDICATORS if f.counts[name])
    click.echo(f"\n{shown_path(report, f.rel)} ({f.format}): {counts}")
    for x in f.findings[:SAMPLES_SHOWN]:
        click.echo(f"    {printable(x.location):<24} {x.indicator:<14} {printable(x.sample)}")
    more = sum(f.counts.values()) - min(len(f.findings), SAMPLES_SHOWN)
    if more > 0:
        click.echo(f"    ... and {more} more")
    if f.partial:
        click.echo("    (only the start of this file was read: it is over the size limit)")
    if f.problem:
        click.echo(f"    (reading stopped early: {printable(f.problem)})")


def _print_skipped(report: ScanReport) -> None:
    for name, what in SKIP_REASONS.items():
        if report.skipped.get(name):
            click.echo(f"Not scanned: {report.skipped[name]} {what}.", err=True)
    for rel, kind, reason in report.problems:
        click.echo(f"  {shown_path(report, rel)}: {kind}: {printable(reason)}", err=True)
    if report.partial:
        click.echo(
            f"Only the start of {len(report.partial)} large file(s) was read (--max-mib).",
            err=True,
        )


def print_moved(report: ScanReport, moved: MoveResult, vault_id: str) -> None:
    if moved.moved:
        click.echo(
            f"\nMoved {len(moved.moved)} file(s), {moved.bytes} bytes, into vault {vault_id} "
            f"under {moved.stored_under} (read back and verified); their plaintext was deleted."
        )
    for rel, (_, message) in moved.kept.items():
        click.echo(f"  left on the drive: {shown_path(report, rel)}: {safe(message)}", err=True)
    if moved.moved:
        click.echo(
            "medvault: note: deleting a file on a USB stick or FAT drive does not overwrite "
            "it; its bytes may remain in free space until reused. Use `medvault export` so "
            "plaintext never reaches a drive, and erase or reformat a drive before disposal.",
            err=True,
        )
    if moved.same_drive and not moved.incident_recorded:
        click.echo("medvault: warning: the plaintext-found incident was not recorded", err=True)
