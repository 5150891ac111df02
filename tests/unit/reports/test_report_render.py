"""The lost-drive evidence pack renders truthfully: report.json matches its published schema,
report.html escapes everything staff typed, and a real browser shows the determination and
deadline on page 1 of the printout.

The browser tests run headless Chromium, poppler and tesseract when they are installed
(`apt-get install chromium poppler-utils tesseract-ocr fonts-dejavu-core`) and skip with
the reason otherwise. Nothing is mocked: the PNG is decoded here, byte by byte.
"""

from __future__ import annotations

import copy
import dataclasses
import html
import json
import os
import re
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from medvault.reports import lost_model
from medvault.reports.lost_model import REPORTABLE, SCHEMA_ID, SECURED, LostDriveReport
from medvault.reports.render_html import render_html
from medvault.reports.render_json import render_json
from tests.support.paths import REPO_ROOT
from tests.support.tools import find_chromium, run_tool

ROOT = REPO_ROOT
SCHEMA = json.loads((ROOT / "docs" / "lost-report.schema.json").read_text())
VAULT_ID = "5f0c3a9e7b1d4c2a8e6f0b3d9a7c1e52"
WIDTH, HEIGHT = 1200, 1600

# Banner background colours from render_html's CSS (.banner.secured / .banner.reportable).
GREEN = (0xE3, 0xF1, 0xE6)
RED = (0xFB, 0xE4, 0xE2)


# ---------------------------------------------------------------- example reports


def _hash(n: int) -> str:
    return f"{n:02x}" * 32


def _findings(failing: set[str]) -> list[lost_model.Finding]:
    good = [
        ("encryption", "Encrypted at rest", "Every file was AES-256-GCM encrypted on add."),
        ("key_not_on_drive", "Key not on the drive", "Only wrapped keys were on the drive."),
        ("escrow_key", "Escrow key uncompromised", "No compromise recorded for the key."),
        ("passphrase_policy", "Passphrase policy", "15+ character passphrase, Argon2id."),
        ("disclosures", "No plaintext disclosures", "No files were extracted to the drive."),
        ("plaintext_findings", "No plaintext found", "No plaintext scan finding recorded."),
        ("audit_chain", "Audit chain intact", "All 14 registry events chain correctly."),
    ]
    bad = {
        "key_not_on_drive": "A recovery code was printed and stored with the drive.",
        "disclosures": "The vault's passphrase is recorded as disclosed.",
    }
    return [
        lost_model.Finding(
            key=key,
            title=title,
            holds=key not in failing,
            statement=bad[key] if key in failing else statement,
            evidence=[f"event {i + 2}: {key} checked at 2026-11-14T10:0{i}:00Z by a.khan"],
        )
        for i, (key, title, statement) in enumerate(good)
    ]


def _timeline() -> list[lost_model.TimelineEntry]:
    rows = [
        ("2026-10-02T08:15:03.120000Z", "create", "j.doe (Jane Doe)", "vault created, 1 slot"),
        ("2026-10-02T08:20:41Z", "add", "j.doe (Jane Doe)", "412 files, 1.2 GiB"),
        ("2026-11-12T17:48:09Z", "extract", "j.doe", "2 files"),
    ]
    return [
        lost_model.TimelineEntry(i + 1, at, action, who, "ws-lab-07", summary, _hash(i + 1))
        for i, (at, action, who, summary) in enumerate(rows)
    ]


def make_report(*, secured: bool) -> LostDriveReport:
    """A full report; the reportable one has two failing findings and crosses both thresholds."""
    failing = set() if secured else {"key_not_on_drive", "disclosures"}
    findings = _findings(failing)
    # Secured: timestamps throughout. Reportable: a bare discovery date, as staff often give.
    discovered = "2026-11-13T16:05:00Z" if secured else "2026-11-13"
    notify_by = "2027-01-12T16:05:00Z" if secured else "2027-01-12"
    states = {"OR": 37} if secured else {"CA": 812, "NV": 428}
    individuals = sum(states.values())
    return LostDriveReport(
        schema=SCHEMA_ID,
        generated_at="2026-11-14T10:12:33.501234Z",
        generator="medvault 0.1.0",
        org_name="St. Example Clinic",
        org_id="3b0d7f52-9c1e-4f7a-a0b2-5d8e6c4f1a93",
        incident=lost_model.Incident(
            incident_id="INC-2291",
            vault_id=VAULT_ID,
            label="Lab exports Q4",
            discovered_at=discovered,
            reported_by="Jane Doe (lab manager)",
            recorded_at="2026-11-14T10:02:11Z",
            recorded_by="a.khan (Aisha Khan, privacy officer)",
            host="ws-privacy-01",
        ),
        determination=lost_model.Determination(
            secured=secured,
            conclusion=SECURED if secured else REPORTABLE,
            reasons=(
                ["All seven safe-harbor criteria hold: encrypted per NIST SP 800-111, key intact."]
                if secured
                else [f.statement for f in findings if not f.holds]
            ),
        ),
        findings=findings,
        encryption=lost_model.Encryption(
            payload="Cobblestone-256: AES-256-GCM, 16 KiB chunks, key-committing",
            file_keys="a random 256-bit key per stored file, wrapped under the vault key",
            key_wrap="AES-256 key wrap (RFC 3394)",
            kdf={"alg": "argon2id", "t": 3, "m_kib": 65536, "p": 4},
            escrow_suites=["mlkem768-x25519"],
            escrow_key_ids=["9f3c2a17b0e4d865"],
            standard="NIST SP 800-111 (storage encryption); FIPS 197 AES; SP 800-38D GCM",
        ),
        custody=lost_model.Custody(
            created_at="2026-10-02T08:15:03.120000Z",
            created_by="j.doe (Jane Doe)",
            current_custodian="Jane Doe",
            last_seen_at="2026-11-12T17:48:09Z",
            last_seen_host="ws-lab-07",
            last_seen_by="j.doe",
            timeline=_timeline(),
        ),
        contents=lost_model.Contents(
            individuals=individuals,
            states=states,
            categories=["lab results", "demographics"],
            files=410,
            bytes=1_288_490_188,
        ),
        deadlines=lost_model.Deadlines(
            discovered_at=discovered,
            notify_individuals_by=notify_by,
            individuals=individuals,
            notify_hhs_now=individuals >= 500,
            media_notice_states=[s for s, n in states.items() if n > 500],
            hhs_annual_log_by=None if individuals >= 500 else "2027-03-01",
        ),
        audit=lost_model.AuditIntegrity(
            chain_intact=True, events=14, head_hash=_hash(14), problem=None
        ),
    )


VARIANTS = {"secured": make_report(secured=True), "reportable": make_report(secured=False)}


def _visible(value: str) -> str:
    """How a UTC timestamp is shown to people (render_html shows minutes, not seconds)."""
    m = re.match(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})", value)
    return f"{m[1]} {m[2]} UTC" if m else value


# ---------------------------------------------------------------- report.json and its schema


def _validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(SCHEMA)


@pytest.mark.parametrize("variant", VARIANTS)
def test_json_is_asdict_and_validates(variant: str) -> None:
    report = VARIANTS[variant]
    text = render_json(report)
    assert text.endswith("}\n")
    data = json.loads(text)
    assert data == dataclasses.asdict(report)
    assert list(data) == [f.name for f in dataclasses.fields(LostDriveReport)]
    errors = [e.message for e in _validator().iter_errors(data)]
    assert errors == []


def test_json_keeps_non_ascii_readable() -> None:
    report = dataclasses.replace(VARIANTS["secured"], org_name="Clínica São José")
    assert "Clínica São José" in render_json(report)
    assert _validator().is_valid(json.loads(render_json(report)))


def _set(path: str, value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


_DELETE = object()

MUTATIONS = {
    "extra top-level property": _set("extra", 1),
    "extra nested property": _set("findings.0.severity", "high"),
    "extra timeline property": _set("custody.timeline.0.note", "x"),
    "wrong conclusion string": _set("determination.conclusion", "Secured"),
    "conclusion contradicts secured": _set("determination.conclusion", REPORTABLE),
    "secured with a failing finding": _set("findings.3.holds", False),
    "wrong schema id": _set("schema", "medvault/lost-drive-report/v2"),
    "vault id upper case": _set("incident.vault_id", VAULT_ID.upper()),
    "vault id too short": _set("incident.vault_id", VAULT_ID[:30]),
    "head hash not hex": _set("audit.head_hash", "z" * 64),
    "event hash too short": _set("custody.timeline.1.event_hash", "ab" * 31),
    "missing field": _set("deadlines.notify_hhs_now", _DELETE),
    "string count": _set("contents.files", "410"),
    "negative bytes": _set("contents.bytes", -1),
    "lower-case state": _set("contents.states", {"or": 37}),
    "timestamp with offset": _set("generated_at", "2026-11-14T10:12:33+02:00"),
    "problem on an intact chain": _set("audit.problem", "event 3 was altered"),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_schema_rejects_mutated_report(name: str) -> None:
    data = json.loads(render_json(VARIANTS["secured"]))
    bad = copy.deepcopy(data)
    MUTATIONS[name](bad)
    validator = _validator()
    assert validator.is_valid(data)
    assert not validator.is_valid(bad), f"schema accepted: {name}"


def test_reportable_needs_a_failing_finding() -> None:
    data = json.loads(render_json(VARIANTS["reportable"]))
    for finding in data["findings"]:
        finding["holds"] = True
    assert not _validator().is_valid(data)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        return _resolve(node["items"])
    return node


def _check_model_against_schema(cls: type, node: dict[str, Any], where: str) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    assert node.get("additionalProperties") is False, where
    assert sorted(node["required"]) == sorted(names), where
    assert sorted(node["properties"]) == sorted(names), where
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    for name, prop in node["properties"].items():
        assert prop.get("description"), f"{where}.{name} has no description"
        nested = getattr(lost_model, str(hints[name]).removeprefix("list[").removesuffix("]"), None)
        if dataclasses.is_dataclass(nested) and isinstance(nested, type):
            _check_model_against_schema(nested, _resolve(prop), f"{where}.{name}")


def test_schema_lists_exactly_the_model_fields() -> None:
    # Catches a field added to lost_model.py without a matching schema change, and back.
    _check_model_against_schema(LostDriveReport, SCHEMA, "report")


def test_reports_doc_names_every_field_and_finding() -> None:
    doc = (ROOT / "docs" / "REPORTS.md").read_text()
    assert "lost-report.schema.json" in doc and SCHEMA_ID in doc
    for field in dataclasses.fields(LostDriveReport):
        assert f"`{field.name}`" in doc, f"docs/REPORTS.md does not explain {field.name}"
    for finding in VARIANTS["secured"].findings:
        assert f"| `{finding.key}` |" in doc, f"docs/REPORTS.md lacks finding {finding.key}"


# ---------------------------------------------------------------- report.html as text


def _taint(value: Any, tags: list[str]) -> Any:
    """Append a unique HTML tag to every string in the report, dict keys included."""
    if isinstance(value, str):
        tags.append(f"<u id=t{len(tags)}>")
        return value + tags[-1]
    if isinstance(value, list):
        return [_taint(v, tags) for v in value]
    if isinstance(value, dict):
        return {_taint(k, tags): _taint(v, tags) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _taint(getattr(value, f.name), tags) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


@pytest.mark.parametrize("variant", VARIANTS)
def test_html_escapes_every_value(variant: str) -> None:
    tags: list[str] = []
    report = _taint(VARIANTS[variant], tags)
    tags.remove(report.incident.label.removeprefix("Lab exports Q4"))
    hostile = "<script>alert('x')</script>"
    report = dataclasses.replace(
        report, incident=dataclasses.replace(report.incident, label=hostile)
    )
    page = render_html(report).lower()
    assert "<script" not in page
    assert html.escape(hostile) in page
    for tag in tags:
        assert tag not in page, f"{tag} rendered raw"
    # Each value is not only escaped but shown: the pack hides nothing from the reader.
    missing = [t for t in tags if html.escape(t) not in page]
    assert missing == []


def test_html_is_self_contained() -> None:
    page = render_html(VARIANTS["reportable"])
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert page.count("<style>") == 1
    banned = (
        "<script",
        "<link",
        "<img",
        "<iframe",
        "src=",
        "url(",
        "@import",
        "//",
        "http:",
        "https:",
    )
    for forbidden in banned:
        assert forbidden not in page.lower().replace("</", ""), forbidden
    assert "default-src 'none'" in page
    assert "page-break-before: always" in page
    assert "@media print" in page


@pytest.mark.parametrize("variant", VARIANTS)
def test_html_summary_says_what_matters(variant: str) -> None:
    report = VARIANTS[variant]
    page = render_html(report)
    summary, details = page.split('<div class="details">')
    assert report.determination.conclusion.upper() in summary
    for reason in report.determination.reasons:
        assert html.escape(reason) in summary
    marks = [f.holds for f in report.findings]
    assert summary.count("✓") == marks.count(True)
    assert summary.count("✗") == marks.count(False)
    assert _visible(report.deadlines.notify_individuals_by) in summary
    assert VAULT_ID in summary and "Lab exports Q4" in summary
    for heading in ("Custody timeline", "Declared contents", "Audit chain integrity"):
        assert heading in details and heading not in summary
    for entry in report.custody.timeline:
        assert entry.event_hash in details


# ---------------------------------------------------------------- a real browser


@dataclass
class Browser:
    exe: str
    scratch: Path

    def run(self, page: Path, *flags: str) -> str:
        """Headless, root-safe, with a throwaway profile so nothing of the host leaks in."""
        env = {**os.environ, "HOME": str(self.scratch / "home")}
        argv = [
            self.exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={self.scratch / 'profile'}",
            *flags,
            page.as_uri(),
        ]
        return run_tool(argv, env).stdout


@dataclass
class Rendered:
    report: LostDriveReport
    html: Path
    png: Path
    pdf: Path
    dom: str


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    scratch = tmp_path_factory.mktemp("chromium")
    (scratch / "home").mkdir()
    return Browser(find_chromium(), scratch)


@pytest.fixture(scope="module", params=list(VARIANTS))
def rendered(
    request: pytest.FixtureRequest, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> Rendered:
    report = VARIANTS[request.param]
    out = tmp_path_factory.mktemp(request.param)
    page = out / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    png, pdf = out / "report.png", out / "report.pdf"
    browser.run(page, f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}")
    browser.run(page, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    dom = browser.run(page, "--dump-dom")
    return Rendered(report, page, png, pdf, dom)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _unfilter(kind: int, line: bytearray, prev: bytes, bpp: int) -> bytearray:
    if kind == 1:
        for i in range(bpp, len(line)):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif kind == 2:
        line = bytearray((x + y) & 0xFF for x, y in zip(line, prev, strict=True))
    elif kind == 3:
        for i in range(len(line)):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(len(line)):
            left, upleft = (line[i - bpp], prev[i - bpp]) if i >= bpp else (0, 0)
            line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xFF
    else:
        assert kind == 0, f"bad PNG filter type {kind}"
    return line


def decode_png(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """(width, height, rows of RGB pixels) of an 8-bit RGB/RGBA PNG, checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * bpp
    assert len(raw) == height * (stride + 1), "IDAT size does not match IHDR"
    rows, prev = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), prev, bpp)
        rows.append([(line[x], line[x + 1], line[x + 2]) for x in range(0, stride, bpp)])
        prev = bytes(line)
    return width, height, rows


def _near(pixel: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
    return all(abs(p - c) <= 3 for p, c in zip(pixel, colour, strict=True))


def test_screenshot_is_a_real_rendering(rendered: Rendered) -> None:
    width, height, rows = decode_png(rendered.png.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    colours = {px for row in rows[::8] for px in row[::8]}
    assert len(colours) >= 20, f"only {len(colours)} colours: blank or broken page"
    # The banner sits near the top: its tint must fill a large block there, and the other
    # verdict's tint must appear nowhere.
    top = [px for row in rows[:700] for px in row]
    own, other = (GREEN, RED) if rendered.report.determination.secured else (RED, GREEN)
    assert sum(_near(px, own) for px in top) > 40_000, "banner colour missing"
    assert not any(_near(px, other) for row in rows for px in row[::2]), "wrong banner colour"
    # Dark text on a light page: both extremes are present.
    assert any(max(px) < 80 for px in top) and any(min(px) > 245 for px in top)


def test_dom_has_the_key_facts(rendered: Rendered) -> None:
    report, dom = rendered.report, rendered.dom
    assert "<main" in dom
    assert report.determination.conclusion.upper() in dom
    assert VAULT_ID in dom
    assert "Notify individuals by <time" in dom
    assert _visible(report.deadlines.notify_individuals_by) in dom


def _pdftotext(pdf: Path, page: int) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed (apt-get install poppler-utils)")
    text = run_tool(
        ["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"]
    ).stdout
    # Headings are upper-cased by CSS, so the PDF text is compared case-insensitively.
    return " ".join(text.split()).casefold()


def test_printed_summary_fits_on_page_one(rendered: Rendered) -> None:
    report = rendered.report
    assert rendered.pdf.read_bytes().startswith(b"%PDF-")
    first, second = _pdftotext(rendered.pdf, 1), _pdftotext(rendered.pdf, 2)
    assert report.determination.conclusion.casefold() in first
    notify = _visible(report.deadlines.notify_individuals_by).casefold()
    assert f"notify individuals by {notify}" in first
    assert "media (164.406)" in first  # the last row of the deadline box
    assert "findings and evidence" not in first
    assert "findings and evidence" in second


def long_report() -> LostDriveReport:
    """Four failing findings, two-sentence statements, long names: a crowded page 1."""
    base = VARIANTS["reportable"]
    more = " The registry was checked against every event recorded since the vault was created."
    findings = [
        dataclasses.replace(f, statement=f.statement + more, holds=f.holds and i % 2 == 0)
        for i, f in enumerate(base.findings)
    ]
    reasons = [f.statement for f in findings if not f.holds]
    return dataclasses.replace(
        base,
        org_name="St. Example Regional Medical Center and Affiliated Clinics of the Northwest",
        incident=dataclasses.replace(
            base.incident, label="Cardiology exports for the 2026 multi-site outcomes study"
        ),
        determination=dataclasses.replace(base.determination, reasons=reasons),
        findings=findings,
    )


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_crowded_summary_still_fits_page_one(paper: str, browser: Browser, tmp_path: Path) -> None:
    # Chromium prints Letter unless the page asks otherwise; A4 is narrower, so lines wrap more.
    page = tmp_path / "report.html"
    sized = render_html(long_report()).replace(
        "</head>", f"<style>@page{{size:{paper}}}</style></head>"
    )
    page.write_text(sized, encoding="utf-8")
    pdf = page.with_suffix(".pdf")
    browser.run(page, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    first = _pdftotext(pdf, 1)
    assert "reportable" in first and "notify individuals by 2027-01-12" in first
    assert "media (164.406)" in first
    assert "findings and evidence" in _pdftotext(pdf, 2)


def _words(text: str) -> str:
    """Upper-case letters and digits only, single-spaced: OCR punctuation is unreliable."""
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", text.upper()).split())


def test_ocr_reads_the_conclusion(rendered: Rendered) -> None:
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract not installed (apt-get install tesseract-ocr)")
    text = f" {_words(run_tool(['tesseract', str(rendered.png), '-', '--psm', '3']).stdout)} "
    secured = rendered.report.determination.secured
    # What a person sees, not what the DOM says: the banner words in pixels.
    assert f" {_words(SECURED if secured else REPORTABLE)} " in text, text[:600]
    assert (f" {_words(SECURED)} " in text) == secured
    # The deadline date is large bold type; the small print is not OCR-reliable enough.
    assert f" {_words(rendered.report.deadlines.notify_individuals_by[:10])} " in text
