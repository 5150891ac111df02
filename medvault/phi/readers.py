"""Which reader a file gets, decided by its first bytes as much as by its name: a ZIP is
read as XLSX or DOCX only if it holds a workbook or a document, and anything else is read
as text unless it looks binary (CSV and TSV by their suffix). `chunks_of` hands the
detectors bounded chunks of any of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from medvault.phi.chunks import chunked, text_chunks
from medvault.phi.docx import docx_lines
from medvault.phi.model import Chunk, Limits, Line, Reading, Skipped
from medvault.phi.ooxml import Package, kind_of
from medvault.phi.tables import csv_lines
from medvault.phi.textfile import (
    HEAD,
    CappedReader,
    encoding_of,
    open_regular,
    text_stream,
)
from medvault.phi.xlsx import xlsx_lines

ZIP_MAGIC = b"PK\x03\x04"
OOXML_SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsx", ".docx": "docx", ".docm": "docx"}
TABLE_SUFFIXES = {".csv": None, ".tsv": "\t", ".tab": "\t", ".psv": "|"}
# Formats we know we do not read; named in the report instead of "binary".
KNOWN_BINARY = {
    b"%PDF": "PDF",
    b"\xd0\xcf\x11\xe0": "legacy Office or encrypted Office file",
    b"\x1f\x8b": "gzip archive",
    b"\x89PNG": "image",
    b"\xff\xd8\xff": "image",
}


def chunks_of(path: Path, limits: Limits, reading: Reading) -> Iterator[Chunk]:
    """The file's text in chunks. Raises Skipped for a file that is not read (binary,
    over a limit, damaged), possibly after some chunks; READING is filled in as it goes."""
    try:
        yield from _chunks(path, limits, reading)
    except OSError as exc:
        raise Skipped("unreadable", exc.strerror or exc.__class__.__name__) from None


def _chunks(path: Path, limits: Limits, reading: Reading) -> Iterator[Chunk]:
    with open_regular(path) as handle:
        head = handle.read(HEAD)
    suffix = path.suffix.lower()
    if head.startswith(ZIP_MAGIC):
        yield from chunked(_ooxml(path, limits, reading))
        return
    if suffix in OOXML_SUFFIXES:
        raise Skipped("unsupported", f"not an Office Open XML file ({_binary_kind(head)})")
    encoding = encoding_of(head)
    if encoding is None:
        raise Skipped("unsupported", _binary_kind(head))
    with open_regular(path) as handle:
        raw = CappedReader(handle, limits.max_bytes)
        with text_stream(raw, encoding) as stream:
            if suffix in TABLE_SUFFIXES:
                reading.format = suffix[1:]
                yield from chunked(csv_lines(stream, limits, TABLE_SUFFIXES[suffix]))
            else:
                yield from text_chunks(stream, limits)
        reading.partial = raw.partial


def _binary_kind(head: bytes) -> str:
    for magic, kind in KNOWN_BINARY.items():
        if head.startswith(magic):
            return kind
    return "binary file"


def _ooxml(path: Path, limits: Limits, reading: Reading) -> Iterator[Line]:
    kind = kind_of(path, limits)
    if kind is None:
        raise Skipped("unsupported", "ZIP archive (not XLSX or DOCX)")
    reading.format = kind
    with Package(path, limits) as package:
        if kind == "xlsx":
            yield from xlsx_lines(package, limits, reading)
        else:
            yield from docx_lines(package, limits)
