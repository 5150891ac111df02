"""Re-key: give a vault a new vault key, so a compromised escrow key (or any copy of the
old vault key) opens nothing on the drive or in the registry any more.

Cost is proportional to the number of entries, not their bytes: every file key (FK) stays,
only its wrapping changes. Each entry header is rewritten in place, the same length, with
FK wrapped under the new key, the new key epoch, fresh metadata nonce and MAC; payloads are
not touched. Steps, all under the writer lock (docs/FORMAT.md section 3.2):

1. Header: the new key in a new passphrase slot (and a new recovery-code slot if the vault
   had one), escrow packages of the new key, the key epoch + 1, and the old key wrapped
   under the new one ("previous"). Written in place, so the old slots and packages are gone.
2. Registry: the new packages put in force, the old ones emptied.
3. The path index (a cache, under the old key) is overwritten in place and deleted.
4. Every entry under an older epoch is re-wrapped, a pack at a time, through a redo record
   (store/redo.py): made durable first, then written in place.
5. Every index record and custody log entry under an older epoch is re-encrypted in place
   the same way (same plaintext, new nonce, same length).
6. The header is written without "previous"; the path index is rebuilt if the vault is big
   enough to need one.

A crash at any point leaves a vault that opens with its passphrase, whose every entry,
index record and log entry is readable (those not yet re-encrypted through the previous key
the header still holds); running the re-key again finishes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from medvault.config import OrgConfig
from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.symmetric import new_key
from medvault.engine import path_index
from medvault.engine.session import UnlockedVault, write_headers
from medvault.engine.writing import sweep_tmp
from medvault.errors import IntegrityError, MedvaultError
from medvault.format import entry as efmt
from medvault.format import pack as pfmt
from medvault.format import vault_header as hfmt
from medvault.keys.epochs import vault_keys, wrap_previous
from medvault.keys.key_packages import seal_key_packages
from medvault.keys.recovery_code import generate, make_recovery_slot
from medvault.keys.slots import make_slot
from medvault.registry.records import EventSink, KeyPackage
from medvault.secret import Secret, VaultKey
from medvault.store import drive_log, fsio, journal, redo
from medvault.store.entries import rewrap_header
from medvault.store.fsio import media_errors
from medvault.store.layout import VaultPaths
from medvault.store.lock import writer_lock
from medvault.store.packs import PackReader, list_packs
from medvault.vault.env import Env
from medvault.vault.org_keys import escrow_public_keys

Progress = Callable[[int, int], None]  # (entries done, entries in all)


class RekeyRegistry(EventSink, Protocol):
    def replace_key_packages(self, vault_id: str, packages: list[KeyPackage], at: str) -> None: ...


@dataclass(frozen=True)
class Rekeyed:
    key_epoch: int
    entries_rewrapped: int
    log_entries_reencrypted: int
    resumed: bool
    key_ids_before: list[str]
    key_ids_after: list[str]
    recovery_code: str | None  # the new code, when the vault had a recovery-code slot


def rekey(
    vault: UnlockedVault,
    passphrase: Secret,
    org: OrgConfig,
    registry: RekeyRegistry,
    env: Env,
    progress: Progress | None = None,
) -> Rekeyed:
    """Re-key VAULT (or finish a re-key a crash interrupted). PASSPHRASE is the one that
    unlocked it: the new key gets a slot for it."""
    with writer_lock(vault.paths.lock):
        sweep_tmp(vault.paths)
        current = vault.require_header()
        before = [slot.key_id for slot in current.body.escrow]
        resumed = bool(current.body.previous)
        code: str | None = None
        if not resumed:
            code = _new_key_in_header(vault, passphrase, org, env)
        header = vault.require_header()
        packages = [
            KeyPackage(vault.vault_id_hex, s.key_id, s.suite, s.sealed) for s in header.body.escrow
        ]
        registry.replace_key_packages(vault.vault_id_hex, packages, env.timestamp())
        _destroy_path_index(vault.paths)
        rewrapped = _rewrap_entries(vault, progress)
        for batch in journal.rekey_patches(vault.paths, vault.keys):
            redo.commit(vault.paths, vault.keys, batch)
        log_patches, _ = drive_log.rekey_patches(vault.paths, vault.keys)
        redo.commit(vault.paths, vault.keys, log_patches)
        finished = replace(header, seq=header.seq + 1, body=replace(header.body, previous=()))
        vault.header = write_headers(vault.paths, vault.keys, finished)
        root = VaultKey(vault.keys.vault_key().reveal(), finished.body.key_epoch)
        vault.keys = VaultKeys(root, vault.vault_id)
        path_index.replace_if_unsound(vault)
    return Rekeyed(
        finished.body.key_epoch,
        rewrapped,
        len(log_patches),
        resumed,
        before,
        [slot.key_id for slot in finished.body.escrow],
        code,
    )


def _new_key_in_header(
    vault: UnlockedVault, passphrase: Secret, org: OrgConfig, env: Env
) -> str | None:
    """Step 1: the header in force names a new vault key; returns a new recovery code if
    the vault had one (the old code cannot be re-wrapped without being typed)."""
    current = vault.require_header()
    body = current.body
    old = vault.keys
    fresh = new_key()
    fresh_keys = VaultKeys(fresh, vault.vault_id)
    epoch = body.key_epoch + 1
    now = env.timestamp()
    first_id = max(s.slot_id for s in body.slots) + 1
    slots: list[hfmt.Slot] = [make_slot(fresh, vault.vault_id, first_id, passphrase, env.kdf, now)]
    code: str | None = None
    if any(isinstance(s, hfmt.RecoveryCodeSlot) for s in body.slots):
        code, code_secret = generate()
        slots.append(make_recovery_slot(fresh, vault.vault_id, first_id + 1, code_secret, now))
    new_body = replace(
        body,
        slots=tuple(slots),
        escrow=seal_key_packages(fresh, vault.vault_id, escrow_public_keys(org)),
        key_epoch=epoch,
        previous=(wrap_previous(fresh_keys, old.epoch or body.key_epoch, old.vault_key()),),
    )
    header = hfmt.VaultHeader(vault.vault_id, current.seq + 1, new_body)
    vault.header = write_headers(vault.paths, fresh_keys, header)
    vault.keys = vault_keys(fresh_keys, new_body)
    vault.authentic_copies = {"vault.mvh", "vault.mvh.bak"}
    return code


def _destroy_path_index(paths: VaultPaths) -> None:
    """Step 3: the path index holds paths under the old key: overwrite it in place with
    zeros, then delete it (a cache; step 6 writes a new one if the vault needs one)."""
    with media_errors("the path index"), contextlib.suppress(FileNotFoundError):
        size = paths.path_index.stat().st_size
        fsio.overwrite_in_place(paths.path_index, bytes(size))
        fsio.unlink(paths.path_index)
        fsio.fsync_dir(paths.index_dir)


def _rewrap_entries(vault: UnlockedVault, progress: Progress | None) -> int:
    """Step 4: re-wrap every entry still under an older epoch, one redo record per pack
    (a pending record from an interrupted run is applied first)."""
    pending = redo.read_record(vault.paths, vault.keys)
    if pending is not None:
        redo.apply(vault.paths, pending)
        redo.clear_record(vault.paths)
    epoch = vault.keys.epoch
    # First the count, for the progress bar (offsets only: memory stays small).
    plans: list[tuple[str, list[tuple[int, int]]]] = []
    for name in list_packs(vault.paths):
        with PackReader(vault.paths, vault.vault_id, name, vault.part_size) as reader:
            olds = [(off, length) for off, length, e in _headers(reader) if e != epoch]
        if olds:
            plans.append((name, olds))
    total = sum(len(olds) for _, olds in plans)
    done = 0
    for name, olds in plans:
        patches = []
        with PackReader(vault.paths, vault.vault_id, name, vault.part_size) as reader:
            for offset, length in olds:
                try:
                    fresh = rewrap_header(vault.keys, reader.read(offset, length))
                except MedvaultError as exc:
                    raise IntegrityError(
                        f"pack {name}: the entry at {offset} cannot be re-keyed ({exc.message})",
                        hint="run `medvault verify` and `medvault repair`, then re-key again; "
                        "the vault stays readable meanwhile",
                    ) from None
                patches += _pack_patches(vault.paths, name, vault.part_size, offset, fresh)
        redo.commit(vault.paths, vault.keys, patches)
        done += len(olds)
        if progress is not None:
            progress(done, total)
    return total


def _headers(reader: PackReader) -> list[tuple[int, int, int]]:
    """(offset, header length, key epoch) of every entry in the pack, by its structure."""
    size = reader.logical_size()
    offset = 0
    found = []
    while offset < size:
        try:
            header_len = efmt.peek_header_len(reader.read(offset, 12))
            data = reader.read(offset, header_len)
            parsed = efmt.decode(data).header
        except MedvaultError as exc:
            raise IntegrityError(
                f"pack {reader.name} is damaged at {offset} ({exc.message}): the re-key "
                "cannot reach the entries after it",
                hint="run `medvault verify` and `medvault repair`, then re-key again; the "
                "vault stays readable meanwhile",
            ) from None
        found.append((offset, header_len, parsed.key_epoch))
        offset += header_len + parsed.payload_len
    return found


def _pack_patches(
    paths: VaultPaths, name: str, part_size: int, offset: int, data: bytes
) -> list[redo.Patch]:
    """DATA at stream OFFSET of pack NAME, as patches of its part files (an entry header
    may straddle two parts)."""
    patches = []
    while data:
        index, within = divmod(offset, part_size)
        n = min(len(data), part_size - within)
        part = paths.pack_dir(name) / pfmt.part_filename(name, index)
        relative = part.relative_to(paths.root).as_posix()
        patches.append(redo.Patch(relative, pfmt.PRELUDE_LEN + within, data[:n]))
        data, offset = data[n:], offset + n
    return patches
