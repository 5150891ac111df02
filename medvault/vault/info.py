"""`medvault info`: what anyone holding the drive can see, no passphrase needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medvault.engine.session import open_headers
from medvault.format.vault_header import PassphraseSlot, RecoveryCodeSlot


def vault_info(path: Path) -> dict[str, Any]:
    copies = open_headers(path)
    header = copies.any.header
    body = header.body
    return {
        "vault_id": header.vault_id.hex(),
        "path": str(copies.paths.root),
        "label": body.label,
        "format_version": body.version,
        "created_at": body.created_at,
        "org": {"name": body.org_name, "org_id": body.org_id, "contact": body.contact},
        "escrow": [{"key_id": e.key_id, "suite": e.suite} for e in body.escrow],
        "payload": "Cobblestone-256 (AES-256-GCM, 16 KiB chunks, key-committing)",
        "kdf": [
            {
                "slot": s.slot_id,
                "alg": "argon2id",
                "t": s.time_cost,
                "m_kib": s.memory_kib,
                "p": s.parallelism,
            }
            for s in body.slots
            if isinstance(s, PassphraseSlot)
        ],
        "recovery_code_slot": any(isinstance(s, RecoveryCodeSlot) for s in body.slots),
        "part_size": body.part_size,
        "header_seq": header.seq,
        "header_copies": {
            name: ("readable" if name in copies.parsed else problem)
            for name, problem in {
                "vault.mvh": copies.problems.get("vault.mvh", ""),
                "vault.mvh.bak": copies.problems.get("vault.mvh.bak", ""),
            }.items()
        },
        "note": "unauthenticated until unlocked; `medvault verify` checks it",
    }
