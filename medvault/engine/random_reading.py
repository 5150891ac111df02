"""Reading a byte range of one file without decrypting it from its start (the mount).

The entry's header is authenticated as for an extract (unwrap, MAC or metadata AEAD,
strict metadata, the payload length its size gives), its payload's commitment once, then
only the Cobblestone chunks covering a range are read from the pack and opened, each
authenticated alone (crypto/payload_chunks.py). What is returned is only authenticated
content: never format 1.1 padding, never a byte of a chunk that failed. A damaged chunk
fails the ranges that touch it, not the rest of the file. The whole-file SHA-256 of the
metadata is not checked here: that needs every byte; each chunk's tag is what vouches for
a range.
"""

from __future__ import annotations

from collections import OrderedDict

from medvault.crypto.payload import CHUNK, PREFIX
from medvault.engine.catalog import Located
from medvault.engine.entry_reading import following_compact, open_file_entry, open_reader
from medvault.engine.session import UnlockedVault
from medvault.errors import IntegrityError
from medvault.store.packs import PackReader

CACHE_CHUNKS = 16  # decrypted chunks kept (16 KiB each): 256 KiB of plaintext at most


class ChunkCache:
    """The last few decrypted chunks, least recently used dropped first: small reads of
    one chunk (a kernel reading 4 KiB at a time) decrypt it once. Memory only."""

    def __init__(self, capacity: int = CACHE_CHUNKS) -> None:
        self.capacity = capacity
        self._chunks: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    def get(self, file_id: str, index: int) -> bytes | None:
        key = (file_id, index)
        chunk = self._chunks.get(key)
        if chunk is not None:
            self._chunks.move_to_end(key)
        return chunk

    def put(self, file_id: str, index: int, chunk: bytes) -> None:
        self._chunks[(file_id, index)] = chunk
        self._chunks.move_to_end((file_id, index))
        while len(self._chunks) > self.capacity:
            self._chunks.popitem(last=False)

    def forget(self, file_id: str) -> None:
        for key in [k for k in self._chunks if k[0] == file_id]:
            del self._chunks[key]

    def __len__(self) -> int:
        return len(self._chunks)


class EntryReader:
    """One file entry opened for reads at any offset. Opening reads and authenticates its
    header and the payload's salt and commitment (IntegrityError if either fails)."""

    def __init__(
        self, vault: UnlockedVault, reader: PackReader, loc: Located, cache: ChunkCache | None
    ) -> None:
        opened, self.meta = open_file_entry(vault, reader.read(loc.offset, loc.header_len), loc)
        h = opened.header
        if h.payload_len != loc.payload_len:
            raise IntegrityError("object payload length does not match the index")
        if self.meta.size != loc.size:
            raise IntegrityError("object size does not match the index")
        self.file_id = loc.file_id
        self._reader = reader
        self._payload_at = loc.offset + loc.header_len
        self._opener = opened.chunk_opener(self.meta.size, reader.read(self._payload_at, PREFIX))
        self._cache = cache if cache is not None else ChunkCache(2)

    @property
    def size(self) -> int:
        return self.meta.size

    def close(self) -> None:
        """Close the pack reader it was given."""
        self._reader.close()

    def read(self, offset: int, length: int) -> bytes:
        """Content bytes [OFFSET, OFFSET + LENGTH), cut at the end of the file (empty past
        it), as a file read does. IntegrityError if a chunk they need fails; only the
        chunks they need are read."""
        if offset < 0 or length < 0:
            raise ValueError("a read needs a non-negative offset and length")
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        wanted = self._opener.layout.covering(offset, end - offset)
        joined = b"".join(self._chunk(index) for index in wanted)
        start = offset - wanted.start * CHUNK
        return joined[start : start + end - offset]

    def read_prefix(self, offset: int, length: int) -> bytes:
        """As `read`, but a damaged chunk after the first cuts the result short at its
        start (what comes before it is authentic); IntegrityError only if the first chunk
        of the range fails. For a file system read, which may return fewer bytes."""
        if offset < 0 or length < 0:
            raise ValueError("a read needs a non-negative offset and length")
        end = min(offset + length, self.size)
        got: list[bytes] = []
        at = offset
        while at < end:
            step = min(end, (at // CHUNK + 1) * CHUNK) - at
            try:
                got.append(self.read(at, step))
            except IntegrityError:
                if not got:
                    raise
                break
            at += step
        return b"".join(got)

    def _chunk(self, index: int) -> bytes:
        """Chunk INDEX's content (its padding cut off), from the cache or the pack."""
        chunk = self._cache.get(self.file_id, index)
        if chunk is not None:
            return chunk
        layout = self._opener.layout
        sealed = self._reader.read(
            self._payload_at + layout.offset(index), layout.sealed_length(index)
        )
        try:
            plain = self._opener.open(index, sealed)
        except IntegrityError as exc:
            raise IntegrityError(f"{self.meta.path}: {exc.message}") from None
        chunk = self._content_of(index, plain)
        self._cache.put(self.file_id, index, chunk)
        return chunk

    def _content_of(self, index: int, plain: bytes) -> bytes:
        """PLAIN without format 1.1 padding, which must be zeros (it is authenticated, so
        nonzero padding means a writer broke the format: refused like extract does)."""
        keep = max(0, min(len(plain), self.size - index * CHUNK))
        if plain.count(0, keep) != len(plain) - keep:
            raise IntegrityError(f"{self.meta.path}: payload padding is not zeros")
        return plain[:keep]


def read_range(vault: UnlockedVault, loc: Located, offset: int, length: int) -> bytes:
    """Bytes [OFFSET, OFFSET + LENGTH) of the file at LOC (cut at its end), authenticated,
    decrypting only the chunks they lie in. Follows a compact that moved the entry."""

    def read(at: Located) -> bytes:
        with open_reader(vault, at.pack) as reader:
            return EntryReader(vault, reader, at, None).read(offset, length)

    return following_compact(vault, loc, read)
