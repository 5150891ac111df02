"""Edges of medvault.crypto that the mutation campaign found untested:
what each line of escrow.py, kdf.py, payload.py and symmetric.py is for, checked against
independent computations with `cryptography` itself where a value is derived."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from medvault.crypto.escrow import (
    MAX_SEALED_LEN,
    P384_ORDER,
    EscrowPrivateKey,
    EscrowPublicKey,
    EscrowSuite,
    suite_available,
)
from medvault.crypto.kdf import Argon2Params, argon2id
from medvault.crypto.payload import (
    CHUNK,
    TAG,
    PayloadDecryptor,
    PayloadEncryptor,
    ciphertext_length,
    output_room,
)
from medvault.crypto.symmetric import AuthenticationFailed, RandomPool, hmac_sha256, sha256
from medvault.errors import FormatError
from medvault.secret import Secret

SEED = Secret(bytes(range(32)))
VAULT_A = bytes(16)
VAULT_B = bytes(15) + b"\x01"
ALL_SUITES = list(EscrowSuite)


def _private(suite: EscrowSuite) -> EscrowPrivateKey:
    return EscrowPrivateKey(suite, SEED)


# --- escrow: HPKE seal/open, the info binding, the suites ----------------------------------


@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: s.value)
def test_a_key_package_opens_only_for_the_vault_it_was_sealed_for(suite: EscrowSuite) -> None:
    private = _private(suite)
    sealed = private.public.seal(Secret(b"k" * 32), VAULT_A)
    assert private.open(sealed, VAULT_A).reveal() == b"k" * 32
    with pytest.raises(AuthenticationFailed, match="did not open"):
        private.open(sealed, VAULT_B)


def test_the_hpke_info_is_the_label_the_vault_id_and_the_key_id() -> None:
    # Seal with cryptography's HPKE directly, info built here from its documented parts:
    # medvault opens it, and does not open one sealed for another key id.
    private = _private(EscrowSuite.P384)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), private.public.raw)
    suite = Suite(KEM.P384, KDF.HKDF_SHA384, AEAD.AES_256_GCM)
    label = b"medvault/v1/escrow-vmk\x00"
    key_id = bytes.fromhex(private.public.key_id)
    sealed = suite.encrypt(b"v" * 32, public, info=label + VAULT_A + key_id)
    assert private.open(sealed, VAULT_A).reveal() == b"v" * 32
    other_key_id = bytes(b ^ 1 for b in key_id)
    stray = suite.encrypt(b"v" * 32, public, info=label + VAULT_A + other_key_id)
    with pytest.raises(AuthenticationFailed):
        private.open(stray, VAULT_A)


@pytest.mark.parametrize(
    ("suite", "kem", "kdf"),
    [
        (EscrowSuite.MLKEM768_X25519, KEM.MLKEM768_X25519, KDF.HKDF_SHA256),
        (EscrowSuite.P384, KEM.P384, KDF.HKDF_SHA384),
        (EscrowSuite.MLKEM1024_P384, KEM.MLKEM1024_P384, KDF.HKDF_SHA384),
    ],
    ids=["mlkem768-x25519", "p384", "mlkem1024-p384"],
)
def test_each_suite_is_its_registered_hpke_suite(suite: EscrowSuite, kem: KEM, kdf: KDF) -> None:
    # A package medvault seals opens with the HPKE suite RFC 9180 / the design names.
    private = _private(suite)
    sealed = private.public.seal(Secret(b"s" * 32), VAULT_A)
    info = b"medvault/v1/escrow-vmk\x00" + VAULT_A + bytes.fromhex(private.public.key_id)
    plain = Suite(kem, kdf, AEAD.AES_256_GCM).decrypt(sealed, private._key, info=info)
    assert plain == b"s" * 32


def _hkdf(seed: bytes, label: bytes, suite: EscrowSuite, length: int) -> bytes:
    info = label + b"\x00" + suite.value.encode()
    return HKDFExpand(hashes.SHA512(), length, info).derive(seed)


def _p384_public(seed: bytes, suite: EscrowSuite) -> bytes:
    wide = _hkdf(seed, b"medvault/v1/escrow-seed/ecdh", suite, 64)
    scalar = int.from_bytes(wide, "big") % (P384_ORDER - 1) + 1
    point = ec.derive_private_key(scalar, ec.SECP384R1()).public_key()
    return point.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _expected_public(suite: EscrowSuite) -> bytes:
    seed = SEED.reveal()
    if suite is EscrowSuite.P384:
        return _p384_public(seed, suite)
    mlkem_seed = _hkdf(seed, b"medvault/v1/escrow-seed/mlkem", suite, 64)
    if suite is EscrowSuite.MLKEM768_X25519:
        m768 = mlkem.MLKEM768PrivateKey.from_seed_bytes(mlkem_seed).public_key()
        x_raw = _hkdf(seed, b"medvault/v1/escrow-seed/ecdh", suite, 32)
        x_pub = x25519.X25519PrivateKey.from_private_bytes(x_raw).public_key()
        return m768.public_bytes_raw() + x_pub.public_bytes_raw()
    m1024 = mlkem.MLKEM1024PrivateKey.from_seed_bytes(mlkem_seed).public_key()
    return m1024.public_bytes_raw() + _p384_public(seed, suite)


@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: s.value)
def test_the_escrow_key_is_derived_from_the_seed_under_its_labels(suite: EscrowSuite) -> None:
    # Recomputed here with cryptography's HKDFExpand: a seed must re-derive the same key in
    # every medvault version, or the shares held by the admins stop recovering vaults.
    assert _private(suite).public.raw == _expected_public(suite)


@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: s.value)
def test_a_public_key_of_the_wrong_length_is_refused_as_malformed(suite: EscrowSuite) -> None:
    raw = _private(suite).public.raw
    for wrong in (raw[:-1], raw + b"\x04", b""):
        with pytest.raises(FormatError, match="malformed"):
            EscrowPublicKey(suite, wrong).seal(Secret(b"k" * 32), VAULT_A)


@pytest.mark.parametrize(
    "suite", [EscrowSuite.P384, EscrowSuite.MLKEM1024_P384], ids=lambda s: s.value
)
def test_a_p384_point_that_does_not_decode_is_refused_as_malformed(suite: EscrowSuite) -> None:
    # Right length, but not an uncompressed point on the curve: the library's ValueError
    # comes out as medvault's FormatError.
    raw = bytearray(_private(suite).public.raw)
    raw[-1] ^= 1
    with pytest.raises(FormatError, match="malformed"):
        EscrowPublicKey(suite, bytes(raw)).seal(Secret(b"k" * 32), VAULT_A)


def test_a_key_package_of_exactly_max_sealed_len_is_opened_one_byte_more_is_not() -> None:
    private = _private(EscrowSuite.P384)
    overhead = 97 + 16  # P-384 enc + GCM tag
    at_limit = private.public.seal(Secret(b"m" * (MAX_SEALED_LEN - overhead)), VAULT_A)
    assert len(at_limit) == MAX_SEALED_LEN
    assert private.open(at_limit, VAULT_A).reveal() == b"m" * (MAX_SEALED_LEN - overhead)
    past = private.public.seal(Secret(b"m" * (MAX_SEALED_LEN - overhead + 1)), VAULT_A)
    with pytest.raises(AuthenticationFailed, match="too long"):
        private.open(past, VAULT_A)


@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: s.value)
def test_every_suite_is_available_here(suite: EscrowSuite) -> None:
    assert suite_available(suite) is None


# --- kdf: Argon2id caps and the algorithm ----------------------------------------------------


@pytest.mark.parametrize(
    ("time_cost", "memory_kib", "parallelism"),
    [(16, 8 * 1024, 1), (1, 8 * 1024, 16), (1, 1024 * 1024, 1), (1, 8 * 1024, 1)],
)
def test_argon2_parameters_at_the_caps_are_accepted(
    time_cost: int, memory_kib: int, parallelism: int
) -> None:
    Argon2Params(time_cost, memory_kib, parallelism).check()  # validation only: no hashing


@pytest.mark.parametrize(
    ("time_cost", "memory_kib", "parallelism"),
    [
        (17, 8 * 1024, 1),
        (0, 8 * 1024, 1),
        (1, 8 * 1024, 17),
        (1, 8 * 1024, 0),
        (1, 1024 * 1024 + 1, 1),
        (1, 8 * 1024 - 1, 1),
    ],
)
def test_argon2_parameters_past_the_caps_are_refused(
    time_cost: int, memory_kib: int, parallelism: int
) -> None:
    with pytest.raises(FormatError, match="Argon2id"):
        Argon2Params(time_cost, memory_kib, parallelism).check()


def test_argon2id_matches_an_independent_implementation() -> None:
    # cryptography's Argon2id (OpenSSL, version 0x13) against medvault's (argon2-cffi).
    params = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=2)
    salt = bytes(range(16))
    expected = Argon2id(salt=salt, length=32, iterations=1, lanes=2, memory_cost=8 * 1024).derive(
        b"correct horse"
    )
    assert argon2id(Secret(b"correct horse"), salt, params).reveal() == expected


# --- payload: output_room and the update_into paths ------------------------------------------

LENGTHS = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK]


def _encrypt_needs(n: int, held: int) -> int:
    """Bytes update_into writes for N bytes after HELD bytes went through update (the
    library refuses a buffer shorter than what it writes)."""
    enc = PayloadEncryptor(Secret(bytes(32)), b"ctx")
    if held:
        enc.update(bytes(held))
    return enc.update_into(bytes(n), bytearray(output_room(n)))


@pytest.mark.parametrize("n", LENGTHS)
def test_output_room_is_enough_and_at_most_one_chunk_more(n: int) -> None:
    # Enough in the worst state (a chunk all but complete is held back); and no more than
    # one chunk over that, since the pipeline keeps several buffers of this size.
    needs = [_encrypt_needs(n, held) for held in (0, 1, CHUNK - 1)]
    room = output_room(n)
    assert isinstance(room, int)
    assert max(needs) <= room <= max(needs) + CHUNK + TAG


@pytest.mark.parametrize("n", LENGTHS)
def test_update_into_round_trips_and_has_the_exact_length(n: int) -> None:
    key = Secret(os.urandom(32))
    plain = os.urandom(n)
    enc = PayloadEncryptor(key, b"ctx")
    sealed = bytearray()
    for start in range(0, n, 5000):
        piece = plain[start : start + 5000]
        out = bytearray(output_room(len(piece)))
        sealed += out[: enc.update_into(memoryview(piece), out)]
    sealed += enc.finish_bytes()
    assert len(sealed) == ciphertext_length(n)
    dec = PayloadDecryptor(key, b"ctx")
    opened = bytearray()
    for start in range(0, len(sealed), 7000):
        piece = bytes(sealed[start : start + 7000])
        out = bytearray(output_room(len(piece)))
        opened += out[: dec.update_into(piece, out)]
    opened += dec.finalize()
    assert bytes(opened) == plain


def test_update_into_refuses_a_tampered_chunk() -> None:
    key = Secret(bytes(32))
    enc = PayloadEncryptor(key, b"ctx")
    sealed = bytearray(enc.update(bytes(2 * CHUNK)) + enc.finish_bytes())
    sealed[100] ^= 1
    dec = PayloadDecryptor(key, b"ctx")
    with pytest.raises(AuthenticationFailed, match="chunk"):
        dec.update_into(bytes(sealed), bytearray(output_room(len(sealed))))


# --- symmetric: the random pool after a fork, hashes ------------------------------------------


def test_the_after_fork_reset_leaves_a_working_pool_that_keeps_nothing() -> None:
    # _forget is what os.register_at_fork runs in the child; called here in-process.
    pool = RandomPool()
    pool.take(16)
    before = bytes(pool._block)
    pool._forget()
    assert pool._block == bytearray()
    drawn = [pool.take(32) for _ in range(4)]
    assert len(set(drawn)) == 4
    assert all(d not in before for d in drawn)


def test_a_forked_child_draws_from_a_fresh_pool_and_works() -> None:
    pool = RandomPool()
    pool.take(16)  # the pool now holds a block the child must not reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.close(read)
            os.write(write, pool.take(64))
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(child) == 64
    assert child != pool.take(64)


def test_sha256_and_hmac_sha256_known_answers() -> None:
    # FIPS 180-2 "abc"; RFC 4231 test case 2.
    assert sha256(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert sha256(b"abc") == hashlib.sha256(b"abc").digest()
    assert hmac_sha256(Secret(b"Jefe"), b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
