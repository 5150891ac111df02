"""One fuzz target per medvault parser: each takes the fuzzer's bytes and must either
succeed or raise a medvault.errors.MedvaultError. Anything else escaping is a finding.

Parsers behind authentication are reached by sealing the fuzzer's bytes with a fixed test
key (the one in tests/vectors) and feeding them through the real reader, so the parser
after the MAC/AEAD check sees arbitrary plaintext. Where a parse has an inverse (encode,
render), the round trip is checked too: a mismatch raises AssertionError (a finding).

Targets import nothing heavy (no registry, no SQLAlchemy), so the fuzzer stays fast.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

from medvault.cli.shares_input import share_from_file
from medvault.config import load_org, render_org_toml
from medvault.crypto import labels
from medvault.crypto.escrow import EscrowPrivateKey, EscrowSuite
from medvault.crypto.hkdf import hkdf_expand
from medvault.crypto.kdf import Argon2Params
from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.payload import ciphertext_length
from medvault.crypto.symmetric import gcm_seal, hmac_sha256
from medvault.engine.catalog import Catalog, load_catalog, located_at, scan_packs
from medvault.engine.entry_reading import plaintext_sha256
from medvault.engine.path_index import check as path_index_check
from medvault.engine.path_index import open_snapshot
from medvault.engine.session import HeaderCopies, UnlockedVault
from medvault.errors import MedvaultError
from medvault.format import custody_log as clfmt
from medvault.format import entry as efmt
from medvault.format import index_journal as ifmt
from medvault.format import pack as pfmt
from medvault.format import path_index_file as xfmt
from medvault.format import vault_header as hfmt
from medvault.format.binary import u16, u32, u64
from medvault.format.meta import FileMeta, TombstoneMeta, normalize_path
from medvault.keys import header_auth, recovery_code, shares
from medvault.secret import Secret
from medvault.store.drive_log import read_all
from medvault.store.entries import open_header, seal_header
from medvault.store.journal import read_journal
from medvault.store.layout import VaultPaths
from medvault.vault.org_keys import escrow_public_keys

# The test vectors' keys (tests/vectors/generate.py): valid vector seeds open with them.
VAULT_ID = bytes.fromhex("6d7620746573742076656374006f7267")
VMK = Secret(bytes(range(32)))
FILE_ID = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
ESCROW_SEED = bytes.fromhex("449ebf21949bdb4e4f2dcb11ca644e2d3541ec1467190459ab395d33b6164e62")
EVENT_ID = bytes(range(100, 116))
RECORD_SEP = b"\x1e"  # index_record: the fuzzer's bytes are split into records here
MAX_RECORDS = 8

Target = Callable[[bytes], None]


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


@cache
def _workdir() -> Path:
    """Scratch space for targets that go through files. Under run.py it is a folder the
    parent process made (on tmpfs: truncating a file on /tmp here cost ~3 ms, a whole
    input's budget) and removes; in pytest, a temporary folder removed at exit."""
    given = os.environ.get("MEDVAULT_FUZZ_SCRATCH")
    if given:
        return Path(given)
    root = Path(tempfile.mkdtemp(prefix="medvault-fuzz-"))
    atexit.register(shutil.rmtree, root, True)
    return root


@cache
def _vault_paths() -> VaultPaths:
    paths = VaultPaths(_workdir() / "MEDVAULT")
    for folder in (paths.root, paths.index_dir, paths.objects, paths.log, paths.tmp):
        folder.mkdir(exist_ok=True)
    return paths


@cache
def _escrow_key() -> EscrowPrivateKey:
    return EscrowPrivateKey(EscrowSuite.P384, Secret(ESCROW_SEED))


def _unlocked() -> UnlockedVault:
    paths = _vault_paths()
    keys = VaultKeys(VMK, VAULT_ID)
    return UnlockedVault(paths, None, keys, HeaderCopies(paths), set(), VAULT_ID, 1 << 30)


# -- vault header ----------------------------------------------------------------------


def _after_header(parsed: hfmt.ParsedHeader) -> None:
    """What unlock and escrow recovery do with a parsed header, short of Argon2 itself."""
    header = parsed.header
    header_auth.is_authentic(VaultKeys(VMK, header.vault_id), parsed)
    for slot in header.body.slots:
        if isinstance(slot, hfmt.PassphraseSlot):
            # The parse-time caps must be at least as strict as the KDF's own.
            try:
                Argon2Params(slot.time_cost, slot.memory_kib, slot.parallelism).check()
            except MedvaultError as exc:
                raise AssertionError(f"KDF caps not enforced at parse time: {exc}") from None
    with contextlib.suppress(MedvaultError):
        recovery_code.open_recovery_slots(header.body.slots, header.vault_id, Secret(bytes(16)))
    for escrow in header.body.escrow:
        with contextlib.suppress(MedvaultError):
            _escrow_key().open(escrow.sealed, header.vault_id)
    again = hfmt.decode(hfmt.encode(header, parsed.mac))
    assert again.header == header, "vault header does not survive encode(decode(x))"


def fuzz_vault_header(data: bytes) -> None:
    """A whole header copy as read from vault.mvh (checksum included)."""
    _after_header(hfmt.decode(data))


def wrap_header_body(body: bytes) -> bytes:
    """BODY inside a header whose checksum and MAC are right under the test key: the
    version its `"format"` names (2 and 3 zero-padded to whole blocks), else version 1."""
    version = hfmt.VERSION_1
    for candidate in (hfmt.VERSION_2, hfmt.FORMAT_VERSION):
        if f'"format":{candidate}'.encode() in body:
            version = candidate
    signed = hfmt.MAGIC + u16(version) + u16(0) + VAULT_ID + u64(1) + u32(len(body)) + body
    mac = hmac_sha256(hkdf_expand(VMK, labels.VAULT_HEADER_MAC, VAULT_ID), signed)
    data = signed + hashlib.sha256(signed).digest() + mac
    return data + bytes(-len(data) % hfmt.PAD_BLOCK) if version >= 2 else data


def fuzz_header_body(data: bytes) -> None:
    """The JSON body of a header whose checksum and MAC are valid: the post-checksum parser."""
    _after_header(hfmt.decode(wrap_header_body(data)))


# -- object entries ----------------------------------------------------------------------


def fuzz_entry(data: bytes) -> None:
    """Bytes at an entry's offset in a pack: peek the length, parse, unwrap, MAC, metadata."""
    header_len = efmt.peek_header_len(data[:12])
    parsed = efmt.decode(data[:header_len])
    assert efmt.encode(parsed.header, parsed.mac) == data[:header_len], "entry re-encode"
    opened = open_header(VaultKeys(VMK, parsed.header.vault_id), data[:header_len])
    located_at("fuzz", 0, opened)


def fuzz_entry_meta(data: bytes) -> None:
    """First byte: kind (odd = file, even = tombstone); the rest is the metadata plaintext,
    sealed into an entry header and read back the way the catalog reads a pack."""
    if not data:
        return
    kind = efmt.Kind.FILE if data[0] & 1 else efmt.Kind.TOMBSTONE
    meta = data[1 : 1 + efmt.MAX_META - 16]
    sealed = seal_header(VaultKeys(VMK, VAULT_ID), FILE_ID, kind, meta, 0)
    opened = open_header(VaultKeys(VMK, VAULT_ID), sealed.header)
    assert opened.meta == meta
    loc = located_at("fuzz", 0, opened)
    if kind == efmt.Kind.FILE:
        ciphertext_length(loc.size)  # what extract checks the payload length against


def fuzz_meta(data: bytes) -> None:
    """File and tombstone metadata straight from bytes (fast), with round trips."""
    for decode in (FileMeta.decode, TombstoneMeta.decode):
        try:
            meta = decode(data)
        except MedvaultError:
            continue
        assert type(meta).decode(meta.encode()) == meta, "metadata round trip"
    try:
        path = normalize_path(_text(data))
    except MedvaultError:
        return
    assert normalize_path(path) == path, "normalize_path is not idempotent"


# -- packs ---------------------------------------------------------------------------------


def fuzz_pack_prelude(data: bytes) -> None:
    """A pack part's 56-byte prelude, and a pack file name."""
    try:
        prelude = pfmt.decode_prelude(data)
        assert prelude.encode() == data, "pack prelude re-encode"
    except MedvaultError:
        pass
    name = data.decode("latin-1")
    raw = pfmt.name_to_id(name)
    assert pfmt.id_to_name(raw) == name, "pack name round trip"


PACK_NAME = pfmt.id_to_name(bytes(range(200, 216)))
PART_SIZE = 1 << 30


def pack_prelude() -> bytes:
    """Part 0's prelude of a one-part pack named PACK_NAME in the fuzz vault."""
    pack_id = pfmt.name_to_id(PACK_NAME)
    return pfmt.Prelude(VAULT_ID, pack_id, 0, 1, PART_SIZE).encode()


def fuzz_pack_file(data: bytes) -> None:
    """A whole pack file (prelude, then entries) read as `verify` and `repair` read a pack
    the index does not cover: walk and authenticate every entry, then decrypt and hash
    every live file's payload (Cobblestone-256 under the test key)."""
    paths = _vault_paths()
    folder = paths.pack_dir(PACK_NAME)
    folder.mkdir(exist_ok=True)
    (folder / pfmt.part_filename(PACK_NAME, 0)).write_bytes(data)
    vault = _unlocked()
    catalog = Catalog()
    scan_packs(vault, [PACK_NAME], catalog)
    for loc in catalog.live():
        plaintext_sha256(vault, loc)


# -- index journal ---------------------------------------------------------------------------


def fuzz_index_journal(data: bytes) -> None:
    """A whole journal.mvi: prelude, framing, then the real reader (GCM under the test key)."""
    paths = _vault_paths()
    try:
        ifmt.check_prelude(data, VAULT_ID)
        split = ifmt.split(data)
        assert split.valid_length <= len(data)
    except MedvaultError:
        pass
    paths.journal.write_bytes(data)
    read_journal(paths, VaultKeys(VMK, VAULT_ID))


def sealed_journal(records: list[bytes]) -> bytes:
    """A journal holding RECORDS as authentic plaintexts (fixed nonces: a test key only)."""
    key = VaultKeys(VMK, VAULT_ID).index()
    out = bytearray(ifmt.prelude(VAULT_ID))
    for number, plain in enumerate(records):
        nonce = u32(number) + bytes(8)
        out += ifmt.frame(nonce, gcm_seal(key, nonce, plain, ifmt.aad(VAULT_ID, number)))
    return bytes(out)


def fuzz_index_record(data: bytes) -> None:
    """Authentic index records with the fuzzer's plaintext, read by load_catalog."""
    records = data.split(RECORD_SEP)[:MAX_RECORDS]
    paths = _vault_paths()
    paths.journal.write_bytes(sealed_journal(records))
    catalog = load_catalog(_unlocked())
    catalog.live()
    catalog.by_path()
    catalog.referenced_packs()


# -- path index -------------------------------------------------------------------------------


def sealed_path_index(directory: bytes, page: bytes) -> bytes:
    """paths.mvs with one page and a directory holding the given plaintexts, both authentic
    under the test key (a fixed snapshot id and nonces: a test key only)."""
    key = VaultKeys(VMK, VAULT_ID).path_index()
    snapshot_id = bytes(16)
    sealed_page = bytes(12) + gcm_seal(key, bytes(12), page, xfmt.aad(VAULT_ID, snapshot_id, 0))
    nonce = b"\x01" + bytes(11)
    aad = xfmt.aad(VAULT_ID, snapshot_id, xfmt.DIRECTORY_PAGE)
    sealed_dir = nonce + gcm_seal(key, nonce, directory, aad)
    dir_offset = xfmt.PRELUDE_LEN + len(sealed_page)
    prelude = xfmt.Prelude(VAULT_ID, snapshot_id, dir_offset, len(sealed_dir)).encode()
    return prelude + sealed_page + sealed_dir


def fuzz_path_index(data: bytes) -> None:
    """index/paths.mvs as ls and extract read it. First byte even: the rest is the file;
    odd: the rest is the plaintext of an authentic directory (then of a one-row page, after
    RECORD_SEP), over an empty journal. Only MedvaultError may come out of a listing."""
    paths = _vault_paths()
    paths.journal.write_bytes(sealed_journal([]))
    if not data or data[0] % 2 == 0:
        paths.path_index.write_bytes(data[1:])
    else:
        directory, _sep, page = data[1:].partition(RECORD_SEP)
        paths.path_index.write_bytes(sealed_path_index(directory, page))
    vault = _unlocked()
    snapshot = open_snapshot(vault)
    if snapshot is not None:
        with contextlib.suppress(MedvaultError):
            list(snapshot.live())
            list(snapshot.live("a", "b"))
        snapshot.close()
    path_index_check(vault, [])


# -- custody log ------------------------------------------------------------------------------


def _clear_log(paths: VaultPaths) -> None:
    for item in paths.log.iterdir():
        item.unlink()


def fuzz_custody_log(data: bytes) -> None:
    """A log/<id>.mve file: envelope parse, then the drive-log reader (GCM under the test key)."""
    event_id = data[24:40] if len(data) >= 40 else EVENT_ID
    name = clfmt.filename(event_id)
    try:
        sealed = clfmt.decode(data, name)
        assert clfmt.encode(sealed) == data, "custody log envelope re-encode"
    except MedvaultError:
        pass
    paths = _vault_paths()
    _clear_log(paths)
    (paths.log / name).write_bytes(data)
    read_all(paths, VaultKeys(VMK, VAULT_ID))


def fuzz_custody_event(data: bytes) -> None:
    """An authentic custody log entry whose plaintext is the fuzzer's bytes."""
    nonce = bytes(12)
    sealed = clfmt.SealedEvent(VAULT_ID, EVENT_ID, nonce, b"")
    ciphertext = gcm_seal(VaultKeys(VMK, VAULT_ID).custody_log(), nonce, data, sealed.aad)
    sealed = clfmt.SealedEvent(VAULT_ID, EVENT_ID, nonce, ciphertext)
    paths = _vault_paths()
    _clear_log(paths)
    (paths.log / clfmt.filename(EVENT_ID)).write_bytes(clfmt.encode(sealed))
    log = read_all(paths, VaultKeys(VMK, VAULT_ID))
    assert len(log.events) + len(log.damaged) == 1
    try:
        body = clfmt.parse_body(data)
    except MedvaultError:
        return
    assert clfmt.parse_body(clfmt.event_body(body)) == body, "custody event round trip"


# -- org config -----------------------------------------------------------------------------


def fuzz_org_config(data: bytes) -> None:
    """org.toml as bytes on disk: load, check the escrow keys, render and load again."""
    path = _workdir() / "org.toml"
    path.write_bytes(data)
    org = load_org(path)
    path.write_text(render_org_toml(org), encoding="utf-8")
    try:
        again = load_org(path)
    except MedvaultError as exc:
        raise AssertionError(f"a loaded org.toml renders as one that fails: {exc}") from None
    assert again == org, "org.toml does not survive render(load(x))"
    escrow_public_keys(org)


# -- escrow shares and the recovery code ---------------------------------------------------------


def fuzz_shares(data: bytes) -> None:
    """Share text as typed or read from share files: parse each line, then combine."""
    path = _workdir() / "share.txt"
    path.write_bytes(data)
    with contextlib.suppress(MedvaultError):
        share_from_file(path)
    parsed = []
    for line in _text(data).splitlines()[:4]:
        try:
            parsed.append(shares.parse_share(line, "share"))
        except MedvaultError:
            continue
    if parsed:
        shares.combine_parsed(parsed)


def fuzz_recovery_code(data: bytes) -> None:
    """The printed recovery code as typed; a code that parses must print back to itself."""
    code = recovery_code.parse(_text(data))
    printed = recovery_code.format_code(code.reveal())
    assert recovery_code.parse(printed) == code, "recovery code round trip"


TARGETS: dict[str, Target] = {
    "vault_header": fuzz_vault_header,
    "header_body": fuzz_header_body,
    "entry": fuzz_entry,
    "entry_meta": fuzz_entry_meta,
    "meta": fuzz_meta,
    "pack_prelude": fuzz_pack_prelude,
    "pack_file": fuzz_pack_file,
    "index_journal": fuzz_index_journal,
    "index_record": fuzz_index_record,
    "path_index": fuzz_path_index,
    "custody_log": fuzz_custody_log,
    "custody_event": fuzz_custody_event,
    "org_config": fuzz_org_config,
    "shares": fuzz_shares,
    "recovery_code": fuzz_recovery_code,
}


def _planted(data: bytes) -> None:
    """Not a real target: a bug planted behind the prelude parser, which test_fuzz.py
    checks the fuzzer finds (so a harness that cannot fail would be noticed)."""
    if pfmt.decode_prelude(data).part_count > 3:  # the seeds' packs have 1 or 3 parts
        raise IndexError("planted")


ALL: dict[str, Target] = {**TARGETS, "planted": _planted}


def run_one(name: str, data: bytes) -> None:
    """One input: medvault's typed errors are an accepted outcome; anything else escapes."""
    with contextlib.suppress(MedvaultError):
        ALL[name](data)
