"""A holder for key material and passphrases whose repr and str never show the value."""

from __future__ import annotations

import contextlib
import ctypes
import hmac
import sys

PR_SET_DUMPABLE = 4


class Secret:
    """Bytes that must not reach logs, reprs, tracebacks or argv."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)

    def reveal(self) -> bytes:
        """The raw bytes, for handing to a cipher."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret(<{len(self._value)} bytes redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        raise TypeError("Secret is not hashable")

    def __reduce__(self) -> str:
        raise TypeError("Secret cannot be pickled")


def make_non_dumpable() -> None:
    """Close this process's memory to other processes of the same user and to core dumps.

    Keys live in ordinary Python memory; where ptrace is unrestricted (Yama scope 0) any
    process of the user could read them from /proc/<pid>/mem, and a crash would write
    them into a core file. A non-dumpable process's /proc/<pid>/mem, environ and maps
    are root's only. Children are dumpable again after their exec.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
