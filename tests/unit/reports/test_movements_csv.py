"""The media-movement CSV never hands a spreadsheet a live formula (review I4): a cell that
starts with any character of the OWASP CSV-injection list is prefixed with a quote, in
every column, and other cells are written as they are."""

from __future__ import annotations

import csv
import io
from dataclasses import fields, replace
from typing import Any

import pytest

from medvault.reports.local_time import ReportZone
from medvault.reports.movements import COLUMNS, Movement, as_csv

PLAIN = Movement(
    seq=7,
    time_utc="2026-12-05T10:00:00Z",
    vault_id="ab" * 16,
    vault_label="Lab exports",
    action="add",
    os_user="lee",
    person="Dr Lee",
    host="ws-3",
    custodian_after="lee@ws-3",
    summary="2 file(s), 10 bytes",
    via="local",
    event_hash="cd" * 32,
)
TEXT_COLUMNS = [f.name for f in fields(Movement) if f.type == "str"]
# =, +, -, @ start a formula; a leading TAB or CR is skipped by some spreadsheets, which
# then read the formula after it.
LOS_ANGELES = ReportZone("America/Los_Angeles")
HOSTILE = ["=HYPERLINK(1)", "+1+1", "-1+1", "@SUM(A1)", "\t=HYPERLINK(1)", "\r=HYPERLINK(1)"]


def _cells(row: Movement) -> dict[str, str]:
    [parsed] = list(csv.DictReader(io.StringIO(as_csv([row], LOS_ANGELES), newline="")))
    return dict(parsed)


@pytest.mark.parametrize("value", HOSTILE)
def test_formula_starts_are_quoted_in_every_column(value: str) -> None:
    for column in TEXT_COLUMNS:
        changed: dict[str, Any] = {column: value}
        cells = _cells(replace(PLAIN, **changed))
        assert cells[column] == "'" + value, column


def test_ordinary_cells_are_unchanged() -> None:
    cells = _cells(replace(PLAIN, vault_label="Ward 7 = ICU\t(night)"))
    assert cells == {c: str(getattr(PLAIN, c)) for c in COLUMNS} | {
        "vault_label": "Ward 7 = ICU\t(night)",
        "time_local": "2026-12-05T02:00:00-08:00",  # added after the columns, not among them
        "time_zone": "America/Los_Angeles",
    }


@pytest.mark.parametrize("breaker", ["\r", "\n", "\r\n"])
def test_a_line_break_inside_a_cell_cannot_start_a_row(breaker: str) -> None:
    """A CR or LF inside a label stays inside its quoted cell: otherwise the text after it
    would begin a new row, whose first cell a spreadsheet could run as a formula."""
    value = f"Lab{breaker}=HYPERLINK(1)"
    rows = list(
        csv.reader(
            io.StringIO(as_csv([replace(PLAIN, vault_label=value)], LOS_ANGELES), newline="")
        )
    )
    assert len(rows) == 2  # the header and one event
    assert rows[1][COLUMNS.index("vault_label")] == value
