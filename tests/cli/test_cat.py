"""`medvault cat` and `medvault extract --to -`: plaintext to stdout, never to disk, only
authenticated bytes, recorded in the custody log, quiet when the reader goes away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Workspace
from tests.support.cli import run_medvault_bytes, tree_state

CHUNK_PLAIN = 16 * 1024
CHUNK_CIPHER = CHUNK_PLAIN + 16  # each Cobblestone chunk carries a 16-byte tag
PREFIX = 56  # salt and commitment before the first chunk
BIG = 3 * 1024 * 1024 + 12345  # over the 1 MiB held in memory: streamed block by block


def _sources(src: Path) -> dict[str, bytes]:
    files = {
        "note.txt": b"first line\nsecond line\n",
        "empty.bin": b"",
        "big.bin": os.urandom(BIG),
    }
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    return files


def _env(ws: Workspace, tmp_path: Path) -> tuple[dict[str, str], list[Path]]:
    """The workspace's environment with its own HOME and TMPDIR, and the folders to watch
    (those two, a working folder and everything under tmp_path)."""
    home, temp, work = tmp_path / "user-home", tmp_path / "tmpdir", tmp_path / "cwd"
    for folder in (home, temp, work):
        folder.mkdir()
    env = ws.env | {
        "HOME": str(home),
        "TMPDIR": str(temp),
        "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile),
    }
    return env, [tmp_path]


def _changed(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]):
    return sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )


def test_cat_and_extract_to_stdout_write_the_bytes_and_no_file(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """cat writes each named file's exact bytes in the order named, and extract --to -
    the chosen files concatenated in path order; neither creates or changes any file
    outside the drive's custody log and the registry: not in the vault, the working
    folder, HOME, TMPDIR or anywhere under the test's folder."""
    files = _sources(tmp_path / "src")
    ws.create_fast(drive)
    ws.cli("add", drive, tmp_path / "src", check=True)
    env, watched = _env(ws, tmp_path)
    allowed_prefixes = (str(drive / "MEDVAULT" / "log"), str(ws.home / "registry.sqlite"))
    for args, expected in [
        (["cat", drive, "src/note.txt", "src/big.bin", "src/empty.bin", "src/note.txt"],
         files["note.txt"] + files["big.bin"] + files["note.txt"]),
        (["extract", drive, "src", "--to", "-"],
         files["big.bin"] + files["note.txt"]),
        (["extract", drive, "src/big.bin", "--to", "-"], files["big.bin"]),
    ]:  # fmt: skip
        before = tree_state(*watched)
        result = run_medvault_bytes(env, *args, cwd=tmp_path / "cwd")
        after = tree_state(*watched)
        assert result.returncode == 0, result.stderr
        assert result.stdout == expected, args
        changed = [
            p
            for p in _changed(before, after)
            if not p.startswith(allowed_prefixes) and p != str(ws.home)
        ]
        assert changed == [], (args, changed)
        assert any(p.startswith(allowed_prefixes[0]) for p in _changed(before, after))


def _damage(part: Path, at: int) -> None:
    with part.open("r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))


def _parts(drive: Path) -> set[Path]:
    return set((drive / "MEDVAULT" / "objects").rglob("*.mv[op]"))


def test_a_damaged_chunk_stops_cat_with_only_a_prefix_written(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """A large file with one damaged chunk: cat exits 6, says how many bytes of it were
    written, and stdout is a prefix of the file that ends before the damaged chunk (and,
    since the file is streamed, holds the authenticated blocks before it)."""
    data = os.urandom(BIG)
    src = tmp_path / "scan.bin"
    src.write_bytes(data)
    ws.create_fast(drive)
    ws.cli("add", drive, src, check=True)
    (part,) = _parts(drive)
    at = 2 * 1024 * 1024 + 5000  # well inside the payload: the header is far smaller
    _damage(part, at)
    env, _ = _env(ws, tmp_path)
    for args in (["cat", drive, "scan.bin"], ["extract", drive, "scan.bin", "--to", "-"]):
        result = run_medvault_bytes(env, *args)
        assert result.returncode == 6, result.stderr
        assert data.startswith(result.stdout)
        # The damaged chunk starts at or before this plaintext offset: none of it is out.
        assert len(result.stdout) <= (at - PREFIX) // CHUNK_CIPHER * CHUNK_PLAIN
        assert len(result.stdout) >= 1024 * 1024
        assert f"{len(result.stdout)} of its {BIG} bytes were written" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_damaged_small_file_writes_nothing_of_it(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """A file of up to 1 MiB is written only once wholly authenticated: with a damaged
    one named second, stdout holds exactly the first file, and cat exits 6."""
    good, bad = tmp_path / "good.txt", tmp_path / "bad.bin"
    good.write_bytes(b"intact\n")
    bad.write_bytes(os.urandom(600 * 1024))
    ws.create_fast(drive)
    ws.cli("add", drive, good, check=True)
    before = _parts(drive)
    ws.cli("add", drive, bad, check=True)
    (part,) = _parts(drive) - before
    _damage(part, 300 * 1024)
    env, _ = _env(ws, tmp_path)
    result = run_medvault_bytes(env, "cat", drive, "good.txt", "bad.bin", "good.txt")
    assert result.returncode == 6, result.stderr
    assert result.stdout == b"intact\n"
    assert "0 of its 614400 bytes were written" in result.stderr


def test_cat_is_recorded_in_the_custody_log(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    """Each cat (and extract --to -) is an extract event in the registry and the drive's
    log, with the file count, the bytes and `to: stdout`."""
    files = _sources(tmp_path / "src")
    vault_id = ws.create_fast(drive)
    ws.cli("add", drive, tmp_path / "src", check=True)
    env, _ = _env(ws, tmp_path)
    assert run_medvault_bytes(env, "cat", drive, "src/note.txt").returncode == 0
    assert run_medvault_bytes(env, "extract", drive, "--to", "-").returncode == 0
    events = [s.event for s in ws.registry().events(vault_id) if s.event.action == "extract"]
    assert [(e.details["command"], e.details["to"], e.details["files"]) for e in events] == [
        ("cat", "stdout", 1),
        ("extract", "stdout", 3),
    ]
    assert events[0].details["bytes"] == len(files["note.txt"])
    assert events[1].details["bytes"] == sum(map(len, files.values()))
    shown = ws.cli("custody", "show", drive, "--json", check=True).stdout
    assert shown.count('"extract"') >= 2


def test_a_closed_pipe_ends_cat_quietly(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    """`medvault cat ... | head -c 10`: the reader goes away, cat stops with exit 141 and
    nothing on stderr (no traceback, no error line)."""
    _sources(tmp_path / "src")
    ws.create_fast(drive)
    ws.cli("add", drive, tmp_path / "src", check=True)
    env, _ = _env(ws, tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-m", "medvault", "cat", str(drive), "src/big.bin"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    assert len(child.stdout.read(10)) == 10
    child.stdout.close()
    stderr = child.stderr.read()
    assert child.wait(timeout=60) == 141
    assert stderr == b""


def test_cat_refuses_a_missing_path_before_writing_anything(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """A named path not in the vault is exit 16 with nothing on stdout, even when named
    after one that is."""
    _sources(tmp_path / "src")
    ws.create_fast(drive)
    ws.cli("add", drive, tmp_path / "src", check=True)
    env, _ = _env(ws, tmp_path)
    result = run_medvault_bytes(env, "cat", drive, "src/note.txt", "src/nope")
    assert result.returncode == 16
    assert result.stdout == b""
