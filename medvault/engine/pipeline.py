"""Large payloads through both cores: SHA-256 on a worker thread, the cipher in place.

A file's plaintext SHA-256 costs about three times its Cobblestone encryption here, and
hashlib releases the GIL, so hashing on a second thread while the main thread reads and
decrypts (extract), reads and encrypts (add where a large file is read once:
`hash_and_encrypt`) or only reads (add's first read where it is read twice: `hash_fd`) the
next block roughly halves the time of a large add or extract. add's second read, which
encrypts (`encrypt_stream`), does not hash: it checks that it read what the first read
hashed with a Poly1305 tally (crypto/same_content.py), fast enough to share the cipher's
thread. Blocks live in a small
ring of preallocated buffers and the cipher writes into a reused one (`update_into`):
nothing is allocated per block, and memory stays fixed at RING * BLOCK whatever the file's
size (2 MiB: the hash is the slower stage, so more blocks in flight only wait longer;
measured no faster with 4).
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType

from medvault.crypto.payload import PayloadDecryptor, PayloadEncryptor, output_room
from medvault.crypto.same_content import ReadTally
from medvault.store.sequential import BLOCK  # one block read, hashed, encrypted, written

RING = 2  # blocks in flight: one being filled, one queued for or being hashed


class HashRing:
    """Buffers that are hashed in order on a worker thread once handed over.

    `take()` gives a free buffer (waiting while all are queued for hashing);
    `hand_over(index, n)` queues its first N bytes and frees it once hashed. The caller
    may keep reading the buffer after handing it over, until its next `take()`.
    """

    def __init__(self, block: int = BLOCK, ring: int = RING) -> None:
        self.buffers = [bytearray(block) for _ in range(ring)]
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(ring):
            self._free.put(index)
        self._todo: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self._digest = hashlib.sha256()
        self._worker = threading.Thread(target=self._hash_all, name="sha256", daemon=True)
        self._worker.start()

    def _hash_all(self) -> None:
        while (job := self._todo.get()) is not None:
            index, n = job
            self._digest.update(memoryview(self.buffers[index])[:n])
            self._free.put(index)

    def take(self) -> tuple[int, memoryview]:
        index = self._free.get()
        return index, memoryview(self.buffers[index])

    def give_back(self, index: int) -> None:
        """Return a buffer taken but not handed over (nothing was read into it)."""
        self._free.put(index)

    def hand_over(self, index: int, n: int) -> None:
        self._todo.put((index, n))

    def digest(self) -> hashlib._Hash:
        """The hash of everything handed over (waits for the worker to finish); the
        caller may update it further."""
        self.close()
        return self._digest

    def close(self) -> None:
        if self._worker.is_alive():
            self._todo.put(None)
            self._worker.join()

    def __enter__(self) -> HashRing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _hashed_blocks(
    ring: HashRing, readinto: Callable[[memoryview], int], limit: int
) -> Iterator[memoryview]:
    """At most LIMIT bytes read through READINTO into RING's buffers, each block handed to
    its worker for hashing and then yielded (valid until the next one is asked for)."""
    count = 0
    while count < limit:
        index, buffer = ring.take()
        n = readinto(buffer[: min(BLOCK, limit - count)])
        if n <= 0:
            ring.give_back(index)
            return
        ring.hand_over(index, n)
        count += n
        yield buffer[:n]


def hash_fd(fd: int, limit: int, tally: ReadTally | None = None) -> tuple[int, hashlib._Hash]:
    """The SHA-256 of at most LIMIT bytes read from FD, and how many there were: this thread
    reads the next block while the worker hashes the last (a large file's first read,
    which only hashes, took read + hash time in one thread). TALLY, if given, is fed
    every block too (on this thread: it is several times faster than the hash)."""
    count = 0
    with HashRing() as ring:
        for block in _hashed_blocks(ring, lambda view: os.readv(fd, [view]), limit):
            if tally is not None:
                tally.update(block)
            count += len(block)
        return count, ring.digest()


def hash_and_encrypt(
    readinto: Callable[[memoryview], int],
    limit: int,
    enc: PayloadEncryptor,
    write: Callable[[memoryview], None],
    progress: Callable[[int], None] | None = None,
) -> tuple[int, hashlib._Hash]:
    """Read at most LIMIT bytes through READINTO, hash them on the worker while ENC
    encrypts them here, and pass the ciphertext to WRITE (finalize is the caller's);
    returns the bytes read and their SHA-256: a large file read once, where its header can
    be written after its payload (PackWriter.leave_hole)."""
    out = bytearray(output_room(BLOCK))
    out_view = memoryview(out)
    count = 0
    with HashRing() as ring:
        for block in _hashed_blocks(ring, readinto, limit):
            written = enc.update_into(block, out)
            write(out_view[:written])
            count += len(block)
            if progress:
                progress(len(block))
        return count, ring.digest()


def encrypt_stream(
    readinto: Callable[[memoryview], int],
    limit: int,
    enc: PayloadEncryptor,
    write: Callable[[memoryview], None],
    tally: ReadTally,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Read at most LIMIT bytes through READINTO, feed them to TALLY, encrypt them with ENC
    and pass the ciphertext to WRITE (finalize is the caller's); returns the bytes read.
    One thread does it all: the tally and the cipher together cost less than the SHA-256
    this read used to compute on a worker, and writing is the writer's thread."""
    buffer = memoryview(bytearray(BLOCK))
    out = bytearray(output_room(BLOCK))
    out_view = memoryview(out)
    count = 0
    while count < limit:
        n = readinto(buffer[: min(BLOCK, limit - count)])
        if n <= 0:
            break
        tally.update(buffer[:n])
        written = enc.update_into(buffer[:n], out)
        write(out_view[:written])
        count += n
        if progress:
            progress(n)
    return count


def decrypt_stream(
    blocks: Iterable[bytes | memoryview],
    dec: PayloadDecryptor,
    write: Callable[[bytes | memoryview], None],
    progress: Callable[[int], None] | None = None,
) -> hashlib._Hash:
    """Decrypt the ciphertext BLOCKS (each at most BLOCK bytes) and pass the plaintext
    (provisional until the caller's finalize passes) to WRITE; returns the SHA-256 of the
    plaintext so far, for the caller to add finalize's last piece to."""
    room = output_room(BLOCK)
    with HashRing(block=room) as ring:
        for block in blocks:
            index, buffer = ring.take()
            n = dec.update_into(block, ring.buffers[index])
            ring.hand_over(index, n)
            write(buffer[:n])
            if progress:
                progress(len(block))
        return ring.digest()
