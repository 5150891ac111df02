"""The staging folders themselves (workstation/staging.py), in this process: made private and
named after their process, wiped whole, kept out of later sweeps, and swept only when they
are this user's and their process is gone; and the fallback root when disk staging is
allowed. The export that uses them: tests/cli/test_export.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from medvault.errors import UsageError
from medvault.workstation import mounts, staging
from tests.support.processes import DEAD_PID


@pytest.fixture
def root(tmp_path: Path) -> staging.StagingRoot:
    return staging.StagingRoot(tmp_path, True, "tmpfs")


def test_a_staging_folder_is_private_and_named_after_its_process(
    root: staging.StagingRoot,
) -> None:
    folder = staging.make(root)
    assert folder.parent == root.path and folder.is_dir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert staging.NAME.fullmatch(folder.name)
    assert folder.name.startswith(f"{staging.PREFIX}{os.getpid()}-")
    assert staging.make(root) != folder


def test_wiping_removes_the_folder_and_all_in_it_and_a_gone_one_is_no_error(
    root: staging.StagingRoot,
) -> None:
    folder = staging.make(root)
    (folder / "deep" / "er").mkdir(parents=True)
    (folder / "deep" / "er" / "labs.csv").write_text("mrn\n1\n")
    staging.wipe(folder)
    assert not folder.exists()
    staging.wipe(folder)  # already gone: nothing to do


def test_a_kept_folder_is_renamed_and_never_swept(root: staging.StagingRoot) -> None:
    folder = root.path / f"{staging.PREFIX}{DEAD_PID}-abc123"
    folder.mkdir()
    (folder / "labs.csv").write_text("mrn\n1\n")
    kept = staging.keep(folder)
    assert kept == root.path / f"{staging.KEPT}{DEAD_PID}-abc123"
    assert not folder.exists() and (kept / "labs.csv").read_text() == "mrn\n1\n"
    assert staging.sweep_stale(root) == []
    assert kept.exists()


def test_a_sweep_removes_only_this_users_folders_of_gone_processes(
    root: staging.StagingRoot,
) -> None:
    base = root.path
    dead = [base / f"{staging.PREFIX}{DEAD_PID}-aaa", base / f"{staging.PREFIX}{DEAD_PID + 1}-b_1"]
    for folder in dead:
        folder.mkdir()
        (folder / "x.csv").write_text("1\n")
    alive = base / f"{staging.PREFIX}{os.getpid()}-ccc"
    alive.mkdir()
    unrelated = base / "someone-elses-folder"
    unrelated.mkdir()
    a_file = base / f"{staging.PREFIX}{DEAD_PID}-file"
    a_file.write_text("not a folder")
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    link = base / f"{staging.PREFIX}{DEAD_PID}-link"
    link.symlink_to(elsewhere)
    removed = staging.sweep_stale(root)
    assert sorted(removed) == sorted(dead)
    assert not any(folder.exists() for folder in dead)
    assert alive.is_dir() and unrelated.is_dir() and a_file.is_file()
    assert link.is_symlink() and elsewhere.is_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_sweep_leaves_another_users_folders_alone_and_goes_on(
    root: staging.StagingRoot,
) -> None:
    """Ten of another user's folders and ten of ours, in whatever order the folder lists
    them: theirs stay, and every one of ours is still swept."""
    theirs = [root.path / f"{staging.PREFIX}{DEAD_PID}-their{n}" for n in range(10)]
    ours = [root.path / f"{staging.PREFIX}{DEAD_PID}-our{n}" for n in range(10)]
    for folder in theirs + ours:
        folder.mkdir()
    for folder in theirs:
        os.chown(folder, 12345, 12345)
    assert sorted(staging.sweep_stale(root)) == sorted(ours)
    assert all(folder.is_dir() for folder in theirs)


def test_a_sweep_of_a_root_that_is_gone_removes_nothing(tmp_path: Path) -> None:
    gone = staging.StagingRoot(tmp_path / "gone", True, "tmpfs")
    assert staging.sweep_stale(gone) == []


def test_allowed_disk_staging_names_the_file_system_it_is_on(tmp_path: Path) -> None:
    if mounts.filesystem_of(tmp_path) in staging.MEMORY_FILESYSTEMS:
        pytest.skip("the test folder is itself in memory here")
    kept = staging.choose_root(tmp_path, allow_disk=True, platform="linux")
    assert kept.memory_backed is False
    assert kept.filesystem == mounts.filesystem_of(tmp_path) != ""


def test_allowed_disk_staging_on_a_file_system_nobody_lists_says_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "mountinfo"
    empty.write_text("")
    monkeypatch.setattr(mounts, "MOUNTINFO", empty)
    kept = staging.choose_root(tmp_path, allow_disk=True, platform="linux")
    assert (kept.memory_backed, kept.filesystem) == (False, "unknown")


def test_a_named_file_in_memory_is_no_staging_folder(shm: Path) -> None:
    """A writable file on a tmpfs is not a folder: refused like a missing one."""
    a_file = shm / "not-a-folder"
    a_file.write_text("")
    with pytest.raises(UsageError, match="not a tmpfs") as refused:
        staging.choose_root(a_file, allow_disk=False, platform="linux")
    assert str(a_file) in str(refused.value)
    assert (refused.value.hint or "").startswith(
        "plaintext staged on a disk can be recovered after deletion; mount a tmpfs"
    )
