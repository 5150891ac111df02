"""Finding labels ("DOB", "MRN", "Diagnosis") fast: patterns written in lower case with a
literal first character run over the lower-cased chunk, and the word boundary before the
label checked by hand. A case-insensitive pattern that starts with a look-behind is ten
times slower, and labels are searched for in every chunk."""

from __future__ import annotations

import re
from collections.abc import Iterator


def labels(
    pattern: re.Pattern[str],
    lower: str,
    start: int = 0,
    end: int | None = None,
    underscore: bool = True,
) -> Iterator[re.Match[str]]:
    """Matches of PATTERN in LOWER[START:END] that begin a word: not after a letter or a
    digit (nor after '_' or '-' unless UNDERSCORE, for "primary_diagnosis")."""
    stop = len(lower) if end is None else end
    for m in pattern.finditer(lower, start, stop):
        at = m.start()
        if at:
            before = lower[at - 1]
            if before.isalnum() or (not underscore and before in "_-"):
                continue
        yield m
