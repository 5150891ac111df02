"""Format 1.1 padding rules: Padmé buckets for payloads (with a floor), whole buckets of
zeros for metadata, read back strictly."""

from __future__ import annotations

import pytest

from medvault.errors import FormatError
from medvault.format.padding import (
    META_BUCKET,
    PAYLOAD_FLOOR,
    pad_meta,
    padded_length,
    padme,
    unpad_meta,
)


@pytest.mark.parametrize(
    ("length", "bucket"),
    [
        # E = floor(log2 L), S = floor(log2 E) + 1; L rounded up to a multiple of 2^(E - S).
        (2, 2), (9, 10), (100, 104), (513, 544), (1000, 1024), (1025, 1088),
        (4096, 4096), (4097, 4352), (100_000, 100_352), (2**30 + 1, 2**30 + 2**25),
    ],
)  # fmt: skip
def test_padme_rounds_to_the_published_buckets(length: int, bucket: int) -> None:
    assert padme(length) == bucket


def test_padme_never_shrinks_and_adds_at_most_a_ninth_above_256_bytes() -> None:
    for length in [*range(2, 5000), *range(2**20 - 50, 2**20 + 50), 10**9 + 7]:
        padded = padme(length)
        assert padded >= length
        if length >= 256:
            assert (padded - length) / length <= 1 / 9 + 1e-9, length


def test_small_files_and_empty_payloads_share_the_floor() -> None:
    assert {padded_length(size) for size in range(PAYLOAD_FLOOR + 1)} == {PAYLOAD_FLOOR}
    assert padded_length(PAYLOAD_FLOOR + 1) > PAYLOAD_FLOOR
    with pytest.raises(ValueError):
        padded_length(-1)


@pytest.mark.parametrize("body_len", [0, 1, META_BUCKET - 5, META_BUCKET - 4, 3000])
def test_metadata_is_padded_to_whole_buckets_and_read_back(body_len: int) -> None:
    body = b"{" + b"x" * max(0, body_len - 2) + b"}" if body_len >= 2 else b"{" * body_len
    plain = pad_meta(2, body)
    assert len(plain) % META_BUCKET == 0
    assert len(plain) - (5 + len(body)) < META_BUCKET
    assert unpad_meta(plain) == (2, body)


def test_metadata_of_similar_length_cannot_be_told_apart() -> None:
    lengths = {len(pad_meta(1, b"x" * n)) for n in range(0, META_BUCKET - 5)}
    assert lengths == {META_BUCKET}


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda p: p[:-1], "whole number"),
        (lambda p: p[:-1] + b"\x01", "not zeros"),
        (lambda p: p + bytes(META_BUCKET), "more padding than one bucket"),
        (lambda p: p[:1] + (10_000).to_bytes(4, "big") + p[5:], "past its padding"),
        (lambda _p: b"", "whole number"),
    ],
)
def test_metadata_padding_is_read_strictly(mutate: object, why: str) -> None:
    plain = pad_meta(1, b'{"a":1}')
    with pytest.raises(FormatError, match=why):
        unpad_meta(mutate(plain))  # type: ignore[operator]
