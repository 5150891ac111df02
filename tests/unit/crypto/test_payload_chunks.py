"""Random access to Cobblestone-256 payloads (crypto/payload_chunks.py), checked against
the chunks `cryptography`'s own Cobblestone256Encryptor writes and its decryptor reads:
every chunk of many sizes opens alone to the same bytes, and a damaged, moved or cut chunk
fails alone."""

from __future__ import annotations

import os

import pytest
from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from medvault.crypto.key_schedule import chunk_keys
from medvault.crypto.payload import CHUNK, PREFIX, TAG
from medvault.crypto.payload_chunks import ChunkLayout, ChunkOpener
from medvault.crypto.symmetric import AuthenticationFailed
from medvault.secret import Secret

KEY = Secret(bytes(range(32)))
CONTEXT = b"medvault test context\x00" + bytes(range(34))
SIZES = [0, 1, 511, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5, 7 * CHUNK - 1]


def _seal(plain: bytes, context: bytes = CONTEXT) -> bytes:
    enc = Cobblestone256Encryptor(KEY.reveal(), context)
    return enc.update(plain) + enc.finalize()


def _stream_open(sealed: bytes) -> bytes:
    dec = Cobblestone256Decryptor(KEY.reveal(), CONTEXT)
    return dec.update(sealed) + dec.finalize()


def _chunk(sealed: bytes, layout: ChunkLayout, index: int) -> bytes:
    at = layout.offset(index)
    return sealed[at : at + layout.sealed_length(index)]


def test_the_derivation_is_the_specs_and_gives_the_commitment_cobblestone_wrote() -> None:
    """key || base nonce || commitment = HKDF-Expand-SHA-512(key, "c2sp.org/chunked-
    encryption@v1+AEAD_AES_256_GCM" || 0x00 || salt || context), 76 bytes; its last 32
    are the commitment Cobblestone256Encryptor stores after the salt."""
    sealed = _seal(b"x")
    salt = sealed[:24]
    info = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00" + salt + CONTEXT
    out = HKDFExpand(hashes.SHA512(), 76, info).derive(KEY.reveal())
    keys = chunk_keys(KEY, salt, CONTEXT)
    assert (keys.key, keys.base_nonce, keys.commitment) == (Secret(out[:32]), out[32:44], out[44:])
    assert keys.commitment == sealed[24:PREFIX]


@pytest.mark.parametrize("size", SIZES)
def test_every_chunk_opens_alone_to_what_the_stream_decryptor_gives(size: int) -> None:
    """Each chunk, the final short (or empty) one included, opened alone and in any order,
    is the stream decryptor's output for that chunk's span."""
    plain = os.urandom(size)
    sealed = _seal(plain)
    assert _stream_open(sealed) == plain
    layout = ChunkLayout(size)
    assert layout.ciphertext_length == len(sealed)
    assert layout.count == size // CHUNK + 1
    opener = ChunkOpener(KEY, CONTEXT, sealed[:PREFIX], layout)
    for index in reversed(range(layout.count)):
        got = opener.open(index, _chunk(sealed, layout, index))
        assert got == plain[index * CHUNK : (index + 1) * CHUNK]
        assert len(got) == layout.plain_length(index)
    assert layout.offset(layout.count - 1) + layout.sealed_length(layout.count - 1) == len(sealed)


def test_the_chunks_covering_a_range() -> None:
    """A range maps to the chunks holding its first and last byte, nothing around them."""
    layout = ChunkLayout(5 * CHUNK + 10)
    assert layout.covering(0, 0) == range(0)
    assert layout.covering(0, 1) == range(0, 1)
    assert layout.covering(CHUNK - 1, 2) == range(0, 2)
    assert layout.covering(CHUNK, CHUNK) == range(1, 2)
    assert layout.covering(5 * CHUNK, 10) == range(5, 6)
    assert layout.covering(3 * CHUNK + 7, 4096) == range(3, 4)
    with pytest.raises(ValueError, match="outside"):
        layout.covering(5 * CHUNK + 5, 6)
    with pytest.raises(IndexError):
        layout.offset(6)


def test_a_damaged_chunk_fails_alone() -> None:
    """One flipped byte in chunk 2 fails chunk 2 only; every other chunk still opens."""
    plain = os.urandom(4 * CHUNK + 100)
    layout = ChunkLayout(len(plain))
    sealed = bytearray(_seal(plain))
    sealed[layout.offset(2) + 77] ^= 0x01
    opener = ChunkOpener(KEY, CONTEXT, bytes(sealed[:PREFIX]), layout)
    for index in range(layout.count):
        piece = _chunk(bytes(sealed), layout, index)
        if index == 2:
            with pytest.raises(AuthenticationFailed, match="chunk 2"):
                opener.open(index, piece)
        else:
            assert opener.open(index, piece) == plain[index * CHUNK : (index + 1) * CHUNK]


def test_a_chunk_opened_at_another_index_fails() -> None:
    """A chunk's index is in its nonce: two full chunks swapped do not open."""
    plain = os.urandom(3 * CHUNK)
    layout = ChunkLayout(len(plain))
    sealed = _seal(plain)
    opener = ChunkOpener(KEY, CONTEXT, sealed[:PREFIX], layout)
    with pytest.raises(AuthenticationFailed):
        opener.open(1, _chunk(sealed, layout, 0))
    with pytest.raises(AuthenticationFailed):
        opener.open(0, _chunk(sealed, layout, 1))


def test_the_last_chunk_is_known_by_its_length() -> None:
    """There is no last-chunk flag: a chunk of the wrong length for its index is refused,
    and a message cut to a whole number of chunks does not pass as a shorter one (its
    final chunk would have to be short and open under the next index)."""
    plain = os.urandom(2 * CHUNK + 9)
    layout = ChunkLayout(len(plain))
    sealed = _seal(plain)
    opener = ChunkOpener(KEY, CONTEXT, sealed[:PREFIX], layout)
    last = _chunk(sealed, layout, 2)
    with pytest.raises(AuthenticationFailed, match="wrong length"):
        opener.open(2, last[:-1])
    with pytest.raises(AuthenticationFailed, match="wrong length"):
        opener.open(1, last)
    shorter = ChunkLayout(2 * CHUNK)  # the same bytes, claimed to be 32 KiB long
    cut = ChunkOpener(KEY, CONTEXT, sealed[:PREFIX], shorter)
    with pytest.raises(AuthenticationFailed):
        cut.open(2, sealed[shorter.offset(2) : shorter.offset(2) + TAG])


def test_the_commitment_is_checked_before_any_chunk() -> None:
    """Another context, another key or a damaged salt or commitment fails when the opener
    is made, whatever the chunks are."""
    sealed = _seal(b"payload")
    layout = ChunkLayout(7)
    for key, context, prefix in [
        (KEY, CONTEXT + b"!", sealed[:PREFIX]),
        (Secret(bytes(32)), CONTEXT, sealed[:PREFIX]),
        (KEY, CONTEXT, bytes([sealed[0] ^ 1]) + sealed[1:PREFIX]),
        (KEY, CONTEXT, sealed[: PREFIX - 1] + bytes([sealed[PREFIX - 1] ^ 1])),
        (KEY, CONTEXT, sealed[: PREFIX - 1]),
    ]:
        with pytest.raises(AuthenticationFailed):
            ChunkOpener(key, context, prefix, layout)
    assert ChunkOpener(KEY, CONTEXT, sealed[:PREFIX], layout).open(0, sealed[PREFIX:]) == (
        b"payload"
    )


def test_a_length_beyond_the_specs_chunk_cap_is_refused() -> None:
    with pytest.raises(ValueError):
        ChunkLayout((1 << 38) * CHUNK)
    with pytest.raises(ValueError):
        ChunkLayout(-1)
