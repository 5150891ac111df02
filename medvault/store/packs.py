"""Writing and reading pack files, part by part (format in medvault/format/pack.py).

PackWriter writes every part under tmp/ and moves them into objects/ only at commit:
parts 1.. first, part 0 (the .mvo) last, so the .mvo's presence means "complete".

Each part is written once, front to back, and fsynced when it is full: the only write
pattern every FAT and exFAT driver handles (fusefat loses a file that is extended after a
seek back; docs/RELIABILITY.md). So the part count in each prelude must be known before
the first byte: a writer `reserve`s each entry's length first. A pack holds either one
entry that may span parts, or entries that all fit in its first part.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from medvault.crypto.symmetric import random_bytes
from medvault.errors import FormatError, IntegrityError
from medvault.format import pack as pack_fmt
from medvault.store import fsio, readback
from medvault.store.fsio import fsync_dir, media_errors
from medvault.store.layout import VaultPaths
from medvault.store.sequential import BLOCK, SequentialWriter, direct_range


class PackWriter:
    def __init__(self, paths: VaultPaths, vault_id: bytes, part_size: int) -> None:
        self.paths = paths
        self.vault_id = vault_id
        self.pack_id = random_bytes(16)
        self.name = pack_fmt.id_to_name(self.pack_id)
        self.part_size = part_size
        self.position = 0  # logical data offset
        self._parts: list[Path] = []
        self._handle: SequentialWriter | None = None
        self._in_part = 0
        # Set by the first reserve(): every prelude is then final when written.
        self.part_count: int | None = None
        self._capacity = 0
        # The part holding a hole (leave_hole) that was full before the hole was filled:
        # made durable and closed by fill_hole.
        self._waiting: SequentialWriter | None = None
        self._hole_in: SequentialWriter | None = None

    def fits(self, length: int) -> bool:
        """Whether an entry of LENGTH bytes can still go into this pack."""
        if self.part_count is None:
            return True
        return self.part_count == 1 and self.position + length <= self._capacity

    def reserve(self, length: int) -> None:
        """Say that an entry of LENGTH bytes comes next (before writing it)."""
        if not self.fits(length):
            raise ValueError("the entry does not fit in this pack")
        if self.part_count is None:
            self.part_count = max(1, -(-length // self.part_size))
            # One part: room for more entries; several: exactly this entry.
            self._capacity = self.part_size if self.part_count == 1 else length

    def _tmp_part(self, index: int) -> Path:
        return self.paths.tmp / f"{self.name}.{index}.tmp"

    def _open_next_part(self) -> None:
        self._finish_part()
        path = self._tmp_part(len(self._parts))
        with media_errors("a pack file"):
            self._parts.append(path)
            self._handle = SequentialWriter(path)
            self._in_part = 0
            self._handle.write(self._prelude(len(self._parts) - 1, self._reserved()))

    def _finish_part(self) -> None:
        """A full part is made durable and closed now: nothing is written to it again (one
        with a hole not yet filled waits for fill_hole)."""
        if self._handle is not None and self._handle is self._hole_in:
            self._waiting, self._handle = self._handle, None
            return
        if self._handle is not None:
            with media_errors("a pack file"):
                self._handle.fsync()
        self._close_handle()

    def _reserved(self) -> int:
        """The part count, known before the first byte (reserve() comes first)."""
        if self.part_count is None:
            raise ValueError("reserve() an entry before writing the pack")
        return self.part_count

    def _prelude(self, index: int, count: int) -> bytes:
        return pack_fmt.Prelude(self.vault_id, self.pack_id, index, count, self.part_size).encode()

    def _close_handle(self) -> None:
        if self._handle is not None:
            with media_errors("a pack file"):
                self._handle.close()
            self._handle = None

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        if self.position + len(view) > self._capacity:
            raise ValueError("a write past what was reserved")
        while len(view):
            if self._handle is None or self._in_part == self.part_size:
                self._open_next_part()
            assert self._handle is not None
            n = min(len(view), self.part_size - self._in_part)
            with media_errors("a pack file"):
                self._handle.write(view[:n])
            self._in_part += n
            self.position += n
            view = view[n:]

    def leave_hole(self, length: int) -> bool:
        """Write LENGTH placeholder bytes whose contents come later (`fill_hole`), if this
        pack's current part can take them: SequentialWriter.takes_holes (ext4, XFS, f2fs)
        and within one part. False, with nothing written, where it cannot."""
        if self._handle is None or self._in_part == self.part_size:
            if self.position + length > self._capacity:
                raise ValueError("a write past what was reserved")
            self._open_next_part()
        handle = self._handle
        assert handle is not None
        if not handle.takes_holes or self._in_part + length > self.part_size or length > BLOCK:
            return False
        with media_errors("a pack file"):
            handle.leave_hole(length)
        self._hole_in = handle
        self._in_part += length
        self.position += length
        return True

    def fill_hole(self, data: bytes) -> None:
        """The contents of the hole leave_hole left; its part, if already full, is made
        durable and closed now."""
        handle, self._hole_in = self._hole_in, None
        if handle is None:
            raise ValueError("no hole to fill")
        with media_errors("a pack file"):
            handle.fill_hole(data)
            if handle is self._waiting:
                self._waiting = None
                handle.fsync()
                handle.close()

    def commit(self) -> None:
        """Make the pack durable and visible. After this returns, the pack survives a crash."""
        if self._hole_in is not None:
            raise ValueError("a hole was left unfilled")
        if not self._parts:
            self._open_next_part()
        count = len(self._parts)
        if count != self._reserved():
            raise AssertionError(f"pack of {count} part(s), {self.part_count} reserved")
        self._finish_part()
        final_dir = self.paths.pack_dir(self.name)
        with media_errors("a pack file"):
            final_dir.mkdir(parents=True, exist_ok=True)
            for index in [*range(1, count), 0]:
                fsio.replace(
                    self._parts[index], final_dir / pack_fmt.part_filename(self.name, index)
                )
            fsync_dir(final_dir)

    def abort(self) -> None:
        """Throw the unfinished pack away; never raises (it runs while handling an error)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.abort()
        waiting, self._waiting, self._hole_in = self._waiting, None, None
        if waiting is not None:
            waiting.abort()
        for path in self._parts:
            with contextlib.suppress(OSError):
                fsio.unlink(path)


class PackReader:
    """Random access to a pack's logical data across its part files. FROM_MEDIUM: each part
    is read from the file system, not the page cache (a read-back of what was written)."""

    def __init__(
        self,
        paths: VaultPaths,
        vault_id: bytes,
        name: str,
        part_size: int,
        from_medium: bool = False,
    ) -> None:
        self.paths = paths
        self.from_medium = from_medium
        self.vault_id = vault_id
        self.name = name
        self.pack_id = pack_fmt.name_to_id(name)
        self.part_size = part_size
        self._handles: dict[int, BinaryIO] = {}
        self.part_count = 1
        self._open_part(0)

    def _path(self, index: int) -> Path:
        return self.paths.pack_dir(self.name) / pack_fmt.part_filename(self.name, index)

    def _open_part(self, index: int) -> BinaryIO:
        handle = self._handles.get(index)
        if handle is not None:
            return handle
        path = self._path(index)
        try:
            handle = open(path, "rb")  # noqa: SIM115 (closed in close())
        except FileNotFoundError:
            raise IntegrityError(f"pack {self.name}: part {index} is missing") from None
        if self.from_medium:
            readback.from_medium(handle.fileno())
        try:
            prelude = pack_fmt.decode_prelude(handle.read(pack_fmt.PRELUDE_LEN))
            if (prelude.vault_id, prelude.pack_id) != (self.vault_id, self.pack_id):
                raise IntegrityError(f"pack {self.name}: part {index} belongs elsewhere")
            if prelude.part_index != index or prelude.part_size != self.part_size:
                raise IntegrityError(f"pack {self.name}: part {index} has a wrong prelude")
            if index == 0:
                self.part_count = prelude.part_count
            elif prelude.part_count != self.part_count:
                raise IntegrityError(f"pack {self.name}: part {index} disagrees on part count")
            size = os.fstat(handle.fileno()).st_size - pack_fmt.PRELUDE_LEN
            last = index == self.part_count - 1
            if (not last and size != self.part_size) or size > self.part_size:
                raise IntegrityError(f"pack {self.name}: part {index} has the wrong length")
        except FormatError as exc:
            handle.close()
            raise IntegrityError(f"pack {self.name}: {exc.message}") from None
        except BaseException:
            handle.close()
            raise
        self._handles[index] = handle
        return handle

    def logical_size(self) -> int:
        last = self.part_count - 1
        handle = self._open_part(last)
        tail = os.fstat(handle.fileno()).st_size - pack_fmt.PRELUDE_LEN
        return last * self.part_size + tail

    def check_all_parts(self) -> None:
        for index in range(self.part_count):
            self._open_part(index)
        extra = self._path(self.part_count)
        if extra.exists():
            raise IntegrityError(f"pack {self.name}: unexpected extra part {self.part_count}")

    def stream(self, offset: int, length: int, block: int) -> Iterator[bytes | memoryview]:
        """LENGTH bytes of logical data at OFFSET in pieces of at most BLOCK bytes (a view
        is valid until the next is asked for; IntegrityError when the pack is shorter). A
        long run within a part is read ahead with O_DIRECT where the file system allows."""
        while length > 0:
            index, within = divmod(offset, self.part_size)
            if index >= self.part_count:
                raise IntegrityError(f"pack {self.name}: truncated")
            n = min(length, self.part_size - within)
            handle = self._open_part(index)
            ahead = (
                direct_range(handle.fileno(), pack_fmt.PRELUDE_LEN + within, n)
                if n > block
                else None
            )
            if ahead is None:
                for at in range(offset, offset + n, block):
                    yield self.read(at, min(block, offset + n - at))
            else:
                got = 0
                with ahead:
                    for view in ahead.blocks():
                        for at in range(0, len(view), block):
                            piece = view[at : at + block]
                            got += len(piece)
                            yield piece
                if got < n:
                    raise IntegrityError(f"pack {self.name}: truncated")
            offset += n
            length -= n

    def read(self, offset: int, length: int) -> bytes:
        """LENGTH bytes of logical data at OFFSET (IntegrityError when the pack is shorter).
        Exactly what is asked is read: a part is opened only when a read reaches it."""
        return self._read(offset, length, short_ok=False)

    def _read(self, offset: int, length: int, short_ok: bool) -> bytes:
        chunks: list[bytes] = []
        while length > 0:
            index, within = divmod(offset, self.part_size)
            if index >= self.part_count:
                break
            handle = self._open_part(index)
            handle.seek(pack_fmt.PRELUDE_LEN + within)
            chunk = handle.read(min(length, self.part_size - within))
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            length -= len(chunk)
        if length > 0 and not short_ok:
            raise IntegrityError(f"pack {self.name}: truncated")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def __enter__(self) -> PackReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def list_packs(paths: VaultPaths) -> list[str]:
    """Names of all complete packs (those whose .mvo exists)."""
    names: list[str] = []
    if not paths.objects.is_dir():
        return names
    for shard in sorted(paths.objects.iterdir()):
        if not shard.is_dir():
            continue
        for item in sorted(shard.iterdir()):
            if item.name.endswith(".mvo") and len(item.name) == 30:
                names.append(item.name[:-4])
    return names


def delete_pack(paths: VaultPaths, name: str) -> None:
    """Remove part 0 first, so a crash midway leaves only orphan parts (swept by repair)."""
    folder = paths.pack_dir(name)
    with media_errors("the objects folder"):
        fsio.unlink(folder / pack_fmt.part_filename(name, 0), missing_ok=True)
        for item in sorted(folder.glob(f"{name}.*.mvp")):
            fsio.unlink(item, missing_ok=True)
    fsync_dir(folder)
