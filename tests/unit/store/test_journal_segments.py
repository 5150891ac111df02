"""The index: each commit's record is a new segment file written once,
front to back, and renamed in (fusefat refuses or silently cuts an append to an existing
file); segments fold into a new base file when they pile up, with every record where it
was; a fold cut short leaves segments the base already holds, which readers skip and the
next writer deletes; a missing segment is index damage that `repair` mends. A vault from
before segments gets header version 3 before its first one."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from medvault.crypto.symmetric import AuthenticationFailed
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.errors import FormatError, MediaFull
from medvault.format import index_journal as journal_fmt
from medvault.format import vault_header as hfmt
from medvault.keys.passphrase import to_secret
from medvault.store import io_points, journal
from medvault.store.journal import JournalAppender, logical_journal, read_journal
from tests.conftest import PASSPHRASE, Workspace, put_back_version_2_header


def _vault(drive: Path) -> UnlockedVault:
    return unlock(open_headers(drive), to_secret(PASSPHRASE))


def _add(ws: Workspace, drive: Path, tmp_path: Path, name: str) -> None:
    src = tmp_path / name
    src.write_text(f"{name}\n")
    ws.cli("add", drive, src, check=True)


def _add_files(ws: Workspace, drive: Path, tmp_path: Path, count: int) -> None:
    """f0.txt, f1.txt, ...: COUNT files, each added by its own `medvault add` (a commit)."""
    for n in range(count):
        _add(ws, drive, tmp_path, f"f{n}.txt")


def _index(drive: Path) -> Path:
    return drive / "MEDVAULT" / "index"


def _listed(ws: Workspace, drive: Path) -> list[str]:
    return sorted(f["path"] for f in json.loads(ws.cli("ls", drive, "--json", check=True).stdout))


def test_each_commit_is_a_new_segment_and_the_base_is_not_touched(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    ws.create_fast(drive)
    base = (_index(drive) / "journal.mvi").read_bytes()
    _add_files(ws, drive, tmp_path, 3)
    assert (_index(drive) / "journal.mvi").read_bytes() == base  # never appended to
    names = sorted(p.name for p in _index(drive).glob("journal.*.mvj"))
    assert names == ["journal.0000000000.mvj", "journal.0000000001.mvj", "journal.0000000002.mvj"]
    assert _listed(ws, drive) == ["f0.txt", "f1.txt", "f2.txt"]
    assert ws.cli("verify", drive).returncode == 0


def test_segments_fold_into_the_base_with_every_record_where_it_was(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    ws.create_fast(drive)
    _add_files(ws, drive, tmp_path, 3)
    vault = _vault(drive)
    before = read_journal(vault.paths, vault.keys)
    logical = logical_journal(vault.paths).data
    JournalAppender(vault.paths, vault.keys).fold(force=True)
    assert list(_index(drive).glob("journal.*.mvj")) == []
    assert (_index(drive) / "journal.mvi").read_bytes() == logical
    after = read_journal(vault.paths, vault.keys)
    assert after.records == before.records and after.last == before.last
    _add(ws, drive, tmp_path, "f3.txt")  # the next segment follows the new base
    assert [p.name for p in _index(drive).glob("journal.*.mvj")] == ["journal.0000000003.mvj"]
    assert ws.cli("verify", drive).returncode == 0


def test_many_commits_fold_by_themselves(ws: Workspace, drive: Path) -> None:
    """After MAX_SEGMENTS commits the appender folds on its own."""
    ws.create_fast(drive)
    vault = _vault(drive)
    appender = JournalAppender(vault.paths, vault.keys)
    for n in range(journal.MAX_SEGMENTS + 3):
        appender.append({"op": "drop", "packs": [f"{n:032x}"]})
    segments = sorted(p.name for p in _index(drive).glob("journal.*.mvj"))
    assert len(segments) == 3
    assert len(read_journal(vault.paths, vault.keys).records) == (journal.MAX_SEGMENTS + 3)


def test_a_fold_cut_short_leaves_segments_that_are_skipped_then_deleted(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    ws.create_fast(drive)
    _add_files(ws, drive, tmp_path, 2)
    saved = {p.name: p.read_bytes() for p in _index(drive).glob("journal.*.mvj")}
    vault = _vault(drive)
    JournalAppender(vault.paths, vault.keys).fold(force=True)
    for name, data in saved.items():  # as if the fold stopped before its deletes
        (_index(drive) / name).write_bytes(data)
    assert _listed(ws, drive) == ["f0.txt", "f1.txt"]
    assert ws.cli("verify", drive).returncode == 0
    _add(ws, drive, tmp_path, "f2.txt")  # the next writer deletes the leftovers
    names = sorted(p.name for p in _index(drive).glob("journal.*.mvj"))
    assert names == ["journal.0000000002.mvj"]
    assert _listed(ws, drive) == ["f0.txt", "f1.txt", "f2.txt"]


def test_a_missing_segment_is_index_damage_that_repair_mends(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    ws.create_fast(drive)
    _add_files(ws, drive, tmp_path, 3)
    (_index(drive) / "journal.0000000001.mvj").unlink()
    vault = _vault(drive)
    read = read_journal(vault.paths, vault.keys)
    assert read.damage == "index records 1 to 1 are missing"
    assert len(read.records) == 1
    verified = ws.cli("verify", drive)
    assert verified.returncode in (19, 24), verified.stdout
    assert ws.cli("repair", drive).returncode == 0
    assert ws.cli("verify", drive).returncode == 0
    assert _listed(ws, drive) == ["f0.txt", "f1.txt", "f2.txt"]


def test_an_older_vault_gets_header_version_3_before_its_first_segment(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    ws.create_fast(drive)
    put_back_version_2_header(_vault(drive))
    assert _vault(drive).require_header().body.version == 2
    _add(ws, drive, tmp_path, "f0.txt")
    assert _vault(drive).require_header().body.version == hfmt.FORMAT_VERSION == 3
    assert list(_index(drive).glob("journal.*.mvj"))


def test_a_torn_append_of_an_older_medvault_is_rewritten_not_truncated(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """Before segments, records were appended to the base; a cut-short one is dropped by
    writing the base again (fusefat refuses to shorten a file in place)."""
    ws.create_fast(drive)
    _add(ws, drive, tmp_path, "f0.txt")
    vault = _vault(drive)
    JournalAppender(vault.paths, vault.keys).fold(force=True)
    base = _index(drive) / "journal.mvi"
    whole = base.read_bytes()
    base.write_bytes(whole + b"\x00\x00\x01\x00torn")
    _add(ws, drive, tmp_path, "f1.txt")
    assert base.read_bytes() == whole
    assert _listed(ws, drive) == ["f0.txt", "f1.txt"]


def test_a_fold_that_fails_does_not_fail_the_commit(ws: Workspace, drive: Path) -> None:
    """The record is durable before the fold: a fold stopped by a full drive leaves every
    record readable, and the commit stands."""
    ws.create_fast(drive)
    vault = _vault(drive)
    appender = JournalAppender(vault.paths, vault.keys)

    def full_at_the_base(kind: str, path: Path, _source: Path | None) -> None:
        if kind == io_points.RENAME and path.name == "journal.mvi":
            raise MediaFull("cannot write the index: No space left on device")

    with io_points.observed(full_at_the_base):
        for n in range(journal.MAX_SEGMENTS + 1):
            appender.append({"op": "drop", "packs": [f"{n:032x}"]})
    read = read_journal(vault.paths, vault.keys)
    assert read.damage is None
    assert len(read.records) == journal.MAX_SEGMENTS + 1
    assert len(list(_index(drive).glob("journal.*.mvj"))) == journal.MAX_SEGMENTS + 1


def _whole_then_opened(vault: UnlockedVault) -> journal.JournalRead:
    """What read_journal must give, computed the plain way: the whole logical journal as
    one byte string, cut into records, each opened in turn (the test's oracle: read_journal
    reads one record at a time instead)."""
    logical = logical_journal(vault.paths)
    out = journal.JournalRead(segments=logical.segments, covered=logical.covered)
    out.base_length = logical.base_length
    try:
        journal_fmt.check_prelude(logical.data, vault.keys.vault_id)
        split = journal_fmt.split(logical.data)
    except FormatError as exc:
        out.damage = f"index: {exc.message}"
        return out
    out.torn_tail, out.valid_length = split.torn_tail, split.valid_length
    for raw in split.records:
        try:
            plain = journal.open_record_under(
                vault.keys.index_newest_first(), vault.keys.vault_id, raw
            )[1]
        except AuthenticationFailed:
            out.damage = f"index record {raw.record_no} failed authentication"
            out.valid_length = raw.offset
            return out
        out.records.append(json.loads(plain))
        out.last = raw
    out.damage = logical.damage
    return out


def _read_as_the_whole(drive: Path) -> None:
    """read_journal, record by record, says what the whole journal read at once says, with
    or without keeping the records."""
    vault = _vault(drive)
    expected = _whole_then_opened(vault)
    assert read_journal(vault.paths, vault.keys) == expected
    expected.records = []
    assert read_journal(vault.paths, vault.keys, keep_records=False) == expected


def _same_as_the_whole(drive: Path) -> int:
    """logical_from(START) is logical_journal's bytes from START, for every record
    boundary and a few other offsets; returns how many offsets were compared. And
    read_journal agrees with the whole journal read at once (_read_as_the_whole)."""
    _read_as_the_whole(drive)
    paths = _vault(drive).paths
    whole = logical_journal(paths).data
    starts = {512, len(whole), len(whole) + 7, *range(512, len(whole), 97)}
    with contextlib.suppress(FormatError):  # the record boundaries, where a journal has them
        starts |= {r.offset for r in journal_fmt.split(whole).records}
    for start in sorted(starts):
        prelude, rest = journal.logical_from(paths, start)
        assert prelude == whole[:512]
        assert rest == whole[start:], start
    return len(starts)


def test_the_journal_after_an_offset_is_read_without_what_lies_before(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """What a path index reader reads of the journal (store/journal.logical_from) equals
    the whole logical journal from that offset, in every shape: segments only, a folded
    base with segments after it, leftovers of a fold cut short (skipped), a missing
    segment (the journal ends before it), a torn base with segments (base only)."""
    ws.create_fast(drive)
    assert _same_as_the_whole(drive) > 0  # the base alone
    _add_files(ws, drive, tmp_path, 3)
    _same_as_the_whole(drive)  # segments
    saved = {p.name: p.read_bytes() for p in _index(drive).glob("journal.*.mvj")}
    vault = _vault(drive)
    JournalAppender(vault.paths, vault.keys).fold(force=True)
    _same_as_the_whole(drive)  # all in the base
    _add(ws, drive, tmp_path, "g0.txt")
    _add(ws, drive, tmp_path, "g1.txt")
    _same_as_the_whole(drive)  # base, then segments
    for name, data in saved.items():  # leftovers of a fold cut short
        (_index(drive) / name).write_bytes(data)
    _same_as_the_whole(drive)
    newest = sorted(_index(drive).glob("journal.*.mvj"))[-2]
    newest.unlink()  # a missing segment: the journal ends before it
    _same_as_the_whole(drive)
    base = _index(drive) / "journal.mvi"
    with base.open("ab") as handle:
        handle.write(b"\x00\x00\x01\x00" + b"x" * 20)  # a torn record at the base's end
    _same_as_the_whole(drive)
    base.write_bytes(base.read_bytes()[:600] + b"\xff\xff\xff\xff" + bytes(40))
    _same_as_the_whole(drive)  # an impossible length in the base: the base alone
    base.write_bytes(b"NOTINDEX" + base.read_bytes()[8:])
    _same_as_the_whole(drive)  # a prelude that is not the index's


def test_a_record_that_fails_authentication_ends_the_journal_read(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """In the base or in a segment, with or without keeping the records."""
    ws.create_fast(drive)
    _add_files(ws, drive, tmp_path, 2)
    vault = _vault(drive)
    JournalAppender(vault.paths, vault.keys).fold(force=True)
    _add(ws, drive, tmp_path, "g0.txt")
    _add(ws, drive, tmp_path, "g1.txt")
    segment = sorted(_index(drive).glob("journal.*.mvj"))[-1]
    data = bytearray(segment.read_bytes())
    data[-1] ^= 1
    segment.write_bytes(bytes(data))
    _read_as_the_whole(drive)
    assert read_journal(vault.paths, vault.keys).damage == "index record 3 failed authentication"
    base = _index(drive) / "journal.mvi"
    data = bytearray(base.read_bytes())
    data[-1] ^= 1
    base.write_bytes(bytes(data))
    _read_as_the_whole(drive)
    assert read_journal(vault.paths, vault.keys).damage == "index record 1 failed authentication"


def test_a_segment_gone_or_changed_after_it_was_checked_is_reported_as_moved(
    tmp_path: Path,
) -> None:
    """Segment bytes are not kept once checked (following_segments), only read again when
    needed: one a fold deleted meanwhile, or one that is not the length checked, is
    JournalMoved (read_journal then reads the journal again; path index readers fall back)."""
    segment = tmp_path / "journal.0000000007.mvj"
    segment.write_bytes(b"x" * 40)
    assert journal.read_segment(segment, 40) == b"x" * 40
    with pytest.raises(journal.JournalMoved, match="changed meanwhile"):
        journal.read_segment(segment, 41)
    segment.unlink()
    with pytest.raises(journal.JournalMoved, match="folded away meanwhile"):
        journal.read_segment(segment, 40)
