"""Synthetic PHI planted in one file of each format the scanner reads (CSV, TXT, HL7, XLSX,
DOCX), as the scan tests find it."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import docx
import openpyxl

# Synthetic, and distinctive enough that any appearance in the output is a leak.
FIRST, LAST = "Zelphine", "Quarterman"
DOB = dt.date(1958, 11, 23)
SSN = "287-65-4321"
MRN = "70451239"
ICD = "E11.9"
RAW = [FIRST, LAST, DOB.isoformat(), "11/23/1958", SSN, SSN.replace("-", ""), MRN, ICD]
TEXT_INDICATORS = {"ssn", "dob_with_name", "mrn", "icd10"}
HEADER = ["MRN", "Patient Name", "DOB", "SSN", "Diagnosis", "Notes"]
ROW = [MRN, f"{LAST}, {FIRST}", DOB, SSN.replace("-", ""), ICD, "follow-up in 2 weeks"]
NOTE = [
    "Clinic visit summary",
    f"Patient: {FIRST} {LAST}",
    f"Date of birth: {DOB:%m/%d/%Y}",
    f"MRN: {MRN}",
    f"SSN: {SSN}",
    f"Dx: {ICD}, I10",
    "Plan: review in four weeks.",
]
HL7 = (
    "MSH|^~\\&|LAB|GENHOSP|EHR|GENHOSP|202401021200||ORU^R01|4471|P|2.5\r"
    f"PID|1||{MRN}^^^GENHOSP^MR||{LAST}^{FIRST}||{DOB:%Y%m%d}|F\r"
    "OBX|1|NM|HGB^Hemoglobin||13.5|g/dL|12-16|N\r"
)


def plant(folder: Path) -> dict[str, set[str]]:
    """One file per format with synthetic PHI; returns the indicators each must show."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "export.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([HEADER, ROW])
    (folder / "note.txt").write_text("\n".join(NOTE) + "\n")
    (folder / "feed.hl7").write_text(HL7)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Clinic"
    sheet.append(HEADER)
    sheet.append(ROW)  # the DOB is a real date cell, stored as a day number
    book.save(folder / "list.xlsx")
    document = docx.Document()
    for line in NOTE:
        document.add_paragraph(line)
    table = document.add_table(rows=2, cols=len(HEADER))
    for c, (head, value) in enumerate(zip(HEADER, ROW, strict=True)):
        table.cell(0, c).text = head
        table.cell(1, c).text = str(value)
    document.save(str(folder / "letter.docx"))
    table_indicators = TEXT_INDICATORS | {"phi_header"}
    return {
        "export.csv": table_indicators,
        "note.txt": TEXT_INDICATORS,
        "feed.hl7": {"hl7"},
        "list.xlsx": table_indicators,
        "letter.docx": table_indicators,
    }
