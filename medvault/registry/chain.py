"""The audit chain's hash: how each event commits to the one before it (docs/FORMAT.md,
section 11).

v3 (every new event): SHA-256(prev_hash_hex || canonical JSON of
{seq, event_id, at, recorded_at, actor, person, host, vault_id, action, details, via,
hash_version}): the version is itself covered, so a row cannot be relabelled.
v2 (events since event ids, before v3): the same without hash_version.
v1 (events recorded before that): SHA-256(prev_hash_hex || canonical JSON of
{at, actor, host, vault_id, action, details}); kept verifiable, never rewritten.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64
CURRENT_VERSION = 3
V2_FIELDS = (
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
FIELDS = {
    1: ("at", "actor", "host", "vault_id", "action", "details"),
    2: V2_FIELDS,
    3: (*V2_FIELDS, "hash_version"),
}


def canonical(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """ROW holds the events table's columns (details as its stored JSON text)."""
    fields = FIELDS.get(row["hash_version"])
    if fields is None:
        return ""  # an unknown version never matches a stored hash
    body = canonical({k: row[k] for k in fields})
    return hashlib.sha256(prev_hash.encode() + body.encode()).hexdigest()
