"""A holder for key material and passphrases whose repr and str never show the value."""

from __future__ import annotations

import hmac


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
