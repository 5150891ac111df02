"""Opening a vault: choose the header copy, unlock with a passphrase, check the MAC."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from medvault.crypto.key_schedule import VaultKeys
from medvault.errors import (
    FormatError,
    IntegrityError,
    MedvaultError,
    NotAVault,
    UnsupportedVersion,
    WrongPassphrase,
)
from medvault.format import vault_header as header_fmt
from medvault.keys import header_auth
from medvault.keys.epochs import vault_keys
from medvault.keys.recovery_code import open_recovery_slots
from medvault.keys.slots import KdfBudget, open_slots
from medvault.secret import Secret
from medvault.store.fsio import media_errors, overwrite_in_place
from medvault.store.layout import VaultPaths, locate

MAX_HEADER_FILE = header_fmt.MAX_HEADER_FILE


@dataclass
class HeaderCopies:
    """Both header copies as found on the drive, parsed but not yet authenticated."""

    paths: VaultPaths
    parsed: dict[str, header_fmt.ParsedHeader] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    newer: list[str] = field(default_factory=list)  # copies written by a newer medvault

    def best_first(self) -> list[header_fmt.ParsedHeader]:
        return sorted(self.parsed.values(), key=lambda p: p.header.seq, reverse=True)

    @property
    def any(self) -> header_fmt.ParsedHeader:
        return self.best_first()[0]


def read_headers(paths: VaultPaths) -> HeaderCopies:
    copies = HeaderCopies(paths)
    for name, path in (("vault.mvh", paths.header_a), ("vault.mvh.bak", paths.header_b)):
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_HEADER_FILE + 1)
            copies.parsed[name] = header_fmt.decode(data)
        except FileNotFoundError:
            copies.problems[name] = "missing"
        except OSError as exc:
            copies.problems[name] = f"unreadable ({exc.strerror})"
        except UnsupportedVersion as exc:
            copies.problems[name] = exc.message
            copies.newer.append(name)
        except MedvaultError as exc:
            copies.problems[name] = exc.message
    return copies


def open_headers(path: Path) -> HeaderCopies:
    paths = locate(path)
    copies = read_headers(paths)
    if not copies.parsed and copies.newer:
        raise UnsupportedVersion(f"{paths.root}: {copies.problems[copies.newer[0]]}")
    if not copies.parsed:
        detail = "; ".join(f"{k}: {v}" for k, v in copies.problems.items())
        raise NotAVault(
            f"no readable vault header in {paths.root} ({detail})",
            hint="`medvault repair` cannot help without a header; a security admin can "
            "recover the files from the registry's key package",
        )
    return copies


@dataclass
class UnlockedVault:
    """A vault whose key is known. ``header`` is None only when both header copies are gone
    and the key came from the registry's key package (escrow recovery)."""

    paths: VaultPaths
    header: header_fmt.VaultHeader | None
    keys: VaultKeys  # the key schedule; the raw vault key only through it
    copies: HeaderCopies
    authentic_copies: set[str]
    vault_id: bytes
    part_size: int

    @property
    def vault_id_hex(self) -> str:
        return self.vault_id.hex()

    def require_header(self) -> header_fmt.VaultHeader:
        if self.header is None:
            raise NotAVault(
                "both vault header copies are gone",
                hint="escrow recovery can still extract the files (medvault recover "
                "--from-registry); copy them into a new vault",
            )
        return self.header


def unlock(copies: HeaderCopies, passphrase: Secret) -> UnlockedVault:
    """Get the vault key from any copy the passphrase opens, then use the newest copy that
    is authentic under that key.

    After a passphrase change interrupted between the two copies, the old passphrase may
    still open the older copy; the newer (authentic) copy stays the one in force, so
    `repair` completes the change instead of undoing it.
    """
    wrong = False
    refused: FormatError | None = None
    budget = KdfBudget()  # over both copies: a slot found in both is tried once
    for parsed in copies.best_first():
        try:
            vmk = open_slots(parsed.header.body.slots, parsed.header.vault_id, passphrase, budget)
        except WrongPassphrase:
            wrong = True
            continue
        except FormatError as exc:
            refused = exc
            continue
        if not header_auth.is_authentic(VaultKeys(vmk, parsed.header.vault_id), parsed):
            continue
        return unlock_with_key(copies, vmk)
    if wrong:
        raise WrongPassphrase("wrong passphrase for this vault")
    if refused is not None:
        raise IntegrityError(refused.message)
    raise IntegrityError("no vault header copy passed authentication")


def unlock_with_recovery_code(copies: HeaderCopies, code: Secret) -> UnlockedVault:
    """Like `unlock`, with the printed recovery code instead of the passphrase."""
    for parsed in copies.best_first():
        try:
            vmk = open_recovery_slots(parsed.header.body.slots, parsed.header.vault_id, code)
        except WrongPassphrase:
            continue
        if header_auth.is_authentic(VaultKeys(vmk, parsed.header.vault_id), parsed):
            return unlock_with_key(copies, vmk)
    raise WrongPassphrase(
        "the recovery code does not open this vault",
        hint="check each group; was the vault created with --recovery-code?",
    )


def unlock_with_key(copies: HeaderCopies, vmk: Secret) -> UnlockedVault:
    """Unlock with the vault key itself (from escrow, the key cache or the registry)."""
    for parsed in copies.best_first():
        candidate = VaultKeys(vmk, parsed.header.vault_id)
        if header_auth.is_authentic(candidate, parsed):
            return _unlocked(copies, parsed, candidate)
    raise IntegrityError("no vault header copy passed authentication with this key")


def _unlocked(
    copies: HeaderCopies, chosen: header_fmt.ParsedHeader, candidate: VaultKeys
) -> UnlockedVault:
    authentic = set()
    for name, parsed in copies.parsed.items():
        with contextlib.suppress(MedvaultError):
            if parsed.header == chosen.header and header_auth.is_authentic(candidate, parsed):
                authentic.add(name)
    header = chosen.header
    keys = vault_keys(candidate, header.body)
    return UnlockedVault(
        copies.paths, header, keys, copies, authentic, header.vault_id, header.body.part_size
    )


def write_headers(
    paths: VaultPaths, keys: VaultKeys, header: header_fmt.VaultHeader
) -> header_fmt.VaultHeader:
    """Overwrite copy A in place, make it durable, then copy B: at every moment at least
    one complete copy exists, and no superseded version is left in the drive's free space
    (docs/FORMAT.md section 3). Writes the current header version; returns what it wrote."""
    header = replace(header, body=replace(header.body, version=header_fmt.FORMAT_VERSION))
    data = header_auth.seal(keys, header)
    with media_errors("the vault header"):
        overwrite_in_place(paths.header_a, data, header_fmt.MAX_HEADER_FILE, header_fmt.PAD_BLOCK)
        overwrite_in_place(paths.header_b, data, header_fmt.MAX_HEADER_FILE, header_fmt.PAD_BLOCK)
    return header
