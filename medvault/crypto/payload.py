"""Streaming payload encryption: C2SP Cobblestone-256 from pyca/cryptography.

Ciphertext = salt(24) || commitment(32) || chunks; every chunk is 16 KiB of plaintext plus a
16-byte tag, and the last chunk is always shorter than 16 KiB (possibly empty), which is how
truncation is detected. The decryptor releases chunk plaintext as each tag verifies; callers
must treat output as provisional until ``finalize`` returns.
"""

from __future__ import annotations

from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor
from cryptography.exceptions import InvalidTag

from medvault.crypto.symmetric import AuthenticationFailed
from medvault.secret import Secret

CHUNK = 16 * 1024
TAG = 16
PREFIX = 56


def output_room(input_length: int) -> int:
    """Bytes of room `update_into` may need for INPUT_LENGTH bytes of input, either way
    (the salt and commitment, every chunk it can complete, and one held back)."""
    return PREFIX + (input_length // CHUNK + 1) * (CHUNK + TAG)


def ciphertext_length(plaintext_length: int) -> int:
    """Exact Cobblestone-256 ciphertext length for a plaintext length (one valid chunking)."""
    return PREFIX + plaintext_length + TAG * (plaintext_length // CHUNK + 1)


class PayloadEncryptor:
    def __init__(self, key: Secret, context: bytes) -> None:
        self._enc = Cobblestone256Encryptor(key.reveal(), context)

    def update(self, data: bytes | memoryview) -> bytes:
        return self._enc.update(data)

    def update_into(self, data: bytes | memoryview, out: bytearray) -> int:
        """Encrypt DATA into OUT (at least `output_room(len(data))` long): no allocation
        per block, which on a 1 GiB file is a large part of the cost."""
        return self._enc.update_into(data, out)

    def finalize(self) -> bytes:
        return self._enc.finalize()


class PayloadDecryptor:
    def __init__(self, key: Secret, context: bytes) -> None:
        self._dec = Cobblestone256Decryptor(key.reveal(), context)

    def update(self, data: bytes | memoryview) -> bytes:
        try:
            return self._dec.update(data)
        except InvalidTag:
            raise AuthenticationFailed("payload chunk failed authentication") from None

    def update_into(self, data: bytes | memoryview, out: bytearray) -> int:
        try:
            return self._dec.update_into(data, out)
        except InvalidTag:
            raise AuthenticationFailed("payload chunk failed authentication") from None

    def finalize(self) -> bytes:
        try:
            return self._dec.finalize()
        except InvalidTag:
            raise AuthenticationFailed("payload end-of-stream check failed") from None
