"""Escrow recovery by a quorum of admins."""

from __future__ import annotations

import itertools
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from medvault.crypto.escrow import EscrowSuite
from tests.conftest import Workspace, make_workspace

ADMINS = ("alice", "bob", "carol")


def _shares(ws: Workspace) -> dict[str, Path]:
    return {name: ws.home / "shares" / f"{name}.txt" for name in ADMINS}


def _filled(ws: Workspace, drive: Path, tmp_path: Path) -> dict[str, bytes]:
    src = tmp_path / "records"
    (src / "sub").mkdir(parents=True)
    files = {"records/a.csv": b"mrn,result\n1,neg\n", "records/sub/b.bin": bytes(range(256)) * 99}
    for rel, data in files.items():
        (tmp_path / rel).write_bytes(data)
    ws.create_fast(drive)  # FAST_KDF: every command of the test unlocks in ~0.01 s, not ~0.25 s
    ws.cli("add", drive, src, check=True)
    return files


def _recover(
    ws: Workspace, drive: Path, *args: str | Path, shares: list[Path]
) -> subprocess.CompletedProcess[str]:
    share_args: list[str | Path] = []
    for share in shares:
        share_args += ["--share", share]
    return ws.cli("recover", drive, *args, *share_args, passphrase=False)


def test_every_pair_recovers_and_resets(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    files = _filled(ws, drive, tmp_path)
    shares = _shares(ws)
    for n, (first, second) in enumerate(itertools.combinations(ADMINS, 2)):
        out = tmp_path / f"out{n}"
        result = _recover(
            ws, drive, "--reason", f"drill {n}", "--to", out, shares=[shares[first], shares[second]]
        )
        assert result.returncode == 0, result.stderr
        for rel, data in files.items():
            assert (out / rel).read_bytes() == data
        new = tmp_path / f"new{n}.txt"
        new.write_text(f"a fresh passphrase number {n} for you\n")
        reset = _recover(
            ws,
            drive,
            "--reason",
            f"forgot {n}",
            "--reset-passphrase",
            "--new-passphrase-file",
            new,
            shares=[shares[second], shares[first]],
        )
        assert reset.returncode == 0, reset.stderr
        opened = ws.cli("ls", drive, extra_env={"MEDVAULT_PASSPHRASE_FILE": str(new)})
        assert opened.returncode == 0
        assert ws.cli("ls", drive).returncode == 3  # the old passphrase no longer opens it
    registry = ws.registry()
    events = [s.event for s in registry.events() if s.event.action.startswith("recover")]
    assert [e.action for e in events] == ["recover", "recover-reset"] * 3
    details = [e.details for e in events]
    assert details[0]["approvers"] == ["alice", "bob"]
    assert details[1]["approvers"] == ["bob", "alice"]
    assert details[4]["approvers"] == ["bob", "carol"]
    assert details[0]["reason"] == "drill 0"
    assert details[0]["files"] == 2
    assert "records/a.csv" not in json.dumps(details)


def test_single_share_and_missing_reason_are_refused(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    _filled(ws, drive, tmp_path)
    shares = _shares(ws)
    alone = _recover(ws, drive, "--reason", "x", "--to", tmp_path / "o", shares=[shares["bob"]])
    assert alone.returncode == 20
    assert "2 different admins' shares are needed; got 1" in alone.stderr
    twice = _recover(
        ws, drive, "--reason", "x", "--to", tmp_path / "o", shares=[shares["bob"], shares["bob"]]
    )
    assert twice.returncode == 20
    assert "2 different admins' shares are needed; got 1" in twice.stderr  # one admin, twice
    no_reason = _recover(ws, drive, "--to", tmp_path / "o", shares=[shares["bob"], shares["alice"]])
    assert no_reason.returncode == 2
    assert "--reason" in no_reason.stderr
    assert not (tmp_path / "o").exists()


def test_mistyped_word_is_caught_and_named(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    from shamir_mnemonic.wordlist import WORDLIST

    _filled(ws, drive, tmp_path)
    shares = _shares(ws)
    lines = shares["carol"].read_text().splitlines()
    words = lines[-1].split()
    rng = random.Random(3)
    position = rng.randrange(len(words))
    words[position] = next(w for w in WORDLIST if w != words[position] and w[0] == "s")
    typo = tmp_path / "carol-typo.txt"
    typo.write_text("\n".join([*lines[:-1], " ".join(words)]) + "\n")
    result = _recover(
        ws, drive, "--reason", "x", "--to", tmp_path / "o", shares=[shares["alice"], typo]
    )
    assert result.returncode == 20
    assert f"checksum fails: word {position + 1} looks mistyped" in result.stderr
    assert words[position] not in result.stderr  # the share's words are never echoed
    words[position] = "notaword"
    typo.write_text(" ".join(words) + "\n")
    result = _recover(
        ws, drive, "--reason", "x", "--to", tmp_path / "o", shares=[shares["alice"], typo]
    )
    assert result.returncode == 20
    assert f"word {position + 1} is not a SLIP-39 word" in result.stderr


def test_recovery_from_registry_when_both_headers_are_gone(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    files = _filled(ws, drive, tmp_path)
    (drive / "MEDVAULT" / "vault.mvh").unlink()
    (drive / "MEDVAULT" / "vault.mvh.bak").unlink()
    shares = _shares(ws)
    pair = [shares["alice"], shares["carol"]]
    without = _recover(ws, drive, "--reason", "x", "--to", tmp_path / "o", shares=pair)
    assert without.returncode == 4
    assert "--from-registry" in without.stderr
    out = tmp_path / "out"
    result = _recover(
        ws, drive, "--reason", "headers destroyed", "--to", out, "--from-registry", shares=pair
    )
    assert result.returncode == 0, result.stderr
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data


IO_PROBE = """
import atexit, sys
def report():
    with open("/proc/self/io") as io:
        sys.stderr.write("IO " + io.read().replace("\\n", " ") + "\\n")
atexit.register(report)
sys.argv = ["medvault", *sys.argv[1:]]
from medvault.cli.main import main
main()
"""


def _rchar(ws: Workspace, *args: str | Path) -> int:
    result = subprocess.run(
        [sys.executable, "-c", IO_PROBE, *map(str, args)],
        env=ws.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    found = re.search(r"^IO rchar: (\d+)", result.stderr, re.M)
    assert found, result.stderr
    return int(found.group(1))


def test_recovering_one_file_reads_only_that_file(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    src = tmp_path / "thousand"
    src.mkdir()
    rng = random.Random(1)
    for i in range(1000):
        (src / f"r{i:04d}.bin").write_bytes(rng.randbytes(64 * 1024))
    ws.cli("create", drive, check=True)
    ws.cli("add", drive, src, check=True, timeout=300)
    total = sum(p.stat().st_size for p in (drive / "MEDVAULT" / "objects").rglob("*.mvo"))
    assert total > 60_000_000
    shares = _shares(ws)
    common = ["--share", shares["alice"], "--share", shares["bob"], "--reason", "one file"]
    one = _rchar(ws, "recover", drive, "thousand/r0500.bin", "--to", tmp_path / "one", *common)
    assert (tmp_path / "one" / "thousand" / "r0500.bin").read_bytes() == (
        src / "r0500.bin"
    ).read_bytes()
    assert not any((tmp_path / "one" / "thousand").glob("r0499*"))
    # Recovering one more file costs about that file's bytes, not the vault's: everything
    # else read (interpreter, org config, headers, index) is the same for both commands.
    both = _rchar(
        ws,
        "recover",
        drive,
        "thousand/r0501.bin",
        "thousand/r0502.bin",
        "--to",
        tmp_path / "two",
        *common,
    )
    per_file = both - one
    assert 60_000 < per_file < 200_000, per_file
    assert one < total / 4, (one, total)  # imports and the index, not the payloads


@pytest.mark.parametrize("suite", [s for s in EscrowSuite if s is not EscrowSuite.MLKEM768_X25519])
def test_other_suites_round_trip(tmp_path: Path, suite: EscrowSuite) -> None:
    ws = make_workspace(tmp_path / "ws", suite)
    drive = tmp_path / "drive"
    drive.mkdir()
    files = _filled(ws, drive, tmp_path)
    info = json.loads(ws.cli("info", drive, "--json", check=True).stdout)
    assert info["escrow"][0]["suite"] == suite.value
    shares = _shares(ws)
    out = tmp_path / "out"
    result = _recover(
        ws, drive, "--reason", "suite drill", "--to", out, shares=[shares["bob"], shares["carol"]]
    )
    assert result.returncode == 0, result.stderr
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data
