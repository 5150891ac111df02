"""`medvault scan --into VAULT`: move plaintext files found on a drive into a vault.

A plaintext file is deleted only when (1) its copy is committed in the vault, (2) that
copy reads back from the drive authenticated with the SHA-256 `add` computed, and (3) the
file on the drive is still the file planned and still has that SHA-256, so nothing
written to it meanwhile is lost and no other file (a link's target, a file swapped in) is
ever zeroed: the file hashed and the file zeroed are opened by name inside their folder's
descriptor, without following a link, and each must have the planned device and inode
(tests/unit/vault/test_scan_into_nofollow.py). Deleting zeroes the file in place, then unlinks it:
on FAT and exFAT the zeros land in the same clusters, so the plaintext is gone from the
drive's blocks; a flash controller may keep old cells, readable only by taking the chip
apart (docs/CLI.md says what to do).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from medvault.engine.catalog import Located, load_catalog
from medvault.engine.entry_reading import plaintext_sha256
from medvault.engine.session import UnlockedVault
from medvault.engine.writing import digest_of_digests
from medvault.errors import (
    IntegrityError,
    MedvaultError,
    NotFound,
    ReadOnlyMedia,
    SourceUnreadable,
    UsageError,
)
from medvault.format.meta import normalize_path
from medvault.registry.actions import Action
from medvault.registry.records import CustodyRegistry, Event
from medvault.store.fsio import READ_ONLY_ERRNOS
from medvault.vault.add import Planned, Renamed, add_planned, plan, renamed_by_normalization
from medvault.vault.custody import record
from medvault.vault.env import Env, stamp
from medvault.vault.incidents import IncidentRegistry, record_plaintext_finding

READ_BLOCK = 1024 * 1024
# The plaintext is opened for hashing and for zeroing never through a final symbolic
# link, and never blocking on a FIFO swapped in.
OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# A file that is no longer there as planned (gone, a link, a folder on the way replaced).
SWAPPED_ERRNOS = {errno.ELOOP, errno.ENOENT, errno.ENOTDIR}
# Why a plaintext file stayed on the drive; the error the command ends with (worst first).
CHANGED, NOT_VERIFIED, NOT_DELETED = "changed", "not-verified", "not-deleted"
# How a moved file left the drive, as the `plaintext-moved` event records it.
DELETION = "zeroed-then-unlinked"


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
    renamed: list[Renamed] = field(default_factory=list)  # names stored NFC, not as written

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
    bytes, digests, never names, how the files were deleted) and, when ROOT is on the
    vault's own drive, first a `plaintext-found` incident for the lost-drive report, whose
    id the move names."""
    result = MoveResult(f"scan/{stamp(env.now())}/")
    result.same_drive = _same_drive(root, vault.paths.root)  # before ROOT may be deleted
    planned = [_planned(path, result.stored_under + rel) for path, rel in found]
    result.renamed = _renamed(result.stored_under, found, planned)
    sources = {p.stored: (p, rel) for p, (_, rel) in zip(planned, found, strict=True)}
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
        item, rel = sources[loc.path]
        kept = (
            (NOT_VERIFIED, "its vault copy did not read back intact")
            if loc.file_id not in readable
            else _remove_plaintext(item, loc.sha256)
        )
        if kept is None:
            result.moved.append(loc)
        else:
            result.kept[rel] = kept
    result.folders_removed = _prune(root, [Path(sources[x.path][0].source) for x in result.moved])
    _record(vault, registry, env, root, found, indicators, result)
    return result


def _planned(source: Path, stored: str) -> Planned:
    """PLAN's checks (a readable regular file) and its size, under our own stored path."""
    [item] = plan([source])
    return replace(item, stored=normalize_path(stored.replace("\\", "_")))


def _renamed(under: str, found: list[tuple[Path, str]], planned: list[Planned]) -> list[Renamed]:
    """The files whose stored path normalization (NFC) changed, named relative to the
    scanned folder."""
    out = []
    for (_, rel), item in zip(found, planned, strict=True):
        changed = renamed_by_normalization(rel, (under + rel).replace("\\", "_"), item.stored)
        if changed is not None:
            out.append(changed)
    return out


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


def _remove_plaintext(item: Planned, sha256: str) -> tuple[str, str] | None:
    """Zero and unlink the planned file if it is still that file with that SHA-256;
    otherwise (why, message) for leaving it. Its folder is opened first and the file by
    name inside it, so the file checked, hashed, zeroed and unlinked is one and the same."""
    folder, name = os.path.split(item.source)
    try:
        folder_fd = os.open(folder or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            kept = _zero_if_planned(folder_fd, name, item, sha256)
            if kept is None and not _is_planned(_lstat(folder_fd, name), item):
                kept = (CHANGED, "it was replaced after it was zeroed")
            if kept is None:
                os.unlink(name, dir_fd=folder_fd)
        finally:
            os.close(folder_fd)
    except OSError as exc:
        return _kept(exc)
    return kept


def _zero_if_planned(
    folder_fd: int, name: str, item: Planned, sha256: str
) -> tuple[str, str] | None:
    """Hash the planned file through one descriptor and zero it through a second one.
    Two, because fusefat drops writes made through a descriptor that has been read from
    (the zeros never reach the drive); the reader stays open meanwhile, so its inode
    cannot be reused, and the writer must have that same device and inode."""
    reader = os.open(name, os.O_RDONLY | OPEN_FLAGS, dir_fd=folder_fd)
    try:
        if not _is_planned(os.fstat(reader), item) or _fd_sha256(reader) != sha256:
            return (CHANGED, "it changed while being moved")
        writer = os.open(name, os.O_WRONLY | OPEN_FLAGS, dir_fd=folder_fd)
        try:
            if not _is_planned(os.fstat(writer), item):
                return (CHANGED, "it changed while being moved")
            _zero(writer, item.size)
        finally:
            os.close(writer)
    finally:
        os.close(reader)
    return None


def _lstat(folder_fd: int, name: str) -> os.stat_result:
    return os.stat(name, dir_fd=folder_fd, follow_symlinks=False)


def _kept(exc: OSError) -> tuple[str, str]:
    if exc.errno in SWAPPED_ERRNOS:
        return (CHANGED, "it changed while being moved")
    why = "read-only drive" if exc.errno in READ_ONLY_ERRNOS else exc.strerror
    return (NOT_DELETED, f"cannot delete it: {why}")


def _is_planned(st: os.stat_result, item: Planned) -> bool:
    return stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) == (item.dev, item.ino)


def _fd_sha256(fd: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, READ_BLOCK, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def _zero(fd: int, size: int) -> None:
    """Zero the file's bytes in place before it is unlinked. FAT and exFAT rewrite the
    same clusters, so the plaintext is gone from the drive's blocks, not merely unlinked;
    a flash controller may still keep the old cells (readable only invasively)."""
    zeros = bytes(READ_BLOCK)
    for start in range(0, size, READ_BLOCK):
        os.pwrite(fd, zeros[: min(READ_BLOCK, size - start)], start)
    os.fsync(fd)


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
    """The finding first, then the move that names it: the lost-drive report pairs them
    by that id to say when the files were found and when they were moved and zeroed."""
    finding = _record_finding(vault, registry, env, found, result)
    record(
        registry,
        env,
        Action.PLAINTEXT_MOVED,
        {
            "found": len(found),
            "files": len(result.moved),
            "bytes": result.bytes,
            "left": len(result.kept),
            "sha256_of_digests": digest_of_digests(x.sha256 for x in result.moved),
            "indicators": dict(sorted(indicators.items())),
            "stored_under": result.stored_under,
            "folders_removed": result.folders_removed,
            "deletion": DELETION,
            "plaintext_found_event": None if finding is None else finding.event_id,
        },
        vault=vault,
    )


def _record_finding(
    vault: UnlockedVault,
    registry: MoveRegistry,
    env: Env,
    found: list[tuple[Path, str]],
    result: MoveResult,
) -> Event | None:
    """The `plaintext-found` incident when ROOT is on the vault's own drive, else None."""
    if not result.same_drive or not found:
        return None
    try:
        finding = record_plaintext_finding(
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
        return None
    result.incident_recorded = True
    return finding


def _same_drive(root: Path, vault_root: Path) -> bool:
    try:
        return os.stat(root).st_dev == os.stat(vault_root).st_dev
    except OSError:
        return False
