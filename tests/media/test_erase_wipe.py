"""`erase --wipe-free-space`, and what the certificate says about free space.

medvault 0.1 renamed each new header over the old one, so a vault it changed may hold
superseded header versions in the drive's free space. Erase cannot find those clusters by
name; overwriting all free space reaches them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from medvault.engine.session import open_headers, unlock
from medvault.keys import header_auth
from medvault.keys.passphrase import to_secret
from medvault.reports import certificate
from medvault.vault.erase import Erased
from tests.conftest import PASSPHRASE, Workspace
from tests.support import media
from tests.support.headers import header_structures


def _as_version_1(drive: Path) -> bytes:
    """Rewrite both copies as a version 1 header (as medvault 0.1 left them); its bytes."""
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    header = vault.require_header()
    v1 = dataclasses.replace(header, body=dataclasses.replace(header.body, version=1))
    data = header_auth.seal(vault.keys, v1)
    for copy in (vault.paths.header_a, vault.paths.header_b):
        copy.unlink()  # fusefat refuses to truncate a file it holds data of
        copy.write_bytes(data)
    return data


@pytest.mark.fuse
@pytest.mark.slow
def test_wipe_free_space_overwrites_a_deleted_header_version(ws: Workspace, tmp_path: Path) -> None:
    reason = media.missing_tools(media.FAT32)
    if reason is not None:
        pytest.skip(reason)
    with media.mounted(media.FAT32, tmp_path, size_mib=48) as stick:
        drive = stick.mountpoint
        ws.cli("create", drive, check=True)
        old = _as_version_1(drive)
        # What a rename by medvault 0.1 left: an earlier version in freed clusters.
        leftover = drive / "MEDVAULT" / "tmp" / "superseded"
        leftover.write_bytes(old)
        stick.sync()
        leftover.unlink()
        stick.sync()
        assert len(header_structures(media.raw_image_bytes(stick.image))) >= 3
        result = ws.cli(
            "erase", drive, "--yes", "--wipe-free-space", "--out", tmp_path / "cert", "--json"
        )
        assert result.returncode == 0, result.stderr
        stick.sync()
        assert list((drive / "MEDVAULT" / "tmp").iterdir()) == []  # the fillers are gone
    assert header_structures(media.raw_image_bytes(stick.image)) == []
    cert = json.loads((tmp_path / "cert" / "certificate.json").read_text())
    assert cert["sanitization"]["header_format_version"] == 1
    assert cert["sanitization"]["free_space"].startswith("overwritten with random data")
    assert "medvault 0.1" not in cert["caveat"]  # wiped: nothing left to warn about


def _erased(version: int, wiped: int | None) -> Erased:
    return Erased("00" * 16, "label", "2026-12-05T00:00:00Z", 1, 2, 2, 0, 0, [], version, 0, wiped)


def test_the_certificate_warns_of_version_1_headers_left_in_free_space() -> None:
    v1 = certificate.certificate(_erased(1, None), "who", "host", "Org")
    assert "medvault 0.1" in v1["caveat"] and "--wipe-free-space" in v1["caveat"]
    assert v1["sanitization"]["free_space"].startswith("not overwritten")
    v2 = certificate.certificate(_erased(2, None), "who", "host", "Org")
    assert "medvault 0.1" not in v2["caveat"]
    for cert in (v1, v2):
        assert "SP 800-88" in cert["caveat"] and "wear levelling" in cert["caveat"]
