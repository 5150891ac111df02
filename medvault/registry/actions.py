"""The names of custody events (Event.action): one list, so that a use case and a report
cannot spell an event differently. Stored as the plain text of each value; events read
back from a registry or a drive may carry any text (an older or newer medvault's)."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    # What is done with a vault (the drive in hand).
    CREATE = "create"
    ADD = "add"
    EXTRACT = "extract"
    MOUNT = "mount"  # the vault's files served read-only through FUSE (vault/mount.py)
    EXPORT = "export"
    RM = "rm"
    COMPACT = "compact"
    REPAIR = "repair"
    VERIFY = "verify"  # recorded by earlier versions
    PASSWD = "passwd"  # noqa: S105 (the event of a passphrase change, not a secret)
    RESEAL = "reseal"
    RECOVER = "recover"
    RECOVER_RESET = "recover-reset"
    ERASE = "erase"
    SYNC = "sync"
    REMEMBER = "remember"
    LOCK = "lock"
    SEEN = "seen"
    TRANSFER = "transfer"
    DECLARE = "declare"
    PLAINTEXT_MOVED = "plaintext-moved"
    # Incidents and the organisation's keys.
    LOST = "lost"
    LOST_REPORTED = "lost-reported"
    FOUND = "found"
    DISCLOSED = "disclosed"
    PLAINTEXT_FOUND = "plaintext-found"
    EVIDENCE_PACK = "evidence-pack"
    ESCROW_COMPROMISED = "escrow-compromised"
    ROTATE = "rotate"
    RESHARE = "reshare"
