"""Plain text: telling it from binary, choosing an encoding, and reading bounded lines."""

from __future__ import annotations

import codecs
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from medvault.phi.model import Limits, Line, Skipped

HEAD = 8192  # bytes sniffed for the encoding and for binary content
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Control bytes that do not occur in text (11 and 28 frame HL7 messages over MLLP).
_CONTROL = bytes(sorted(set(range(32)) - {9, 10, 11, 12, 13, 27, 28}))


def open_regular(path: Path) -> BinaryIO:
    """PATH opened for reading only if it is still a regular file: a symlink or a FIFO
    swapped in since the walk is refused rather than followed or blocked on."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Skipped("special", "not a regular file")
    return os.fdopen(fd, "rb")


def encoding_of(head: bytes) -> str | None:
    """The encoding to read a file with, or None if HEAD looks binary (a NUL byte without
    a UTF-16 byte-order mark, or many control characters)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if b"\x00" in head:
        return None
    controls = len(head) - len(head.translate(None, _CONTROL))
    if controls * 10 > len(head):
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of HEAD is still UTF-8.
        if exc.start < len(head) - 3:
            return "cp1252"
    return "utf-8"


class CappedReader(io.RawIOBase):
    """At most LIMIT bytes of SOURCE; `partial` says whether bytes were left unread."""

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._source = source
        self._left = limit
        self.consumed = 0
        self.partial = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._left <= 0:
            if not self.partial and self._source.read(1):
                self.partial = True
            return 0
        view = memoryview(buffer)[: self._left]
        data = self._source.read(len(view))
        view[: len(data)] = data
        self._left -= len(data)
        self.consumed += len(data)
        return len(data)


def text_stream(raw: CappedReader, encoding: str) -> io.TextIOWrapper:
    """Decoded text with every newline convention (\\n, \\r\\n, and HL7's \\r) read as \\n;
    undecodable bytes become U+FFFD rather than errors."""
    return io.TextIOWrapper(io.BufferedReader(raw), encoding=encoding, errors="replace")


def pieces(stream: io.TextIOWrapper, limits: Limits, number: int = 1) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line; a line longer than limits.max_line comes in
    pieces of that size, all with its number, so memory stays bounded."""
    while piece := stream.readline(limits.max_line):
        ended = piece.endswith("\n")
        yield number, piece.rstrip("\n")
        if ended:
            number += 1


def text_lines(stream: io.TextIOWrapper, limits: Limits, first: int = 1) -> Iterator[Line]:
    for number, text in pieces(stream, limits, first):
        yield Line(text, ((0, f"line {number}"),))
