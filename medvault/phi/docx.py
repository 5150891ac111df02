"""DOCX documents: the body's paragraphs, and its tables row by row (a first row of column
names labels the cells below it), read from word/document.xml with a bounded parser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from medvault.phi.model import Limits, Line
from medvault.phi.ooxml import Package, local
from medvault.phi.tables import TableRows

PART = "word/document.xml"


def _paragraph_text(paragraph: Any, limits: Limits) -> str:
    parts: list[str] = []
    for node in paragraph.iter():
        tag = local(node.tag)
        if tag == "t":
            parts.append(node.text or "")
        elif tag == "tab":
            parts.append("\t")
        elif tag in ("br", "cr"):
            parts.append(" ")
    return "".join(parts)[: limits.max_line]


def docx_lines(package: Package, limits: Limits) -> Iterator[Line]:
    stack: list[Any] = []
    paragraph = table = depth = row = 0
    rows = TableRows(limits)
    cell: list[str] = []
    cells: list[str] = []
    for event, elem in package.iterparse(PART, ("start", "end")):
        name = local(elem.tag)
        if event == "start":
            stack.append(elem)
            if name == "tbl":
                depth += 1
                if depth == 1:
                    table, row, rows = table + 1, 0, TableRows(limits)
            continue
        stack.pop()
        if name == "p":
            text = _paragraph_text(elem, limits)
            if depth:
                cell.append(text)  # a paragraph inside a table cell (or a nested table)
            else:
                paragraph += 1
                if text.strip():
                    yield Line(text, ((0, f"paragraph {paragraph}"),))
        elif name == "tc" and depth == 1:
            cells.append(" ".join(cell))
            cell = []
        elif name == "tr" and depth == 1:
            row += 1
            where = f"table {table} row {row}"
            line = rows.line([(i, v, where) for i, v in enumerate(cells)], where)
            cells = []
            elem.clear()
            if line is not None:
                yield line
        elif name == "tbl":
            depth -= 1
        if stack and local(stack[-1].tag) == "body":
            stack[-1].remove(elem)  # done with this block: keep memory to one at a time
