"""`medvault org init`: make the organisation's escrow key and deal the admin shares.

The escrow private key exists only in memory here: it is derived from a random seed,
the seed is split into SLIP-39 shares (one per admin), and only the public key is saved.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from medvault.config import ORG_FILE, EscrowKeyConfig, OrgConfig, render_org_toml
from medvault.crypto.escrow import SEED_LEN, EscrowPrivateKey, EscrowSuite
from medvault.crypto.symmetric import random_bytes
from medvault.errors import AlreadyExists, UsageError
from medvault.keys.shares import combine_shares, split_seed
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


def init_org(
    name: str,
    contact: str,
    admins: list[str],
    threshold: int,
    suite: EscrowSuite,
    out_dir: Path,
    created_at: str,
) -> OrgCreated:
    if len(set(admins)) != len(admins):
        raise UsageError("each --admin must be different")
    for admin in admins:
        if not ADMIN_NAME.match(admin):
            raise UsageError(f"admin name {admin!r}: use letters, digits, '.', '_' or '-'")
    config_path = out_dir / ORG_FILE
    if config_path.exists():
        raise AlreadyExists(f"{config_path} already exists", hint="choose another --out folder")
    seed = Secret(random_bytes(SEED_LEN))
    private = EscrowPrivateKey(suite, seed)
    mnemonics = split_seed(seed, threshold, len(admins))
    # Prove the shares rebuild this exact key before anyone relies on them.
    if EscrowPrivateKey(suite, combine_shares(mnemonics[:threshold])).public != private.public:
        raise UsageError("internal check failed: shares do not rebuild the escrow key")
    key_id = private.public.key_id
    org = OrgConfig(
        name=name,
        contact=contact,
        org_id=str(uuid.uuid4()),
        escrow_keys=(
            EscrowKeyConfig(
                key_id, suite.value, private.public.raw, threshold, tuple(admins), created_at
            ),
        ),
    )
    shares_dir = out_dir / "shares"
    shares_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(shares_dir, 0o700)
    paths = []
    for admin, mnemonic in zip(admins, mnemonics, strict=True):
        path = shares_dir / f"{admin}.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(share_text(name, admin, key_id, threshold, len(admins), mnemonic))
        paths.append(path)
    config_path.write_text(render_org_toml(org))
    return OrgCreated(org, config_path, tuple(paths))
