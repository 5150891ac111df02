"""The same escrow share given twice (keys/shares.py `combine_parsed`
keeps one share per member index before combining).

shamir-mnemonic does notice an identical share deeper down (it holds a group's shares in a
set, so two copies count as one and it says "insufficient"), but that surfaces only as
"the shares do not combine (is one from another key?)", which sends admins hunting for a
wrong key. And when a third, different share is given, combining only the first
`threshold` shares without the de-duplication would hand shamir-mnemonic the duplicate and
drop the good one: the quorum that is there would be refused. These tests fail with the
de-duplication line removed (except the control case, where the repeat comes after a
quorum of distinct shares).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from medvault.keys.shares import ShareError, combine_shares
from tests.conftest import Workspace

ADMINS = ("alice", "bob", "carol")


def _share(ws: Workspace, admin: str) -> str:
    """The admin's share words, as the share file holds them (one line, after comments)."""
    lines = (ws.home / "shares" / f"{admin}.txt").read_text().splitlines()
    (words,) = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return words


def test_one_share_twice_is_one_admin_not_a_quorum(ws: Workspace) -> None:
    bob = _share(ws, "bob")
    with pytest.raises(ShareError) as raised:
        combine_shares([bob, bob])
    assert raised.value.message == "2 different admins' shares are needed; got 1"
    assert "single admin cannot recover" in (raised.value.hint or "")


@pytest.mark.parametrize(
    "order", [("bob", "bob", "alice"), ("carol", "carol", "bob"), ("carol", "alice", "carol")]
)
def test_a_repeated_share_does_not_push_out_a_good_one(
    ws: Workspace, order: tuple[str, str, str]
) -> None:
    quorum = sorted(set(order))
    expected = combine_shares([_share(ws, admin) for admin in quorum]).reveal()
    assert combine_shares([_share(ws, admin) for admin in order]).reveal() == expected


def _recover(
    ws: Workspace, drive: Path, out: Path, *admins: str
) -> subprocess.CompletedProcess[str]:
    shares = [arg for a in admins for arg in ("--share", ws.home / "shares" / f"{a}.txt")]
    return ws.cli("recover", drive, "--reason", "drill", "--to", out, *shares, passphrase=False)


def test_recover_with_a_share_file_given_twice(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    ws.create_fast(drive)
    source = tmp_path / "a.csv"
    source.write_text("mrn,result\n1,neg\n")
    ws.cli("add", drive, source, check=True)
    alone = _recover(ws, drive, tmp_path / "none", "bob", "bob")
    assert alone.returncode == 20, alone.stderr
    assert "2 different admins' shares are needed; got 1" in alone.stderr
    assert not (tmp_path / "none").exists()
    done = _recover(ws, drive, tmp_path / "out", "bob", "bob", "alice")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "a.csv").read_text() == "mrn,result\n1,neg\n"
    registry = ws.registry()
    try:
        (event,) = [s.event for s in registry.events() if s.event.action == "recover"]
    finally:
        registry.close()
    assert event.details["approvers"] == ["bob", "alice"]
