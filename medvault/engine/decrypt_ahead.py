"""Small files decrypted ahead by a helper process, for an extract of many small files.

The helper (engine/helper_process.py) reads and decrypts each small entry with the very
function extract uses (entry_reading.stream_entry: nothing unauthenticated leaves it) and
sends the plaintext back through its pipe, never a file; the parent names and writes the
files. For a file the helper could not decrypt (a damaged entry, a pack a compact moved, a
read error) it sends no plaintext, and the parent extracts that file itself, the usual
way, which reports what is wrong as it always has.
"""

from __future__ import annotations

import struct
from collections.abc import Generator, Iterable
from dataclasses import dataclass

from medvault.engine import helper_process
from medvault.engine.catalog import Located
from medvault.engine.entry_reading import ReaderCache, stream_entry
from medvault.engine.landing import Target
from medvault.engine.session import UnlockedVault
from medvault.format import entry as efmt

TASK = struct.Struct(">16sQII")  # file id, offset, header length, payload length (+ pack)
ANSWER = struct.Struct(">32sq")  # SHA-256, mtime_ns (+ plaintext)


@dataclass(frozen=True)
class Decrypted:
    """A file's whole plaintext, authenticated, with what its metadata says of it."""

    plaintext: bytes
    sha256: str
    mtime_ns: int


def decrypted_in_order(
    vault: UnlockedVault, items: Iterable[tuple[Located, Target]], small_files: int, limit: int
) -> Generator[tuple[tuple[Located, Target], Decrypted | None], None, None]:
    """ITEMS in their order, each with its plaintext when the helper decrypted it (files of
    at most LIMIT bytes, when SMALL_FILES of them make a helper worth it), else None: the
    caller extracts those itself."""
    readers: list[ReaderCache] = []  # made in the helper, on its first task

    def task_of(item: tuple[Located, Target]) -> bytes | None:
        loc = item[0]
        if loc.size > limit:
            return None
        fields = (bytes.fromhex(loc.file_id), loc.offset, loc.header_len, loc.payload_len)
        return TASK.pack(*fields) + loc.pack.encode()

    def work(task: bytes) -> bytes:
        file_id, offset, header_len, payload_len = TASK.unpack_from(task)
        pack = task[TASK.size :].decode()
        loc = Located(file_id.hex(), pack, offset, header_len, payload_len, int(efmt.Kind.FILE))
        if not readers:
            readers.append(ReaderCache(vault))
        pieces: list[bytes] = []
        try:
            meta = stream_entry(vault, readers[0].get(pack), loc, lambda d: pieces.append(bytes(d)))
        except Exception:  # the parent extracts this one itself, and says what is wrong
            readers[0].drop(pack)
            return b""
        return ANSWER.pack(bytes.fromhex(meta.sha256), meta.mtime_ns) + b"".join(pieces)

    def result_of(_item: tuple[Located, Target], answer: bytes) -> Decrypted:
        sha256, mtime_ns = ANSWER.unpack_from(answer)
        return Decrypted(answer[ANSWER.size :], sha256.hex(), mtime_ns)

    return helper_process.in_order(items, small_files, task_of, work, result_of)
