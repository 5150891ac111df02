"""Masked samples: enough to recognise the kind of value, never the value itself."""

from __future__ import annotations


def ssn(digits: str) -> str:
    """The last four digits only, as printed on statements: ***-**-6789."""
    return f"***-**-{digits[-4:]}"


def identifier(label: str, value: str) -> str:
    """A record number: the label and the last two characters (MRN ******12)."""
    keep = value[-2:] if len(value) > 4 else ""
    return f"{label} {'*' * (len(value) - len(keep))}{keep}"


def code(value: str) -> str:
    """A diagnosis code: its chapter letter only (E11.9 -> E**.*)."""
    return value[0] + "".join("." if c == "." else "*" for c in value[1:])


def name(words: list[str]) -> str:
    """Initials only: Jane Doe -> J*** D***."""
    return " ".join(f"{w[0]}***" for w in words if w)


def date(text: str) -> str:
    """Every digit and letter masked but a four-digit year's century: 1961-03-04 ->
    19**-**-**, 4 March 1961 -> * ***** 19**."""
    out = []
    for i, c in enumerate(text):
        if c.isdigit():
            out.append(c if _in_century(text, i) else "*")
        else:
            out.append("*" if c.isalpha() else c)
    return "".join(out)


def _in_century(text: str, at: int) -> bool:
    """True if position AT is one of the first two digits of a run of exactly four."""
    start = at
    while start > 0 and text[start - 1].isdigit():
        start -= 1
    end = at
    while end < len(text) and text[end].isdigit():
        end += 1
    return end - start == 4 and at - start < 2
