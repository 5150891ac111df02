"""SIGKILL `medvault add` at random moments, many times: the vault always
opens and every file `add` reported as committed extracts intact. The other header copy
rescues a vault whose vault.mvh is deleted or damaged."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from medvault.engine.catalog import load_catalog
from medvault.engine.session import open_headers, unlock
from medvault.errors import WrongPassphrase
from medvault.keys.passphrase import to_secret
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from medvault.vault.verify import verify
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace

ITERATIONS = 12  # tests/campaigns/test_fault_points.py crashes add at every I/O point besides


def _source_tree(root: Path, tag: int) -> Path:
    """Big files commit one by one; small ones commit together: several commit points."""
    src = root / f"batch{tag:02d}"
    src.mkdir(parents=True)
    rng = random.Random(tag)
    for i in range(6):
        (src / f"scan{i}.bin").write_bytes(rng.randbytes(1_200_000 + i))
    for i in range(120):
        (src / "notes" / f"n{i:03d}.txt").parent.mkdir(exist_ok=True)
        (src / "notes" / f"n{i:03d}.txt").write_bytes(rng.randbytes(rng.randint(0, 3000)))
    return src


def _run_and_kill(
    ws: Workspace, drive: Path, src: Path, delay: float | None, after_reports: int = 0
) -> tuple[list[str], list[float]]:
    """Run `add` and SIGKILL it after DELAY seconds, or as soon as it has reported
    AFTER_REPORTS files (neither: let it finish). Returns the files it reported as added
    and when each report arrived (seconds after the start)."""
    env = dict(ws.env, MEDVAULT_PASSPHRASE_FILE=str(ws.passfile))
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "medvault", "add", "-v", str(drive), str(src)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    reported: list[str] = []
    times: list[float] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("added "):
                reported.append(line[len("added ") :].rstrip("\n"))
                times.append(time.monotonic() - started)
                if len(reported) == after_reports:
                    proc.send_signal(signal.SIGKILL)  # right after a commit was reported

    reader = threading.Thread(target=read)
    reader.start()
    if delay is not None:
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join()
    return reported, times


@pytest.mark.slow
def test_sigkill_during_add_never_loses_reported_files(ws: Workspace, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    create_vault(drive, "", to_secret(PASSPHRASE), ws.org, ws.registry(), Env(kdf=FAST_KDF))
    rng = random.Random(20261122)
    # How long a whole add takes here. Files are reported in a burst of a few tens of
    # milliseconds (one commit per big file, one per pack of small ones), so timed kills
    # mostly land before it or after it; every other kill is therefore triggered by the
    # k-th report itself, right after a commit point.
    _files, times = _run_and_kill(ws, drive, _source_tree(tmp_path / "warmup", 99), None)
    full = times[-1] + 0.2
    committed: dict[str, Path] = {}
    outcomes = {"none": 0, "some": 0, "all": 0}
    for tag in range(ITERATIONS):
        src = _source_tree(tmp_path / "sources", tag)
        total = sum(1 for p in src.rglob("*") if p.is_file())
        plain_names = {p.name for p in src.rglob("*") if p.is_file()}
        if tag % 2 == 0:
            reported, _t = _run_and_kill(ws, drive, src, delay=rng.uniform(0.0, full))
        else:
            k = rng.randint(1, total - 1)
            reported, _t = _run_and_kill(ws, drive, src, delay=None, after_reports=k)
        outcomes["none" if not reported else "all" if len(reported) == total else "some"] += 1
        for path in reported:
            committed[path] = src.parent / path

        # The vault opens, and every file ever reported is there and intact.
        vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
        catalog = load_catalog(vault)
        live = {loc.path for loc in catalog.live()}
        assert set(committed) <= live, sorted(set(committed) - live)[:5]
        report = verify(vault)
        assert not report.damaged and not report.missing and not report.damaged_packs
        assert all(v == "ok" for v in report.headers.values())
        # The only thing a kill may leave is a pack not yet in the index (healed by the next
        # writer, or by repair).
        assert report.index == "ok" or "not in the index yet: pack" in report.index, report.index
        # No source file's name (scanN.bin, nNNN.txt: a dot and digits that no random
        # base32 name of medvault's holds) reached the drive, whole or in part of a name.
        names = [p.name for p in (drive / "MEDVAULT").rglob("*")]
        assert not [n for n in names for plain in plain_names if plain in n]
    # The kills really landed at different stages.
    assert outcomes["none"] and outcomes["some"], outcomes

    out = tmp_path / "out"
    ws.cli("extract", drive, *sorted(committed), "--to", out, check=True, timeout=300)
    for path, source in committed.items():
        assert (out / path).read_bytes() == source.read_bytes(), path
    # After all that, a plain add works (stale lock broken, tmp swept, index healed).
    extra = tmp_path / "after.txt"
    extra.write_text("after the crashes\n")
    ws.cli("add", drive, extra, check=True)
    assert ws.cli("verify", drive).returncode == 0
    assert list((drive / "MEDVAULT" / "tmp").iterdir()) == []


@pytest.fixture
def filled(ws: Workspace, drive: Path, tmp_path: Path) -> Path:
    src = tmp_path / "records"
    src.mkdir()
    for i in range(3):
        (src / f"r{i}.csv").write_text(f"row,{i}\n" * 100)
    ws.create_fast(drive)
    ws.cli("add", drive, src, check=True)
    return drive


@pytest.mark.parametrize("damage", ["delete-a", "zero-a", "delete-b", "truncate-a"])
def test_other_header_copy_rescues(
    ws: Workspace, filled: Path, tmp_path: Path, damage: str
) -> None:
    root = filled / "MEDVAULT"
    target = root / ("vault.mvh.bak" if damage.endswith("-b") else "vault.mvh")
    if damage.startswith("delete"):
        target.unlink()
    elif damage.startswith("zero"):
        data = bytearray(target.read_bytes())
        data[100:200] = bytes(100)
        target.write_bytes(bytes(data))
    else:
        target.write_bytes(target.read_bytes()[:50])
    assert "records/r1.csv" in ws.cli("ls", filled, check=True).stdout
    out = tmp_path / "out"
    ws.cli("extract", filled, "--to", out, check=True)
    assert (out / "records" / "r2.csv").read_text() == "row,2\n" * 100
    assert ws.cli("verify", filled).returncode == 19
    repaired = ws.cli("repair", filled, check=True)
    assert f"restored header copy {target.name}" in repaired.stdout
    assert target.exists()
    assert ws.cli("verify", filled).returncode == 0


def test_both_headers_gone(ws: Workspace, filled: Path) -> None:
    (filled / "MEDVAULT" / "vault.mvh").unlink()
    (filled / "MEDVAULT" / "vault.mvh.bak").unlink()
    result = ws.cli("ls", filled)
    assert result.returncode == 4
    assert result.stderr.startswith("medvault: error: no readable vault header")
    assert "Traceback" not in result.stderr


def test_sigkill_during_passwd(ws: Workspace, tmp_path: Path) -> None:
    """Whenever passwd dies, the old or the new passphrase opens the vault."""
    new = tmp_path / "new.txt"
    new.write_text("the brand new passphrase 2026\n")
    rng = random.Random(7)
    for attempt in range(3):  # every point of passwd: tests/campaigns/test_fault_points.py
        drive = tmp_path / f"d{attempt}"
        drive.mkdir()
        ws.cli("create", drive, check=True)
        env = dict(ws.env, MEDVAULT_PASSPHRASE_FILE=str(ws.passfile))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "medvault",
                "passwd",
                str(drive),
                "--new-passphrase-file",
                str(new),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 1.2))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        copies = open_headers(drive)
        opened = 0
        for secret in (ws.passfile, new):
            try:
                unlock(copies, to_secret(secret.read_text().rstrip("\n")))
                opened += 1
            except WrongPassphrase:
                pass
        assert opened >= 1, attempt
        shutil.rmtree(drive)


@pytest.mark.parametrize(
    ("content", "removed"), [(b"", True), (b"MVPK", True), (os.urandom(300), False)]
)
def test_an_unreadable_pack_no_index_names(
    ws: Workspace, filled: Path, content: bytes, removed: bool
) -> None:
    """After a yanked FAT32 stick, fsck may truncate a pack that was renamed into place
    but never indexed to nothing (the yank trials found one): repair removes it, since it
    holds no data. One that still holds data may be a committed pack whose damage also cost
    it its index record: repair keeps it, names it and exits 19. Committed files are
    untouched either way."""
    before = ws.cli("ls", filled, check=True).stdout
    shard = filled / "MEDVAULT" / "objects" / "zz"
    shard.mkdir(exist_ok=True)
    pack = shard / ("zz" + "a" * 24 + ".mvo")
    pack.write_bytes(content)
    result = ws.cli("verify", filled)
    assert result.returncode == 19
    assert "is in no index record and cannot be read" in result.stdout + result.stderr
    repaired = ws.cli("repair", filled)
    assert repaired.returncode == (0 if removed else 19), repaired.stderr
    assert ("empty, and no index record names it" in repaired.stdout) == removed
    assert pack.exists() != removed
    assert ws.cli("verify", filled).returncode == (0 if removed else 19)
    assert ws.cli("ls", filled, check=True).stdout == before
