"""Inputs that made a parser raise something other than a MedvaultError (or hang), each
kept after its fix: test_fuzz.py replays them, and they join the seed corpus.

`error` is the typed error the input must now give (None: it must parse).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from medvault.errors import FormatError, MedvaultError, OrgConfigMissing

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


@dataclass(frozen=True)
class Regression:
    name: str
    target: str
    data: bytes
    error: type[MedvaultError] | None
    was: str  # what escaped before the fix


def valid_body() -> str:
    """The JSON body of tests/vectors/header_valid.json (canonical form)."""
    vector = json.loads((VECTORS / "header_valid.json").read_text())
    data = base64.b64decode(vector["data"])
    length = int.from_bytes(data[36:40], "big")
    return data[40 : 40 + length].decode()


def _recovery_slot(slot_id: int) -> str:
    salt, wrapped = base64.b64encode(bytes(32)).decode(), base64.b64encode(bytes(40)).decode()
    return (
        f'{{"created_at":"2026-11-22T12:00:00.000000Z","id":{slot_id},'
        f'"salt":"{salt}","type":"recovery_code","wrapped":"{wrapped}"}}'
    )


def _with_recovery_slot(body: str, slot_id: int) -> str:
    return body.replace('"}]}', f'"}},{_recovery_slot(slot_id)}]}}')


def _org_toml(public_key: str = "AAAA", extra: str = "") -> bytes:
    return (
        'format = 1\nname = "Org"\ncontact = "c"\norg_id = "o"\n\n[[escrow_keys]]\n'
        'key_id = "0011223344556677"\nsuite = "p384"\nadmins = ["a", "b"]\n'
        f'created_at = "now"\nstatus = "active"\npublic_key = "{public_key}"\n{extra}'
    ).encode()


def regressions() -> list[Regression]:
    body = valid_body()
    header_body = [
        ("json_nested_deep", b"[" * 50_000, "RecursionError"),
        ("json_int_5000_digits", b'{"format":' + b"1" * 5000 + b"}", "ValueError"),
        (
            "json_lone_surrogate",
            body.replace('"label":"vector"', '"label":"\\ud800"').encode(),
            "UnicodeEncodeError (re-encoding the body for the canonical check)",
        ),
        ("slot_id_a_list", body.replace('"id":1,', '"id":[1],').encode(), "TypeError"),
        (
            "recovery_slot_id_2_to_40",
            _with_recovery_slot(body, 1 << 40).encode(),
            "struct.error (u32 slot id in the recovery-code key derivation)",
        ),
        (
            "kdf_t_17",
            body.replace('"t":1,', '"t":17,').encode(),
            "accepted by the parser (refused only at unlock)",
        ),
        (
            "kdf_memory_1_tib",
            body.replace('"m_kib":8192', '"m_kib":1073741824').encode(),
            "accepted by the parser (refused only at unlock)",
        ),
        (
            "kdf_p_0",
            body.replace('"p":1,', '"p":0,').encode(),
            "accepted by the parser (refused only at unlock)",
        ),
    ]
    out = [Regression(n, "header_body", d, FormatError, w) for n, d, w in header_body]
    out.append(
        Regression(
            "recovery_slot_valid", "header_body", _with_recovery_slot(body, 2).encode(), None, ""
        )
    )
    out += [
        Regression(
            "index_entry_not_an_object",
            "index_record",
            b'{"entries":[5],"op":"add","pack":"x"}',
            None,  # the reader treats a bad index as damage and scans the packs
            "TypeError ('in' on an int)",
        ),
        Regression(
            "meta_path_lone_surrogate",
            "meta",
            b'{"added_at":"a","added_by":"b","host":"h","mtime_ns":0,"path":"\\udcff",'
            b'"replaces":[],"sha256":"' + b"0" * 64 + b'","size":0}',
            None,  # the target swallows the FormatError of both decoders
            "UnicodeEncodeError in normalize_path",
        ),
        Regression(
            "pack_name_spare_bits",
            "pack_prelude",
            b"aaaaaaaaaaaaaaaaaaaaaaaaab",
            FormatError,
            "AssertionError: a second name for the same pack id",
        ),
        Regression(
            "org_public_key_not_ascii",
            "org_config",
            _org_toml(public_key="é"),
            OrgConfigMissing,
            "ValueError",
        ),
        Regression(
            "org_toml_nested_deep",
            "org_config",
            b"a = " + b"[" * 5000,
            OrgConfigMissing,
            "RecursionError",
        ),
        Regression(
            "org_toml_int_5000_digits",
            "org_config",
            b"a = " + b"1" * 5000,
            OrgConfigMissing,
            "ValueError",
        ),
        Regression(
            "org_threshold_bool",
            "org_config",
            _org_toml(extra="threshold = true\n"),
            OrgConfigMissing,
            "AssertionError: rendered as `threshold = True`, which is not TOML, so the "
            "org.toml that `org rotate` or `org reshare` writes back would not load",
        ),
        Regression(
            "org_admin_not_text",
            "org_config",
            _org_toml().replace(b'["a", "b"]', b"[1, {x = 2}]"),
            OrgConfigMissing,
            "nothing: a number or a table silently became an admin name",
        ),
        Regression(
            "share_1001_words",
            "shares",
            b"academic " * 1001,  # a length whose padding passes: the checksum is tried
            None,  # the target swallows the ShareError; test_fuzz times it
            "timeout: the typo search is quadratic in the word count",
        ),
        Regression(
            "index_drop_unhashable_pack",
            "index_record",
            b'{"op":"drop","packs":[[1]]}',
            None,
            "TypeError: unhashable type: 'list' in engine/catalog.py (now index damage)",
        ),
        Regression(
            "index_refs_unhashable",
            "index_record",
            b'{"entries":[{"added_at":"a","hlen":1,"id":"a","kind":1,"mtime_ns":0,"off":0,'
            b'"path":"p","plen":1,"refs":[{}],"sha256":"s","size":1}],"op":"add","pack":"x"}',
            None,
            "TypeError: unhashable type: 'dict' in Catalog.place (now index damage)",
        ),
    ]
    return out
