"""Organisation escrow keys: derivation from a seed, HPKE (RFC 9180) seal and open.

The escrow private key is never stored: it is re-derived from a 32-byte seed, and the seed
exists only as SLIP-39 shares held by security admins. HPKE ``info`` binds each sealed key
to one vault id and one escrow key id.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519
from cryptography.hazmat.primitives.hpke import (
    AEAD,
    KDF,
    KEM,
    MLKEM768X25519PrivateKey,
    MLKEM768X25519PublicKey,
    MLKEM1024P384PrivateKey,
    MLKEM1024P384PublicKey,
    Suite,
)

from medvault.crypto import labels
from medvault.crypto.hkdf import hkdf_expand
from medvault.crypto.symmetric import AuthenticationFailed
from medvault.errors import CryptoUnavailable, FormatError
from medvault.secret import Secret

SEED_LEN = 32
KEY_ID_LEN = 8
# Largest sealed key package we accept when parsing (ML-KEM-1024 + P-384 enc + 32 + tag).
MAX_SEALED_LEN = 4096


class EscrowSuite(enum.Enum):
    MLKEM768_X25519 = "mlkem768-x25519"
    P384 = "p384"
    MLKEM1024_P384 = "mlkem1024-p384"


DEFAULT_SUITE = EscrowSuite.MLKEM768_X25519

_P384_PUBLIC_LEN = 97
P384_ORDER = int(
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    16,
)
_MLKEM768_PUBLIC_LEN = 1184
_MLKEM1024_PUBLIC_LEN = 1568
_X25519_LEN = 32

PublicKey = MLKEM768X25519PublicKey | MLKEM1024P384PublicKey | ec.EllipticCurvePublicKey
PrivateKey = MLKEM768X25519PrivateKey | MLKEM1024P384PrivateKey | ec.EllipticCurvePrivateKey


def _hpke_suite(suite: EscrowSuite) -> Suite:
    try:
        if suite is EscrowSuite.MLKEM768_X25519:
            return Suite(KEM.MLKEM768_X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
        if suite is EscrowSuite.MLKEM1024_P384:
            return Suite(KEM.MLKEM1024_P384, KDF.HKDF_SHA384, AEAD.AES_256_GCM)
        return Suite(KEM.P384, KDF.HKDF_SHA384, AEAD.AES_256_GCM)
    except UnsupportedAlgorithm as exc:
        raise CryptoUnavailable(f"escrow suite {suite.value} is not supported here") from exc


def _p384_scalar(seed: Secret, suite: EscrowSuite) -> ec.EllipticCurvePrivateKey:
    order = P384_ORDER
    wide = hkdf_expand(seed, labels.ESCROW_SEED_ECDH, suite.value.encode(), length=64)
    scalar = int.from_bytes(wide.reveal(), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP384R1())


def _p384_public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


@dataclass(frozen=True)
class EscrowPublicKey:
    """A public escrow key as written in org.toml and vault headers."""

    suite: EscrowSuite
    raw: bytes

    @property
    def key_id(self) -> str:
        digest = hashlib.sha256(
            labels.KEY_ID + b"\x00" + self.suite.value.encode() + b"\x00" + self.raw
        ).digest()
        return digest[:KEY_ID_LEN].hex()

    def _load(self) -> PublicKey:
        try:
            return _load_public(self.suite, self.raw)
        except UnsupportedAlgorithm as exc:
            raise CryptoUnavailable(
                f"escrow suite {self.suite.value} is not supported here"
            ) from exc
        except ValueError as exc:
            raise FormatError(f"escrow public key for {self.suite.value} is malformed") from exc

    def seal(self, secret: Secret, vault_id: bytes) -> bytes:
        """HPKE-seal a vault key to this escrow key, bound to the vault id and key id."""
        info = _info(vault_id, self.key_id)
        return _hpke_suite(self.suite).encrypt(secret.reveal(), self._load(), info=info)


def _load_public(suite: EscrowSuite, raw: bytes) -> PublicKey:
    if suite is EscrowSuite.P384:
        if len(raw) != _P384_PUBLIC_LEN:
            raise ValueError("length")
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), raw)
    if suite is EscrowSuite.MLKEM768_X25519:
        if len(raw) != _MLKEM768_PUBLIC_LEN + _X25519_LEN:
            raise ValueError("length")
        return MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(raw[:_MLKEM768_PUBLIC_LEN]),
            x25519.X25519PublicKey.from_public_bytes(raw[_MLKEM768_PUBLIC_LEN:]),
        )
    if len(raw) != _MLKEM1024_PUBLIC_LEN + _P384_PUBLIC_LEN:
        raise ValueError("length")
    return MLKEM1024P384PublicKey(
        mlkem.MLKEM1024PublicKey.from_public_bytes(raw[:_MLKEM1024_PUBLIC_LEN]),
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), raw[_MLKEM1024_PUBLIC_LEN:]),
    )


def _info(vault_id: bytes, key_id: str) -> bytes:
    return labels.ESCROW_VMK + b"\x00" + vault_id + bytes.fromhex(key_id)


class EscrowPrivateKey:
    """The escrow private key, re-derived from the seed; lives in memory only."""

    def __init__(self, suite: EscrowSuite, seed: Secret) -> None:
        if len(seed) != SEED_LEN:
            raise FormatError("escrow seed must be 32 bytes")
        self.suite = suite
        try:
            self._key, public_raw = _derive(suite, seed)
        except UnsupportedAlgorithm as exc:
            raise CryptoUnavailable(f"escrow suite {suite.value} is not supported here") from exc
        self.public = EscrowPublicKey(suite, public_raw)

    def __repr__(self) -> str:
        return f"EscrowPrivateKey({self.suite.value}, key_id={self.public.key_id}, <redacted>)"

    def open(self, sealed: bytes, vault_id: bytes) -> Secret:
        if len(sealed) > MAX_SEALED_LEN:
            raise AuthenticationFailed("sealed key package is too long")
        try:
            plain = _hpke_suite(self.suite).decrypt(
                sealed, self._key, info=_info(vault_id, self.public.key_id)
            )
        except (InvalidTag, ValueError):
            raise AuthenticationFailed("key package did not open with this escrow key") from None
        return Secret(plain)


def _derive(suite: EscrowSuite, seed: Secret) -> tuple[PrivateKey, bytes]:
    if suite is EscrowSuite.P384:
        p384 = _p384_scalar(seed, suite)
        return p384, _p384_public_bytes(p384.public_key())
    mlkem_seed = hkdf_expand(seed, labels.ESCROW_SEED_MLKEM, suite.value.encode(), length=64)
    if suite is EscrowSuite.MLKEM768_X25519:
        m768 = mlkem.MLKEM768PrivateKey.from_seed_bytes(mlkem_seed.reveal())
        x_raw = hkdf_expand(seed, labels.ESCROW_SEED_ECDH, suite.value.encode())
        xkey = x25519.X25519PrivateKey.from_private_bytes(x_raw.reveal())
        public = m768.public_key().public_bytes_raw() + xkey.public_key().public_bytes_raw()
        return MLKEM768X25519PrivateKey(m768, xkey), public
    m1024 = mlkem.MLKEM1024PrivateKey.from_seed_bytes(mlkem_seed.reveal())
    p384 = _p384_scalar(seed, suite)
    public = m1024.public_key().public_bytes_raw() + _p384_public_bytes(p384.public_key())
    return MLKEM1024P384PrivateKey(m1024, p384), public


def suite_available(suite: EscrowSuite) -> str | None:
    """None when the suite works here, else a reason to show the user."""
    try:
        EscrowPrivateKey(suite, Secret(bytes(SEED_LEN)))
    except CryptoUnavailable as exc:
        return exc.message
    return None
