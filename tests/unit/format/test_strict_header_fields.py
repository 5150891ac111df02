"""Strict parsing of the vault header's key slots and earlier keys
(medvault/format/vault_header.py), each bound tested on both sides: accepted at the limit,
refused one past it."""

from __future__ import annotations

from typing import Any

import pytest

from medvault.errors import FormatError
from medvault.format import canonical_json as cj
from medvault.format import vault_header as hfmt

CREATED = "2026-12-02T10:00:00Z"


def _passphrase_slot(**changes: object) -> dict[str, Any]:
    slot = hfmt.PassphraseSlot(
        slot_id=1,
        time_cost=1,
        memory_kib=hfmt.MIN_MEMORY_KIB,
        parallelism=1,
        salt=bytes(16),
        wrapped=bytes(40),
        created_at=CREATED,
    )
    return slot.to_json() | changes


def _recovery_slot(**changes: object) -> dict[str, Any]:
    slot = hfmt.RecoveryCodeSlot(slot_id=2, salt=bytes(16), wrapped=bytes(40), created_at=CREATED)
    return slot.to_json() | changes


SLOT_KINDS = [
    pytest.param(_passphrase_slot, hfmt.PassphraseSlot.from_json, id="passphrase"),
    pytest.param(_recovery_slot, hfmt.RecoveryCodeSlot.from_json, id="recovery-code"),
]

# (salt length, wrapped length, accepted)
KEY_LENGTHS = [
    (16, 40, True),
    (15, 40, False),
    (64, 40, True),
    (65, 40, False),
    (0, 40, False),
    (32, 39, False),
    (32, 41, False),
    (32, 0, False),
]


@pytest.mark.parametrize(("make", "parse"), SLOT_KINDS)
@pytest.mark.parametrize(("salt_len", "wrapped_len", "accepted"), KEY_LENGTHS)
def test_a_slot_salt_is_16_to_64_bytes_and_its_wrapped_key_40(
    make: Any, parse: Any, salt_len: int, wrapped_len: int, accepted: bool
) -> None:
    salt, wrapped = bytes(range(salt_len)), bytes(range(wrapped_len))
    raw = make(salt=cj.b64(salt), wrapped=cj.b64(wrapped))
    if accepted:
        slot = parse(raw)
        assert (slot.salt, slot.wrapped) == (salt, wrapped)
        assert slot.to_json() == raw
    else:
        with pytest.raises(FormatError, match=r"bad salt or wrapped key length|value too long"):
            parse(raw)


@pytest.mark.parametrize(("make", "parse"), SLOT_KINDS)
@pytest.mark.parametrize(
    ("slot_id", "accepted"),
    [(0, True), (hfmt.MAX_SLOT_ID, True), (-1, False), (hfmt.MAX_SLOT_ID + 1, False)],
)
def test_a_slot_id_fits_a_u32(make: Any, parse: Any, slot_id: int, accepted: bool) -> None:
    raw = make(id=slot_id)
    if accepted:
        assert parse(raw).slot_id == slot_id
    else:
        with pytest.raises(FormatError, match="slot id out of range"):
            parse(raw)


@pytest.mark.parametrize(("make", "parse"), SLOT_KINDS)
@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"salt": "!!!!"}, "bad base64"),
        ({"salt": "A" * 200}, "value too long"),
        ({"wrapped": "A" * 200}, "value too long"),
        ({"salt": 5}, "wrong type"),
        ({"wrapped": None}, "wrong type"),
        ({"created_at": 5}, "wrong type"),
        ({"id": "1"}, "wrong type"),
        ({"id": True}, "must be an integer"),
    ],
)
def test_a_slot_field_of_the_wrong_form_is_refused(
    make: Any, parse: Any, changes: dict[str, object], refusal: str
) -> None:
    with pytest.raises(FormatError, match=refusal):
        parse(make(**changes))


@pytest.mark.parametrize("missing", ["id", "salt", "wrapped", "created_at"])
@pytest.mark.parametrize(("make", "parse"), SLOT_KINDS)
def test_a_slot_missing_a_field_is_refused(make: Any, parse: Any, missing: str) -> None:
    raw = make()
    del raw[missing]
    with pytest.raises(FormatError, match=f"missing '{missing}'"):
        parse(raw)


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"type": "recovery_code"}, "unknown slot type"),
        ({"type": "fido2"}, "unknown slot type"),
        ({"kdf": "scrypt"}, "unknown KDF"),
        ({"t": 0}, "time cost"),
        ({"t": hfmt.MAX_TIME_COST + 1}, "time cost"),
        ({"p": 0}, "parallelism"),
        ({"p": hfmt.MAX_PARALLELISM + 1}, "parallelism"),
        ({"m_kib": hfmt.MIN_MEMORY_KIB - 1}, "memory"),
        ({"m_kib": hfmt.MAX_MEMORY_KIB + 1}, "memory"),
        ({"p": 16, "m_kib": hfmt.MIN_MEMORY_KIB}, None),
        ({"t": hfmt.MAX_TIME_COST, "m_kib": hfmt.MAX_MEMORY_KIB, "p": 16}, None),
    ],
)
def test_a_passphrase_slot_names_argon2id_within_its_caps(
    changes: dict[str, object], refusal: str | None
) -> None:
    raw = _passphrase_slot(**changes)
    if refusal is None:
        assert hfmt.PassphraseSlot.from_json(raw).to_json() == raw
    else:
        with pytest.raises(FormatError, match=refusal):
            hfmt.PassphraseSlot.from_json(raw)


@pytest.mark.parametrize(
    ("epoch", "wrapped_len", "accepted"),
    [
        (1, 40, True),
        (hfmt.MAX_EPOCH, 40, True),
        (0, 40, False),
        (-1, 40, False),
        (hfmt.MAX_EPOCH + 1, 40, False),
        (1, 39, False),
        (1, 41, False),
        (hfmt.MAX_EPOCH, 0, False),
    ],
)
def test_an_earlier_key_has_a_u32_epoch_from_1_and_a_40_byte_wrapped_key(
    epoch: int, wrapped_len: int, accepted: bool
) -> None:
    wrapped = bytes(range(wrapped_len))
    raw = {"epoch": epoch, "wrapped": cj.b64(wrapped)}
    if accepted:
        assert hfmt.PreviousKey.from_json(raw) == hfmt.PreviousKey(epoch, wrapped)
    else:
        with pytest.raises(FormatError, match=r"bad epoch or wrapped key length|value too long"):
            hfmt.PreviousKey.from_json(raw)


@pytest.mark.parametrize(
    ("raw", "refusal"),
    [
        ({"epoch": "1", "wrapped": cj.b64(bytes(40))}, "wrong type"),
        ({"epoch": True, "wrapped": cj.b64(bytes(40))}, "must be an integer"),
        ({"epoch": 1, "wrapped": "A" * 60}, "value too long"),
        ({"wrapped": cj.b64(bytes(40))}, "missing 'epoch'"),
    ],
)
def test_an_earlier_key_of_the_wrong_form_is_refused(raw: dict[str, object], refusal: str) -> None:
    with pytest.raises(FormatError, match=refusal):
        hfmt.PreviousKey.from_json(raw)


# --- header body: counts and ranges -------------------------------------------------------


def _body(**changes: object) -> dict[str, Any]:
    body = hfmt.HeaderBody(
        created_at=CREATED,
        label="l",
        org_name="o",
        org_id="i",
        contact="c",
        part_size=hfmt.MIN_PART_SIZE,
        slots=(hfmt.RecoveryCodeSlot(0, bytes(16), bytes(40), CREATED),),
        escrow=(hfmt.EscrowSlot("0123456789abcdef", "s", b"x"),),
        key_epoch=2,
    )
    return body.to_json() | changes


def _slots(n: int) -> list[dict[str, Any]]:
    return [_recovery_slot(id=i) for i in range(n)]


def _escrows(n: int) -> list[dict[str, Any]]:
    return [{"key_id": "0123456789abcdef", "suite": "s", "sealed": "eA=="}] * n


def _previous(*epochs: int) -> list[dict[str, Any]]:
    return [{"epoch": e, "wrapped": cj.b64(bytes(40))} for e in epochs]


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"slots": _slots(1)}, None),
        ({"slots": _slots(hfmt.MAX_SLOTS)}, None),
        ({"slots": []}, "slot counts out of range"),
        ({"slots": _slots(hfmt.MAX_SLOTS + 1)}, "slot counts out of range"),
        ({"escrow": _escrows(hfmt.MAX_ESCROW)}, None),
        ({"escrow": []}, "slot counts out of range"),
        ({"escrow": _escrows(hfmt.MAX_ESCROW + 1)}, "slot counts out of range"),
        ({"part_size": hfmt.MAX_PART_SIZE}, None),
        ({"part_size": hfmt.MIN_PART_SIZE - 1}, "part size out of range"),
        ({"part_size": hfmt.MAX_PART_SIZE + 1}, "part size out of range"),
        ({"key_epoch": 1}, None),
        ({"key_epoch": hfmt.MAX_EPOCH}, None),
        ({"key_epoch": 0}, "key epoch out of range"),
        ({"key_epoch": hfmt.MAX_EPOCH + 1}, "key epoch out of range"),
        ({"previous": _previous(1)}, None),
        ({"key_epoch": 9, "previous": _previous(*range(1, hfmt.MAX_PREVIOUS + 1))}, None),
        (
            {"key_epoch": 9, "previous": _previous(*range(1, hfmt.MAX_PREVIOUS + 2))},
            "previous keys malformed",
        ),
        ({"previous": [5]}, "previous keys malformed"),
        ({"previous": _previous(2)}, "distinct and older"),  # not older than the current
        ({"key_epoch": 9, "previous": _previous(3, 3)}, "distinct and older"),
        ({"slots": [_recovery_slot(id=1), _recovery_slot(id=1)]}, "slot ids repeat"),
        ({"slots": [_recovery_slot(id="1")]}, "slot id missing or not an integer"),
        ({"slots": [5]}, "slot is not an object"),
        ({"escrow": [5]}, "slot is not an object"),
    ],
)
def test_a_header_body_keeps_its_counts_and_ranges(
    changes: dict[str, object], refusal: str | None
) -> None:
    raw = _body(**changes)
    if refusal is None:
        assert hfmt.HeaderBody.from_json(raw, hfmt.FORMAT_VERSION).to_json() == raw
    else:
        with pytest.raises(FormatError, match=refusal):
            hfmt.HeaderBody.from_json(raw, hfmt.FORMAT_VERSION)


@pytest.mark.parametrize(
    ("record", "refusal"),
    [
        ({"count": 0, "sum": "0" * 64, "pending": None}, None),
        ({"count": hfmt.MAX_TOMBSTONES, "sum": "f" * 64, "pending": None}, None),
        ({"count": -1, "sum": "0" * 64, "pending": None}, "removal count out of range"),
        (
            {"count": hfmt.MAX_TOMBSTONES + 1, "sum": "0" * 64, "pending": None},
            "removal count out of range",
        ),
        ({"count": 0, "sum": "0" * 63, "pending": None}, "64 lowercase hex"),
        ({"count": 0, "sum": "A" * 64, "pending": None}, "64 lowercase hex"),
        ({"count": 0, "sum": "0" * 64, "pending": {"count": 1, "sum": "0" * 64}}, None),
        (
            {"count": 0, "sum": "0" * 64, "pending": {"count": 0, "sum": "0" * 64}},
            "names no tombstone",
        ),
        ({"count": 0, "sum": "0" * 64}, "removal record malformed"),
        ({"count": 0, "sum": "0" * 64, "pending": 5}, "removal record malformed"),
        ({"count": 0, "sum": "0" * 64, "x": 1, "pending": None}, "removal record malformed"),
    ],
)
def test_the_removal_record_is_bounded(record: dict[str, Any], refusal: str | None) -> None:
    if refusal is None:
        got = hfmt.Removals.from_json(record, "vault header")
        assert got is not None and got.to_json() == record
    else:
        with pytest.raises(FormatError, match=refusal):
            hfmt.Removals.from_json(record, "vault header")
