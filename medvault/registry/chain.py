"""The audit chain's hash: how each event commits to the one before it (docs/FORMAT.md,
section 11).

v3 (every new event): SHA-256(prev_hash_hex || canonical JSON of
{seq, event_id, at, recorded_at, actor, person, host, vault_id, action, details, via,
hash_version}): the version is itself covered, so a row cannot be relabelled.
v2 (events since event ids, before v3): the same without hash_version.
v1 (events recorded before that): SHA-256(prev_hash_hex || canonical JSON of
{at, actor, host, vault_id, action, details}); kept verifiable, never rewritten.

Versions 1 and 2 leave columns outside the hash (v1: seq, event_id, recorded_at, person,
via), so migration r0005 seals the older rows: one version 3 event, `legacy-sealed`, whose
details hold a digest of every column of every older row (legacy_seal below). An edit of
any older row's column then breaks the seal, and the seal itself is chained.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from medvault.crypto import labels

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


LEGACY_SEAL_ACTION = "legacy-sealed"
# Every column of an events row: what the seal covers of each older row.
ROW_COLUMNS = (*V2_FIELDS, "hash_version", "prev_hash", "hash")


class LegacySeal:
    """The digest of the rows hashed with a version older than CURRENT_VERSION, in seq
    order: SHA-256(LEGACY_SEAL || 0x00 || for each row: canonical JSON of ROW_COLUMNS || LF)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256(labels.LEGACY_SEAL + b"\x00")
        self.rows = 0
        self.through_seq = 0

    def add(self, row: dict[str, Any]) -> None:
        self._digest.update(canonical({k: row[k] for k in ROW_COLUMNS}).encode() + b"\n")
        self.rows += 1
        self.through_seq = int(row["seq"])

    def details(self) -> dict[str, Any]:
        """What the `legacy-sealed` event records."""
        return {"rows": self.rows, "through_seq": self.through_seq, "digest": self.hexdigest()}

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
