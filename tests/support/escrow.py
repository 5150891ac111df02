"""The organisation's escrow key as a quorum of security admins rebuilds it from their
share files."""

from __future__ import annotations

from pathlib import Path

from medvault.config import load_org
from medvault.crypto.escrow import EscrowPrivateKey, EscrowSuite
from medvault.keys.shares import combine_shares


def _words(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return " ".join(line for line in lines if line.strip() and not line.startswith("#"))


def escrow_from_shares(org_toml: Path, share_files: list[Path]) -> EscrowPrivateKey:
    """The escrow private key of ORG_TOML's first key, rebuilt from SHARE_FILES."""
    suite = EscrowSuite(load_org(org_toml).escrow_keys[0].suite)
    return EscrowPrivateKey(suite, combine_shares([_words(p) for p in share_files]))
