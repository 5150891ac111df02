"""Export staging per platform (workstation/staging.py): Linux stages in a tmpfs
(/dev/shm, $XDG_RUNTIME_DIR); macOS and Windows have no folder medvault can recognise as
memory-backed, so staging there is refused unless --allow-disk-staging."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from medvault.errors import UsageError
from medvault.workstation import mounts, staging

SHM = Path("/dev/shm")


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_without_a_memory_folder_staging_is_refused_unless_disk_is_allowed(
    platform: str,
) -> None:
    assert staging.memory_folders(platform) == []
    with pytest.raises(UsageError) as refused:
        staging.choose_root(None, allow_disk=False, platform=platform)
    assert f"({platform}) has no memory-backed folder" in str(refused.value)
    assert "--allow-disk-staging" in (refused.value.hint or "")
    allowed = staging.choose_root(None, allow_disk=True, platform=platform)
    assert allowed.path == Path(tempfile.gettempdir()) and not allowed.memory_backed


def test_on_linux_the_shared_memory_folder_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    if mounts.filesystem_of(SHM) != "tmpfs":
        pytest.skip("/dev/shm is not a tmpfs on this machine")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert staging.memory_folders("linux") == [SHM]
    root = staging.choose_root(None, allow_disk=False, platform="linux")
    assert (root.path, root.memory_backed, root.filesystem) == (SHM, True, "tmpfs")


def test_on_linux_the_runtime_folder_is_the_second_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert staging.memory_folders("linux") == [SHM, tmp_path]


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_a_named_folder_on_disk_is_refused_on_every_platform(platform: str, tmp_path: Path) -> None:
    if mounts.filesystem_of(tmp_path) in staging.MEMORY_FILESYSTEMS:
        pytest.skip("the test folder is itself in memory here")
    with pytest.raises(UsageError, match="not a tmpfs"):
        staging.choose_root(tmp_path, allow_disk=False, platform=platform)
    kept = staging.choose_root(tmp_path, allow_disk=True, platform=platform)
    assert kept.path == tmp_path and not kept.memory_backed
