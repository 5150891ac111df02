"""An add that fails midway never leaves files in the vault that the user
was not told about. When a commit's index record cannot be written (drive full, pulled,
refused), the commit's pack is taken off the drive too, so `ls` lists exactly the files
reported added before the error, and `verify` finds nothing to repair."""

from __future__ import annotations

from pathlib import Path

import pytest

from medvault.engine.session import open_headers, unlock
from medvault.errors import MediaFull
from medvault.keys.passphrase import to_secret
from medvault.registry.sql import Registry
from medvault.store import io_points
from medvault.vault.add import add_files
from medvault.vault.env import Env
from medvault.vault.reading import list_files
from medvault.vault.verify import verify
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace


def _failing_at(kind: str, where: str) -> io_points.Observer:
    def observe(what: str, path: Path, _source: Path | None) -> None:
        if what == kind and where in path.as_posix():
            raise MediaFull("cannot write the index: No space left on device")

    return observe


@pytest.mark.parametrize(
    ("kind", "where"),
    [
        (io_points.INDEX_APPEND, "index/journal."),  # before the segment is written
        (io_points.RENAME, "index/journal."),  # its tmp file written, not renamed in
        (io_points.FSYNC_DIR, "MEDVAULT/index"),  # renamed in, the folder not made durable
    ],
    ids=["before-write", "before-rename", "after-rename"],
)
def test_a_commit_whose_index_record_fails_leaves_nothing_behind(
    ws: Workspace, drive: Path, tmp_path: Path, kind: str, where: str
) -> None:
    ws.create_fast(drive)
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        for n in range(3):
            (folder / f"{n}.txt").write_text(f"{folder.name} {n}\n")
    registry = Registry("sqlite://")
    env = Env(kdf=FAST_KDF, warn=lambda _m: None)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    add_files(vault, [first], False, registry, env)
    packs_before = sorted((drive / "MEDVAULT" / "objects").rglob("*.mv*"))
    told: list[str] = []
    with pytest.raises(MediaFull), io_points.observed(_failing_at(kind, where)):
        add_files(
            vault, [second], False, registry, env,
            on_commit=lambda locs: told.extend(loc.path for loc in locs),
        )  # fmt: skip
    assert told == []  # nothing reported added
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    listed = sorted(loc.path for loc in list_files(vault)[0])
    assert listed == ["first/0.txt", "first/1.txt", "first/2.txt"]
    assert sorted((drive / "MEDVAULT" / "objects").rglob("*.mv*")) == packs_before
    report = verify(vault)
    assert report.ok and not report.needs_repair, report.to_json()
    add_files(vault, [second], False, registry, env)  # and the add works once it can
    assert len(list_files(vault)[0]) == 6
