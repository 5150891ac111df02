"""`medvault add`: encrypt files and folders into the vault, committed in groups."""

from __future__ import annotations

import bisect
import contextlib
import errno
import hashlib
import itertools
import os
import stat
import unicodedata
from array import array
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path

from medvault.crypto.same_content import ReadTally
from medvault.crypto.symmetric import new_key, random_bytes
from medvault.engine.catalog import Located
from medvault.engine.helper_process import in_order
from medvault.engine.names import shown
from medvault.engine.path_index import LiveFiles, live_files
from medvault.engine.path_index import refresh as refresh_path_index
from medvault.engine.pipeline import encrypt_stream, hash_and_encrypt, hash_fd
from medvault.engine.session import UnlockedVault
from medvault.engine.writing import PACK_ENTRIES, PACK_TARGET, Committer, open_journal, sweep_tmp
from medvault.errors import AlreadyExists, SourceUnreadable, UnsafePath, UsageError
from medvault.format import entry as efmt
from medvault.format.index_records import file_entry
from medvault.format.meta import MAX_PATH_BYTES, FileMeta, normalize_path
from medvault.registry.actions import Action
from medvault.registry.records import CustodyRegistry
from medvault.store.entries import SealedHeader, seal_entry
from medvault.store.journal import JournalAppender
from medvault.store.lock import writer_lock
from medvault.store.readback import Setting, needs_readback
from medvault.vault.add_ahead import (
    Sealed,
    Task,
    decode_answer,
    decode_task,
    encode_task,
    seal_small,
)
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.vault.space import Need, check_fits

SMALL_FILE = 1024 * 1024  # read whole; larger files are hashed, then streamed
# From this size a file's first read hashes on a worker thread (a thread costs more than
# it saves on smaller files).
HASH_IN_THREAD = 8 * 1024 * 1024
DIGEST_PLACEHOLDER = "0" * 64  # a large file's draft header: its length is the final one's


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


@dataclass(frozen=True, slots=True)
class Renamed:
    """A file whose name Unicode normalization changes: stored paths are NFC (composed;
    docs/FORMAT.md), so a name written decomposed (NFD, as macOS writes names) is stored,
    and extracted, in its composed form."""

    source: str  # the file as found (add: its path; export, scan: relative to the folder)
    stored: str  # the path it is stored under


def renamed_by_normalization(source: str, raw: str, stored: str) -> Renamed | None:
    """SOURCE's Renamed when its stored path (STORED) is not RAW, the path it would have
    had as its name is written; None when normalization left it as it was."""
    return None if raw == stored else Renamed(source, stored)


def refuse_same_stored(planned: Iterable[Planned]) -> None:
    """Two files whose names differ only in Unicode normalization (Linux keeps "é" composed
    and decomposed as two names) would both be stored under one path, one hiding the
    other: refused before anything is written."""
    seen: dict[str, str] = {}
    for item in planned:
        if item.stored in seen:
            raise UsageError(
                f"{shown(item.source)} and {shown(seen[item.stored])} would both be stored "
                f"as {shown(item.stored)}",
                hint="nothing was added; their names differ only in Unicode normalization "
                "(stored paths are NFC): rename one",
            )
        seen[item.stored] = item.source


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
    """Every regular file under SOURCES, as a list (see SourcePlan, which add streams)."""
    planned = list(SourcePlan(sources, prefix, vault_root))
    refuse_same_stored(planned)
    return planned


def stored_folder(folder: str | None) -> str:
    """The PREFIX a SourcePlan stores files under for `add --to FOLDER` and
    `cp SRC... VAULT:FOLDER`: FOLDER normalised as a stored path is ("reports/2026/"), ""
    for the vault's top (none, "" or "/"). An unsafe FOLDER ("..", an empty part, NUL, a
    backslash) is refused with UnsafePath before anything is asked or written."""
    if folder is None or not folder.strip("/"):
        return ""
    try:
        return normalize_path(folder.strip("/")) + "/"
    except UnsafePath:
        raise UnsafePath(
            f"{shown(folder)!r} is not a folder a vault can hold (no '..', '.', empty "
            "parts, NUL or backslash)",
            hint="name a folder such as reports/2026",
        ) from None


class SourcePlan:
    """Every regular file under SOURCES, stored relative to each SRC's parent (like cp -r),
    under PREFIX ("a/b/" or "") when given, walked each time it is iterated: `add` walks
    twice (once to check everything before writing anything, once to store), because a
    plan held whole cost ~430 bytes a file (43 MiB for 100,000 files) on top of the rest.

    A SOURCE named on the command line may be a symbolic link (followed, like cp -H);
    inside a folder, anything that is not a regular file or folder (a symbolic link, a
    FIFO, a device, a socket) is refused up front, so nothing is silently left behind or
    fetched from outside the folder. So is a name that is not UTF-8 (stored paths are
    UTF-8), and a SOURCE that is, holds or sits inside VAULT_ROOT (the vault itself).
    Files come in the order of their stored paths (folders walked in that order).
    """

    def __init__(self, sources: list[Path], prefix: str = "", vault_root: Path | None = None):
        self.sources = sources
        self.prefix = prefix
        self.vault_root = vault_root
        self.count = 0  # set by check()
        self.bytes = 0
        self.need = Need()  # what storing it all will write (set by check())
        # The files whose stored path Unicode normalization changed (set by check()).
        self.renamed: list[Renamed] = []
        # The sorted fingerprints of the planned files (set by check()): 8 bytes a file in an
        # array, where a set of ints took ~90 (~86 MiB for a 1,000,000-file add).
        self._checked: array[int] | None = None
        self._key = random_bytes(16)

    def _fingerprint(self, stored: str) -> int:
        # 8 bytes of keyed BLAKE2b per planned path, so the clash check against the vault
        # needs 8 bytes a file instead of the paths themselves. Two paths share one with
        # probability ~2^-64 per pair; the exact check is repeated as each file is stored.
        digest = hashlib.blake2b(stored.encode(), digest_size=8, key=self._key).digest()
        return int.from_bytes(digest, "big")

    def check(self) -> None:
        """Walk everything once: raises what storing would (unreadable, special file, link,
        name clash within the plan), counts the files and bytes, and notes the names
        Unicode normalization changes (`renamed`)."""
        count = size = 0
        fingerprints = array("Q")
        need = Need()
        for item in self:
            count += 1
            size += item.size
            need.count(item.size, item.stored, item.size > SMALL_FILE)
            fingerprints.append(self._fingerprint(item.stored))
        ordered = array("Q", sorted(fingerprints))
        del fingerprints
        twice = {a for a, b in itertools.pairwise(ordered) if a == b}
        self.count, self.bytes, self.need, self._checked = count, size, need, ordered
        if twice:  # names that differ only in normalization (or, ~2^-64, a shared digest)
            refuse_same_stored(x for x in self if self._fingerprint(x.stored) in twice)

    @property
    def checked(self) -> bool:
        return self._checked is not None

    def clashes(self, live: Iterable[str]) -> list[str]:
        """The paths among LIVE that this plan would store again."""
        if self._checked is None:
            self.check()
        checked = self._checked if self._checked is not None else array("Q")
        return [path for path in live if _holds(checked, self._fingerprint(path))]

    def tops(self) -> list[str]:
        """The stored path of each SOURCE: every file it stores is there or under it."""
        return [_top_name(self.prefix, src) for src in self.sources]

    def __iter__(self) -> Iterator[Planned]:
        tops = [_top_name(self.prefix, src) for src in self.sources]
        shared = {name for name in tops if tops.count(name) > 1}
        # Two SOURCES can only store the same path if they share a top-level name: only
        # their paths are remembered to catch it.
        seen: dict[str, str] = {}
        noting = self._checked is None  # the checking walk notes what normalization renames
        if noting:
            self.renamed = []
        for src, top in zip(self.sources, tops, strict=True):
            absolute = Path(os.path.abspath(src))
            if self.vault_root is not None:
                _refuse_vault(src, absolute, self.vault_root)
            try:
                st = os.stat(absolute)
            except OSError as exc:
                raise _unreadable(src, exc) from None
            if stat.S_ISDIR(st.st_mode):
                files: Iterable[tuple[str, int]] = (
                    (path, NOFOLLOW) for path in walk_files(str(absolute))
                )
            elif stat.S_ISREG(st.st_mode):
                files = [(str(absolute), 0)]
            else:
                raise _not_regular(src)
            parent = str(absolute.parent)
            # The check opens every file (so nothing is written if one cannot be read); the
            # walk that stores only stats them: the reader opens each file again anyway and
            # refuses one that is no longer the file planned (_open_planned).
            probe = _open_regular if self._checked is None else _stat_regular
            for path, flags in files:
                fst = probe(path, flags)
                stored = _stored(self.prefix, path, parent)
                if noting and not path.isascii():
                    raw = _relative(self.prefix, path, parent)
                    renamed = renamed_by_normalization(path, raw, stored)
                    if renamed is not None:
                        self.renamed.append(renamed)
                if top in shared:
                    if stored in seen:
                        raise UsageError(
                            f"{shown(path)} and {shown(seen[stored])} would both be stored "
                            f"as {shown(stored)}"
                        )
                    seen[stored] = path
                yield Planned(path, stored, fst.st_size, fst.st_mtime_ns, fst.st_dev, fst.st_ino)


def _holds(ordered: array[int], value: int) -> bool:
    """Whether the sorted array ORDERED holds VALUE."""
    at = bisect.bisect_left(ordered, value)
    return at < len(ordered) and ordered[at] == value


def _top_name(prefix: str, src: Path) -> str:
    return unicodedata.normalize("NFC", prefix + os.path.basename(os.path.abspath(src)))


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


def _stat_regular(path: str, flags: int) -> os.stat_result:
    """PATH's status (not following a link when FLAGS say so); a regular file or refused."""
    try:
        st = os.lstat(path) if flags & NOFOLLOW else os.stat(path)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    if stat.S_ISLNK(st.st_mode):
        raise _link(path)  # became a link since the check
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path)
    return st


def _relative(prefix: str, path: str, parent: str) -> str:
    """PATH's stored path before normalization: PREFIX, then PATH under PARENT."""
    base = os.path.join(parent, "")
    if not path.startswith(base):  # pragma: no cover - the walk only yields paths under it
        raise AssertionError(f"{path!r} is not under {parent!r}")
    return prefix + path[len(base) :].replace(os.sep, "/")


def _stored(prefix: str, path: str, parent: str) -> str:
    relative = _relative(prefix, path, parent)
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


def walk_files(root: str) -> Iterator[str]:
    """Regular files under ROOT, without following links and without recursion (a folder
    tree deeper than Python's recursion limit still walks), in the order of their paths as
    strings: a folder sorts as its name plus "/", so "a.txt" comes before "a/b", as in a
    sorted listing (the path index is then written from the journal in order, without
    sorting all the vault's files in memory). Only the folders on the way down are held."""
    stack = [iter(_listing(root))]
    while stack:
        for path, is_dir in stack[-1]:
            if is_dir:
                stack.append(iter(_listing(path)))
                break
            yield path
        else:
            stack.pop()


def _listing(folder: str) -> list[tuple[str, bool]]:
    """FOLDER's files and subfolders (True), in path order; anything else is refused. The
    kind of each entry comes from the folder listing where the file system gives it."""
    found: list[tuple[str, str, bool]] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                path = entry.path
                try:
                    if entry.is_symlink():
                        raise _link(path)
                    if entry.is_dir(follow_symlinks=False):
                        found.append((entry.name + "/", path, True))
                    elif entry.is_file(follow_symlinks=False):
                        found.append((entry.name, path, False))
                    else:
                        raise _not_regular(path)
                except OSError as exc:
                    raise _unreadable(path, exc) from None
    except OSError as exc:
        raise _unreadable(folder, exc) from None
    found.sort()
    return [(path, is_dir) for _key, path, is_dir in found]


@dataclass
class AddResult:
    files: list[Located]  # every file added, unless the caller asked not to keep them
    bytes: int
    count: int
    skipped: int = 0  # already in the vault, identical (--skip-existing)
    skipped_bytes: int = 0
    sealed_ahead: int = 0  # files a second process read and sealed (vault/add_ahead.py)


def add_files(
    vault: UnlockedVault,
    sources: list[Path],
    replace: bool,
    registry: CustodyRegistry,
    env: Env,
    progress: Callable[[int], None] | None = None,
    on_commit: Callable[[list[Located]], None] | None = None,
    prefix: str = "",
    action: Action = Action.ADD,
    details: dict[str, object] | None = None,
) -> AddResult:
    planned = plan(sources, prefix, vault.paths.root)
    return add_planned(vault, planned, replace, registry, env, progress, on_commit, action, details)


def add_planned(
    vault: UnlockedVault,
    planned: list[Planned] | SourcePlan,
    replace: bool,
    registry: CustodyRegistry,
    env: Env,
    progress: Callable[[int], None] | None = None,
    on_commit: Callable[[list[Located]], None] | None = None,
    action: Action = Action.ADD,
    details: dict[str, object] | None = None,
    keep_files: bool = True,
    skip_existing: bool = False,
    check_space: bool = True,
    verify_writes: Setting = "auto",
) -> AddResult:
    """Add files already planned, each under its own stored path (`scan --into` keeps
    each file's place relative to the scanned folder). A SourcePlan is walked again as it
    is stored, so memory does not grow with the number of files unless KEEP_FILES (the
    result then lists every file added). SKIP_EXISTING: a path already in the vault with
    the same size and SHA-256 is skipped and counted (an interrupted add run again
    finishes the job); one with other contents is still a clash unless REPLACE. A drive
    without room for it all is refused before anything is written (unless not
    CHECK_SPACE: a driver that misreports its free space). VERIFY_WRITES: whether each
    commit is read back from the drive before its files count as added ("auto": on
    FUSE and removable drives; store/readback.py)."""
    with writer_lock(vault.paths.lock), live_files(vault) as files:
        sweep_tmp(vault.paths)
        live = _existing(files, planned)
        skip = _checked_plan(vault, live, planned, replace, skip_existing, check_space, progress)
        skipped = (len(skip), sum(skip.values()))
        requested = len(planned) if isinstance(planned, list) else planned.count
        journal = open_journal(vault, files.catalog)
        read_back = needs_readback(vault.paths.root, verify_writes)
        committer = Committer(vault, journal, on_commit, keep=keep_files, read_back=read_back)
        ahead = 0
        try:
            with committer:
                ahead = _store_all(vault, committer, planned, skip, live, replace, env, progress)
            if committer.count:
                _refresh_index(vault, files, journal, committer)
        except (SourceUnreadable, AlreadyExists) as exc:
            if committer.count:
                # Earlier groups are durable and were reported; say so, not "nothing".
                exc.hint = "files reported as added are kept; the rest was not added"
            raise
        finally:
            if committer.count:
                summary = {
                    "files": committer.count,
                    "bytes": committer.bytes,
                    "sha256_of_digests": committer.digest_of_digests(),
                    "requested": requested,
                }
                record_event(registry, env, action, {**summary, **(details or {})}, vault=vault)
    result = AddResult(committer.committed, committer.bytes, committer.count, *skipped)
    result.sealed_ahead = ahead
    return result


def _refresh_index(
    vault: UnlockedVault, files: LiveFiles, journal: JournalAppender, committer: Committer
) -> None:
    """Rebuild the path index when it is due, from FILES (what the vault held before this
    add) and what COMMITTER committed."""
    refresh_path_index(vault, files.before(), journal, committer.groups, committer.replaced)


# More top-level names than this in a plan (a shell glob of many files): walk the vault's
# list once rather than look each name up.
MANY_TOPS = 64


def _existing(files: LiveFiles, planned: list[Planned] | SourcePlan) -> dict[str, Located]:
    """The vault's live files at the paths PLANNED could store, by path: those at or under
    the plan's top-level names, looked up in the path index when the vault has one, so
    adding to a vault of a million files does not hold its whole list."""
    if isinstance(planned, SourcePlan):
        tops = set(planned.tops())
    else:
        tops = {item.stored.partition("/")[0] for item in planned}
    if "" in tops:  # a source with no name (the root folder): anything can clash
        return {loc.path: loc for loc in files.all()}
    if len(tops) <= MANY_TOPS:
        return {loc.path: loc for top in sorted(tops) for loc in files.under(top)}
    return {loc.path: loc for loc in files.all() if _top_of(loc.path, tops)}


def _top_of(path: str, tops: set[str]) -> bool:
    """Whether PATH is one of TOPS or sits under one."""
    parts = path.split("/")
    return any("/".join(parts[:n]) in tops for n in range(1, len(parts) + 1))


def _checked_plan(
    vault: UnlockedVault,
    live: dict[str, Located],
    planned: list[Planned] | SourcePlan,
    replace: bool,
    skip_existing: bool,
    check_space: bool,
    progress: Callable[[int], None] | None,
) -> dict[str, int]:
    """Refuse a plan that clashes with the vault or does not fit on the drive, before
    anything is written; returns the stored paths to skip (SKIP_EXISTING: already in the
    vault, identical) with their sizes."""
    if isinstance(planned, SourcePlan) and not planned.checked:
        planned.check()
    skip = _identical(live, planned, progress) if skip_existing else {}
    _refuse_clashes(live, planned, replace, skip, skip_existing)
    if check_space:
        check_fits(vault.paths.root, _need(planned, skip), PACK_TARGET, PACK_ENTRIES)
    return skip


def _store_one(
    vault: UnlockedVault,
    committer: Committer,
    item: Planned,
    replaced: tuple[str, ...],
    env: Env,
    progress: Callable[[int], None] | None,
    sealed: Sealed | None = None,
) -> None:
    """Write ITEM as one entry (SEALED: sealed ahead by the helper process); a large file
    is a commit of its own, small ones are committed together when the group is full."""
    if sealed is not None:
        committer.add_pending(_write_sealed(committer, item, replaced, env, progress, sealed))
        if committer.full:
            committer.commit()
        return
    # Small files are read here, not ahead on other threads: handing each to a reader (and
    # the GIL back and forth) cost more than reading it, cached or not.
    small = _read_small(item) if item.size <= SMALL_FILE else None
    if item.size > SMALL_FILE and committer.pending:
        committer.commit()
    committer.add_pending(_write_entry(vault, committer, item, replaced, env, progress, small))
    if item.size > SMALL_FILE or committer.full:
        committer.commit()


def _store_all(
    vault: UnlockedVault,
    committer: Committer,
    planned: list[Planned] | SourcePlan,
    skip: dict[str, int],
    live: dict[str, Located],
    replace: bool,
    env: Env,
    progress: Callable[[int], None] | None,
) -> int:
    """Store every planned file but those SKIP names (identical and already in the vault,
    counted up front), in order; returns how many the helper process sealed."""
    todo = (item for item in planned if skip.pop(item.stored, None) is None)
    ahead = 0
    sealing = _sealed_ahead(vault, todo, live, replace, env, _small_files(planned))
    with contextlib.closing(sealing):  # however the loop ends: the helper never outlives it
        for item, sealed in sealing:
            ahead += sealed is not None
            replaced = _replaced(live, item, replace)
            _store_one(vault, committer, item, replaced, env, progress, sealed)
    return ahead


def _small_files(planned: list[Planned] | SourcePlan) -> int:
    if isinstance(planned, SourcePlan):
        return planned.need.files - planned.need.large_files
    return sum(1 for item in planned if item.size <= SMALL_FILE)


def _write_sealed(
    committer: Committer,
    item: Planned,
    replaced: tuple[str, ...],
    env: Env,
    progress: Callable[[int], None] | None,
    sealed: Sealed,
) -> Located:
    """SEALED's entry into the current pack, and its index entry (the metadata the helper
    sealed: add_ahead.seal_small)."""
    writer = committer.entry(len(sealed.entry))
    offset = writer.position
    writer.write(sealed.entry)
    if progress:
        progress(item.size)
    user, host = env.actor.user, env.actor.host
    meta = FileMeta(
        item.stored, item.size, sealed.sha256, item.mtime_ns, sealed.added_at, user, host, replaced
    )
    file_id = sealed.file_id.hex()
    return file_entry(file_id, writer.name, offset, sealed.header_len, sealed.payload_len, meta)


def _sealed_ahead(
    vault: UnlockedVault,
    items: Iterable[Planned],
    live: dict[str, Located],
    replace: bool,
    env: Env,
    helped: int,
) -> Generator[tuple[Planned, Sealed | None], None, None]:
    """ITEMS in order, each small one with its entry when the helper process read and
    sealed it (vault/add_ahead.py), else None: stored here, the usual way. A clash is
    never sent: the parent refuses it in its place."""

    def task_of(item: Planned) -> bytes | None:
        if item.size > SMALL_FILE:
            return None
        try:
            replaces = _replaced(live, item, replace)
        except AlreadyExists:
            return None
        fields = (item.source, item.stored, item.size, item.mtime_ns, item.dev, item.ino)
        return encode_task(Task(*fields, replaces))

    def work(data: bytes) -> bytes:
        task = decode_task(data)
        planned = Planned(task.source, task.stored, task.size, task.mtime_ns, task.dev, task.ino)
        try:
            small = _read_small(planned)
        except Exception:  # the parent stores it itself, and refuses it with the usual error
            return b""
        actor = env.actor
        return seal_small(
            vault, task, small.data, small.sha256, env.timestamp, actor.user, actor.host
        )

    # Shared: sealing keeps nothing open, and on its own the helper is the slower side.
    answer_of = lambda _item, answer: decode_answer(answer)  # noqa: E731
    return in_order(items, helped, task_of, work, answer_of, share=True)


def _refuse_clashes(
    live: dict[str, Located],
    planned: list[Planned] | SourcePlan,
    replace: bool,
    skip: dict[str, int],
    skip_existing: bool,
) -> None:
    """Nothing is written if a planned path is in the vault already (without --replace),
    unless SKIP holds it (identical: --skip-existing)."""
    if replace or not live:
        return
    if isinstance(planned, list):
        clashes = [p.stored for p in planned if p.stored in live and p.stored not in skip]
    else:
        clashes = sorted(path for path in planned.clashes(live) if path not in skip)
    if clashes:
        raise _already_in_vault(clashes[0], len(clashes) - 1, differ=skip_existing)


def _identical(
    live: dict[str, Located],
    planned: list[Planned] | SourcePlan,
    progress: Callable[[int], None] | None,
) -> dict[str, int]:
    """The planned paths already in the vault with the same size and SHA-256, with their
    sizes (each file that clashes is read once to hash it)."""
    if not live:
        return {}
    if isinstance(planned, SourcePlan):
        wanted = set(planned.clashes(live))
    else:
        wanted = {p.stored for p in planned if p.stored in live}
    found: dict[str, int] = {}
    if not wanted:
        return found
    for item in planned:
        stored = live.get(item.stored) if item.stored in wanted else None
        if stored is None or stored.size != item.size:
            continue
        if _sha256_of(item) == stored.sha256:
            found[item.stored] = item.size
            if progress:
                progress(item.size)
    return found


def _sha256_of(item: Planned, tally: ReadTally | None = None) -> str:
    """ITEM's SHA-256, read from the very file planned, which must not change meanwhile;
    TALLY, if given, is fed what was read."""
    with _reading(item) as fd:
        # Never more than size + 1 bytes: a file growing as fast as it is read must not
        # keep us here.
        if item.size >= HASH_IN_THREAD:
            count, digest = hash_fd(fd, item.size + 1, tally)
        else:
            count, digest = _hash_here(fd, item.size + 1, tally)
        if count != item.size:
            raise _changed(item.source)
    return digest.hexdigest()


def _hash_here(fd: int, limit: int, tally: ReadTally | None) -> tuple[int, hashlib._Hash]:
    digest = hashlib.sha256()
    count = 0
    while count < limit and (piece := os.read(fd, min(limit - count, 1 << 20))):
        digest.update(piece)
        if tally is not None:
            tally.update(piece)
        count += len(piece)
    return count, digest


@contextlib.contextmanager
def _reading(item: Planned) -> Iterator[int]:
    """A bare descriptor of the very file ITEM planned (a buffered file object costs an
    fstat and more per small file), which must be unchanged once read; an OSError is
    the source's (SourceUnreadable)."""
    try:
        fd = _open_planned_fd(item)
        try:
            yield fd
            check_unchanged(fd, item)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _unreadable(item.source, exc) from None


def _need(planned: list[Planned] | SourcePlan, skip: dict[str, int]) -> Need:
    """What storing PLANNED writes, less the files SKIP leaves out."""
    if isinstance(planned, SourcePlan):
        need = Need(**vars(planned.need))
        for item in planned if skip else ():
            if item.stored in skip:
                need.count(item.size, item.stored, item.size > SMALL_FILE, times=-1)
        return need
    need = Need()
    for item in planned:
        if item.stored not in skip:
            need.count(item.size, item.stored, item.size > SMALL_FILE)
    return need


def _already_in_vault(path: str, more: int = 0, differ: bool = False) -> AlreadyExists:
    others = f" (and {more} more)" if more else ""
    if differ:  # --skip-existing was given: these are not the same files
        return AlreadyExists(
            f"{path}{others} is already in the vault with other contents",
            hint="nothing was added; use --replace to store the new version",
        )
    return AlreadyExists(
        f"{path} is already in the vault{others}",
        hint="use --replace to store the new version, or --skip-existing to add only "
        "what is missing (an interrupted add, run again)",
    )


def _replaced(live: dict[str, Located], item: Planned, replace: bool) -> tuple[str, ...]:
    """The file ITEM replaces, if any. Nobody else can add to the vault meanwhile (the
    writer lock is held), but a file created among the sources since the check can clash:
    it is refused like any clash."""
    old = live.get(item.stored)
    if old is None:
        return ()
    if not replace:
        raise _already_in_vault(item.stored)
    return (old.file_id,)


@dataclass(frozen=True)
class ReadSmall:
    """A small file's contents and SHA-256, read whole before sealing."""

    data: bytes
    sha256: str


def _read_small(item: Planned) -> ReadSmall:
    with _reading(item) as fd:
        data = _read_at_most(fd, item.size + 1)
        if len(data) != item.size:
            raise _changed(item.source)
    return ReadSmall(data, hashlib.sha256(data).hexdigest())


def _read_at_most(fd: int, limit: int) -> bytes:
    """Up to LIMIT bytes from FD, fewer only at the end of the file."""
    pieces: list[bytes] = []
    got = 0
    while got < limit:
        piece = os.read(fd, limit - got)
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _write_entry(
    vault: UnlockedVault,
    committer: Committer,
    item: Planned,
    replaces: tuple[str, ...],
    env: Env,
    progress: Callable[[int], None] | None,
    small: ReadSmall | None,
) -> Located:
    """Seal ITEM into the current pack: SMALL is its contents, already read, or None for a
    large file, which is streamed from the source here."""
    file_id = random_bytes(16)
    fk = new_key()
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
        sealed = seal_entry(vault.keys, file_id, efmt.Kind.FILE, meta.encode(), item.size, fk=fk)
        return sealed, meta

    if small is not None:
        sealed, meta = seal(small.sha256)
        payload_len = sealed.payload_len
        writer = committer.entry(len(sealed.header) + payload_len)
        offset = writer.position
        enc = sealed.encryptor()
        writer.write(sealed.header + enc.update(small.data) + enc.finish_bytes())
        if progress:
            progress(item.size)
        return file_entry(file_id.hex(), writer.name, offset, len(sealed.header), payload_len, meta)
    # A large file's header holds its SHA-256: final only once the whole file was read. The
    # draft has the final header's length (a digest is always 64 hex digits) and cipher.
    draft, _ = seal(DIGEST_PLACEHOLDER)
    writer = committer.entry(len(draft.header) + draft.payload_len)
    offset = writer.position
    if writer.leave_hole(len(draft.header)):
        # Read once; the header fills the hole left for it (kernel file systems only).
        sealed, meta = seal(_write_large_once(item, draft, writer.write, progress))
        if len(sealed.header) != len(draft.header):
            raise AssertionError("an entry header's length changed with its digest")
        writer.fill_hole(sealed.header)
    else:
        # Read twice: first for the digest, so that the header is written before the payload
        # (front to back: what fusefat needs); the second read, which is encrypted, must give
        # the same bytes (same Poly1305 tally: crypto/same_content).
        first = ReadTally()
        sealed, meta = seal(_sha256_of(item, first))
        _write_large(item, sealed, first, writer.write, progress)
    header_len = len(sealed.header)
    return file_entry(file_id.hex(), writer.name, offset, header_len, sealed.payload_len, meta)


def _write_large_once(
    item: Planned,
    draft: SealedHeader,
    write: Callable[[bytes | memoryview], None],
    progress: Callable[[int], None] | None,
) -> str:
    """The payload, encrypted as the file is read, once; returns the SHA-256 of what was
    read (hashed on a worker meanwhile), for the header the caller writes."""
    try:
        with _open_planned(item) as handle:
            enc = draft.encryptor()
            # Never more than size + 1 bytes (see _write_large).
            count, digest = hash_and_encrypt(handle.readinto, item.size + 1, enc, write, progress)
            if count != item.size:
                raise _changed(item.source)
            check_unchanged(handle.fileno(), item)
            for piece in enc.finish():
                write(piece)
            return digest.hexdigest()
    except OSError as exc:
        raise _unreadable(item.source, exc) from None


def _write_large(
    item: Planned,
    sealed: SealedHeader,
    first: ReadTally,
    write: Callable[[bytes | memoryview], None],
    progress: Callable[[int], None] | None,
) -> None:
    """Header, then the payload encrypted as it is read again; refused if the file is not
    what its first read (tallied in FIRST) found."""
    try:
        with _open_planned(item) as handle:
            write(sealed.header)
            enc = sealed.encryptor()
            again = first.again()
            # Never more than size + 1 bytes: a file appended to as fast as it is read
            # must not keep add going (or fill the drive) before the size check.
            count = encrypt_stream(handle.readinto, item.size + 1, enc, write, again, progress)
            if count != item.size or not first.matches(again):
                raise _changed(item.source)
            check_unchanged(handle.fileno(), item)
            for piece in enc.finish():
                write(piece)
    except OSError as exc:
        # Writes to the drive raise MedvaultError (media_errors); a bare OSError is the source.
        raise _unreadable(item.source, exc) from None


def _open_planned(item: Planned) -> BufferedReader:
    """ITEM's file, opened without blocking and checked to be the very file planned."""
    return os.fdopen(_open_planned_fd(item), "rb")


def _open_planned_fd(item: Planned) -> int:
    fd = os.open(item.source, OPEN_FLAGS)
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode) or (
        item.ino and (st.st_dev, st.st_ino) != (item.dev, item.ino)
    ):
        os.close(fd)
        raise SourceUnreadable(
            f"{shown(item.source)} was replaced by another file while add was running",
            hint="add it again once nothing else is changing it",
        )
    return fd


def check_unchanged(fd: int, item: Planned) -> None:
    """The file read must still have the size and time planned: otherwise what was read
    may be a mix of two versions (a rewrite in place keeps the size)."""
    st = os.fstat(fd)
    if st.st_size != item.size or st.st_mtime_ns != item.mtime_ns:
        raise _changed(item.source)


def _changed(path: str) -> SourceUnreadable:
    return SourceUnreadable(
        f"{shown(path)} changed while it was being read",
        hint="it was not added; add it again once it is no longer being written",
    )
