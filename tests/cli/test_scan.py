"""`medvault scan`: planted PHI is found in CSV, TXT, XLSX and DOCX with masked samples
and never printed; each indicator and its validity rules; bounded reading (zip bombs,
oversized XML, XML entities, large files); symlinks, special files and vault folders; exit
codes. `scan --into` is in tests/media/test_scan_into.py, the 1,000-file corpus in
tests/unit/phi/test_scan_corpus.py."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from medvault.phi import scanner
from medvault.phi.detectors import detect, ssn_valid
from medvault.phi.model import MIB, Chunk, Limits
from medvault.phi.scanner import scan_path
from medvault.store import layout
from tests.conftest import Workspace
from tests.support.planted_phi import RAW, plant


def _assert_no_raw(output: str) -> None:
    for value in RAW:
        assert value not in output, f"{value!r} printed"


def test_planted_phi_is_found_in_every_format_and_never_printed(
    ws: Workspace, tmp_path: Path
) -> None:
    expected = plant(tmp_path / "drive")
    result = ws.cli("scan", tmp_path / "drive", "--json", passphrase=False)
    assert result.returncode == 1, result.stderr
    _assert_no_raw(result.stdout + result.stderr)
    report = json.loads(result.stdout)
    assert report["found"] is True
    assert report["files_scanned"] == 5
    found = {f["path"]: f for f in report["files"]}
    assert set(found) == set(expected)
    for name, indicators in expected.items():
        assert set(found[name]["counts"]) == indicators, name
        for finding in found[name]["findings"]:
            assert finding["location"]
            assert "*" in finding["sample"] or finding["indicator"] in ("hl7", "phi_header")
    samples = {x["sample"] for f in report["files"] for x in f["findings"]}
    assert "***-**-4321" in samples
    assert "MRN ******39" in samples
    assert "Z*** Q***, DOB 19**-**-**" in samples  # "Last, First" in the table
    assert "E**.*" in samples
    xlsx = found["list.xlsx"]["findings"]
    assert {x["location"] for x in xlsx if x["indicator"] == "mrn"} == {"Clinic!A2"}
    assert sum(report["counts"].values()) == sum(sum(f["counts"].values()) for f in report["files"])

    human = ws.cli("scan", tmp_path / "drive", passphrase=False)
    assert human.returncode == 1
    _assert_no_raw(human.stdout + human.stderr)
    assert "PHI indicators in 5 of 5 file(s)" in human.stdout
    assert "***-**-4321" in human.stdout
    for indicator in ("ssn", "dob_with_name", "mrn", "icd10", "hl7", "phi_header"):
        assert indicator in human.stdout


def _finds(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in detect(Chunk(text, first_line=1)):
        out.setdefault(f.indicator, []).append(f.sample)
    return out


@pytest.mark.parametrize(
    ("text", "indicator", "sample"),
    [
        ("SSN: 287-65-4321", "ssn", "***-**-4321"),
        ("ssn=287654321", "ssn", "***-**-4321"),
        ("Social Security No. 287 65 4321", "ssn", "***-**-4321"),
        ("patient Zed Q. Roe 287-65-4321 (insured)", "ssn", "***-**-4321"),
        (
            "DOB: 1958-11-23  Name: Zelphine Quarterman",
            "dob_with_name",
            "Z*** Q***, DOB 19**-**-**",
        ),
        ("Quarterman, Zelphine  D.O.B. 11/23/1958", "dob_with_name", "Z*** Q***, DOB **/**/19**"),
        ('{"patient": "Zelphine Quarterman", "birth_date": "23 Nov 1958"}', "dob_with_name", None),
        ("Patient: Quarterman, Zelphine  seen 2024-01-02", "dob_with_name", None),
        ("MRN: 70451239", "mrn", "MRN ******39"),
        ("Med Rec # A-7045123", "mrn", "MRN *******23"),
        ("<PatientID>70451239</PatientID>", "mrn", None),
        ("Dx: E11.9, I10; J45.909", "icd10", "E**.*"),
        ("primary_diagnosis\tC4A.9", "icd10", "C**.*"),
        ("ICD-10-CM: U07.1", "icd10", "U**.*"),
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5", "hl7", None),
        ("PID|1||123^^^H||Roe^Ann||19700101|F", "hl7", None),
    ],
)
def test_each_indicator(text: str, indicator: str, sample: str | None) -> None:
    found = _finds(text)
    assert indicator in found, (text, found)
    if sample is not None:
        assert sample in found[indicator]


@pytest.mark.parametrize(
    "text",
    [
        "Part no. 287-65-4321 in stock",  # 3-2-4 with no patient context is a part number
        "order 287654321 shipped",  # nine digits with no SSN label
        "See ICD-10 code E11.9 for type 2 diabetes",  # a label without a separator
        "diagnosis: the build is broken",  # a label without a code
        "Dx: U12.3",  # U is reserved except U07/U09
        "Dx: E1A.9",  # a letter third character only in the listed categories
        "She was born on March 4, 1961 in Paris, wrote as Jane Doe.",  # a biography
        "Name: Jane Doe, start date 2019-03-04",  # staff, not a patient
        "DOB: 1858-02-30",  # not a date
        "DOB field removed in release 2.4",
        "MRN: 2019-2020 annual report",  # a year range, not an id
        "patient portal sees 20,000 users",
        "| PID | USER | TIME |",
        "version 123-45-6789 is the advertised example",
    ],
)
def test_ordinary_text_raises_nothing(text: str) -> None:
    assert _finds(text) == {}


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("287-65-4321", True),
        ("001-01-0001", True),
        ("899-99-9999", True),
        ("000-12-3456", False),  # area 000
        ("666-12-3456", False),  # area 666
        ("900-12-3456", False),  # areas 900-999 (ITINs, never SSNs)
        ("987-65-4321", False),
        ("287-00-4321", False),  # group 00
        ("287-65-0000", False),  # serial 0000
        ("078-05-1120", False),  # Woolworth's wallet card
        ("219-09-9999", False),  # SSA advertisement
        ("123-45-6789", False),  # the textbook example
        ("111-11-1111", False),  # one digit repeated
        ("111-22-3333", False),  # each group one digit repeated
        ("234-56-7890", False),  # consecutive digits
        ("543-21-0987", False),  # consecutive, descending
    ],
)
def test_ssn_validity_rules(number: str, valid: bool) -> None:
    area, group, serial = number.split("-")
    assert ssn_valid(area, group, serial) is valid
    found = _finds(f"SSN: {number}").get("ssn", [])
    assert bool(found) is valid


def test_phi_header_needs_one_strong_or_two_clinical_columns(tmp_path: Path) -> None:
    cases = {
        "strong.csv": ("id,mrn,notes\n1,x,y\n", True),
        "clinical.csv": ("diagnosis,admit_date,ward\nflu,x,3\n", True),
        "clinical-personal.csv": ("Name,Diagnosis\nx,y\n", True),
        "one-clinical.csv": ("visit,diagnosis\n1,y\n", False),
        "personal.csv": ("name,email,phone\nx,y,z\n", False),
        "software.csv": ("name,version,license\nclick,8.1,BSD\n", False),
    }
    for name, (text, _) in cases.items():
        (tmp_path / name).write_text(text)
    report = scan_path(tmp_path)
    flagged = {f.rel for f in report.files if f.counts["phi_header"]}
    assert flagged == {name for name, (_, expect) in cases.items() if expect}
    strong = next(f for f in report.files if f.rel == "strong.csv")
    assert strong.findings[0].location == "line 1 (header)"
    assert strong.findings[0].sample == "columns: MRN"


def _bomb(path: Path, member: str, size: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open(member, "w") as out:
            block = b" " * MIB
            for _ in range(size // MIB):
                out.write(block)


def _scan_with_memory_cap(ws: Workspace, path: Path, cap_mib: int) -> dict[str, object]:
    """Run the real CLI with its address space capped: inflating a bomb would fail."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap_mib * MIB, cap_mib * MIB))

    result = subprocess.run(
        [sys.executable, "-m", "medvault", "scan", str(path), "--json"],
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,  # the test process runs no threads, so preexec_fn is safe
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_zip_bomb_is_refused_without_inflating_it(ws: Workspace, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    _bomb(drive / "bomb.xlsx", "xl/worksheets/sheet1.xml", 1024 * MIB)  # ~1 MiB on disk
    assert (drive / "bomb.xlsx").stat().st_size < 8 * MIB
    report = _scan_with_memory_cap(ws, drive, cap_mib=512)
    assert report["skipped"] == {**dict.fromkeys(scanner.SKIP_REASONS, 0), "refused": 1}
    [problem] = report["not_read"]  # type: ignore[misc]
    assert problem["path"] == "bomb.xlsx"
    assert "inflate" in problem["reason"] or "ratio" in problem["reason"]


def test_a_part_that_inflates_past_its_declared_size_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "liar.xlsx"
    _bomb(path, "xl/worksheets/sheet1.xml", 16 * MIB)
    raw = bytearray(path.read_bytes())
    # Claim 1,000 bytes in the central directory: zipfile then stops there and the
    # CRC check fails; nothing past the declared size is ever produced.
    name = b"xl/worksheets/sheet1.xml"
    central = raw.rfind(b"PK\x01\x02")
    assert raw[central + 46 : central + 46 + len(name)] == name
    raw[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    report = scan_path(tmp_path)
    assert report.files_scanned == 0
    assert report.skipped["unreadable"] + report.skipped["refused"] == 1


def test_oversized_xml_and_entities_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.docx"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("word/document.xml", "<w:document>" + "x" * (3 * MIB) + "</w:document>")
    laughs = tmp_path / "laughs.docx"
    entities = '<!ENTITY l0 "ha">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 9)
    )
    with zipfile.ZipFile(laughs, "w") as archive:
        archive.writestr(
            "word/document.xml", f'<?xml version="1.0"?><!DOCTYPE d [{entities}]><d>&l8;</d>'
        )
    report = scan_path(tmp_path, Limits(max_xml_bytes=2 * MIB))
    problems = {rel: reason for rel, kind, reason in report.problems if kind == "refused"}
    assert set(problems) == {"big.docx", "laughs.docx"}
    assert "would inflate to 3 MiB" in problems["big.docx"]
    assert "DTD or entities" in problems["laughs.docx"]


def test_large_text_files_are_read_only_up_to_the_cap(ws: Workspace, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    filler = ("ordinary log line with nothing in it\n" * 30_000).encode()  # ~1.1 MB
    (drive / "early.log").write_bytes(b"SSN: 287-65-4321\n" + filler * 2)
    (drive / "late.log").write_bytes(filler * 2 + b"SSN: 287-65-4321\n")
    result = ws.cli("scan", drive, "--json", "--max-mib", "1", passphrase=False)
    report = json.loads(result.stdout)
    assert [f["path"] for f in report["files"]] == ["early.log"]
    assert sorted(report["partial"]) == ["early.log", "late.log"]
    assert report["files"][0]["partial"] is True


def test_findings_kept_per_file_are_capped_but_counted(tmp_path: Path) -> None:
    rows = "\n".join(f"SSN: 287-65-{n:04d}" for n in range(1, 2001))
    (tmp_path / "many.txt").write_text(rows)
    [result] = scan_path(tmp_path).files
    assert result.counts["ssn"] == 2000
    assert len(result.findings) <= Limits().max_findings
    assert result.truncated
    assert result.findings[0].location == "line 1"
    assert result.findings[-1].location == f"line {len(result.findings)}"


def test_long_lines_and_line_numbers_across_chunks(tmp_path: Path) -> None:
    text = "x" * 3_000_000 + "\n" + "ordinary\n" * 100_000 + "Patient: Jane Roe\nDOB: 1958-11-23\n"
    (tmp_path / "long.txt").write_text(text)
    [result] = scan_path(tmp_path).files
    assert [(f.indicator, f.location) for f in result.findings] == [
        ("dob_with_name", "line 100003")
    ]


def test_symlinks_special_files_and_binaries_are_not_read(ws: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    plant(outside)
    drive = tmp_path / "drive"
    drive.mkdir()
    (drive / "link-to-file.txt").symlink_to(outside / "note.txt")
    (drive / "link-to-dir").symlink_to(outside, target_is_directory=True)
    (drive / "loop").symlink_to(drive, target_is_directory=True)
    os.mkfifo(drive / "pipe.csv")  # opening it would block
    (drive / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (drive / "fake.xlsx").write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 512)  # legacy/encrypted
    (drive / "readme.txt").write_text("Nothing to see here.\n")
    result = ws.cli("scan", drive, "--json", passphrase=False, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["files_scanned"] == 1
    assert report["skipped"]["symlink"] == 3
    assert report["skipped"]["special"] == 1
    assert report["skipped"]["unsupported"] == 2


def test_vault_folders_are_skipped(ws: Workspace, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    vault = drive / "MEDVAULT"
    (vault / "objects").mkdir(parents=True)
    (vault / "vault.mvh").write_bytes(b"\x00" * 64)
    plant(vault / "objects")  # nothing in a vault folder is read, whatever it holds
    plant(drive / "medvault-notes")  # a folder merely named like one is scanned
    report = json.loads(ws.cli("scan", drive, "--json", passphrase=False).stdout)
    assert report["skipped"]["vault"] == 1
    assert {f["path"].split("/")[0] for f in report["files"]} == {"medvault-notes"}
    # scanning the vault folder itself reads nothing
    inside = json.loads(ws.cli("scan", vault, "--json", passphrase=False).stdout)
    assert inside["files_scanned"] == 0
    assert inside["skipped"]["vault"] == 1


def test_vault_layout_names_agree_with_the_store() -> None:
    assert scanner.VAULT_DIRNAME == layout.VAULT_DIRNAME
    assert scanner.VAULT_HEADERS == (layout.HEADER_A, layout.HEADER_B)


def test_exit_codes(ws: Workspace, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "a.txt").write_text("nothing here\n")
    ok = ws.cli("scan", clean, passphrase=False)
    assert ok.returncode == 0
    assert "No PHI indicators found: 1 file(s)" in ok.stdout
    assert ws.cli("scan", clean / "a.txt", passphrase=False).returncode == 0
    plant(tmp_path / "dirty")
    assert ws.cli("scan", tmp_path / "dirty" / "note.txt", passphrase=False).returncode == 1
    missing = ws.cli("scan", tmp_path / "nope", passphrase=False)
    assert missing.returncode == 4
    assert "does not exist" in missing.stderr
    not_vault = ws.cli("scan", tmp_path / "dirty", "--into", clean, passphrase=False)
    assert not_vault.returncode == 4  # refused before scanning or asking for anything
    assert not_vault.stdout == ""
    assert ws.cli("scan", clean, "--max-mib", "0", passphrase=False).returncode == 2
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    assert ws.cli("scan", tmp_path / "dangling", passphrase=False).returncode == 8
