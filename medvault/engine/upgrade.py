"""Format 1.0 entries become format 1.1 as `compact` moves them (docs/FORMAT.md §5.1).

A 1.0 entry shows its payload's exact length; its 1.1 copy keeps the same file id and
metadata (so every journal record and tombstone that names it still does) under a new file
key, with padded lengths. The old entry is authenticated as it is read: its plaintext goes
only into the new entry's cipher, and a copy whose source fails is never committed (the
commit aborts, and the old pack stays).
"""

from __future__ import annotations

from medvault.engine.catalog import Located
from medvault.engine.entry_reading import authenticate_entry, stream_entry
from medvault.engine.session import UnlockedVault
from medvault.engine.writing import Committer
from medvault.format import entry as entry_fmt
from medvault.format.meta import FileMeta
from medvault.store.entries import WRITE_SUITE, open_header, seal_entry
from medvault.store.packs import PackReader


def pack_suite(reader: PackReader) -> int | None:
    """The suite of the first entry of READER's pack (a writer writes one suite into a
    pack), or None for an empty one."""
    if reader.logical_size() < 14:
        return None
    prefix = reader.read(0, 14)
    entry_fmt.peek_header_len(prefix)
    return int.from_bytes(prefix[12:14], "big")


def needs_upgrade(reader: PackReader) -> bool:
    suite = pack_suite(reader)
    return suite is not None and suite != WRITE_SUITE


def copy_upgraded(
    vault: UnlockedVault, reader: PackReader, loc: Located, committer: Committer
) -> Located:
    """Write LOC's entry again as a format 1.1 entry into COMMITTER's pack; returns where
    it now is."""
    opened = open_header(vault.keys, reader.read(loc.offset, loc.header_len))
    if opened.kind == entry_fmt.Kind.TOMBSTONE:
        authenticate_entry(vault, reader, loc)
        content = 0
    else:
        content = FileMeta.decode(opened.meta).size
    sealed = seal_entry(vault.keys, opened.header.file_id, opened.kind, opened.meta, content)
    writer = committer.entry(len(sealed.header) + sealed.payload_len)
    offset = writer.position
    writer.write(sealed.header)
    enc = sealed.encryptor()
    if opened.kind == entry_fmt.Kind.FILE:
        stream_entry(vault, reader, loc, lambda plain: writer.write(enc.update(plain)))
    for piece in enc.finish():
        writer.write(piece)
    moved = loc._replace(
        pack=writer.name,
        offset=offset,
        header_len=len(sealed.header),
        payload_len=sealed.payload_len,
    )
    committer.add_pending(moved)
    return moved
