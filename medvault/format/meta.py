"""Encrypted object metadata (the plaintext inside meta_ct) and stored-path rules."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from medvault.errors import FormatError, UnsafePath
from medvault.format import canonical_json as cj

SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # fullmatch: no trailing newline as with $

MAX_PATH_BYTES = 4096
MAX_COMPONENT_BYTES = 255
MAX_REFERENCES = 1_000  # 1,000 ids x 35 bytes of JSON stays well under MAX_META


def normalize_path(path: str) -> str:
    """A stored path: relative, '/'-separated, NFC, no '.', '..', empty parts or NUL."""
    path = unicodedata.normalize("NFC", path)
    parts = path.split("/")
    if not path or path.startswith("/") or "\x00" in path or "\\" in path:
        raise UnsafePath(f"unsafe stored path {path!r}")
    try:
        path.encode()
    except UnicodeEncodeError:
        # A lone surrogate (an undecodable file name, or a JSON escape): not storable as UTF-8.
        raise UnsafePath(f"stored path {path!r} is not valid UTF-8") from None
    for part in parts:
        if part in ("", ".", "..") or len(part.encode()) > MAX_COMPONENT_BYTES:
            raise UnsafePath(f"unsafe stored path {path!r}")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise UnsafePath("stored path too long")
    return path


def _ids(values: list[Any], what: str) -> tuple[str, ...]:
    if len(values) > MAX_REFERENCES:
        raise FormatError(f"{what}: too many references")
    out = []
    for v in values:
        if not isinstance(v, str) or len(v) != 32 or any(c not in "0123456789abcdef" for c in v):
            raise FormatError(f"{what}: bad file id")
        out.append(v)
    return tuple(out)


# A file's metadata in canonical JSON (keys sorted), filled in by FileMeta.encode: the same
# bytes as cj.dumps of it when its fields have exactly _FIELD_TYPES (the encoder's own
# string function writes the strings).
_FILE_META_JSON = (
    '{"added_at":%s,"added_by":%s,"host":%s,"mtime_ns":%d,"path":%s,"replaces":[%s],'
    '"sha256":%s,"size":%d}'
)
_FIELD_TYPES = (str, int, str, int, str, str, str, tuple)  # FileMeta's, in order


@dataclass(frozen=True)
class FileMeta:
    path: str
    size: int
    sha256: str
    mtime_ns: int
    added_at: str
    added_by: str
    host: str
    replaces: tuple[str, ...] = ()

    def encode(self) -> bytes:
        fields = (self.path, self.size, self.sha256, self.mtime_ns, self.added_at,
                  self.added_by, self.host, self.replaces)  # fmt: skip
        if tuple(map(type, fields)) != _FIELD_TYPES or not all(
            type(ref) is str for ref in self.replaces
        ):
            return cj.dumps(self.as_record())
        # Every file added is sealed with this: a fixed text, not the encoder, per file.
        text = cj.string
        return (
            _FILE_META_JSON
            % (
                text(self.added_at),
                text(self.added_by),
                text(self.host),
                self.mtime_ns,
                text(self.path),
                ",".join(map(text, self.replaces)),
                text(self.sha256),
                self.size,
            )
        ).encode()

    def as_record(self) -> dict[str, Any]:
        """The metadata as the JSON object encode() writes in canonical form."""
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "mtime_ns": self.mtime_ns,
            "added_at": self.added_at,
            "added_by": self.added_by,
            "host": self.host,
            "replaces": list(self.replaces),
        }

    @staticmethod
    def decode(data: bytes) -> FileMeta:
        what = "object metadata"
        obj = cj.loads_object(data, what)
        sha = cj.field(obj, "sha256", str, what)
        if not SHA256_HEX.fullmatch(sha):
            raise FormatError(f"{what}: bad sha256")
        size = cj.field(obj, "size", int, what)
        if size < 0:
            raise FormatError(f"{what}: negative size")
        meta = FileMeta(
            path=normalize_path(cj.field(obj, "path", str, what)),
            size=size,
            sha256=sha,
            mtime_ns=cj.field(obj, "mtime_ns", int, what),
            added_at=cj.field(obj, "added_at", str, what),
            added_by=cj.field(obj, "added_by", str, what),
            host=cj.field(obj, "host", str, what),
            replaces=_ids(cj.field(obj, "replaces", list, what), what),
        )
        if len(obj) != 8:
            raise FormatError(f"{what}: unexpected fields")
        return meta


@dataclass(frozen=True)
class TombstoneMeta:
    removes: tuple[str, ...]
    at: str
    by: str
    host: str

    def encode(self) -> bytes:
        return cj.dumps(
            {"removes": list(self.removes), "at": self.at, "by": self.by, "host": self.host}
        )

    @staticmethod
    def decode(data: bytes) -> TombstoneMeta:
        what = "tombstone metadata"
        obj = cj.loads_object(data, what)
        meta = TombstoneMeta(
            removes=_ids(cj.field(obj, "removes", list, what), what),
            at=cj.field(obj, "at", str, what),
            by=cj.field(obj, "by", str, what),
            host=cj.field(obj, "host", str, what),
        )
        if len(obj) != 4:
            raise FormatError(f"{what}: unexpected fields")
        return meta
