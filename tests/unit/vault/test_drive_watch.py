"""vault/drive_watch: the vault folder is judged gone when it no longer answers, when
another folder stands at its path, or when a read failed with an errno only a vanished
drive gives; ON_GONE runs once, in the watching thread."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from medvault.vault.drive_watch import DriveWatch, anchor, probe, why_gone


def test_a_folder_that_still_answers_is_not_gone(tmp_path: Path) -> None:
    """The folder as it was: no reason, in the thread's probe too."""
    at = anchor(tmp_path)
    assert why_gone(at) is None
    assert probe(at) is None


def test_a_removed_or_replaced_folder_is_gone(tmp_path: Path) -> None:
    """The folder removed: it no longer answers; another folder made at its path: it is no
    longer the vault's folder."""
    root = tmp_path / "MEDVAULT"
    root.mkdir()
    at = anchor(root)
    aside = tmp_path / "aside"
    root.rename(aside)
    assert "no longer answers" in (why_gone(at) or "")
    root.mkdir()
    assert "no longer the vault's folder" in (why_gone(at) or "")
    os.rmdir(aside)


def test_a_read_failing_as_a_vanished_drive_ends_the_watch_at_once(tmp_path: Path) -> None:
    """suspect(ENOTCONN) makes the watcher call ON_GONE once, with the reason, in its own
    thread, even though the folder still answers; an EIO alone does not."""
    calls: list[tuple[str, int]] = []
    called = threading.Event()

    def on_gone(why: str) -> None:
        calls.append((why, threading.get_ident()))
        called.set()

    watch = DriveWatch(tmp_path, on_gone, interval_s=60)
    watch.start()
    try:
        watch.suspect(OSError(errno.EIO, os.strerror(errno.EIO)))
        assert not called.wait(0.5)
        watch.suspect(OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN)))
        assert called.wait(10)
    finally:
        watch.stop()
    assert len(calls) == 1
    assert os.strerror(errno.ENOTCONN) in calls[0][0]
    assert calls[0][1] != threading.get_ident()
    assert watch.gone == calls[0][0]


def test_a_folder_gone_between_looks_is_noticed(tmp_path: Path) -> None:
    """The periodic look finds a removed vault folder without any read failing."""
    root = tmp_path / "MEDVAULT"
    root.mkdir()
    called = threading.Event()
    watch = DriveWatch(root, lambda _why: called.set(), interval_s=0.05)
    watch.start()
    try:
        root.rmdir()
        assert called.wait(10)
    finally:
        watch.stop()
    assert "no longer answers" in (watch.gone or "")
