"""The lost-drive report's passphrase-policy finding (reports/lost.py
`_policy_verdict`: a recorded check that did not pass is "not met", whatever its estimate).

tests/unit/keys/test_passphrase_strength.py::test_report_fails_when_a_later_passphrase_was_weak
kills "ignore the recorded met" only because that weak passphrase's estimate is also
below the floor. Here the passphrase given later has a high estimate and fails the policy
on another rule (14 characters, at least 15): only the recorded `met` says it failed. And
a record that says met although its own estimate is below its floor is not trusted.
Each test fails with the check it names removed.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from medvault.config import DEFAULT_PASSPHRASE_POLICY
from medvault.engine.session import open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.registry.records import Actor, Event
from medvault.vault.env import Env
from medvault.vault.maintenance import change_passphrase
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.lost_book import policy_finding

SHORT_BUT_STRONG = "kx7#Qp2@vL9!mZ"  # 14 random characters: a high estimate, too short


def _policy_records(ws: Workspace, vault_id: str) -> list[dict[str, object]]:
    registry = ws.registry()
    try:
        events = registry.events(vault_id)
    finally:
        registry.close()
    return [s.event.details["passphrase_policy"] for s in events if s.event.action != "create"]


@pytest.mark.parametrize("action", ["passwd", "recover-reset"])
def test_a_later_passphrase_that_failed_the_policy_is_not_met_whatever_its_estimate(
    ws: Workspace, drive: Path, action: str
) -> None:
    vault_id = ws.create_fast(drive, "Lab exports")
    assert policy_finding(ws, vault_id).title == "Passphrase policy met"  # the control
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    registry = ws.registry()
    try:
        # Through the library, without the CLI's refusal: the check is recorded, failed.
        change_passphrase(vault, to_secret(SHORT_BUT_STRONG), registry, Env(kdf=FAST_KDF), action)
    finally:
        registry.close()
    (record,) = _policy_records(ws, vault_id)
    assert record["met"] is False
    assert isinstance(record["guesses_log10"], float)
    assert record["guesses_log10"] >= DEFAULT_PASSPHRASE_POLICY.min_guesses_log10
    finding = policy_finding(ws, vault_id)
    assert (finding.holds, finding.title) == (False, "Passphrase policy not met")


def test_a_record_that_says_met_below_its_own_floor_is_not_trusted(
    ws: Workspace, drive: Path
) -> None:
    vault_id = ws.create_fast(drive, "Lab exports")
    registry = ws.registry()
    try:
        claimed = {
            "min_length": 15, "min_guesses_log10": 12.0, "guesses_log10": 8.0,
            "estimator": "zxcvbn 4.5.0", "met": True,
        }  # fmt: skip
        at = "2026-11-25T10:00:00.000000Z"
        passwd = {"passphrase_policy": claimed}
        actor = Actor("alice", "ws-01")
        registry.append_event(Event(uuid.uuid4().hex, at, actor, vault_id, "passwd", passwd))
    finally:
        registry.close()
    finding = policy_finding(ws, vault_id)
    assert (finding.holds, finding.title) == (False, "Passphrase strength not verified")
