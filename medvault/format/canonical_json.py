"""Canonical JSON for authenticated bodies, and a strict parser (no duplicate keys, no NaN)."""

from __future__ import annotations

import base64
import binascii
import json
import json.encoder
from collections.abc import Callable
from typing import Any

from medvault.errors import FormatError

# One encoder and one decoder for the process: json.dumps/loads with options build a new
# one on every call, which shows when every small file's metadata passes through here.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dumps(value: object) -> bytes:
    return _ENCODER.encode(value).encode()


def string(text: str) -> str:
    """TEXT as a JSON string, quotes included, exactly as dumps writes it (the encoder's
    own C function), for a writer that fills one fixed shape of object itself."""
    return json.encoder.encode_basestring(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # dict() in C, then a count: called for every object of every index record read.
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _val in pairs:
            if key in seen:
                raise FormatError(f"duplicate JSON key {key!r}")
            seen.add(key)
    return out


def _reject_constant(name: str) -> object:
    raise FormatError(f"JSON constant {name} is not allowed")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


def pairs_decoder(hook: Callable[[list[tuple[str, Any]]], Any]) -> json.JSONDecoder:
    """A decoder as strict as loads_object's own but that hands HOOK each object's (key,
    value) pairs as parsed, in order: HOOK must refuse duplicate keys itself (checked_object)
    unless it only takes one exact list of keys, which rules them out."""
    return json.JSONDecoder(object_pairs_hook=hook, parse_constant=_reject_constant)


def checked_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The object of PAIRS; FormatError if a key repeats."""
    return _no_duplicates(pairs)


def loads_object(data: bytes, what: str, decoder: json.JSONDecoder = _DECODER) -> dict[str, Any]:
    try:
        value = decoder.decode(data.decode("utf-8"))
    except FormatError as exc:
        raise FormatError(f"{what}: {exc.message}") from None
    except ValueError as exc:
        # Also UnicodeDecodeError, and an integer longer than Python's 4300-digit limit.
        raise FormatError(f"{what}: not valid JSON") from exc
    except RecursionError:
        raise FormatError(f"{what}: JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise FormatError(f"{what}: expected a JSON object")
    if b"\\u" in data:
        _check_encodable(value, what)
    return value


def _check_encodable(value: object, what: str) -> None:
    # A \ud800-style escape yields a lone surrogate, which no UTF-8 writer can re-encode.
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise FormatError(f"{what}: JSON string holds an unpaired surrogate") from None


def field(obj: object, key: str, kind: type, what: str) -> Any:
    """obj[key], checked to be of exactly ``kind`` (bool is not accepted as int)."""
    if not isinstance(obj, dict):
        raise FormatError(f"{what}: expected a JSON object")
    if key not in obj:
        raise FormatError(f"{what}: missing {key!r}")
    value = obj[key]
    if kind is int and isinstance(value, bool):
        raise FormatError(f"{what}: {key!r} must be an integer")
    if not isinstance(value, kind):
        raise FormatError(f"{what}: {key!r} has the wrong type")
    return value


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str, max_len: int) -> bytes:
    """TEXT as standard padded base64 (RFC 4648 section 4) of at most MAX_LEN bytes, in its
    one spelling: b64decode alone lets stray `=` and nonzero padding bits through, so two
    texts could carry one value, and its length cap rounds up to whole groups."""
    if len(text) > (max_len + 2) // 3 * 4:  # bounds the work before decoding
        raise FormatError(f"{what}: value too long")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise FormatError(f"{what}: bad base64") from exc
    if len(raw) > max_len:
        raise FormatError(f"{what}: value too long")
    if b64(raw) != text:
        raise FormatError(f"{what}: base64 is not in its canonical form")
    return raw
