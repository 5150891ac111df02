"""`medvault verify`: authenticate every header copy, the index, every object and part."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from medvault.errors import MedvaultError
from medvault.vault.catalog import Located, load_catalog
from medvault.vault.reading import open_reader, stream_entry
from medvault.vault.session import UnlockedVault

HEADER_NAMES = ("vault.mvh", "vault.mvh.bak")


@dataclass
class VerifyReport:
    headers: dict[str, str] = field(default_factory=dict)
    index: str = "ok"
    files_ok: int = 0
    bytes_ok: int = 0
    damaged: dict[str, str] = field(default_factory=dict)  # stored path -> problem
    missing: dict[str, str] = field(default_factory=dict)
    damaged_packs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            all(v == "ok" for v in self.headers.values())
            and self.index == "ok"
            and not self.damaged
            and not self.missing
            and not self.damaged_packs
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "headers": self.headers,
            "index": self.index,
            "files_ok": self.files_ok,
            "bytes_ok": self.bytes_ok,
            "damaged": self.damaged,
            "missing": self.missing,
            "damaged_packs": self.damaged_packs,
        }


def _header_status(vault: UnlockedVault) -> dict[str, str]:
    out = {}
    for name in HEADER_NAMES:
        if name in vault.authentic_copies:
            out[name] = "ok"
        elif name in vault.copies.problems:
            out[name] = vault.copies.problems[name]
        elif name in vault.copies.parsed and _older(vault, name):
            out[name] = "stale copy (older sequence number)"
        else:
            out[name] = "failed authentication"
    return out


def _older(vault: UnlockedVault, name: str) -> bool:
    header = vault.require_header()
    return vault.copies.parsed[name].header.seq < header.seq


def verify(vault: UnlockedVault, progress: Callable[[int], None] | None = None) -> VerifyReport:
    report = VerifyReport(headers=_header_status(vault))
    indexed = load_catalog(vault)
    scanned = load_catalog(vault, use_index=False)
    if indexed.index_damage:
        report.index = indexed.index_damage
    elif indexed.unindexed_packs:
        report.index = f"{len(indexed.unindexed_packs)} pack(s) missing from the index"
    live_index = {x.file_id: x for x in indexed.live()}
    live_scan = {x.file_id: x for x in scanned.live()}
    if report.index == "ok" and not scanned.scan_damage and set(live_index) != set(live_scan):
        report.index = "index and objects disagree about which files exist"
    on_disk = set(scanned.packs_on_disk)
    everything: dict[str, Located] = {**live_scan, **live_index}
    for loc in sorted(everything.values(), key=lambda x: x.path):
        if loc.pack not in on_disk:
            report.missing[loc.path] = f"pack {loc.pack} is missing"
            continue
        try:
            with open_reader(vault, loc.pack) as reader:
                reader.check_all_parts()
                stream_entry(vault, reader, loc, _discard, progress)
        except MedvaultError as exc:
            report.damaged[loc.path] = exc.message
            continue
        report.files_ok += 1
        report.bytes_ok += loc.size
    for pack, problem in scanned.scan_damage.items():
        report.damaged_packs[pack] = problem
    return report


def _discard(_data: bytes) -> None:
    return None
