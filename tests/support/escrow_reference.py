"""Escrow keys and key packages as docs/FORMAT.md section 8 states them, written from the
document alone: the private key derived from the org seed, the public key's bytes, the key
id, and RFC 9180 base-mode HPKE open with the KEM ids, combiners, KDF and AEAD the
document names (the key schedule written out here, not taken from a library's HPKE).

Used by the reference checker in tests/unit/format/test_vectors.py.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ESCROW_VMK = b"medvault/v1/escrow-vmk"
ESCROW_SEED_MLKEM = b"medvault/v1/escrow-seed/mlkem"
ESCROW_SEED_ECDH = b"medvault/v1/escrow-seed/ecdh"
KEY_ID = b"medvault/v1/key-id"
P384_N = int(
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    16,
)
XWING_LABEL = b"\\.//^\\"  # the 6 bytes 5c 2e 2f 2f 5e 5c
Hash = Callable[..., Any]


def hkdf_expand_sha512(key: bytes, info: bytes, length: int = 32) -> bytes:
    """FORMAT.md section 2: HKDF-Expand-SHA-512 for L <= 64 is one HMAC block,
    HMAC-SHA-512(key, info || 0x01) cut to L bytes."""
    assert length <= 64
    return hmac.new(key, info + b"\x01", hashlib.sha512).digest()[:length]


def derive(label: bytes, seed: bytes, suite: str, length: int = 32) -> bytes:
    return hkdf_expand_sha512(seed, label + b"\x00" + suite.encode(), length)


def p384_private(seed: bytes, suite: str) -> ec.EllipticCurvePrivateKey:
    wide = int.from_bytes(derive(ESCROW_SEED_ECDH, seed, suite, 64), "big")
    return ec.derive_private_key(wide % (P384_N - 1) + 1, ec.SECP384R1())


def point(key: ec.EllipticCurvePublicKey) -> bytes:
    """A P-384 public key as its SEC 1 uncompressed point (0x04 || x || y, 97 bytes)."""
    n = key.public_numbers()
    return b"\x04" + n.x.to_bytes(48, "big") + n.y.to_bytes(48, "big")


@dataclass(frozen=True)
class EscrowKey:
    suite: str
    public: bytes
    open_kem: Callable[[bytes], tuple[bytes, int]]  # enc + ct -> (shared secret, len(enc))
    kem_id: int
    kdf_id: int
    hash: Hash

    @property
    def key_id(self) -> str:
        digest = hashlib.sha256(KEY_ID + b"\x00" + self.suite.encode() + b"\x00" + self.public)
        return digest.digest()[:8].hex()


def escrow_key(suite: str, seed: bytes) -> EscrowKey:
    """The escrow key SEED gives in SUITE (FORMAT.md section 8)."""
    if suite == "p384":
        sk = p384_private(seed, suite)
        pk = point(sk.public_key())

        def dhkem(sealed: bytes) -> tuple[bytes, int]:
            enc = sealed[:97]
            peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), enc)
            dh = sk.exchange(ec.ECDH(), peer)
            kem = b"KEM" + struct.pack(">H", 0x0011)
            prk = labeled_extract(hashlib.sha384, kem, b"", b"eae_prk", dh)
            return labeled_expand(hashlib.sha384, kem, prk, b"shared_secret", enc + pk, 48), 97

        return EscrowKey(suite, pk, dhkem, 0x0011, 0x0002, hashlib.sha384)
    mlkem_seed = derive(ESCROW_SEED_MLKEM, seed, suite, 64)
    if suite == "mlkem768-x25519":
        m768 = mlkem.MLKEM768PrivateKey.from_seed_bytes(mlkem_seed)
        xk = x25519.X25519PrivateKey.from_private_bytes(derive(ESCROW_SEED_ECDH, seed, suite))
        pk_x = xk.public_key().public_bytes_raw()

        def xwing(sealed: bytes) -> tuple[bytes, int]:
            ct_m, ct_x = sealed[:1088], sealed[1088:1120]
            ss_m = m768.decapsulate(ct_m)
            ss_x = xk.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
            return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + XWING_LABEL).digest(), 1120

        pk = m768.public_key().public_bytes_raw() + pk_x
        return EscrowKey(suite, pk, xwing, 0x647A, 0x0001, hashlib.sha256)
    assert suite == "mlkem1024-p384", suite
    m1024 = mlkem.MLKEM1024PrivateKey.from_seed_bytes(mlkem_seed)
    sk = p384_private(seed, suite)
    pk_t = point(sk.public_key())

    def hybrid(sealed: bytes) -> tuple[bytes, int]:
        ct_m, ct_t = sealed[:1568], sealed[1568:1665]
        ss_m = m1024.decapsulate(ct_m)
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), ct_t)
        ss_t = sk.exchange(ec.ECDH(), peer)
        return hashlib.sha3_256(ss_m + ss_t + ct_t + pk_t + b"MLKEM1024-P384").digest(), 1665

    pk = m1024.public_key().public_bytes_raw() + pk_t
    return EscrowKey(suite, pk, hybrid, 0x0051, 0x0002, hashlib.sha384)


def labeled_extract(h: Hash, suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    key = salt or bytes(h().digest_size)
    return hmac.new(key, b"HPKE-v1" + suite_id + label + ikm, h).digest()


def labeled_expand(
    h: Hash, suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int
) -> bytes:
    labeled = struct.pack(">H", length) + b"HPKE-v1" + suite_id + label + info
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + labeled + bytes([counter]), h).digest()
        out += block
        counter += 1
    return out[:length]


def open_package(key: EscrowKey, sealed: bytes, vault_id: bytes) -> bytes:
    """RFC 9180 base mode, AEAD AES-256-GCM (0x0002), single-shot open of
    sealed = enc || ct with info = ESCROW_VMK || 0x00 || vault_id || key_id (8 bytes) and
    empty AAD. Raises cryptography's InvalidTag when it does not open."""
    shared, enc_len = key.open_kem(sealed)
    suite_id = b"HPKE" + struct.pack(">HHH", key.kem_id, key.kdf_id, 0x0002)
    info = ESCROW_VMK + b"\x00" + vault_id + bytes.fromhex(key.key_id)
    h = key.hash
    context = (
        b"\x00"
        + labeled_extract(h, suite_id, b"", b"psk_id_hash", b"")
        + labeled_extract(h, suite_id, b"", b"info_hash", info)
    )
    secret = labeled_extract(h, suite_id, shared, b"secret", b"")
    aead_key = labeled_expand(h, suite_id, secret, b"key", context, 32)
    nonce = labeled_expand(h, suite_id, secret, b"base_nonce", context, 12)
    return AESGCM(aead_key).decrypt(nonce, sealed[enc_len:], b"")
