"""Named points at medvault's own I/O boundary, where a test can stop the process.

Every write, fsync, rename, directory fsync, unlink and index append that medvault makes on
a drive first calls `reached(kind, path)`. Outside tests nobody observes the points and each
costs one global lookup. A crash test installs an observer that counts the points and kills
the process at the k-th one, for every k (tests/faults.py), the way SQLite's crash tests
drive its VFS: this is how "a crash at any moment leaves the vault openable" is proven.
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

Observer = Callable[[str, Path], None]

_observer: Observer | None = None


def reached(kind: str, path: Path) -> None:
    """Called just before the operation KIND on PATH is made."""
    if _observer is not None:
        _observer(kind, path)


@contextlib.contextmanager
def observed(observer: Observer) -> Iterator[None]:
    """Install OBSERVER for the duration of the block (one at a time)."""
    global _observer
    previous, _observer = _observer, observer
    try:
        yield
    finally:
        _observer = previous
