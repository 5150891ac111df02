"""A stored modification time this system cannot set never stops an extract:
the file is extracted with the time of extraction, named in a warning, and
the command exits 0 (never 70); `ls` and `verify` take such a vault as it is."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from medvault.engine.session import open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.vault import add
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace

BIG = 2 * 1024 * 1024  # above landing's in-memory limit: the large-file path
FILES = {
    "d/ok.txt": b"healthy\n",
    "d/future.txt": b"mtime 10**30 ns\n",  # beyond any time_t: OverflowError in os.utime
    "d/past.bin": os.urandom(BIG),  # -10**30 ns, on the large-file path
    "d/late.txt": b"2**63 ns, past 2262: a time Linux can set\n",
}
ODD = {"d/future.txt": 10**30, "d/past.bin": -(10**30), "d/late.txt": 2**63}
OK_MTIME = 1_700_000_000_123_456_789


def _author_odd_vault(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """As the review's author_weird_vault.py: whoever has the passphrase can store any time,
    here through medvault's own writer with the plan's times replaced."""
    src = tmp_path / "src" / "d"
    src.mkdir(parents=True)
    for name, data in FILES.items():
        (src.parent / name).write_bytes(data)
        os.utime(src.parent / name, ns=(OK_MTIME, OK_MTIME))
    real = add.Planned

    def planned(*args: object, **kwargs: object) -> add.Planned:
        plan = real(*args, **kwargs)  # type: ignore[arg-type]
        return dataclasses.replace(plan, mtime_ns=ODD.get(plan.stored, plan.mtime_ns))

    with monkeypatch.context() as patch:
        patch.setattr(add, "Planned", planned)
        patch.setattr(add, "check_unchanged", lambda _fd, _item: None)
        env = Env(kdf=FAST_KDF, warn=lambda _m: None)
        drive = tmp_path / "drive"
        drive.mkdir()
        create_vault(drive, "t", to_secret(PASSPHRASE), ws.org, ws.registry(), env)
        vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
        add.add_files(vault, [src], False, ws.registry(), env)
    return drive


def test_a_time_that_cannot_be_set_is_a_warning_and_every_file_is_extracted(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = _author_odd_vault(ws, tmp_path, monkeypatch)
    out = tmp_path / "out"
    result = ws.cli("extract", drive, "--to", out)
    assert result.returncode == 0, result.stderr
    for name, data in FILES.items():
        assert (out / name).read_bytes() == data
    assert (out / "d/ok.txt").stat().st_mtime_ns == OK_MTIME
    assert (out / "d/late.txt").stat().st_mtime_ns == 2**63
    warned = [line for line in result.stderr.splitlines() if "medvault: warning:" in line]
    assert sorted(warned) == [
        f"medvault: warning: {name}: its stored modification time cannot be set here; "
        "it has the time of extraction"
        for name in ("d/future.txt", "d/past.bin")
    ]
    # The same vault lists and verifies: the metadata is authentic, only odd.
    assert ws.cli("ls", drive, check=True).stdout.count("\n") == len(FILES)
    assert ws.cli("verify", drive).returncode == 0


def test_json_names_the_files_whose_time_was_not_set(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = _author_odd_vault(ws, tmp_path, monkeypatch)
    result = ws.cli("extract", drive, "--to", tmp_path / "out", "--json", check=True)
    report = json.loads(result.stdout)
    assert sorted(report["time_not_set"]) == ["d/future.txt", "d/past.bin"]
    assert len(report["extracted"]) == len(FILES)
    assert report["not_extracted"] == {}


def test_ls_json_and_a_repair_from_the_packs_take_odd_times_and_every_file_extracts(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The neighbours of extract: ls --json, verify --json, and repair rebuilding the index
    from the packs (it decodes every entry's metadata) all take the authentic odd times;
    the rebuilt vault still extracts every file, warning for the two times."""
    drive = _author_odd_vault(ws, tmp_path, monkeypatch)
    listed = json.loads(ws.cli("ls", drive, "--json", check=True).stdout)
    assert sorted(x["path"] for x in listed) == sorted(FILES)
    assert json.loads(ws.cli("verify", drive, "--json", check=True).stdout)["ok"] is True
    for item in (drive / "MEDVAULT" / "index").iterdir():
        item.unlink()  # the whole index, whatever files it is kept in
    repaired = ws.cli("repair", drive, check=True)
    assert "rebuilt the index from the objects" in repaired.stdout
    assert ws.cli("verify", drive).returncode == 0
    out = tmp_path / "out"
    result = ws.cli("extract", drive, "--to", out)
    assert result.returncode == 0, result.stderr
    assert all((out / name).read_bytes() == data for name, data in FILES.items())
    assert result.stderr.count("medvault: warning:") == 2
