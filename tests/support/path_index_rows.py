"""The path index as the format vectors record it (tests/vectors/path_index_*.json)."""

from __future__ import annotations

from typing import Any

from medvault.format.index_records import Located

# A page row's columns in order (docs/FORMAT.md section 12), the last one a list of ids.
PAGE_COLUMNS = (
    "file_id", "pack", "offset", "header_len", "payload_len", "path", "size", "sha256",
    "added_at", "mtime_ns",
)  # fmt: skip


def page_row(loc: Located) -> list[Any]:
    """A page row (docs/FORMAT.md section 12): LOC's fields in the order a page stores
    them, then the file ids it references."""
    return [*(getattr(loc, column) for column in PAGE_COLUMNS), list(loc.references)]
