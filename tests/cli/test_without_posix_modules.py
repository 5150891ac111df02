"""The CLI starts and works where POSIX-only modules (fcntl, termios, pwd...) and /proc do
not exist, as on Windows: create, add, ls, extract and verify on a temp folder, run through
tests/support/no_posix.py (an import hook that hides them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import Workspace
from tests.support.paths import TESTS_DIR

RUNNER = TESTS_DIR / "support" / "no_posix.py"


def _medvault(ws: Workspace, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**ws.env, "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)}
    result = subprocess.run(
        [sys.executable, str(RUNNER), *map(str, args)],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def test_the_everyday_commands_work_without_posix_only_modules(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    source = tmp_path / "notes"
    source.mkdir()
    (source / "a.txt").write_bytes(b"alpha\n" * 1000)
    (source / "b.bin").write_bytes(bytes(range(256)) * 300)
    _medvault(ws, "create", drive, "--label", "portable")
    _medvault(ws, "add", drive, source)
    listing = json.loads(_medvault(ws, "ls", drive, "--json").stdout)
    assert sorted(item["path"] for item in listing) == ["notes/a.txt", "notes/b.bin"]
    out = tmp_path / "out"
    _medvault(ws, "extract", drive, "--to", out)
    for name in ("a.txt", "b.bin"):
        assert (out / "notes" / name).read_bytes() == (source / name).read_bytes()
    _medvault(ws, "verify", drive)
    _medvault(ws, "drives", "--json")  # mounts listed through psutil


def test_the_runner_really_hides_the_modules(tmp_path: Path) -> None:
    probe = (
        "import runpy, sys; sys.argv = ['x']; "
        f"ns = runpy.run_path({str(RUNNER)!r}, run_name='probe'); ns['hide']()\n"
        "for name in ('fcntl', 'termios', 'pwd'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError:\n"
        "        print(name, 'hidden')\n"
        "try:\n"
        "    open('/proc/self/status')\n"
        "except FileNotFoundError:\n"
        "    print('/proc hidden')\n"
        "from pathlib import Path\n"
        "try:\n"
        "    Path('/proc/self/mountinfo').read_text()\n"
        "except FileNotFoundError:\n"
        "    print('mountinfo hidden')\n"
        "from medvault.workstation import mounts\n"
        "print('listed by', 'psutil' if mounts.mounts() == mounts.mounts('psutil') else '?')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split("\n")[:6] == [
        "fcntl hidden", "termios hidden", "pwd hidden", "/proc hidden", "mountinfo hidden",
        "listed by psutil",
    ]  # fmt: skip
