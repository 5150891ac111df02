"""Edges of the PHI detectors (medvault.phi.detectors), through `detect` as the scanner
calls it: each case pins what one rule is there for, by the exact findings (indicator,
offset in the chunk, masked sample) it gives. Written against the survivors of the
mutation campaign (bench/mutation.py): a boundary moved by one, a `continue` turned into a
`break`, a window that ignores the end of the line, a gate that forgets an earlier word.
Texts that exercise a skip put the skipped value BEFORE a real one, so a loop that stops
at the skip loses the real one."""

from __future__ import annotations

import pytest

from medvault.phi.detectors import SAME_LINE_WINDOW, SSN_CONTEXT_WINDOW, detect
from medvault.phi.model import Chunk, Finding

Found = list[tuple[str, int, str]]


def _found(text: str) -> Found:
    return [(f.indicator, f.offset, f.sample) for f in detect(Chunk(text, first_line=1))]


# --- ssn ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("patient 287-65-4321", [("ssn", 8, "***-**-4321")], id="whole"),
        pytest.param("patient (287-65-4321)", [("ssn", 9, "***-**-4321")], id="in-brackets"),
        pytest.param("287-65-4321 patient", [("ssn", 0, "***-**-4321")], id="at-offset-0"),
        pytest.param("patient A287-65-4321", [], id="after-a-letter"),
        pytest.param("patient 1287-65-4321", [], id="after-a-digit"),
        pytest.param("patient AB-287-65-4321", [], id="after-a-dash"),
        pytest.param("patient id_287-65-4321", [], id="after-an-underscore"),
        pytest.param("patient -287-65-4321", [], id="after-a-lone-dash"),
        # A number skipped as part of an identifier must not end the search.
        pytest.param(
            "patient A287-65-4321 and 287-65-4329",
            [("ssn", 25, "***-**-4329")],
            id="skipped-then-whole",
        ),
        pytest.param(
            "patient AB-287-65-4321 and 287-65-4329",
            [("ssn", 27, "***-**-4329")],
            id="dash-skipped-then-whole",
        ),
        # One found after its label is not found twice, and the search goes on after it.
        pytest.param(
            "SSN: 287-65-4321, patient 287-65-4329",
            [("ssn", 5, "***-**-4321"), ("ssn", 26, "***-**-4329")],
            id="labelled-then-context",
        ),
    ],
)
def test_a_dashed_ssn_must_be_a_whole_number(text: str, expected: Found) -> None:
    assert _found(text) == expected


_SSN = "287-65-4321"
_WORD = "patient"


def _word_after(gap: int) -> str:
    """The context word starting GAP characters after the number's start."""
    return _SSN + " " * (gap - len(_SSN)) + _WORD


def _word_before(gap: int) -> str:
    """The context word starting GAP characters before the number's start."""
    return _WORD + " " * (gap - len(_WORD)) + _SSN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(_word_after(SSN_CONTEXT_WINDOW), [("ssn", 0, "***-**-4321")], id="after-edge"),
        pytest.param(_word_after(SSN_CONTEXT_WINDOW + 1), [], id="after-edge+1"),
        pytest.param(_word_after(SSN_CONTEXT_WINDOW + 200), [], id="after-far"),
        pytest.param(
            _word_before(SSN_CONTEXT_WINDOW),
            [("ssn", SSN_CONTEXT_WINDOW, "***-**-4321")],
            id="before-edge",
        ),
        pytest.param(_word_before(SSN_CONTEXT_WINDOW + 1), [], id="before-edge+1"),
    ],
)
def test_ssn_context_window_is_exact_on_both_sides(text: str, expected: Found) -> None:
    assert _found(text) == expected


# --- mrn ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("MRN: 12-34", [], id="4-digits"),
        pytest.param("MRN: 12345", [("mrn", 5, "MRN ***45")], id="5-digits"),
        pytest.param("MRN: 123456", [("mrn", 5, "MRN ****56")], id="6-digits"),
        pytest.param("MRN: 1-2345", [("mrn", 5, "MRN ****45")], id="5-digits-dashed"),
        # A label with no id, a short id or a year range does not stop the search.
        pytest.param("MRN: none; MRN: 70451239", [("mrn", 16, "MRN ******39")], id="no-id-first"),
        pytest.param(
            "MRN: 12-34; chart no: 70451239", [("mrn", 22, "MRN ******39")], id="short-id-first"
        ),
        pytest.param(
            "MRN: 2019-2020; MRN: 70451239", [("mrn", 21, "MRN ******39")], id="range-first"
        ),
        # '"mrn": "MRN-<id>"' is one id (two labels); a later labelled id is still read.
        pytest.param(
            '"mrn": "MRN-70451239", "chart_no": "55512345"',
            [("mrn", 8, "MRN **********39"), ("mrn", 36, "MRN ******45")],
            id="one-id-two-labels-then-another",
        ),
    ],
)
def test_mrn_needs_five_digits_and_reads_every_label(text: str, expected: Found) -> None:
    assert _found(text) == expected


# --- icd10 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Dx: U07.1", [("icd10", 4, "U**.*")], id="U07"),
        pytest.param("Dx: U09.9", [("icd10", 4, "U**.*")], id="U09"),
        pytest.param("Dx: u09.9", [], id="lower-case-is-not-a-code"),
        pytest.param("Dx: U08.1", [], id="U08"),
        pytest.param("Dx: U10", [], id="U10"),
        # A label without a separator is skipped, not the end of the search.
        pytest.param(
            "ICD-10 code list\nDx: E11.9", [("icd10", 21, "E**.*")], id="bare-label-first"
        ),
    ],
)
def test_icd10_u_codes_and_labels_without_separator(text: str, expected: Found) -> None:
    assert _found(text) == expected


# --- dob_with_name --------------------------------------------------------------------

_ZQ = "Zelphine Quarterman"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # After a birth-date label, two-digit years and YYYYMMDD count.
        pytest.param(
            f"DOB: 11/23/58  Name: {_ZQ}",
            [("dob_with_name", 15, "Z*** Q***, DOB **/**/**")],
            id="labelled-two-digit-year",
        ),
        pytest.param(
            f"DOB: 19581123  Name: {_ZQ}",
            [("dob_with_name", 15, "Z*** Q***, DOB ********")],
            id="labelled-compact",
        ),
        # A label without a date is skipped, not the end of the search.
        pytest.param(
            f"DOB field removed. DOB: 1958-11-23 Name: {_ZQ}",
            [("dob_with_name", 35, "Z*** Q***, DOB 19**-**-**")],
            id="dateless-label-first",
        ),
        # "born on" is prose: a labelled name counts, a bare one does not.
        pytest.param(
            f"Name: {_ZQ}, born on March 4, 1961",
            [("dob_with_name", 35, "Z*** Q***, DOB ***** *, 19**")],
            id="born-on-labelled-name",
        ),
        pytest.param(
            "She was born on March 4, 1961 in Paris, wrote as Jane Doe.", [], id="born-on-bare"
        ),
        # The nearest name wins, whether it comes before or after the date.
        pytest.param(
            f"Name: Alpha Beta, ward 3, clinic notes follow. DOB: 1958-11-23 Name: {_ZQ}",
            [("dob_with_name", 63, "Z*** Q***, DOB 19**-**-**")],
            id="nearest-is-later",
        ),
        pytest.param(
            f"Name: Alpha Beta DOB: 1958-11-23, ward 3, clinic notes follow. Name: {_ZQ}",
            [("dob_with_name", 22, "A*** B***, DOB 19**-**-**")],
            id="nearest-is-earlier",
        ),
        # A date reported after its label is not reported again for the patient's line.
        pytest.param(
            f"Patient: {_ZQ} DOB: 1958-11-23",
            [("dob_with_name", 34, "Z*** Q***, DOB 19**-**-**")],
            id="labelled-once",
        ),
        # Patient name and a date later on the same line.
        pytest.param(
            f"Patient: {_ZQ} seen 2024-01-02",
            [("dob_with_name", 34, "Z*** Q***, date 20**-**-**")],
            id="same-line",
        ),
        pytest.param(
            f"Intro line\nPatient: {_ZQ} seen 2024-01-02",
            [("dob_with_name", 45, "Z*** Q***, date 20**-**-**")],
            id="same-line-after-another-line",
        ),
        pytest.param(f"Patient: {_ZQ}\nseen 2024-01-02\nend", [], id="date-on-next-line"),
        # A staff list is skipped, not the end of the search.
        pytest.param(
            f"Name: Jane Doe, start date 2019-03-04\nPatient: {_ZQ} seen 2024-01-02",
            [("dob_with_name", 72, "Z*** Q***, date 20**-**-**")],
            id="staff-then-patient",
        ),
        # Two patient labels before one date: one finding.
        pytest.param(
            f"patient: {_ZQ} | patient_name: {_ZQ} | 2024-01-02",
            [("dob_with_name", 67, "Z*** Q***, date 20**-**-**")],
            id="one-date-two-labels",
        ),
    ],
)
def test_dob_with_name(text: str, expected: Found) -> None:
    assert _found(text) == expected


@pytest.mark.parametrize(
    ("gap", "found"), [(SAME_LINE_WINDOW - 10, True), (SAME_LINE_WINDOW - 9, False)]
)
def test_same_line_window_ends_sixty_characters_after_the_name(gap: int, found: bool) -> None:
    """The whole date (10 characters) must end within SAME_LINE_WINDOW of the name."""
    head = f"Patient: {_ZQ}"
    text = head + " " * gap + "2024-01-02"
    at = len(head) + gap
    expected = [("dob_with_name", at, "Z*** Q***, date 20**-**-**")] if found else []
    assert _found(text) == expected


# --- phi_header and locations ---------------------------------------------------------


def test_phi_header_finding_comes_first_with_no_text_offset() -> None:
    """A header finding has no place in the text: offset -1, its location from the reader."""
    chunk = Chunk(
        "id,mrn,notes\n1,x,SSN: 287-65-4321",
        marks=((0, "line 1 (header)"), (13, "line 2")),
        headers=((("id", "mrn", "notes"), "line 1 (header)"),),
    )
    found = detect(chunk)
    assert found == [
        Finding("phi_header", "line 1 (header)", "columns: MRN"),
        Finding("ssn", "line 2", "***-**-4321"),
    ]
    assert [f.offset for f in found] == [-1, 22]


def test_findings_are_located_in_text_order() -> None:
    text = "Dx: E11.9\nnothing here\n\nMRN: 70451239 SSN: 287-65-4321\nDx: I10"
    found = detect(Chunk(text, first_line=7))
    assert [(f.indicator, f.location, f.offset) for f in found] == [
        ("icd10", "line 7", 4),
        ("mrn", "line 10", 29),
        ("ssn", "line 10", 43),
        ("icd10", "line 11", 59),
    ]


def test_marks_locate_findings_and_repeated_text_is_not_reported_again() -> None:
    text = "MRN: 70451239\nMRN: 70451240\nDx: E11.9"
    chunk = Chunk(text, marks=((0, "A1"), (14, "A2"), (28, "A3")), fresh_from=14)
    found = detect(chunk)
    assert [(f.indicator, f.location, f.sample) for f in found] == [
        ("mrn", "A2", "MRN ******40"),
        ("icd10", "A3", "E**.*"),
    ]


# --- gates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Each gate word opens its detectors for the whole chunk, wherever it is.
        pytest.param("Dx: E11.9; see chart", [("icd10", 4, "E**.*")], id="later-word-other-gate"),
        pytest.param(
            "chart ref; Dx: E11.9", [("icd10", 15, "E**.*")], id="earlier-word-other-gate"
        ),
        # "patient" alone opens three gates.
        pytest.param("Patient 287-65-4321", [("ssn", 8, "***-**-4321")], id="patient-opens-ssn"),
        pytest.param("Patient ID: 70451239", [("mrn", 12, "MRN ******39")], id="patient-opens-mrn"),
        pytest.param(
            f"Patient: {_ZQ} seen 2024-01-02",
            [("dob_with_name", 34, "Z*** Q***, date 20**-**-**")],
            id="patient-opens-dob",
        ),
        # Every gate open (the word scan stops early) and words after that.
        pytest.param(
            "Patient MRN: 70451239 Dx: E11.9\nMSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\nDx: I10",
            [
                ("mrn", 13, "MRN ******39"),
                ("icd10", 26, "E**.*"),
                ("hl7", 32, "MSH|^~\\&|... (HL7 v2 message)"),
                ("icd10", 75, "I**"),
            ],
            id="all-gates",
        ),
    ],
)
def test_gates_open_each_detector_its_words_name(text: str, expected: Found) -> None:
    assert _found(text) == expected
