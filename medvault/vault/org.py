"""`medvault org init`: make the organisation's escrow key and deal the admin shares.

The escrow private key exists only in memory here: it is derived from a random seed,
the seed is split into SLIP-39 shares (one per admin), and only the public key is saved.
How the shares reach the admins is the caller's choice (a ShareHandout): on a terminal the
CLI shows them one admin at a time; share files are written only where asked, and (unless
the caller accepts a disk) only to memory-backed storage, since a deleted file's blocks
survive on a disk.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from medvault.config import ORG_FILE, EscrowKeyConfig, OrgConfig, is_time_zone, render_org_toml
from medvault.crypto.escrow import SEED_LEN, EscrowPrivateKey, EscrowSuite, suite_available
from medvault.crypto.symmetric import random_bytes
from medvault.errors import AlreadyExists, CryptoUnavailable, UsageError
from medvault.keys.shares import (
    ParsedShare,
    ShareError,
    approvers,
    combine_parsed,
    combine_shares,
    split_seed,
)
from medvault.registry.actions import Action
from medvault.registry.records import EventSink
from medvault.secret import Secret
from medvault.vault.custody import record
from medvault.vault.env import Env
from medvault.workstation.mounts import filesystem_of
from medvault.workstation.staging import MEMORY_FILESYSTEMS

ADMIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
LOCALTIME = Path("/etc/localtime")
TIMEZONE_FILE = Path("/etc/timezone")


def local_time_zone() -> str:
    """This workstation's IANA time zone ($TZ, /etc/timezone, the /etc/localtime link),
    else "UTC": a name zoneinfo does not know is skipped."""
    candidates = (os.environ.get("TZ", "").removeprefix(":"), _timezone_file(), _linked_zone())
    return next((name for name in candidates if name and is_time_zone(name)), "UTC")


def _timezone_file() -> str:
    try:
        return TIMEZONE_FILE.read_text(encoding="utf-8", errors="replace")[:100].strip()
    except OSError:
        return ""


def _linked_zone() -> str:
    # /etc/localtime -> /usr/share/zoneinfo/America/Los_Angeles on most Linux systems.
    try:
        target = os.readlink(LOCALTIME)
    except OSError:
        return ""
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""


def choose_time_zone(given: str | None, current: str | None = None) -> str:
    """GIVEN (--time-zone), else the org's CURRENT zone, else this workstation's."""
    name = given if given is not None else current or local_time_zone()
    if not is_time_zone(name):
        raise UsageError(
            f"--time-zone {name}: not an IANA time zone name",
            hint="use a name such as America/Los_Angeles or Europe/Berlin (or UTC)",
        )
    return name


@dataclass(frozen=True)
class OrgCreated:
    org: OrgConfig
    config_path: Path
    share_paths: tuple[Path, ...]  # empty when the shares were not written to files


@dataclass(frozen=True)
class DealtShare:
    """One admin's share of a new escrow key, with what they need to file it."""

    admin: str
    number: int  # 1..total, in --admin order
    total: int
    threshold: int
    org_name: str
    key_id: str
    mnemonic: Secret  # UTF-8 words

    def words(self) -> list[str]:
        return self.mnemonic.reveal().decode().split()

    def text(self) -> str:
        return share_text(
            self.org_name,
            self.admin,
            self.key_id,
            self.threshold,
            self.total,
            self.mnemonic.reveal().decode(),
        )


class ShareHandout(Protocol):
    """How dealt shares reach their admins."""

    def prepare(self, admins: Sequence[str]) -> None:
        """Refuse (MedvaultError) before any key is made if the shares could not be handed
        out as asked."""
        ...

    def hand_out(self, shares: Sequence[DealtShare]) -> tuple[Path, ...]:
        """Give each admin their share; returns the share files written (if any)."""
        ...


class ShareFiles:
    """One file per admin, FOLDER/<admin>.txt (0600, in a 0700 folder). FOLDER must be on a
    memory-backed file system (tmpfs, ramfs) unless ALLOW_DISK."""

    def __init__(self, folder: Path, allow_disk: bool) -> None:
        self.folder = folder
        self.allow_disk = allow_disk

    def prepare(self, admins: Sequence[str]) -> None:
        if not self.allow_disk:
            refuse_disk_folder(self.folder)
        for admin in admins:
            path = self._path(admin)
            if path.exists():
                raise AlreadyExists(
                    f"{path} already exists", hint="an old share file must be destroyed first"
                )

    def hand_out(self, shares: Sequence[DealtShare]) -> tuple[Path, ...]:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        written: list[Path] = []
        try:
            for share in shares:
                written.append(self._write(share))
        except BaseException:
            for path in written:  # shares of a key that will not be used
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        return tuple(written)

    def _path(self, admin: str) -> Path:
        return self.folder / f"{admin}.txt"

    def _write(self, share: DealtShare) -> Path:
        path = self._path(share.admin)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise AlreadyExists(
                f"{path} already exists", hint="an old share file must be destroyed first"
            ) from None
        with os.fdopen(fd, "w") as handle:
            handle.write(share.text())
        return path


def refuse_disk_folder(folder: Path) -> None:
    """UsageError unless FOLDER (or where it would be made) is memory-backed."""
    kind = filesystem_of(folder)
    if kind not in MEMORY_FILESYSTEMS:
        raise UsageError(
            f"share files would be written to {folder}, on {kind or 'an unknown file system'}"
            ", not in memory: deleted files can be read back from a disk",
            hint="on a terminal, leave out --shares-to-files to show each admin their share; "
            "or use an --out folder on a tmpfs (/dev/shm); or pass --shares-to-disk",
        )


def share_text(
    org_name: str, admin: str, key_id: str, threshold: int, total: int, mnemonic: str
) -> str:
    return (
        f"# medvault escrow share for {admin}\n"
        f"# Organisation: {org_name}   escrow key id: {key_id}\n"
        f"# {threshold} of {total} admins' shares are needed to recover a vault.\n"
        "# Keep this secret: print it, seal it, store it offline, then delete this file.\n"
        f"{mnemonic}\n"
    )


def _check_admins(admins: list[str]) -> None:
    if len(set(admins)) != len(admins):
        raise UsageError("each --admin must be different")
    for admin in admins:
        if not ADMIN_NAME.match(admin):
            raise UsageError(f"admin name {admin!r}: use letters, digits, '.', '_' or '-'")


def _deal(
    seed: Secret,
    suite: EscrowSuite,
    admins: list[str],
    threshold: int,
    org_name: str,
    created_at: str,
) -> tuple[EscrowKeyConfig, tuple[DealtShare, ...]]:
    """Split SEED into one share per admin, in memory; returns the key's public config
    entry and the shares."""
    private = EscrowPrivateKey(suite, seed)
    mnemonics = split_seed(seed, threshold, len(admins))
    # Prove the shares rebuild this exact key before anyone relies on them.
    if EscrowPrivateKey(suite, combine_shares(mnemonics[:threshold])).public != private.public:
        raise UsageError("internal check failed: shares do not rebuild the escrow key")
    key_id = private.public.key_id
    shares = tuple(
        DealtShare(admin, n, len(admins), threshold, org_name, key_id, Secret(words.encode()))
        for n, (admin, words) in enumerate(zip(admins, mnemonics, strict=True), 1)
    )
    entry = EscrowKeyConfig(
        key_id, suite.value, private.public.raw, threshold, tuple(admins), created_at
    )
    return entry, shares


def _publish(
    org: OrgConfig, config_path: Path, handout: ShareHandout, shares: Sequence[DealtShare]
) -> tuple[Path, ...]:
    """Hand out SHARES, then put ORG's config in place. The config is written first under
    a temporary name (so an unwritable folder fails before any share is shown) and removed
    if the hand-out stops: a key whose shares were not all dealt is never used."""
    tmp = config_path.with_name(config_path.name + ".tmp")
    tmp.write_text(render_org_toml(org))
    try:
        paths = handout.hand_out(shares)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, config_path)
    return paths


def _default_handout(out_dir: Path) -> ShareHandout:
    """For library callers (the demo, tests): files under OUT_DIR/shares, on any disk."""
    return ShareFiles(out_dir / "shares", allow_disk=True)


def init_org(
    name: str,
    contact: str,
    admins: list[str],
    threshold: int,
    suite: EscrowSuite,
    out_dir: Path,
    created_at: str,
    handout: ShareHandout | None = None,
    time_zone: str | None = None,
) -> OrgCreated:
    """A new organisation; TIME_ZONE (IANA) defaults to this workstation's, else UTC."""
    _check_admins(admins)
    zone = choose_time_zone(time_zone)
    config_path = out_dir / ORG_FILE
    if config_path.exists():
        raise AlreadyExists(f"{config_path} already exists", hint="choose another --out folder")
    handout = handout or _default_handout(out_dir)
    handout.prepare(admins)
    seed = Secret(random_bytes(SEED_LEN))
    entry, shares = _deal(seed, suite, admins, threshold, name, created_at)
    org = OrgConfig(
        name=name,
        contact=contact,
        org_id=str(uuid.uuid4()),
        escrow_keys=(entry,),
        time_zone=zone,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = _publish(org, config_path, handout, shares)
    return OrgCreated(org, config_path, paths)


class ForeignEscrowKey(ShareError):
    """The shares rebuild a key that is not in the organisation's config (the shares of
    another organisation, or the config of another)."""


def usable_suite(name: str) -> EscrowSuite:
    """The escrow suite NAME, if the installed cryptography has it (CryptoUnavailable
    otherwise)."""
    suite = EscrowSuite(name)
    reason = suite_available(suite)
    if reason is not None:
        raise CryptoUnavailable(reason)
    return suite


def identify_key(org: OrgConfig, seed: Secret) -> tuple[EscrowKeyConfig, EscrowPrivateKey]:
    """Which of the org's escrow keys SEED rebuilds (active or retired)."""
    for key in org.escrow_keys:
        try:
            private = EscrowPrivateKey(EscrowSuite(key.suite), seed)
        except (ValueError, CryptoUnavailable):
            continue
        if private.public.raw == key.public_key:
            return key, private
    raise ForeignEscrowKey(
        "the shares rebuild a key that is not in this organisation's config",
        hint="check --org; shares of a rotated-out key still match its retired entry",
    )


def rotate_org(
    org: OrgConfig,
    admins: list[str],
    threshold: int,
    suite: EscrowSuite,
    out_dir: Path,
    created_at: str,
    handout: ShareHandout | None = None,
    time_zone: str | None = None,
) -> OrgCreated:
    """A new active escrow key with new shares; earlier keys are kept, marked retired, so
    vaults not yet resealed can still be matched and recovered with their old shares.
    TIME_ZONE replaces the org's zone; without it the org's is kept (this workstation's
    when org.toml has none)."""
    _check_admins(admins)
    zone = choose_time_zone(time_zone, org.time_zone)
    handout = handout or _default_handout(out_dir)
    handout.prepare(admins)
    seed = Secret(random_bytes(SEED_LEN))
    entry, shares = _deal(seed, suite, admins, threshold, org.name, created_at)
    retired = tuple(replace(k, status="retired") for k in org.escrow_keys)
    new_org = replace(org, escrow_keys=(entry, *retired), path=out_dir / ORG_FILE, time_zone=zone)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = _publish(new_org, out_dir / ORG_FILE, handout, shares)
    return OrgCreated(new_org, out_dir / ORG_FILE, paths)


def reshare_org(
    org: OrgConfig,
    shares: list[ParsedShare],
    admins: list[str],
    threshold: int,
    out_dir: Path,
    created_at: str,
    handout: ShareHandout | None = None,
) -> tuple[OrgCreated, tuple[str, ...]]:
    """The same escrow key, dealt to a new set of admins. Returns the approvers too.

    Old shares are not revoked by this (they still combine to the same key): after a
    suspected leak of a share, rotate instead."""
    _check_admins(admins)
    handout = handout or _default_handout(out_dir)
    handout.prepare(admins)
    seed = combine_parsed(shares)
    key, _private = identify_key(org, seed)
    approved_by = approvers(key.admins, shares, unnamed="unknown")
    entry, dealt = _deal(seed, EscrowSuite(key.suite), admins, threshold, org.name, key.created_at)
    entry = replace(entry, status=key.status)
    keys = tuple(entry if k.key_id == key.key_id else k for k in org.escrow_keys)
    new_org = replace(org, escrow_keys=keys, path=out_dir / ORG_FILE)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = _publish(new_org, out_dir / ORG_FILE, handout, dealt)
    return OrgCreated(new_org, out_dir / ORG_FILE, paths), approved_by


def active_key_approvers(org: OrgConfig, shares: Sequence[ParsedShare]) -> tuple[str, ...]:
    """The approvers, once SHARES prove a quorum of the current (active) escrow key."""
    key, _private = identify_key(org, combine_parsed(shares))
    if key.status != "active":
        raise ShareError(f"the shares are for retired escrow key {key.key_id}")
    return approvers(key.admins, shares, unnamed=None)


@dataclass(frozen=True)
class NewKey:
    """The admins, quorum and suite of an escrow key about to be made."""

    admins: list[str]
    threshold: int
    suite: str


def rotate_approved(
    org: OrgConfig,
    shares: Sequence[ParsedShare],
    new_key: NewKey,
    out_dir: Path,
    handout: ShareHandout,
    time_zone: str,
    reason: str,
    registry: EventSink,
    env: Env,
) -> OrgCreated:
    """rotate_org, once SHARES prove a quorum of the active key, and the `rotate` event
    (who approved, the new key, the retired ones)."""
    approved_by = active_key_approvers(org, shares)
    suite = usable_suite(new_key.suite)
    created = rotate_org(
        org, new_key.admins, new_key.threshold, suite, out_dir, env.timestamp(), handout, time_zone
    )
    made = created.org.escrow_keys[0]
    details = {
        "reason": reason,
        "approvers": list(approved_by),
        "new_key_id": made.key_id,
        "retired_key_ids": [k.key_id for k in created.org.escrow_keys[1:]],
        "admins": list(made.admins),
        "threshold": made.threshold,
    }
    record(registry, env, Action.ROTATE, details)
    return created


def reshare_approved(
    org: OrgConfig,
    shares: list[ParsedShare],
    admins: list[str],
    threshold: int,
    out_dir: Path,
    handout: ShareHandout,
    reason: str,
    registry: EventSink,
    env: Env,
) -> tuple[OrgCreated, EscrowKeyConfig]:
    """reshare_org, and the `reshare` event (who approved, the key, its new admins)."""
    created, approved_by = reshare_org(
        org, shares, admins, threshold, out_dir, env.timestamp(), handout
    )
    key = next(k for k in created.org.escrow_keys if k.admins == tuple(admins))
    details = {
        "reason": reason,
        "approvers": list(approved_by),
        "key_id": key.key_id,
        "admins": list(admins),
        "threshold": threshold,
    }
    record(registry, env, Action.RESHARE, details)
    return created, key
