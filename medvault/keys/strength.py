"""How guessable a passphrase is: zxcvbn's estimate (common and breached passwords,
keyboard walks, repeats, sequences, dates, l33t) with the org's and vault's own names
as words an attacker would try first."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

# zxcvbn refuses longer input; its cost grows with length. The first 72 characters of a
# passphrase that long already carry any strength the policy asks for.
MAX_ESTIMATED = 72
MAX_CONTEXT_WORDS = 8  # of each name: bounds the user-input list


@dataclass(frozen=True)
class Estimate:
    guesses_log10: float
    warning: str  # zxcvbn's fixed text ("This is a very common password."); never the input


@functools.cache
def estimator() -> str:
    """What made the estimate, for the record: the library and its version."""
    # Imported here: importlib.metadata costs ~10 ms at every start of a command that
    # unlocks (cli/passphrase imports this module), and only setting a passphrase asks.
    from importlib.metadata import version

    return f"zxcvbn {version('zxcvbn')}"


def estimate(passphrase: str, context: tuple[str, ...] = ()) -> Estimate:
    # Imported here: its word lists cost ~10 MiB and ~0.1 s, which only the commands that
    # set a passphrase should pay (add, ls, extract stay under their memory gate).
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # no stubs published

    result = zxcvbn(passphrase[:MAX_ESTIMATED], user_inputs=list(context))
    warning = str(result["feedback"]["warning"] or "")
    return Estimate(math.log10(float(result["guesses"])), warning)


def context_words(*names: str | None) -> tuple[str, ...]:
    """Each name's runs of consecutive words, with and without spaces, so 'St Example
    Clinic' makes 'StExampleClinic2026!' and 'Example Clinic 2026!!' cheap to guess."""
    found: list[str] = []
    for name in names:
        words = (name or "").lower().split()[:MAX_CONTEXT_WORDS]
        for start in range(len(words)):
            for end in range(start + 1, len(words) + 1):
                run = words[start:end]
                found += [" ".join(run), "".join(run)]
    return tuple(dict.fromkeys(w for w in found if w))
