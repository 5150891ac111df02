"""Read back a committed pack from the drive before its files are reported added (issue
18 item 2): every entry is authenticated again from what the medium gives, as `verify`
would, through descriptors that drop the page cache first (store/readback.py). A pack
that does not read back is taken off the drive and its files are named in the error."""

from __future__ import annotations

import contextlib

from medvault.engine.catalog import Located
from medvault.engine.entry_reading import authenticate_entry
from medvault.engine.names import shown
from medvault.engine.session import UnlockedVault
from medvault.errors import MedvaultError, WriteNotVerified
from medvault.format import pack as pfmt
from medvault.store import fsio
from medvault.store.packs import PackReader

NAMED = 5  # files named in the error; the rest are counted


def read_back_pack(vault: UnlockedVault, name: str, entries: list[Located]) -> None:
    """Authenticate every entry of pack NAME from the medium; WriteNotVerified (after the
    pack is removed) when any does not."""
    try:
        with PackReader(
            vault.paths, vault.vault_id, name, vault.part_size, from_medium=True
        ) as reader:
            reader.check_all_parts()
            for loc in entries:
                authenticate_entry(vault, reader, loc)
    except MedvaultError as exc:
        remove_pack(vault, name)
        raise not_verified([loc.path for loc in entries if loc.path], exc.message) from None


def not_verified(paths: list[str], why: str) -> WriteNotVerified:
    more = len(paths) - NAMED
    names = ", ".join(shown(p) for p in paths[:NAMED]) + (f" (and {more} more)" if more > 0 else "")
    what = f"{len(paths)} file(s): {names}" if paths else "a removal record"
    return WriteNotVerified(
        f"the drive gave back different bytes than were written for {what}; "
        f"they were not added ({why})"
    )


def remove_pack(vault: UnlockedVault, name: str) -> None:
    """Best effort: part 0 first, so what is left is an incomplete pack, never listed."""
    folder = vault.paths.pack_dir(name)
    index = 0
    with contextlib.suppress(OSError):
        while (part := folder / pfmt.part_filename(name, index)).exists():
            fsio.unlink(part)
            index += 1
        fsio.fsync_dir(folder)
