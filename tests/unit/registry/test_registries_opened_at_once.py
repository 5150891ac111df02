"""Registries opened at once by threads of one process: Alembic's `op` and `context` are
module-level proxies, so two upgrades running together used to run each other's steps on the
wrong connection (a CI run: "table key_packages already exists" when a test's registry was
created while a lost-drive check left running by the test before opened another). Every
registry must reach the newest schema, whatever else this process is opening."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from medvault.registry.lookup import HEAD_REVISION
from medvault.registry.sql import Registry

ROUNDS = 8


def _revisions(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]


def _open_together(paths: list[Path]) -> list[BaseException]:
    """Registry.for_path of each of PATHS, each on its own thread, all let go at once."""
    start = threading.Barrier(len(paths))
    failures: list[BaseException] = []

    def open_one(path: Path) -> None:
        start.wait()
        try:
            Registry.for_path(path).close()
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=open_one, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


@pytest.mark.parametrize("same_file", [False, True], ids=["two registries", "one registry"])
def test_registries_created_at_once_by_threads_all_reach_the_newest_schema(
    tmp_path: Path, same_file: bool
) -> None:
    for round_no in range(ROUNDS):
        folder = tmp_path / str(round_no)
        paths = [folder / "a.sqlite", folder / ("a.sqlite" if same_file else "b.sqlite")]
        assert _open_together(paths) == []
        for path in set(paths):
            assert _revisions(path) == [HEAD_REVISION]
            reopened = Registry.for_path(path)  # opens, and still works
            try:
                assert reopened.vault("0" * 32) is None
            finally:
                reopened.close()
