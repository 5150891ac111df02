"""Calendar dates in the forms exports use, validated (month, day, and a birth-year range)."""

from __future__ import annotations

import calendar
import re

MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
FIRST_YEAR, LAST_YEAR = 1900, 2099  # a date of birth outside this is not one

_MON = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\.?"
_BEFORE = r"(?<![\w./-])"
_AFTER = r"(?![\w/-]|\.\d)"
DATE = re.compile(
    _BEFORE
    + r"(?:"
    + r"(?P<iy>\d{4})(?P<isep>[-/.])(?P<im>\d{1,2})(?P=isep)(?P<id>\d{1,2})"
    + r"|(?P<na>\d{1,2})(?P<nsep>[-/.])(?P<nb>\d{1,2})(?P=nsep)(?P<ny>\d{4}|\d{2})"
    + rf"|(?P<dd>\d{{1,2}})(?:st|nd|rd|th)?[ -](?P<dm>{_MON})[ -],?\s?(?P<dy>\d{{4}})"
    + rf"|(?P<mm>{_MON})\s(?P<md>\d{{1,2}})(?:st|nd|rd|th)?,?\s(?P<my>\d{{4}})"
    + r"|(?P<cy>(?:19|20)\d{2})(?P<cm>0[1-9]|1[0-2])(?P<cd>0[1-9]|[12]\d|3[01])"
    + r")"
    + _AFTER,
    re.IGNORECASE,
)


def _ok(year: int, month: int, day: int) -> bool:
    if not (FIRST_YEAR <= year <= LAST_YEAR and 1 <= month <= 12):
        return False
    return 1 <= day <= calendar.monthrange(year, month)[1]


def _century(two: str) -> int:
    return 1900 + int(two) if int(two) > 30 else 2000 + int(two)


def is_date(match: re.Match[str], labelled: bool) -> bool:
    """A real calendar date in the birth-year range. Two-digit years and the compact
    YYYYMMDD form count only after a date-of-birth label (alone they are too common)."""
    g = match.group
    if g("iy"):
        return _ok(int(g("iy")), int(g("im")), int(g("id")))
    if g("ny"):
        if len(g("ny")) == 2 and not labelled:
            return False
        year = int(g("ny")) if len(g("ny")) == 4 else _century(g("ny"))
        a, b = int(g("na")), int(g("nb"))
        return _ok(year, a, b) or _ok(year, b, a)  # US month/day or European day/month
    if g("dy"):
        return _ok(int(g("dy")), MONTHS[g("dm")[:3].lower()], int(g("dd")))
    if g("my"):
        return _ok(int(g("my")), MONTHS[g("mm")[:3].lower()], int(g("md")))
    return labelled and _ok(int(g("cy")), int(g("cm")), int(g("cd")))


def date_at(text: str, pos: int, labelled: bool) -> re.Match[str] | None:
    """The valid date starting exactly at POS, if any."""
    found = DATE.match(text, pos)
    return found if found is not None and is_date(found, labelled) else None


def dates_in(text: str, start: int, end: int) -> list[re.Match[str]]:
    """Valid (unlabelled) dates within TEXT[START:END]."""
    return [m for m in DATE.finditer(text, start, end) if is_date(m, labelled=False)]
