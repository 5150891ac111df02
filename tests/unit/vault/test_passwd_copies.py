"""A passphrase change whose second header copy does not reach the drive: the error says
the older copy may still open with the passphrase replaced and that `repair` finishes
the change; a write the drive drops is caught by reading both copies back."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest

from medvault.engine import session
from medvault.engine.session import (
    header_copy_warnings,
    open_headers,
    superseded,
    unlock,
)
from medvault.errors import MediaFull, WriteNotVerified, WrongPassphrase
from medvault.keys.passphrase import to_secret
from medvault.registry.sql import Registry
from medvault.store import fsio
from medvault.vault.env import Env
from medvault.vault.maintenance import change_passphrase, repair
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace

NEW = "the replacement passphrase 2026"


def _second_copy(monkeypatch: pytest.MonkeyPatch, instead: Callable[[Path], None]) -> None:
    """Header writes reach copy A; a write of copy B does INSTEAD."""
    write = fsio.overwrite_in_place

    def overwrite(path: Path, data: bytes, max_size: int | None = None, block: int = 1) -> None:
        if path.name == "vault.mvh.bak":
            instead(path)
        else:
            write(path, data, max_size, block)

    monkeypatch.setattr(session, "overwrite_in_place", overwrite)


def test_a_second_copy_the_drive_refuses_is_named_and_repair_finishes_the_change(
    ws: Workspace, drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = ws.create_unlocked(drive)
    registry, env = Registry("sqlite://"), Env(kdf=FAST_KDF)

    def refuse(path: Path) -> None:
        raise OSError(errno.EIO, "Input/output error", str(path))

    _second_copy(monkeypatch, refuse)
    with pytest.raises(MediaFull) as caught:
        change_passphrase(vault, to_secret(NEW), registry, env)
    assert "vault.mvh.bak may still hold the one before" in (caught.value.hint or "")
    assert "run `medvault repair`" in (caught.value.hint or "")
    monkeypatch.undo()

    old = unlock(open_headers(drive), to_secret(PASSPHRASE))
    opened = superseded(old)
    assert opened is not None and opened.copy == "vault.mvh.bak"
    [warning] = header_copy_warnings(old)
    assert warning.startswith("this passphrase opens only vault.mvh.bak, an older header copy")
    repair(old, registry, env)
    with pytest.raises(WrongPassphrase):
        unlock(open_headers(drive), to_secret(PASSPHRASE))
    now = unlock(open_headers(drive), to_secret(NEW))
    assert superseded(now) is None and header_copy_warnings(now) == []


def test_a_dropped_write_of_the_second_copy_is_caught_by_reading_both_back(
    ws: Workspace, drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = ws.create_unlocked(drive)
    _second_copy(monkeypatch, lambda _path: None)  # the drive says yes, keeps the old bytes
    with pytest.raises(WriteNotVerified) as caught:
        change_passphrase(vault, to_secret(NEW), Registry("sqlite://"), Env(kdf=FAST_KDF))
    assert caught.value.message == "header copy vault.mvh.bak did not read back as written"
    assert "may still open with the passphrase before" in (caught.value.hint or "")
