"""`medvault ls` and `medvault extract`: every byte authenticated before the user sees it.

Extraction writes DEST/.<random>.medvault-partial (mode 0600), and renames it to the
final name only after the payload's end-of-stream check and the SHA-256 both pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

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
from medvault.format.meta import FileMeta, normalize_path
from medvault.registry.records import CustodyRegistry
from medvault.store.entries import open_header
from medvault.store.fsio import media_errors
from medvault.store.packs import PackReader
from medvault.vault.catalog import Catalog, Located, load_catalog
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.vault.session import UnlockedVault

READ_BLOCK = 1024 * 1024
PARTIAL_SUFFIX = ".medvault-partial"


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
    digest = hashlib.sha256()
    with open_reader(vault, loc.pack) as reader:
        stream_entry(vault, reader, loc, digest.update)
    return digest.hexdigest()


def open_reader(vault: UnlockedVault, pack: str) -> PackReader:
    return PackReader(vault.paths, vault.vault_id, pack, vault.part_size)


@dataclass
class ExtractResult:
    written: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
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
    if not force:
        existing = [t for _, t in targets if t.exists()]
        if existing:
            raise AlreadyExists(f"{existing[0]} already exists", hint="use --force to overwrite")
    result = ExtractResult()
    try:
        for loc, target in targets:
            try:
                with media_errors(str(target)):
                    _extract_one(vault, loc, target, progress)
            except (IntegrityError, UnsupportedVersion) as exc:
                # This file is damaged (or from a newer format); the others still extract.
                result.failed[loc.path] = exc.message
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


def _writer(out: BinaryIO) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        out.write(data)

    return write


def _extract_one(
    vault: UnlockedVault, loc: Located, target: Path, progress: Callable[[int], None] | None
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
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
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
