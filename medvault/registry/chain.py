"""The audit chain's hash: how each event commits to the one before it (docs/FORMAT.md,
section 11).

v2 (every event since event ids): SHA-256(prev_hash_hex || canonical JSON of
{seq, event_id, at, recorded_at, actor, person, host, vault_id, action, details, via}).
v1 (events recorded before that): SHA-256(prev_hash_hex || canonical JSON of
{at, actor, host, vault_id, action, details}); kept verifiable, never rewritten.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64
CURRENT_VERSION = 2


def canonical(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """ROW holds the events table's columns (details as its stored JSON text)."""
    fields: tuple[str, ...]
    if row["hash_version"] == 1:
        fields = ("at", "actor", "host", "vault_id", "action", "details")
    else:
        fields = (
            "seq",
            "event_id",
            "at",
            "recorded_at",
            "actor",
            "person",
            "host",
            "vault_id",
            "action",
            "details",
            "via",
        )
    body = canonical({k: row[k] for k in fields})
    return hashlib.sha256(prev_hash.encode() + body.encode()).hexdigest()
