"""A small vault made through the library (no CLI), with what each file holds and where it
is stored, as the tamper tests break and read it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from medvault.engine.catalog import Located, load_catalog
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.registry.sql import Registry
from medvault.vault.add import add_files
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from medvault.vault.reading import extract
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace

PRELUDE = 56  # pack part prelude


@dataclass
class SmallVault:
    drive: Path
    vault: UnlockedVault
    files: dict[str, bytes]  # stored path -> plaintext
    located: dict[str, Located]
    registry: Registry
    env: Env

    @property
    def root(self) -> Path:
        return self.drive / "MEDVAULT"

    def pack_file(self) -> Path:
        (pack,) = {loc.pack for loc in self.located.values()}
        return self.root / "objects" / pack[:2] / f"{pack}.mvo"


def small_vault(
    root: Path,
    ws: Workspace,
    name: str = "drive",
    part_size: int = 1 << 30,
    sizes: tuple[int, ...] = (300, 1, 700),
) -> SmallVault:
    drive = root / name
    drive.mkdir()
    registry = Registry("sqlite://")
    env = Env(kdf=FAST_KDF)
    create_vault(drive, "", to_secret(PASSPHRASE), ws.org, registry, env, part_size=part_size)
    src = root / f"{name}-src"
    src.mkdir()
    files = {}
    for i, size in enumerate(sizes):
        data = bytes((i * 7 + j) % 251 for j in range(size))
        (src / f"f{i}.txt").write_bytes(data)
        files[f"{name}-src/f{i}.txt"] = data
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    add_files(vault, [src], False, registry, env)
    located = {loc.path: loc for loc in load_catalog(vault).live()}
    return SmallVault(drive, vault, files, located, registry, env)


def extract_and_check(sv: SmallVault, out: Path, broken: set[str]) -> None:
    """Files in BROKEN must fail and leave nothing; every other file extracts identical."""
    if out.exists():
        shutil.rmtree(out)
    result = extract(sv.vault, [], out, False, sv.registry, sv.env)
    assert set(result.failed) == broken, (sorted(result.failed), sorted(broken))
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert present == set(sv.files) - broken
    for path in present:
        assert (out / path).read_bytes() == sv.files[path]
