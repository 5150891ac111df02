"""`medvault scan --into VAULT`: move plaintext files found on a drive into a vault.

A plaintext file is deleted only when (1) its copy is committed in the vault, (2) that
copy reads back from the drive authenticated with the SHA-256 `add` computed, and (3) the
file on the drive still has that SHA-256, so nothing written to it meanwhile is lost.
Deleting zeroes the file in place, then unlinks it: on FAT and exFAT the zeros land in the
same clusters, so the plaintext is gone from the drive's blocks; a flash controller may
keep old cells, readable only by taking the chip apart (docs/CLI.md says what to do).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from medvault.errors import (
    IntegrityError,
    MedvaultError,
    NotFound,
    ReadOnlyMedia,
    SourceUnreadable,
    UsageError,
)
from medvault.format.meta import normalize_path
from medvault.registry.records import CustodyRegistry
from medvault.store.fsio import READ_ONLY_ERRNOS, file_sha256
from medvault.vault.add import Planned, add_planned, plan
from medvault.vault.catalog import Located, load_catalog
from medvault.vault.custody import digest_of_digests, record
from medvault.vault.env import Env, stamp
from medvault.vault.incidents import IncidentRegistry, record_plaintext_finding
from medvault.vault.reading import plaintext_sha256
from medvault.vault.session import UnlockedVault

READ_BLOCK = 1024 * 1024
# Why a plaintext file stayed on the drive; the error the command ends with (worst first).
CHANGED, NOT_VERIFIED, NOT_DELETED = "changed", "not-verified", "not-deleted"


class MoveRegistry(CustodyRegistry, IncidentRegistry, Protocol):
    pass


@dataclass
class MoveResult:
    stored_under: str
    moved: list[Located] = field(default_factory=list)  # in the vault, gone from the drive
    kept: dict[str, tuple[str, str]] = field(default_factory=dict)  # rel -> (why, message)
    folders_removed: int = 0
    incident_recorded: bool = False
    same_drive: bool = False

    @property
    def bytes(self) -> int:
        return sum(x.size for x in self.moved)

    def failure(self) -> MedvaultError | None:
        """The error to end with when some plaintext stayed on the drive."""
        why = {reason for reason, _ in self.kept.values()}
        count = f"{len(self.kept)} file(s) were left on the drive"
        if NOT_VERIFIED in why:
            return IntegrityError(f"{count}: their vault copy did not read back intact")
        if CHANGED in why:
            return SourceUnreadable(
                f"{count}: they changed while being moved (their vault copy is kept)",
                hint="scan again once nothing is writing to them",
            )
        if NOT_DELETED in why:
            return ReadOnlyMedia(f"{count}: they could not be deleted (their vault copy is kept)")
        return None


def move_into_vault(
    vault: UnlockedVault,
    root: Path,
    found: list[tuple[Path, str]],
    registry: MoveRegistry,
    env: Env,
    indicators: dict[str, int],
    progress: Callable[[int], None] | None = None,
) -> MoveResult:
    """Move FOUND ((path, path relative to ROOT) pairs) into the vault under
    scan/<UTC time>/ and delete the plaintext; record a `plaintext-moved` event (counts,
    bytes, digests, never names) and, when ROOT is on the vault's own drive, a
    `plaintext-found` incident for the lost-drive report."""
    result = MoveResult(f"scan/{stamp(env.now())}/")
    result.same_drive = _same_drive(root, vault.paths.root)  # before ROOT may be deleted
    planned = [_planned(path, result.stored_under + rel) for path, rel in found]
    sources = {p.stored: (Path(p.source), rel) for p, (_, rel) in zip(planned, found, strict=True)}
    if len(sources) != len(planned):  # names that differ only in Unicode normalization
        raise UsageError("two files would be stored under the same name; move them by hand")
    added = add_planned(
        vault,
        planned,
        False,
        registry,
        env,
        progress=progress,
        details={"via": "scan --into", "stored_under": result.stored_under},
    )
    readable = _read_back(vault, added.files)
    for loc in added.files:
        source, rel = sources[loc.path]
        if loc.file_id not in readable:
            result.kept[rel] = (NOT_VERIFIED, "its vault copy did not read back intact")
        elif _sha256(source) != loc.sha256:
            result.kept[rel] = (CHANGED, "it changed while being moved")
        else:
            try:
                _overwrite(source, loc.size)
                os.unlink(source)
            except OSError as exc:
                why = "read-only drive" if exc.errno in READ_ONLY_ERRNOS else exc.strerror
                result.kept[rel] = (NOT_DELETED, f"cannot delete it: {why}")
                continue
            result.moved.append(loc)
    result.folders_removed = _prune(root, [sources[x.path][0] for x in result.moved])
    _record(vault, registry, env, root, found, indicators, result)
    return result


def _planned(source: Path, stored: str) -> Planned:
    """PLAN's checks (a readable regular file) and its size, under our own stored path."""
    [item] = plan([source])
    return replace(item, stored=normalize_path(stored.replace("\\", "_")))


def _read_back(vault: UnlockedVault, files: list[Located]) -> set[str]:
    """Ids of the files that decrypt from the drive, through a freshly loaded index,
    authenticated and with the SHA-256 recorded when they were added."""
    live = {loc.file_id: loc for loc in load_catalog(vault).live()}
    good: set[str] = set()
    for added in files:
        loc = live.get(added.file_id)
        if loc is None or loc.sha256 != added.sha256:
            continue
        try:
            read = plaintext_sha256(vault, loc)
        except (MedvaultError, OSError):
            continue
        if read == added.sha256:
            good.add(added.file_id)
    return good


def _overwrite(path: Path, size: int) -> None:
    """Zero the file's bytes in place before unlinking it. FAT and exFAT rewrite the same
    clusters, so the plaintext is gone from the drive's blocks, not merely unlinked; a
    flash controller may still keep the old cells (readable only invasively)."""
    zeros = bytes(READ_BLOCK)
    with open(path, "r+b") as handle:
        for start in range(0, size, READ_BLOCK):
            handle.write(zeros[: min(READ_BLOCK, size - start)])
        handle.flush()
        os.fsync(handle.fileno())


def _sha256(path: Path) -> str | None:
    try:
        return file_sha256(path, READ_BLOCK)
    except OSError:
        return None


def _prune(root: Path, removed: list[Path]) -> int:
    """Remove the folders under ROOT that the move left empty (their names may be PHI
    too); ROOT itself stays."""
    count = 0
    top = root.resolve()
    for folder in sorted({p.parent for p in removed}, key=lambda p: len(p.parts), reverse=True):
        while folder.resolve() != top and top in folder.resolve().parents:
            try:
                folder.rmdir()
            except OSError:
                break  # not empty, or not ours to remove
            count += 1
            folder = folder.parent
    return count


def _record(
    vault: UnlockedVault,
    registry: MoveRegistry,
    env: Env,
    root: Path,
    found: list[tuple[Path, str]],
    indicators: dict[str, int],
    result: MoveResult,
) -> None:
    record(
        registry,
        env,
        "plaintext-moved",
        {
            "found": len(found),
            "files": len(result.moved),
            "bytes": result.bytes,
            "left": len(result.kept),
            "sha256_of_digests": digest_of_digests(x.sha256 for x in result.moved),
            "indicators": dict(sorted(indicators.items())),
            "stored_under": result.stored_under,
            "folders_removed": result.folders_removed,
        },
        vault=vault,
    )
    if not result.same_drive or not found:
        return
    try:
        record_plaintext_finding(
            registry,
            env,
            vault.vault_id_hex,
            len(found),
            f"medvault scan --into: {len(found)} file(s) with PHI indicators found outside "
            f"the vault; {len(result.moved)} moved in and deleted, {len(result.kept)} left",
        )
    except NotFound:
        env.warn(
            "this vault is not in this workstation's registry, so the plaintext-found "
            "incident was not recorded; record it where the vault is registered: "
            f"medvault incident plaintext {vault.vault_id_hex} --files {len(found)} --reason ..."
        )
        return
    result.incident_recorded = True


def _same_drive(root: Path, vault_root: Path) -> bool:
    try:
        return os.stat(root).st_dev == os.stat(vault_root).st_dev
    except OSError:
        return False
