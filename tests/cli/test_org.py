"""`medvault org init`: public org.toml, one 0600 SLIP-39 share per admin, and no private
key anywhere on disk."""

from __future__ import annotations

import itertools
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from medvault.config import load_org
from medvault.crypto.escrow import EscrowPrivateKey, EscrowSuite
from medvault.errors import AlreadyExists
from medvault.keys.shares import ShareError, combine_shares
from medvault.vault.org import ShareFiles, init_org
from tests.support.cli import run_medvault


def _init(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_medvault(
        dict(os.environ), "org", "init", "--name", "Clinic",
        "--admin", "alice", "--admin", "bob", "--admin", "carol", "--threshold", "2", "--out", out,
        "--shares-to-disk",  # no terminal here, and tmp_path is on a disk
        "--json", *extra,
    )  # fmt: skip


def _mnemonic(path: Path) -> str:
    return next(ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#"))


@pytest.mark.parametrize("suite", [s.value for s in EscrowSuite])
def test_org_init_shares_and_config(tmp_path: Path, suite: str) -> None:
    out = tmp_path / "org"
    result = _init(out, "--suite", suite)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    org = load_org(out / "org.toml")
    key = org.escrow_keys[0]
    assert (key.key_id, key.suite, key.threshold) == (info["key_id"], suite, 2)
    assert key.admins == ("alice", "bob", "carol")
    shares = {name: out / "shares" / f"{name}.txt" for name in key.admins}
    for path in shares.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "shares").stat().st_mode) == 0o700
    # Every pair of shares rebuilds the key whose public half is in org.toml.
    seeds = set()
    for a, b in itertools.combinations(shares.values(), 2):
        seed = combine_shares([_mnemonic(a), _mnemonic(b)])
        assert EscrowPrivateKey(EscrowSuite(suite), seed).public.raw == key.public_key
        seeds.add(seed.reveal())
    assert len(seeds) == 1
    # One share alone is not enough.
    with pytest.raises(ShareError, match="2 different admins"):
        combine_shares([_mnemonic(shares["alice"])])
    # The seed (the private key's only source) is in no file.
    seed_bytes = seeds.pop()
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert seed_bytes not in data
            assert seed_bytes.hex().encode() not in data


def test_org_init_refuses_bad_quorums(tmp_path: Path) -> None:
    init = ["org", "init", "--name", "C", "--admin", "a", "--admin", "b", "--shares-to-disk"]
    result = run_medvault(dict(os.environ), *init, "--threshold", "3", "--out", tmp_path / "o")
    assert result.returncode == 2
    assert "threshold" in result.stderr
    one = run_medvault(dict(os.environ), *init, "--threshold", "1", "--out", tmp_path / "p")
    assert one.returncode == 2
    assert not (tmp_path / "o" / "org.toml").exists()


def test_org_init_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "org"
    assert _init(out).returncode == 0
    before = (out / "org.toml").read_bytes()
    again = _init(out)
    assert again.returncode == 9
    assert (out / "org.toml").read_bytes() == before


def test_tampered_org_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "org"
    assert _init(out, "--suite", "p384").returncode == 0
    text = (out / "org.toml").read_text()
    key_line = next(ln for ln in text.splitlines() if ln.startswith("key_id"))
    (out / "org.toml").write_text(text.replace(key_line, 'key_id = "0000000000000000"'))
    drive = tmp_path / "drive"
    drive.mkdir()
    pp = tmp_path / "pp"
    pp.write_text("a long enough passphrase here\n")
    env = dict(os.environ, MEDVAULT_HOME=str(tmp_path / "home"), MEDVAULT_PASSPHRASE_FILE=str(pp))
    result = run_medvault(env, "create", drive, "--org", out / "org.toml")
    assert result.returncode == 5
    assert "does not match its public key" in result.stderr


def test_an_existing_share_file_is_refused_before_a_key_is_made(tmp_path: Path) -> None:
    """A share file left from an earlier ceremony: nothing is dealt, no org.toml written,
    and the old file is untouched."""
    folder = tmp_path / "org" / "shares"
    folder.mkdir(parents=True)
    (folder / "bob.txt").write_text("an old share\n")
    with pytest.raises(AlreadyExists, match=r"bob\.txt already exists"):
        init_org(
            "Clinic", "", ["alice", "bob"], 2, EscrowSuite.P384, tmp_path / "org",
            "2026-12-01T00:00:00Z", ShareFiles(folder, allow_disk=True),
        )  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "org").rglob("*")) == ["bob.txt", "shares"]
    assert (folder / "bob.txt").read_text() == "an old share\n"
