"""`scan` checks a ZIP's end records before zipfile parses its central directory (review
L4). zipfile builds one object per directory record before any entry cap can apply, so a
47 MB file listing 1,000,000 entries cost 14 s and 400 MB. Each archive below is built
byte by byte (the review's zip_cd_bomb.py and neighbours) and must be refused or named
damaged without zipfile.ZipFile ever being called; archives within the caps still open.
"""

from __future__ import annotations

import struct
import time
import zipfile
from pathlib import Path

import pytest

from medvault.phi.model import MIB, Limits
from medvault.phi.scanner import scan_path
from medvault.phi.zipbounds import check_directory

NAME = b"x"
RECORD = (
    struct.pack(
        "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(NAME), 0, 0, 0, 0, 0, 0
    )
    + NAME
)
LOCAL = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(NAME), 0) + NAME
BOMB_ENTRIES = 200_000  # 9.4 MB; the review's 1,000,000 is the same file, five times longer


def zip64_bomb(records: int, declared: int | None = None, size: int | None = None) -> bytes:
    """The review's zip_cd_bomb.py: RECORDS directory records, a ZIP64 end record that
    declares DECLARED entries in SIZE bytes (by default the truth) and a plain end record
    that defers to it."""
    directory = RECORD * records
    count = records if declared is None else declared
    length = len(directory) if size is None else size
    end64 = struct.pack(
        "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, length, len(LOCAL)
    )
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(LOCAL) + len(directory), 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return LOCAL + directory + end64 + locator + end


def plain_bomb(records: int, declared: int | None = None, comment: bytes = b"") -> bytes:
    """RECORDS directory records behind a plain (16-bit count) end record."""
    directory = RECORD * records
    count = records if declared is None else declared
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(LOCAL), len(comment)
    )
    return LOCAL + directory + end + comment


def _patched(data: bytes, at: int, new: bytes) -> bytes:
    """DATA with NEW written over the bytes at AT (negative: from the end)."""
    start = at % len(data)
    return data[:start] + new + data[start + len(new) :]


@pytest.fixture
def zipfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every zipfile.ZipFile opened while the test runs (the real class, observed)."""
    calls: list[str] = []
    real = zipfile.ZipFile

    class Observed(real):  # type: ignore[misc, valid-type]
        def __init__(self, file: object, *args: object, **kwargs: object) -> None:
            calls.append(str(getattr(file, "name", file)))
            super().__init__(file, *args, **kwargs)

    monkeypatch.setattr(zipfile, "ZipFile", Observed)
    return calls


def _problem(folder: Path, limits: Limits | None = None) -> tuple[str, str]:
    report = scan_path(folder, limits)
    assert report.files_scanned == 0
    [(_rel, kind, reason)] = report.problems
    return kind, reason


def _write(tmp_path: Path, data: bytes, name: str = "report.docx") -> Path:
    folder = tmp_path / "drive"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    return folder


def test_the_reviews_directory_bomb_is_refused_before_zipfile_parses_it(
    tmp_path: Path, zipfile_calls: list[str]
) -> None:
    folder = _write(tmp_path, zip64_bomb(BOMB_ENTRIES))
    started = time.monotonic()
    kind, reason = _problem(folder)
    elapsed = time.monotonic() - started
    assert (kind, reason) == ("refused", "ZIP archive with more than 10000 entries")
    assert zipfile_calls == []
    assert elapsed < 2.0  # parsing 200,000 records alone takes ~3 s on this machine


@pytest.mark.parametrize(
    ("data", "kind", "reason"),
    [
        # A plain end record with a huge 16-bit count.
        (plain_bomb(60_000), "refused", "more than 10000 entries"),
        # ZIP64 figures that understate the count: the records are counted, not trusted.
        (zip64_bomb(20_000, declared=5), "refused", "more than 10000 entries"),
        # ZIP64 figures that understate the directory's size: it does not meet its end.
        (zip64_bomb(20_000, declared=5, size=5 * len(RECORD)), "unreadable", "does not end"),
        # ...or overstate it past the cap.
        (zip64_bomb(5, size=1 << 40), "refused", "ZIP directory of"),
        # A count that does not match the records.
        (plain_bomb(5, declared=7), "unreadable", "does not hold the records"),
        # Truncated end records.
        (plain_bomb(5)[:-4], "unreadable", "truncated end-of-directory record"),
        (zip64_bomb(5)[:-22], "unreadable", "no end-of-directory record"),
        # A ZIP64 locator pointing elsewhere, or at no ZIP64 end record.
        (_patched(zip64_bomb(5), -42 + 8, struct.pack("<Q", 0)), "unreadable", "ZIP64 locator"),
        (_patched(zip64_bomb(5), -98, b"PK\x06\x05"), "unreadable", "ZIP64 end record"),
        # A comment length that does not reach the end of the file.
        (plain_bomb(5, comment=b"hi") + b"!", "unreadable", "comment length"),
    ],
)
def test_hostile_end_records_never_reach_zipfile(
    tmp_path: Path, zipfile_calls: list[str], data: bytes, kind: str, reason: str
) -> None:
    found_kind, found_reason = _problem(_write(tmp_path, data))
    assert found_kind == kind and reason in found_reason, found_reason
    assert zipfile_calls == []


def test_the_caps_are_exact(tmp_path: Path, zipfile_calls: list[str]) -> None:
    """At the entry cap the archive reaches zipfile (and is read as a ZIP that is not
    Office); one entry more is refused without it."""
    limits = Limits(max_zip_entries=10)
    for build in (plain_bomb, zip64_bomb):
        for path in tmp_path.glob("*.docx"):
            path.unlink()
        report = scan_path(_write(tmp_path, build(10)), limits)
        assert report.skipped["unsupported"] == 1 and not report.problems
        assert len(zipfile_calls) >= 1
        zipfile_calls.clear()
        assert _problem(_write(tmp_path, build(11)), limits)[0] == "refused"
        assert zipfile_calls == []


def test_a_large_zip_file_or_directory_is_refused(tmp_path: Path, zipfile_calls: list[str]) -> None:
    big = tmp_path / "drive" / "big.docx"
    big.parent.mkdir()
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/media/image1.bin", b"\0" * (2 * MIB))
    zipfile_calls.clear()
    kind, reason = _problem(big.parent, Limits(max_zip_bytes=1 * MIB))
    assert (kind, reason) == ("refused", "ZIP archive of 2 MiB (limit 1 MiB)")
    kind, reason = _problem(big.parent, Limits(max_zip_directory=64))
    assert kind == "refused" and reason.startswith("ZIP directory of ")
    assert zipfile_calls == []


@pytest.mark.parametrize("comment", [b"", b"made by a test", b"PK\x05\x06 in a comment"[:2]])
def test_archives_written_by_zipfile_pass_the_check(tmp_path: Path, comment: bytes) -> None:
    path = tmp_path / "ok.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(50):
            archive.writestr(f"xl/worksheets/sheet{n}.xml", "<worksheet/>")
        archive.comment = comment
    with open(path, "rb") as handle:
        directory = check_directory(handle, Limits())
    with zipfile.ZipFile(path) as archive:
        assert directory.entries == len(archive.infolist()) == 50
