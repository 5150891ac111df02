"""`medvault cat` and `medvault extract --to -`: plaintext to a stream, never to a disk.

Only authenticated bytes are written. A file up to IN_MEMORY bytes is decrypted whole in
memory and written only after its SHA-256 matches; nothing of a damaged one is written. A
larger file is written as it decrypts, each block only after every Cobblestone chunk in it
has authenticated; the SHA-256 of the whole file is known only at its end, so a file that
fails there (or at a damaged chunk) has had an authenticated prefix written, and the
stream stops with IntegrityError naming how much. Memory stays at most IN_MEMORY plus the
decrypt ring, whatever the sizes. Like extract, every read is a custody event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from medvault.engine.catalog import Located
from medvault.engine.entry_reading import ReaderCache, following_compact
from medvault.engine.path_index import live_files
from medvault.engine.session import UnlockedVault
from medvault.engine.writing import digest_of_digests
from medvault.errors import IntegrityError, UnsupportedVersion
from medvault.format.meta import FileMeta
from medvault.registry.actions import Action
from medvault.registry.records import CustodyRegistry
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.vault.reading import LAND_IN_MEMORY, decrypt_entry

# Files up to this size are held whole until their SHA-256 matches: nothing of them is
# written unless all of it is good.
IN_MEMORY = LAND_IN_MEMORY

Write = Callable[[bytes | memoryview], object]


@dataclass
class StreamResult:
    """What reached the stream: whole files, all bytes (a failed file's prefix too)."""

    files: int = 0
    bytes: int = 0
    digests: list[str] = field(default_factory=list)
    failed: str | None = None


def chosen_in_order(vault: UnlockedVault, wanted: list[str]) -> list[Located]:
    """The files to stream: each WANTED path in the order given (a folder's files in path
    order, a path named twice streamed twice, as cat does), or every file in path order.
    Every path must be in the vault (NotFound) before anything is written."""
    with live_files(vault) as live:
        if not wanted:
            return live.select([])
        return [loc for raw in wanted for loc in live.select([raw])]


def stream_files(
    vault: UnlockedVault,
    wanted: list[str],
    write: Write,
    registry: CustodyRegistry,
    env: Env,
    command: str,
) -> StreamResult:
    """Write the chosen files' plaintext to WRITE, one after the other; stop at the first
    that fails (IntegrityError or UnsupportedVersion, with the count of its bytes already
    written). The custody event (an extract to stdout, by COMMAND) records what was
    written, also when the reader went away or the stream failed."""
    chosen = chosen_in_order(vault, wanted)
    result = StreamResult()

    def counted(data: bytes | memoryview) -> None:
        write(data)
        result.bytes += len(data)

    readers = ReaderCache(vault)
    try:
        for loc in chosen:
            before = result.bytes
            try:
                stream_one(vault, readers, loc, counted)
            except (IntegrityError, UnsupportedVersion) as exc:
                result.failed = loc.path
                raise type(exc)(
                    f"{loc.path}: {exc.message}; {result.bytes - before} of its {loc.size} "
                    "bytes were written (each authenticated), the rest was not",
                    hint="the output is incomplete; `medvault verify` names the damage",
                ) from None
            result.files += 1
            result.digests.append(loc.sha256)
    finally:
        readers.close()
        record_event(registry, env, Action.EXTRACT, _details(result, command), vault=vault)
    return result


def _details(result: StreamResult, command: str) -> dict[str, object]:
    return {
        "to": "stdout",
        "command": command,
        "files": result.files,
        "bytes": result.bytes,
        "failed": 0 if result.failed is None else 1,
        "sha256_of_digests": digest_of_digests(result.digests),
    }


def stream_one(vault: UnlockedVault, readers: ReaderCache, loc: Located, write: Write) -> FileMeta:
    """Write LOC's plaintext to WRITE, only authenticated bytes (see the module's text). If
    a compact moved the entry after some was written, the read from its new place skips
    what was already written."""
    if loc.size <= IN_MEMORY:
        pieces: list[bytes] = []

        def read_small(at: Located) -> FileMeta:
            pieces.clear()
            return decrypt_entry(vault, readers, at, lambda d: pieces.append(bytes(d)), None)

        meta = following_compact(vault, loc, read_small)
        write(b"".join(pieces))
        return meta
    written = 0

    def read_large(at: Located) -> FileMeta:
        seen = 0

        def sink(data: bytes | memoryview) -> None:
            nonlocal seen, written
            skip = min(len(data), max(0, written - seen))
            seen += len(data)
            if skip < len(data):
                write(data[skip:])
                written += len(data) - skip

        return decrypt_entry(vault, readers, at, sink, None)

    return following_compact(vault, loc, read_large)
