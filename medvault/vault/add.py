"""`medvault add`: encrypt files and folders into the vault, committed in groups."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medvault.crypto.payload import ciphertext_length
from medvault.crypto.symmetric import new_key, random_bytes
from medvault.errors import AlreadyExists, SourceUnreadable, UsageError
from medvault.format import entry as efmt
from medvault.format.meta import FileMeta, normalize_path
from medvault.registry.records import CustodyRegistry
from medvault.store.entries import SealedHeader, seal_header
from medvault.store.lock import writer_lock
from medvault.vault.catalog import Catalog, Located, load_catalog
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.vault.maintenance import sweep_tmp
from medvault.vault.session import UnlockedVault
from medvault.vault.writing import PACK_TARGET, Committer, open_journal

READ_BLOCK = 1024 * 1024
SMALL_FILE = 1024 * 1024  # read whole; larger files stream with a patched header
PLACEHOLDER_SHA = "0" * 64


@dataclass(frozen=True)
class Planned:
    source: Path
    stored: str
    size: int
    mtime_ns: int


def _unreadable(path: Path, exc: OSError) -> SourceUnreadable:
    return SourceUnreadable(
        f"cannot read {path}: {exc.strerror or exc}",
        hint="nothing was added; fix the file's permissions or leave it out",
    )


def plan(sources: list[Path], prefix: str = "") -> list[Planned]:
    """Every regular file under SOURCES, stored relative to each SRC's parent (like cp -r),
    under PREFIX ("a/b/" or "") when given.

    Anything that is not a regular file or folder (a symlink to a folder, a device, a
    broken link) is refused up front, so nothing is silently left behind.
    """
    planned: list[Planned] = []
    seen: dict[str, Path] = {}
    for src in sources:
        absolute = Path(os.path.abspath(src))
        try:
            top = os.stat(absolute)
        except OSError as exc:
            raise _unreadable(src, exc) from None
        if stat.S_ISDIR(top.st_mode):
            files = _walk(absolute)
        elif stat.S_ISREG(top.st_mode):
            files = [absolute]
        else:
            raise _not_regular(src)
        for path in files:
            try:
                st = os.stat(path)
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise _unreadable(path, exc) from None
            stored = normalize_path(prefix + path.relative_to(absolute.parent).as_posix())
            if stored in seen:
                raise UsageError(f"{path} and {seen[stored]} would both be stored as {stored}")
            seen[stored] = path
            planned.append(Planned(path, stored, st.st_size, st.st_mtime_ns))
    return planned


def _not_regular(path: Path) -> SourceUnreadable:
    return SourceUnreadable(
        f"{path} is not a regular file or folder",
        hint="medvault stores regular files; copy what the link points to, or leave it out",
    )


def _walk(root: Path) -> list[Path]:
    found: list[Path] = []

    def fail(exc: OSError) -> None:
        raise _unreadable(Path(exc.filename or root), exc)

    for folder, dirs, files in os.walk(root, onerror=fail):
        for name in dirs:
            if os.path.islink(os.path.join(folder, name)):
                raise _not_regular(Path(folder) / name)
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            try:
                mode = os.stat(path).st_mode
            except OSError as exc:
                raise _unreadable(path, exc) from None
            if not stat.S_ISREG(mode):
                raise _not_regular(path)
            found.append(path)
    return found


@dataclass
class AddResult:
    files: list[Located]
    bytes: int


def add_files(
    vault: UnlockedVault,
    sources: list[Path],
    replace: bool,
    registry: CustodyRegistry,
    env: Env,
    progress: Callable[[int], None] | None = None,
    on_commit: Callable[[list[Located]], None] | None = None,
    prefix: str = "",
    action: str = "add",
    details: dict[str, object] | None = None,
) -> AddResult:
    planned = plan(sources, prefix)
    return add_planned(vault, planned, replace, registry, env, progress, on_commit, action, details)


def add_planned(
    vault: UnlockedVault,
    planned: list[Planned],
    replace: bool,
    registry: CustodyRegistry,
    env: Env,
    progress: Callable[[int], None] | None = None,
    on_commit: Callable[[list[Located]], None] | None = None,
    action: str = "add",
    details: dict[str, object] | None = None,
) -> AddResult:
    """Add files already planned, each under its own stored path (`scan --into` keeps
    each file's place relative to the scanned folder)."""
    with writer_lock(vault.paths.lock):
        sweep_tmp(vault.paths)
        catalog = load_catalog(vault)
        replaces = _check_existing(catalog, planned, replace)
        journal = open_journal(vault, catalog)
        committer = Committer(vault, journal, on_commit)
        try:
            with committer:
                for item in planned:
                    if item.size > SMALL_FILE and committer.pending:
                        committer.commit()
                    loc = _write_entry(
                        vault, committer, item, replaces.get(item.stored, ()), env, progress
                    )
                    committer.add_pending(loc)
                    if item.size > SMALL_FILE or committer.pending_bytes >= PACK_TARGET:
                        committer.commit()
        finally:
            done = committer.committed
            if done:
                record_event(
                    registry,
                    env,
                    action,
                    {
                        "files": len(done),
                        "bytes": sum(x.size for x in done),
                        "sha256_of_digests": _digest_of(done),
                        "requested": len(planned),
                        **(details or {}),
                    },
                    vault=vault,
                )
    return AddResult(committer.committed, sum(x.size for x in committer.committed))


def _digest_of(done: list[Located]) -> str:
    h = hashlib.sha256()
    for loc in sorted(done, key=lambda x: x.file_id):
        h.update(bytes.fromhex(loc.sha256))
    return h.hexdigest()


def _check_existing(
    catalog: Catalog, planned: list[Planned], replace: bool
) -> dict[str, tuple[str, ...]]:
    live = catalog.by_path()
    clashes = [p.stored for p in planned if p.stored in live]
    if clashes and not replace:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise AlreadyExists(
            f"{clashes[0]} is already in the vault{more}",
            hint="use --replace to store the new version",
        )
    return {path: (live[path].file_id,) for path in clashes}


def _write_entry(
    vault: UnlockedVault,
    committer: Committer,
    item: Planned,
    replaces: tuple[str, ...],
    env: Env,
    progress: Callable[[int], None] | None,
) -> Located:
    writer = committer.pack()
    file_id = random_bytes(16)
    fk = new_key()
    payload_len = ciphertext_length(item.size)
    added_at = env.timestamp()

    def seal(sha256: str) -> tuple[SealedHeader, FileMeta]:
        meta = FileMeta(
            item.stored,
            item.size,
            sha256,
            item.mtime_ns,
            added_at,
            env.actor.user,
            env.actor.host,
            replaces,
        )
        sealed = seal_header(
            vault.vmk, vault.vault_id, file_id, efmt.Kind.FILE, meta.encode(), payload_len, fk=fk
        )
        return sealed, meta

    offset = writer.position
    try:
        with open(item.source, "rb") as handle:
            if item.size <= SMALL_FILE:
                data = handle.read(item.size + 1)
                if len(data) != item.size:
                    raise _changed(item.source)
                sealed, meta = seal(hashlib.sha256(data).hexdigest())
                enc = sealed.encryptor()
                writer.write(sealed.header + enc.update(data) + enc.finalize())
                if progress:
                    progress(item.size)
            else:
                # Stream: the digest is known only at the end, so write a placeholder header
                # of the same length and patch it (the pack is still in tmp/).
                sealed, meta = seal(PLACEHOLDER_SHA)
                writer.write(sealed.header)
                digest, enc, count = hashlib.sha256(), sealed.encryptor(), 0
                while block := handle.read(READ_BLOCK):
                    digest.update(block)
                    writer.write(enc.update(block))
                    count += len(block)
                    if progress:
                        progress(len(block))
                if count != item.size:
                    raise _changed(item.source)
                writer.write(enc.finalize())
                final, meta = seal(digest.hexdigest())
                if len(final.header) != len(sealed.header):
                    raise AssertionError("patched header changed length")
                writer.patch(offset, final.header)
    except OSError as exc:
        # Writes to the drive raise MedvaultError (media_errors); a bare OSError is the source.
        raise _unreadable(item.source, exc) from None
    return Located(
        file_id=file_id.hex(),
        pack=writer.name,
        offset=offset,
        header_len=len(sealed.header),
        payload_len=payload_len,
        kind=int(efmt.Kind.FILE),
        path=meta.path,
        size=meta.size,
        sha256=meta.sha256,
        added_at=meta.added_at,
        mtime_ns=meta.mtime_ns,
        references=replaces,
    )


def _changed(path: Path) -> SourceUnreadable:
    return SourceUnreadable(
        f"{path} changed size while it was being read",
        hint="add it again once it is no longer being written",
    )
