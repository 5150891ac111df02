"""Symmetric primitives: AES key wrap, AES-256-GCM, HMAC-SHA-256, SHA-256, randomness."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from medvault.errors import IntegrityError
from medvault.secret import Secret

WRAPPED_KEY_LEN = 40
GCM_NONCE_LEN = 12
GCM_TAG_LEN = 16
MAC_LEN = 32


class AuthenticationFailed(IntegrityError):
    """A MAC, tag or key-wrap integrity check did not pass (exit code 6 if it escapes)."""


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def new_key() -> Secret:
    return Secret(os.urandom(32))


def wrap_key(kek: Secret, key: Secret) -> bytes:
    return aes_key_wrap(kek.reveal(), key.reveal())


def unwrap_key(kek: Secret, wrapped: bytes) -> Secret:
    if len(wrapped) != WRAPPED_KEY_LEN:
        raise AuthenticationFailed("wrapped key has the wrong length")
    try:
        return Secret(aes_key_unwrap(kek.reveal(), wrapped))
    except InvalidUnwrap:
        raise AuthenticationFailed("key unwrap failed") from None


def gcm_seal(key: Secret, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return AESGCM(key.reveal()).encrypt(nonce, plaintext, aad)


def gcm_open(key: Secret, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key.reveal()).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise AuthenticationFailed("AES-GCM tag mismatch") from None


def hmac_sha256(key: Secret, data: bytes) -> bytes:
    return hmac.new(key.reveal(), data, hashlib.sha256).digest()


def mac_matches(key: Secret, data: bytes, mac: bytes) -> bool:
    return hmac.compare_digest(hmac_sha256(key, data), mac)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
