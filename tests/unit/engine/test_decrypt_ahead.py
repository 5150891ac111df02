"""An extract of many small files has them decrypted ahead by a forked helper
(engine/decrypt_ahead.py). The helper only saves time: the files land exactly as without
it, in the same order, and whatever it cannot decrypt (a damaged entry) or cannot finish
(it is killed) the extract does itself, with the same result and the same messages."""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medvault.engine import helper_process
from medvault.engine.catalog import Located, load_catalog
from medvault.vault.add import add_files
from medvault.vault.reading import LAND_IN_MEMORY, ExtractResult, extract
from tests.conftest import Workspace
from tests.support.helper_signals import SignalAt, children
from tests.support.library_vault import LibraryVault

SMALL = 150  # above helper_process.MIN_ITEMS, several batches
PACK_PRELUDE = 56  # FORMAT.md: entry offsets count from the end of a pack part's prelude


@pytest.fixture
def vault(ws: Workspace, tmp_path: Path) -> Iterator[LibraryVault]:
    if not helper_process.worth_it(SMALL):
        pytest.skip("decrypting ahead needs Linux and a second core")
    made = LibraryVault(ws, tmp_path)
    src = tmp_path / "src"
    for number in range(SMALL):
        (src / f"d{number % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{number % 3}" / f"f{number:03d}.txt").write_bytes(os.urandom(number * 7))
    # A large file between the small ones (path order): extracted in-process, in its place.
    (src / "d1" / "f050.zzz").write_bytes(os.urandom(LAND_IN_MEMORY + 5))
    add_files(made.open(), [src], False, made.registry, made.env)
    yield made
    made.registry.close()


def _extract(
    vault: LibraryVault, out: Path, progress: Callable[[int], None] | None = None
) -> ExtractResult:
    return extract(vault.open(), [], out, False, vault.registry, vault.env, progress=progress)


def _same_tree(src: Path, out: Path) -> None:
    def digests(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*")
            if p.is_file()
        }

    assert digests(out) == digests(src)


def test_small_files_are_decrypted_ahead_and_land_as_without_it(
    vault: LibraryVault, tmp_path: Path
) -> None:
    others = children()
    result = _extract(vault, tmp_path / "out")
    assert result.decrypted_ahead == SMALL  # every small file; the large one in-process
    assert result.files == SMALL + 1 and not result.failed
    listed = sorted(loc.path for loc in load_catalog(vault.open()).live())
    assert [str(p.relative_to(tmp_path / "out")) for p in result.written] == listed
    _same_tree(tmp_path / "src", tmp_path / "out" / "src")
    assert not children() - others  # the helper is gone


def test_a_file_the_helper_cannot_decrypt_is_extracted_here_and_fails_the_same(
    vault: LibraryVault, tmp_path: Path
) -> None:
    live = {loc.path: loc for loc in load_catalog(vault.open()).live()}
    damaged: Located = live["src/d2/f080.txt"]
    pack = vault.drive / "MEDVAULT" / "objects" / damaged.pack[:2] / f"{damaged.pack}.mvo"
    data = bytearray(pack.read_bytes())
    data[PACK_PRELUDE + damaged.offset + damaged.header_len + 3] ^= 1  # in its payload
    pack.write_bytes(bytes(data))
    result = _extract(vault, tmp_path / "out")
    alone = extract(  # one file: no helper
        vault.open(), [damaged.path], tmp_path / "alone", False, vault.registry, vault.env
    )
    assert alone.decrypted_ahead == 0 and set(alone.failed) == {damaged.path}
    assert result.failed == alone.failed
    assert result.decrypted_ahead == SMALL - 1 and result.files == SMALL
    assert not (tmp_path / "out" / "src" / "d2" / "f080.txt").exists()


def test_when_the_helper_is_killed_the_extract_finishes_without_it(
    vault: LibraryVault, tmp_path: Path
) -> None:
    others = children()
    kill = SignalAt(signal.SIGKILL)
    result = _extract(vault, tmp_path / "out", progress=kill)
    assert kill.calls >= 40 and 0 < result.decrypted_ahead < SMALL
    assert result.files == SMALL + 1 and not result.failed
    _same_tree(tmp_path / "src", tmp_path / "out" / "src")
    assert not children() - others


def test_a_helper_that_stops_answering_is_stopped_and_the_extract_goes_on(
    vault: LibraryVault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A helper stuck (here: stopped with SIGSTOP) is killed after STALLED_S of silence."""
    others = children()
    monkeypatch.setattr(helper_process, "STALLED_S", 0.5)
    result = _extract(vault, tmp_path / "out", progress=SignalAt(signal.SIGSTOP))
    assert 0 < result.decrypted_ahead < SMALL
    assert result.files == SMALL + 1 and not result.failed
    _same_tree(tmp_path / "src", tmp_path / "out" / "src")
    assert not children() - others


def test_when_no_helper_can_be_forked_the_extract_does_it_all(
    vault: LibraryVault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    open_before = len(os.listdir("/proc/self/fd"))
    mask_before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    result = _extract(vault, tmp_path / "out")
    assert result.decrypted_ahead == 0 and result.files == SMALL + 1 and not result.failed
    _same_tree(tmp_path / "src", tmp_path / "out" / "src")
    assert len(os.listdir("/proc/self/fd")) == open_before  # its pipes were closed
    # The signals blocked for the fork are unblocked again.
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask_before


def test_progress_counts_every_payload_byte_once_whoever_decrypted_it(
    vault: LibraryVault, tmp_path: Path
) -> None:
    """The progress bar gets byte counts, files the helper decrypted included."""
    steps: list[int] = []
    result = _extract(vault, tmp_path / "out", progress=steps.append)
    assert result.decrypted_ahead == SMALL
    assert all(type(step) is int and step >= 0 for step in steps)
    assert sum(steps) == sum(loc.payload_len for loc in load_catalog(vault.open()).live())


def test_a_file_of_exactly_the_in_memory_limit_is_decrypted_ahead_and_counts(
    ws: Workspace, tmp_path: Path
) -> None:
    """LAND_IN_MEMORY is inclusive: with MIN_ITEMS - 1 tiny files, a file of exactly that
    size both makes the helper worth forking and is one of the files it decrypts."""
    if not helper_process.worth_it(helper_process.MIN_ITEMS):
        pytest.skip("decrypting ahead needs Linux and a second core")
    made = LibraryVault(ws, tmp_path)
    try:
        src = tmp_path / "src"
        src.mkdir()
        for number in range(helper_process.MIN_ITEMS - 1):
            (src / f"f{number:03d}.txt").write_bytes(os.urandom(number))
        (src / "limit.bin").write_bytes(os.urandom(LAND_IN_MEMORY))
        add_files(made.open(), [src], False, made.registry, made.env)
        result = _extract(made, tmp_path / "out")
        assert result.decrypted_ahead == helper_process.MIN_ITEMS
        assert result.files == helper_process.MIN_ITEMS and not result.failed
        _same_tree(src, tmp_path / "out" / "src")
    finally:
        made.registry.close()
