"""Corpora for `medvault scan`: ordinary files that must raise no finding, and synthetic
PHI planted in CSV, TXT, XLSX and DOCX files that must be found. Used by
tests/unit/phi/test_scan_corpus.py and bench/bench_scan.py. Every person, number and code here is
generated; none belongs to anyone.

The ordinary corpus is built from what any Debian/Ubuntu machine or CI runner has
(Python's standard library sources, licence texts, package copyright files) plus generated
tables and prose full of PHI look-alikes: dates that are not birth dates, names that are
not patients, version numbers, phone numbers, UUIDs, hex ids, ISBNs, ZIP codes.
"""

from __future__ import annotations

import datetime as dt
import glob
import random
import shutil
import sysconfig
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def _words(text: str) -> list[str]:
    return text.split()


FIRST = _words(
    "Jane John Maria Wei Aisha Carlos Olga Kenji Fatima Liam Noor Pedro Grace Omar Ingrid "
    "Tomasz Priya Samuel Chloe Dmitri Amara Luca Hana Mateo Zoe Ravi Elena Kwame Sofia "
    "Yusuf"
)
LAST = _words(
    "Doe Smith Garcia Chen Okafor Novak Tanaka Haddad Murphy Silva Kowalski Patel Jensen "
    "Rossi Nguyen Ibrahim Moreau Fischer Alvarez Kim Johansson Mensah Costa Dubois Yilmaz "
    "Schmidt Lopez Brennan Sato Ortiz"
)
ICD10 = _words(
    "E11.9 I10 J45.909 M54.5 F32.9 E78.5 K21.9 N39.0 J06.9 R51.9 Z00.00 E03.9 G43.909 "
    "I25.10 C50.911 O80 S72.001A M17.11 F41.1 U07.1 D3A.00 Z3A.39"
)
INDICATORS = ("ssn", "dob_with_name", "mrn", "icd10", "hl7", "phi_header")
FORMATS = ("csv", "txt", "xlsx", "docx")


@dataclass
class Planted:
    path: Path
    format: str
    indicators: set[str] = field(default_factory=set)


# --- synthetic PHI --------------------------------------------------------------------


class Person:
    def __init__(self, rng: random.Random) -> None:
        self.first, self.last = rng.choice(FIRST), rng.choice(LAST)
        self.dob = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 33_000))
        area = rng.choice([a for a in range(1, 900) if a != 666])
        self.ssn = f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10_000):04d}"
        self.mrn = f"{rng.randrange(10**6, 10**8):08d}"
        self.icd = rng.choice(ICD10)
        self.rng = rng

    def name(self) -> str:
        return self.rng.choice([f"{self.last}, {self.first}", f"{self.first} {self.last}"])

    def date(self, value: dt.date | None = None) -> str:
        d = value or self.dob
        return self.rng.choice(
            [
                d.isoformat(),
                d.strftime("%m/%d/%Y"),
                d.strftime("%m/%d/%y"),
                d.strftime("%d.%m.%Y"),
                d.strftime("%d %b %Y"),
                d.strftime("%B %d, %Y"),
            ]
        )

    def ssn_text(self) -> str:
        digits = self.ssn.replace("-", "")
        return self.rng.choice([self.ssn, digits, self.ssn.replace("-", " ")])


# Table columns per indicator: (header, value), chosen so each indicator stands alone.
COLUMNS: dict[str, list[tuple[str, Callable[[Person], object]]]] = {
    "ssn": [("SSN", lambda p: p.ssn)],
    "dob_with_name": [
        ("Patient Name", lambda p: p.name()),
        ("DOB", lambda p: p.rng.choice([p.dob, p.date()])),  # a date cell, or text
    ],
    "mrn": [("MRN", lambda p: p.mrn)],
    "icd10": [("Diagnosis", lambda p: p.icd)],
}


# A header names a patient table when it has an identifier or a birth date (a diagnosis
# column beside "Visit" and "Notes" alone does not make one).
HEADER_MAKERS = {"ssn", "dob_with_name", "mrn"}


def _table(rng: random.Random, chosen: list[str]) -> tuple[list[str], list[list[object]]]:
    header = ["Visit", *[h for ind in chosen for h, _ in COLUMNS[ind]], "Notes"]
    rows = []
    for i in range(rng.randrange(3, 30)):
        person = Person(rng)
        values = [v(person) for ind in chosen for _, v in COLUMNS[ind]]
        rows.append([i + 1, *values, rng.choice(["follow-up", "new", "", "labs pending"])])
    return header, rows


def _note(rng: random.Random, chosen: list[str]) -> list[str]:
    """A clinical note in free text with the chosen indicators, among ordinary lines."""
    p = Person(rng)
    lines = [rng.choice(["Clinic visit summary", "Referral", "Discharge note", "Lab report"])]
    if "dob_with_name" in chosen:
        who = rng.choice(["Patient", "Name", "Patient name", "Pt name", "PATIENT"])
        born = rng.choice(["DOB", "Date of birth", "D.O.B.", "dob", "Birth date"])
        lines += [f"{who}: {p.name()}", f"{born}: {p.date()}"]
    else:
        lines.append("Patient seen today in clinic.")
    if "mrn" in chosen:
        label = rng.choice(
            ["MRN", "Med Rec #", "Patient ID", "Medical record number", "Chart #", "mrn"]
        )
        lines.append(f"{label}: {p.mrn}")
    if "ssn" in chosen:
        label = rng.choice(["SSN", "Social Security No.", "SS#", "Social Security Number"])
        lines.append(f"{label}: {p.ssn_text()}")
    if "icd10" in chosen:
        codes = ", ".join(rng.sample(ICD10, rng.randrange(1, 3)))
        lines.append(f"{rng.choice(['Dx', 'Diagnosis', 'ICD-10', 'Diagnosis codes'])}: {codes}")
    lines += ["Plan: continue current medication, review in 4 weeks.", "Signed, clinic staff"]
    return lines


def _hl7(rng: random.Random) -> str:
    p = Person(rng)
    stamp = dt.datetime(2024, 1, 1) + dt.timedelta(minutes=rng.randrange(500_000))
    return "\r".join(
        [
            f"MSH|^~\\&|LAB|GENHOSP|EHR|GENHOSP|{stamp:%Y%m%d%H%M}||ORU^R01|{rng.randrange(10**6)}"
            "|P|2.5",
            f"PID|1||{p.mrn}^^^GENHOSP^MR||{p.last}^{p.first}||{p.dob:%Y%m%d}|F",
            "OBR|1||555|CBC^Complete blood count",
            "OBX|1|NM|HGB^Hemoglobin||13.5|g/dL|12-16|N",
        ]
    )


def _header_expected(chosen: list[str]) -> set[str]:
    return {"phi_header"} if HEADER_MAKERS & set(chosen) else set()


def _chosen(rng: random.Random) -> list[str]:
    pool = ["ssn", "dob_with_name", "mrn", "icd10"]
    return sorted(rng.sample(pool, rng.randrange(1, len(pool) + 1)), key=pool.index)


def planted_corpus(dest: Path, count: int = 120, seed: int = 11) -> list[Planted]:
    """COUNT files with synthetic PHI, spread evenly over CSV, TXT, XLSX and DOCX; each
    knows which indicators were planted in it."""
    import docx
    import openpyxl

    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    out: list[Planted] = []
    for i in range(count):
        fmt = FORMATS[i % len(FORMATS)]
        chosen = _chosen(rng)
        item = Planted(dest / f"record-{i:04d}.{fmt}", fmt, set(chosen))
        if fmt == "csv":
            header, rows = _table(rng, chosen)
            item.indicators |= _header_expected(chosen)
            text = [",".join(header)] + [",".join(map(str, r)) for r in rows]
            item.path.write_text("\n".join(text) + "\n")
        elif fmt == "txt":
            if i % 8 == 1:
                item.indicators = {"hl7"}
                item.path = item.path.with_suffix(".hl7")
                item.path.write_text(_hl7(rng) + "\r")
            else:
                item.path.write_text("\n".join(_note(rng, chosen)) + "\n")
        elif fmt == "xlsx":
            header, rows = _table(rng, chosen)
            item.indicators |= _header_expected(chosen)
            book = openpyxl.Workbook()
            sheet = book.active
            assert sheet is not None
            sheet.title = "Export"
            sheet.append(header)
            for row in rows:
                sheet.append(row)
            book.save(item.path)
        else:
            document = docx.Document()
            if i % 2:
                for line in _note(rng, chosen):
                    document.add_paragraph(line)
            else:
                header, rows = _table(rng, chosen)
                item.indicators |= _header_expected(chosen)
                document.add_paragraph("Weekly clinic list")
                table = document.add_table(rows=len(rows) + 1, cols=len(header))
                for r, values in enumerate([header, *rows]):
                    for c, value in enumerate(values):
                        table.cell(r, c).text = str(value)
            document.save(str(item.path))
        out.append(item)
    return out


# --- ordinary files -------------------------------------------------------------------

WORDS = _words(
    "the of and to in is for on that with as by this from be are at or it an was which "
    "system data file report meeting project budget release version update server network "
    "quarterly review schedule team results analysis design build test deploy customer "
    "invoice order shipment warehouse product catalogue price total summary notes agenda"
)
PEOPLE = [f"{f} {last}" for f, last in zip(FIRST, LAST, strict=True)]


def _prose(rng: random.Random, lines: int) -> str:
    out = []
    for _ in range(lines):
        words = [rng.choice(WORDS) for _ in range(rng.randrange(6, 16))]
        out.append(" ".join(words).capitalize() + ".")
    return "\n".join(out) + "\n"


def _lookalikes(rng: random.Random) -> str:
    """Numbers, dates and names that are not PHI, the way ordinary documents hold them."""
    day = dt.date(2000, 1, 1) + dt.timedelta(days=rng.randrange(9000))
    person = rng.choice(PEOPLE)
    lines = [
        f"Release {rng.randrange(1, 20)}.{rng.randrange(0, 30)}.{rng.randrange(0, 99)} "
        f"published {day.isoformat()} by {person}.",
        f"Meeting with {person} on {day:%m/%d/%Y} about the {rng.choice(WORDS)} budget.",
        f"Call {rng.randrange(200, 999)}-{rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}"
        f" or +1 ({rng.randrange(200, 999)}) {rng.randrange(200, 999)}-"
        f"{rng.randrange(1000, 9999)} before {day:%B %d, %Y}.",
        f"Order id {uuid.UUID(int=rng.getrandbits(128))}, commit {rng.getrandbits(160):040x}.",
        f"ISBN 978-{rng.randrange(0, 9)}-{rng.randrange(100, 999)}-{rng.randrange(10000, 99999)}-"
        f"{rng.randrange(0, 9)}; ZIP {rng.randrange(10000, 99999)}-{rng.randrange(1000, 9999)}.",
        f"Invoice {rng.randrange(10**8, 10**9)} dated {day:%d %b %Y}, amount "
        f"${rng.randrange(100, 99999)}.{rng.randrange(0, 99):02d}.",
        f"Part no. {rng.randrange(100, 999)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}"
        f" in stock since {day.year}; serial {rng.randrange(10**8, 10**9)}.",
        f"Name: {person}, Title: {rng.choice(['Engineer', 'Manager', 'Analyst'])}, "
        f"Start date: {day.isoformat()}",
        f"Version {rng.randrange(1, 9)}.{rng.randrange(0, 9)} (build {rng.randrange(10**5, 10**6)})"
        f", checksum {rng.getrandbits(64):016x}, IP 10.{rng.randrange(256)}.{rng.randrange(256)}"
        f".{rng.randrange(256)}",
        f"Room E11.9, gate I10, seat J45; latitude {rng.uniform(-90, 90):.6f}.",
    ]
    rng.shuffle(lines)
    return "\n".join(lines) + "\n"


def _part_number(rng: random.Random) -> str:
    """A catalogue number shaped like an SSN (3-2-4 digits), as many are."""
    return f"{rng.randrange(100, 999)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}"


def _numeric_csv(rng: random.Random) -> str:
    cols = rng.randrange(3, 9)
    header = ",".join(
        rng.choice(["id", "x", "y", "value", "count", "price", "qty", "ts"]) + str(c)
        for c in range(cols)
    )
    rows = [header]
    for _ in range(rng.randrange(10, 200)):
        rows.append(
            ",".join(
                str(
                    rng.choice(
                        [rng.randrange(10**9), round(rng.uniform(-1e4, 1e4), 3), rng.randrange(100)]
                    )
                )
                for _ in range(cols)
            )
        )
    return "\n".join(rows) + "\n"


def _sales_csv(rng: random.Random) -> str:
    rows = ["date,region,product,sku,units,revenue,sales rep"]
    for _ in range(rng.randrange(10, 100)):
        day = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(1500))
        rows.append(
            f"{day.isoformat()},{rng.choice(['North', 'South', 'EMEA'])},{rng.choice(WORDS)},"
            f"{rng.randrange(100, 999)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)},"
            f"{rng.randrange(1, 500)},{rng.uniform(10, 1e5):.2f},{rng.choice(PEOPLE)}"
        )
    return "\n".join(rows) + "\n"


def _system_files(limit_py: int, limit_prose: int) -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = sorted(
        p
        for p in stdlib.rglob("*.py")
        if "site-packages" not in p.parts and p.is_file() and p.stat().st_size < 256 * 1024
    )
    step = max(1, len(sources) // limit_py) if sources else 1
    prose = sorted(Path(p) for p in glob.glob("/usr/share/common-licenses/*"))
    prose += sorted(Path(p) for p in glob.glob("/usr/share/doc/*/copyright"))
    prose = [p for p in prose if p.is_file() and not p.is_symlink()]
    return sources[::step][:limit_py] + prose[:limit_prose]


def ordinary_corpus(
    dest: Path,
    minimum: int = 1000,
    seed: int = 7,
    system_py: int = 520,
    system_prose: int = 260,
    generated: int = 40,
) -> list[Path]:
    """At least MINIMUM ordinary files (no PHI) in DEST: up to SYSTEM_PY standard-library
    sources and SYSTEM_PROSE licence and copyright texts, GENERATED of each kind of
    generated table, prose and look-alike file (and half as many XLSX and DOCX); generated
    prose tops it up where the system has fewer files."""
    import docx
    import openpyxl

    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for i, source in enumerate(_system_files(system_py, system_prose)):
        target = dest / "system" / f"{i:04d}-{source.name}"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, target)
        files.append(target)
    out = dest / "generated"
    out.mkdir()
    makers: list[tuple[str, Callable[[], str]]] = [
        ("table-{}.csv", lambda: _numeric_csv(rng)),
        ("sales-{}.csv", lambda: _sales_csv(rng)),
        ("notes-{}.txt", lambda: _prose(rng, rng.randrange(5, 80))),
        ("misc-{}.md", lambda: _lookalikes(rng) + _prose(rng, 5)),
        ("log-{}.log", lambda: _lookalikes(rng) * 3),
    ]
    for n in range(generated):
        for pattern, make in makers:
            path = out / pattern.format(n)
            path.write_text(make())
            files.append(path)
    for n in range(generated // 2):
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["Date", "Item", "Owner", "Amount", "Ref"])
        for _ in range(rng.randrange(5, 40)):
            day = dt.date(2019, 1, 1) + dt.timedelta(days=rng.randrange(2000))
            sheet.append(
                [
                    day,
                    rng.choice(WORDS),
                    rng.choice(PEOPLE),
                    rng.uniform(1, 1e4),
                    _part_number(rng),
                ]
            )
        path = out / f"budget-{n}.xlsx"
        book.save(path)
        files.append(path)
        document = docx.Document()
        document.add_paragraph(f"Minutes of the {rng.choice(WORDS)} meeting")
        for line in _lookalikes(rng).splitlines():
            document.add_paragraph(line)
        table = document.add_table(rows=3, cols=3)
        for r in range(3):
            for c in range(3):
                table.cell(r, c).text = rng.choice([*PEOPLE, *WORDS, "2024-05-01"])
        path = out / f"minutes-{n}.docx"
        document.save(str(path))
        files.append(path)
    n = 0
    while len(files) < minimum:
        path = out / f"topup-{n}.txt"
        path.write_text(_prose(rng, 20) + _lookalikes(rng))
        files.append(path)
        n += 1
    return files


# --- scoring --------------------------------------------------------------------------


@dataclass
class Score:
    """Detection of planted PHI: per (file, indicator) pair, per indicator, and per format
    (a file counts as detected when every indicator planted in it is reported)."""

    pairs: int = 0
    hits: int = 0
    by_indicator: dict[str, list[int]] = field(default_factory=dict)  # name -> [hits, total]
    by_format: dict[str, list[int]] = field(default_factory=dict)
    missed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.hits / self.pairs if self.pairs else 0.0


def score(planted: list[Planted], found: dict[str, set[str]]) -> Score:
    """FOUND maps a planted file's name to the indicators the scan reported for it."""
    result = Score()
    for item in planted:
        got = found.get(item.path.name, set())
        for indicator in sorted(item.indicators):
            tally = result.by_indicator.setdefault(indicator, [0, 0])
            tally[1] += 1
            result.pairs += 1
            if indicator in got:
                tally[0] += 1
                result.hits += 1
            else:
                result.missed.append((item.path.name, indicator))
        per_format = result.by_format.setdefault(item.format, [0, 0])
        per_format[1] += 1
        per_format[0] += item.indicators <= got
    return result
