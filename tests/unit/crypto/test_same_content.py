"""ReadTally (crypto/same_content.py): two reads of the same bytes match, however they were
cut into pieces; any change does not; the key is drawn per file and never shown."""

from __future__ import annotations

import os
import pickle

import pytest

from medvault.crypto.same_content import ReadTally

DATA = os.urandom(3 * 65_536 + 17)


def _fed(tally: ReadTally, data: bytes, piece: int) -> ReadTally:
    view = memoryview(data)
    for at in range(0, len(data), piece):
        tally.update(view[at : at + piece])
    return tally


@pytest.mark.parametrize("pieces", [(1 << 20, 4096), (7, 65_536), (len(DATA), 1)])
def test_the_same_bytes_match_however_they_were_read(pieces: tuple[int, int]) -> None:
    first = _fed(ReadTally(), DATA, pieces[0])
    assert first.matches(_fed(first.again(), DATA, pieces[1]))


@pytest.mark.parametrize(
    "changed",
    [
        DATA[:-1] + bytes([DATA[-1] ^ 1]),  # one bit, last byte
        bytes([DATA[0] ^ 0x80]) + DATA[1:],  # one bit, first byte
        DATA[:-1],  # one byte short
        DATA + b"\x00",  # one zero byte more
        DATA[16:] + DATA[:16],  # the same bytes, moved
    ],
    ids=["last-bit", "first-bit", "shorter", "longer", "rotated"],
)
def test_any_change_does_not_match(changed: bytes) -> None:
    first = _fed(ReadTally(), DATA, 65_536)
    assert not first.matches(_fed(first.again(), changed, 65_536))


def test_each_file_gets_its_own_key() -> None:
    """Two tallies not made by `again` do not match on the same bytes: the key is random."""
    assert not _fed(ReadTally(), DATA, 4096).matches(_fed(ReadTally(), DATA, 4096))


def test_matches_can_be_asked_again() -> None:
    first = _fed(ReadTally(), DATA, 4096)
    again = _fed(first.again(), DATA, 4096)
    assert first.matches(again) and again.matches(first)


def test_the_key_is_never_shown_nor_pickled() -> None:
    tally = ReadTally()
    assert repr(tally) == "ReadTally(<key redacted>)"
    with pytest.raises(TypeError):
        pickle.dumps(tally)
