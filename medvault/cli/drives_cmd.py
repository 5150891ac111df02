"""`medvault drives`: removable drives mounted here, and which of them hold a vault."""

from __future__ import annotations

from typing import Any

import click

from medvault.cli.options import json_option
from medvault.cli.output import emit_json
from medvault.cli.safe_text import safe
from medvault.errors import MedvaultError
from medvault.vault.info import vault_info
from medvault.workstation.drives import list_drives


@click.command("drives")
@json_option
def drives_cmd(as_json: bool) -> None:
    """List mounted removable drives: mount point, device, file system, size and free space,
    and the vault on each (id and label, read without a passphrase).

    A drive is a file system the kernel flags removable, or one that removable media use
    (FAT, exFAT, NTFS, HFS+, also through FUSE); firmware partitions are left out. fusefat
    reports no free space (shown as 0). Exit codes: 0.
    """
    rows: list[dict[str, Any]] = []
    for drive in list_drives():
        vault: dict[str, str] | None
        try:
            info = vault_info(drive.mountpoint)
            vault = {"vault_id": info["vault_id"], "label": info["label"], "path": info["path"]}
        except (MedvaultError, OSError):
            vault = None
        rows.append(
            {
                "mountpoint": str(drive.mountpoint),
                "device": drive.device,
                "filesystem": drive.filesystem,
                "removable_flag": drive.removable_flag,
                "total_bytes": drive.total_bytes,
                "free_bytes": drive.free_bytes,
                "vault": vault,
            }
        )
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("No removable drive is mounted.")
        return
    for row in rows:
        size = _size(row["total_bytes"]), _size(row["free_bytes"])
        found = row["vault"]
        held = f"vault {safe(found['vault_id'])} {found['label']!r}" if found else "no vault"
        # A mount point is often named after the drive's volume label: the drive's text.
        where, kind = safe(row["mountpoint"]), safe(row["filesystem"])
        click.echo(f"{where}  {kind}  {size[0]} ({size[1]} free)  {held}")


def _size(value: object) -> str:
    if not isinstance(value, int):
        return "?"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"
