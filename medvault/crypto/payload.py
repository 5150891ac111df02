"""Streaming payload encryption: C2SP Cobblestone-256 from pyca/cryptography.

Ciphertext = salt(24) || commitment(32) || chunks; every chunk is 16 KiB of plaintext plus a
16-byte tag, and the last chunk is always shorter than 16 KiB (possibly empty), which is how
truncation is detected. The decryptor releases chunk plaintext as each tag verifies; callers
must treat output as provisional until ``finalize`` returns.
"""

from __future__ import annotations

from collections.abc import Iterator

from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor
from cryptography.exceptions import InvalidTag

from medvault.crypto.symmetric import AuthenticationFailed
from medvault.secret import Secret

CHUNK = 16 * 1024
TAG = 16
PREFIX = 56
PAD_BLOCK = 1024 * 1024  # zeros encrypted at a time by PayloadEncryptor.finish


def output_room(input_length: int) -> int:
    """Bytes of room `update_into` may need for INPUT_LENGTH bytes of input, either way
    (the salt and commitment, every chunk it can complete, and one held back)."""
    return PREFIX + (input_length // CHUNK + 1) * (CHUNK + TAG)


def ciphertext_length(plaintext_length: int) -> int:
    """Exact Cobblestone-256 ciphertext length for a plaintext length (one valid chunking)."""
    return PREFIX + plaintext_length + TAG * (plaintext_length // CHUNK + 1)


class PayloadEncryptor:
    """Cobblestone-256 encryption of a payload: the content through `update`, then
    `finish`, which encrypts PADDING zero bytes (format 1.1) and closes the stream."""

    def __init__(self, key: Secret, context: bytes, padding: int = 0) -> None:
        self._enc = Cobblestone256Encryptor(key.reveal(), context)
        self._padding = padding

    def update(self, data: bytes | memoryview) -> bytes:
        return self._enc.update(data)

    def update_into(self, data: bytes | memoryview, out: bytearray) -> int:
        """Encrypt DATA into OUT (at least `output_room(len(data))` long): no allocation
        per block, which on a 1 GiB file is a large part of the cost."""
        return self._enc.update_into(data, out)

    def finish(self) -> Iterator[bytes]:
        """The ciphertext of the padding, a block at a time (memory stays one block
        whatever the padding), then of the stream's end."""
        zeros = bytes(min(self._padding, PAD_BLOCK))
        left, self._padding = self._padding, 0
        while left:
            step = min(left, PAD_BLOCK)
            yield self._enc.update(zeros[:step])
            left -= step
        yield self._enc.finalize()

    def finish_bytes(self) -> bytes:
        """`finish` as one piece: for payloads whose padding is small (at most a few KiB)."""
        return b"".join(self.finish())


class PayloadDecryptor:
    """Cobblestone-256 decryption of a payload that releases at most CONTENT bytes: what
    follows them (format 1.1 padding) must be zeros and is never released. Output is
    provisional until `finalize` returns."""

    def __init__(self, key: Secret, context: bytes, content: int | None = None) -> None:
        self._dec = Cobblestone256Decryptor(key.reveal(), context)
        self._left = content  # content bytes not yet released; None: no padding

    def update(self, data: bytes | memoryview) -> bytes:
        try:
            plain = self._dec.update(data)
        except InvalidTag:
            raise AuthenticationFailed("payload chunk failed authentication") from None
        return plain[: self._keep(memoryview(plain), len(plain))]

    def update_into(self, data: bytes | memoryview, out: bytearray) -> int:
        try:
            n = self._dec.update_into(data, out)
        except InvalidTag:
            raise AuthenticationFailed("payload chunk failed authentication") from None
        return self._keep(memoryview(out), n)

    def finalize(self) -> bytes:
        try:
            plain = self._dec.finalize()
        except InvalidTag:
            raise AuthenticationFailed("payload end-of-stream check failed") from None
        return plain[: self._keep(memoryview(plain), len(plain))]

    def _keep(self, plain: memoryview, n: int) -> int:
        """How many of the N bytes just decrypted are content; the rest must be zeros."""
        if self._left is None:
            return n
        keep = min(n, self._left)
        self._left -= keep
        tail = plain[keep:n]
        if tail.nbytes and bytes(tail).count(0) != tail.nbytes:
            raise AuthenticationFailed("payload padding is not zeros")
        return keep
