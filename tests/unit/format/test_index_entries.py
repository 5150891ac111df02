"""Index records and their entries (format/index_records.py): a well-formed file entry
becomes its Located; anything else is refused with what is wrong, whichever path the
decoder takes (a fast one for well-formed file entries, field by field otherwise). An add
record is encoded one entry at a time into the canonical JSON, and read back (loads) with
each entry made a Located as it is parsed, refusing what decode refuses."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from medvault.errors import FormatError
from medvault.format import canonical_json as cj
from medvault.format import entry as efmt
from medvault.format import index_records
from medvault.format.index_records import AddRecord, DropRecord, Located

FILE = {
    "id": "a" * 26,
    "off": 4096,
    "hlen": 301,
    "plen": 4112,
    "kind": int(efmt.Kind.FILE),
    "refs": ["b" * 26],
    "path": "lab/results.csv",
    "size": 4096,
    "sha256": "c" * 64,
    "added_at": "2026-12-06T14:00:00.000000Z",
    "mtime_ns": -5,
}


def _decoded(entry: object) -> Located:
    record = index_records.decode({"op": "add", "pack": "p" * 26, "entries": [entry]})
    assert isinstance(record, AddRecord)
    return record.entries[0]


def test_a_file_entry_becomes_its_located() -> None:
    assert _decoded(dict(FILE)) == Located(
        "a" * 26, "p" * 26, 4096, 301, 4112, int(efmt.Kind.FILE), "lab/results.csv", 4096,
        "c" * 64, "2026-12-06T14:00:00.000000Z", -5, ("b" * 26,),
    )  # fmt: skip


def test_the_same_entry_through_both_paths_gives_the_same_located() -> None:
    """An unknown extra key is ignored by both paths; a tombstone (no path) takes the
    field-by-field one."""
    assert _decoded({**FILE, "extra": 1}) == _decoded(dict(FILE))
    tombstone = {k: FILE[k] for k in ("id", "off", "hlen", "plen", "refs")}
    tombstone["kind"] = int(efmt.Kind.TOMBSTONE)
    located = _decoded(tombstone)
    assert (located.kind, located.path, located.references) == (
        int(efmt.Kind.TOMBSTONE),
        "",
        ("b" * 26,),
    )


@pytest.mark.parametrize("key", sorted(FILE))
def test_a_file_entry_missing_a_field_is_refused(key: str) -> None:
    entry = {k: v for k, v in FILE.items() if k != key}
    with pytest.raises(FormatError, match=f"index entry: missing '{key}'"):
        _decoded(entry)


WRONG: list[tuple[str, Any]] = [
    ("id", 7),
    ("off", True),  # bool is not an integer here
    ("off", "4096"),
    ("hlen", 1.5),
    ("plen", None),
    ("refs", "b" * 26),
    ("path", ["lab"]),
    ("size", False),
    ("sha256", 0),
    ("added_at", {}),
    ("mtime_ns", True),
]


@pytest.mark.parametrize(("key", "value"), WRONG)
def test_a_file_entry_with_a_field_of_the_wrong_type_is_refused(key: str, value: Any) -> None:
    with pytest.raises(FormatError, match=f"index entry: '{key}' (has the wrong type|must be)"):
        _decoded({**FILE, key: value})


def test_replaced_ids_must_be_strings() -> None:
    with pytest.raises(FormatError, match="must list ids"):
        _decoded({**FILE, "refs": ["b" * 26, 3]})


def test_an_entry_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(FormatError, match="expected a JSON object"):
        _decoded(["a" * 26])


def _entries(count: int) -> list[Located]:
    """COUNT entries of one pack: files (one with a non-ASCII name, some replacing others)
    and a tombstone in every ten."""
    out = []
    for n in range(count):
        if n % 10 == 9:
            out.append(Located(f"{n:026d}", "", 512 * n, 90, 0, int(efmt.Kind.TOMBSTONE),
                               references=(f"{n - 1:026d}",)))  # fmt: skip
            continue
        out.append(
            Located(
                f"{n:026d}", "", 512 * n, 301, 4112, int(efmt.Kind.FILE),
                f'lab/Ä{n:05d} "q".csv' if n == 3 else f"lab/{n:05d}.csv", 4096 + n,
                f"{n:064x}", "2026-12-06T14:00:00.000000Z", 1_700_000_000_000_000_000 + n,
                (f"{n + 1000:026d}",) if n % 7 == 0 else (),
            )
        )  # fmt: skip
    return out


@pytest.mark.parametrize("count", [0, 1, 2, 37])
def test_an_add_record_encoded_one_entry_at_a_time_is_the_canonical_json(count: int) -> None:
    """encode_add gives the very bytes cj.dumps(add_record(...)) gives, and loads() reads
    them back as decode() does."""
    entries = [loc._replace(pack="p" * 26) for loc in _entries(count)]
    expected = cj.dumps(index_records.add_record("p" * 26, entries))
    encoded = index_records.encode_add("p" * 26, entries)
    assert bytes(encoded) == expected
    assert index_records.loads(expected) == index_records.decode(cj.loads_object(expected, "x"))
    assert index_records.loads(expected) == AddRecord("p" * 26, tuple(entries))


def test_a_drop_record_reads_back_through_loads() -> None:
    data = cj.dumps(index_records.drop_record(["a" * 26, "b" * 26]))
    assert index_records.loads(data) == DropRecord(frozenset({"a" * 26, "b" * 26}))


BAD_RECORDS = [
    (b'{"entries":[{"id":"x","off":1}],"op":"add","pack":"p"}', "missing 'hlen'"),
    (b'{"entries":[{"id":"x","id":"y"}],"op":"add","pack":"p"}', "duplicate JSON key 'id'"),
    (b'{"entries":[["x"]],"op":"add","pack":"p"}', "expected a JSON object"),
    (b'{"entries":[],"op":"add","pack":{"id":"x","hlen":1,"kind":2,"off":0,"plen":0,'
     b'"refs":[]}}', "'pack' has the wrong type"),
    (b'{"op":"drop","packs":[{"id":"x","hlen":1,"kind":2,"off":0,"plen":0,"refs":[]}]}',
     "must list ids"),
    (b'{"id":"x","hlen":1,"kind":2,"off":0,"plen":0,"refs":[]}',
     "expected a JSON object|missing 'op'"),
    (b'{"entries":[],"op":"copy","pack":"p"}', "unknown record"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "message"), BAD_RECORDS)
def test_loads_refuses_what_decode_refuses(data: bytes, message: str) -> None:
    """Entries become Located as they are parsed, but an object with an "id" anywhere
    else is still refused where it sits, and a malformed entry still names its fault."""
    with pytest.raises(FormatError, match=message):
        index_records.loads(data)
    with pytest.raises(FormatError, match=message):
        index_records.decode(cj.loads_object(data, "index record"))


def test_loads_never_holds_a_dict_per_entry() -> None:
    """Reading back a record of 2,000 entries (the path index's refresh) peaks under what
    parsing it into dicts first does (~0.81x here: the entries' strings, shared by both,
    are most of it): each entry is a Located as soon as it is parsed."""
    entries = [loc._replace(pack="p" * 26) for loc in _entries(2000)]
    data = bytes(index_records.encode_add("p" * 26, entries))

    def peak(read: Callable[[], object]) -> int:
        tracemalloc.start()
        try:
            kept = read()
            assert kept == AddRecord("p" * 26, tuple(entries))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    streamed = peak(lambda: index_records.loads(data))
    whole = peak(lambda: index_records.decode(cj.loads_object(data, "x")))
    assert streamed < 0.9 * whole, (streamed, whole)
