"""A file's metadata (format/meta.py) is written from a fixed text for the fields every
add makes; whatever the fields hold, the bytes are the canonical JSON cj.dumps writes, and
they read back as the same metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from medvault.format import canonical_json as cj
from medvault.format.meta import FileMeta

META = FileMeta(
    "lab/results.csv", 4096, "c" * 64, 1_700_000_000_123_456_789,
    "2026-12-06T14:00:00.000000Z", "nurse", "ward-3", ("a" * 32,),
)  # fmt: skip


def _canonical(meta: FileMeta) -> bytes:
    """The canonical JSON of META, spelled out here rather than taken from the module."""
    return cj.dumps(
        {
            "path": meta.path,
            "size": meta.size,
            "sha256": meta.sha256,
            "mtime_ns": meta.mtime_ns,
            "added_at": meta.added_at,
            "added_by": meta.added_by,
            "host": meta.host,
            "replaces": list(meta.replaces),
        }
    )


class _Count(int):
    """An int that is not exactly int (json writes its value)."""


CHANGES: list[tuple[str, Callable[[FileMeta], FileMeta]]] = [
    ("as added", lambda m: m),
    ("replacing nothing", lambda m: replace(m, replaces=())),
    ("replacing two", lambda m: replace(m, replaces=("a" * 32, "b" * 32))),
    ("negative mtime", lambda m: replace(m, mtime_ns=-5)),
    ("non-ASCII path", lambda m: replace(m, path="Ä/日本/😀 é.csv")),
    ("quotes and backslashes", lambda m: replace(m, path='a"b\\c', added_by='o"brien')),
    ("control characters", lambda m: replace(m, path="a\tb\x01\x7f\u2028c", host="h\n")),
    ("size a bool", lambda m: replace(m, size=True)),
    ("size an int subclass", lambda m: replace(m, size=_Count(7))),
    ("no host", lambda m: replace(m, host=None)),  # type: ignore[arg-type]
    ("replaces a list", lambda m: replace(m, replaces=["a" * 32])),  # type: ignore[arg-type]
    ("replaces not strings", lambda m: replace(m, replaces=(7,))),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("change", "changed"), CHANGES, ids=[c for c, _ in CHANGES])
def test_metadata_is_written_as_its_canonical_json(
    change: str, changed: Callable[[FileMeta], FileMeta]
) -> None:
    meta = changed(META)
    assert meta.encode() == _canonical(meta)


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4, 6])  # 5: a backslash is no stored path
def test_what_a_file_is_added_with_reads_back_the_same(index: int) -> None:
    meta = CHANGES[index][1](META)
    assert FileMeta.decode(meta.encode()) == meta


@pytest.mark.parametrize("field", ["path", "added_by", "host"])
def test_a_name_utf_8_cannot_hold_is_refused_as_the_encoder_refuses_it(field: str) -> None:
    meta = replace(META, **{field: "x\ud800"})
    expected: type[Exception] = UnicodeEncodeError
    with pytest.raises(expected):
        _canonical(meta)
    with pytest.raises(expected):
        meta.encode()


def test_every_field_is_written() -> None:
    """Each field changes the bytes written (none is left out of the fixed text)."""
    seen: set[bytes] = {META.encode()}
    other: dict[str, Any] = {
        "path": "other.csv", "size": 5, "sha256": "d" * 64, "mtime_ns": 6,
        "added_at": "2026-12-07T00:00:00.000000Z", "added_by": "x", "host": "y",
        "replaces": (),
    }  # fmt: skip
    for field, value in other.items():
        encoded = replace(META, **{field: value}).encode()
        assert encoded not in seen, field
        seen.add(encoded)
