"""Bounded big-endian reading: every length is checked against what is left before use."""

from __future__ import annotations

import struct

from medvault.errors import FormatError


class Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    @property
    def position(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.remaining:
            raise FormatError(f"{self._what}: truncated (needed {n} bytes, {self.remaining} left)")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def u8(self) -> int:
        return int(self.take(1)[0])

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(">Q", self.take(8))[0])

    def expect(self, value: bytes, name: str) -> None:
        if self.take(len(value)) != value:
            raise FormatError(f"{self._what}: bad {name}")

    def end(self) -> None:
        if self.remaining:
            raise FormatError(f"{self._what}: {self.remaining} unexpected trailing bytes")


def u16(v: int) -> bytes:
    return struct.pack(">H", v)


def u32(v: int) -> bytes:
    return struct.pack(">I", v)


def u64(v: int) -> bytes:
    return struct.pack(">Q", v)
