"""Column names of tables (CSV, TSV, XLSX, DOCX tables) that say a table is about patients.

Header cells are compared after folding: lower case, letters and digits only, so
"Date of Birth", "date_of_birth" and "DATE-OF-BIRTH" are all "dateofbirth".
"""

from __future__ import annotations

import re

# One of these alone marks a table as PHI: identifiers and birth dates.
STRONG = {
    "MRN": "mrn medicalrecordnumber medicalrecordno medicalrecord medrecno medrecnum medrec "
    "patientmrn patientid ptid chartnumber chartno",
    "SSN": "ssn socialsecuritynumber socialsecurityno socialsecurity socsecno patientssn",
    "DOB": "dob dateofbirth birthdate birthdt dtofbirth patientdob",
    "Patient name": "patientname ptname",
}
# Clinical columns: two of these, or one with a personal column, mark a table as PHI.
CLINICAL = {
    "Diagnosis": "diagnosis diagnoses diagnosiscode diagnosiscodes primarydiagnosis "
    "principaldiagnosis secondarydiagnosis admittingdiagnosis diag dx dxcode primarydx "
    "icd icd10 icd10cm icd10code icd9 icdcode",
    "Patient": "patient",
    "Encounter": "encounter encounterid visitdate admitdate admissiondate dischargedate "
    "dateofservice servicedate",
    "Procedure": "cpt cptcode procedure procedurecode",
    "Medication": "medication medications prescription allergies allergy",
    "Insurance": "insuranceid memberid policynumber subscriberid",
    "Provider": "attendingphysician physician provider",
}
PERSONAL = {
    "Name": "name fullname",
    "First name": "firstname givenname fname",
    "Last name": "lastname surname familyname lname",
    "Address": "address streetaddress street zip zipcode postalcode",
    "Phone": "phone phonenumber telephone email",
    "Sex": "sex gender age",
}


def _index(groups: dict[str, str]) -> dict[str, str]:
    return {key: label for label, keys in groups.items() for key in keys.split()}


_STRONG, _CLINICAL, _PERSONAL = _index(STRONG), _index(CLINICAL), _index(PERSONAL)
_FOLD = re.compile(r"[^a-z0-9]+")
MAX_HEADER = 64  # longer cells are data, not column names
MAX_HEADER_DIGITS = 3


def fold(cell: str) -> str:
    return _FOLD.sub("", cell.lower())


def label_for(cell: str) -> str | None:
    """The canonical label readers put before a cell's value ('DOB: <the date>'), so the
    text detectors see the column's meaning; None for columns that say nothing."""
    key = fold(cell)
    return _STRONG.get(key) or _CLINICAL.get(key) or _PERSONAL.get(key)


def phi_columns(cells: tuple[str, ...]) -> list[str]:
    """The canonical names of the columns that make this header PHI, or [] if it is not:
    one strong column, or two clinical ones, or one clinical and one personal."""
    keys = {fold(c) for c in cells if c and len(c) <= MAX_HEADER}
    strong = sorted({_STRONG[k] for k in keys if k in _STRONG})
    clinical = sorted({_CLINICAL[k] for k in keys if k in _CLINICAL})
    personal = sorted({_PERSONAL[k] for k in keys if k in _PERSONAL})
    if strong or len(clinical) >= 2 or (clinical and personal):
        return [*strong, *clinical, *personal]
    return []


def looks_like_header(cells: list[str]) -> bool:
    """A first row of names rather than data: two or more non-empty cells, each short,
    holding a letter and few digits ("address2", "icd10", not "SSN: <nine digits>")."""
    filled = [c for c in cells if c.strip()]
    return len(filled) >= 2 and all(
        len(c) <= MAX_HEADER
        and any(ch.isalpha() for ch in c)
        and sum(ch.isdigit() for ch in c) <= MAX_HEADER_DIGITS
        for c in filled
    )
