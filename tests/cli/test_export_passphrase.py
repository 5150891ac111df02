"""What the export command can learn about the vault passphrase (review L1).

CMD runs as the user, so the test runs medvault and CMD as an ordinary user (uid 65534,
via setpriv: as root, non-dumpable protects nothing). CMD is the review's
evil_export.sh, widened: it reads medvault's command line and follows a
--passphrase-file it names, tries medvault's environment, descriptors and memory (maps
then mem, scanning for the passphrase's known prefix), and dumps its own environment.

With --passphrase-fd it learns nothing. With --passphrase-file it reads the file, as the
docs say it can, and medvault warns first; so it does with MEDVAULT_PASSPHRASE_FILE.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from medvault.keys.passphrase import to_secret
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from tests.conftest import FAST_KDF, Workspace, make_workspace

NOBODY = 65534
PREFIX = "l1-probe-"  # CMD knows this much of the passphrase, to look for the rest
# A system interpreter: the second user may not reach the one running the tests.
PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or ""
EVIL = f"""#!{PYTHON}
import os, re, sys
out = open(os.environ["EVIDENCE"], "a")
open(os.path.join(os.environ["MEDVAULT_EXPORT_DIR"], "out.csv"), "w").write("MRN 12345678\\n")
parent = os.getppid()

def attempt(what, read):
    try:
        out.write(f"== {{what}}\\n{{read()}}\\n")
    except OSError as exc:
        out.write(f"== {{what}}: {{exc.strerror}}\\n")

def raw(path, size=1 << 20):
    with open(path, "rb") as handle:
        return handle.read(size).replace(b"\\0", b"\\n").decode("utf-8", "replace")

def scan_memory():
    found = []
    with open(f"/proc/{{parent}}/maps") as maps, open(f"/proc/{{parent}}/mem", "rb") as mem:
        for line in maps:
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if line.split()[1][0] != "r" or end - start > 1 << 28:
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            found += [m.group() for m in re.finditer(rb"{PREFIX}[0-9a-f]{{8,64}}", data)]
    return b"\\n".join(found).decode()

def named_file():
    args = raw(f"/proc/{{parent}}/cmdline").split("\\n")
    if "--passphrase-file" in args:
        return raw(args[args.index("--passphrase-file") + 1])
    return "(no --passphrase-file in the command line)"

attempt("cmdline", lambda: raw(f"/proc/{{parent}}/cmdline"))
attempt("passphrase file named in cmdline", named_file)
attempt("environ", lambda: raw(f"/proc/{{parent}}/environ"))
attempt("own environment", lambda: "\\n".join(f"{{k}}={{v}}" for k, v in os.environ.items()))
attempt("fds", lambda: "\\n".join(os.listdir(f"/proc/{{parent}}/fd")))
for fd in range(3, 20):
    attempt(f"fd {{fd}}", lambda: raw(f"/proc/{{parent}}/fd/{{fd}}", 4096))
    attempt(f"own fd {{fd}}", lambda: raw(f"/dev/fd/{{fd}}", 4096))
attempt("memory", scan_memory)
"""


@pytest.fixture
def as_nobody(shm: Path) -> Iterator[tuple[Workspace, Path, str]]:
    """A workspace, a vault (drive) and its passphrase, all owned by uid 65534."""
    if shutil.which("setpriv") is None or not PYTHON:
        pytest.skip("setpriv (util-linux) and a system python3 are needed")
    root = Path(tempfile.mkdtemp(prefix="medvault-l1-"))
    try:
        passphrase = PREFIX + secrets.token_hex(16)
        ws = make_workspace(root / "ws")
        ws.passfile.write_text(passphrase + "\n")
        drive = root / "drive"
        drive.mkdir()
        secret = to_secret(passphrase)
        create_vault(drive, "l1", secret, ws.org, ws.registry(), Env(kdf=FAST_KDF))
        (root / "evil.py").write_text(EVIL)
        (root / "evil.py").chmod(0o755)
        for path in [root, shm, *root.rglob("*")]:
            os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
        yield ws, drive, passphrase
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _export_as_nobody(
    ws: Workspace, drive: Path, shm: Path, source: list[str], env: dict[str, str], fd: int = -1
) -> tuple[subprocess.CompletedProcess[str], str]:
    evidence = ws.root.parent / "evidence.txt"
    command = [
        "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
        sys.executable, "-m", "medvault", "export", "--vault", str(drive), *source,
        "--", str(ws.root.parent / "evil.py"),
    ]  # fmt: skip
    full_env = {
        **ws.env,
        "MEDVAULT_STAGING_DIR": str(shm),
        "EVIDENCE": str(evidence),
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    result = subprocess.run(
        command,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        pass_fds=(fd,) if fd >= 0 else (),
        check=False,
    )
    return result, evidence.read_text() if evidence.exists() else ""


def test_passphrase_fd_leaks_nothing(
    as_nobody: tuple[Workspace, Path, str],
    shm: Path,
) -> None:
    ws, drive, passphrase = as_nobody
    read_end, write_end = os.pipe()
    os.write(write_end, (passphrase + "\n").encode())
    os.close(write_end)
    try:
        result, evidence = _export_as_nobody(
            ws, drive, shm, ["--passphrase-fd", str(read_end)], {}, read_end
        )
    finally:
        os.close(read_end)
    assert result.returncode == 0, result.stderr
    assert "warning: the export command runs as you" not in result.stderr
    # CMD ran and tried everything: only the command line was readable, naming an fd.
    assert "--passphrase-fd" in evidence and "== memory: Permission denied" in evidence
    assert "== environ: Permission denied" in evidence
    assert passphrase not in evidence and PREFIX not in evidence
    assert passphrase not in result.stdout + result.stderr


@pytest.mark.parametrize("source", ["--passphrase-file", "MEDVAULT_PASSPHRASE_FILE"])
def test_passphrase_file_is_warned_about(
    as_nobody: tuple[Workspace, Path, str],
    shm: Path,
    source: str,
) -> None:
    ws, drive, passphrase = as_nobody
    if source == "--passphrase-file":
        options, env = ["--passphrase-file", str(ws.passfile)], {}
    else:
        options, env = [], {"MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)}
    result, evidence = _export_as_nobody(ws, drive, shm, options, env)
    assert result.returncode == 0, result.stderr
    assert "warning: the export command runs as you and can read the passphrase" in (result.stderr)
    assert source in result.stderr
    if source == "--passphrase-file":
        # What the warning is about: the file named in medvault's command line is
        # readable by CMD, which runs as the same user.
        assert passphrase in evidence
    assert "== memory: Permission denied" in evidence
