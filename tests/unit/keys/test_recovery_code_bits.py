"""I1 and I2 of the 2026-12 review: how many random bits a recovery code carries
(THREAT_MODEL.md), and how its slot's HKDF info holds a salt whose length varies
(FORMAT.md section 2)."""

from __future__ import annotations

import struct

import pytest

from medvault.crypto import labels
from medvault.crypto.hkdf import hkdf_expand
from medvault.crypto.key_schedule import recovery_slot_wrap
from medvault.errors import FormatError
from medvault.format.vault_header import RecoveryCodeSlot
from medvault.keys.recovery_code import (
    GROUPS,
    RecoveryCodeMistyped,
    format_code,
    generate,
    make_recovery_slot,
    parse,
)
from medvault.secret import Secret

VAULT_ID = bytes(range(16))


def _valid_group_values() -> int:
    """How many 6-digit values parse accepts in one group (the other groups valid)."""
    rest = format_code(bytes(16)).split("-")[1:]
    accepted = 0
    for value in range(0, 1_000_000, 11):  # a value that is not a multiple of 11 never is
        try:
            parse("-".join([f"{value:06d}", *rest]))
        except RecoveryCodeMistyped:
            continue
        accepted += 1
    return accepted


def test_a_recovery_code_carries_128_random_bits() -> None:
    """48 digits, but 8 groups of exactly 2^16 accepted values: 128 bits, not ~160."""
    code, raw = generate()
    assert len(raw) == 16  # 128 random bits drawn
    assert len(code.replace("-", "")) == 48
    assert parse(code) == raw  # the code is exactly those bits
    assert GROUPS == 8
    assert _valid_group_values() == 2**16
    with pytest.raises(RecoveryCodeMistyped):
        parse("-".join(["000001", *code.split("-")[1:]]))


def test_the_recovery_slot_salt_is_the_one_variable_field_of_its_info() -> None:
    """info = RECOVERY_SLOT || 0x00 || salt || vault_id || u32(slot_id), nothing length-
    prefixed; the 20 bytes after the salt are fixed, so the info's length fixes the salt's
    and two different (salt, vault id, slot) never give the same info."""
    code = Secret(bytes(range(16)))
    for salt_len in (16, 32, 64):
        salt = bytes([salt_len]) * salt_len
        tail = salt + VAULT_ID + struct.pack(">I", 7)
        assert recovery_slot_wrap(code, salt, VAULT_ID, 7) == hkdf_expand(
            code, labels.RECOVERY_SLOT, tail
        )
        assert len(tail) - 20 == salt_len  # read back from the length alone
    # Written 32 bytes long; a header may carry 16 to 64 bytes, nothing else.
    slot = make_recovery_slot(Secret(bytes(32)), VAULT_ID, 2, code, "2026-12-01T00:00:00Z")
    assert len(slot.salt) == 32
    for bad in (15, 65):
        raw = RecoveryCodeSlot(2, bytes(bad), bytes(40), "2026-12-01T00:00:00Z").to_json()
        with pytest.raises(FormatError):
            RecoveryCodeSlot.from_json(raw)


def test_a_recovery_code_is_generated_never_chosen() -> None:
    """No strength check applies to recovery codes (COMPLIANCE.md): medvault draws each one
    from the OS's random source, and no command lets a person choose one."""
    import click

    from medvault.cli.main import cli

    codes = {generate()[0] for _ in range(200)}
    assert len(codes) == 200

    ctx = click.Context(cli)

    def options(command: click.Command, path: str) -> list[tuple[str, click.Option]]:
        if isinstance(command, click.Group):  # a lazy group: ask it, not .commands
            subs = [(name, command.get_command(ctx, name)) for name in command.list_commands(ctx)]
            return [o for name, sub in subs if sub is not None for o in options(sub, name)]
        return [(path, p) for p in command.params if isinstance(p, click.Option)]

    found = {
        (path, param.opts[0], param.is_flag)
        for path, param in options(cli, "")
        if any("recovery" in o for o in param.opts)
    }
    # create's is a switch (make one); the others read an existing code to unlock with.
    assert ("create", "--recovery-code", True) in found
    assert {opt for _path, opt, flag in found if not flag} == {"--recovery-code-file"}
