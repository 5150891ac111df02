"""log/<event_id>.mve: one encrypted custody event per file (docs/FORMAT.md, "Custody log").

    magic "MVLOG\\0\\0\\1" 8 | vault_id 16 | event_id 16 | nonce 12 | ciphertext
    ciphertext = AES-256-GCM(log key, nonce, canonical JSON event, AAD = the first 40 bytes)

One file per event: appending never rewrites what is there (a pulled drive loses at most
the event being written), and two processes never contend for one file. The event id in
the AAD and the file name means a file renamed or moved from another vault fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from medvault.errors import FormatError
from medvault.format import canonical_json as cj
from medvault.format.binary import Reader

MAGIC = b"MVLOG\x00\x00\x01"
NONCE_LEN = 12
PREFIX_LEN = len(MAGIC) + 16 + 16
TAG_LEN = 16
MAX_FILE = 64 * 1024  # an event is a few hundred bytes; anything bigger is not ours
MAX_EVENTS = 100_000  # read at most this many files (bounded sync)
SUFFIX = ".mve"
NAME = re.compile(r"[0-9a-f]{32}\.mve")
EVENT_FIELDS = ("event_id", "at", "actor", "person", "host", "vault_id", "action", "details")


@dataclass(frozen=True)
class SealedEvent:
    vault_id: bytes
    event_id: bytes
    nonce: bytes
    ciphertext: bytes

    @property
    def aad(self) -> bytes:
        return MAGIC + self.vault_id + self.event_id


def filename(event_id: bytes) -> str:
    return event_id.hex() + SUFFIX


def encode(sealed: SealedEvent) -> bytes:
    return sealed.aad + sealed.nonce + sealed.ciphertext


def decode(data: bytes, expected_name: str) -> SealedEvent:
    if len(data) > MAX_FILE:
        raise FormatError("custody log entry: too large")
    r = Reader(data, "custody log entry")
    r.expect(MAGIC, "magic")
    vault_id, event_id, nonce = r.take(16), r.take(16), r.take(NONCE_LEN)
    if r.remaining < TAG_LEN:
        raise FormatError("custody log entry: truncated")
    if filename(event_id) != expected_name:
        raise FormatError("custody log entry: file name does not match its event id")
    return SealedEvent(vault_id, event_id, nonce, r.take(r.remaining))


def event_body(event: dict[str, Any]) -> bytes:
    return cj.dumps({"v": 1, **{k: event[k] for k in EVENT_FIELDS}})


def parse_body(data: bytes) -> dict[str, Any]:
    """The event's fields, each of the right type; unknown versions are rejected."""
    obj = cj.loads_object(data, "custody log event")
    if set(obj) != {"v", *EVENT_FIELDS}:
        raise FormatError("custody log event: unknown version or fields")
    # The integer 1: true and 1.0 compare equal to 1 in Python but are other JSON values.
    if cj.field(obj, "v", int, "custody log event") != 1:
        raise FormatError("custody log event: unknown version or fields")
    for key in ("event_id", "at", "actor", "host", "action"):
        cj.field(obj, key, str, "custody log event")
    for key in ("person", "vault_id"):
        if obj[key] is not None and not isinstance(obj[key], str):
            raise FormatError(f"custody log event: {key!r} has the wrong type")
    cj.field(obj, "details", dict, "custody log event")
    return obj
