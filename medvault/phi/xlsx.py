"""XLSX workbooks: every sheet's rows, with shared strings resolved and date-formatted
numbers turned back into dates (a birth date is stored as a day count), read from the
XML with a bounded parser rather than a spreadsheet library."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from medvault.phi.model import Limits, Line, Reading, Skipped
from medvault.phi.ooxml import Package, local
from medvault.phi.tables import TableRows

_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_EPOCH_1900 = date(1899, 12, 30)  # Excel's day 0, leap-year bug included
_EPOCH_1904 = date(1904, 1, 1)
_MAX_SERIAL = 73_050  # 2099-12-31
# Built-in number formats that show a date (ECMA-376 18.8.30; 50-58 are East Asian).
_DATE_FORMATS = {14, 15, 16, 17, 22, 27, 28, 29, 30, 31, 34, 35, 36, *range(50, 59)}
_QUOTED = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')
_CELL_REF = re.compile(r"([A-Z]{1,3})(\d+)")


def xlsx_lines(package: Package, limits: Limits, reading: Reading) -> Iterator[Line]:
    sheets, epoch = _workbook(package)
    shared = _shared_strings(package, limits)
    dates = _date_styles(package)
    budget = limits.max_cells
    for sheet, part in sheets:
        rows = TableRows(limits)
        for number, cells in _rows(package, part, shared, dates, epoch, limits):
            budget -= len(cells)
            if budget < 0:
                reading.partial = True  # the first max_cells cells were read
                return
            located = [(col, value, f"{sheet}!{ref}") for col, ref, value in cells]
            line = rows.line(located, f"{sheet} row {number}")
            if line is not None:
                yield line


def _workbook(package: Package) -> tuple[list[tuple[str, str]], date]:
    """(sheet name, part name) in workbook order, and the date system's day 0."""
    targets: dict[str, str] = {}
    rels = "xl/_rels/workbook.xml.rels"
    if package.has(rels):
        for _, elem in package.iterparse(rels):
            if local(elem.tag) == "Relationship":
                target = elem.get("Target", "")
                part = target.lstrip("/") if target.startswith("/") else "xl/" + target
                targets[elem.get("Id", "")] = part
    sheets: list[tuple[str, str]] = []
    epoch = _EPOCH_1900
    for _, elem in package.iterparse("xl/workbook.xml"):
        name = local(elem.tag)
        if name == "sheet":
            part = targets.get(elem.get(_REL_ID, ""), "")
            if package.has(part):
                sheets.append((elem.get("name", part)[:64], part))
        elif name == "workbookPr" and elem.get("date1904", "0").lower() in ("1", "true"):
            epoch = _EPOCH_1904
    if not sheets:  # no usable relationships: every worksheet part, by name
        parts = sorted(n for n in package.names() if re.fullmatch(r"xl/worksheets/[^/]+\.xml", n))
        sheets = [(p.rsplit("/", 1)[1][:-4], p) for p in parts]
    return sheets, epoch


def _shared_strings(package: Package, limits: Limits) -> list[str]:
    part = "xl/sharedStrings.xml"
    strings: list[str] = []
    if not package.has(part):
        return strings
    for _, elem in package.iterparse(part):
        if local(elem.tag) == "si":
            text = "".join(t.text or "" for t in elem.iter() if local(t.tag) == "t")
            strings.append(text[: limits.max_line])
            elem.clear()
            if len(strings) > limits.max_cells:
                raise Skipped("refused", f"more than {limits.max_cells} shared strings")
    return strings


def _date_styles(package: Package) -> set[int]:
    """Indexes of the cell formats (cellXfs) that display numbers as dates."""
    part = "xl/styles.xml"
    found: set[int] = set()
    if not package.has(part):
        return found
    custom: dict[int, str] = {}
    index, inside = 0, False
    for event, elem in package.iterparse(part, ("start", "end")):
        name = local(elem.tag)
        if name == "cellXfs":
            inside = event == "start"
        elif event == "end" and name == "numFmt":
            custom[_int(elem.get("numFmtId"))] = elem.get("formatCode", "")
        elif event == "end" and name == "xf" and inside:
            fmt = _int(elem.get("numFmtId"))
            if fmt in _DATE_FORMATS or (fmt in custom and _is_date_code(custom[fmt])):
                found.add(index)
            index += 1
    return found


def _is_date_code(code: str) -> bool:
    bare = _QUOTED.sub("", code).lower()
    return "d" in bare or "y" in bare


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() else -1


def _rows(
    package: Package,
    part: str,
    shared: list[str],
    dates: set[int],
    epoch: date,
    limits: Limits,
) -> Iterator[tuple[str, list[tuple[int, str, str]]]]:
    """(row number, [(column index, cell reference, text)]) per row of one sheet. Each row
    is removed from the tree once read, so memory holds one row at a time."""
    sheet_data: Any = None
    cells: list[tuple[int, str, str]] = []
    for event, elem in package.iterparse(part, ("start", "end")):
        name = local(elem.tag)
        if event == "start":
            if name == "sheetData":
                sheet_data = elem
            continue
        if name == "c" and len(cells) < limits.max_columns:
            value = _value(elem, shared, dates, epoch)
            ref = elem.get("r", "")
            if value:
                cells.append((_column(ref, len(cells)), ref, value))
        elif name == "row":
            yield elem.get("r", "?"), cells
            cells = []
            if sheet_data is not None:
                sheet_data.remove(elem)
            else:
                elem.clear()


def _column(ref: str, fallback: int) -> int:
    m = _CELL_REF.fullmatch(ref)
    if m is None:
        return fallback
    n = 0
    for c in m.group(1):
        n = n * 26 + ord(c) - 64
    return n - 1


def _value(cell: Any, shared: list[str], dates: set[int], epoch: date) -> str:
    kind = cell.get("t", "n")
    raw = ""
    for child in cell:
        tag = local(child.tag)
        if tag == "v":
            raw = child.text or ""
        elif tag == "is":
            raw = "".join(t.text or "" for t in child.iter() if local(t.tag) == "t")
    if kind == "s":
        i = _int(raw)
        return shared[i] if 0 <= i < len(shared) else ""
    if kind == "n" and raw and _int(cell.get("s")) in dates:
        return _as_date(raw, epoch) or raw
    return raw


def _as_date(raw: str, epoch: date) -> str | None:
    try:
        serial = float(raw)
    except ValueError:
        return None
    if not 1 <= serial <= _MAX_SERIAL:
        return None
    return (epoch + timedelta(days=int(serial))).isoformat()
