"""The path index as the format vectors record it (tests/vectors/path_index_*.json)."""

from __future__ import annotations

from typing import Any

from medvault.format.index_records import Located


def page_row(loc: Located) -> list[Any]:
    """A page row (docs/FORMAT.md section 12): the fields of LOC in the order a page
    stores them."""
    return [
        loc.file_id,
        loc.pack,
        loc.offset,
        loc.header_len,
        loc.payload_len,
        loc.path,
        loc.size,
        loc.sha256,
        loc.added_at,
        loc.mtime_ns,
        list(loc.references),
    ]
