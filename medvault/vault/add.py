"""`medvault add`: encrypt files and folders into the vault, committed in groups."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path

from medvault.crypto.payload import ciphertext_length
from medvault.crypto.symmetric import new_key, random_bytes
from medvault.errors import AlreadyExists, SourceUnreadable, UnsafePath, UsageError
from medvault.format import entry as efmt
from medvault.format.meta import MAX_PATH_BYTES, FileMeta, normalize_path
from medvault.registry.records import CustodyRegistry
from medvault.store.entries import SealedHeader, seal_header
from medvault.store.lock import writer_lock
from medvault.vault.catalog import Catalog, Located, load_catalog
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.vault.maintenance import sweep_tmp
from medvault.vault.names import shown
from medvault.vault.path_index import refresh as refresh_path_index
from medvault.vault.pipeline import encrypt_stream, read_ahead
from medvault.vault.session import UnlockedVault
from medvault.vault.writing import Committer, open_journal

SMALL_FILE = 1024 * 1024  # read whole; larger files stream with a patched header
PLACEHOLDER_SHA = "0" * 64


@dataclass(frozen=True, slots=True)
class Planned:
    # A string, not a Path: a plan of 100,000 files is held in memory while Argon2id
    # runs (pathlib keeps every component as its own string).
    source: str
    stored: str
    size: int
    mtime_ns: int
    # The file planned (0, 0: not known): a file swapped for another before it is read
    # (a link, a FIFO, a new file) is refused rather than stored under the old name.
    dev: int = 0
    ino: int = 0


# Opening never blocks (a FIFO swapped in after the walk) and, inside a walked folder,
# never follows a link (one swapped in after the walk).
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _unreadable(path: Path | str, exc: OSError) -> SourceUnreadable:
    if exc.errno == errno.ENAMETOOLONG:
        what = "its path is longer than the system allows: add a folder nearer to it"
    elif exc.errno == errno.ENOENT:
        what = "it is gone (moved or deleted meanwhile?): check the path and add again"
    else:
        what = "fix the file's permissions or leave it out"
    return SourceUnreadable(
        f"cannot read {shown(path)}: {exc.strerror or exc}", hint=f"nothing was added; {what}"
    )


def check_sources(sources: list[Path], vault_root: Path) -> None:
    """What plan() checks of each SOURCE itself (it exists, is a file or folder, and is not
    and does not hold the vault), without walking folders: cheap enough to run before the
    passphrase is asked."""
    for src in sources:
        absolute = Path(os.path.abspath(src))
        _refuse_vault(src, absolute, vault_root)
        try:
            top = os.stat(absolute)
        except OSError as exc:
            raise _unreadable(src, exc) from None
        if not (stat.S_ISDIR(top.st_mode) or stat.S_ISREG(top.st_mode)):
            raise _not_regular(src)


def plan(sources: list[Path], prefix: str = "", vault_root: Path | None = None) -> list[Planned]:
    """Every regular file under SOURCES, stored relative to each SRC's parent (like cp -r),
    under PREFIX ("a/b/" or "") when given.

    A SOURCE named on the command line may be a symbolic link (followed, like cp -H);
    inside a folder, anything that is not a regular file or folder (a symbolic link, a
    FIFO, a device, a socket) is refused up front, so nothing is silently left behind or
    fetched from outside the folder. So is a name that is not UTF-8 (stored paths are
    UTF-8), and a SOURCE that is, holds or sits inside VAULT_ROOT (the vault itself).
    """
    planned: list[Planned] = []
    seen: dict[str, str] = {}
    for src in sources:
        absolute = Path(os.path.abspath(src))
        if vault_root is not None:
            _refuse_vault(src, absolute, vault_root)
        try:
            top = os.stat(absolute)
        except OSError as exc:
            raise _unreadable(src, exc) from None
        if stat.S_ISDIR(top.st_mode):
            files = [(path, NOFOLLOW) for path in _walk(str(absolute))]
        elif stat.S_ISREG(top.st_mode):
            files = [(str(absolute), 0)]
        else:
            raise _not_regular(src)
        for path, flags in files:
            st = _open_regular(path, flags)
            stored = _stored(prefix, path, str(absolute.parent))
            if stored in seen:
                raise UsageError(
                    f"{shown(path)} and {shown(seen[stored])} would both be stored as "
                    f"{shown(stored)}"
                )
            seen[stored] = path
            planned.append(Planned(path, stored, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino))
    return planned


def _open_regular(path: str, flags: int) -> os.stat_result:
    """Open PATH as add will (without blocking) and check it is a readable regular file."""
    try:
        fd = os.open(path, OPEN_FLAGS | flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and flags & NOFOLLOW:
            raise _link(path) from None  # became a link since the walk
        raise _unreadable(path, exc) from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path)
    return st


def _stored(prefix: str, path: str, parent: str) -> str:
    base = os.path.join(parent, "")
    if not path.startswith(base):  # pragma: no cover - the walk only yields paths under it
        raise AssertionError(f"{path!r} is not under {parent!r}")
    relative = prefix + path[len(base) :].replace(os.sep, "/")
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        raise SourceUnreadable(
            f"the name {shown(path)} is not valid UTF-8",
            hint="nothing was added; rename it (e.g. convmv -f latin1 -t utf-8) and add again",
        ) from None
    try:
        return normalize_path(relative)
    except UnsafePath as exc:
        if "\\" in relative:
            why = "its name holds a backslash (\\), which a stored path may not contain"
            fix = "rename it"
        elif len(relative.encode()) > MAX_PATH_BYTES:
            why, fix = f"its path is longer than {MAX_PATH_BYTES} bytes", "add a nearer folder"
        else:
            why, fix = exc.message, "rename it"
        raise SourceUnreadable(
            f"{shown(path)} cannot be stored: {why}", hint=f"nothing was added; {fix}"
        ) from None


def _refuse_vault(src: Path, absolute: Path, vault_root: Path) -> None:
    real, vault = os.path.realpath(absolute), os.path.realpath(vault_root)
    if real == vault or real.startswith(vault + os.sep):
        raise UsageError(
            f"{shown(src)} is inside the vault itself",
            hint="add the files you want to protect, not the vault's own files",
        )
    if vault.startswith(real.rstrip(os.sep) + os.sep):
        raise UsageError(
            f"{shown(src)} holds the vault itself ({shown(vault_root)})",
            hint="add its other files and folders one by one, or from another folder",
        )


def _not_regular(path: Path | str) -> SourceUnreadable:
    return SourceUnreadable(
        f"{shown(path)} is not a regular file or folder",
        hint="nothing was added; medvault stores regular files, so leave it out",
    )


def _link(path: str) -> SourceUnreadable:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return SourceUnreadable(
        f"{shown(path)} is a symbolic link (to {shown(target)}); links inside a folder "
        "are not followed",
        hint="nothing was added; copy what it points to into the folder, or leave it out",
    )


def _walk(root: str) -> list[str]:
    """Regular files under ROOT, sorted, without following links and without recursion
    (a folder tree deeper than Python's recursion limit still walks). The kind of each
    entry comes from the folder listing where the file system gives it (no stat call)."""
    found: list[str] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise _unreadable(folder, exc) from None
        subdirs: list[str] = []
        for entry in entries:
            path = entry.path
            try:
                if entry.is_symlink():
                    raise _link(path)
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(path)
                elif entry.is_file(follow_symlinks=False):
                    found.append(path)
                else:
                    raise _not_regular(path)
            except OSError as exc:
                raise _unreadable(path, exc) from None
        stack.extend(reversed(subdirs))
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
    planned = plan(sources, prefix, vault.paths.root)
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
                for item, ahead in read_ahead(planned, _read_small, _is_small, _size):
                    if item.size > SMALL_FILE and committer.pending:
                        committer.commit()
                    loc = _write_entry(
                        vault,
                        committer,
                        item,
                        replaces.get(item.stored, ()),
                        env,
                        progress,
                        None if ahead is None else ahead.result(),
                    )
                    committer.add_pending(loc)
                    if item.size > SMALL_FILE or committer.full:
                        committer.commit()
            if committer.committed:
                for loc in committer.committed:
                    catalog.place(loc)
                refresh_path_index(vault, catalog, journal)
        except SourceUnreadable as exc:
            if committer.committed:
                # Earlier groups are durable and were reported; say so, not "nothing".
                exc.hint = "files reported as added are kept; the rest was not added"
            raise
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


@dataclass(frozen=True)
class ReadSmall:
    """A small file's contents and SHA-256, read on a reader thread."""

    data: bytes
    sha256: str


def _is_small(item: Planned) -> bool:
    return item.size <= SMALL_FILE


def _size(item: Planned) -> int:
    return item.size


def _read_small(item: Planned) -> ReadSmall:
    try:
        with _open_planned(item) as handle:
            data = handle.read(item.size + 1)
            if len(data) != item.size:
                raise _changed(item.source)
            _check_unchanged(handle, item)
    except OSError as exc:
        raise _unreadable(item.source, exc) from None
    return ReadSmall(data, hashlib.sha256(data).hexdigest())


def _write_entry(
    vault: UnlockedVault,
    committer: Committer,
    item: Planned,
    replaces: tuple[str, ...],
    env: Env,
    progress: Callable[[int], None] | None,
    small: ReadSmall | None,
) -> Located:
    """Seal ITEM into the current pack: SMALL is its contents, read ahead, or None for a
    large file, which is streamed from the source here."""
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
    if small is not None:
        sealed, meta = seal(small.sha256)
        enc = sealed.encryptor()
        writer.write(sealed.header + enc.update(small.data) + enc.finalize())
        if progress:
            progress(item.size)
        return _located(writer.name, offset, len(sealed.header), payload_len, file_id, meta)
    # A large file streams: its digest is known only at the end, so a placeholder header
    # of the same length is written and patched (the pack is still in tmp/).
    sealed, meta = seal(PLACEHOLDER_SHA)
    try:
        with _open_planned(item) as handle:
            writer.write(sealed.header)
            enc = sealed.encryptor()
            # Never more than size + 1 bytes: a file appended to as fast as it is read
            # must not keep add going (or fill the drive) before the size check.
            count, digest = encrypt_stream(
                handle.readinto, item.size + 1, enc, writer.write, progress
            )
            if count != item.size:
                raise _changed(item.source)
            _check_unchanged(handle, item)
            writer.write(enc.finalize())
    except OSError as exc:
        # Writes to the drive raise MedvaultError (media_errors); a bare OSError is the source.
        raise _unreadable(item.source, exc) from None
    final, meta = seal(digest)
    if len(final.header) != len(sealed.header):
        raise AssertionError("patched header changed length")
    writer.patch(offset, final.header)
    return _located(writer.name, offset, len(sealed.header), payload_len, file_id, meta)


def _located(
    pack: str, offset: int, header_len: int, payload_len: int, file_id: bytes, meta: FileMeta
) -> Located:
    return Located(
        file_id=file_id.hex(),
        pack=pack,
        offset=offset,
        header_len=header_len,
        payload_len=payload_len,
        kind=int(efmt.Kind.FILE),
        path=meta.path,
        size=meta.size,
        sha256=meta.sha256,
        added_at=meta.added_at,
        mtime_ns=meta.mtime_ns,
        references=meta.replaces,
    )


def _open_planned(item: Planned) -> BufferedReader:
    """ITEM's file, opened without blocking and checked to be the very file planned."""
    fd = os.open(item.source, OPEN_FLAGS)
    handle = os.fdopen(fd, "rb")
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (
        item.ino and (st.st_dev, st.st_ino) != (item.dev, item.ino)
    ):
        handle.close()
        raise SourceUnreadable(
            f"{shown(item.source)} was replaced by another file while add was running",
            hint="add it again once nothing else is changing it",
        )
    return handle


def _check_unchanged(handle: BufferedReader, item: Planned) -> None:
    """The file read must still have the size and time planned: otherwise what was read
    may be a mix of two versions (a rewrite in place keeps the size)."""
    st = os.fstat(handle.fileno())
    if st.st_size != item.size or st.st_mtime_ns != item.mtime_ns:
        raise _changed(item.source)


def _changed(path: str) -> SourceUnreadable:
    return SourceUnreadable(
        f"{shown(path)} changed while it was being read",
        hint="it was not added; add it again once it is no longer being written",
    )
