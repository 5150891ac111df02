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
    WriteNotVerified,
    WrongPassphrase,
)
from medvault.format import vault_header as header_fmt
from medvault.keys import header_auth
from medvault.keys.epochs import vault_keys
from medvault.keys.recovery_code import open_recovery_slots
from medvault.keys.slots import KdfBudget, open_slots
from medvault.secret import Secret
from medvault.store.fsio import media_errors, overwrite_in_place
from medvault.store.layout import HEADER_A, HEADER_B, VaultPaths, locate

MAX_HEADER_FILE = header_fmt.MAX_HEADER_FILE
HEADER_NAMES = (HEADER_A, HEADER_B)
STALE = "stale copy (older sequence number)"


@dataclass
class HeaderCopies:
    """Both header copies as found on the drive, parsed but not yet authenticated."""

    paths: VaultPaths
    parsed: dict[str, header_fmt.ParsedHeader] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    newer: list[str] = field(default_factory=list)  # copies written by a newer medvault

    def best_first(self) -> list[header_fmt.ParsedHeader]:
        return [parsed for _name, parsed in self.named_best_first()]

    def named_best_first(self) -> list[tuple[str, header_fmt.ParsedHeader]]:
        """The parsed copies with their names, the highest sequence number first."""
        return sorted(self.parsed.items(), key=lambda item: item[1].header.seq, reverse=True)

    @property
    def any(self) -> header_fmt.ParsedHeader:
        return self.best_first()[0]


def read_headers(paths: VaultPaths) -> HeaderCopies:
    copies = HeaderCopies(paths)
    for name, path in ((HEADER_A, paths.header_a), (HEADER_B, paths.header_b)):
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


@dataclass(frozen=True)
class Opened:
    """Which header copy's slot the secret opened, and what the secret was."""

    copy: str  # vault.mvh or vault.mvh.bak
    secret: str  # "passphrase" or "recovery code"


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
    # The copy whose slot the passphrase or recovery code opened (None: unlocked with the
    # vault key itself). Not among authentic_copies: the secret opens only an older copy.
    opened: Opened | None = None

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
    `repair` completes the change instead of undoing it. The result's `opened` names the
    copy the passphrase opened: `superseded` tells when it is not the copy in force.
    """
    wrong = False
    refused: FormatError | None = None
    budget = KdfBudget()  # over both copies: a slot found in both is tried once
    for name, parsed in copies.named_best_first():
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
        return replace(unlock_with_key(copies, vmk), opened=Opened(name, "passphrase"))
    if wrong:
        raise WrongPassphrase("wrong passphrase for this vault")
    if refused is not None:
        raise IntegrityError(refused.message)
    raise IntegrityError("no vault header copy passed authentication")


def unlock_with_recovery_code(copies: HeaderCopies, code: Secret) -> UnlockedVault:
    """Like `unlock`, with the printed recovery code instead of the passphrase."""
    for name, parsed in copies.named_best_first():
        try:
            vmk = open_recovery_slots(parsed.header.body.slots, parsed.header.vault_id, code)
        except WrongPassphrase:
            continue
        if header_auth.is_authentic(VaultKeys(vmk, parsed.header.vault_id), parsed):
            return replace(unlock_with_key(copies, vmk), opened=Opened(name, "recovery code"))
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


def header_copy_status(vault: UnlockedVault) -> dict[str, str]:
    """Each header copy: "ok" (the authentic copy in force), or why it is not."""
    out = {}
    for name in HEADER_NAMES:
        if name in vault.authentic_copies:
            out[name] = "ok"
        elif name in vault.copies.problems:
            out[name] = vault.copies.problems[name]
        elif name in vault.copies.parsed and _older(vault, name):
            out[name] = STALE
        else:
            out[name] = "failed authentication"
    return out


def _older(vault: UnlockedVault, name: str) -> bool:
    header = vault.require_header()
    return vault.copies.parsed[name].header.seq < header.seq


def superseded(vault: UnlockedVault) -> Opened | None:
    """The older header copy the passphrase (or recovery code) opened, when the copy in
    force does not accept it: the secret was changed since (a `passwd` or reset that
    reached only one copy). None when the secret opens the copy in force."""
    opened = vault.opened
    if opened is None or opened.copy in vault.authentic_copies:
        return None
    return opened


def header_copy_warnings(vault: UnlockedVault) -> list[str]:
    """What the person should know about the header copies after unlocking: the secret
    opened only an older copy, or a copy is missing, damaged, older or not authentic.
    Empty when both copies are the authentic copy in force."""
    if vault.header is None or len(vault.authentic_copies) == len(HEADER_NAMES):
        return []
    in_force = " and ".join(sorted(vault.authentic_copies))
    status = header_copy_status(vault)
    warnings = []
    old = superseded(vault)
    if old is not None:
        seq = vault.copies.parsed[old.copy].header.seq
        warnings.append(
            f"this {old.secret} opens only {old.copy}, an older header copy (sequence "
            f"{seq}); the copy in force, {in_force} (sequence {vault.header.seq}), does not "
            f"accept it: the {old.secret} was changed and the change reached only one copy. "
            f"`medvault repair` rewrites both copies from {in_force}; this {old.secret} "
            "then no longer opens the vault"
        )
    for name in HEADER_NAMES:
        if status[name] == "ok" or (old is not None and name == old.copy):
            continue
        why = status[name]
        if why == STALE:
            why = f"{STALE}, which may still open with a passphrase changed since"
        warnings.append(
            f"header copy {name}: {why}; the vault was opened from {in_force}. Run "
            "`medvault repair` to rewrite both copies from it"
        )
    return warnings


def refuse_superseded(vault: UnlockedVault) -> None:
    """For a command that must prove the person knows the secret in force now (passwd,
    erase, escrow reseal, unlock --remember): refuse a secret that opens only an older
    header copy (WrongPassphrase, exit 3)."""
    old = superseded(vault)
    if old is not None:
        raise WrongPassphrase(
            f"this {old.secret} was changed: it opens only the older header copy "
            f"{old.copy}, not the copy in force",
            hint=f"give the current passphrase; `medvault repair` rewrites {old.copy} "
            "from the copy in force",
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
    try:
        with media_errors("the vault header"):
            overwrite_in_place(
                paths.header_b, data, header_fmt.MAX_HEADER_FILE, header_fmt.PAD_BLOCK
            )
    except MedvaultError as exc:
        exc.hint = (
            f"{HEADER_A} holds the new header, {HEADER_B} may still hold the one before (after "
            "a passphrase change, one that opens with the passphrase replaced): run "
            "`medvault repair` once the drive is writable"
        )
        raise
    return header


def check_headers_written(
    paths: VaultPaths, keys: VaultKeys, header: header_fmt.VaultHeader
) -> None:
    """Both copies read back as HEADER (what write_headers returned), authentic under KEYS:
    a drive that dropped a write would otherwise leave the copy before, and the passphrase
    it accepts, in place unnoticed (WriteNotVerified, exit 25)."""
    copies = read_headers(paths)
    for name in HEADER_NAMES:
        parsed = copies.parsed.get(name)
        if parsed is None or parsed.header != header or not header_auth.is_authentic(keys, parsed):
            raise WriteNotVerified(
                f"header copy {name} did not read back as written",
                hint=f"until `medvault repair` rewrites it, {name} may still open with the "
                "passphrase before; check the drive, then run `medvault repair`",
            )
