"""Small properties of the building blocks: labels, secrets, caps, paths, strict parsing."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medvault.config import DEFAULT_PASSPHRASE_POLICY
from medvault.crypto import labels
from medvault.crypto.kdf import Argon2Params
from medvault.engine.catalog import Located
from medvault.engine.landing import Target
from medvault.errors import (
    AlreadyExists,
    FormatError,
    UnsafePath,
    UnsupportedVersion,
    WeakPassphrase,
)
from medvault.format import canonical_json as cj
from medvault.format import entry as efmt
from medvault.format import vault_header as hfmt
from medvault.format.meta import FileMeta, normalize_path
from medvault.keys.passphrase import check_strength, generate
from medvault.secret import Secret
from medvault.vault.reading import Destinations, check_targets


def test_labels_are_distinct_and_prefix_free() -> None:
    framed = [label + b"\x00" for label in labels.ALL]
    assert len(set(framed)) == len(framed)
    for a in framed:
        for b in framed:
            assert a == b or not b.startswith(a)
    module_labels = {v for k, v in vars(labels).items() if k.isupper() and isinstance(v, bytes)}
    assert module_labels == set(labels.ALL)


def test_secret_never_shows_its_value() -> None:
    secret = Secret(b"hunter2-hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
    with pytest.raises(TypeError):
        hash(secret)


@pytest.mark.parametrize(
    "params",
    [
        Argon2Params(17, 65536, 4),
        Argon2Params(3, 4 * 1024 * 1024 + 1, 4),
        Argon2Params(3, 65536, 17),
        Argon2Params(0, 65536, 4),
        Argon2Params(3, 1024, 4),
    ],
)
def test_argon2_caps(params: Argon2Params) -> None:
    with pytest.raises(FormatError):
        params.check()


@pytest.mark.parametrize(
    "bad", ["", "/etc/passwd", "a/../b", "./a", "a//b", "a\\b", "a\x00b", "..", "x/" * 3000]
)
def test_unsafe_stored_paths(bad: str) -> None:
    with pytest.raises(UnsafePath):
        normalize_path(bad)


def test_destination_cannot_escape(tmp_path: Path) -> None:
    assert Destinations(tmp_path).of("a/b.txt").path == tmp_path / "a" / "b.txt"
    with pytest.raises(UnsafePath):
        Destinations(tmp_path).of("../outside.txt")
    (tmp_path / "link").symlink_to("/tmp")
    with pytest.raises(UnsafePath):
        Destinations(tmp_path).of("link/escape.txt")
    # A sibling whose name starts with the destination's is still outside it.
    (tmp_path / "out").mkdir()
    (tmp_path / "out-evil").mkdir()
    (tmp_path / "out" / "twin").symlink_to(tmp_path / "out-evil")
    with pytest.raises(UnsafePath):
        Destinations(tmp_path / "out").of("twin/escape.txt")
    # A destination reached through a link is fine, and so are links that stay inside.
    (tmp_path / "via").symlink_to(tmp_path / "out")
    (tmp_path / "out" / "inner").symlink_to(tmp_path / "out" / "real")
    (tmp_path / "out" / "real").mkdir()
    assert Destinations(tmp_path / "via").of("inner/x").path == tmp_path / "via" / "inner" / "x"
    assert Destinations(tmp_path / "via").of("top.txt").path == tmp_path / "via" / "top.txt"


def test_passphrase_policy() -> None:
    policy = DEFAULT_PASSPHRASE_POLICY
    with pytest.raises(WeakPassphrase):
        check_strength("short", policy)
    with pytest.raises(WeakPassphrase):
        check_strength("a" * 20, policy)
    with pytest.raises(WeakPassphrase):  # 15 characters, but about 10^11 guesses
        check_strength("fifteen chars!!", policy)
    check_strength("fifteen chars!! and four more words", policy)
    with pytest.raises(WeakPassphrase):
        check_strength("x" * 1025, policy)
    words = generate().split("-")
    assert len(words) == 8
    assert generate() != generate()


def test_strict_json() -> None:
    with pytest.raises(FormatError, match="duplicate"):
        cj.loads_object(b'{"a":1,"a":2}', "x")
    with pytest.raises(FormatError):
        cj.loads_object(b'{"a":NaN}', "x")
    with pytest.raises(FormatError):
        cj.loads_object(b"[1]", "x")
    with pytest.raises(FormatError):
        cj.field({"n": True}, "n", int, "x")


@given(st.binary(max_size=300))
def test_entry_parser_never_crashes_on_garbage(data: bytes) -> None:
    try:
        efmt.decode(data)
    except FormatError:
        pass
    except Exception as exc:  # pragma: no cover - the property under test
        raise AssertionError(f"unexpected {exc!r}") from exc


@given(st.binary(max_size=400))
def test_header_parser_never_crashes_on_garbage(data: bytes) -> None:
    with contextlib.suppress(FormatError, UnsupportedVersion):
        hfmt.decode(b"MEDVAULT" + data)


def test_canonical_json_round_trip() -> None:
    value = {"b": [1, "ü"], "a": {"z": None}}
    assert (
        cj.dumps(value)
        == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


@pytest.mark.parametrize(
    "sha", ["0" * 63, "0" * 65, "A" * 64, "g" + "0" * 63, "0" * 64 + "\n", "\uff10" * 64]
)
def test_object_metadata_refuses_a_digest_that_is_not_64_lowercase_hex_digits(sha: str) -> None:
    good = FileMeta("a.txt", 1, "0" * 64, 0, "2026-11-23T00:00:00.000000Z", "u", "h", ())
    assert FileMeta.decode(good.encode()) == good
    bad = good.encode().replace(b"0" * 64, json.dumps(sha).strip('"').encode())
    with pytest.raises(FormatError, match="bad sha256"):
        FileMeta.decode(bad)


def test_first_existing_target_is_found_in_old_folders_only(tmp_path: Path) -> None:
    def targets(*paths: str) -> list[tuple[Located, Target]]:
        return [
            (Located("0" * 32, "p", 0, 0, 0, 1, path), Destinations(tmp_path).of(path))
            for path in paths
        ]

    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "there.txt").write_bytes(b"x")
    fresh = targets("new/a.txt", "new/b.txt", "old/missing.txt", "top.txt")
    assert check_targets(tmp_path, fresh, force=False) == (False, 4)  # not FAT, all small
    clash = targets("new/a.txt", "old/missing.txt", "old/there.txt", "new/b.txt")
    with pytest.raises(AlreadyExists, match=r"there\.txt already exists"):
        check_targets(tmp_path, clash, force=False)
    assert check_targets(tmp_path, clash, force=True).fat is False
    (tmp_path / "top.txt").write_bytes(b"y")
    with pytest.raises(AlreadyExists, match=r"top\.txt already exists"):
        check_targets(tmp_path, targets("new/a.txt", "top.txt"), force=False)
