"""The certificate of sanitization that `medvault erase` writes (the record NIST SP 800-88
asks for, fields after the Rev. 1 sample certificate): what was erased, when, by whom, how,
and how it was verified."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medvault.vault.erase import METHOD, Erased

SCHEMA_ID = "medvault/sanitization-certificate/v1"
CAVEAT = (
    "What a file-level erase cannot reach (NIST SP 800-88 Rev. 2, Cryptographic Erase): on "
    "flash media the device's wear levelling may keep copies of overwritten sectors, "
    "readable only by invasive means; the vault key was stored there only wrapped (Argon2id "
    "passphrase slot) and sealed to the escrow keys. For Purge or Destroy, sanitize the "
    "device itself or destroy it physically. Registry backups made before this erase still "
    "hold the key packages until they expire."
)
# Said when the header was once written by medvault 0.1 (version 1), which renamed each new
# header over the old one and so left superseded versions in the drive's free space.
V1_CAVEAT = (
    "This vault's header was in format version 1, which medvault 0.1 replaced by renaming: "
    "header versions superseded before medvault 0.2 (an old passphrase's slot, old escrow "
    "packages) may survive in the drive's free space"
)


def _free_space(erased: Erased) -> str:
    if erased.free_space_wiped is None:
        return "not overwritten (erase --wipe-free-space does it)"
    return f"overwritten with random data ({erased.free_space_wiped} bytes), then freed"


def _caveat(erased: Erased) -> str:
    if erased.header_version == 1 and erased.free_space_wiped is None:
        return f"{V1_CAVEAT}; run erase again with --wipe-free-space, or format the drive. {CAVEAT}"
    return CAVEAT


def certificate(erased: Erased, who: str, host: str, org_name: str) -> dict[str, Any]:
    return {
        "certificate": SCHEMA_ID,
        "organisation": org_name,
        "performed_by": who,
        "host": host,
        "performed_at": erased.at,
        "media": {
            "type": "removable drive (medvault vault folder)",
            "vault_id": erased.vault_id,
            "label": erased.label,
        },
        "sanitization": {
            # Clear, not Purge: on flash media the old header sectors may survive wear
            # levelling (readable only invasively); see CAVEAT and docs/THREAT_MODEL.md.
            "method": "Clear",
            "technique": "Cryptographic Erase",
            "detail": METHOD,
            "key_packages_destroyed_in_registry": erased.key_packages_destroyed,
            "header_copies_overwritten_and_deleted": erased.header_copies_destroyed,
            "key_slots_and_escrow_packages_destroyed": erased.slots_destroyed,
            "ciphertext_objects_left": erased.objects_left,
            "ciphertext_bytes_left": erased.bytes_left,
            "header_format_version": erased.header_version,
            "interrupted_writes_overwritten_and_deleted": erased.tmp_files_overwritten,
            "free_space": _free_space(erased),
        },
        "verification": erased.verified,
        "caveat": _caveat(erased),
    }


def as_text(cert: dict[str, Any]) -> str:
    media, san = cert["media"], cert["sanitization"]
    lines = [
        "CERTIFICATE OF SANITIZATION",
        "===========================",
        "",
        f"Organisation:      {cert['organisation']}",
        f"Performed by:      {cert['performed_by']} on host {cert['host']}",
        f"Date and time:     {cert['performed_at']} (UTC)",
        "",
        "Media",
        f"  Type:            {media['type']}",
        f"  Vault id:        {media['vault_id']}",
        f"  Label:           {media['label'] or '(none)'}",
        "",
        "Sanitization",
        f"  Method:          {san['method']}",
        f"  Technique:       {san['technique']}",
        f"  Detail:          {san['detail']}",
        f"  Key packages destroyed in the registry:        "
        f"{san['key_packages_destroyed_in_registry']}",
        f"  Header copies overwritten and deleted:         "
        f"{san['header_copies_overwritten_and_deleted']}",
        f"  Key slots and escrow packages destroyed:       "
        f"{san['key_slots_and_escrow_packages_destroyed']}",
        f"  Interrupted writes overwritten and deleted:    "
        f"{san['interrupted_writes_overwritten_and_deleted']}",
        f"  Header format version:                         {san['header_format_version']}",
        f"  Free space:      {san['free_space']}",
        f"  Ciphertext left (no key exists): {san['ciphertext_objects_left']} file(s), "
        f"{san['ciphertext_bytes_left']} bytes",
        "",
        "Verification",
        *(f"  - {check}" for check in cert["verification"]),
        "",
        f"Note: {cert['caveat']}",
        "",
        "Signature: ______________________________   Date: ______________",
        "",
    ]
    return "\n".join(lines)


def write(out_dir: Path, cert: dict[str, Any]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = [out_dir / "certificate.json", out_dir / "certificate.txt"]
    targets[0].write_text(json.dumps(cert, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    targets[1].write_text(as_text(cert), encoding="utf-8")
    return targets
