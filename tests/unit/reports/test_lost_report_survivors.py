"""The mutants of reports/lost.py that survived the quick pool,
each killed by a direct test of the function it changes (no registry: these run in
milliseconds). Each case was checked to fail with its mutant applied to a scratch copy of
medvault and to pass on the real tree. The mutants no input can tell apart are listed in
the campaign's allowlist with the call site that makes them equivalent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from medvault.registry.records import Actor, Event, StoredEvent, VaultRecord
from medvault.reports import lost
from medvault.reports.lost_model import Contents

ALICE = Actor("alice", "ws-01", "Alice Admin")
VAULT = VaultRecord(
    "c" * 32, "Lab", "org-1", "2026-11-01T09:00:00Z", "alice", "ws-01", "lost", None
)


def _stored(seq: int, action: str, details: dict[str, Any]) -> StoredEvent:
    event = Event(f"{seq:032x}", "2026-11-02T10:00:00Z", ALICE, VAULT.vault_id, action, details)
    return StoredEvent(seq, event, event.at, "direct", "0" * 64, f"{seq:064x}")


# -- the timeline's summary keeps each listed detail, and only those ---------------------

KEPT = (
    "files", "bytes", "failed", "to", "from", "reason", "individuals", "states", "categories",
    "discovered_at", "reported_by", "secret", "where", "merged", "key_id", "approvers",
    "name", "authenticated",
)  # fmt: skip


@pytest.mark.parametrize("key", KEPT)
def test_each_listed_detail_is_in_the_summary(key: str) -> None:
    assert lost.summarize("sync", {key: "v1"}) == f"{key}=v1"
    # Upper case is another key: not listed, so not shown.
    assert lost.summarize("sync", {key.upper(): "v1"}) == "sync"


@pytest.mark.parametrize("empty", [None, "", [], {}], ids=repr)
def test_an_empty_detail_is_left_out_and_the_action_named(empty: object) -> None:
    assert lost.summarize("verify", {"to": empty, "reason": empty}) == "verify"
    assert lost.summarize("verify", {"to": empty, "reason": "r"}) == "reason=r"


@pytest.mark.parametrize("kept", ["XXXX", " ", 0, False], ids=repr)
def test_a_detail_that_is_not_empty_is_kept(kept: object) -> None:
    assert lost.summarize("verify", {"to": kept}) == f"to={lost.plain(kept)}"


def test_with_nothing_listed_the_summary_is_the_action() -> None:
    assert lost.summarize("lock", {}) == "lock"
    assert lost.summarize("lock", {"backend": "keyring"}) == "lock"


# -- HIPAA thresholds: HHS at 500 or more (164.408), media at more than 500 (164.406) ----


@pytest.mark.parametrize(
    ("individuals", "hhs_now", "annual"),
    [(499, False, "2027-03-01"), (500, True, None), (501, True, None), (None, None, None)],
)
def test_hhs_notice_is_due_now_from_500_individuals(
    individuals: int | None, hhs_now: bool | None, annual: str | None
) -> None:
    due = lost.deadlines("2026-11-20T08:30:00Z", Contents(individuals, {}, [], 0, 0), None)
    assert (due.individuals, due.notify_hhs_now, due.hhs_annual_log_by) == (
        individuals,
        hhs_now,
        annual,
    )


def test_media_notice_is_due_for_a_state_with_more_than_500() -> None:
    states = {"AZ": 499, "CA": 500, "NV": 501, "TX": 9000}
    due = lost.deadlines("2026-11-20T08:30:00Z", Contents(10_000, states, [], 0, 0), None)
    assert due.media_notice_states == ["NV", "TX"]


# -- times without an offset are UTC -----------------------------------------------------


def test_a_time_without_an_offset_is_read_as_utc() -> None:
    moment = lost.moment_of("2026-12-01T10:00:00")
    assert moment is not None
    assert moment.tzinfo is UTC
    assert moment == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_a_time_with_an_offset_keeps_it() -> None:
    moment = lost.moment_of("2026-12-01T10:00:00+02:00")
    assert moment is not None
    assert moment.utcoffset() is not None
    assert moment == datetime(2026, 12, 1, 8, tzinfo=UTC)


# -- the custodian is the last transfer's recipient ---------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_the_custodian_is_the_last_transfers_recipient(count: int) -> None:
    events = [_stored(1, "create", {})]
    events += [_stored(n + 2, "transfer", {"to": f"person-{n}"}) for n in range(count)]
    events.append(_stored(count + 2, "add", {"files": 1}))
    assert lost.custodian(VAULT, events) == f"person-{count - 1}"


def test_with_no_transfer_the_custodian_is_the_creator() -> None:
    assert lost.custodian(VAULT, [_stored(1, "create", {})]) == "alice"


def test_null_is_told_as_none_at_any_depth() -> None:
    assert lost.plain(None) == "none"
    assert lost.plain({"CA": None, "NV": [None]}) == "CA=none, NV=(none)"


@pytest.mark.parametrize("code", [5, None, 2.0, ("C", "A")], ids=repr)
def test_a_declared_state_that_is_not_text_is_left_out(code: object) -> None:
    declared = _stored(1, "declare", {"states": {code: 600, "CA": 3}})
    assert lost.declared_contents([declared]).states == {"CA": 3}
