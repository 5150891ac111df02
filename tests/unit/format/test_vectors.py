"""Every committed test vector (tests/vectors/*.json) gives exactly its labelled outcome.

Twice: through medvault's own readers (the pack reader and stream_entry that extract and
verify use, store/journal.read_journal, store/drive_log.read_all, engine/path_index.py),
so that a check dropped from them fails here; and through the step-by-step readers below,
written from docs/FORMAT.md, the way another implementation checks itself against the
same files (FORMAT.md, "Test vectors").
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

from medvault.crypto.escrow import EscrowPrivateKey, EscrowSuite
from medvault.crypto.kdf import Argon2Params
from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.payload import ciphertext_length
from medvault.crypto.symmetric import AuthenticationFailed, gcm_open
from medvault.engine import path_index
from medvault.engine.catalog import Located, load_catalog, walk_pack
from medvault.engine.entry_reading import authenticate_entry, open_reader, stream_entry
from medvault.engine.session import HeaderCopies, UnlockedVault, unlock
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
from medvault.format import pack as pfmt
from medvault.format import path_index_file as pifmt
from medvault.format import vault_header as hfmt
from medvault.format.meta import FileMeta, TombstoneMeta
from medvault.format.padding import padded_length
from medvault.keys import header_auth
from medvault.keys.epochs import vault_keys
from medvault.keys.slots import make_slot, open_slots
from medvault.secret import Secret, VaultKey
from medvault.store import drive_log, path_snapshot
from medvault.store.entries import open_header
from medvault.store.journal import read_journal
from medvault.store.layout import VaultPaths
from medvault.store.packs import PackReader, PackWriter
from tests.support import escrow_reference
from tests.support.path_index_rows import page_row
from tests.support.paths import TESTS_DIR

VECTORS = sorted((TESTS_DIR / "vectors").glob("*.json"))
PATH_INDEX_VECTORS = [p for p in VECTORS if p.stem.startswith("path_index_")]
# Objects, index journals, custody log entries and packs: read below by medvault's own
# readers too.
ENTRY_VECTORS = [p for p in VECTORS if p.stem.split("_")[0] in ("object", "index", "log", "pack")]
# The file id every object vector's entry was sealed for (tests/vectors/generate.py): what
# an index record names, so the reader's check that the entry is that file runs too.
VECTOR_FILE_ID = "0102030405060708090a0b0c0d0e0f10"


def _load(path: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(path.read_text())
    vector["bytes"] = base64.b64decode(vector["data"])
    return vector


def read_object(vmk: Secret, vault_id: bytes, data: bytes) -> tuple[dict[str, Any], bytes]:
    """Open one entry the way medvault does: parse, unwrap, MAC, metadata, payload, digest."""
    hlen = efmt.peek_header_len(data[:12])
    opened = open_header(VaultKeys(vmk, vault_id), data[:hlen])
    payload = data[hlen:]
    if len(payload) != opened.header.payload_len:
        raise IntegrityError("payload length differs from the header (truncated or extended)")
    meta_json = cj.loads_object(opened.meta, "metadata")
    # Format 1.1 (suite 2): the kind is in the metadata and the payload is padded (§5.1).
    padded = opened.header.suite == efmt.SUITE_PADDED
    kind = opened.kind if padded else opened.header.kind
    size = 0
    if kind == efmt.Kind.FILE:
        meta = FileMeta.decode(opened.meta)  # the path's checks (UnsafePath), in NFC
        meta_json["path"] = meta.path
        size = meta.size
    else:
        TombstoneMeta.decode(opened.meta)
    plain_len = padded_length(size) if padded else size
    if opened.header.payload_len != ciphertext_length(plain_len):  # 72 for a 1.0 tombstone
        raise IntegrityError("payload length does not match the size")
    dec = opened.decryptor()
    try:
        plain = dec.update(payload) + dec.finalize()
    except AuthenticationFailed:
        raise IntegrityError("payload failed authentication") from None
    if plain[size:].count(0) != len(plain) - size:
        raise IntegrityError("payload padding is not zeros")
    plain = plain[:size]
    if kind == efmt.Kind.FILE and hashlib.sha256(plain).hexdigest() != meta_json["sha256"]:
        raise IntegrityError("plaintext SHA-256 does not match the stored digest")
    return meta_json, plain


def open_recovery_code(vector: dict[str, Any], parsed: hfmt.ParsedHeader) -> Secret:
    """FORMAT.md section 3: the printed code's 8 groups, each value * 11, give 8 big-endian
    u16s; HKDF(code, RECOVERY_SLOT, salt, vault_id, u32(slot_id)) unwraps the slot (AES-KW)."""
    digits = vector["recovery_code"].replace("-", "")
    groups = [int(digits[i : i + 6]) for i in range(0, 48, 6)]
    assert all(g % 11 == 0 and g // 11 < 1 << 16 for g in groups)
    code = b"".join((g // 11).to_bytes(2, "big") for g in groups)
    vault_id = parsed.header.vault_id
    for slot in parsed.header.body.slots:
        if isinstance(slot, hfmt.RecoveryCodeSlot):
            info = b"medvault/v1/recovery-slot\x00" + slot.salt + vault_id
            info += slot.slot_id.to_bytes(4, "big")
            kek = escrow_reference.hkdf_expand_sha512(code, info)
            with contextlib.suppress(InvalidUnwrap):
                return Secret(aes_key_unwrap(kek, slot.wrapped))
    raise WrongPassphrase("the recovery code opens no slot")


def open_escrow(vector: dict[str, Any], parsed: hfmt.ParsedHeader) -> Secret:
    """FORMAT.md section 8: the escrow key from `escrow_seed` in the suite of each key
    package whose key id it matches (a suite this format does not name is skipped), its
    public key and key id as the vector gives them, and the package opened with RFC 9180
    written out (tests/support/escrow_reference.py); medvault's own escrow code agrees."""
    seed = bytes.fromhex(vector["escrow_seed"])
    vault_id = parsed.header.vault_id
    opened = []
    for package in parsed.header.body.escrow:
        if package.suite not in ("p384", "mlkem768-x25519", "mlkem1024-p384"):
            continue
        key = escrow_reference.escrow_key(package.suite, seed)
        assert base64.b64encode(key.public).decode() == vector["escrow_public_key"]
        assert key.key_id == vector["escrow_key_id"] == package.key_id
        vmk = escrow_reference.open_package(key, package.sealed, vault_id)
        own = EscrowPrivateKey(EscrowSuite(package.suite), Secret(seed))
        assert own.open(package.sealed, vault_id) == Secret(vmk)
        opened.append(Secret(vmk))
    assert len(opened) == 1, "a vector's header holds one package for its escrow seed"
    return opened[0]


def read_header(vector: dict[str, Any]) -> Secret:
    parsed = hfmt.decode(vector["bytes"])
    vault_id = parsed.header.vault_id
    vmk = open_slots(parsed.header.body.slots, vault_id, Secret(vector["passphrase"].encode()))
    if not header_auth.is_authentic(VaultKeys(vmk, vault_id), parsed):
        raise IntegrityError("vault header MAC mismatch")
    if "recovery_code" in vector:
        assert open_recovery_code(vector, parsed) == vmk
    assert open_escrow(vector, parsed) == vmk
    key = vault_keys(VaultKeys(vmk, vault_id), parsed.header.body).vault_key()
    assert isinstance(key, VaultKey)
    for epoch, expected in vector.get("previous_vault_keys", {}).items():
        assert key.for_epoch(int(epoch)) == Secret(bytes.fromhex(expected))
    return vmk


def read_index(vector: dict[str, Any]) -> list[dict[str, Any]]:
    vault_id = bytes.fromhex(vector["vault_id"])
    key = VaultKeys(Secret(bytes.fromhex(vector["vault_key"])), vault_id).index()
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
    key = VaultKeys(Secret(bytes.fromhex(vector["vault_key"])), vault_id).custody_log()
    sealed = clfmt.decode(vector["bytes"], vector["file_name"])
    if sealed.vault_id != vault_id:
        raise IntegrityError("custody log entry of another vault")
    try:
        plain = gcm_open(key, sealed.nonce, sealed.ciphertext, sealed.aad)
    except AuthenticationFailed:
        raise IntegrityError("custody log entry failed authentication") from None
    body = clfmt.parse_body(plain)
    if body["event_id"] != sealed.event_id.hex() or body["vault_id"] != vault_id.hex():
        raise IntegrityError("custody log body names another event or vault")
    return body


@contextlib.contextmanager
def failing_as(what: str) -> Iterator[None]:
    """Name the part whose authentication failed (a page or the directory)."""
    try:
        yield
    except AuthenticationFailed as exc:
        raise IntegrityError(f"{what}: {exc.message}") from None


def _tail_records(
    vmk: Secret, vault_id: bytes, journal: bytes, covers: pifmt.Covers
) -> list[dict[str, Any]]:
    """FORMAT.md section 12, "covers": the record the snapshot was made after must be where
    it says, with its nonce and number; the records after it are returned."""
    key = VaultKeys(vmk, vault_id).index()
    ifmt.check_prelude(journal, vault_id)
    start = covers.last_offset if covers.records else ifmt.PRELUDE_LEN
    first = covers.records - 1 if covers.records else 0
    records = ifmt.split_from(journal[start:], start, start, first).records
    if covers.records:
        last = records[0] if records else None
        if (
            last is None
            or last.nonce.hex() != covers.last_nonce
            or last.offset + 4 + ifmt.NONCE_LEN + len(last.ciphertext) != covers.journal_end
        ):
            raise IntegrityError("path index: made from another journal")
        gcm_open(key, last.nonce, last.ciphertext, ifmt.aad(vault_id, last.record_no))
        records = records[1:]
    elif covers.journal_end != ifmt.PRELUDE_LEN:
        raise IntegrityError("path index: made from another journal")
    tail = []
    for raw in records:
        with failing_as(f"index record {raw.record_no}"):
            plain = gcm_open(key, raw.nonce, raw.ciphertext, ifmt.aad(vault_id, raw.record_no))
        tail.append(cj.loads_object(plain, "index record"))
    return tail


def read_path_index(vector: dict[str, Any]) -> tuple[list[list[Any]], list[str]]:
    """FORMAT.md section 12, step by step: prelude, directory, its `covers` checked against
    the journal, every page; then the tail applied with section 6's rules, the snapshot's
    rows standing for the records it covers. Returns the live rows and the known packs."""
    vault_id = bytes.fromhex(vector["vault_id"])
    vmk = Secret(bytes.fromhex(vector["vault_key"]))
    key = VaultKeys(vmk, vault_id).path_index()
    data = vector["bytes"]
    prelude = pifmt.decode_prelude(data, vault_id, len(data))

    def unseal(offset: int, length: int, number: int) -> bytes:
        sealed = data[offset : offset + length]
        aad = pifmt.aad(vault_id, prelude.snapshot_id, number)
        return gcm_open(key, sealed[: pifmt.NONCE_LEN], sealed[pifmt.NONCE_LEN :], aad)

    with failing_as("path index directory"):
        plain = unseal(prelude.dir_offset, prelude.dir_len, pifmt.DIRECTORY_PAGE)
    directory = pifmt.decode_directory(plain, prelude.dir_offset)
    tail = _tail_records(vmk, vault_id, base64.b64decode(vector["journal"]), directory.covers)
    placed: dict[str, tuple[int, list[Any]]] = {}  # file id -> (kind, row)
    for number, ref in enumerate(directory.pages):
        with failing_as(f"path index page {number}"):
            plain = unseal(ref.offset, ref.length, number)
        for row in pifmt.decode_page(plain, ref):
            placed[row[0]] = (int(efmt.Kind.FILE), row)
    packs, removed = set(directory.packs), set[str]()
    for record in tail:
        if record["op"] == "add":
            packs.add(record["pack"])
            for e in record["entries"]:
                fields = [e.get(f) for f in ("path", "size", "sha256", "added_at", "mtime_ns")]
                row = [e["id"], record["pack"], e["off"], e["hlen"], e["plen"], *fields, e["refs"]]
                placed[e["id"]] = (e["kind"], row)
                removed.update(e["refs"])
        else:
            packs -= set(record["packs"])
            placed = {k: v for k, v in placed.items() if v[1][1] not in record["packs"]}
    newest: dict[str, list[Any]] = {}
    files = [row for kind, row in placed.values() if kind == efmt.Kind.FILE]
    for row in sorted((r for r in files if r[0] not in removed), key=lambda r: r[8]):
        newest[row[5]] = row  # two live files at one path: the later added_at wins
    return sorted(newest.values(), key=lambda r: r[5]), sorted(packs)


def read_pack(vector: dict[str, Any]) -> list[dict[str, Any]]:
    """FORMAT.md section 4, then section 5 for each entry of the stream: the name, every
    part's prelude and length, no part missing or extra; each entry read in full. Returns
    the entries as index records name them."""
    name, part_size = vector["pack"], vector["part_size"]
    vault_id = bytes.fromhex(vector["vault_id"])
    try:
        pack_id = pfmt.name_to_id(name)
    except FormatError as exc:
        raise IntegrityError(f"pack {name}: {exc.message}") from None
    files = {pfmt.part_filename(name, 0): vector["bytes"]}
    files.update({k: base64.b64decode(v) for k, v in vector["parts"].items()})
    count, stream = 1, b""
    for index in range(pfmt.MAX_PARTS):
        if index == count:
            break
        blob = files.pop(pfmt.part_filename(name, index), None)
        if blob is None:
            raise IntegrityError(f"pack {name}: part {index} is missing")
        try:
            prelude = pfmt.decode_prelude(blob[: pfmt.PRELUDE_LEN])
        except FormatError as exc:
            raise IntegrityError(f"pack {name}: {exc.message}") from None
        if (prelude.vault_id, prelude.pack_id) != (vault_id, pack_id):
            raise IntegrityError(f"pack {name}: part {index} belongs elsewhere")
        if prelude.part_index != index or prelude.part_size != part_size:
            raise IntegrityError(f"pack {name}: part {index} has a wrong prelude")
        count = prelude.part_count if index == 0 else count
        if prelude.part_count != count:
            raise IntegrityError(f"pack {name}: part {index} disagrees on part count")
        data = blob[pfmt.PRELUDE_LEN :]
        if len(data) > part_size or (index < count - 1 and len(data) != part_size):
            raise IntegrityError(f"pack {name}: part {index} has the wrong length")
        stream += data
    if files:
        raise IntegrityError(f"pack {name}: unexpected extra part {sorted(files)}")
    vmk = Secret(bytes.fromhex(vector["vault_key"]))
    found, offset = [], 0
    while offset < len(stream):
        hlen = efmt.peek_header_len(stream[offset : offset + 12])
        header = efmt.decode(stream[offset : offset + hlen]).header
        end = offset + hlen + header.payload_len
        if end > len(stream):
            raise IntegrityError(f"pack {name}: last entry runs past the end")
        read_object(vmk, vault_id, stream[offset:end])
        found.append(
            {
                "id": header.file_id.hex(),
                "off": offset,
                "hlen": hlen,
                "plen": header.payload_len,
                "kind": int(header.kind),
            }
        )
        offset = end
    return found


def read_pack_with_medvault(vector: dict[str, Any], vault: UnlockedVault) -> list[dict[str, Any]]:
    """The pack's files in a vault folder, read by store/packs.PackReader as verify reads a
    pack: every part checked (none missing or extra), every entry walked and authenticated."""
    name = vector["pack"]
    folder = vault.paths.pack_dir(name)
    folder.mkdir(parents=True)
    (folder / pfmt.part_filename(name, 0)).write_bytes(vector["bytes"])
    for part, data in vector["parts"].items():
        (folder / part).write_bytes(base64.b64decode(data))
    found = []
    with PackReader(vault.paths, vault.vault_id, name, vector["part_size"]) as reader:
        reader.check_all_parts()
        for item in walk_pack(vault, reader):
            if isinstance(item, MedvaultError):
                raise item
            authenticate_entry(vault, reader, item)
            found.append(
                {
                    "id": item.file_id,
                    "off": item.offset,
                    "hlen": item.header_len,
                    "plen": item.payload_len,
                    "kind": item.kind,
                }
            )
    return found


def _vault_of(vector: dict[str, Any], root: Path) -> UnlockedVault:
    """A vault folder holding only the vector's journal and path index."""
    paths = VaultPaths(root / "MEDVAULT")
    paths.index_dir.mkdir(parents=True)
    paths.journal.write_bytes(base64.b64decode(vector["journal"]))
    paths.path_index.write_bytes(vector["bytes"])
    vmk = VaultKey(bytes.fromhex(vector["vault_key"]))
    vault_id = bytes.fromhex(vector["vault_id"])
    keys = VaultKeys(vmk, vault_id)
    return UnlockedVault(paths, None, keys, HeaderCopies(paths), set(), vault_id, 1 << 30)


def read_path_index_with_medvault(vault: UnlockedVault) -> tuple[list[list[Any]], list[str]]:
    """medvault's own reader (store/path_snapshot.py, engine/path_index.py), one step at a
    time so that a failure raises instead of sending the reader to the journal."""
    with failing_as("path index directory"):
        file = path_snapshot.open_file(vault.paths, vault.keys)
    snapshot = path_index.Snapshot(vault, file)
    try:
        snapshot.read_tail()
        read_page = snapshot.page

        def page(number: int) -> list[Located]:
            with failing_as(f"path index page {number}"):
                return read_page(number)

        snapshot.page = page  # type: ignore[method-assign]
        return [page_row(loc) for loc in snapshot.live()], sorted(snapshot.packs())
    finally:
        snapshot.close()


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
    "path index failure": (IntegrityError, "path index"),
    "path index stale": (IntegrityError, "made from another journal"),
    "pack failure": (MedvaultError, ""),
}

# Vectors whose label is shared, pinned to the check their comment names (so a mutation that
# breaks the vector somewhere earlier, e.g. a length field, cannot pass unnoticed).
PINNED: dict[str, str] = {
    "header_kdf_over_cap": "time cost 17 outside 1..16",
    "header_not_canonical": "not in canonical form",
    "header_checksum": "checksum",
    "header_version_4": "version 4",
    "header_memory_over_cap": "memory 1048577 KiB outside",
    "header_kdf_over_budget": "more key-derivation work than",
    "header_padding_not_zero": "padding is not zero",
    "header_padding_cut": "whole number of 4 KiB blocks",
    "header_v1_trailing_bytes": "trailing",
    "object_key_epoch_2": "unknown key epoch",
    "object_key_epoch_0": "unknown key epoch",
    "path_index_page_flipped": "path index page 1: AES-GCM tag mismatch",
    "path_index_directory_flipped": "path index directory: AES-GCM tag mismatch",
    "path_index_rows_out_of_order": "rows out of order",
    "header_body_format_4": "format 4 body",
    "index_prelude_not_zero": "padding is not zero",
    "index_record_over_cap": "impossible length",
    "pack_missing_part": "part 1 is missing",
    "pack_bad_prelude": "bad magic",
    "pack_extra_part": "extra part",
    "pack_foreign_part": "belongs elsewhere",
    "pack_name_spare_bits": "not an object id",
    "object_path_too_long": "too long",
}


def check_object(vector: dict[str, Any]) -> None:
    vmk = VaultKey(bytes.fromhex(vector["vault_key"]), vector.get("key_epoch", 1))
    meta, plain = read_object(vmk, bytes.fromhex(vector["vault_id"]), vector["bytes"])
    assert hashlib.sha256(plain).hexdigest() == vector["plaintext_sha256"]
    assert len(plain) == vector["plaintext_length"]
    assert meta == vector["metadata"]


def check_header(vector: dict[str, Any]) -> None:
    assert read_header(vector) == Secret(bytes.fromhex(vector["vault_key"]))


# Each vector kind, and how the reference checker runs a vector of it.
CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "object": check_object,
    "vault_header": check_header,
    "index": lambda vector: _equal(read_index(vector), vector["records"]),
    "custody_log": lambda vector: _equal(read_custody_log(vector), vector["event"]),
    "path_index": lambda vector: _equal(read_path_index(vector), (vector["rows"], vector["packs"])),
    "pack": lambda vector: _equal(read_pack(vector), vector["entries"]),
}


def _equal(got: object, expected: object) -> None:
    assert got == expected


def test_there_are_vectors_of_every_kind() -> None:
    kinds = {json.loads(p.read_text())["kind"] for p in VECTORS}
    assert kinds == set(CHECKS)
    labels = {json.loads(p.read_text())["expect"] for p in VECTORS}
    assert labels == {"success", *EXPECTED}


INDEX = TESTS_DIR / "vectors" / "README.md"
INDEX_ROW = re.compile(r"^\| `(\w+)\.json` \| `(\w+)` \| (.+) \| (.+) \|$")


def _indexed() -> dict[str, tuple[str, str]]:
    """tests/vectors/README.md's table: file stem -> (kind, outcome)."""
    rows = {}
    for line in INDEX.read_text(encoding="utf-8").splitlines():
        match = INDEX_ROW.match(line)
        if match:
            stem, kind, _what, outcome = match.groups()
            assert stem not in rows, f"{stem} is listed twice"
            rows[stem] = (kind, outcome.strip().strip("`"))
    return rows


def test_the_vector_index_lists_every_vector_with_its_kind_and_outcome() -> None:
    """Every vector file has one row in tests/vectors/README.md giving its kind and expected
    outcome, the index names no file that is missing, and every vector it lists is one the
    reference checker runs (test_vector's parameters) with a reader for its kind."""
    rows = _indexed()
    on_disk = {p.stem for p in VECTORS}
    assert sorted(on_disk - set(rows)) == [], "vector files missing from the index"
    assert sorted(set(rows) - on_disk) == [], "the index names files that do not exist"
    for path in VECTORS:
        vector = json.loads(path.read_text())
        assert rows[path.stem] == (vector["kind"], vector["expect"]), path.stem
        assert vector["name"] == path.stem
        assert vector["kind"] in CHECKS
    text = (TESTS_DIR.parent / "docs" / "FORMAT.md").read_text(encoding="utf-8")
    assert f"holds {len(rows)} vectors" in text


def test_an_index_row_for_a_missing_file_would_be_caught() -> None:
    """The index check reads rows as they are written in README.md (a planted row parses)."""
    row = "| `pack_not_there.json` | `pack` | nothing | `pack failure` |"
    match = INDEX_ROW.match(row)
    assert match is not None and match.group(1) not in {p.stem for p in VECTORS}


def test_every_pack_id_in_the_vectors_is_a_valid_name() -> None:
    """Pack ids in index, path index and pack vectors have their spare bits zero (section 1),
    except the one vector that tests a name with them set."""
    names: set[str] = set()
    for path in VECTORS:
        vector = json.loads(path.read_text())
        for record in vector.get("records", []):
            names.update([record["pack"]] if "pack" in record else record["packs"])
        names.update(vector.get("packs", []))
        names.update(row[1] for row in vector.get("rows", []))
        if vector["kind"] == "pack" and path.stem != "pack_name_spare_bits":
            names.add(vector["pack"])
    assert names
    for name in names:
        assert pfmt.id_to_name(pfmt.name_to_id(name)) == name


def test_hkdf_expand_is_one_hmac_sha512_block() -> None:
    """FORMAT.md section 2: every derived key (32 bytes, or 64 for the escrow seeds) is
    HMAC-SHA-512(key, info || 0x01) cut to its length, what HKDF-Expand gives for L <= 64."""
    vmk = Secret(bytes(range(32)))
    vault_id = bytes(16)
    own = VaultKeys(vmk, vault_id).index().reveal()
    info = b"medvault/v1/index\x00" + vault_id
    assert own == escrow_reference.hkdf_expand_sha512(vmk.reveal(), info)
    seed = bytes(range(32))
    wide = escrow_reference.derive(escrow_reference.ESCROW_SEED_ECDH, seed, "p384", 64)
    assert len(wide) == 64
    own_key = EscrowPrivateKey(EscrowSuite.P384, Secret(seed)).public.raw
    assert escrow_reference.escrow_key("p384", seed).public == own_key


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path: Path) -> None:
    vector = _load(path)
    _gives_its_outcome(path, vector, lambda: CHECKS[vector["kind"]](vector))


def _gives_its_outcome(path: Path, vector: dict[str, Any], run: Callable[[], None]) -> None:
    if vector["expect"] == "success":
        run()
        return
    error, word = EXPECTED[vector["expect"]]
    with pytest.raises(error) as caught:
        run()
    assert word in caught.value.message, caught.value.message
    assert PINNED.get(path.stem, "") in caught.value.message, caught.value.message


@pytest.mark.parametrize("path", PATH_INDEX_VECTORS, ids=[p.stem for p in PATH_INDEX_VECTORS])
def test_path_index_vector_with_medvaults_reader(path: Path, tmp_path: Path) -> None:
    """The same outcome from engine/path_index.py; and through what ls and extract use, a
    path index that is refused still lists the vault (from the journal), and verify
    faults it."""
    vector = _load(path)
    vault = _vault_of(vector, tmp_path)

    def run() -> None:
        assert read_path_index_with_medvault(vault) == (vector["rows"], vector["packs"])

    _gives_its_outcome(path, vector, run)
    with path_index.live_files(vault) as live:
        assert [page_row(loc) for loc in live.all()] == vector["rows"]
        assert (live.snapshot is not None) == (vector["expect"] == "success")
    status = path_index.check(vault, load_catalog(vault).live())
    assert (status == "ok") == (vector["expect"] == "success"), status


def _empty_vault(vector: dict[str, Any], root: Path) -> UnlockedVault:
    """A vault folder with nothing in it yet, under the vector's vault id and key."""
    paths = VaultPaths(root / "MEDVAULT")
    for folder in (paths.index_dir, paths.objects, paths.tmp, paths.log):
        folder.mkdir(parents=True)
    vmk = VaultKey(bytes.fromhex(vector["vault_key"]), vector.get("key_epoch", 1))
    vault_id = bytes.fromhex(vector["vault_id"])
    keys = VaultKeys(vmk, vault_id)
    return UnlockedVault(paths, None, keys, HeaderCopies(paths), set(), vault_id, 1 << 30)


def read_object_with_medvault(
    vault: UnlockedVault, data: bytes, tombstone: bool
) -> tuple[dict[str, Any], bytes]:
    """The entry written as a pack of its own by medvault's PackWriter, and read back the
    way extract and verify read it: an index location (offset 0, the header length the
    entry gives, the rest of the pack its payload) handed to stream_entry, or for a
    tombstone to verify's authenticate_entry. Returns (metadata, plaintext)."""
    writer = PackWriter(vault.paths, vault.vault_id, vault.part_size)
    writer.reserve(len(data))
    writer.write(data)
    writer.commit()
    header_len = efmt.peek_header_len(data[:12])
    kind = efmt.Kind.TOMBSTONE if tombstone else efmt.Kind.FILE
    loc = Located(VECTOR_FILE_ID, writer.name, 0, header_len, len(data) - header_len, kind)
    with open_reader(vault, writer.name) as reader:
        if tombstone:
            authenticate_entry(vault, reader, loc)
            opened = open_header(vault.keys, reader.read(0, header_len))
            meta = TombstoneMeta.decode(opened.meta).encode()
            plain = b""
        else:
            pieces: list[bytes] = []
            meta = stream_entry(vault, reader, loc, lambda b: pieces.append(bytes(b))).encode()
            plain = b"".join(pieces)
        # The scan that finds entries without an index sees the same single entry.
        walked = [
            (x.file_id, x.offset, x.header_len, x.payload_len, x.kind)
            for x in walk_pack(vault, reader)
            if isinstance(x, Located)
        ]
    assert walked == [(loc.file_id, 0, loc.header_len, loc.payload_len, kind)]
    return cj.loads_object(meta, "metadata"), plain


@pytest.mark.parametrize("path", ENTRY_VECTORS, ids=[p.stem for p in ENTRY_VECTORS])
def test_vector_with_medvaults_reader(path: Path, tmp_path: Path) -> None:
    """Each object, pack, index and custody log vector gives its outcome through medvault's
    own readers: an object or pack raises what its label names; an index or log entry that
    fails is reported as damage (these readers never raise for it: ls and verify go on)."""
    vector = _load(path)
    vault = _empty_vault(vector, tmp_path)
    succeeds = vector["expect"] == "success"
    if vector["kind"] == "object":

        def run() -> None:
            tombstone = "removes" in vector.get("metadata", {})
            meta, plain = read_object_with_medvault(vault, vector["bytes"], tombstone)
            assert hashlib.sha256(plain).hexdigest() == vector["plaintext_sha256"]
            assert len(plain) == vector["plaintext_length"]
            assert meta == vector["metadata"]

        _gives_its_outcome(path, vector, run)
    elif vector["kind"] == "pack":
        _gives_its_outcome(
            path, vector, lambda: _equal(read_pack_with_medvault(vector, vault), vector["entries"])
        )
    elif vector["kind"] == "index":
        vault.paths.journal.write_bytes(vector["bytes"])
        read = read_journal(vault.paths, vault.keys)
        assert (read.damage is None) == succeeds, read.damage
        if succeeds:
            assert read.records == vector["records"]
    else:
        (vault.paths.log / vector["file_name"]).write_bytes(vector["bytes"])
        log = drive_log.read_all(vault.paths, vault.keys)
        event = {k: v for k, v in vector.get("event", {}).items() if k != "v"}
        assert log.events == ([event] if succeeds else [])
        assert log.damaged == ([] if succeeds else [vector["file_name"]])


def test_a_copy_failing_its_mac_and_a_copy_not_opening_is_a_wrong_passphrase(
    tmp_path: Path,
) -> None:
    """FORMAT.md section 3, choosing a copy: when the copy the passphrase opens fails its MAC
    and the other copy does not open with it, medvault reports a wrong passphrase; with
    only the copy that fails its MAC, it reports that no copy passed authentication."""
    tampered = _load(TESTS_DIR / "vectors" / "header_mac.json")
    vault_id = bytes.fromhex(tampered["vault_id"])
    vmk = Secret(bytes.fromhex(tampered["vault_key"]))
    parsed = hfmt.decode(tampered["bytes"])
    other_slot = make_slot(
        vmk, vault_id, 1, Secret(b"another passphrase"), Argon2Params(1, 8192, 1), "x"
    )
    other = replace(parsed.header, body=replace(parsed.header.body, slots=(other_slot,)))
    other_copy = hfmt.decode(header_auth.seal(VaultKeys(vmk, vault_id), other))
    paths = VaultPaths(tmp_path)
    passphrase = Secret(tampered["passphrase"].encode())
    both = HeaderCopies(paths, {"vault.mvh": parsed, "vault.mvh.bak": other_copy})
    with pytest.raises(WrongPassphrase):
        unlock(both, passphrase)
    alone = HeaderCopies(paths, {"vault.mvh": parsed})
    with pytest.raises(IntegrityError, match="no vault header copy passed authentication"):
        unlock(alone, passphrase)
