"""`medvault ls` and `medvault extract`: every byte authenticated before the user sees it.

Extraction writes DEST/.<random>.medvault-partial (mode 0600), and renames it to the
final name only after the payload's end-of-stream check and the SHA-256 both pass. A
partial file that is not renamed is zeroed before it is deleted. Onto FAT/exFAT, names
those file systems refuse are found before anything is written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

from medvault.crypto.payload import ciphertext_length
from medvault.errors import (
    AlreadyExists,
    FormatError,
    IntegrityError,
    NotFound,
    UnsafePath,
    UnsupportedVersion,
)
from medvault.format import entry as efmt
from medvault.format import pack as pfmt
from medvault.format.meta import FileMeta, normalize_path
from medvault.registry.records import CustodyRegistry
from medvault.store.entries import open_header
from medvault.store.fsio import media_errors
from medvault.store.packs import PackReader
from medvault.store.staging import filesystem_of
from medvault.vault.catalog import Catalog, Located, load_catalog
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.vault.session import UnlockedVault

READ_BLOCK = 1024 * 1024
T = TypeVar("T")
PARTIAL_SUFFIX = ".medvault-partial"
SHOWN_MAX = 240
# File systems of removable media that refuse Windows-invalid names (exfat-fuse and
# ntfs-3g both show as fuseblk; NTFS names like these are unusable on Windows anyway).
FAT_FILESYSTEMS = frozenset(
    {"vfat", "msdos", "exfat", "fuse.fusefat", "fuse.exfat", "fuse.exfat-fuse", "fuseblk"}
)
FAT_FORBIDDEN = frozenset('"*:<>?|\\\x7f') | {chr(c) for c in range(32)}
WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{d}{n}" for d in ("COM", "LPT") for n in range(1, 10)}
)
# A name refused by the file system (fusefat: EPERM; vfat: EINVAL; exfat-fuse: ENOENT).
NAME_ERRNOS = frozenset({errno.EINVAL, errno.EPERM, errno.EILSEQ, errno.ENAMETOOLONG, errno.ENOENT})


def shown(path: Path | str, limit: int = SHOWN_MAX) -> str:
    """PATH for one line of output: bytes that are not UTF-8 and control characters
    escaped (\\xff, \\n), and anything longer than LIMIT cut to its end."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


def fat_problem(name: str) -> str | None:
    """Why FAT32/exFAT (and Windows) cannot hold a file or folder called NAME, if so."""
    if any(c in FAT_FORBIDDEN for c in name):
        return 'has a character FAT/exFAT does not allow (" * : < > ? \\ | or a control character)'
    if name.endswith((".", " ")):
        return "ends with a dot or a space"
    if name.split(".")[0].rstrip(" ").upper() in WINDOWS_RESERVED:
        return "is a reserved device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
    if len(name.encode("utf-16-le")) > 2 * 255:
        return "is longer than 255 characters"
    return None


def list_files(vault: UnlockedVault) -> tuple[list[Located], Catalog]:
    catalog = load_catalog(vault)
    return catalog.live(), catalog


def select(live: list[Located], wanted: list[str]) -> list[Located]:
    """Files whose path equals, or sits under, each wanted path; every name must match."""
    if not wanted:
        return live
    chosen: dict[str, Located] = {}
    for raw in wanted:
        prefix = normalize_path(raw.strip("/"))
        hits = [x for x in live if x.path == prefix or x.path.startswith(prefix + "/")]
        if not hits:
            raise NotFound(f"{raw} is not in the vault", hint="`medvault ls` lists what is")
        for hit in hits:
            chosen[hit.file_id] = hit
    return sorted(chosen.values(), key=lambda x: x.path)


def destination(dest_dir: Path, stored: str) -> Path:
    """Where a stored path lands under DEST; refuses anything that would escape it."""
    normalize_path(stored)
    target = dest_dir.joinpath(*stored.split("/"))
    base = dest_dir.resolve()
    resolved = target.parent.resolve() / target.name
    if base != resolved and base not in resolved.parents:
        raise UnsafePath(f"stored path {stored!r} would be written outside {dest_dir}")
    return target


def stream_entry(
    vault: UnlockedVault,
    reader: PackReader,
    loc: Located,
    sink: Callable[[bytes], None],
    progress: Callable[[int], None] | None = None,
) -> FileMeta:
    """Authenticate an entry and pass its plaintext to SINK (provisional until return)."""
    opened = open_header(vault.vmk, vault.vault_id, reader.read(loc.offset, loc.header_len))
    h = opened.header
    if h.file_id.hex() != loc.file_id or h.kind != efmt.Kind.FILE:
        raise IntegrityError("object is not the file the index names")
    meta = FileMeta.decode(opened.meta)
    if h.payload_len != ciphertext_length(meta.size) or h.payload_len != loc.payload_len:
        raise IntegrityError("object payload length does not match its size")
    dec = opened.decryptor()
    digest = hashlib.sha256()
    pos, end = loc.offset + loc.header_len, loc.offset + loc.header_len + h.payload_len
    while pos < end:
        block = reader.read(pos, min(READ_BLOCK, end - pos))
        pos += len(block)
        plain = dec.update(block)
        digest.update(plain)
        sink(plain)
        if progress:
            progress(len(block))
    last = dec.finalize()
    digest.update(last)
    sink(last)
    if digest.hexdigest() != meta.sha256:
        raise IntegrityError("plaintext SHA-256 does not match the stored digest")
    return meta


def plaintext_sha256(vault: UnlockedVault, loc: Located) -> str:
    """Decrypt LOC from the drive, authenticated, and return its plaintext's SHA-256:
    the read-back check before a plaintext copy is deleted."""
    return following_compact(vault, loc, lambda at: _sha256_of(vault, at))


def _sha256_of(vault: UnlockedVault, loc: Located) -> str:
    digest = hashlib.sha256()
    with open_reader(vault, loc.pack) as reader:
        stream_entry(vault, reader, loc, digest.update)
    return digest.hexdigest()


def open_reader(vault: UnlockedVault, pack: str) -> PackReader:
    return PackReader(vault.paths, vault.vault_id, pack, vault.part_size)


def pack_exists(vault: UnlockedVault, pack: str) -> bool:
    return (vault.paths.pack_dir(pack) / pfmt.part_filename(pack, 0)).exists()


def moved_since_listing(vault: UnlockedVault, loc: Located) -> Located | None:
    """Where LOC's entry is now, if a compact rewrote its pack after the listing was made
    (the old pack is gone and the index places the same entry elsewhere), else None."""
    if pack_exists(vault, loc.pack):
        return None
    now = load_catalog(vault).located.get(loc.file_id)
    return now if now is not None and now.pack != loc.pack else None


def following_compact(vault: UnlockedVault, loc: Located, read: Callable[[Located], T]) -> T:
    """READ(LOC); if that fails because a compact rewrote and deleted LOC's pack since the
    listing was made, READ the same entry where the index places it now."""
    try:
        return read(loc)
    except IntegrityError:
        moved = moved_since_listing(vault, loc)
        if moved is None:
            raise
        return read(moved)


@dataclass
class ExtractResult:
    written: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    newer: list[str] = field(default_factory=list)  # failed: written by a newer medvault
    bytes: int = 0
    digests: list[str] = field(default_factory=list)


def extract(
    vault: UnlockedVault,
    wanted: list[str],
    dest_dir: Path,
    force: bool,
    registry: CustodyRegistry,
    env: Env,
    progress: Callable[[int], None] | None = None,
    action: str = "extract",
    details: dict[str, object] | None = None,
) -> ExtractResult:
    """Extract the chosen files; the custody event records counts and digests, not names."""
    live, _catalog = list_files(vault)
    chosen = select(live, wanted)
    targets = [(loc, destination(dest_dir, loc.path)) for loc in chosen]
    _check_names(dest_dir, chosen)
    if not force:
        existing = [t for _, t in targets if t.exists()]
        if existing:
            raise AlreadyExists(f"{existing[0]} already exists", hint="use --force to overwrite")
    result = ExtractResult()
    try:
        for loc, target in targets:
            try:
                _extract_or_follow(vault, loc, target, progress)
            except (IntegrityError, UnsupportedVersion) as exc:
                # This file is damaged (or from a newer format); the others still extract.
                result.failed[loc.path] = exc.message
                if isinstance(exc, UnsupportedVersion):
                    result.newer.append(loc.path)
                continue
            result.written.append(target)
            result.bytes += loc.size
            result.digests.append(loc.sha256)
    finally:
        record_event(
            registry,
            env,
            action,
            {
                **(details or {}),
                "files": len(result.written),
                "bytes": result.bytes,
                "failed": len(result.failed),
                "sha256_of_digests": hashlib.sha256(
                    "".join(sorted(result.digests)).encode()
                ).hexdigest(),
            },
            vault=vault,
        )
    return result


def _check_names(dest_dir: Path, chosen: list[Located]) -> None:
    """Onto FAT/exFAT, refuse before writing anything if a name cannot be created there:
    a refused rename would come only after the plaintext reached the drive."""
    kind = filesystem_of(dest_dir)
    if kind not in FAT_FILESYSTEMS:
        return
    bad = [
        (loc.path, part, problem)
        for loc in chosen
        for part in loc.path.split("/")
        if (problem := fat_problem(part)) is not None
    ]
    if bad:
        path, part, problem = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UnsafePath(
            f"{shown(path)} cannot be written to {kind} at {shown(dest_dir)}: "
            f"{shown(part)!r} {problem}{more}",
            hint="nothing was extracted; extract to a Linux file system (ext4, tmpfs), or "
            "name only the other files",
        )


def _extract_or_follow(
    vault: UnlockedVault, loc: Located, target: Path, progress: Callable[[int], None] | None
) -> None:
    """Extract LOC; if its pack was compacted away since the listing, from its new place."""

    def extract_at(at: Located) -> None:
        with media_errors(str(target)):
            _extract_one(vault, at, target, progress)

    following_compact(vault, loc, extract_at)


def _writer(out: BinaryIO) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        out.write(data)

    return write


def _private_dirs(folder: Path) -> None:
    """Create FOLDER and its missing parents 0700: the names in them are PHI too."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def _extract_one(
    vault: UnlockedVault, loc: Located, target: Path, progress: Callable[[int], None] | None
) -> None:
    try:
        _private_dirs(target.parent)
        if not target.exists():
            # Create the name first, empty: a name the file system refuses fails here,
            # before any plaintext is written (after a refused rename, fusefat no longer
            # zeroes the partial file's own clusters).
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            target.unlink()
    except OSError as exc:
        if exc.errno not in NAME_ERRNOS:
            raise
        raise _refused_name(target, exc) from None
    partial = target.parent / f".{secrets.token_hex(8)}{PARTIAL_SUFFIX}"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with open_reader(vault, loc.pack) as reader:
                    meta = stream_entry(vault, reader, loc, _writer(out), progress)
            except FormatError as exc:
                raise IntegrityError(exc.message) from None
            out.flush()
            os.fsync(out.fileno())
        os.utime(partial, ns=(meta.mtime_ns, meta.mtime_ns))
        try:
            os.replace(partial, target)
        except OSError as exc:
            if exc.errno not in NAME_ERRNOS:
                raise
            raise _refused_name(target, exc) from None
    except BaseException:
        _scrub(partial)
        raise


def _refused_name(target: Path, exc: OSError) -> UnsafePath:
    return UnsafePath(
        f"cannot create {shown(target)}: {exc.strerror} (a name this file system refuses?)",
        hint="extract to a Linux file system (ext4, tmpfs), or leave that file out; files "
        "reported as extracted are complete (fusefat also says this when the drive is full)",
    )


def _scrub(partial: Path) -> None:
    """Zero a partial file, then delete it: on FAT/exFAT the zeros land in the file's own
    clusters, so a failed check or a refused name leaves no plaintext in free space."""
    with contextlib.suppress(OSError):
        size = partial.stat().st_size
        with open(partial, "r+b") as handle:
            for start in range(0, size, READ_BLOCK):
                handle.write(bytes(min(READ_BLOCK, size - start)))
            handle.flush()
            os.fsync(handle.fileno())
    with contextlib.suppress(OSError):
        partial.unlink()
