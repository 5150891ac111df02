"""Write the format test vectors in tests/vectors/*.json (run from the repo root).

    python tests/vectors/generate.py                # every vector
    python tests/vectors/generate.py path_index     # only the groups named (see GROUPS)

Each vector is one JSON file: the bytes (base64), the keys needed to read them, and
`expect`: "success" or the failure class another implementation must report. Invalid
vectors differ from a valid one by exactly one mutation, named in `comment`. Cobblestone
salts, payload nonces and slot salts are random, so regenerated object and header vectors
differ byte-wise but test the same things; index, custody log and path index vectors use
fixed nonces and come out byte-identical. docs/FORMAT.md ("Test vectors") explains how to
use them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from medvault.crypto import labels
from medvault.crypto.escrow import EscrowPrivateKey, EscrowSuite
from medvault.crypto.hkdf import hkdf_expand
from medvault.crypto.kdf import Argon2Params
from medvault.crypto.key_schedule import VaultKeys, file_keys
from medvault.crypto.payload import CHUNK, PayloadEncryptor, ciphertext_length
from medvault.crypto.symmetric import gcm_seal, hmac_sha256, unwrap_key, wrap_key
from medvault.format import canonical_json as cj
from medvault.format import custody_log as clfmt
from medvault.format import entry as efmt
from medvault.format import index_journal as ifmt
from medvault.format import pack as pfmt
from medvault.format import path_index_file as pifmt
from medvault.format import vault_header as hfmt
from medvault.format.index_records import Located, add_record
from medvault.format.meta import FileMeta, TombstoneMeta
from medvault.format.padding import pad_meta, padded_length
from medvault.keys import header_auth
from medvault.keys.epochs import wrap_previous
from medvault.keys.recovery_code import format_code, make_recovery_slot
from medvault.keys.slots import make_slot
from medvault.secret import Secret, VaultKey
from medvault.store.entries import seal_header
from tests.support.path_index_rows import page_row

OUT = Path(__file__).resolve().parent
VAULT_ID = bytes.fromhex("6d7620746573742076656374006f7267")
VMK = Secret(bytes(range(32)))
FILE_ID = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
PASSPHRASE = "vector passphrase, not a real one"
KDF = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
AT = "2026-11-22T12:00:00.000000Z"
# The 16 bytes behind header_recovery_code's printed code.
RECOVERY_CODE = hashlib.sha256(b"medvault vector recovery code").digest()[:16]


def write(name: str, kind: str, expect: str, comment: str, data: bytes, **extra: Any) -> None:
    vector = {
        "name": name,
        "kind": kind,
        "expect": expect,
        "comment": comment,
        "vault_id": VAULT_ID.hex(),
        "vault_key": VMK.reveal().hex(),
        "data": base64.b64encode(data).decode(),
        **extra,
    }
    (OUT / f"{name}.json").write_text(json.dumps(vector, indent=1, ensure_ascii=False) + "\n")


def plaintext(n: int) -> bytes:
    # Deterministic and not all one byte, so chunk swaps change the plaintext.
    return hashlib.shake_256(f"medvault vector {n}".encode()).digest(n) if n else b""


def meta_for(data: bytes, path: str = "lab/results-ü.csv") -> FileMeta:
    return FileMeta(
        path,
        len(data),
        hashlib.sha256(data).hexdigest(),
        1_763_000_000_000_000_000,
        AT,
        "tester",
        "vector-host",
        (),
    )


def build_object(
    data: bytes, meta: bytes, file_id: bytes = FILE_ID, kind: efmt.Kind = efmt.Kind.FILE
) -> bytes:
    sealed = seal_header(
        VaultKeys(VMK, VAULT_ID), file_id, kind, meta, ciphertext_length(len(data))
    )
    enc = sealed.encryptor()
    return sealed.header + enc.update(data) + enc.finish_bytes()


def split_object(obj: bytes) -> tuple[int, bytes, bytes]:
    hlen = efmt.peek_header_len(obj[:12])
    return hlen, obj[:hlen], obj[hlen:]


def remac(header: bytes) -> bytes:
    """Recompute a header's MAC after a mutation (the mutation then reaches later checks)."""
    parsed = efmt.decode(header)
    h = parsed.header
    fk = unwrap_key(hkdf_expand(VMK, labels.FILE_WRAP, VAULT_ID, h.file_id), h.wrapped_fk)
    keys = file_keys(fk, VAULT_ID, h.file_id)
    return parsed.mac_input + hmac_sha256(keys.mac, parsed.mac_input)


def write_valid(name: str, comment: str, blob: bytes, data: bytes, meta: bytes) -> None:
    """A success object vector: BLOB holds DATA with metadata META."""
    write(
        name,
        "object",
        "success",
        comment,
        blob,
        plaintext_sha256=hashlib.sha256(data).hexdigest(),
        plaintext_length=len(data),
        metadata=json.loads(meta),
    )


def objects() -> None:
    for n in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5):
        data = plaintext(n)
        meta = meta_for(data).encode()
        comment = f"valid file entry, {n} bytes"
        write_valid(f"object_valid_{n}", comment, build_object(data, meta), data, meta)
    data = plaintext(CHUNK + 1)
    meta = meta_for(data)
    epoch_key = VaultKey(VMK.reveal(), epoch=2)
    sealed = seal_header(
        VaultKeys(epoch_key, VAULT_ID),
        FILE_ID,
        efmt.Kind.FILE,
        meta.encode(),
        ciphertext_length(len(data)),
    )
    enc = sealed.encryptor()
    write(
        "object_valid_epoch_2",
        "object",
        "success",
        "valid file entry at key epoch 2 (the file key wrapped under epoch 2's vault key)",
        sealed.header + enc.update(data) + enc.finish_bytes(),
        key_epoch=2,
        plaintext_sha256=hashlib.sha256(data).hexdigest(),
        plaintext_length=len(data),
        metadata=json.loads(meta.encode()),
    )
    tomb = TombstoneMeta(("aa" * 16,), AT, "tester", "vector-host").encode()
    write(
        "object_valid_tombstone",
        "object",
        "success",
        "valid tombstone (kind 2, empty payload)",
        build_object(b"", tomb, kind=efmt.Kind.TOMBSTONE),
        plaintext_sha256=hashlib.sha256(b"").hexdigest(),
        plaintext_length=0,
        metadata=json.loads(tomb),
    )

    data = plaintext(3 * CHUNK + 5)
    base = build_object(data, meta_for(data).encode())
    hlen, header, payload = split_object(base)

    def mutate(name: str, expect: str, comment: str, blob: bytes) -> None:
        write(f"object_{name}", "object", expect, comment, blob)

    def at(offset: int, value: bytes, blob: bytes = base) -> bytes:
        return blob[:offset] + value + blob[offset + len(value) :]

    def flip(offset: int, blob: bytes = base) -> bytes:
        return at(offset, bytes([blob[offset] ^ 0x01]), blob)

    mutate("bad_magic", "header failure", "magic byte 0 changed", flip(0))
    mutate(
        "header_len_plus_1", "header failure", "header_len + 1", at(8, struct.pack(">I", hlen + 1))
    )
    mutate(
        "header_len_huge",
        "header failure",
        "header_len over the cap",
        at(8, struct.pack(">I", 0x7FFFFFFF)),
    )
    mutate("unknown_suite", "unsupported version", "suite 3", at(12, struct.pack(">H", 3)))
    mutate("unknown_kind", "header failure", "kind 7", at(14, b"\x07"))
    mutate("nonzero_flags", "header failure", "flags 0x80", at(15, b"\x80"))
    mutate("other_vault", "wrong vault", "vault_id byte flipped", flip(16))
    mutate("file_id_changed", "unwrap failure", "file_id byte flipped (object renamed)", flip(32))
    mutate(
        "key_epoch_2",
        "header failure",
        "key_epoch 2 in a vault that has only epoch 1's key",
        at(48, struct.pack(">I", 2)),
    )
    mutate("key_epoch_0", "header failure", "key_epoch 0", at(48, struct.pack(">I", 0)))
    mutate(
        "payload_len_plus_1",
        "mac failure",
        "payload_len + 1 (MAC covers it)",
        at(52, struct.pack(">Q", len(payload) + 1)),
    )
    mutate(
        "wrapped_key_flipped", "unwrap failure", "byte of the wrapped file key flipped", flip(60)
    )
    mutate("meta_nonce_flipped", "mac failure", "metadata nonce flipped", flip(100))
    mutate(
        "meta_ct_flipped", "mac failure", "metadata ciphertext flipped", flip(efmt.FIXED_LEN + 3)
    )
    mutate("header_mac_flipped", "mac failure", "last byte of header_mac flipped", flip(hlen - 1))
    mutate(
        "meta_nonce_flipped_remac",
        "metadata failure",
        "metadata nonce flipped, MAC recomputed",
        remac(flip(100)[:hlen]) + payload,
    )
    mutate("payload_salt_flipped", "payload failure", "Cobblestone salt flipped", flip(hlen))
    mutate("payload_commitment_flipped", "payload failure", "commitment flipped", flip(hlen + 30))
    mutate(
        "payload_chunk_flipped",
        "payload failure",
        "byte in chunk 1 flipped",
        flip(hlen + 56 + 16400 + 7),
    )
    mutate("payload_truncated_1", "payload failure", "last byte removed", base[:-1])
    mutate(
        "payload_truncated_chunk",
        "payload failure",
        "final short chunk removed",
        base[: hlen + 56 + 3 * 16400],
    )
    mutate("payload_extended", "payload failure", "one byte appended", base + b"\x00")
    c = 16400
    chunks = [payload[56 + i * c : 56 + (i + 1) * c] for i in range(3)]
    swapped = header + payload[:56] + chunks[1] + chunks[0] + chunks[2] + payload[56 + 3 * c :]
    mutate("payload_chunks_swapped", "payload failure", "chunks 0 and 1 swapped", swapped)
    other = build_object(data, meta_for(data).encode())
    _, _, other_payload = split_object(other)
    mutate(
        "payload_spliced",
        "payload failure",
        "payload of another object with the same plaintext and metadata",
        header + other_payload,
    )
    sha_wrong = FileMeta("lab/x.csv", len(data), "00" * 32, 0, AT, "t", "h", ())
    mutate(
        "sha256_mismatch",
        "digest failure",
        "metadata digest differs from the payload",
        build_object(data, sha_wrong.encode()),
    )
    unsafe = FileMeta(
        "../../etc/passwd", len(data), hashlib.sha256(data).hexdigest(), 0, AT, "t", "h", ()
    )
    mutate(
        "unsafe_path",
        "unsafe path",
        "stored path escapes with ..",
        build_object(data, unsafe.encode()),
    )
    small = plaintext(10)
    for name, path, comment in (
        ("path_nul", "lab/a\x00b.csv", "stored path holds a NUL"),
        ("path_backslash", "lab\\a.csv", "stored path holds a backslash"),
        ("path_empty_component", "lab//a.csv", "stored path has an empty component (//)"),
        ("path_absolute", "/etc/passwd", "stored path starts with / (absolute)"),
        ("path_dot_component", "lab/./a.csv", "stored path has a . component"),
        ("path_component_too_long", "lab/" + "x" * 256, "a component of 256 bytes (cap 255)"),
        (
            "path_too_long",
            "/".join(["d" * 200] * 20) + "/" + "f" * 100,
            "stored path of 4,120 bytes (cap 4,096), every component within 255",
        ),
    ):
        mutate(name, "unsafe path", comment, build_object(small, meta_for(small, path).encode()))
    # A stored path not in NFC (e + combining acute): not refused, read as its NFC form.
    decomposed = meta_for(small, "lab/re\u0301sume\u0301.txt")
    write(
        "object_path_not_nfc",
        "object",
        "success",
        "stored path in NFD (e + U+0301): readers use its NFC form, as `metadata` shows",
        build_object(small, decomposed.encode()),
        plaintext_sha256=hashlib.sha256(small).hexdigest(),
        plaintext_length=len(small),
        metadata={**json.loads(decomposed.encode()), "path": "lab/r\u00e9sum\u00e9.txt"},
    )
    dup = b'{"path":"a","path":"b","size":0}'
    mutate(
        "metadata_duplicate_key",
        "metadata failure",
        "metadata JSON repeats a key",
        build_object(b"", dup),
    )
    objects_v11()


V11_NONCE = bytes(range(40, 52))


def build_v11(
    data: bytes,
    meta: bytes,
    kind: efmt.Kind = efmt.Kind.FILE,
    *,
    meta_plain: bytes | None = None,
    payload_plain: bytes | None = None,
    payload_len: int | None = None,
    kind_byte: int = efmt.HIDDEN_KIND,
) -> bytes:
    """A format 1.1 (suite 2) entry of DATA written out step by step as FORMAT.md section
    5.1 says (the keyword arguments replace one step's output, for the failure vectors):
    FK from a fixed seed, wrapped under HKDF(VMK, ENTRY_WRAP, vault_id); payload and
    metadata keys from one 64-byte HKDF(FK, ENTRY_KEYS, vault_id, file_id)."""
    fk = Secret(hashlib.sha256(b"medvault vector v1.1 file key").digest())
    both = hkdf_expand(fk, labels.ENTRY_KEYS, VAULT_ID, FILE_ID, length=64).reveal()
    payload_key, meta_key = Secret(both[:32]), Secret(both[32:])
    wrapped = wrap_key(hkdf_expand(VMK, labels.ENTRY_WRAP, VAULT_ID), fk)
    plain_meta = pad_meta(int(kind), meta) if meta_plain is None else meta_plain
    padded = data + bytes(padded_length(len(data)) - len(data))
    plain_payload = padded if payload_plain is None else payload_plain
    plen = ciphertext_length(len(plain_payload)) if payload_len is None else payload_len
    draft = efmt.EntryHeader(
        None, VAULT_ID, FILE_ID, 1, plen, wrapped, V11_NONCE, bytes(len(plain_meta) + 16),
        efmt.SUITE_PADDED,
    )  # fmt: skip
    fixed = draft.fixed_fields()
    fixed = fixed[:14] + bytes([kind_byte]) + fixed[15:]
    header = fixed + gcm_seal(meta_key, V11_NONCE, plain_meta, fixed)
    context = labels.PAYLOAD_CONTEXT + b"\x00" + struct.pack(">H", 2) + VAULT_ID + FILE_ID
    enc = PayloadEncryptor(payload_key, context)
    return header + enc.update(plain_payload) + enc.finish_bytes()


def objects_v11() -> None:
    """Format 1.1 entries (suite 2: padded, the kind in the metadata, no header MAC)."""
    for n in (0, 1, 513, CHUNK + 1, 3 * CHUNK + 5):
        data = plaintext(n)
        meta = meta_for(data).encode()
        comment = f"valid format 1.1 file entry, {n} bytes (payload padded to {padded_length(n)})"
        write_valid(f"object_v11_valid_{n}", comment, build_v11(data, meta), data, meta)
    tomb = TombstoneMeta(("aa" * 16,), AT, "tester", "vector-host").encode()
    comment = "valid format 1.1 tombstone: the kind in the metadata, an empty payload padded to 512"
    write_valid(
        "object_v11_valid_tombstone", comment, build_v11(b"", tomb, efmt.Kind.TOMBSTONE), b"", tomb
    )
    data = plaintext(700)
    meta = meta_for(data).encode()
    good = build_v11(data, meta)
    hlen = efmt.peek_header_len(good[:12])

    def v11(name: str, expect: str, comment: str, blob: bytes) -> None:
        write(f"object_v11_{name}", "object", expect, comment, blob)

    v11(
        "kind_shown",
        "header failure",
        "kind byte 1 (sealed with it)",
        build_v11(data, meta, kind_byte=1),
    )

    def flipped(offset: int) -> bytes:
        return good[:offset] + bytes([good[offset] ^ 1]) + good[offset + 1 :]

    v11("file_id_changed", "metadata failure", "file_id flipped: FK gives other keys", flipped(32))
    v11("meta_ct_flipped", "metadata failure", "metadata byte flipped", flipped(efmt.FIXED_LEN + 3))
    v11("wrapped_key_flipped", "unwrap failure", "wrapped file key byte flipped", flipped(60))
    bad_meta = bytearray(pad_meta(1, meta))
    bad_meta[-1] = 1
    v11(
        "meta_padding_not_zero",
        "metadata failure",
        "the metadata's padding ends in 0x01",
        build_v11(data, meta, meta_plain=bytes(bad_meta)),
    )
    bad_payload = bytearray(data + bytes(padded_length(len(data)) - len(data)))
    bad_payload[-1] = 1
    v11(
        "payload_padding_not_zero",
        "payload failure",
        "the payload's padding ends in 0x01",
        build_v11(data, meta, payload_plain=bytes(bad_payload)),
    )
    v11(
        "payload_not_padded",
        "payload failure",
        "payload of exactly the size (format 1.0 length) in a format 1.1 entry",
        build_v11(data, meta, payload_plain=data),
    )
    v11("payload_truncated_1", "payload failure", "last byte removed", good[:-1])
    assert hlen == efmt.FIXED_LEN + 512 + 16


ESCROW_SEED = Secret(hashlib.sha256(b"medvault vector escrow seed").digest())


def escrow_slot(suite: EscrowSuite) -> tuple[hfmt.EscrowSlot, dict[str, Any]]:
    """A key package of VMK for the escrow key ESCROW_SEED gives in SUITE, and the vector
    fields that name the key: the seed, and the public key (base64, as in org.toml) and
    key id a reader derives from it."""
    escrow = EscrowPrivateKey(suite, ESCROW_SEED)
    slot = hfmt.EscrowSlot(escrow.public.key_id, suite.value, escrow.public.seal(VMK, VAULT_ID))
    fields = {
        "escrow_seed": ESCROW_SEED.reveal().hex(),
        "escrow_public_key": base64.b64encode(escrow.public.raw).decode(),
        "escrow_key_id": escrow.public.key_id,
    }
    return slot, fields


def headers() -> None:
    slot = make_slot(VMK, VAULT_ID, 1, Secret(PASSPHRASE.encode()), KDF, AT)
    p384, escrow_fields = escrow_slot(EscrowSuite.P384)
    body = hfmt.HeaderBody(
        AT, "vector", "Vector Org", "org-1", "call 555", 1 << 30, (slot,), (p384,)
    )
    header = hfmt.VaultHeader(VAULT_ID, 7, body)
    keys = VaultKeys(VMK, VAULT_ID)
    good = header_auth.seal(keys, header)
    extra = {"passphrase": PASSPHRASE, **escrow_fields}
    write(
        "header_valid",
        "vault_header",
        "success",
        "valid version 3 header (zero-padded to 4 KiB), P-384 escrow slot",
        good,
        **extra,
    )
    for suite in EscrowSuite:
        package, fields = escrow_slot(suite)
        write(
            f"header_escrow_{suite.value.replace('-', '_')}",
            "vault_header",
            "success",
            f"valid version 3 header whose one key package is sealed in suite {suite.value}",
            header_auth.seal(keys, replace(header, body=replace(body, escrow=(package,)))),
            passphrase=PASSPHRASE,
            **fields,
        )
    foreign = hfmt.EscrowSlot("0123456789abcdef", "future-suite", bytes(64))
    write(
        "header_escrow_unknown_suite",
        "vault_header",
        "success",
        "valid header with a key package in a suite this format does not know (ignored), "
        "then the P-384 one",
        header_auth.seal(keys, replace(header, body=replace(body, escrow=(foreign, p384)))),
        **extra,
    )
    code_text, code = format_code(RECOVERY_CODE), Secret(RECOVERY_CODE)
    recovery = make_recovery_slot(VMK, VAULT_ID, 2, code, AT)
    write(
        "header_recovery_code",
        "vault_header",
        "success",
        "valid header with a passphrase slot (id 1) and a recovery-code slot (id 2)",
        header_auth.seal(keys, replace(header, body=replace(body, slots=(slot, recovery)))),
        recovery_code=code_text,
        **extra,
    )
    v1 = header_auth.seal(VaultKeys(VMK, VAULT_ID), replace(header, body=replace(body, version=1)))
    write(
        "header_valid_v1",
        "vault_header",
        "success",
        "valid version 1 header (no padding, no key epoch), as medvault 0.1 wrote",
        v1,
        **extra,
    )
    # An unfinished re-key: epoch 2's key in the slots, epoch 1's wrapped under it.
    old_key = Secret(hashlib.sha256(b"medvault vector epoch 1 key").digest())
    rekeyed = replace(
        body, key_epoch=2, previous=(wrap_previous(VaultKeys(VMK, VAULT_ID), 1, old_key),)
    )
    write(
        "header_previous_key",
        "vault_header",
        "success",
        "valid version 3 header at key epoch 2 holding epoch 1's key (an unfinished re-key)",
        header_auth.seal(VaultKeys(VMK, VAULT_ID), replace(header, body=rekeyed)),
        previous_vault_keys={"1": old_key.reveal().hex()},
        **extra,
    )

    def rechecksum(signed: bytes, pad: bool = True) -> bytes:
        """A valid checksum and a real MAC, so only the one mutation is wrong."""
        data = (
            signed
            + hashlib.sha256(signed).digest()
            + hmac_sha256(hkdf_expand(VMK, labels.VAULT_HEADER_MAC, VAULT_ID), signed)
        )
        return data + bytes(-len(data) % hfmt.PAD_BLOCK) if pad else data

    signed_len = 40 + struct.unpack(">I", good[36:40])[0]
    end = signed_len + 64
    flipped = good[:20] + bytes([good[20] ^ 1]) + good[21:]
    write(
        "header_checksum",
        "vault_header",
        "checksum failure",
        "vault_id byte flipped",
        flipped,
        **extra,
    )
    body_json = good[40:signed_len]  # magic 8, version 2, flags 2, vault id 16, seq 8, length 4
    relabelled = body_json.replace(b'"label":"vector"', b'"label":"vectoR"')
    r_signed = good[:40] + relabelled
    write(
        "header_mac",
        "vault_header",
        "mac failure",
        "label changed, checksum recomputed, MAC left as it was",
        r_signed + hashlib.sha256(r_signed).digest() + good[end - 32 :],
        **extra,
    )
    write(
        "header_wrong_passphrase",
        "vault_header",
        "wrong passphrase",
        "valid header; the passphrase given is wrong",
        good,
        **{**extra, "passphrase": "not the vector passphrase"},
    )
    greedy = body_json.replace(b'"t":1', b'"t":17')
    g_signed = good[:36] + struct.pack(">I", len(greedy)) + greedy
    write(
        "header_kdf_over_cap",
        "vault_header",
        "header failure",
        "Argon2id t=17 (cap 16); checksum valid; refused before any KDF work",
        rechecksum(g_signed),
        **extra,
    )
    hungry = body_json.replace(b'"m_kib":8192', b'"m_kib":1048577')
    h_signed = good[:36] + struct.pack(">I", len(hungry)) + hungry
    write(
        "header_memory_over_cap",
        "vault_header",
        "header failure",
        "Argon2id m_kib=1048577 (cap 1 GiB); checksum valid; refused before any KDF work",
        rechecksum(h_signed),
        **extra,
    )
    costly = body_json.replace(b'"m_kib":8192', b'"m_kib":1048576').replace(b'"t":1', b'"t":2')
    c_signed = good[:36] + struct.pack(">I", len(costly)) + costly
    write(
        "header_kdf_over_budget",
        "vault_header",
        "header failure",
        "Argon2id t=2, m=1 GiB: within the caps, over one unlock's budget of 1,572,864 "
        "KiB-passes; refused before any KDF work",
        rechecksum(c_signed),
        **extra,
    )
    v4 = good[:8] + struct.pack(">H", 4) + good[10:signed_len]
    write(
        "header_version_4",
        "vault_header",
        "unsupported version",
        "format version 4",
        rechecksum(v4),
        **extra,
    )
    mismatched = body_json.replace(b'"format":3', b'"format":4')
    m_signed = good[:36] + struct.pack(">I", len(mismatched)) + mismatched
    write(
        "header_body_format_4",
        "vault_header",
        "unsupported version",
        "version 3 header whose body says format 4; checksum valid",
        rechecksum(m_signed),
        **extra,
    )
    write(
        "header_padding_not_zero",
        "vault_header",
        "header failure",
        "version 3 header whose last padding byte is 0x01",
        good[:-1] + b"\x01",
        **extra,
    )
    write(
        "header_padding_cut",
        "vault_header",
        "header failure",
        "version 3 header with its last padding byte cut (not a whole number of 4 KiB blocks)",
        good[:-1],
        **extra,
    )
    write(
        "header_v1_trailing_bytes",
        "vault_header",
        "header failure",
        "version 1 header followed by zero bytes (version 1 files end right after the MAC)",
        v1 + bytes(16),
        **extra,
    )
    spaced = body_json.replace(b'","', b'", "', 1)
    s_signed = good[:36] + struct.pack(">I", len(spaced)) + spaced
    write(
        "header_not_canonical",
        "vault_header",
        "header failure",
        "body JSON has an extra space (not canonical)",
        rechecksum(s_signed),
        **extra,
    )


def index() -> None:
    key = VaultKeys(VMK, VAULT_ID).index()
    records = [
        {"op": "add", "pack": "a" * 26, "entries": []},
        {"op": "drop", "packs": ["a" * 26]},
        # A pack id's last character carries 2 spare bits, which are zero ("a": 0).
        {"op": "add", "pack": "b" * 25 + "a", "entries": []},
    ]
    frames = []
    for number, record in enumerate(records):
        nonce = hashlib.sha256(f"nonce {number}".encode()).digest()[:12]
        frames.append(
            ifmt.frame(nonce, gcm_seal(key, nonce, cj.dumps(record), ifmt.aad(VAULT_ID, number)))
        )
    pre = ifmt.prelude(VAULT_ID)
    write(
        "index_valid", "index", "success", "three records", pre + b"".join(frames), records=records
    )
    write(
        "index_torn_tail",
        "index",
        "success",
        "third record cut short (a torn append): the first two are valid",
        pre + frames[0] + frames[1] + frames[2][:-5],
        records=records[:2],
    )
    write(
        "index_reordered",
        "index",
        "index failure",
        "records 0 and 1 swapped",
        pre + frames[1] + frames[0] + frames[2],
    )
    write(
        "index_record_dropped",
        "index",
        "index failure",
        "record 1 removed",
        pre + frames[0] + frames[2],
    )
    write(
        "index_other_vault",
        "index",
        "index failure",
        "prelude vault id changed",
        ifmt.prelude(bytes(16)) + b"".join(frames),
    )
    padded = bytearray(pre)
    padded[-1] = 1
    write(
        "index_prelude_not_zero",
        "index",
        "index failure",
        "last of the prelude's 488 zero bytes is 1",
        bytes(padded) + b"".join(frames),
    )
    over = struct.pack(">I", ifmt.MAX_RECORD + 1) + bytes(ifmt.NONCE_LEN + 8)
    write(
        "index_record_over_cap",
        "index",
        "index failure",
        "a third record whose ct_len is 64 MiB + 1, cut short at the end of the file: "
        "an impossible length, not a torn append",
        pre + frames[0] + frames[1] + over,
    )


def custody_log() -> None:
    key = VaultKeys(VMK, VAULT_ID).custody_log()
    event_id = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    event = {
        "event_id": event_id.hex(),
        "at": AT,
        "actor": "alice",
        "person": "Alice Example",
        "host": "ws-01",
        "vault_id": VAULT_ID.hex(),
        "action": "add",
        "details": {"bytes": 1200, "files": 3},
    }
    nonce = hashlib.sha256(b"custody log nonce").digest()[:12]

    def sealed(body: bytes, vault_id: bytes = VAULT_ID, eid: bytes = event_id) -> bytes:
        aad = clfmt.MAGIC + vault_id + eid
        return aad + nonce + gcm_seal(key, nonce, body, aad)

    name = clfmt.filename(event_id)
    good = sealed(clfmt.event_body(event))
    body = json.loads(clfmt.event_body(event))  # the event with "v": 1, as sealed
    write("log_valid", "custody_log", "success", "one event", good, file_name=name, event=body)
    write(
        "log_renamed",
        "custody_log",
        "custody log failure",
        "file name is another event id",
        good,
        file_name="f" * 32 + ".mve",
    )
    flipped = bytearray(good)
    flipped[-1] ^= 1
    write(
        "log_tag",
        "custody_log",
        "custody log failure",
        "last byte of the tag flipped",
        bytes(flipped),
        file_name=name,
    )
    other = bytes(16)
    write(
        "log_other_vault",
        "custody_log",
        "custody log failure",
        "envelope vault id changed (AAD no longer matches)",
        clfmt.MAGIC + other + good[24:],
        file_name=name,
    )
    write(
        "log_version_2",
        "custody_log",
        "custody log failure",
        'body "v" is 2 (sealed correctly)',
        sealed(cj.dumps({**{"v": 2}, **event})),
        file_name=name,
    )
    write(
        "log_truncated",
        "custody_log",
        "custody log failure",
        "cut inside the tag",
        good[:-20],
        file_name=name,
    )


PACK_PART_SIZE = 1 << 16  # the smallest part size a header may give


def packs() -> None:
    """Packs as part files: `data` is part 0 (`<pack>.mvo`), `parts` the other part files
    by name. Entries are object vectors' entries, each sealed for its own file id."""
    raw_id = hashlib.sha256(b"vector pack").digest()[:16]
    name = pfmt.id_to_name(raw_id)

    def parts_of(stream: bytes, count: int, pack_id: bytes = raw_id) -> dict[str, bytes]:
        out = {}
        for index in range(count):
            data = stream[index * PACK_PART_SIZE : (index + 1) * PACK_PART_SIZE]
            prelude = pfmt.Prelude(VAULT_ID, pack_id, index, count, PACK_PART_SIZE)
            out[pfmt.part_filename(name, index)] = prelude.encode() + data
        return out

    def entries(stream: bytes) -> list[dict[str, Any]]:
        found, offset = [], 0
        while offset < len(stream):
            hlen = efmt.peek_header_len(stream[offset : offset + 12])
            h = efmt.decode(stream[offset : offset + hlen]).header
            found.append(
                {
                    "id": h.file_id.hex(),
                    "off": offset,
                    "hlen": hlen,
                    "plen": h.payload_len,
                    "kind": int(h.kind),
                }
            )
            offset += hlen + h.payload_len
        return found

    def pack_vector(
        vector: str, expect: str, comment: str, files: dict[str, bytes], **extra: Any
    ) -> None:
        pack = extra.pop("pack", name)
        part0 = files.pop(pfmt.part_filename(pack, 0))
        write(
            f"pack_{vector}",
            "pack",
            expect,
            comment,
            part0,
            pack=pack,
            part_size=PACK_PART_SIZE,
            parts={k: base64.b64encode(v).decode() for k, v in sorted(files.items())},
            **extra,
        )

    data = plaintext(100)
    file_id_2 = bytes.fromhex("1112131415161718191a1b1c1d1e1f20")
    tomb = TombstoneMeta((FILE_ID.hex(),), AT, "tester", "vector-host").encode()
    small = build_object(data, meta_for(data).encode()) + build_object(
        b"", tomb, file_id_2, efmt.Kind.TOMBSTONE
    )
    pack_vector(
        "valid",
        "success",
        "one part holding two entries: a file, then a tombstone that removes it",
        parts_of(small, 1),
        entries=entries(small),
    )
    big_data = plaintext(65_200)
    big = build_object(big_data, meta_for(big_data).encode())
    assert PACK_PART_SIZE < len(big) < 2 * PACK_PART_SIZE
    pack_vector(
        "valid_two_parts",
        "success",
        f"one entry of {len(big)} bytes spanning parts 0 and 1 (part size 65,536)",
        parts_of(big, 2),
        entries=entries(big),
    )
    two = parts_of(big, 2)
    del two[pfmt.part_filename(name, 1)]
    pack_vector("missing_part", "pack failure", "part 1 of 2 is missing", two)
    bad = parts_of(small, 1)
    part0 = pfmt.part_filename(name, 0)
    bad[part0] = b"MVPACK\x00\x02" + bad[part0][8:]
    pack_vector("bad_prelude", "pack failure", "part 0's magic is MVPACK\\x00\\x02", bad)
    extra = parts_of(small, 1)
    extra[pfmt.part_filename(name, 1)] = extra[part0]
    pack_vector(
        "extra_part",
        "pack failure",
        "a part 1 file beside a pack whose part_count is 1",
        extra,
    )
    other = parts_of(small, 1, pack_id=bytes(16))
    pack_vector(
        "foreign_part",
        "pack failure",
        "part 0's prelude names another pack id than its file name",
        other,
    )
    spare = name[:-1] + pfmt.id_to_name(raw_id)[-1].translate(str.maketrans("aeimquy4", "bfjnrvz5"))
    pack_vector(
        "name_spare_bits",
        "pack failure",
        "the pack's name has its last character's 2 spare bits set (a second name for its id)",
        {pfmt.part_filename(spare, 0): parts_of(small, 1)[part0]},
        pack=spare,
    )


def _lay_out(pack: str, items: list[tuple[str, FileMeta | TombstoneMeta]]) -> list[Located]:
    """Entries one after another in PACK, with the lengths a writer would give them; ITEMS
    are (file id, metadata)."""
    out: list[Located] = []
    offset = 0
    for file_id, meta in items:
        header_len = efmt.FIXED_LEN + len(meta.encode()) + 16 + 32
        if isinstance(meta, FileMeta):
            loc = Located(
                file_id,
                pack,
                offset,
                header_len,
                ciphertext_length(meta.size),
                int(efmt.Kind.FILE),
                meta.path,
                meta.size,
                meta.sha256,
                meta.added_at,
                meta.mtime_ns,
                meta.replaces,
            )
        else:
            loc = Located(
                file_id,
                pack,
                offset,
                header_len,
                ciphertext_length(0),
                int(efmt.Kind.TOMBSTONE),
                references=meta.removes,
            )
        out.append(loc)
        offset += loc.header_len + loc.payload_len
    return out


def path_index() -> None:
    """A tiny vault's journal of 5 records and a path index made after record 1, so records
    2..4 are the tail a reader applies: a new file, a replacement and a tombstone, then a
    compact (pack 0's live entries copied to pack 3, pack 0 dropped). Pages hold 2 rows
    (medvault writes 512; readers take any count from 1), so there are 3."""
    packs = [
        base64.b32encode(hashlib.sha256(f"vector pack {n}".encode()).digest()[:16])
        .decode()
        .lower()
        .rstrip("=")
        for n in range(4)
    ]

    def fid(name: str) -> str:
        return hashlib.sha256(f"vector file {name}".encode()).hexdigest()[:32]

    def file(
        name: str, path: str, size: int, minute: int, replaces: tuple[str, ...] = ()
    ) -> tuple[str, FileMeta]:
        mtime = -1_000_000_000 if path == "lab/Z.csv" else 1_763_000_000_000_000_000 + size
        digest = hashlib.sha256(plaintext(size)).hexdigest()
        when = f"2026-11-22T12:{minute:02d}:00.000000Z"
        return fid(name), FileMeta(
            path, size, digest, mtime, when, "tester", "vector-host", replaces
        )

    def tomb(name: str, removes: str, minute: int) -> tuple[str, TombstoneMeta]:
        when = f"2026-11-22T12:{minute:02d}:00.000000Z"
        return fid(name), TombstoneMeta((fid(removes),), when, "tester", "vector-host")

    # Record 0: six files. Paths sort by code point: "Z" < "a", and "ü" after every ASCII.
    add0 = _lay_out(
        packs[0],
        [
            file("a1", "lab/a.csv", 10, 0),
            file("b1", "lab/b.csv", 20, 0),
            file("c", "notes/c.txt", 0, 0),
            file("d", "lab/d.csv", 40, 0),
            file("z", "lab/Z.csv", 3, 0),
            file("u", "zeta/ü.txt", 5, 0),
        ],
    )
    # Record 1: lab/b.csv replaced (add --replace), notes/c.txt removed (rm).
    add1 = _lay_out(packs[1], [file("b2", "lab/b.csv", 25, 1, (fid("b1"),)), tomb("t1", "c", 1)])
    # The tail. Record 2: a new file, lab/a.csv replaced, lab/d.csv removed.
    add2 = _lay_out(
        packs[2],
        [
            file("c2", "lab/c.csv", 7, 2),
            file("a2", "lab/a.csv", 11, 2, (fid("a1"),)),
            tomb("t2", "d", 2),
        ],
    )
    # Records 3 and 4: compact copies pack 0's live entries into pack 3, then drops pack 0.
    add3: list[Located] = []
    for loc in add0:
        if loc.file_id in (fid("z"), fid("u")):
            offset = sum(x.header_len + x.payload_len for x in add3)
            add3.append(loc._replace(pack=packs[3], offset=offset))
    records = [
        add_record(packs[0], add0),
        add_record(packs[1], add1),
        add_record(packs[2], add2),
        add_record(packs[3], add3),
        {"op": "drop", "packs": [packs[0]]},
    ]
    key = VaultKeys(VMK, VAULT_ID).index()
    journal = bytearray(ifmt.prelude(VAULT_ID))
    starts: list[int] = []
    nonces: list[bytes] = []
    for number, record in enumerate(records):
        nonce = hashlib.sha256(f"path index journal nonce {number}".encode()).digest()[:12]
        starts.append(len(journal))
        nonces.append(nonce)
        sealed = gcm_seal(key, nonce, cj.dumps(record), ifmt.aad(VAULT_ID, number))
        journal += ifmt.frame(nonce, sealed)
    covered = 2  # the snapshot was made after records 0 and 1

    by_id = {x.file_id: x for x in add0 + add1 + add2}
    # Live after record 1, in path order: what the pages hold.
    snapshot = [page_row(by_id[fid(n)]) for n in ("z", "a1", "b2", "d", "u")]
    pages = [snapshot[0:2], snapshot[2:4], snapshot[4:]]
    # Live after record 4 (the tail applied): what a reader lists, and the packs it knows.
    moved = {x.file_id: x for x in add3}
    live = [page_row(moved.get(fid(n)) or by_id[fid(n)]) for n in ("z", "a2", "b2", "c2", "u")]
    for rows in (snapshot, live):
        assert [r[5] for r in rows] == sorted({r[5] for r in rows})
    known_packs = sorted(packs[1:])

    pkey = VaultKeys(VMK, VAULT_ID).path_index()
    snapshot_id = bytes.fromhex("736e617073686f74206964203030312e")

    def seal(plain: bytes, number: int) -> bytes:
        nonce = hashlib.sha256(f"path index nonce {number}".encode()).digest()[:12]
        return nonce + gcm_seal(pkey, nonce, plain, pifmt.aad(VAULT_ID, snapshot_id, number))

    def build(
        page_rows: list[list[list[Any]]], last_nonce: bytes = nonces[covered - 1]
    ) -> tuple[bytes, pifmt.Directory]:
        body = bytearray()
        refs: list[pifmt.PageRef] = []
        for number, rows in enumerate(page_rows):
            sealed = seal(pifmt.encode_page(rows), number)
            paths = sorted(r[5] for r in rows)
            offset = pifmt.PRELUDE_LEN + len(body)
            refs.append(pifmt.PageRef(paths[0], paths[-1], offset, len(sealed), len(rows)))
            body += sealed
        directory = pifmt.Directory(
            pifmt.Covers(covered, starts[covered], starts[covered - 1], last_nonce.hex()),
            sum(len(rows) for rows in page_rows),
            tuple(sorted(packs[:2])),  # as a writer lists them
            tuple(refs),
        )
        sealed_dir = seal(directory.encode(), pifmt.DIRECTORY_PAGE)
        dir_offset = pifmt.PRELUDE_LEN + len(body)
        prelude = pifmt.Prelude(VAULT_ID, snapshot_id, dir_offset, len(sealed_dir))
        return prelude.encode() + bytes(body) + sealed_dir, directory

    good, directory = build(pages)
    extra: dict[str, Any] = {
        "journal": base64.b64encode(bytes(journal)).decode(),
        "rows": live,
    }
    write(
        "path_index_valid",
        "path_index",
        "success",
        "snapshot of records 0-1 in 3 pages; records 2-4 (add, replace, rm, compact) are the tail",
        good,
        **extra,
        packs=known_packs,
        directory=json.loads(directory.encode()),
        pages=pages,
    )

    def flip(blob: bytes, offset: int) -> bytes:
        return blob[:offset] + bytes([blob[offset] ^ 0x01]) + blob[offset + 1 :]

    page1 = directory.pages[1]
    write(
        "path_index_page_flipped",
        "path_index",
        "path index failure",
        "a ciphertext byte of page 1 flipped: the directory opens, page 1 fails authentication",
        flip(good, page1.offset + pifmt.NONCE_LEN + 3),
        **extra,
    )
    dir_offset = directory.pages[-1].offset + directory.pages[-1].length
    write(
        "path_index_directory_flipped",
        "path_index",
        "path index failure",
        "a ciphertext byte of the directory flipped: it fails authentication",
        flip(good, dir_offset + pifmt.NONCE_LEN + 5),
        **extra,
    )
    rewritten = hashlib.sha256(b"rewritten journal nonce 1").digest()[:12]
    write(
        "path_index_stale",
        "path_index",
        "path index stale",
        "covers.last_nonce is not record 1's (made from a rewritten journal); sealed correctly",
        build(pages, last_nonce=rewritten)[0],
        **extra,
    )
    swapped = [pages[0], [pages[1][1], pages[1][0]], pages[2]]
    write(
        "path_index_rows_out_of_order",
        "path_index",
        "path index failure",
        "page 1's two rows swapped (sealed correctly; directory unchanged): authentic, refused",
        build(swapped)[0],
        **extra,
    )


# Group name (the prefix of its vectors' file names) -> the function that writes them.
GROUPS = {
    "object": objects,
    "header": headers,
    "index": index,
    "log": custody_log,
    "pack": packs,
    "path_index": path_index,
}


if __name__ == "__main__":
    chosen = sys.argv[1:] or list(GROUPS)
    unknown = sorted(set(chosen) - set(GROUPS))
    if unknown:
        sys.exit(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    for old in OUT.glob("*.json"):
        if not sys.argv[1:] or any(old.name.startswith(f"{group}_") for group in chosen):
            old.unlink()
    for group in chosen:
        GROUPS[group]()
    print(f"wrote {', '.join(chosen)}; {len(list(OUT.glob('*.json')))} vectors in {OUT}")
