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
    "On flash media, wear levelling may keep copies of overwritten sectors, readable only "
    "by invasive means. The vault key was stored there only wrapped (Argon2id passphrase "
    "slot) and sealed to the escrow keys; for Purge or Destroy, sanitize the device itself "
    "or destroy it physically. Registry backups made before this erase still hold the key "
    "packages until they expire."
)


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
        },
        "verification": erased.verified,
        "caveat": CAVEAT,
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
