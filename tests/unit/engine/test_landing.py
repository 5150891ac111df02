"""Extraction lands files in batches (engine/landing.py): every file's data is synced before
its name appears, and nothing partial is left when a batch fails."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from medvault.engine import landing
from medvault.engine.landing import PARTIAL_SUFFIX
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.errors import MediaFull
from medvault.keys.passphrase import to_secret
from medvault.vault.add import add_files
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from medvault.vault.reading import extract
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace

FILES = {f"src/d{i % 3}/f{i:02d}.txt": os.urandom(100 + i) for i in range(10)}
# Above landing's in-memory limit: streamed to its partial file by the main thread.
FILES["src/big.bin"] = os.urandom(3 * 1024 * 1024)


def _vault(ws: Workspace, tmp_path: Path) -> UnlockedVault:
    env = Env(kdf=FAST_KDF, warn=lambda _m: None)
    drive = tmp_path / "drive"
    drive.mkdir()
    create_vault(drive, "t", to_secret(PASSPHRASE), ws.org, ws.registry(), env)
    for name, data in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    add_files(vault, [tmp_path / "src"], False, ws.registry(), env)
    return vault


def test_each_batch_is_synced_before_any_of_its_names_appear(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = _vault(ws, tmp_path)
    monkeypatch.setattr(landing, "BATCH_FILES", 3)
    out = tmp_path / "out"
    seen_at_sync: list[set[str]] = []
    waiting: list[int] = []

    def recording_sync(path: Path) -> None:
        seen_at_sync.append({str(p.relative_to(out)) for p in out.rglob("f*.*")})
        partials = list(out.rglob(f"*{PARTIAL_SUFFIX}"))
        waiting.append(len(partials))
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in partials)

    monkeypatch.setattr(landing, "sync_filesystem", recording_sync)
    result = extract(vault, [], out, False, ws.registry(), Env(kdf=FAST_KDF))
    assert len(result.written) == len(FILES)
    # 11 files in batches of 3: a sync before each batch's renames (its partial files all
    # written and waiting), and one after the last batch's renames.
    assert waiting == [3, 3, 3, 2, 0]
    assert seen_at_sync[0] == set()  # nothing was renamed before the first sync
    assert [len(s) for s in seen_at_sync] == sorted(len(s) for s in seen_at_sync)
    for name, data in FILES.items():
        assert (out / name).read_bytes() == data
    assert not list(out.rglob(f"*{PARTIAL_SUFFIX}"))


def test_a_failed_write_leaves_no_partial_file_and_names_only_what_landed(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = _vault(ws, tmp_path)
    monkeypatch.setattr(landing, "BATCH_FILES", 4)
    real_write, real_sync = os.write, landing.sync_filesystem
    calls = {"synced": 0, "after": 0}

    def counting_sync(path: Path) -> None:
        calls["synced"] += 1
        real_sync(path)

    def failing_write(fd: int, data: bytes) -> int:
        # The second file of the second batch (counted from the first batch's sync, so
        # however many writes the big file's blocks take).
        calls["after"] += calls["synced"] > 0
        if calls["after"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(landing, "sync_filesystem", counting_sync)
    monkeypatch.setattr(landing.os, "write", failing_write)
    out = tmp_path / "out"
    with pytest.raises(MediaFull):
        extract(vault, [], out, False, ws.registry(), Env(kdf=FAST_KDF))
    assert not list(out.rglob(f"*{PARTIAL_SUFFIX}"))
    landed = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert len(landed) == 4  # the first batch only (big.bin and three), each complete
    for name in landed:
        assert (out / name).read_bytes() == FILES[name]


@pytest.mark.parametrize("batch_files", [1, 4, 1000])
def test_landed_count_is_the_number_of_files_that_got_their_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_files: int
) -> None:
    """Counted once per file renamed, over every batch (one file a batch, several, all in
    one); a file refused at its name is not counted, and the count decides whether finish
    syncs the last renames."""
    monkeypatch.setattr(landing, "BATCH_FILES", batch_files)
    dest = tmp_path / "out"
    (dest / "taken").mkdir(parents=True, mode=0o700)
    land = landing.Landing.open(dest, probe_names=False, force=False, shared_ok=False)
    names = [f"f{i}.txt" for i in range(7)]
    for name in [*names, "taken"]:
        spot = land.prepare(name, dest / name)
        land.write_small(spot, name.encode(), "00" * 32, 1_700_000_000_000_000_000)
    land.finish()
    assert land.landed_count == len(names) == len(land.landed)
    assert [item.spot.name for item, _error in land.refused] == ["taken"]
    assert sorted(p.name for p in dest.iterdir()) == sorted([*names, "taken"])
    assert (dest / "f3.txt").read_bytes() == b"f3.txt"
