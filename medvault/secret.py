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


class VaultKey(Secret):
    """The vault key of the vault's current key epoch, carrying the earlier epochs' keys
    that an unfinished re-key still needs to open entries not yet re-wrapped. Epoch None:
    a key from the registry with no header left to say its epoch, tried for any entry."""

    __slots__ = ("_older", "epoch")

    def __init__(
        self, value: bytes, epoch: int | None = 1, older: dict[int, Secret] | None = None
    ) -> None:
        super().__init__(value)
        self.epoch = epoch
        self._older = dict(older or {})

    def for_epoch(self, epoch: int) -> Secret | None:
        """The key of EPOCH, or None when this vault has no key for it."""
        if self.epoch is None or epoch == self.epoch:
            return self
        return self._older.get(epoch)

    @property
    def older_epochs(self) -> tuple[int, ...]:
        return tuple(sorted(self._older))

    def __repr__(self) -> str:
        return f"VaultKey(<epoch {self.epoch}, redacted>)"

    __str__ = __repr__


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
