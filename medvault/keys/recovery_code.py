"""The optional printed recovery code: 48 digits in 8 groups of 6, 128 random bits.

Each group is a 16-bit number times 11 (so at most 720885): a mistyped digit almost always
breaks its group's divisibility, and the group is named, which lets a helpdesk take the code
over the phone group by group (the BitLocker recovery-password layout).
"""

from __future__ import annotations

import re
import struct

from medvault.crypto.key_schedule import recovery_slot_wrap
from medvault.crypto.symmetric import AuthenticationFailed, random_bytes, unwrap_key, wrap_key
from medvault.errors import UsageError, WrongPassphrase
from medvault.format.vault_header import RecoveryCodeSlot, Slot
from medvault.secret import Secret

GROUPS = 8
SALT_LEN = 32


class RecoveryCodeMistyped(UsageError):
    pass


def generate() -> tuple[str, Secret]:
    raw = random_bytes(16)
    return format_code(raw), Secret(raw)


def format_code(raw: bytes) -> str:
    values = struct.unpack(">8H", raw)
    return "-".join(f"{value * 11:06d}" for value in values)


def parse(text: str) -> Secret:
    digits = re.sub(r"[\s-]", "", text)
    if not re.fullmatch(r"\d{48}", digits):
        raise RecoveryCodeMistyped("a recovery code is 48 digits (8 groups of 6)")
    values = []
    for number in range(GROUPS):
        group = int(digits[number * 6 : number * 6 + 6])
        if group % 11 or group > 65535 * 11:
            raise RecoveryCodeMistyped(f"recovery code group {number + 1} is mistyped")
        values.append(group // 11)
    return Secret(struct.pack(">8H", *values))


def make_recovery_slot(
    vmk: Secret, vault_id: bytes, slot_id: int, code: Secret, created_at: str
) -> RecoveryCodeSlot:
    salt = random_bytes(SALT_LEN)
    wrapped = wrap_key(recovery_slot_wrap(code, salt, vault_id, slot_id), vmk)
    return RecoveryCodeSlot(slot_id, salt, wrapped, created_at)


def open_recovery_slots(slots: tuple[Slot, ...], vault_id: bytes, code: Secret) -> Secret:
    for slot in slots:
        if not isinstance(slot, RecoveryCodeSlot):
            continue
        try:
            return unwrap_key(
                recovery_slot_wrap(code, slot.salt, vault_id, slot.slot_id), slot.wrapped
            )
        except AuthenticationFailed:
            continue
    raise WrongPassphrase("the recovery code does not open this vault")
