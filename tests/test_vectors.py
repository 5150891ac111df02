"""Every committed test vector (tests/vectors/*.json) gives exactly its labelled outcome.

The same files let another implementation check itself (docs/FORMAT.md, "Test vectors").
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from medvault.crypto.escrow import EscrowPrivateKey, EscrowSuite
from medvault.crypto.payload import ciphertext_length
from medvault.crypto.symmetric import AuthenticationFailed, gcm_open
from medvault.errors import (
    FormatError,
    IntegrityError,
    MedvaultError,
    UnsafePath,
    UnsupportedVersion,
    WrongPassphrase,
)
from medvault.format import canonical_json as cj
from medvault.format import custody_log as clfmt
from medvault.format import entry as efmt
from medvault.format import index_journal as ifmt
from medvault.format import vault_header as hfmt
from medvault.format.meta import FileMeta, TombstoneMeta
from medvault.keys import header_auth
from medvault.keys.slots import open_slots
from medvault.secret import Secret
from medvault.store.drive_log import log_key
from medvault.store.entries import open_header
from medvault.store.journal import index_key

VECTORS = sorted((Path(__file__).parent / "vectors").glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(path.read_text())
    vector["bytes"] = base64.b64decode(vector["data"])
    return vector


def read_object(vmk: Secret, vault_id: bytes, data: bytes) -> tuple[dict[str, Any], bytes]:
    """Open one entry the way medvault does: parse, unwrap, MAC, metadata, payload, digest."""
    hlen = efmt.peek_header_len(data[:12])
    opened = open_header(vmk, vault_id, data[:hlen])
    payload = data[hlen:]
    if len(payload) != opened.header.payload_len:
        raise IntegrityError("payload length differs from the header (truncated or extended)")
    if opened.header.kind == efmt.Kind.FILE:
        meta = FileMeta.decode(opened.meta)
        if opened.header.payload_len != ciphertext_length(meta.size):
            raise IntegrityError("payload length does not match the size")
    else:
        TombstoneMeta.decode(opened.meta)
    dec = opened.decryptor()
    try:
        plain = dec.update(payload) + dec.finalize()
    except AuthenticationFailed:
        raise IntegrityError("payload failed authentication") from None
    meta_json = cj.loads_object(opened.meta, "metadata")
    if opened.header.kind == efmt.Kind.FILE and (
        hashlib.sha256(plain).hexdigest() != meta_json["sha256"]
    ):
        raise IntegrityError("plaintext SHA-256 does not match the stored digest")
    return meta_json, plain


def read_header(vector: dict[str, Any]) -> Secret:
    parsed = hfmt.decode(vector["bytes"])
    vault_id = parsed.header.vault_id
    vmk = open_slots(parsed.header.body.slots, vault_id, Secret(vector["passphrase"].encode()))
    if not header_auth.is_authentic(vmk, parsed):
        raise IntegrityError("vault header MAC mismatch")
    escrow = EscrowPrivateKey(EscrowSuite.P384, Secret(bytes.fromhex(vector["escrow_seed"])))
    assert escrow.open(parsed.header.body.escrow[0].sealed, vault_id) == vmk
    return vmk


def read_index(vector: dict[str, Any]) -> list[dict[str, Any]]:
    vault_id = bytes.fromhex(vector["vault_id"])
    key = index_key(Secret(bytes.fromhex(vector["vault_key"])), vault_id)
    data = vector["bytes"]
    ifmt.check_prelude(data, vault_id)
    records = []
    for raw in ifmt.split(data).records:
        try:
            plain = gcm_open(key, raw.nonce, raw.ciphertext, ifmt.aad(vault_id, raw.record_no))
        except AuthenticationFailed:
            raise IntegrityError(f"index record {raw.record_no} failed") from None
        records.append(cj.loads_object(plain, "index record"))
    return records


def read_custody_log(vector: dict[str, Any]) -> dict[str, Any]:
    """FORMAT.md section 10: envelope, vault binding, AES-256-GCM, strict body."""
    vault_id = bytes.fromhex(vector["vault_id"])
    key = log_key(Secret(bytes.fromhex(vector["vault_key"])), vault_id)
    sealed = clfmt.decode(vector["bytes"], vector["file_name"])
    if sealed.vault_id != vault_id:
        raise IntegrityError("custody log entry of another vault")
    try:
        plain = gcm_open(key, sealed.nonce, sealed.ciphertext, sealed.aad)
    except AuthenticationFailed:
        raise IntegrityError("custody log entry failed authentication") from None
    body = clfmt.parse_body(plain)
    del body["v"]
    return body


# What each `expect` label means as a medvault exception (and a word its message contains).
EXPECTED: dict[str, tuple[type[MedvaultError], str]] = {
    "header failure": (FormatError, ""),
    "unsupported version": (UnsupportedVersion, ""),
    "wrong vault": (IntegrityError, "another vault"),
    "unwrap failure": (IntegrityError, "unwrap"),
    "mac failure": (IntegrityError, "MAC"),
    "metadata failure": (IntegrityError, "metadata"),
    "payload failure": (IntegrityError, "payload"),
    "digest failure": (IntegrityError, "SHA-256"),
    "unsafe path": (UnsafePath, ""),
    "checksum failure": (FormatError, "checksum"),
    "wrong passphrase": (WrongPassphrase, ""),
    "index failure": (MedvaultError, ""),
    "custody log failure": (MedvaultError, ""),
}

# Vectors whose label is shared, pinned to the check their comment names (so a mutation that
# breaks the vector somewhere earlier, e.g. a length field, cannot pass unnoticed).
PINNED: dict[str, str] = {
    "header_kdf_over_cap": "time cost 17 outside 1..16",
    "header_not_canonical": "not in canonical form",
    "header_checksum": "checksum",
    "header_version_2": "version 2",
}


def test_there_are_vectors_of_every_kind() -> None:
    kinds = {json.loads(p.read_text())["kind"] for p in VECTORS}
    assert kinds == {"object", "vault_header", "index", "custody_log"}
    labels = {json.loads(p.read_text())["expect"] for p in VECTORS}
    assert labels == {"success", *EXPECTED}


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path: Path) -> None:
    vector = _load(path)
    vmk = Secret(bytes.fromhex(vector["vault_key"]))
    vault_id = bytes.fromhex(vector["vault_id"])

    def run() -> None:
        if vector["kind"] == "object":
            meta, plain = read_object(vmk, vault_id, vector["bytes"])
            assert hashlib.sha256(plain).hexdigest() == vector["plaintext_sha256"]
            assert len(plain) == vector["plaintext_length"]
            assert meta == vector["metadata"]
        elif vector["kind"] == "vault_header":
            assert read_header(vector) == vmk
        elif vector["kind"] == "index":
            assert read_index(vector) == vector["records"]
        else:
            assert read_custody_log(vector) == vector["event"]

    if vector["expect"] == "success":
        run()
        return
    error, word = EXPECTED[vector["expect"]]
    with pytest.raises(error) as caught:
        run()
    assert word in caught.value.message, caught.value.message
    assert PINNED.get(path.stem, "") in caught.value.message, caught.value.message
