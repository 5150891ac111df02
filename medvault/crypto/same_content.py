"""Whether two reads of one file gave the same bytes, checked at memory speed.

`add` reads a large file twice: first for its SHA-256, which the entry header holds and
must be final before the payload is written (a pack is written once, front to back), then
to encrypt it. The second read used to compute the SHA-256 again, the slowest stage of a
large add (SHA-256 ~1.7 GB/s here, the cipher ~5.7 GB/s). Now both reads also feed
Poly1305 under one key drawn for that file, kept in memory only and never reused for
another file: the two tags are equal for different contents with probability at most
8 * ceil(L / 16) / 2**106 for L bytes (Poly1305's differential bound: 2**-77 at 1 GiB), and
nothing of the key leaves the process to aim a change at. Poly1305 runs at ~12 GB/s here.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives.poly1305 import Poly1305

from medvault.crypto.symmetric import random_bytes
from medvault.secret import Secret


class ReadTally:
    """One read's Poly1305: `update` with every piece read, then compare with `matches`."""

    __slots__ = ("_key", "_mac", "_tag")

    def __init__(self, key: Secret | None = None) -> None:
        self._key = key if key is not None else Secret(random_bytes(32))
        self._mac = Poly1305(self._key.reveal())
        self._tag: bytes | None = None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._mac.update(data)

    def again(self) -> ReadTally:
        """A tally for the next read of the same file: same key, nothing read yet."""
        return ReadTally(self._key)

    def matches(self, other: ReadTally) -> bool:
        """Whether OTHER's read gave what this one did (ends both tallies)."""
        return hmac.compare_digest(self._final(), other._final())

    def _final(self) -> bytes:
        if self._tag is None:
            self._tag = self._mac.finalize()
        return self._tag

    def __repr__(self) -> str:
        return "ReadTally(<key redacted>)"

    def __reduce__(self) -> str:
        raise TypeError("ReadTally cannot be pickled")
