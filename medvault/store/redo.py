"""A redo record: in-place rewrites of existing files, made crash-safe (docs/FORMAT.md 3.2).

A re-key rewrites bytes inside files that already exist (entry headers inside packs, index
records, custody log entries), in their own clusters, so that nothing encrypted under the
retired key is left in the drive's free space. A write in place can be torn by a crash, so
the new bytes are first made durable in `rekey.mvr` (written through tmp/ and renamed),
then written in place and fsynced, then the record is deleted. After a crash the record is
applied again: every patch is idempotent. The record is authenticated with a key derived
from the vault key, so a planted record is ignored, and its paths are confined to objects/,
the index journal and log/.

    magic "MVREDO\\0\\0\\1" | count u32 | count x (path_len u16 | path | offset u64
    | data_len u32 | data) | HMAC-SHA-256(redo key, everything before)
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.symmetric import hmac_sha256, mac_matches
from medvault.errors import FormatError
from medvault.format.binary import Reader, u16, u32, u64
from medvault.store import fsio
from medvault.store.fsio import media_errors, write_durable
from medvault.store.layout import VaultPaths

MAGIC = b"MVREDO\x00\x01"
NAME = "rekey.mvr"
# An index record may hold up to 64 MiB; a record of patches holds one such, or many small.
MAX_PATCH = 64 * 1024 * 1024 + 64
MAX_RECORD = 96 * 1024 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Where patches may land: a pack part, the index journal, or a custody log entry.
ALLOWED = re.compile(
    r"objects/[a-z2-7]{2}/[a-z2-7]{26}\.(mvo|\d{3}\.mvp)|index/journal\.mvi|log/[0-9a-f]{32}\.mve"
)


@dataclass(frozen=True)
class Patch:
    path: str  # relative to the vault folder, '/'-separated
    offset: int
    data: bytes


def encode(vault_keys: VaultKeys, patches: list[Patch]) -> bytes:
    out = bytearray(MAGIC + u32(len(patches)))
    for patch in patches:
        name = patch.path.encode()
        out += u16(len(name)) + name + u64(patch.offset) + u32(len(patch.data)) + patch.data
    return bytes(out) + hmac_sha256(vault_keys.rekey_redo(), bytes(out))


def decode(vault_keys: VaultKeys, data: bytes) -> list[Patch]:
    if len(data) > MAX_RECORD or len(data) < len(MAGIC) + 4 + 32:
        raise FormatError("redo record: size out of range")
    body, mac = data[:-32], data[-32:]
    if not mac_matches(vault_keys.rekey_redo(), body, mac):
        raise FormatError("redo record: MAC mismatch")
    r = Reader(body, "redo record")
    r.expect(MAGIC, "magic")
    patches = []
    for _ in range(r.u32()):
        path = r.take(r.u16()).decode("ascii", errors="replace")
        offset = r.u64()
        size = r.u32()
        if not ALLOWED.fullmatch(path) or size > MAX_PATCH:
            raise FormatError("redo record: patch outside the vault's objects and log")
        patches.append(Patch(path, offset, r.take(size)))
    r.end()
    return patches


def record_path(paths: VaultPaths) -> Path:
    return paths.root / NAME


def write_record(paths: VaultPaths, vault_keys: VaultKeys, patches: list[Patch]) -> None:
    with media_errors("the re-key's redo record"):
        write_durable(record_path(paths), encode(vault_keys, patches), paths.tmp, "redo.tmp")


def read_record(paths: VaultPaths, vault_keys: VaultKeys) -> list[Patch] | None:
    """The pending patches, or None when there is no record (or only one that does not
    authenticate under this vault key: it was never made durable by medvault)."""
    try:
        with open(record_path(paths), "rb") as handle:
            data = handle.read(MAX_RECORD + 1)
    except FileNotFoundError:
        return None
    try:
        return decode(vault_keys, data)
    except FormatError:
        return None


def apply(paths: VaultPaths, patches: list[Patch]) -> None:
    """Write every patch in place, each through a handle of its own, then fsync each file
    once. One handle per patch: fusefat keeps only what a handle writes in one run, and
    silently loses the rest of several patches written through one (docs/RELIABILITY.md)."""
    with media_errors("a file being re-keyed"):
        for patch in patches:
            _write_patch(paths.root / patch.path, patch)
        for name in dict.fromkeys(patch.path for patch in patches):
            _fsync_file(paths.root / name)


def _write_patch(path: Path, patch: Patch) -> None:
    with open(os.open(path, os.O_RDWR | _NOFOLLOW), "r+b") as handle:
        handle.seek(patch.offset)
        fsio.write(handle, patch.data, path)


def _fsync_file(path: Path) -> None:
    """fsync makes the whole file durable, whichever handle wrote it."""
    with open(os.open(path, os.O_RDONLY | _NOFOLLOW), "rb") as handle:
        fsio.fsync(handle, path)


def clear_record(paths: VaultPaths) -> None:
    with media_errors("the re-key's redo record"), contextlib.suppress(FileNotFoundError):
        fsio.unlink(record_path(paths))
    fsio.fsync_dir(paths.root)


def commit(paths: VaultPaths, vault_keys: VaultKeys, patches: list[Patch]) -> None:
    """Make PATCHES durable in a record, write them in place, then drop the record."""
    if not patches:
        return
    write_record(paths, vault_keys, patches)
    apply(paths, patches)
    clear_record(paths)
