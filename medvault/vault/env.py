"""What a use case needs from the outside world, passed in so tests stay deterministic."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from medvault.crypto.kdf import RFC9106_LOW_MEMORY, Argon2Params
from medvault.registry.records import Actor
from medvault.workstation.host import host_name


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """2026-11-23T09:30:18.123456Z (isoformat is several times faster than strftime, and
    add stamps every file)."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def stamp(moment: datetime) -> str:
    """A UTC time for folder names (exports/NAME/<stamp>/, scan/<stamp>/)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def current_actor(person: str | None = None) -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError, ImportError):  # ImportError: no pwd module (Windows)
        user = "unknown"
    # The declared person: PERSON (`medvault --as NAME`), else $MEDVAULT_PERSON.
    declared = person or os.environ.get("MEDVAULT_PERSON") or ""
    person = "".join(c for c in declared if c.isprintable())[:200].strip() or None
    return Actor(user=user, host=host_name(), person=person)


def warn_on_stderr(message: str) -> None:
    sys.stderr.write(f"medvault: warning: {message}\n")


@dataclass(frozen=True)
class Env:
    actor: Actor = field(default_factory=current_actor)
    now: Callable[[], datetime] = utc_now
    kdf: Argon2Params = RFC9106_LOW_MEMORY
    warn: Callable[[str], None] = warn_on_stderr

    def timestamp(self) -> str:
        return iso(self.now())
