"""Paths inside a vault folder, and finding the vault from what the user typed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medvault.errors import DriveGone, NotAVault

VAULT_DIRNAME = "MEDVAULT"
HEADER_A = "vault.mvh"
HEADER_B = "vault.mvh.bak"


@dataclass(frozen=True)
class VaultPaths:
    root: Path  # the MEDVAULT/ folder

    @property
    def header_a(self) -> Path:
        return self.root / HEADER_A

    @property
    def header_b(self) -> Path:
        return self.root / HEADER_B

    @property
    def readme(self) -> Path:
        return self.root / "README-MEDVAULT.txt"

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def journal(self) -> Path:
        return self.index_dir / "journal.mvi"

    @property
    def path_index(self) -> Path:
        return self.index_dir / "paths.mvs"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    def pack_dir(self, pack_name: str) -> Path:
        return self.objects / pack_name[:2]


def for_new_vault(drive: Path) -> VaultPaths:
    """Where `create` puts a vault: DRIVE/MEDVAULT, or DRIVE itself if it is named MEDVAULT."""
    if drive.name == VAULT_DIRNAME:
        return VaultPaths(drive)
    return VaultPaths(drive / VAULT_DIRNAME)


def locate(path: Path) -> VaultPaths:
    """The vault at PATH: a drive root holding MEDVAULT/, or the MEDVAULT/ folder itself."""
    try:
        return _locate(path)
    except OSError as exc:
        # A dead FUSE server or a removed device answers every stat with ENOTCONN/ENODEV.
        if exc.errno in DriveGone.errnos:
            raise DriveGone(f"cannot read {path}: the drive is gone ({exc.strerror})") from None
        # Any other answer (a name too long, a loop of links, no permission): not a vault
        # this process can open, said in one line rather than as an internal error.
        shown = str(path) if len(str(path)) <= 100 else str(path)[:100] + "..."
        raise NotAVault(f"cannot open {shown} as a vault ({exc.strerror})") from None


def _locate(path: Path) -> VaultPaths:
    for candidate in (path / VAULT_DIRNAME, path):
        if (candidate / HEADER_A).exists() or (candidate / HEADER_B).exists():
            return VaultPaths(candidate)
        if candidate.is_dir() and (candidate / "objects").is_dir():
            # Both headers gone: still a vault (repair or escrow recovery can help).
            return VaultPaths(candidate)
    if not path.exists():
        raise NotAVault(f"{path} does not exist")
    raise NotAVault(f"{path} is not a medvault vault (no MEDVAULT/vault.mvh)")
