"""The export wrapper's read-back comparison (vault/export.py `_read_back`:
the stored plaintext's SHA-256 against the staged file's, taken before the add).

The entry on the drive is authenticated, so a medium that returns other bytes fails its
MAC before this comparison is reached; what only the comparison sees is a vault copy that
is authentic but is not what the export command wrote. That happens when the staged file
is rewritten after export hashed it and before add read it (a child of the command that
is still writing after the command exited 0), in place, with its size and modification
time kept, so add's own "changed while it was being read" check cannot see it. The
rewrite is made at add's first I/O point on the drive (store/io_points.py), before the
large file is read; no medvault code is patched.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from medvault.engine.catalog import load_catalog
from medvault.engine.entry_reading import plaintext_sha256
from medvault.engine.session import UnlockedVault
from medvault.errors import MedvaultError
from medvault.registry.sql import Registry
from medvault.store import io_points
from medvault.vault.add import SMALL_FILE
from medvault.vault.env import Env
from medvault.vault.export import run_export
from medvault.workstation import staging
from tests.conftest import FAST_KDF, Workspace

SMALL = b"mrn,result\n1,positive\n"
# Larger than SMALL_FILE: read after the small file's pack is written (an I/O point).
LARGE = b"L" * (SMALL_FILE + 1)
REWRITTEN = b"R" * len(LARGE)  # same size: add's size check cannot tell
SCRIPT = (
    f"printf '%s' '{SMALL.decode()}' > \"$1/a.csv\"; "
    f"head -c {len(LARGE)} /dev/zero | tr '\\0' 'L' > \"$1/b.bin\""
)


def _rewrite_in_place(path: Path, data: bytes) -> None:
    """Other bytes of the same size, with the modification time put back."""
    before = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


class RewriteStaged:
    """At the first I/O point on the drive, rewrite the staged b.bin in place, once."""

    def __init__(self, root: Path, drive: Path) -> None:
        self.root, self.drive, self.done = root, drive, False

    def __call__(self, kind: str, path: Path, source: Path | None) -> None:
        if self.done or not Path(path).is_relative_to(self.drive):
            return
        (staged,) = self.root.glob(f"{staging.PREFIX}*/b.bin")
        _rewrite_in_place(staged, REWRITTEN)
        self.done = True


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _export(
    vault: UnlockedVault, registry: Registry, root: staging.StagingRoot
) -> tuple[list[str], int]:
    result = run_export(
        vault, "labs", ["/bin/sh", "-c", SCRIPT, "sh", "{}"], registry, Env(kdf=FAST_KDF), root
    )
    return sorted(f.path for f in result.files), result.command_exit


def test_an_export_reads_back_what_it_staged(
    ws: Workspace, drive: Path, disk_staging: staging.StagingRoot
) -> None:
    """The control: undisturbed, both files are stored, read back equal, staging wiped."""
    vault, root, registry = ws.create_unlocked(drive), disk_staging, ws.registry()
    try:
        paths, code = _export(vault, registry, root)
    finally:
        registry.close()
    assert code == 0
    assert [p.rsplit("/", 1)[1] for p in paths] == ["a.csv", "b.bin"]
    live = {loc.path: loc for loc in load_catalog(vault).live()}
    assert plaintext_sha256(vault, live[paths[1]]) == _sha256(LARGE)
    assert list(root.path.iterdir()) == []


def test_a_vault_copy_that_is_not_what_was_staged_is_refused(
    ws: Workspace, drive: Path, disk_staging: staging.StagingRoot
) -> None:
    vault, root, registry = ws.create_unlocked(drive), disk_staging, ws.registry()
    rewrite = RewriteStaged(root.path, drive)
    try:
        with io_points.observed(rewrite), pytest.raises(MedvaultError) as raised:
            _export(vault, registry, root)
    finally:
        registry.close()
    assert rewrite.done
    assert "did not read back intact" in str(raised.value)
    # The vault holds the authentic copy of what add read, which is not what was staged:
    # the staged plaintext is kept (not wiped) for the user, named in the hint.
    (kept,) = root.path.glob(f"{staging.KEPT}*")
    assert str(kept) in (raised.value.hint or "")
    assert (kept / "a.csv").read_bytes() == SMALL
    stored = {loc.path.rsplit("/", 1)[1]: loc for loc in load_catalog(vault).live()}
    assert plaintext_sha256(vault, stored["b.bin"]) == _sha256(REWRITTEN)
