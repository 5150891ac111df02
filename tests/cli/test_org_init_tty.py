"""L10: on a terminal, `org init`, `org rotate` and `org reshare` hand each admin their share
alone on the screen and clear it before the next admin; no share file is written. Share
files are refused on a disk folder unless --shares-to-disk."""

from __future__ import annotations

import io
import itertools
import os
import re
import shutil
from pathlib import Path

import pexpect
import pytest

from medvault.cli.share_handout import CLEAR
from medvault.config import load_org
from medvault.crypto.escrow import EscrowPrivateKey, EscrowSuite
from medvault.keys.shares import combine_shares
from tests.conftest import Workspace
from tests.support.cli import run_medvault
from tests.support.terminal import default_sigint, spawn_medvault, wait_for_exit

pytestmark = pytest.mark.tty
ADMINS = ("alice", "bob", "carol")
GRID_ROW = re.compile(r"^ *\d+ [a-z]+(?: +\d+ [a-z]+)* *$")
CELL = re.compile(r"(\d+) ([a-z]+)")
CALL = "{}, press Enter to see your share."
DONE = "Press Enter when done: the screen is cleared for the next admin."


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDVAULT_")}
    env.update(MEDVAULT_HOME=str(home), PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return env


def _spawn(env: dict[str, str], *args: str | Path) -> tuple[pexpect.spawn, io.StringIO]:
    child = spawn_medvault(env, *args, dimensions=(40, 160), preexec_fn=default_sigint)
    screen = io.StringIO()
    child.logfile_read = screen  # everything the terminal was sent
    return child, screen


def _init_args(out: Path, *extra: str) -> list[str | Path]:
    admins = [arg for admin in ADMINS for arg in ("--admin", admin)]
    return ["org", "init", "--name", "Clinic", *admins, "--threshold", "2", "--out", out, *extra]


def _shares_on(segment: str) -> list[str]:
    """The share mnemonics shown in one stretch of terminal output (rows of numbered words)."""
    rows = [ln.strip("\r") for ln in segment.splitlines() if GRID_ROW.match(ln.strip("\r"))]
    cells = [(int(n), word) for row in rows for n, word in CELL.findall(row)]
    shares, current = [], []
    for n, word in cells:
        if n == 1 and current:
            shares.append(" ".join(current))
            current = []
        current.append(word)
    return [*shares, " ".join(current)] if current else shares


def _ceremony(child: pexpect.spawn, admins: tuple[str, ...]) -> None:
    for admin in admins:
        child.expect_exact(CALL.format(admin))
        child.sendline("")
        child.expect_exact(DONE)
        child.sendline("")
        child.expect_exact(CLEAR)
    wait_for_exit(child)


def _check_one_share_per_screen(screen: str, admins: tuple[str, ...]) -> dict[str, str]:
    """Each admin's share is on a screen of its own, which is cleared before the next
    admin is called; returns the words by admin."""
    segments = screen.split(CLEAR)
    shown = [(i, _shares_on(seg)) for i, seg in enumerate(segments)]
    with_shares = [(i, found) for i, found in shown if found]
    assert [len(found) for _i, found in with_shares] == [1] * len(admins)  # one per screen
    assert with_shares[-1][0] < len(segments) - 1  # the last one was cleared too
    by_admin = {}
    for admin, (i, [words]) in zip(admins, with_shares, strict=True):
        assert f"medvault escrow share for {admin}" in segments[i]
        assert CALL.format(admin) in segments[i - 1] + segments[i]  # called before shown
        assert [seg for seg in segments if words in _shares_on(seg)] == [segments[i]]
        by_admin[admin] = words
    return by_admin


def _check_shares_rebuild(config: Path, words: dict[str, str]) -> None:
    key = load_org(config).escrow_keys[0]
    assert key.admins == tuple(words)
    for pair in itertools.combinations(words.values(), key.threshold):
        seed = combine_shares(list(pair))
        assert EscrowPrivateKey(EscrowSuite(key.suite), seed).public.raw == key.public_key


def _files_holding(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_org_init_on_a_terminal_shows_each_share_alone_and_writes_none(tmp_path: Path) -> None:
    out = tmp_path / "org"
    child, screen = _spawn(_env(tmp_path / "home"), *_init_args(out, "--suite", "p384"))
    _ceremony(child, ADMINS)
    assert child.exitstatus == 0, screen.getvalue()
    words = _check_one_share_per_screen(screen.getvalue(), ADMINS)
    _check_shares_rebuild(out / "org.toml", words)
    assert sorted(p.name for p in out.iterdir()) == ["org.toml"]
    for mnemonic in words.values():
        assert _files_holding(tmp_path, mnemonic) == []
    assert "none was written to a file" in screen.getvalue()


@pytest.mark.parametrize("stop", ["ctrl_c", "end_of_input"])
def test_a_stopped_hand_out_clears_the_screen_and_keeps_no_org(tmp_path: Path, stop: str) -> None:
    out = tmp_path / "org"
    child, screen = _spawn(_env(tmp_path / "home"), *_init_args(out, "--suite", "p384"))
    child.expect_exact(CALL.format("alice"))
    child.sendline("")
    child.expect_exact(DONE)
    if stop == "ctrl_c":
        child.sendintr()
    else:
        child.sendeof()
    status, _rest = wait_for_exit(child)
    assert status == 130, screen.getvalue()
    after_share = screen.getvalue().split(DONE, 1)[1]
    assert CLEAR in after_share  # alice's words were cleared on the way out
    assert list(out.iterdir()) == []  # no org.toml, no org.toml.tmp: the key is never used


@pytest.mark.parametrize("command", ["rotate", "reshare"])
def test_rotate_and_reshare_on_a_terminal_hand_out_on_screen(
    ws: Workspace, tmp_path: Path, command: str
) -> None:
    out = tmp_path / "next"
    approve = [
        "--share",
        ws.home / "shares" / "alice.txt",
        "--share",
        ws.home / "shares" / "bob.txt",
    ]
    if command == "rotate":
        args: list[str | Path] = ["org", "rotate", "--reason", "drill", "--suite", "p384"]
        admins = ADMINS
    else:
        args = ["org", "reshare", "--reason", "drill", "--threshold", "2"]
        admins = ("dave", "erin")
        args += [arg for admin in admins for arg in ("--admin", admin)]
    child, screen = _spawn(ws.env, *args, "--out", out, *approve)
    _ceremony(child, admins)
    assert child.exitstatus == 0, screen.getvalue()
    words = _check_one_share_per_screen(screen.getvalue(), admins)
    _check_shares_rebuild(out / "org.toml", words)
    assert sorted(p.name for p in out.iterdir()) == ["org.toml"]


def test_share_files_on_a_disk_are_refused_without_shares_to_disk(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    out = tmp_path / "org"  # tmp_path is on a disk here (checked below)
    refused = run_medvault(env, *_init_args(out))  # no terminal: share files are the only way
    assert refused.returncode == 2, refused.stderr
    assert "not in memory: deleted files can be read back from a disk" in refused.stderr
    assert "--shares-to-disk" in refused.stderr
    assert not out.exists()  # refused before anything was made
    child, screen = _spawn(env, *_init_args(out, "--shares-to-files"))  # on a terminal
    status, _rest = wait_for_exit(child)
    assert status == 2, screen.getvalue()
    assert not out.exists()
    accepted = run_medvault(env, *_init_args(out, "--shares-to-disk"))
    assert accepted.returncode == 0, accepted.stderr
    assert sorted(p.name for p in (out / "shares").iterdir()) == [f"{a}.txt" for a in ADMINS]


def test_share_files_in_memory_need_no_flag(tmp_path: Path) -> None:
    shm = Path("/dev/shm")  # a tmpfs: where share files may go
    if not shm.is_dir():
        pytest.skip("no /dev/shm here")
    out = shm / f"medvault-test-org-{os.getpid()}-{tmp_path.name}"
    try:
        result = run_medvault(_env(tmp_path / "home"), *_init_args(out, "--suite", "p384"))
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in (out / "shares").iterdir()) == [f"{a}.txt" for a in ADMINS]
    finally:
        shutil.rmtree(out, ignore_errors=True)
