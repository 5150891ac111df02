"""Index records and their entries (format/index_records.py): a well-formed file entry
becomes its Located; anything else is refused with what is wrong, whichever path the
decoder takes (a fast one for well-formed file entries, field by field otherwise). An add
record is encoded one entry at a time into the canonical JSON, and read back (loads) with
each entry made a Located as it is parsed, refusing what decode refuses."""

from __future__ import annotations

import json
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


def _keys_reversed(data: bytes) -> bytes:
    """The same record with every object's keys in reverse order: valid, but not the
    canonical form a commit writes."""
    record = cj.loads_object(data, "x")
    record["entries"] = [dict(reversed(list(e.items()))) for e in record["entries"]]
    return json.dumps(dict(reversed(list(record.items()))), separators=(",", ":")).encode()


@pytest.mark.parametrize("form", ["as written", "keys reversed"])
def test_loads_never_holds_a_dict_per_entry(form: str) -> None:
    """Reading back a record of 2,000 entries (the path index's refresh) peaks under what
    parsing it into dicts first does (~0.81x here: the entries' strings, shared by both,
    are most of it): each entry is a Located as soon as it is parsed, in one step as a
    commit writes it, field by field in any other order of its keys."""
    entries = [loc._replace(pack="p" * 26) for loc in _entries(2000)]
    data = bytes(index_records.encode_add("p" * 26, entries))
    if form == "keys reversed":
        data = _keys_reversed(data)

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


def _as_written(count: int = 3, pack: str = "p" * 26) -> bytes:
    """An add record of COUNT file entries exactly as a commit writes it."""
    files = [loc._replace(pack=pack) for loc in _entries(count) if loc.kind == efmt.Kind.FILE]
    return bytes(index_records.encode_add(pack, files))


def _strictly(data: bytes) -> object:
    """What the dict-per-entry path makes of DATA: the record, or the error it raises."""
    try:
        return index_records.decode(cj.loads_object(data, index_records.RECORD))
    except FormatError as exc:
        return ("refused", exc.message.removeprefix(f"{index_records.RECORD}: "))


def _read_back(data: bytes) -> object:
    """What loads() makes of DATA; an entry refused as it is parsed is named inside the
    record ("index record: index entry: ..."), as it always was."""
    try:
        return index_records.loads(data)
    except FormatError as exc:
        return ("refused", exc.message.removeprefix(f"{index_records.RECORD}: "))


def test_entries_as_written_are_made_without_the_field_by_field_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """loads() makes each file entry a commit wrote in one step; the same record with its
    keys in another order (valid, not what encode_add writes) goes field by field, to the
    same record."""
    calls: list[str] = []
    field_by_field = Located.from_record

    def counted(pack: str, rec: dict[str, Any]) -> Located:
        calls.append(pack)
        return field_by_field(pack, rec)

    monkeypatch.setattr(Located, "from_record", staticmethod(counted))
    data = _as_written(37)
    fast = index_records.loads(data)
    assert calls == []
    assert index_records.loads(_keys_reversed(data)) == fast
    assert len(calls) == len(fast.entries) == 34  # type: ignore[union-attr]


def _variants() -> list[tuple[str, bytes]]:
    """An add record as written, changed in each way a drive or a bug could change it."""
    good = _as_written(3)
    entry = cj.loads_object(good, "x")["entries"][1]
    out = [("as written", good), ("empty", _as_written(0))]
    for key in sorted(entry):
        for value in (True, 1.5, "7", None, [], {}, -1, ["x", 2], [{}], "\ud800"):
            out.append(
                (f"{key}={value!r}", good.replace(_json(entry), _json({**entry, key: value})))
            )
        out.append((f"no {key}", good.replace(_json(entry), _json(_without(entry, key)))))
        renamed = {("x" + k if k == key else k): v for k, v in entry.items()}
        out.append((f"{key} renamed", good.replace(_json(entry), _json(renamed))))
    for kind in (0, 2, 3):
        out.append((f"kind {kind}", good.replace(_json(entry), _json({**entry, "kind": kind}))))
    twice = _json(entry)[:-1] + b',"id":"' + b"d" * 26 + b'"}'
    out.append(("id twice", good.replace(_json(entry), twice)))
    out.append(("extra key", good.replace(_json(entry), _json({**entry, "zz": 1}))))
    no_digest = {**entry, "sha256": "", "refs": ["x", 2]}
    out.append(("no digest, refs not strings", good.replace(_json(entry), _json(no_digest))))
    out.append(
        ("an id in the record itself", b'{"entries":[],"id":"x",' + good[good.index(b'"op"') :])
    )
    out.append(
        ("an id in an entry's place", good.replace(b'{"entries":[', b'{"entries":[{"id":"x"},', 1))
    )
    out.append(("escaped path", good.replace(b'"lab/', b'"\\u006cab/', 1)))
    out.append(("NaN size", good.replace(b'"size":4097', b'"size":NaN')))
    out.append(("huge size", good.replace(b'"size":4097', b'"size":' + b"9" * 5000)))
    out.append(("pack last but other", good.replace(b'"pack":"pp', b'"pack":"qp')))
    out.append(("pack with a quote", good.replace(b'"pack":"pp', b'"pack":"\\"p')))
    out.append(("pack not a string", good[: good.rindex(b'"pack"')] + b'"pack":7}'))
    out.append(("pack twice", good[:-1] + b',"pack":"q"}'))
    out.append(("op drop", good.replace(b'"op":"add"', b'"op":"drop"')))
    out.append(("trailing data", good + b"{}"))
    out.append(("not UTF-8", good.replace(b"lab/", b"lab\xff/", 1)))
    out.append(("entries an object", good.replace(b'{"entries":[', b'{"entries":{"a":', 1)))
    return out


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )


def _without(entry: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != key}


@pytest.mark.parametrize(("change", "data"), _variants(), ids=[ascii(c) for c, _ in _variants()])
def test_loads_makes_of_any_record_what_the_dict_path_makes_of_it(change: str, data: bytes) -> None:
    """Whatever a record holds, loads() (one step for entries as written, field by field
    otherwise) gives the same record, or refuses it with the same words, as parsing it
    into dicts and decoding them."""
    assert _read_back(data) == _strictly(data)


def test_a_pack_named_otherwise_at_the_end_is_still_the_records_own() -> None:
    """loads() guesses the pack from the record's end to make entries in it as they are
    parsed; where the guess is wrong (a "pack" key that is not the record's own), every
    entry is still in the record's pack."""
    data = _as_written(3).replace(b'{"entries":[', b'{"a":{"pack":"z"},"entries":[', 1)
    data = (
        data[: data.rindex(b',"op"')] + b',"op":"add","pack":"' + b"p" * 26 + b'","z":{"pack":"w"}}'
    )
    record = index_records.loads(data)
    assert isinstance(record, AddRecord)
    assert {loc.pack for loc in record.entries} == {"p" * 26}
    assert record == _strictly(data)


class _Count(int):
    """An int that is not exactly int (json writes it as its value)."""


UNUSUAL: list[tuple[str, Callable[[Located], Located]]] = [
    ("kind an IntEnum", lambda loc: loc._replace(kind=efmt.Kind.FILE)),
    ("size an int subclass", lambda loc: loc._replace(size=_Count(5))),
    ("size a bool", lambda loc: loc._replace(size=True)),
    ("replaces as a list", lambda loc: loc._replace(references=["r" * 26])),  # type: ignore[arg-type]
    ("replaces not strings", lambda loc: loc._replace(references=(7,))),  # type: ignore[arg-type]
    ("replacing two", lambda loc: loc._replace(references=("r" * 26, "s" * 26))),
    ("control characters", lambda loc: loc._replace(path="a\tb\x01\x7f\u2028c")),
    ("quotes and backslashes", lambda loc: loc._replace(path='a"b\\c', file_id='"')),
    ("non-ASCII", lambda loc: loc._replace(path="Ä/日本/😀")),
]


@pytest.mark.parametrize(("change", "unusual"), UNUSUAL, ids=[c for c, _ in UNUSUAL])
def test_an_unusual_entry_encodes_as_the_canonical_json_does(
    change: str, unusual: Callable[[Located], Located]
) -> None:
    """encode_add fills a fixed text for the entries a commit makes; any entry it does
    not expect still comes out byte for byte as cj.dumps writes it."""
    entries = [loc._replace(pack="p" * 26) for loc in _entries(3)]
    entries[1] = unusual(entries[1])
    expected = cj.dumps(index_records.add_record("p" * 26, entries))
    assert bytes(index_records.encode_add("p" * 26, entries)) == expected


def test_a_name_no_utf_8_can_hold_is_refused_by_both_encoders() -> None:
    entries = [loc._replace(pack="p" * 26) for loc in _entries(3)]
    entries[0] = entries[0]._replace(path="lab/\ud800.csv")
    with pytest.raises(UnicodeEncodeError):
        cj.dumps(index_records.add_record("p" * 26, entries))
    with pytest.raises(UnicodeEncodeError):
        index_records.encode_add("p" * 26, entries)
