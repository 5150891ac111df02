"""Paths as shown to people, and the names FAT/exFAT (and Windows) refuse."""

from __future__ import annotations

import os
from pathlib import Path

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


def shown(path: Path | str, limit: int = SHOWN_MAX) -> str:
    """PATH for one line of output: bytes that are not UTF-8 and control characters
    escaped (\\xff, \\n), and anything longer than LIMIT cut to its end."""
    if type(path) is str and path.isascii() and path.isprintable():  # most paths: as is
        return path if len(path) <= limit else "..." + path[-(limit - 3) :]
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    if not text.isprintable():  # rare: checked per character only when needed
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
