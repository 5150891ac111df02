"""Each kind of bad input gets its own one-line message and
exit code, and leaves the vault exactly as it was."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem_unittest import Patcher

from medvault.engine.session import open_headers, unlock
from medvault.errors import MediaFull, SourceUnreadable
from medvault.keys.passphrase import to_secret
from medvault.registry.sql import Registry
from medvault.vault.add import add_files
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from medvault.vault.reading import list_files
from medvault.vault.verify import verify
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.files import digests


def _one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("medvault: error: "), stderr
    assert "Traceback" not in stderr
    assert all(ln.startswith(("medvault: error: ", "hint: ")) for ln in lines), stderr
    return lines[0]


@pytest.fixture
def filled(ws: Workspace, drive: Path, tmp_path: Path) -> Path:
    src = tmp_path / "first.csv"
    src.write_text("mrn,result\n1,ok\n")
    ws.create_fast(drive)  # FAST_KDF: every command of the test unlocks in ~0.01 s, not ~0.25 s
    ws.cli("add", drive, src, check=True)
    return drive


def test_wrong_passphrase(ws: Workspace, filled: Path, tmp_path: Path) -> None:
    before = digests(filled)
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not the passphrase\n")
    bad.chmod(0o600)  # a shared one is warned about first (test_passphrase_file_mode.py)
    src = tmp_path / "second.csv"
    src.write_text("x")
    result = ws.cli("add", filled, src, extra_env={"MEDVAULT_PASSPHRASE_FILE": str(bad)})
    assert result.returncode == 3
    assert "wrong passphrase" in _one_line_error(result.stderr)
    assert digests(filled) == before


def test_missing_org_config(ws: Workspace, drive: Path) -> None:
    (ws.home / "org.toml").unlink()
    result = ws.cli("create", drive)
    assert result.returncode == 5
    assert "organisation config" in _one_line_error(result.stderr)
    assert list(drive.iterdir()) == []
    named = ws.cli("create", drive, "--org", ws.root / "nope.toml")
    assert named.returncode == 5 and "nope.toml" in named.stderr


def test_not_a_vault(ws: Workspace, tmp_path: Path) -> None:
    plain = tmp_path / "ordinary-stick"
    plain.mkdir()
    (plain / "notes.txt").write_text("hello")
    for command in (["ls", plain], ["info", plain], ["verify", plain]):
        result = ws.cli(*command)
        assert result.returncode == 4, command
        assert "not a medvault vault" in _one_line_error(result.stderr)
    missing = ws.cli("ls", tmp_path / "absent")
    assert missing.returncode == 4 and "does not exist" in missing.stderr


def test_unreadable_sources_add_nothing(ws: Workspace, filled: Path, tmp_path: Path) -> None:
    before = digests(filled)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "ok.txt").write_text("fine")
    (tree / "broken-link").symlink_to(tmp_path / "gone")
    result = ws.cli("add", filled, tree)
    assert result.returncode == 8
    assert "broken-link" in _one_line_error(result.stderr)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = ws.cli("add", filled, tmp_path / "tree" / "ok.txt", fifo)
    assert result.returncode == 8 and "not a regular file" in result.stderr
    assert digests(filled) == before


def test_unreadable_file_permission_denied(ws: Workspace, drive: Path) -> None:
    """A file the user may not read (faked: tests run as root, who may read anything)."""
    with Patcher(allow_root_user=False) as patcher:
        fs = patcher.fs
        assert fs is not None
        secret = fs.create_file("/export/locked.csv", contents="a,b\n")
        os.chmod(secret.path, 0o000)
        with pytest.raises(SourceUnreadable, match=r"locked\.csv"):
            add_files_plan_only(Path("/export"))


def add_files_plan_only(src: Path) -> None:
    from medvault.vault.add import plan  # imported here: runs inside the fake fs

    plan([src])


def test_concurrent_writer_is_refused(ws: Workspace, filled: Path, tmp_path: Path) -> None:
    before = digests(filled)
    lock = filled / "MEDVAULT" / "lock"
    lock.write_text(f"{socket.gethostname()}:{os.getpid()}\n")  # a live process holds it
    src = tmp_path / "second.csv"
    src.write_text("x")
    result = ws.cli("add", filled, src)
    assert result.returncode == 10
    assert "locked" in _one_line_error(result.stderr)
    lock.unlink()
    assert digests(filled) == before
    ws.cli("add", filled, src, check=True)


def test_stale_lock_of_dead_process_is_broken(ws: Workspace, filled: Path, tmp_path: Path) -> None:
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (filled / "MEDVAULT" / "lock").write_text(f"{socket.gethostname()}:{dead}\n")
    src = tmp_path / "second.csv"
    src.write_text("x")
    ws.cli("add", filled, src, check=True)


def test_no_tty_and_no_passphrase_source_fails_at_once(ws: Workspace, filled: Path) -> None:
    result = ws.cli("ls", filled, passphrase=False, timeout=20)
    assert result.returncode == 13
    assert "no passphrase" in _one_line_error(result.stderr)


def test_weak_passphrase_refused(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    weak = tmp_path / "weak.txt"
    weak.write_text("short\n")
    result = ws.cli("create", drive, extra_env={"MEDVAULT_PASSPHRASE_FILE": str(weak)})
    assert result.returncode == 12 and "at least 15" in result.stderr
    assert list(drive.iterdir()) == []


def test_create_twice_refused(ws: Workspace, filled: Path) -> None:
    before = digests(filled)
    result = ws.cli("create", filled)
    assert result.returncode == 9 and "already holds a vault" in result.stderr
    assert digests(filled) == before


def test_registry_unwritable_fails_closed(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    """create must not leave a vault whose key package was never recorded."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where MEDVAULT_HOME's folder should be")
    org = ws.org_created.config_path
    result = ws.cli(
        "create", drive, "--org", org, extra_env={"MEDVAULT_HOME": str(blocker / "home")}
    )
    assert result.returncode == 11
    _one_line_error(result.stderr)
    assert list(drive.iterdir()) == []


@pytest.mark.parametrize("spare", [100, 5_000, 60_000, 300_000])
def test_drive_full_mid_add_keeps_vault_as_it_was(ws: Workspace, spare: int) -> None:
    """ENOSPC at a chosen byte (pyfakefs): the add fails with exit-code-7 error, the vault
    keeps everything it had, no temp file is left, and it still verifies."""
    org = ws.org
    registry = Registry("sqlite://")  # in memory, migrated before the fake file system
    with Patcher() as patcher:
        fs = patcher.fs
        assert fs is not None
        fs.add_mount_point("/media/usb", total_size=64 * 1024 * 1024)
        env = Env(kdf=FAST_KDF)
        create_vault(Path("/media/usb"), "", to_secret(PASSPHRASE), org, registry, env)
        fs.create_file("/src/first.csv", contents="kept,1\n")
        fs.create_file("/src/big/a.bin", contents=os.urandom(200_000).hex())
        fs.create_file("/src/big/b.bin", contents=os.urandom(100_000).hex())
        vault = unlock(open_headers(Path("/media/usb")), to_secret(PASSPHRASE))
        add_files(vault, [Path("/src/first.csv")], False, registry, env)
        before = _fake_snapshot(Path("/media/usb"))
        used = fs.get_disk_usage("/media/usb").used
        fs.set_disk_usage(used + spare, "/media/usb")
        with pytest.raises(MediaFull) as caught:
            add_files(vault, [Path("/src/big")], False, registry, env)
        assert caught.value.exit_code == 7
        assert _fake_snapshot(Path("/media/usb")) == before
        assert list(Path("/media/usb/MEDVAULT/tmp").iterdir()) == []
        vault = unlock(open_headers(Path("/media/usb")), to_secret(PASSPHRASE))
        assert [x.path for x in list_files(vault)[0]] == ["first.csv"]
        assert verify(vault).ok


def _fake_snapshot(drive: Path) -> dict[str, str]:
    return {
        p.relative_to(drive).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(drive.rglob("*"))
        if p.is_file() and p.name != "lock"
    }


def test_error_messages_do_not_leak_passphrase(ws: Workspace, filled: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("hunter2-hunter2-hunter2\n")
    result = ws.cli("ls", filled, "--json", extra_env={"MEDVAULT_PASSPHRASE_FILE": str(bad)})
    assert "hunter2" not in result.stderr + result.stdout
    ok = json.loads(ws.cli("ls", filled, "--json", check=True).stdout)
    assert PASSPHRASE not in json.dumps(ok)


@pytest.mark.parametrize("command", ["ls", "info", "verify"])
def test_a_path_the_system_refuses_is_not_a_vault_not_an_internal_error(
    ws: Workspace, tmp_path: Path, command: str
) -> None:
    """A name longer than a file name may be (ENAMETOOLONG) used to escape as exit 70."""
    result = ws.cli(command, tmp_path / ("x" * 300))
    assert result.returncode == 4, result.stderr
    assert _one_line_error(result.stderr).startswith("medvault: error: cannot open ")
    assert "x" * 101 not in result.stderr  # the name is cut when it is shown
