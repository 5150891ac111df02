"""Grouping lines into chunks for the detectors, with a short overlap between chunks so
that a name and a birth date a few lines apart are seen together even across a cut."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

from medvault.phi.model import Chunk, Limits, Line

CHUNK_CHARS = 256 * 1024
CHUNK_LINES = 1024
OVERLAP_CHARS = 512  # more than twice the detectors' widest window


def chunked(lines: Iterable[Line]) -> Iterator[Chunk]:
    buffer: list[Line] = []
    size = carried = 0
    for line in lines:
        buffer.append(line)
        size += len(line.text) + 1
        if size >= CHUNK_CHARS or len(buffer) >= CHUNK_LINES:
            yield _join(buffer, carried)
            buffer = _tail(buffer)
            size = sum(len(x.text) + 1 for x in buffer)
            carried = len(buffer)
    if len(buffer) > carried:
        yield _join(buffer, carried)


def _tail(lines: list[Line]) -> list[Line]:
    """The last lines of a chunk, up to OVERLAP_CHARS, to start the next one with."""
    kept: list[Line] = []
    size = 0
    for line in reversed(lines):
        size += len(line.text) + 1
        if size > OVERLAP_CHARS:
            break
        kept.append(line)
    return kept[::-1]


def _join(lines: list[Line], carried: int) -> Chunk:
    marks: list[tuple[int, str]] = []
    headers: list[tuple[tuple[str, ...], str]] = []
    pos = fresh = 0
    for i, line in enumerate(lines):
        if i == carried:
            fresh = pos
        marks += [(pos + offset, where) for offset, where in line.marks]
        if line.header and i >= carried:
            headers.append((line.header, line.marks[0][1] if line.marks else ""))
        pos += len(line.text) + 1
    text = "\n".join(x.text for x in lines)
    return Chunk(text, tuple(marks), fresh_from=fresh, headers=tuple(headers))


def text_chunks(stream: io.TextIOWrapper, limits: Limits) -> Iterator[Chunk]:
    """Plain text read in blocks of CHUNK_CHARS (extended to the end of the line, up to
    limits.max_line more), each starting with the last OVERLAP_CHARS of the one before.
    Locations are line numbers counted only for findings, so no per-line work is done."""
    line, carry = 1, ""
    while block := stream.read(CHUNK_CHARS):
        if not block.endswith("\n"):
            block += stream.readline(limits.max_line)
        text = carry + block
        yield Chunk(text, fresh_from=len(carry), first_line=line - carry.count("\n"))
        line += block.count("\n")
        cut = text.find("\n", max(0, len(text) - OVERLAP_CHARS))
        carry = text[cut + 1 :] if cut >= 0 else text[-OVERLAP_CHARS:]
