"""Every `sh` block of docs/ADMIN.md runs, in order, and works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.support.paths import REPO_ROOT

DOC = REPO_ROOT / "docs" / "ADMIN.md"


def _blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", DOC.read_text(), re.M | re.S)


def test_admin_guide_commands_run(tmp_path: Path) -> None:
    blocks = _blocks()
    assert len(blocks) >= 8
    joined = "\n".join(blocks)
    for needed in (
        "org init",
        "recover",
        "--reset-passphrase",
        "--from-registry",
        "org rotate",
        "escrow reseal",
        "escrow affected",
        "org reshare",
    ):
        assert needed in joined, needed
    work = tmp_path / "admin"
    work.mkdir()
    owner_pass = tmp_path / "owner-passphrase.txt"
    owner_pass.write_text("the drill vault owner's passphrase\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDVAULT_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        MEDVAULT_HOME=str(tmp_path / "workstation"),
        DRIVE=str(tmp_path / "usb-stick"),
        PYTHONUNBUFFERED="1",
    )
    (tmp_path / "usb-stick").mkdir()
    for number, block in enumerate(blocks, 1):
        # After a passphrase reset (5.2), the owner's commands use the new passphrase.
        new_pass = work / "new-passphrase.txt"
        env["MEDVAULT_PASSPHRASE_FILE"] = str(new_pass if new_pass.exists() else owner_pass)
        org_file = work / "org" / "org.toml"
        if org_file.exists():
            env["OLD_KEY_ID"] = tomllib.loads(org_file.read_text())["escrow_keys"][0]["key_id"]
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert result.returncode == 0, f"block {number}:\n{block}\n{result.stdout}{result.stderr}"
        if "escrow affected" in block:
            assert env["OLD_KEY_ID"] and re.search(r"^[0-9a-f]{32} ", result.stdout, re.M)
    assert (work / "recovered" / "drill.txt").read_text() == "drill data\n"
    assert (work / "rescued" / "drill.txt").read_text() == "drill data\n"
    assert (work / "after-reshare" / "drill.txt").read_text() == "drill data\n"
