"""Tables (CSV, TSV, XLSX sheets, DOCX tables) as text the detectors understand: a first
row of column names becomes a header line, and every later cell is written after its
column's label ("DOB: <date> | MRN: <id>"), so a bare value in a column named
"ssn" or "diagnosis" has the context a label gives it in prose."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from medvault.phi.columns import label_for, looks_like_header
from medvault.phi.model import Limits, Line
from medvault.phi.textfile import pieces, text_lines

MAX_LABEL = 64
DELIMITERS = ",;\t|"

Cell = tuple[int, str, str]  # (column index, value, location)


class TableRows:
    """Turns the rows of one table into Lines, labelling cells by the header row."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._labels: dict[int, str] = {}
        self._started = False

    def line(self, cells: list[Cell], where: str) -> Line | None:
        cells = [(i, _clean(v, self._limits), loc) for i, v, loc in cells if v.strip()]
        if not cells:
            return None
        if not self._started:
            self._started = True
            values = [v for _, v, _ in cells]
            if looks_like_header(values):
                self._labels = {i: label_for(v) or v[:MAX_LABEL] for i, v, _ in cells}
                return Line(" | ".join(values), ((0, f"{where} (header)"),), tuple(values))
        parts: list[str] = []
        marks: list[tuple[int, str]] = []
        pos = 0
        for i, value, loc in cells:
            label = self._labels.get(i)
            text = f"{label}: {value}" if label else value
            marks.append((pos, loc))
            parts.append(text)
            pos += len(text) + 3
        return Line(" | ".join(parts), tuple(marks))


def _clean(value: str, limits: Limits) -> str:
    return " ".join(value[: limits.max_line].split())


def csv_lines(stream: io.TextIOWrapper, limits: Limits, delimiter: str | None) -> Iterator[Line]:
    """Rows of a delimited file, located by line number. The delimiter is guessed from
    the first line when not given; a file the csv module cannot parse (a field over its
    limit, a stray NUL) is read on as plain text from where it failed."""
    numbered = pieces(stream, limits)
    last = [0]

    def feed() -> Iterator[str]:
        for number, text in numbered:
            last[0] = number
            yield text

    lines = feed()
    first = next(lines, None)
    if first is None:
        return
    sep = delimiter or max(DELIMITERS, key=first.count)
    reader = csv.reader(_chain(first, lines), delimiter=sep)
    rows = TableRows(limits)
    start = 1
    try:
        for row in reader:
            where = f"line {start}"
            start = last[0] + 1
            cells = [(i, v, where) for i, v in enumerate(row[: limits.max_columns])]
            if (line := rows.line(cells, where)) is not None:
                yield line
    except csv.Error:
        yield from text_lines(stream, limits, last[0] + 1)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
