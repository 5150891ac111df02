"""What the readers hand the detectors, what the detectors report, and the reading limits."""

from __future__ import annotations

import bisect
import string
from dataclasses import dataclass, field
from functools import cached_property

# The order in which counts are printed.
INDICATORS = ("ssn", "dob_with_name", "mrn", "icd10", "hl7", "phi_header")

MIB = 1024 * 1024
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


@dataclass(frozen=True)
class Finding:
    """One indicator at one place. SAMPLE is masked: it never holds the value found."""

    indicator: str
    location: str
    sample: str
    offset: int = field(default=0, compare=False)  # inside its chunk; for de-duplication


@dataclass(frozen=True)
class Chunk:
    """A piece of a file's text. MARKS are (offset, location) pairs in offset order: the
    location of any offset is that of the last mark at or before it (without marks, it is
    the line number counted from FIRST_LINE). Offsets before
    FRESH_FROM repeat the end of the previous chunk (so matches that span the cut are
    seen); findings that start there were already reported."""

    text: str
    marks: tuple[tuple[int, str], ...] = ()
    fresh_from: int = 0
    headers: tuple[tuple[tuple[str, ...], str], ...] = ()  # (a table's header cells, where)
    first_line: int = 0  # plain text: the line TEXT starts on (used when there are no marks)

    @cached_property
    def lower(self) -> str:
        """TEXT in lower case, offset for offset (labels are searched here, values are read
        from TEXT): str.lower, unless it changed the length (a dotted capital I)."""
        lowered = self.text.lower()
        return lowered if len(lowered) == len(self.text) else self.text.translate(_ASCII_LOWER)

    def where_all(self, offsets: list[int]) -> list[str]:
        """The locations of OFFSETS (in increasing order), lines counted in one pass."""
        if self.marks:
            keys = [mark[0] for mark in self.marks]
            return [self.marks[max(bisect.bisect_right(keys, o) - 1, 0)][1] for o in offsets]
        places, line, pos = [], self.first_line, 0
        for offset in offsets:
            line += self.text.count("\n", pos, offset)
            pos = offset
            places.append(f"line {line}")
        return places


class Skipped(Exception):
    """A file not scanned: KIND is "unsupported" (not a format we read), "refused" (over a
    limit, or XML with entities) or "unreadable" (an I/O error or a damaged file). REASON
    is ours, never the file's content."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class Line:
    """One line of text, a table row or a paragraph, with the locations inside it."""

    text: str
    marks: tuple[tuple[int, str], ...]
    header: tuple[str, ...] = ()  # set when this line is a table's header row


@dataclass
class Reading:
    """What a reader learnt about one file while reading it."""

    format: str = "text"
    partial: bool = False  # stopped at a limit: only the first part was scanned


@dataclass(frozen=True)
class Limits:
    """Bounds on what one file may cost: bytes read, line length, findings kept, and for
    XLSX/DOCX (ZIP archives of XML) entries, uncompressed sizes and the compression ratio."""

    max_bytes: int = 64 * MIB  # read at most this much of a text file
    max_line: int = 64 * 1024  # characters; longer lines are read in pieces
    max_findings: int = 60  # findings kept per file, a sixth per indicator (counts go on)
    max_zip_bytes: int = 256 * MIB  # an XLSX/DOCX file on disk
    max_zip_entries: int = 10_000
    max_zip_directory: int = 4 * MIB  # its central directory (10,000 records use ~1 MiB)
    max_xml_bytes: int = 32 * MIB  # one XML part, uncompressed
    max_zip_total: int = 128 * MIB  # all parts read from one archive, uncompressed
    max_ratio: int = 200  # uncompressed / compressed, for parts over 1 MiB
    max_cells: int = 2_000_000  # cells read from one workbook
    max_columns: int = 1_000  # per row; further cells are ignored
