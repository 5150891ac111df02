"""Small files read and sealed ahead by a helper process, for an add of many small files.

The helper (engine/helper_process.py) reads each small source file exactly as add does
(the very file planned, unchanged while read), hashes it, and seals it into an entry under
a new random file id and key (its random pool starts empty at fork: crypto/symmetric.py),
then sends the sealed bytes back through its pipe; the parent writes them into the pack,
commits and indexes as always. A file the helper could not read is stored by the parent
itself, the usual way, which refuses it with the usual error, in its place in the order.
This module is the helper's side: the task and answer frames, and the sealing.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from medvault.crypto.symmetric import new_key, random_bytes
from medvault.engine.session import UnlockedVault
from medvault.format import entry as efmt
from medvault.format.meta import FileMeta
from medvault.store.entries import seal_entry

NUMBERS = struct.Struct(">QqQQH")  # size, mtime_ns, dev, ino, replaced ids
ANSWER = struct.Struct(">16s32sIQ")  # file id, SHA-256, header length, payload length


@dataclass(frozen=True)
class Task:
    source: str
    stored: str
    size: int
    mtime_ns: int
    dev: int
    ino: int
    replaces: tuple[str, ...]


@dataclass(frozen=True)
class Sealed:
    """A small file sealed by the helper: the entry's bytes (header, then payload) and
    what its metadata says."""

    file_id: bytes
    sha256: str
    added_at: str
    header_len: int
    payload_len: int
    entry: bytes


def encode_task(task: Task) -> bytes:
    numbers = NUMBERS.pack(task.size, task.mtime_ns, task.dev, task.ino, len(task.replaces))
    source, stored = os.fsencode(task.source), task.stored.encode()
    ids = b"".join(bytes.fromhex(file_id) for file_id in task.replaces)
    return numbers + struct.pack(">HH", len(source), len(stored)) + source + stored + ids


def decode_task(data: bytes) -> Task:
    size, mtime_ns, dev, ino, replaced = NUMBERS.unpack_from(data)
    at = NUMBERS.size
    source_len, stored_len = struct.unpack_from(">HH", data, at)
    at += 4
    source = os.fsdecode(data[at : at + source_len])
    stored = data[at + source_len : at + source_len + stored_len].decode()
    at += source_len + stored_len
    ids = tuple(data[at + 16 * n : at + 16 * (n + 1)].hex() for n in range(replaced))
    return Task(source, stored, size, mtime_ns, dev, ino, ids)


def seal_small(
    vault: UnlockedVault,
    task: Task,
    data: bytes,
    sha256: str,
    timestamp: Callable[[], str],
    user: str,
    host: str,
) -> bytes:
    """The answer for TASK, whose contents DATA (with their SHA-256) were read: its entry
    sealed as add seals a small file, with the fields the parent needs to index it."""
    file_id, added_at = random_bytes(16), timestamp()
    meta = FileMeta(
        task.stored, task.size, sha256, task.mtime_ns, added_at, user, host, task.replaces
    )
    sealed = seal_entry(vault.keys, file_id, efmt.Kind.FILE, meta.encode(), task.size, fk=new_key())
    enc = sealed.encryptor()
    entry = sealed.header + enc.update(data) + enc.finish_bytes()
    head = ANSWER.pack(file_id, bytes.fromhex(sha256), len(sealed.header), sealed.payload_len)
    stamp = added_at.encode()
    return head + struct.pack(">H", len(stamp)) + stamp + entry


def decode_answer(data: bytes) -> Sealed:
    file_id, sha256, header_len, payload_len = ANSWER.unpack_from(data)
    (stamp_len,) = struct.unpack_from(">H", data, ANSWER.size)
    at = ANSWER.size + 2
    added_at = data[at : at + stamp_len].decode()
    entry = data[at + stamp_len :]
    return Sealed(file_id, sha256.hex(), added_at, header_len, payload_len, entry)
