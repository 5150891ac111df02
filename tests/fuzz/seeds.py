"""The seed corpus: every test vector (tests/vectors/*.json), the files of a small vault
made by the library (create, add with a multi-part pack, rm), cut to what each target reads,
and every past finding (regressions.py).

    python -m tests.fuzz.seeds OUTDIR     # writes OUTDIR/<target>/<sha1> files

Seeds for parsers behind authentication are the plaintexts (decrypted with the keys), so
the fuzzer starts from well-formed metadata, index records and custody events.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.symmetric import gcm_open
from medvault.errors import MedvaultError
from medvault.format import custody_log as clfmt
from medvault.format import entry as efmt
from medvault.format import index_journal as ifmt
from medvault.format import pack as pfmt
from medvault.keys import recovery_code
from medvault.secret import Secret
from medvault.store.entries import open_header
from tests.fuzz.regressions import regressions
from tests.fuzz.targets import RECORD_SEP, TARGETS, VAULT_ID, pack_prelude

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
BODY_AT = 8 + 2 + 2 + 16 + 8  # vault header: magic, version, flags, vault id, seq

Seeds = dict[str, list[bytes]]


def _header_seeds(seeds: Seeds, data: bytes) -> None:
    seeds["vault_header"].append(data)
    body_len = int.from_bytes(data[BODY_AT : BODY_AT + 4], "big")
    seeds["header_body"].append(data[BODY_AT + 4 : BODY_AT + 4 + body_len])


def _pack_seeds(seeds: Seeds, objects: list[bytes]) -> None:
    """Pack files of the fuzz vault holding the vectors' objects (entry + payload)."""
    prelude = pack_prelude()
    seeds["pack_file"] += [prelude + obj for obj in objects]
    seeds["pack_file"].append(prelude + b"".join(objects[:3]))
    seeds["pack_file"].append(prelude)


def _entry_seeds(seeds: Seeds, vmk: Secret, vault_id: bytes, data: bytes) -> None:
    """DATA starts with one entry (its payload may follow)."""
    try:
        hlen = efmt.peek_header_len(data[:12])
    except MedvaultError:  # an invalid vector: keep its bytes as they are
        seeds["entry"].append(data[:4096])
        return
    seeds["entry"].append(data[:hlen])
    try:
        opened = open_header(VaultKeys(vmk, vault_id), data[:hlen])
    except MedvaultError:
        return
    kind = b"\x01" if opened.header.kind == efmt.Kind.FILE else b"\x00"
    seeds["entry_meta"].append(kind + opened.meta)
    seeds["meta"].append(opened.meta)


def _journal_seeds(seeds: Seeds, vmk: Secret, vault_id: bytes, data: bytes) -> None:
    """The journal (rebound to the fuzz vault id) and its decrypted records."""
    seeds["index_journal"].append(ifmt.prelude(VAULT_ID) + data[ifmt.PRELUDE_LEN :])
    key = VaultKeys(vmk, vault_id).index()
    plains = []
    try:
        records = ifmt.split(data).records
    except MedvaultError:
        records = []  # a vector whose record length is impossible: the journal seed only
    for raw in records:
        try:
            plains.append(
                gcm_open(key, raw.nonce, raw.ciphertext, ifmt.aad(vault_id, raw.record_no))
            )
        except MedvaultError:
            break
    seeds["index_record"] += [*plains, RECORD_SEP.join(plains)]


def _log_seeds(seeds: Seeds, vmk: Secret, vault_id: bytes, data: bytes, name: str) -> None:
    seeds["custody_log"].append(data)
    try:
        sealed = clfmt.decode(data, name)
        plain = gcm_open(
            VaultKeys(vmk, vault_id).custody_log(), sealed.nonce, sealed.ciphertext, sealed.aad
        )
    except MedvaultError:  # an invalid vector: its envelope is seed enough
        return
    seeds["custody_event"].append(plain)


def from_vectors(seeds: Seeds) -> int:
    paths = sorted(VECTORS.glob("*.json"))
    valid_objects = []
    for path in paths:
        vector: dict[str, Any] = json.loads(path.read_text())
        data = base64.b64decode(vector["data"])
        vmk = Secret(bytes.fromhex(vector["vault_key"]))
        vault_id = bytes.fromhex(vector["vault_id"])
        kind = vector["kind"]
        if kind == "vault_header":
            _header_seeds(seeds, data)
        elif kind == "object":
            _entry_seeds(seeds, vmk, vault_id, data)
            if vector["expect"] == "success" and len(data) < 20_000:
                valid_objects.append(data)
        elif kind == "index":
            _journal_seeds(seeds, vmk, vault_id, data)
        elif kind == "path_index":
            seeds["path_index"].append(b"\x00" + data)  # as the file (another vault's key)
        elif kind == "pack":
            continue  # its entries are object vectors' entries; packs are made below
        else:
            _log_seeds(seeds, vmk, vault_id, data, vector["file_name"])
    _pack_seeds(seeds, valid_objects)
    _path_index_seeds(seeds)
    return len(paths)


def _path_index_seeds(seeds: Seeds) -> None:
    """An authentic directory and page for the fuzz vault (odd first byte: see the target)."""
    from medvault.format import path_index_file as xfmt

    row = ["00" * 16, "a" * 26, 0, 120, 72, "lab/a.csv", 0, "0" * 64, "2026-11-23T09:00:00Z", 0, []]
    page = xfmt.encode_page([row])
    length = xfmt.NONCE_LEN + len(page) + 16
    directory = xfmt.Directory(
        xfmt.Covers(0, 512, 512, ""),
        1,
        ("a" * 26,),
        (xfmt.PageRef("lab/a.csv", "lab/a.csv", xfmt.PRELUDE_LEN, length, 1),),
    ).encode()
    seeds["path_index"].append(b"\x01" + directory + RECORD_SEP + page)
    seeds["path_index"].append(b"\x01" + directory)


def from_library(seeds: Seeds, root: Path) -> None:
    """A real vault: create, add (one file spans three parts), rm; then harvest its files."""
    from medvault.engine.catalog import load_catalog
    from medvault.engine.session import open_headers, unlock
    from medvault.keys.passphrase import to_secret
    from medvault.registry.sql import Registry
    from medvault.store.packs import PackReader, list_packs
    from medvault.vault.add import add_files
    from medvault.vault.create import create_vault
    from medvault.vault.env import Env
    from medvault.vault.maintenance import remove_paths
    from tests.conftest import FAST_KDF, PASSPHRASE, make_workspace

    ws = make_workspace(root / "ws")
    drive = root / "drive"
    drive.mkdir()
    registry, env = Registry("sqlite://"), Env(kdf=FAST_KDF)
    org = ws.org
    create_vault(drive, "fuzz", to_secret(PASSPHRASE), org, registry, env, part_size=64 * 1024)
    src = root / "src"
    (src / "lab").mkdir(parents=True)
    (src / "lab" / "results-ü.csv").write_text("mrn,result\n1,ok\n")
    (src / "notes.txt").write_bytes(b"x" * 150_000)  # three 64 KiB parts
    (src / "empty").write_bytes(b"")
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    add_files(vault, [src], False, registry, env)
    remove_paths(vault, ["src/empty"], registry, env)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    paths, vmk, vid = vault.paths, vault.keys.vault_key(), vault.vault_id

    for header in (paths.header_a, paths.header_b):
        _header_seeds(seeds, header.read_bytes())
    for part in sorted(paths.objects.rglob("*.mv?")):
        seeds["pack_prelude"].append(part.read_bytes()[: pfmt.PRELUDE_LEN])
    for name in list_packs(paths):
        seeds["pack_prelude"].append(name.encode())
        with PackReader(paths, vid, name, vault.part_size) as reader:
            for loc in load_catalog(vault).located.values():
                if loc.pack == name:
                    _entry_seeds(seeds, vmk, vid, reader.read(loc.offset, loc.header_len))
    _journal_seeds(seeds, vmk, vid, paths.journal.read_bytes())
    for log in sorted(paths.log.glob("*.mve")):
        _log_seeds(seeds, vmk, vid, log.read_bytes(), log.name)

    toml = ws.org_created.config_path.read_text()
    seeds["org_config"].append(toml.encode())
    seeds["org_config"].append(f'registry = "postgresql://medvault@db/medvault"\n{toml}'.encode())
    share_files = [p.read_bytes() for p in ws.org_created.share_paths]
    seeds["shares"] += share_files
    words = [next(ln for ln in s.decode().splitlines() if ln and ln[0] != "#") for s in share_files]
    seeds["shares"].append("\n".join(words[:2]).encode())  # two of three: combines
    seeds["shares"].append(words[0].rsplit(" ", 1)[0].encode() + b" academic")  # typo


def build(out: Path) -> dict[str, int]:
    """Write every target's seeds under OUT/<target>/; returns the count per target."""
    seeds: Seeds = defaultdict(list)
    from_vectors(seeds)
    with tempfile.TemporaryDirectory(prefix="medvault-fuzz-seeds-") as tmp:
        from_library(seeds, Path(tmp))
    for case in regressions():
        seeds[case.target].append(case.data)
    for _ in range(3):
        code, _secret = recovery_code.generate()
        seeds["recovery_code"] += [code.encode(), code.replace("-", " ").encode()]
    for data in list(seeds["meta"]):
        try:
            seeds["meta"].append(json.loads(data)["path"].encode())
        except (ValueError, KeyError, TypeError):
            continue
    counts = {}
    for target in TARGETS:
        folder = out / target
        folder.mkdir(parents=True, exist_ok=True)
        unique = {hashlib.sha1(s).hexdigest(): s for s in seeds[target]}  # noqa: S324
        for digest, data in unique.items():
            (folder / digest).write_bytes(data)
        counts[target] = len(unique)
    return counts


if __name__ == "__main__":
    for target, count in build(Path(sys.argv[1])).items():
        print(f"{target}: {count} seeds")
