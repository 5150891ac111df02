"""Person names as exports write them: labelled ("Patient: Jane Doe", "last_name: Doe") or
bare ("Doe, Jane", "Jane Q. Doe"). Bare names are only trusted next to a birth-date label,
since two capitalised words are everywhere in prose."""

from __future__ import annotations

import re
from dataclasses import dataclass

from medvault.phi.field_labels import labels

# A capitalised word (O'Brien, McDonald, Smith-Jones) or an all-capitals one (DOE).
_WORD = r"(?:[A-Z][a-z]+(?:['\u2019-][A-Z]?[a-z]+|[A-Z][a-z]+)?|[A-Z]{2,}(?:['-][A-Z]{2,})?)"
_INITIAL = r"[A-Z]\.?"
_LAST_FIRST = rf"(?P<lf_last>{_WORD}),\s?(?P<lf_first>{_WORD})(?:\s(?:{_INITIAL}|{_WORD}))?"
_FIRST_LAST = rf"(?P<fl_first>{_WORD})(?:\s{_INITIAL})?\s(?P<fl_last>{_WORD})"
# Between a label and its value: a colon, '=', a tab, '|', a closing tag, JSON quotes.
SEPARATOR = r"[\"']?[ \t]*[:=>|\t][ \t]*[\"']?[ \t]*"

BARE = re.compile(rf"(?<![\w-])(?:{_LAST_FIRST}|{_FIRST_LAST})(?![\w-])")
# Labels, matched in lower-cased text (medvault.phi.field_labels); values in the original.
FULL_LABEL = re.compile(r"(?:patient[ _-]?name|pt[ _-]?name|full[ _-]?name|patient|name)")
PART_LABEL = re.compile(
    r"(?:first[ _-]?name|given[ _-]?name|last[ _-]?name|surname|family[ _-]?name)"
)
_FULL_VALUE = re.compile(SEPARATOR + rf"(?:{_LAST_FIRST}|{_FIRST_LAST})(?![\w-])")
_PART_VALUE = re.compile(SEPARATOR + rf"(?P<part>{_WORD})(?![\w-])")

# Capitalised words that are labels, titles, calendar or code words, not names.
NOT_NAMES = frozenset(
    [
        "patient",
        "name",
        "names",
        "date",
        "birth",
        "born",
        "dob",
        "mrn",
        "ssn",
        "sex",
        "male",
        "female",
        "age",
        "record",
        "records",
        "medical",
        "number",
        "id",
        "address",
        "phone",
        "diagnosis",
        "dx",
        "icd",
        "code",
        "codes",
        "the",
        "this",
        "that",
        "and",
        "of",
        "for",
        "none",
        "true",
        "false",
        "optional",
        "string",
        "str",
        "int",
        "text",
        "null",
        "unknown",
        "first",
        "last",
        "full",
        "given",
        "family",
        "middle",
        "mr",
        "mrs",
        "ms",
        "dr",
        "doctor",
        "nurse",
        "hospital",
        "clinic",
        "street",
        "avenue",
        "birthday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "today",
        "yesterday",
    ]
)


@dataclass(frozen=True)
class NameHit:
    start: int
    end: int
    words: list[str]
    patient: bool = False  # labelled as a patient's name, not just any name
    labelled: bool = True  # False for a bare "Jane Doe" or "Doe, Jane"


def _hit(match: re.Match[str], groups: tuple[str, ...]) -> NameHit | None:
    words = [match.group(g) for g in groups if match.group(g)]
    if not words or any(w.lower() in NOT_NAMES for w in words):
        return None
    return NameHit(match.start(), match.end(), words)


def _full(match: re.Match[str], patient: bool = False) -> NameHit | None:
    if match.group("lf_last"):
        hit = _hit(match, ("lf_first", "lf_last"))
    else:
        hit = _hit(match, ("fl_first", "fl_last"))
    if hit is not None and patient:
        return NameHit(hit.start, hit.end, hit.words, patient=True)
    return hit


def _bare(text: str, start: int, end: int) -> list[NameHit]:
    """Bare names; after a rejected match ("DOB Jane" in "DOB Jane Doe") the search
    resumes at the next word rather than after the match, so "Jane Doe" is still seen."""
    found: list[NameHit] = []
    pos = start
    while (match := BARE.search(text, pos, end)) is not None:
        hit = _full(match)
        if hit is not None:
            found.append(NameHit(hit.start, hit.end, hit.words, labelled=False))
            pos = match.end()
        else:
            pos = match.start() + 1
    return found


def labelled_full_names(
    text: str, lower: str, start: int = 0, end: int | None = None
) -> list[NameHit]:
    """'Patient: Jane Doe', 'name="Doe, Jane"': a name label followed by two or more words
    (`patient` says whether the label named a patient). LOWER is TEXT lower-cased."""
    found = []
    for label in labels(FULL_LABEL, lower, start, end, underscore=False):
        value = _FULL_VALUE.match(text, label.end())
        if value is not None:
            hit = _full(value, patient=label.group().startswith(("patient", "pt")))
            if hit is not None:
                found.append(NameHit(label.start(), hit.end, hit.words, hit.patient))
    return found


def names_near(text: str, lower: str, start: int, end: int) -> list[NameHit]:
    """Any name evidence in TEXT[START:END]: labelled full names, labelled first or last
    names, and bare 'Last, First' or 'First Last'."""
    found = labelled_full_names(text, lower, start, end)
    for label in labels(PART_LABEL, lower, start, end, underscore=False):
        value = _PART_VALUE.match(text, label.end())
        if value is not None and (hit := _hit(value, ("part",))) is not None:
            found.append(NameHit(label.start(), hit.end, hit.words))
    return found + _bare(text, start, end)
