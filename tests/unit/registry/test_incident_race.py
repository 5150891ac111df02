"""One loss is one incident even when several officers report it at
the same moment. The vault's flag and the "lost" event are written in one transaction
under the writers' lock, so of N concurrent `report_lost` calls exactly one opens the
incident and the others add to it. Real processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from medvault.registry.records import Actor, Event, KeyPackage
from medvault.registry.sql import Registry
from medvault.vault.env import Env
from medvault.vault.incidents import report_lost
from tests.support.registries import BACKENDS, registry_url

VAULT = "0123456789abcdef0123456789abcdef"
REPORTERS = 6


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return registry_url(request, tmp_path)


def _registry_with_vault(url: str) -> Registry:
    registry = Registry.for_url(url)
    package = KeyPackage(VAULT, "aaaaaaaaaaaaaaaa", "mlkem768-x25519", b"\x01" * 40)
    alice = Actor("alice", "ws-01", "Alice Example")
    registry.record_vault(VAULT, "Lab", "org", "2026-11-20T10:00:00Z", alice, [package])
    registry.set_vault_status(VAULT, "active")
    return registry


def _report(url: str, n: int, start: Barrier) -> None:
    registry = Registry.for_url(url)
    start.wait()
    discovered = datetime(2026, 11, 20, 8, n, tzinfo=UTC)
    report_lost(registry, Env(), VAULT, discovered, f"officer {n}")
    registry.close()


def test_concurrent_reports_open_one_incident(url: str) -> None:
    registry = _registry_with_vault(url)
    context = multiprocessing.get_context("spawn")  # no shared engine or locks
    start = context.Barrier(REPORTERS)
    workers = [context.Process(target=_report, args=(url, n, start)) for n in range(REPORTERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    events = [s.event for s in registry.events(VAULT)]
    opened = [e for e in events if e.action == "lost"]
    added = [e for e in events if e.action == "lost-reported"]
    assert len(opened) == 1
    assert len(added) == REPORTERS - 1
    incident = opened[0].details["incident_id"]
    assert {e.details["incident_id"] for e in added} == {incident}
    assert registry.vault_status(VAULT) == "lost"
    assert registry.verify_chain() is None


def test_the_flag_and_its_event_are_one_step(url: str) -> None:
    """A change to a status the vault already has writes nothing at all."""
    registry = _registry_with_vault(url)
    alice = Actor("alice", "ws-01", None)
    first = Event("a" * 32, "2026-11-20T10:00:00.000000Z", alice, VAULT, "lost", {})
    second = Event("b" * 32, "2026-11-20T10:01:00.000000Z", alice, VAULT, "lost", {})
    assert registry.append_event_changing_status(first, "lost") is True
    assert registry.vault_status(VAULT) == "lost"
    assert registry.append_event_changing_status(second, "lost") is False
    assert [s.event.event_id for s in registry.events(VAULT)] == ["a" * 32]
