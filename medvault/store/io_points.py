"""Named points at medvault's own I/O boundary, where a test can stop the process.

Every write, fsync, rename, directory fsync, unlink and index append that medvault makes
on a drive first calls `reached(kind, path)` (a rename also names its source). Outside
tests nobody observes the points and each costs one global lookup. A crash test installs
an observer that counts the points and kills the process at the k-th one, for every k
(tests/support/faults.py), the way SQLite's crash tests drive its VFS: this is how "a crash at
any moment leaves the vault openable" is proven. Knowing which fsync covers which write
also lets it model a power cut (what was not yet durable is lost), which tests that the
fsyncs are there and in the right order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

# The kinds of point, for figures and for observers that pick some of them.
WRITE = "write"
FSYNC = "fsync"
RENAME = "rename"
FSYNC_DIR = "fsync-dir"
UNLINK = "unlink"
INDEX_APPEND = "index-append"
TRUNCATE = "truncate"
CREATE = "create"
KINDS = (CREATE, WRITE, FSYNC, RENAME, FSYNC_DIR, UNLINK, INDEX_APPEND, TRUNCATE)

# (kind, path, source): source is the file being renamed onto path, else None.
Observer = Callable[[str, Path, Path | None], None]

_observer: Observer | None = None


def reached(kind: str, path: Path, source: Path | None = None) -> None:
    """Called just before the operation KIND on PATH is made."""
    if _observer is not None:
        _observer(kind, path, source)


@contextlib.contextmanager
def observed(observer: Observer) -> Iterator[None]:
    """Install OBSERVER for the duration of the block (one at a time)."""
    global _observer
    previous, _observer = _observer, observer
    try:
        yield
    finally:
        _observer = previous
