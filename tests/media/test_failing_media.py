"""Full and failing media: a full exFAT stick (ENOSPC), a read-only mount, the
mount point vanishing between two commands, and a dead FUSE server (ENOTCONN). Each gives
one clear error line (plus its hint) and a documented exit code, and leaves the vault as it
was: same bytes on the drive, same file list, verify passes, and the next command leaves
nothing in tmp/. (A full FAT32 stick, where fusefat says EPERM, is
tests/media/test_media_vaults.py::test_full_fat32_stick.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from medvault.engine.session import open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.vault.add import add_files
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.files import digests
from tests.support.media import EXFAT, FAT32, KINDS, make_image, missing_tools, mount_image

pytestmark = pytest.mark.fuse

PART_SIZE = 256 * 1024


def _need(kind: str) -> None:
    reason = missing_tools(kind)
    if reason is not None:
        pytest.skip(reason)


def _fill_vault(ws: Workspace, drive: Path, tmp_path: Path) -> Path:
    """A vault (light KDF, 256 KiB parts) holding a few files; returns their source."""
    src = tmp_path / "records"
    src.mkdir()
    (src / "a.csv").write_text("id,value\n" + "1,2\n" * 500)
    (src / "scan.bin").write_bytes(os.urandom(700_000))
    env, secret = Env(kdf=FAST_KDF), to_secret(PASSPHRASE)
    create_vault(drive, "", secret, ws.org, ws.registry(), env, part_size=PART_SIZE)
    add_files(unlock(open_headers(drive), secret), [src], False, ws.registry(), env)
    return src


def _listing(ws: Workspace, drive: Path) -> list[str]:
    return [x["path"] for x in json.loads(ws.cli("ls", drive, "--json", check=True).stdout)]


def _one_error(stderr: str) -> str:
    """The error line; nothing else but an optional hint line, and no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert lines and lines[0].startswith("medvault: error: "), stderr
    assert all(line.startswith(("medvault: error: ", "hint: ")) for line in lines), stderr
    assert len(lines) <= 2, stderr
    return lines[0]


def _next_command_cleans_up(ws: Workspace, drive: Path, tmp_path: Path, before: list[str]) -> None:
    """The vault as it was: verify passes, the list is unchanged, and the next add works
    and leaves nothing in tmp/."""
    assert ws.cli("verify", drive).returncode == 0
    extra = tmp_path / "next.txt"
    extra.write_text("the next command\n")
    ws.cli("add", drive, extra, check=True)
    assert list((drive / "MEDVAULT" / "tmp").iterdir()) == []
    assert _listing(ws, drive) == sorted([*before, "next.txt"])


def _fat32_image(tmp_path: Path) -> tuple[Path, Path]:
    """A new 64 MiB FAT32 image and the mount point to mount it on (skips without the
    tools)."""
    _need(FAT32)
    image = tmp_path / "fat32.img"
    make_image(FAT32, image, 64)
    return image, tmp_path / "mnt"


def _add_ls_verify_fail(
    ws: Workspace, mountpoint: Path, extra: Path, code: int
) -> list[tuple[str, str]]:
    """add EXTRA, ls and verify on MOUNTPOINT each exit CODE with one error line (and at
    most a hint); returns (error line, stderr) for each."""
    failed = []
    for args in (["add", mountpoint, extra], ["ls", mountpoint], ["verify", mountpoint]):
        result = ws.cli(*args)
        assert result.returncode == code, (args, result.stderr)
        failed.append((_one_error(result.stderr), result.stderr))
    return failed


def _remounted_as_before(
    ws: Workspace,
    image: Path,
    mountpoint: Path,
    tmp_path: Path,
    before: dict[str, str],
    files: list[str],
) -> None:
    """Mounted again, the FAT32 stick holds the vault's bytes as BEFORE and the vault is as
    it was (_next_command_cleans_up, FILES listed)."""
    with mount_image(FAT32, image, mountpoint) as stick:
        assert digests(stick.mountpoint / "MEDVAULT") == before
        _next_command_cleans_up(ws, stick.mountpoint, tmp_path, files)


def test_full_exfat_stick(ws: Workspace, tmp_path: Path) -> None:
    """exFAT says ENOSPC: exit 7 with the reason, nothing of the failed add on the drive."""
    _need(EXFAT)
    image = tmp_path / "exfat.img"
    make_image(EXFAT, image, 32)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(4 * 1024 * 1024))  # spans 16 parts; about half fits
    with mount_image(EXFAT, image, tmp_path / "mnt") as stick:
        drive = stick.mountpoint
        _fill_vault(ws, drive, tmp_path)
        free = os.statvfs(drive)
        with open(drive / "pad.bin", "wb") as pad:
            pad.truncate(free.f_bavail * free.f_frsize - 2 * 1024 * 1024)
            os.fsync(pad.fileno())
        before, files = digests(drive / "MEDVAULT"), _listing(ws, drive)
        refused = ws.cli("add", drive, big)  # refused up front: nothing written
        assert refused.returncode == 7, refused.stderr
        assert "need about" in refused.stderr
        assert digests(drive / "MEDVAULT") == before
        # A driver that misreports its free space: the writes themselves find it full.
        result = ws.cli("add", drive, big, "--no-space-check")
        assert result.returncode == 7, result.stderr
        line = _one_error(result.stderr)
        assert line == (
            "medvault: error: cannot write a pack file: No space left on device "
            "(drive full or write refused)"
        ), line
        assert digests(drive / "MEDVAULT") == before
        (drive / "pad.bin").unlink()
        _next_command_cleans_up(ws, drive, tmp_path, files)


@pytest.mark.parametrize("kind", KINDS)
def test_read_only_mount(ws: Workspace, tmp_path: Path, kind: str) -> None:
    """Every writing command exits 15 and names the read-only drive; reading commands work
    (extract only warns that the drive's custody log could not be updated)."""
    _need(kind)
    image = tmp_path / "stick.img"
    make_image(kind, image, 64)
    mountpoint = tmp_path / "mnt"
    with mount_image(kind, image, mountpoint) as stick:
        src = _fill_vault(ws, stick.mountpoint, tmp_path)
        before = digests(stick.mountpoint / "MEDVAULT")
    extra = tmp_path / "new.txt"
    extra.write_text("new\n")
    with mount_image(kind, image, mountpoint, read_only=True) as stick:
        drive = stick.mountpoint
        writers: list[list[str | Path]] = [["add", drive, extra], ["rm", drive, "records/a.csv"]]
        for args in writers:
            result = ws.cli(*args)
            assert result.returncode == 15, (args, result.stderr)
            line = _one_error(result.stderr)
            assert "the drive is read-only or not writable by you" in line, line
        assert ws.cli("verify", drive).returncode == 0
        out = tmp_path / "out"
        extracted = ws.cli("extract", drive, "--to", out)
        assert extracted.returncode == 0, extracted.stderr
        assert (out / "records" / "scan.bin").read_bytes() == (src / "scan.bin").read_bytes()
        assert "custody log was not updated" in extracted.stderr
        # Nothing was written (a read-only mount leaves no tmp/ leftovers to clean up).
        assert digests(drive / "MEDVAULT") == before


def test_mount_point_vanishes_between_commands(ws: Workspace, tmp_path: Path) -> None:
    """Unmounted after create: add/ls/verify say the path holds no vault and ask whether the
    drive is mounted (exit 4); with the mount point folder gone too, that it does not exist.
    Nothing is written into the bare mount point, and the re-mounted vault is intact."""
    image, mountpoint = _fat32_image(tmp_path)
    with mount_image(FAT32, image, mountpoint) as stick:
        _fill_vault(ws, stick.mountpoint, tmp_path)
        before, files = digests(stick.mountpoint / "MEDVAULT"), _listing(ws, stick.mountpoint)
    extra = tmp_path / "new.txt"
    extra.write_text("new\n")
    for line, stderr in _add_ls_verify_fail(ws, mountpoint, extra, 4):
        assert line == f"medvault: error: {mountpoint} is not a medvault vault " + (
            "(no MEDVAULT/vault.mvh)"
        )
        assert "hint: is the drive plugged in and mounted?" in stderr
    assert list(mountpoint.iterdir()) == []
    mountpoint.rmdir()  # as udisks does when it unmounts
    result = ws.cli("add", mountpoint, extra)
    assert result.returncode == 4
    assert _one_error(result.stderr) == f"medvault: error: {mountpoint} does not exist"
    assert not mountpoint.exists()
    _remounted_as_before(ws, image, mountpoint, tmp_path, before, files)


def test_dead_fuse_server(ws: Workspace, tmp_path: Path) -> None:
    """The FUSE server died (the mount answers ENOTCONN): add/ls/verify exit 23 and say the
    drive is gone; after re-mounting, the vault is as it was."""
    image, mountpoint = _fat32_image(tmp_path)
    extra = tmp_path / "new.txt"
    extra.write_text("new\n")
    with mount_image(FAT32, image, mountpoint) as stick:
        _fill_vault(ws, stick.mountpoint, tmp_path)
        before, files = digests(stick.mountpoint / "MEDVAULT"), _listing(ws, stick.mountpoint)
        stick.kill_fuse_only()
        for line, _stderr in _add_ls_verify_fail(ws, mountpoint, extra, 23):
            assert "the drive is gone (Transport endpoint is not connected)" in line, line
    _remounted_as_before(ws, image, mountpoint, tmp_path, before, files)


@pytest.mark.parametrize("code", ["ENOTCONN", "ECONNABORTED", "ENODEV", "ENXIO", "ENOMEDIUM"])
def test_what_a_vanished_drive_answers_is_drive_gone(code: str) -> None:
    """A FUSE server killed mid-request answers ECONNABORTED, then ENOTCONN (both seen in
    the yank trials): each is "the drive is gone", exit 23, not a generic error."""
    import errno as errno_module

    from medvault.errors import DriveGone
    from medvault.store.fsio import media_error

    number = getattr(errno_module, code)
    error = media_error(OSError(number, os.strerror(number)), "a pack file")
    assert isinstance(error, DriveGone)
    assert error.exit_code == 23
    assert "the drive is gone" in error.message
