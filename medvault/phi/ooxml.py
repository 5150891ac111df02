"""Office Open XML packages (XLSX, DOCX) read with hard bounds: a ZIP archive is opened
only if its file size, its central directory's size and entry count (checked from its end
records before zipfile reads the directory: zipbounds), each part's size and compression
ratio, and the total it would inflate to are within Limits; parts are streamed through
defusedxml (no DTDs, entities or external references: no billion laughs, no XXE) and a
part that inflates past its declared size is cut off. Nothing is ever inflated whole
into memory."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import defusedxml
import defusedxml.ElementTree as SafeET

from medvault.phi.model import MIB, Limits, Skipped
from medvault.phi.textfile import open_regular
from medvault.phi.zipbounds import check_directory

BIG_PART = 1 * MIB  # the ratio check applies to parts larger than this


def local(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rpartition("}")[2]


class _Bounded:
    """A part's stream that refuses to give more than LIMIT bytes."""

    def __init__(self, raw: IO[bytes], limit: int, name: str) -> None:
        self._raw, self._left, self._name = raw, limit, name

    def read(self, size: int = -1) -> bytes:
        want = 64 * 1024 if size is None or size < 0 else size
        data = self._raw.read(min(want, self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise Skipped("refused", f"{self._name} inflates past its size limit")
        return data


class Package:
    """A bounded view of one OOXML file."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self._limits = limits
        self._inflated = 0
        handle = open_regular(path)
        try:
            check_directory(handle, limits)  # before zipfile parses the whole directory
            self._zip = zipfile.ZipFile(handle)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
            handle.close()
            raise Skipped("unreadable", f"damaged ZIP archive ({exc.__class__.__name__})") from None
        except BaseException:
            handle.close()
            raise
        self._handle = handle
        if len(infos) > limits.max_zip_entries:  # check_directory counted them already
            self.close()
            raise Skipped("refused", f"ZIP archive with more than {limits.max_zip_entries} entries")
        self._infos = {info.filename: info for info in infos}

    def close(self) -> None:
        self._zip.close()
        self._handle.close()

    def __enter__(self) -> Package:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def names(self) -> list[str]:
        return list(self._infos)

    def has(self, name: str) -> bool:
        return name in self._infos

    def _check(self, info: zipfile.ZipInfo) -> None:
        limits = self._limits
        if info.flag_bits & 0x1:
            raise Skipped("unsupported", "encrypted ZIP entry")
        if info.file_size > limits.max_xml_bytes:
            raise Skipped(
                "refused",
                f"{info.filename} would inflate to {info.file_size >> 20} MiB "
                f"(limit {limits.max_xml_bytes >> 20} MiB)",
            )
        if info.file_size > BIG_PART and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise Skipped("refused", f"{info.filename}: compression ratio over {limits.max_ratio}")
        self._inflated += info.file_size
        if self._inflated > limits.max_zip_total:
            raise Skipped(
                "refused", f"archive inflates past {limits.max_zip_total >> 20} MiB in all"
            )

    @contextmanager
    def _open(self, name: str) -> Iterator[_Bounded]:
        info = self._infos[name]
        self._check(info)
        try:
            with self._zip.open(info) as raw:
                yield _Bounded(raw, info.file_size, name)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise Skipped("unreadable", f"damaged part {name} ({exc.__class__.__name__})") from None

    def iterparse(self, name: str, events: tuple[str, ...] = ("end",)) -> Iterator[tuple[str, Any]]:
        """(event, element) pairs of one part, parsed safely; the caller clears elements."""
        with self._open(name) as stream:
            try:
                yield from SafeET.iterparse(stream, events=events, forbid_dtd=True)
            except defusedxml.DefusedXmlException as exc:
                raise Skipped(
                    "refused", f"{name}: XML with a DTD or entities ({exc.__class__.__name__})"
                ) from None
            except SafeET.ParseError:
                raise Skipped("unreadable", f"{name} is not well-formed XML") from None


def kind_of(path: Path, limits: Limits) -> str | None:
    """'xlsx' or 'docx' for a ZIP archive that is one of those, whatever its name."""
    with Package(path, limits) as package:
        if package.has("xl/workbook.xml"):
            return "xlsx"
        if package.has("word/document.xml"):
            return "docx"
    return None
