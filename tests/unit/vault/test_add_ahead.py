"""An add of many small files has them read and sealed ahead by a forked helper
(vault/add_ahead.py on engine/helper_process.py). The helper only saves time: the vault
holds exactly what an add without it would (verify passes, every file extracts as it was),
and a file it cannot read, or everything once it is killed, is stored or refused by the
add itself, in its place."""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from medvault.engine import helper_process
from medvault.errors import SourceUnreadable
from medvault.vault.add import SMALL_FILE, add_files
from medvault.vault.reading import extract
from medvault.vault.verify import verify
from tests.conftest import Workspace
from tests.support.helper_signals import SignalAt, children
from tests.support.library_vault import LibraryVault

SMALL = 150  # above helper_process.MIN_ITEMS, several batches


@pytest.fixture
def vault(ws: Workspace, tmp_path: Path) -> Iterator[LibraryVault]:
    if not helper_process.worth_it(SMALL):
        pytest.skip("working ahead needs Linux and a second core")
    made = LibraryVault(ws, tmp_path)
    yield made
    made.registry.close()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """SMALL small files in three folders, and one large file among them."""
    root = tmp_path / "src"
    for number in range(SMALL):
        (root / f"d{number % 3}").mkdir(parents=True, exist_ok=True)
        (root / f"d{number % 3}" / f"f{number:03d}.txt").write_bytes(os.urandom(number * 7))
    (root / "d1" / "f050.zzz").write_bytes(os.urandom(SMALL_FILE + 5))
    return root


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def _holds_exactly(vault: LibraryVault, src: Path, out: Path) -> None:
    assert verify(vault.open()).ok
    extract(vault.open(), [], out, False, vault.registry, vault.env)
    assert _digests(out / src.name) == _digests(src)


def test_small_files_are_sealed_ahead_and_the_vault_holds_them_exactly(
    vault: LibraryVault, src: Path, tmp_path: Path
) -> None:
    others = children()
    result = add_files(vault.open(), [src], False, vault.registry, vault.env)
    assert result.sealed_ahead == SMALL and result.count == SMALL + 1
    assert not children() - others  # the helper is gone
    _holds_exactly(vault, src, tmp_path / "out")
    ids = [loc.file_id for loc in result.files]
    assert len(set(ids)) == len(ids)  # the helper's random pool is not the parent's


def test_when_the_helper_is_killed_the_add_finishes_without_it(
    vault: LibraryVault, src: Path, tmp_path: Path
) -> None:
    others = children()
    kill = SignalAt(signal.SIGKILL)
    result = add_files(vault.open(), [src], False, vault.registry, vault.env, progress=kill)
    assert kill.calls >= 40 and 0 < result.sealed_ahead < SMALL
    assert result.count == SMALL + 1 and not children() - others
    _holds_exactly(vault, src, tmp_path / "out")


def test_a_file_the_helper_cannot_read_is_refused_in_its_place(
    vault: LibraryVault, src: Path, tmp_path: Path
) -> None:
    """/proc/version says it is empty and is not: the helper gives it back, and the add
    refuses it itself, as without the helper, after the files before it."""
    others = children()
    odd = tmp_path / "odd"
    odd.symlink_to("/proc/version")  # a SOURCE may be a link: followed
    with pytest.raises(SourceUnreadable, match="changed while"):
        add_files(vault.open(), [src, odd], False, vault.registry, vault.env)
    assert verify(vault.open()).ok
    # The helper is gone with the failed add, although the error (and its traceback,
    # which holds the add's frames) is still alive here.
    assert not children() - others


def test_an_error_that_ends_the_items_comes_after_the_items_before_it() -> None:
    """helper_process.in_order: the items' own error is raised once every item before it
    has its result, as a loop without the helper would have them."""
    if not helper_process.worth_it(100):
        pytest.skip("working ahead needs Linux and a second core")

    def items() -> Iterator[int]:
        yield from range(100)
        raise ValueError("the source ran out")

    seen: list[tuple[int, bytes | None]] = []

    def consume() -> None:
        doubled = helper_process.in_order(
            items(), 100, lambda n: str(n).encode(), lambda task: task * 2, lambda _n, a: a
        )
        seen.extend(doubled)

    with pytest.raises(ValueError, match="ran out"):
        consume()
    assert seen == [(n, str(n).encode() * 2) for n in range(100)]
