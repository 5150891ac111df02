"""PHI indicators over text: pure functions, one per indicator, each returning findings
with masked samples. Every detector wants a second signal (a label, a validity rule, a
header) before it reports, because a false alarm on every source tree would make the
scan useless: a bare nine-digit number, a date or a code-like word is never enough.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable
from dataclasses import replace

from medvault.phi import masking
from medvault.phi.columns import phi_columns
from medvault.phi.dates import date_at, dates_in
from medvault.phi.field_labels import labels
from medvault.phi.model import Chunk, Finding
from medvault.phi.person_names import SEPARATOR, labelled_full_names, names_near

# --- ssn ------------------------------------------------------------------------------

_SSN_DASHED = re.compile(r"(\d{3})-(\d{2})-(\d{4})(?![\w-])")
_SSN_LABEL = re.compile(
    r"(?:ssn|ss\#|ss[ .]?no\.?|soc(?:ial)?[ _.-]?sec(?:urity)?"
    r"(?:[ _.-]?(?:no|num|number|nbr|\#))?\.?)(?![a-z0-9])"
)
# After a label: nine digits, bare or grouped 3-2-4 by dashes or spaces.
_SSN_VALUE = re.compile(r"[\s:#=\"'>|.-]{0,6}(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-])")
# Words that make a dashed 3-2-4 number near them an SSN rather than a part number.
_SSN_CONTEXT = re.compile(
    r"(?:patient|dob|d\.o\.b|birth|mrn|medical|ssn|social|insured|member|beneficiary"
    r"|diagnos|employee)"
)
SSN_CONTEXT_WINDOW = 120  # characters either side
# Published or advertised numbers (Woolworth's wallet card, SSA's own ads, textbook
# examples): never issued to a person, common in samples and tests.
_SSN_KNOWN_FAKE = frozenset({"078051120", "219099999", "123456789", "457555462"})


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000. Also not a
    published example or an obvious placeholder: one digit repeated, each group one
    digit repeated (111-22-3333), or a run of consecutive digits (234-56-7890)."""
    digits = area + group + serial
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    if digits in _SSN_KNOWN_FAKE or all(len(set(g)) == 1 for g in (area, group, serial)):
        return False
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(digits)}
    return steps not in ({1}, {9})


def ssn(chunk: Chunk) -> list[Finding]:
    """A valid SSN right after an SSN label (dashed, spaced or nine bare digits), or a
    valid dashed NNN-NN-NNNN within SSN_CONTEXT_WINDOW characters of a patient word
    (patient, DOB, MRN...): alone, 3-2-4 is as often a part or catalogue number."""
    text = chunk.text
    hits: dict[int, str] = {}
    for label in labels(_SSN_LABEL, chunk.lower):
        m = _SSN_VALUE.match(text, label.end())
        if m and ssn_valid(m.group(1), m.group(3), m.group(4)):
            hits[m.start(1)] = m.group(1) + m.group(3) + m.group(4)
    context = [m.start() for m in labels(_SSN_CONTEXT, chunk.lower)]
    for m in _SSN_DASHED.finditer(text):
        at = m.start()
        if at in hits or (at and (text[at - 1].isalnum() or text[at - 1] in "-_")):
            continue  # a longer number or identifier, not a whole SSN
        near = bisect.bisect_left(context, at - SSN_CONTEXT_WINDOW)
        in_context = near < len(context) and context[near] <= at + SSN_CONTEXT_WINDOW
        if in_context and ssn_valid(*m.groups()):
            hits[at] = "".join(m.groups())
    return [_finding("ssn", at, masking.ssn(digits)) for at, digits in hits.items()]


# --- mrn ------------------------------------------------------------------------------

_MRN_LABEL = re.compile(
    r"(?:mrn|m\.r\.n\.?"
    r"|med(?:ical)?[ _.-]?rec(?:ord)?[ _.-]?(?:no|num|number|nbr|\#)\.?|med[ _.-]?rec"
    r"|patient[ _.-]?(?:id|no|num|number|nbr|\#)\.?|pt[ _.-]?(?:id|\#)"
    r"|chart[ _.-]?(?:no|num|number|\#)\.?)(?![a-z0-9])"
)
_MRN_VALUE = re.compile(r"[\s:#=\"'>|.-]{0,5}(?P<id>(?:[A-Za-z]{1,3}-?)?\d[\d-]{3,14}\d)(?![\w-])")
_RANGE_OR_DATE = re.compile(r"\d{4}-\d{2,4}(?:-\d{2})?")


def mrn(chunk: Chunk) -> list[Finding]:
    """A record-number label (MRN, Med Rec #, Patient ID, Chart No) and an id of five or
    more digits; year ranges and dates after such a label are not ids."""
    found: dict[int, Finding] = {}  # by the id's end: '"mrn": "MRN-<id>"' is one id
    for label in labels(_MRN_LABEL, chunk.lower):
        m = _MRN_VALUE.match(chunk.text, label.end())
        if m is None or m.end("id") in found:
            continue
        value = m.group("id")
        if sum(c.isdigit() for c in value) < 5 or _RANGE_OR_DATE.fullmatch(value):
            continue
        sample = masking.identifier("MRN", value)
        found[m.end("id")] = _finding("mrn", m.start("id"), sample)
    return list(found.values())


# --- icd10 ----------------------------------------------------------------------------

# "primary diagnosis", "admitting_dx": the qualifier needs no matching, the label does.
_ICD_LABEL = re.compile(
    r"(?:icd[ _-]?(?:10|9)?(?:[ _-]?cm)?|diagnos[ie]s|diag|dx)(?:[ _-]?codes?)?(?:\(s\))?"
    r"(?![a-z0-9])"
)
_ICD_SEPARATOR = re.compile(SEPARATOR)
_CODE = r"[A-Z]\d[0-9AB](?:\.[0-9A-Z]{1,4}|[0-9A-Z]{1,4})?"
_ICD_LIST = re.compile(rf"(?<![\w.])({_CODE})(?![\w.])(?:\s?[,;/]\s?|\s)?")
_ICD_THIRD_LETTER = frozenset({"C4A", "C7A", "C7B", "D3A", "M1A", "O9A", "Z3A"})
MAX_CODES = 12  # codes read after one label


def icd10_valid(code: str) -> bool:
    """ICD-10-CM shape: a chapter letter (U only for U07/U09, the emergency codes), two
    digits or one of the letter categories like C4A, then up to four more characters."""
    category = code[:3]
    if code[0] == "U" and category not in ("U07", "U09"):
        return False
    return category[2].isdigit() or category in _ICD_THIRD_LETTER


def icd10(chunk: Chunk) -> list[Finding]:
    """Codes right after a diagnosis/ICD/dx label and a separator (':', '=', a tab, a
    table column), as in "Dx" + ":" + "E11.9, I10". A bare space is not enough, so
    "ICD-10 code E11.9 covers..." in a coding guide is not a finding."""
    text = chunk.text
    out = []
    for label in labels(_ICD_LABEL, chunk.lower):
        sep = _ICD_SEPARATOR.match(text, label.end())
        if sep is None:
            continue
        pos = sep.end()
        for _ in range(MAX_CODES):
            m = _ICD_LIST.match(text, pos)
            if m is None or not icd10_valid(m.group(1)):
                break
            out.append(_finding("icd10", m.start(1), masking.code(m.group(1))))
            pos = m.end()
    return out


# --- dob_with_name --------------------------------------------------------------------

_DOB_LABEL = re.compile(
    r"(?:d\.o\.b\.?|dob|date[ _-]?of[ _-]?birth|birth[ _-]?date|birth[ _-]?dt"
    r"|born(?:[ _-]on)?|birthday)(?![a-z0-9])"
    r"[\s:#=\"'>|(-]{0,5}"
)
# "born on" and "birthday" are prose too ("she was born on March 4, 1961" in a biography):
# after them only a labelled name ("Patient: ...", "Name: ...") counts, not a bare one.
_PROSE_LABELS = ("born", "birthday")
NAME_WINDOW = 200  # characters either side of a labelled birth date
SAME_LINE_WINDOW = 60  # characters after a patient's name for an unlabelled date


def dob_with_name(chunk: Chunk) -> list[Finding]:
    """A date of birth next to a person's name: a birth-date label with a valid date and
    any name within NAME_WINDOW characters; or a name labelled as a patient's ('Patient: Doe,
    Jane') with a valid date later on the same line."""
    text = chunk.text
    out: list[Finding] = []
    dated: set[int] = set()  # dates already reported, so the second rule skips them
    for label in labels(_DOB_LABEL, chunk.lower):
        date = date_at(text, label.end(), labelled=True)
        if date is None:
            continue
        at = date.start()
        lo, hi = max(0, label.start() - NAME_WINDOW), min(len(text), date.end() + NAME_WINDOW)
        names = names_near(text, chunk.lower, lo, hi)
        if label.group().startswith(_PROSE_LABELS):
            names = [n for n in names if n.labelled]
        if names:
            name = min(names, key=lambda n: abs(n.start - at))
            sample = f"{masking.name(name.words)}, DOB {masking.date(date.group())}"
            # Anchored where the later of the two starts: the first chunk to hold both.
            out.append(_finding("dob_with_name", max(name.start, at), sample))
            dated.add(at)
    for name in labelled_full_names(text, chunk.lower):
        if not name.patient:
            continue  # "Name: Jane Doe, start date ..." is a staff list, not a patient
        line_end = text.find("\n", name.end)
        stop = min(name.end + SAME_LINE_WINDOW, len(text) if line_end < 0 else line_end)
        other = next((d for d in dates_in(text, name.end, stop) if d.start() not in dated), None)
        if other is not None:
            dated.add(other.start())
            sample = f"{masking.name(name.words)}, date {masking.date(other.group())}"
            out.append(_finding("dob_with_name", other.start(), sample))
    return out


# --- hl7 ------------------------------------------------------------------------------

_MSH = re.compile(r"^\x0b?MSH\|[\^~\\&#]{3,5}\|", re.MULTILINE)
_PID = re.compile(r"^\x0b?PID\|[^|\n]*\|(?:[^|\n]*\|){3}", re.MULTILINE)


def hl7(chunk: Chunk) -> list[Finding]:
    """HL7 v2 message headers (MSH|^~\\&|) and patient identification (PID) segments."""
    found = [
        _finding("hl7", m.start(), "MSH|^~\\&|... (HL7 v2 message)")
        for m in _MSH.finditer(chunk.text)
    ]
    found += [
        _finding("hl7", m.start(), "PID|... (HL7 patient segment)")
        for m in _PID.finditer(chunk.text)
    ]
    return found


# --- phi_header -----------------------------------------------------------------------


def phi_header(chunk: Chunk) -> list[Finding]:
    """A table header with a strong PHI column (MRN, SSN, DOB, patient name) or two
    clinical ones (diagnosis, ICD-10, encounter dates...), or one with a personal one."""
    found = []
    for cells, where in chunk.headers:
        columns = phi_columns(cells)
        if columns:
            found.append(Finding("phi_header", where, "columns: " + ", ".join(columns), -1))
    return found


# --- all ------------------------------------------------------------------------------

Detector = Callable[[Chunk], list[Finding]]
# One pass over the lower-cased chunk finds which detectors have anything to look at:
# ordinary text has few of these words, and the pass is cheaper than any detector.
_GATES = {
    "ssn": r"ssn|ss#|ss.?no|soc(?:ial)?.?sec|patient|dob|d\.o\.b|birth|mrn|medical|insured"
    r"|member|beneficiary|diagnos|employee",
    "dob_with_name": r"dob|d\.o\.b|birth|born|patient|pt.?name",
    "mrn": r"mrn|m\.r\.n|med.?rec|medical.?rec|patient|pt.?(?:id|#)|chart",
    "icd10": r"icd|diag|dx",
    "hl7": r"msh\||pid\|",
}
_GATE_PARTS = {name: re.compile(words) for name, words in _GATES.items()}
_GATE = re.compile("|".join(_GATES.values()))
DETECTORS: dict[str, Detector] = {
    "ssn": ssn,
    "dob_with_name": dob_with_name,
    "mrn": mrn,
    "icd10": icd10,
    "hl7": hl7,
}


def detect(chunk: Chunk) -> list[Finding]:
    """Every finding in CHUNK that starts in its fresh part, in text order."""
    found: list[Finding] = []
    wanted = _wanted(chunk.lower)
    for name, detector in DETECTORS.items():
        if name in wanted:
            found += [f for f in detector(chunk) if f.offset >= chunk.fresh_from]
    found.sort(key=lambda f: f.offset)
    places = chunk.where_all([f.offset for f in found])
    located = [replace(f, location=where) for f, where in zip(found, places, strict=True)]
    return phi_header(chunk) + located


def _wanted(lower: str) -> set[str]:
    """The detectors whose gate words occur in LOWER (each is tried where any gate word
    starts, since one word can open several gates: "patient")."""
    wanted: set[str] = set()
    for m in _GATE.finditer(lower):
        wanted |= {name for name, part in _GATE_PARTS.items() if part.match(lower, m.start())}
        if len(wanted) == len(_GATES):
            break
    return wanted


def _finding(indicator: str, offset: int, sample: str) -> Finding:
    """A finding whose location `detect` fills in (all at once, in one pass)."""
    return Finding(indicator, "", sample, offset)
