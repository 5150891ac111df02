"""Strict parsing of the path index (medvault/format/path_index_file.py), check by check.

Each bound is tested on both sides (accepted at the limit, refused one past it) and each
disjunct of a compound check gets its own refusal case, so no comparison or `or` can be
loosened unnoticed. The directory and the pages are AEAD-
encrypted on disk; their parsers take the decrypted bytes, which is what these tests build.
"""

from __future__ import annotations

from typing import Any

import pytest

from medvault.errors import FormatError
from medvault.format import canonical_json as cj
from medvault.format import path_index_file as fmt

VAULT_ID = bytes(range(16))
SNAPSHOT_ID = bytes(range(100, 116))
MIN_SEALED = fmt.NONCE_LEN + 16  # nonce and GCM tag: the smallest sealed page or directory

# --- prelude ------------------------------------------------------------------------------


def _prelude(dir_offset: int, dir_len: int) -> bytes:
    return fmt.Prelude(VAULT_ID, SNAPSHOT_ID, dir_offset, dir_len).encode()


@pytest.mark.parametrize(
    ("dir_offset", "dir_len", "file_size", "refusal"),
    [
        (fmt.PRELUDE_LEN, MIN_SEALED, fmt.PRELUDE_LEN + MIN_SEALED, None),
        (fmt.PRELUDE_LEN, MIN_SEALED - 1, fmt.PRELUDE_LEN + MIN_SEALED - 1, "directory length"),
        (fmt.PRELUDE_LEN, 0, fmt.PRELUDE_LEN, "directory length"),
        (
            fmt.PRELUDE_LEN,
            fmt.MAX_DIRECTORY,
            fmt.PRELUDE_LEN + fmt.MAX_DIRECTORY,
            None,
        ),
        (
            fmt.PRELUDE_LEN,
            fmt.MAX_DIRECTORY + 1,
            fmt.PRELUDE_LEN + fmt.MAX_DIRECTORY + 1,
            "directory length",
        ),
        # The directory starts after the prelude (an index of no pages: right after it) ...
        (fmt.PRELUDE_LEN + 500, MIN_SEALED, fmt.PRELUDE_LEN + 500 + MIN_SEALED, None),
        (fmt.PRELUDE_LEN - 1, MIN_SEALED, fmt.PRELUDE_LEN - 1 + MIN_SEALED, "not at the end"),
        (0, 1000, 1000, "not at the end"),
        # ... and ends where the file ends.
        (fmt.PRELUDE_LEN, MIN_SEALED, fmt.PRELUDE_LEN + MIN_SEALED + 1, "not at the end"),
        (fmt.PRELUDE_LEN, MIN_SEALED, fmt.PRELUDE_LEN + MIN_SEALED - 1, "not at the end"),
    ],
)
def test_the_prelude_places_the_directory_at_the_end(
    dir_offset: int, dir_len: int, file_size: int, refusal: str | None
) -> None:
    data = _prelude(dir_offset, dir_len)
    if refusal is None:
        got = fmt.decode_prelude(data, VAULT_ID, file_size)
        assert got == fmt.Prelude(VAULT_ID, SNAPSHOT_ID, dir_offset, dir_len)
    else:
        with pytest.raises(FormatError, match=refusal):
            fmt.decode_prelude(data, VAULT_ID, file_size)


def test_the_prelude_returns_the_vault_id_it_was_checked_against() -> None:
    got = fmt.decode_prelude(_prelude(64, MIN_SEALED), VAULT_ID, 64 + MIN_SEALED)
    assert (got.vault_id, got.snapshot_id) == (VAULT_ID, SNAPSHOT_ID)


@pytest.mark.parametrize(
    ("start", "replacement", "refusal"),
    [
        (0, b"MVPATHS\x02", "path index: bad magic$"),
        (0, b"X", "path index: bad magic$"),
        (8, bytes(16), "belongs to another vault"),
        (52, b"\x01", "padding is not zero"),
        (63, b"\x01", "padding is not zero"),
    ],
)
def test_a_prelude_byte_changed_is_refused_by_name(
    start: int, replacement: bytes, refusal: str
) -> None:
    data = bytearray(_prelude(64, MIN_SEALED))
    data[start : start + len(replacement)] = replacement
    with pytest.raises(FormatError, match=refusal):
        fmt.decode_prelude(bytes(data), VAULT_ID, 64 + MIN_SEALED)


def test_a_short_prelude_is_refused() -> None:
    with pytest.raises(FormatError, match="truncated"):
        fmt.decode_prelude(_prelude(64, MIN_SEALED)[:51], VAULT_ID, 64 + MIN_SEALED)


# --- directory ----------------------------------------------------------------------------


def _covers(**changes: object) -> dict[str, object]:
    return {"records": 3, "journal_end": 900, "last_offset": 700, "last_nonce": "ab" * 12} | changes


def _directory(pages: list[Any], *, files: int | None = None, **extra: object) -> bytes:
    """A directory's plaintext holding PAGES (lists, as on disk)."""
    if files is None:
        files = sum(p[4] for p in pages if isinstance(p, list) and len(p) == 5)
    obj = {"covers": _covers(), "files": files, "packs": ["p1"], "pages": pages} | extra
    return cj.dumps(obj)


def _end(pages: list[list[Any]]) -> int:
    """Where the directory starts after PAGES laid end to end from the prelude."""
    return fmt.PRELUDE_LEN + sum(int(p[3]) for p in pages)


def _page(first: str, last: str, offset: int = fmt.PRELUDE_LEN, length: int = 100) -> list[Any]:
    return [first, last, offset, length, 2]


def test_a_directory_decodes_to_what_was_encoded() -> None:
    pages = (fmt.PageRef("a", "c", 64, 100, 2), fmt.PageRef("c", "f", 164, 50, 3))
    directory = fmt.Directory(fmt.Covers(3, 900, 700, "ab" * 12), 5, ("p1", "p2"), pages)
    assert fmt.decode_directory(directory.encode(), 214) == directory


@pytest.mark.parametrize("name", ["records", "journal_end", "last_offset"])
@pytest.mark.parametrize(("value", "accepted"), [(0, True), (1, True), (-1, False)])
def test_the_covered_journal_is_counted_from_zero(name: str, value: int, accepted: bool) -> None:
    plain = _directory([], covers=_covers(**{name: value}))
    if accepted:
        got = fmt.decode_directory(plain, fmt.PRELUDE_LEN)
        assert getattr(got.covers, name) == value
    else:
        with pytest.raises(FormatError, match="negative number"):
            fmt.decode_directory(plain, fmt.PRELUDE_LEN)


@pytest.mark.parametrize(
    ("covers", "refusal"),
    [
        (_covers(last_nonce=5), "wrong type"),
        (_covers(records=True), "must be an integer"),
        (_covers(extra=1), "unexpected 'covers' fields"),
        ({k: v for k, v in _covers().items() if k != "records"}, "unexpected 'covers' fields"),
    ],
)
def test_the_covers_fields_are_exact(covers: dict[str, object], refusal: str) -> None:
    with pytest.raises(FormatError, match=refusal):
        fmt.decode_directory(_directory([], covers=covers), fmt.PRELUDE_LEN)


@pytest.mark.parametrize(
    ("raw", "refusal"),
    [
        (5, "a page reference must be a list of 5"),
        ("abcde", "a page reference must be a list of 5"),
        (["a", "b", 64, 100], "a page reference must be a list of 5"),
        (["a", "b", 64, 100, 2, 0], "a page reference must be a list of 5"),
        ([1, "b", 64, 100, 2], "page paths must be strings"),
        (["a", 1, 64, 100, 2], "page paths must be strings"),
        (["a", "b", "64", 100, 2], "page numbers must be counts"),
        (["a", "b", 64, "100", 2], "page numbers must be counts"),
        (["a", "b", 64, 100, "2"], "page numbers must be counts"),
        (["a", "b", 64, 100, True], "page numbers must be counts"),
        (["a", "b", 64, True, 2], "page numbers must be counts"),
        (["a", "b", 64, 100, 2.0], "page numbers must be counts"),
        (["a", "b", -1, 100, 2], "page numbers must be counts"),
        (["a", "b", 64, -1, 2], "page numbers must be counts"),
        (["a", "b", 64, 100, -1], "page numbers must be counts"),
    ],
)
def test_a_page_reference_has_two_paths_and_three_counts(raw: Any, refusal: str) -> None:
    with pytest.raises(FormatError, match=refusal):
        fmt.decode_directory(_directory([raw], files=2), fmt.PRELUDE_LEN + 100)


@pytest.mark.parametrize(
    ("length", "count", "accepted"),
    [
        (MIN_SEALED, 1, True),
        (MIN_SEALED - 1, 1, False),
        (0, 1, False),
        (fmt.MAX_PAGE, 1, True),
        (fmt.MAX_PAGE + 1, 1, False),
        (100, 0, False),  # a page of no rows
        (100, 1, True),
        (MIN_SEALED - 1, 0, False),
    ],
)
def test_a_page_is_sealed_bytes_of_at_least_one_row(
    length: int, count: int, accepted: bool
) -> None:
    pages = [["a", "b", fmt.PRELUDE_LEN, length, count]]
    plain = _directory(pages)
    if accepted:
        got = fmt.decode_directory(plain, _end(pages))
        assert got.pages == (fmt.PageRef("a", "b", fmt.PRELUDE_LEN, length, count),)
        assert got.files == count
    else:
        with pytest.raises(FormatError, match="impossible page size"):
            fmt.decode_directory(plain, _end(pages))


@pytest.mark.parametrize(
    ("pages", "refusal"),
    [
        ([_page("a", "b"), _page("b", "c", 164)], None),  # one path's rows across two pages
        ([_page("a", "a"), _page("a", "a", 164)], None),
        ([_page("a", "c"), _page("d", "e", 164)], None),
        ([_page("0", "9"), _page("A", "Z", 164), _page("a", "z", 264)], None),
        ([_page("b", "a")], "pages out of place"),  # first after last
        ([_page("a", "b", 65)], "pages out of place"),  # not where the previous one ends
        ([_page("a", "b", 63)], "pages out of place"),
        ([_page("a", "b"), _page("c", "d", 165)], "pages out of place"),
        ([_page("a", "b"), _page("c", "d", 163)], "pages out of place"),
        ([_page("a", "c"), _page("b", "d", 164)], "pages out of order"),
        ([_page("b", "b"), _page("a", "b", 164)], "pages out of order"),
        ([_page("a", "c"), _page("c", "c", 164), _page("b", "d", 264)], "pages out of order"),
    ],
)
def test_pages_are_laid_end_to_end_in_path_order(
    pages: list[list[Any]], refusal: str | None
) -> None:
    plain = _directory(pages)
    end = _end(pages)
    if refusal is None:
        got = fmt.decode_directory(plain, end)
        assert [(p.first, p.last, p.offset) for p in got.pages] == [tuple(p[:3]) for p in pages]
    else:
        with pytest.raises(FormatError, match=refusal):
            fmt.decode_directory(plain, end)


@pytest.mark.parametrize(
    ("plain", "dir_offset", "refusal"),
    [
        (_directory([_page("a", "b")]), 163, "do not end where the directory starts"),
        (_directory([_page("a", "b")]), 165, "do not end where the directory starts"),
        (_directory([]), 65, "do not end where the directory starts"),
        (_directory([_page("a", "b")], files=3), 164, "file count does not match"),
        (_directory([_page("a", "b")], files=1), 164, "file count does not match"),
        (_directory([], files=0, extra=1), 64, "unexpected fields"),
        (_directory([], packs=[1]), 64, "'packs' must list names"),
        (_directory([], packs="p1"), 64, "wrong type"),
        (b"[]", 64, "expected a JSON object"),
    ],
)
def test_the_directory_agrees_with_itself_and_the_prelude(
    plain: bytes, dir_offset: int, refusal: str
) -> None:
    with pytest.raises(FormatError, match=refusal):
        fmt.decode_directory(plain, dir_offset)


# --- pages --------------------------------------------------------------------------------

GOOD_ROW = ["ab" * 16, "p1", 0, 200, 100, "a/b.txt", 44, "c" * 64, "2026-12-02T10:00:00Z", 5, []]


def _row(path: str, **fields: object) -> list[Any]:
    row = list(GOOD_ROW)
    row[5] = path
    for index, value in fields.items():
        row[int(index.lstrip("f"))] = value
    return row


def _decode(rows: list[Any], first: str, last: str) -> list[list[Any]]:
    return fmt.decode_page(fmt.encode_page(rows), fmt.PageRef(first, last, 64, 100, len(rows)))


@pytest.mark.parametrize(
    "paths",
    [
        ["0001.dcm"],  # sorts before any upper-case letter
        ["A/b.txt", "B"],
        ["", "a"],  # the parser's floor is the empty string
        ["a", "a", "a"],  # one path, several versions
        ["a/b", "a/b", "a/c"],
    ],
)
def test_sorted_rows_are_accepted(paths: list[str]) -> None:
    rows = [_row(p) for p in paths]
    assert _decode(rows, paths[0], paths[-1]) == rows


@pytest.mark.parametrize(
    ("paths", "first", "last", "refusal"),
    [
        (["a", "b"], "x", "b", "range"),  # first row is not the directory's first
        (["a", "b"], "a", "x", "range"),  # last row is not the directory's last
        (["a", "b"], "b", "a", "range"),
        (["a"], "", "a", "range"),
        (["b", "a"], "b", "a", "rows out of order"),
        (["a", "c", "b"], "a", "b", "rows out of order"),
    ],
)
def test_rows_are_sorted_and_span_the_directorys_range(
    paths: list[str], first: str, last: str, refusal: str
) -> None:
    with pytest.raises(FormatError, match=refusal):
        _decode([_row(p) for p in paths], first, last)


@pytest.mark.parametrize("count", [0, 2])
def test_a_page_holds_the_rows_the_directory_counts(count: int) -> None:
    plain = fmt.encode_page([_row("a")])
    with pytest.raises(FormatError, match="row count"):
        fmt.decode_page(plain, fmt.PageRef("a", "a", 64, 100, count))


@pytest.mark.parametrize(
    ("row", "refusal"),
    [
        (5, "a row must be a list of 11"),
        ("abcdefghijk", "a row must be a list of 11"),
        ({str(i): i for i in range(11)}, "a row must be a list of 11"),
        (GOOD_ROW[:10], "a row must be a list of 11"),
        ([*GOOD_ROW, 0], "a row must be a list of 11"),
        ([], "a row must be a list of 11"),
    ],
)
def test_a_row_is_a_list_of_eleven(row: Any, refusal: str) -> None:
    plain = cj.dumps({"rows": [row]})
    with pytest.raises(FormatError, match=refusal):
        fmt.decode_page(plain, fmt.PageRef("a/b.txt", "a/b.txt", 64, 100, 1))


@pytest.mark.parametrize("index", [2, 3, 4, 6])  # offset, header and payload lengths, size
@pytest.mark.parametrize(("value", "accepted"), [(0, True), (1, True), (-1, False)])
def test_a_rows_counts_start_at_zero(index: int, value: int, accepted: bool) -> None:
    row = _row("a", **{f"f{index}": value})
    if accepted:
        assert _decode([row], "a", "a") == [row]
    else:
        with pytest.raises(FormatError, match="negative number"):
            _decode([row], "a", "a")


@pytest.mark.parametrize(
    ("plain", "refusal"),
    [
        (cj.dumps({"rows": [GOOD_ROW], "more": 1}), "unexpected fields"),
        (cj.dumps({"rows": {}}), "wrong type"),
        (b"[]", "expected a JSON object"),
    ],
)
def test_a_page_is_an_object_of_rows_only(plain: bytes, refusal: str) -> None:
    with pytest.raises(FormatError, match=refusal):
        fmt.decode_page(plain, fmt.PageRef("a/b.txt", "a/b.txt", 64, 100, 1))
