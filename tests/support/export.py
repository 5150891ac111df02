"""`medvault export` as the export tests run it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import Workspace


def run_export(
    ws: Workspace, staging: Path, vault: Path, *argv: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`medvault export --vault VAULT ARGV` in the workspace, staging under STAGING (the
    `shm` fixture's tmpfs folder, unless a test means another) and with ENV added."""
    extra = {"MEDVAULT_STAGING_DIR": str(staging), **(env or {})}
    return ws.cli("export", "--vault", vault, *argv, extra_env=extra)
