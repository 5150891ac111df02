"""L9: $MEDVAULT_HOME and what medvault keeps in it are private whatever the umask: folders
0700, the registry and SQLite's journal, WAL and shared-memory files 0600. An existing
registry left readable by others is made private with a warning; a shared folder medvault
must not change (sticky, or another user's) is only warned about."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from medvault.config import home_folder
from medvault.registry.sql import Registry
from tests.conftest import Workspace
from tests.support.cli import run_medvault

NOBODY = 65534


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """The common default umask, under which a plain create gives 0644 files, 0755 folders
    (the CLI subprocesses inherit it)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _medvault(
    home: Path, *args: str, registry: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDVAULT_")}
    env["MEDVAULT_HOME"] = str(home)
    if registry is not None:
        env["MEDVAULT_REGISTRY"] = registry
    return run_medvault(env, *args)


def _warnings(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.startswith("medvault: warning:")]


def test_a_new_home_and_registry_are_private(tmp_path: Path) -> None:
    home = tmp_path / "data" / "medvault"
    result = _medvault(home, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert _mode(home) == 0o700
    assert _mode(home / "registry.sqlite") == 0o600
    assert _mode(tmp_path / "data") == 0o755  # a parent is not medvault's to close
    assert _warnings(result) == []


def test_folders_medvault_makes_in_its_home_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDVAULT_HOME", str(tmp_path / "home"))
    made = home_folder("remembered")
    assert made == tmp_path / "home" / "remembered"
    assert (_mode(tmp_path / "home"), _mode(made)) == (0o700, 0o700)


def test_sqlite_journal_wal_and_shm_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "home" / "registry.sqlite"
    registry = Registry.for_path(path)
    journal = path.with_name("registry.sqlite-journal")
    with registry.engine.begin() as conn:  # a write in progress has its rollback journal
        conn.execute(sa.text("UPDATE vaults SET label = 'x'"))
        conn.execute(sa.text("CREATE TABLE scratch (x INTEGER)"))
        assert _mode(journal) == 0o600
    registry.close()
    wal = sqlite3.connect(path, isolation_level=None)  # medvault does not use WAL; an admin might
    try:
        wal.execute("PRAGMA journal_mode = WAL")
        wal.execute("INSERT INTO scratch VALUES (1)")
        assert _mode(path.with_name("registry.sqlite-wal")) == 0o600
        assert _mode(path.with_name("registry.sqlite-shm")) == 0o600
    finally:
        wal.close()


def test_an_existing_world_readable_registry_is_made_private_with_a_warning(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    path = home / "registry.sqlite"
    Registry.for_path(path).close()
    journal = path.with_name("registry.sqlite-journal")
    journal.touch()  # an empty journal is not hot: SQLite leaves it alone
    for item, mode in ((home, 0o755), (path, 0o644), (journal, 0o664)):
        item.chmod(mode)
    result = _medvault(home, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert (_mode(home), _mode(path), _mode(journal)) == (0o700, 0o600, 0o600)
    assert _warnings(result) == [
        f"medvault: warning: the custody registry {path} could be read by other users "
        "(mode 0644); it is now 0600",
        f"medvault: warning: the custody registry's journal {journal} could be read by "
        "other users (mode 0664); it is now 0600",
    ]
    again = _medvault(home, "audit", "verify")
    assert again.returncode == 0
    assert _warnings(again) == []


@pytest.mark.parametrize("shared", ["sticky", "someone_elses"])
def test_a_home_medvault_must_not_close_is_only_warned_about(tmp_path: Path, shared: str) -> None:
    home = tmp_path / "shared"
    home.mkdir()
    if shared == "sticky":
        home.chmod(0o1777)
    else:
        os.chown(home, NOBODY, NOBODY)
    before = _mode(home)
    result = _medvault(home, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert _mode(home) == before
    assert _warnings(result) == [
        f"medvault: warning: {home} (mode {before:04o}) can be read by other users; "
        "make it 0700 yourself"
    ]
    assert _mode(home / "registry.sqlite") == 0o600


def test_a_registry_elsewhere_is_private_and_its_existing_folder_left_alone(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "srv"
    shared.mkdir(mode=0o750)
    url = f"sqlite:///{shared / 'registry.sqlite'}"
    result = _medvault(tmp_path / "home", "audit", "verify", registry=url)
    assert result.returncode == 0, result.stderr
    assert (_mode(shared), _mode(shared / "registry.sqlite")) == (0o750, 0o600)
    new = tmp_path / "new" / "registry.sqlite"
    result = _medvault(tmp_path / "home", "audit", "verify", registry=f"sqlite:///{new}")
    assert result.returncode == 0, result.stderr
    assert (_mode(new.parent), _mode(new)) == (0o700, 0o600)


def test_nothing_under_home_is_open_to_others_after_a_day_of_use(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """Every folder and file medvault leaves in $MEDVAULT_HOME after the commands that
    write there; the public org.toml is the one file others may read."""
    source = tmp_path / "labs.csv"
    source.write_text("mrn,result\n1,ok\n")
    ws.cli("create", drive, "--label", "labs", check=True)  # registry, vault, events
    ws.cli("add", drive, source, check=True)
    open_to_others = [
        (str(p.relative_to(ws.home)), f"{_mode(p):04o}")
        for p in [ws.home, *ws.home.rglob("*")]
        if _mode(p) & 0o077 and p.name != "org.toml"
    ]
    assert open_to_others == []
    assert (ws.home / "registry.sqlite").exists()
