"""Custody registries on both backends, for tests that make the same checks on SQLite and
on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from medvault.registry.records import Event
from medvault.registry.sql import Registry

BACKENDS = ["sqlite", "postgresql"]


def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new registry on the backend REQUEST.param names (one of BACKENDS): a
    SQLite file in TMP_PATH, or a fresh database from the pg_url fixture."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


def registry_with(url: str, events: Iterable[Event]) -> Registry:
    """The registry at URL with EVENTS appended, in order."""
    registry = Registry.for_url(url)
    for event in events:
        registry.append_event(event)
    return registry
