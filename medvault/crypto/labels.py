"""Every domain-separation label medvault uses, in one place.

Each derived key is HKDF-SHA-512-Expand(key, info = LABEL || 0x00 || fixed-length fields).
Labels are distinct ASCII strings, so no two derivations can collide. docs/FORMAT.md lists
them; tests/unit/format/test_units.py checks they are unique and prefix-free.
"""

from __future__ import annotations

FILE_WRAP = b"medvault/v1/file-wrap"  # VMK -> per-file key that wraps FK
PAYLOAD = b"medvault/v1/payload"  # FK -> Cobblestone-256 key
PAYLOAD_CONTEXT = b"medvault/v1/payload-context"  # Cobblestone context prefix
META = b"medvault/v1/meta"  # FK -> metadata AES-256-GCM key
HEADER_MAC = b"medvault/v1/header-mac"  # FK -> object header HMAC key
VAULT_HEADER_MAC = b"medvault/v1/vault-header-mac"  # VMK -> vault header HMAC key
SLOT_WRAP = b"medvault/v1/slot"  # Argon2id output -> AES-KW key for a passphrase slot
RECOVERY_SLOT = b"medvault/v1/recovery-slot"  # 128-bit recovery code -> AES-KW key
INDEX = b"medvault/v1/index"  # VMK -> index journal AES-256-GCM key
PATH_INDEX = b"medvault/v1/path-index"  # VMK -> path index (snapshot) AES-256-GCM key
ESCROW_VMK = b"medvault/v1/escrow-vmk"  # HPKE info for the key package
ESCROW_SEED_MLKEM = b"medvault/v1/escrow-seed/mlkem"  # org seed -> ML-KEM seed
ESCROW_SEED_ECDH = b"medvault/v1/escrow-seed/ecdh"  # org seed -> X25519 / P-384 scalar
KEY_ID = b"medvault/v1/key-id"  # prefix hashed with an escrow public key
CUSTODY_LOG = b"medvault/v1/custody-log"  # VMK -> on-drive custody log AES-256-GCM key
PREVIOUS_EPOCH = b"medvault/v1/previous-epoch"  # new VMK -> AES-KW key for the old epoch's VMK
LEGACY_SEAL = b"medvault/v1/audit-legacy-seal"  # registry: digest of pre-v3 audit rows
REKEY_REDO = b"medvault/v1/rekey-redo"  # VMK -> HMAC key of a re-key's redo record
ENTRY_WRAP = b"medvault/v1.1/entry-wrap"  # VMK -> AES-KW key of format 1.1 entries' FKs
ENTRY_KEYS = b"medvault/v1.1/entry-keys"  # FK -> payload key || metadata key (1.1 entry)
# Not medvault's: C2SP chunked encryption's info prefix and AEAD name (Cobblestone-256), the
# label under which a payload key gives one payload's AES-256-GCM key, base nonce and
# commitment (crypto/key_schedule.chunk_keys, for random access to a payload's chunks).
COBBLESTONE_256 = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM"

ALL = (
    FILE_WRAP,
    PAYLOAD,
    PAYLOAD_CONTEXT,
    META,
    HEADER_MAC,
    VAULT_HEADER_MAC,
    SLOT_WRAP,
    RECOVERY_SLOT,
    INDEX,
    PATH_INDEX,
    ESCROW_VMK,
    ESCROW_SEED_MLKEM,
    ESCROW_SEED_ECDH,
    KEY_ID,
    CUSTODY_LOG,
    PREVIOUS_EPOCH,
    LEGACY_SEAL,
    REKEY_REDO,
    ENTRY_WRAP,
    ENTRY_KEYS,
    COBBLESTONE_256,
)
