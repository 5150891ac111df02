"""`cat` and `extract --to -` one rule at a time, in this process (vault/streaming.py): the
custody event of a stream names what reached it, a file of up to IN_MEMORY bytes reaches
it whole or not at all, a larger damaged one only as its authenticated prefix, and a
compact that moves a large file mid-stream neither repeats nor drops a byte.

Found by the mutation campaign: these were reached only through CLI tests (tests/cli/
test_cat.py), which mutmut cannot attribute."""

from __future__ import annotations

from pathlib import Path

import pytest

from medvault.crypto.payload import CHUNK
from medvault.engine.writing import digest_of_digests
from medvault.errors import IntegrityError
from medvault.vault.maintenance import compact
from medvault.vault.streaming import IN_MEMORY, stream_files
from tests.conftest import Workspace
from tests.support.small_vault import PRELUDE, SmallVault, small_vault


class Stream:
    """The bytes written, and each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def __call__(self, data: bytes | memoryview) -> None:
        self.writes.append(bytes(data))

    @property
    def data(self) -> bytes:
        return b"".join(self.writes)


def _event(sv: SmallVault) -> dict[str, object]:
    (last,) = [e for e in sv.registry.events() if e.event.action == "extract"][-1:]
    return dict(last.event.details)


def _damage_payload(sv: SmallVault, path: str, payload_offset: int) -> None:
    loc = sv.located[path]
    at = loc.offset + loc.header_len + payload_offset
    part, within = divmod(at, sv.vault.part_size)
    name = f"{loc.pack}.mvo" if part == 0 else f"{loc.pack}.{part:03d}.mvp"
    file = sv.root / "objects" / loc.pack[:2] / name
    raw = bytearray(file.read_bytes())
    raw[PRELUDE + within] ^= 0x20
    file.write_bytes(bytes(raw))


def test_the_custody_event_names_what_reached_the_stream(ws: Workspace, tmp_path: Path) -> None:
    sv = small_vault(tmp_path, ws, sizes=(300, 5_000))
    out = Stream()
    result = stream_files(sv.vault, [], out, sv.registry, sv.env, "cat")
    assert out.data == b"".join(sv.files[p] for p in sorted(sv.files))
    digests = [sv.located[p].sha256 for p in sorted(sv.files)]
    assert _event(sv) == {
        "to": "stdout",
        "command": "cat",
        "files": 2,
        "bytes": 5_300,
        "failed": 0,
        "sha256_of_digests": digest_of_digests(digests),
    }
    assert (result.files, result.bytes, result.failed) == (2, 5_300, None)


def test_a_damaged_file_of_in_memory_size_reaches_the_stream_not_at_all(
    ws: Workspace, tmp_path: Path
) -> None:
    """Exactly IN_MEMORY bytes is still held whole: damage near its end means not one of
    its bytes is written; the error and the event say it failed."""
    sv = small_vault(tmp_path, ws, sizes=(IN_MEMORY,))
    ((path, _),) = sv.files.items()
    _damage_payload(sv, path, sv.located[path].payload_len - 100)
    out = Stream()
    with pytest.raises(IntegrityError) as failed:
        stream_files(sv.vault, [path], out, sv.registry, sv.env, "cat")
    assert out.writes == []
    assert f"0 of its {IN_MEMORY} bytes were written" in failed.value.message
    assert failed.value.hint == "the output is incomplete; `medvault verify` names the damage"
    event = _event(sv)
    assert (event["files"], event["bytes"], event["failed"]) == (0, 0, 1)


def test_a_damaged_larger_file_reaches_the_stream_as_its_authenticated_prefix(
    ws: Workspace, tmp_path: Path
) -> None:
    size = IN_MEMORY + 5 * CHUNK
    sv = small_vault(tmp_path, ws, sizes=(size,))
    ((path, data),) = sv.files.items()
    _damage_payload(sv, path, sv.located[path].payload_len - 100)  # in the last chunk
    out = Stream()
    with pytest.raises(IntegrityError) as failed:
        stream_files(sv.vault, [path], out, sv.registry, sv.env, "cat")
    written = len(out.data)
    assert 0 < written < size and out.data == data[:written]
    assert f"{written} of its {size} bytes were written" in failed.value.message
    assert _event(sv)["failed"] == 1


def test_a_file_of_in_memory_size_is_written_in_one_piece(ws: Workspace, tmp_path: Path) -> None:
    sv = small_vault(tmp_path, ws, sizes=(IN_MEMORY, IN_MEMORY + 1))
    small, large = sorted(sv.files, key=lambda p: len(sv.files[p]))
    out = Stream()
    stream_files(sv.vault, [small], out, sv.registry, sv.env, "cat")
    assert out.writes == [sv.files[small]]
    out = Stream()
    stream_files(sv.vault, [large], out, sv.registry, sv.env, "cat")
    assert len(out.writes) > 1 and out.data == sv.files[large]


def test_a_compact_that_moves_a_large_file_mid_stream_repeats_and_drops_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    """With 64 KiB part files, the stream opens each part as it gets there: a compact run
    after the third write (told to rewrite every pack: a large file has one of its own,
    all live) removes the parts still to come, the read follows the file to its new pack
    and skips what was already written."""
    size = 4 * IN_MEMORY + 40 * CHUNK
    sv = small_vault(tmp_path, ws, part_size=64 * 1024, sizes=(size,))
    ((large, _),) = sv.files.items()
    moved: list[bool] = []
    out = Stream()

    def write_then_compact(data: bytes | memoryview) -> None:
        out(data)
        if len(out.writes) == 3:  # after more than one write: the skip adds them all up
            moved.append(True)
            compact(sv.vault, sv.registry, sv.env, threshold=2.0)

    result = stream_files(sv.vault, [large], write_then_compact, sv.registry, sv.env, "cat")
    old_pack = sv.located[large].pack
    assert not list((sv.root / "objects").rglob(f"{old_pack}*"))  # the compact moved it
    assert moved and len(out.writes) > 3
    assert out.data == sv.files[large]
    assert (result.files, result.bytes) == (1, size)
