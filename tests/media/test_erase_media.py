"""On a real FAT32 and exFAT image, after every kind of header
rewrite, `erase` leaves no header version anywhere on the medium, and no secret the vault
ever had opens anything from the image or the registry.

The headers are rewritten in place (docs/FORMAT.md section 3). Had any rewrite renamed a new
copy over the old one, as medvault 0.1 did, the old copy's clusters would be freed but not
cleared, and the raw scan below would find its slots and escrow packages.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from medvault.crypto.escrow import EscrowPrivateKey
from medvault.errors import MedvaultError
from medvault.format import vault_header as hfmt
from medvault.keys.passphrase import to_secret
from medvault.keys.recovery_code import open_recovery_slots
from medvault.keys.recovery_code import parse as parse_recovery_code
from medvault.keys.slots import open_slots
from medvault.secret import Secret
from tests.conftest import Workspace
from tests.support import media
from tests.support.escrow import escrow_from_shares
from tests.support.headers import header_structures

PASSPHRASES = (
    "first passphrase of the erase drill",
    "second passphrase of the erase drill",
    "third passphrase of the erase drill",
    "fourth passphrase, set by the admins",
)
# What only a header holds, in plaintext JSON: a slot's wrapped key, an escrow package.
HEADER_MARKS = (b'"wrapped":"', b'"sealed":"', b'"slots":[')


def _opens_anything(raw: bytes, vault_id: bytes, secrets: dict[str, object]) -> list[str]:
    """Every way a carved header at any offset opens with any of SECRETS."""
    opened: list[str] = []
    for offset in header_structures(raw):
        body_len = int.from_bytes(raw[offset + 36 : offset + 40], "big")
        length = 40 + body_len + 64
        if raw[offset + 9] >= 2:  # version 2 on: padded to whole blocks
            length += -length % hfmt.PAD_BLOCK
        try:
            parsed = hfmt.decode(raw[offset : offset + length])
        except MedvaultError:
            continue
        body = parsed.header.body
        for name, secret in secrets.items():
            try:
                if isinstance(secret, EscrowPrivateKey):
                    for slot in body.escrow:
                        secret.open(slot.sealed, vault_id)
                elif name == "recovery code":
                    assert isinstance(secret, Secret)
                    open_recovery_slots(body.slots, vault_id, secret)
                else:
                    assert isinstance(secret, Secret)
                    open_slots(body.slots, vault_id, secret)
            except MedvaultError:
                continue
            opened.append(f"{name} at byte {offset}")
    return opened


@pytest.mark.fuse
@pytest.mark.slow
@pytest.mark.parametrize("kind", media.KINDS)
def test_erase_leaves_no_header_version_on_the_medium(
    kind: str, ws: Workspace, tmp_path: Path
) -> None:
    reason = media.missing_tools(kind)
    if reason is not None:
        pytest.skip(reason)
    files = [tmp_path / f"p{i}.txt" for i in range(len(PASSPHRASES))]
    for path, text in zip(files, PASSPHRASES, strict=True):
        path.write_text(text + "\n")
        path.chmod(0o600)
    source = tmp_path / "labs.csv"
    source.write_text("mrn,result\n12345678,positive\n")
    org2 = tmp_path / "org-2027"

    def cli(*args: str | Path, pp: int | None = 0, env: dict[str, str] | None = None) -> str:
        extra = dict(env or {})
        if pp is not None:
            extra["MEDVAULT_PASSPHRASE_FILE"] = str(files[pp])
        return ws.cli(*args, passphrase=False, check=True, extra_env=extra).stdout

    with media.mounted(kind, tmp_path, size_mib=64) as stick:
        drive = stick.mountpoint
        created = json.loads(cli("create", drive, "--recovery-code", "--json"))
        vault_id = bytes.fromhex(created["vault_id"])
        cli("add", drive, source)
        cli("passwd", drive, "--new-passphrase-file", files[1])
        cli("passwd", drive, "--new-passphrase-file", files[2], pp=1)
        old_shares = [ws.home / "shares" / f"{n}.txt" for n in ("alice", "bob")]
        cli(
            "org", "rotate", "--reason", "drill", "--out", org2,
            *[a for s in old_shares for a in ("--share", str(s))], "--shares-to-disk",
            pp=None,
        )  # fmt: skip
        new_org = {"MEDVAULT_ORG": str(org2 / "org.toml")}
        cli("escrow", "reseal", drive, "--reason", "drill", pp=2, env=new_org)
        new_shares = [org2 / "shares" / f"{n}.txt" for n in ("alice", "bob")]
        cli(
            "recover", drive, "--reason", "drill", "--reset-passphrase",
            "--new-passphrase-file", files[3],
            *[a for s in new_shares for a in ("--share", str(s))],
            pp=None, env=new_org,
        )  # fmt: skip
        stick.sync()
        before = media.raw_image_bytes(stick.image)
        cli("erase", drive, "--yes", "--out", tmp_path / "cert", pp=3, env=new_org)
        stick.sync()
    raw = media.raw_image_bytes(stick.image)

    secrets: dict[str, object] = {
        f"passphrase {i + 1}": to_secret(text) for i, text in enumerate(PASSPHRASES)
    }
    secrets["recovery code"] = parse_recovery_code(created["recovery_code"])
    secrets["old escrow shares"] = escrow_from_shares(ws.org_created.config_path, old_shares)
    secrets["new escrow shares"] = escrow_from_shares(org2 / "org.toml", new_shares)
    # The scan can see headers: before the erase it finds the two live copies, and they open.
    assert len(header_structures(before)) == 2, kind
    assert "passphrase 4 at byte" in " ".join(_opens_anything(before, vault_id, secrets))

    assert header_structures(raw) == [], kind
    for mark in HEADER_MARKS:
        assert mark not in raw, (kind, mark)
    assert _opens_anything(raw, vault_id, secrets) == []
    # The registry: every package the vault ever had is emptied (the reseal's superseded
    # one when it was superseded, the rest by erase), so no share opens a row.
    with sqlite3.connect(ws.home / "registry.sqlite") as db:
        rows = db.execute(
            "SELECT key_id, sealed FROM key_packages WHERE vault_id = ?", (vault_id.hex(),)
        ).fetchall()
    assert len(rows) >= 2, rows
    assert all(bytes(sealed) == b"" for _, sealed in rows), rows
