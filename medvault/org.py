"""`medvault org init`: make the organisation's escrow key and deal the admin shares.

The escrow private key exists only in memory here: it is derived from a random seed,
the seed is split into SLIP-39 shares (one per admin), and only the public key is saved.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from medvault.config import ORG_FILE, EscrowKeyConfig, OrgConfig, render_org_toml
from medvault.crypto.escrow import SEED_LEN, EscrowPrivateKey, EscrowSuite
from medvault.crypto.symmetric import random_bytes
from medvault.errors import AlreadyExists, CryptoUnavailable, UsageError
from medvault.keys.shares import (
    ParsedShare,
    ShareError,
    combine_parsed,
    combine_shares,
    split_seed,
)
from medvault.secret import Secret

ADMIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class OrgCreated:
    org: OrgConfig
    config_path: Path
    share_paths: tuple[Path, ...]


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
    out_dir: Path,
    created_at: str,
) -> tuple[EscrowKeyConfig, tuple[Path, ...]]:
    """Split SEED into one share file per admin; returns the key's public config entry."""
    private = EscrowPrivateKey(suite, seed)
    mnemonics = split_seed(seed, threshold, len(admins))
    # Prove the shares rebuild this exact key before anyone relies on them.
    if EscrowPrivateKey(suite, combine_shares(mnemonics[:threshold])).public != private.public:
        raise UsageError("internal check failed: shares do not rebuild the escrow key")
    key_id = private.public.key_id
    shares_dir = out_dir / "shares"
    shares_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(shares_dir, 0o700)
    paths = []
    for admin, mnemonic in zip(admins, mnemonics, strict=True):
        path = shares_dir / f"{admin}.txt"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise AlreadyExists(
                f"{path} already exists", hint="an old share file must be destroyed first"
            ) from None
        with os.fdopen(fd, "w") as handle:
            handle.write(share_text(org_name, admin, key_id, threshold, len(admins), mnemonic))
        paths.append(path)
    entry = EscrowKeyConfig(
        key_id, suite.value, private.public.raw, threshold, tuple(admins), created_at
    )
    return entry, tuple(paths)


def _write_config(org: OrgConfig, config_path: Path) -> None:
    tmp = config_path.with_name(config_path.name + ".tmp")
    tmp.write_text(render_org_toml(org))
    os.replace(tmp, config_path)


def init_org(
    name: str,
    contact: str,
    admins: list[str],
    threshold: int,
    suite: EscrowSuite,
    out_dir: Path,
    created_at: str,
) -> OrgCreated:
    _check_admins(admins)
    config_path = out_dir / ORG_FILE
    if config_path.exists():
        raise AlreadyExists(f"{config_path} already exists", hint="choose another --out folder")
    seed = Secret(random_bytes(SEED_LEN))
    entry, paths = _deal(seed, suite, admins, threshold, name, out_dir, created_at)
    org = OrgConfig(name=name, contact=contact, org_id=str(uuid.uuid4()), escrow_keys=(entry,))
    _write_config(org, config_path)
    return OrgCreated(org, config_path, paths)


def identify_key(org: OrgConfig, seed: Secret) -> tuple[EscrowKeyConfig, EscrowPrivateKey]:
    """Which of the org's escrow keys SEED rebuilds (active or retired)."""
    for key in org.escrow_keys:
        try:
            private = EscrowPrivateKey(EscrowSuite(key.suite), seed)
        except (ValueError, CryptoUnavailable):
            continue
        if private.public.raw == key.public_key:
            return key, private
    raise ShareError(
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
) -> OrgCreated:
    """A new active escrow key with new shares; earlier keys are kept, marked retired, so
    vaults not yet resealed can still be matched and recovered with their old shares."""
    _check_admins(admins)
    seed = Secret(random_bytes(SEED_LEN))
    entry, paths = _deal(seed, suite, admins, threshold, org.name, out_dir, created_at)
    retired = tuple(replace(k, status="retired") for k in org.escrow_keys)
    new_org = replace(org, escrow_keys=(entry, *retired), path=out_dir / ORG_FILE)
    _write_config(new_org, out_dir / ORG_FILE)
    return OrgCreated(new_org, out_dir / ORG_FILE, paths)


def reshare_org(
    org: OrgConfig,
    shares: list[ParsedShare],
    admins: list[str],
    threshold: int,
    out_dir: Path,
    created_at: str,
) -> tuple[OrgCreated, tuple[str, ...]]:
    """The same escrow key, dealt to a new set of admins. Returns the approvers too.

    Old shares are not revoked by this (they still combine to the same key): after a
    suspected leak of a share, rotate instead."""
    _check_admins(admins)
    seed = combine_parsed(shares)
    key, _private = identify_key(org, seed)
    used = list({s.member_index: s for s in shares}.values())[: shares[0].threshold]
    approvers = tuple(
        key.admins[s.member_index] if s.member_index < len(key.admins) else "unknown" for s in used
    )
    entry, paths = _deal(
        seed, EscrowSuite(key.suite), admins, threshold, org.name, out_dir, key.created_at
    )
    entry = replace(entry, status=key.status)
    keys = tuple(entry if k.key_id == key.key_id else k for k in org.escrow_keys)
    new_org = replace(org, escrow_keys=keys, path=out_dir / ORG_FILE)
    _write_config(new_org, out_dir / ORG_FILE)
    return OrgCreated(new_org, out_dir / ORG_FILE, paths), approvers
