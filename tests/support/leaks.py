"""Whether a value leaked into text that also holds random hex (ids, digests).

A value of hex digits alone (an MRN, an SSN without dashes) can turn up by chance inside a
random hex string: "70451239" sits somewhere in a few hundred random hex digits about once
in 10 million runs. A leak of the value is never glued into a longer hex run, so such a
value counts only where no hex digit touches it; any other value counts wherever it is."""

from __future__ import annotations

import re
import string

_HEX = set(string.hexdigits)


def shows(value: str, text: str) -> bool:
    """Whether TEXT holds VALUE (case as given), not as a piece of a longer hex run."""
    if value and set(value) <= _HEX:
        return re.search(rf"(?<![0-9A-Fa-f]){re.escape(value)}(?![0-9A-Fa-f])", text) is not None
    return value in text
