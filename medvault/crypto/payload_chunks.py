"""Random access to a Cobblestone-256 payload: authenticate and decrypt one chunk alone.

C2SP chunked encryption (c2sp.org/chunked-encryption) derives, once per payload, an
AES-256-GCM key, a 12-byte base nonce and a 32-byte commitment from the payload key, the
payload's 24-byte salt and its context (`key_schedule.chunk_keys`). Chunk i is AES-256-GCM
under that key with nonce = base nonce XOR i (big-endian) and empty associated data, and
sits at payload offset 56 + i * (16 KiB + 16). There is no last-chunk flag: the last chunk
is the one shorter than 16 KiB, so a reader that knows the plaintext length from
authenticated metadata knows every chunk's index, place and length, and a chunk that opens
under its own nonce at its own length is authentic wherever it is read from. The
commitment is checked once, when a `ChunkOpener` is made, before any chunk is opened.
"""

from __future__ import annotations

import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from medvault.crypto.key_schedule import chunk_keys
from medvault.crypto.payload import CHUNK, PREFIX, TAG, ciphertext_length
from medvault.crypto.symmetric import AuthenticationFailed
from medvault.secret import Secret

SALT = 24
COMMITMENT = 32
# The spec's cap on a message's chunk count (2^38 chunks, 4 PiB).
MAX_CHUNKS = 1 << 38


class ChunkLayout:
    """Where the chunks of a payload of PLAINTEXT_LENGTH bytes are (its only chunking)."""

    def __init__(self, plaintext_length: int) -> None:
        if plaintext_length < 0 or plaintext_length // CHUNK + 1 > MAX_CHUNKS:
            raise ValueError("payload length out of range")
        self.plaintext_length = plaintext_length
        self.count = plaintext_length // CHUNK + 1  # the last chunk is short, maybe empty
        self.ciphertext_length = ciphertext_length(plaintext_length)

    def plain_length(self, index: int) -> int:
        """Plaintext bytes in chunk INDEX: 16 KiB, or what is left for the last one."""
        self._check(index)
        return CHUNK if index < self.count - 1 else self.plaintext_length % CHUNK

    def offset(self, index: int) -> int:
        """Where chunk INDEX's ciphertext starts, from the payload's first byte."""
        self._check(index)
        return PREFIX + index * (CHUNK + TAG)

    def sealed_length(self, index: int) -> int:
        """Chunk INDEX's ciphertext length, its tag included."""
        return self.plain_length(index) + TAG

    def covering(self, offset: int, length: int) -> range:
        """The chunks holding plaintext bytes [OFFSET, OFFSET + LENGTH), which must lie
        within the payload (an empty range for LENGTH 0)."""
        if offset < 0 or length < 0 or offset + length > self.plaintext_length:
            raise ValueError("range outside the payload")
        if length == 0:
            return range(0)
        return range(offset // CHUNK, (offset + length - 1) // CHUNK + 1)

    def _check(self, index: int) -> None:
        if not 0 <= index < self.count:
            raise IndexError(f"no chunk {index} in a payload of {self.count} chunks")


class ChunkOpener:
    """Opens the chunks of one payload, in any order. Made from the payload's first 56
    bytes (salt and commitment): a commitment that does not match the key and context
    raises AuthenticationFailed here, before any chunk is opened."""

    def __init__(self, key: Secret, context: bytes, prefix: bytes, layout: ChunkLayout) -> None:
        if len(prefix) != PREFIX:
            raise AuthenticationFailed("payload is shorter than its salt and commitment")
        keys = chunk_keys(key, prefix[:SALT], context)
        if not hmac.compare_digest(keys.commitment, prefix[SALT:]):
            raise AuthenticationFailed("payload commitment does not match its key")
        self.layout = layout
        self._aead = AESGCM(keys.key.reveal())
        self._base = int.from_bytes(keys.base_nonce, "big")

    def open(self, index: int, sealed: bytes | memoryview) -> bytes:
        """Chunk INDEX's plaintext from its ciphertext SEALED (tag included), or
        AuthenticationFailed: that chunk is damaged, the others are not affected."""
        if len(sealed) != self.layout.sealed_length(index):
            raise AuthenticationFailed(f"payload chunk {index} has the wrong length")
        nonce = (self._base ^ index).to_bytes(12, "big")
        try:
            return self._aead.decrypt(nonce, bytes(sealed), None)
        except InvalidTag:
            raise AuthenticationFailed(f"payload chunk {index} failed authentication") from None
