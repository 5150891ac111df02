"""FAT32 as fusefat keeps it: an image's cluster size, files copied on the way fusefat keeps
them, and where a long file name's characters lie in a directory entry."""

from __future__ import annotations

import shutil
from pathlib import Path


def cluster_bytes(image: Path) -> int:
    """A FAT image's cluster size, from its boot sector (bytes per sector x sectors per
    cluster)."""
    with open(image, "rb") as handle:
        boot = handle.read(14)
    return int.from_bytes(boot[11:13], "little") * boot[13]


def copy_tree(source: Path, dest: Path) -> None:
    """Copy SOURCE's files to DEST, each a new file written front to back (as cp does;
    fusefat refuses chmod, so no shutil.copytree)."""
    for path in sorted(source.rglob("*")):
        target = dest / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def lfn_pieces(name: str) -> list[str]:
    """FAT long names are stored 13 UTF-16 characters per directory entry, in contiguous
    runs of 5, 6 and 2 characters; the 5- and 6-character runs are what a scan can match."""
    pieces = []
    for start in range(0, len(name), 13):
        chunk = name[start : start + 13]
        pieces += [p for p in (chunk[:5], chunk[5:11]) if len(p) >= 4]
    return pieces
