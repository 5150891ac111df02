"""Index entries as decoded from a record (format/index_records.py): a well-formed file
entry becomes its Located; anything else is refused with what is wrong, whichever path
the decoder takes (a fast one for well-formed file entries, field by field otherwise)."""

from __future__ import annotations

from typing import Any

import pytest

from medvault.errors import FormatError
from medvault.format import entry as efmt
from medvault.format import index_records
from medvault.format.index_records import AddRecord, Located

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
