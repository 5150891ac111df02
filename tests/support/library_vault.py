"""A vault made and opened through the library (no CLI), for tests that call the engine
and the use cases directly."""

from __future__ import annotations

from pathlib import Path

from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace


class LibraryVault:
    """A new vault in ROOT/drive (label "t", FAST_KDF, warnings dropped), recorded in the
    workspace's registry; close `registry` when done."""

    def __init__(self, ws: Workspace, root: Path) -> None:
        self.env = Env(kdf=FAST_KDF, warn=lambda _m: None)
        self.registry = ws.registry()
        self.drive = root / "drive"
        self.drive.mkdir()
        create_vault(self.drive, "t", to_secret(PASSPHRASE), ws.org, self.registry, self.env)

    def open(self) -> UnlockedVault:
        """The vault unlocked afresh with PASSPHRASE."""
        return unlock(open_headers(self.drive), to_secret(PASSPHRASE))
