"""Four faults of the lost-drive report (reports/lost.py), each with its neighbours.
(1) custody's last seen comes from the rule the key finding uses: by parsed time, only
authenticated acts recorded before the loss, capped at the discovery, with that act's host
and person. (2) A `lock` from the workstation that cached the key ends its exposure; the
evidence says whether it came before the loss or after it (the workstation was in hand
then). (3) Every time is read by one
strict function: Z, z or an offset; none is UTC. (4) What the drive held counts only whole
numbers a workstation recorded; text, fractions, booleans, negatives and absurd sizes are
left out and never crash the report.

The report is built in-process (`lost.build`, as `incident lost` does) from a real SQLite
registry holding crafted events; each case was seen failing on the code before the fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from medvault.registry.records import Actor
from medvault.reports import lost
from medvault.reports.lost_model import Contents, Finding
from tests.support import lost_book
from tests.support.lost_book import ALICE, BOB, CREATE, CREATED, DISCOVERED, Book, ref
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
SCHEMA = json.loads((ROOT / "docs" / "lost-report.schema.json").read_text())
TIMESTAMP = SCHEMA["$defs"]["timestamp"]["pattern"]
VAULT = "c" * 32
CAROL = Actor("carol", "ws-03")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VAULT recorded once; each test copies the file (faster than a new schema)."""
    path = tmp_path_factory.mktemp("lost-faults") / "registry.sqlite"
    lost_book.record_vault(path, VAULT).close()
    return path


@pytest.fixture
def book(template: Path, tmp_path: Path) -> Iterator[Book]:
    with lost_book.registry_copy(template, tmp_path) as registry:
        yield Book(registry, VAULT, "INC-9")


def _last_seen_line(finding: Finding) -> str:
    (line,) = [e for e in finding.evidence if e.startswith("the drive was last seen at ")]
    return line.removeprefix("the drive was last seen at ")


# -- 1. custody's last seen: the key finding's rule, by parsed time ----------------------

BASE_ACT = ("2026-11-06T10:00:00Z", ALICE)  # the act both rules should find, unless said
# (extra events: when, action, at, details, actor), custody (at, host, person) expected
Extra = list[tuple[str, str, str, dict[str, Any], Actor]]
CUSTODY: dict[str, tuple[Extra, tuple[str, str, str]]] = {
    "an offset that sorts later as text but is earlier": (
        [("before", "verify", "2026-11-06T11:30:00+02:00", {}, BOB)],
        ("2026-11-06T10:00:00Z", "ws-01", "alice (Alice Admin)")),
    "an offset that is later as a time": (
        [("before", "verify", "2026-11-06T12:30:00+02:00", {}, BOB)],
        ("2026-11-06T10:30:00Z", "ws-02", "bob")),  # in UTC, as the schema asks
    "fractional seconds, half a second later": (
        [("before", "verify", "2026-11-06T10:00:00.500000Z", {}, BOB)],
        ("2026-11-06T10:00:00.500000Z", "ws-02", "bob")),
    "an unauthenticated sighting does not count": (
        [("before", "seen", "2026-11-10T10:00:00Z", {"authenticated": False}, CAROL)],
        ("2026-11-06T10:00:00Z", "ws-01", "alice (Alice Admin)")),
    "a sighting with no authentication recorded does not count": (
        [("before", "seen", "2026-11-10T10:00:00Z", {"where": "/media/x"}, CAROL)],
        ("2026-11-06T10:00:00Z", "ws-01", "alice (Alice Admin)")),
    "an authenticated sighting counts": (
        [("before", "seen", "2026-11-10T10:00:00Z", {"authenticated": True}, CAROL)],
        ("2026-11-10T10:00:00Z", "ws-03", "carol")),
    "an act recorded after the loss does not count": (
        [("after", "add", "2026-11-19T10:00:00Z", {"files": 1}, BOB)],
        ("2026-11-06T10:00:00Z", "ws-01", "alice (Alice Admin)")),
    "an act timed after the discovery is capped at the discovery": (
        [("before", "verify", "2026-11-21T10:00:00Z", {}, BOB)],
        (DISCOVERED, "ws-02", "bob")),
    "an act whose time cannot be read does not count": (
        [("before", "verify", "last tuesday", {}, BOB)],
        ("2026-11-06T10:00:00Z", "ws-01", "alice (Alice Admin)")),
    "no offset: UTC": (
        [("before", "verify", "2026-11-07T10:00:00.25", {}, BOB)],
        ("2026-11-07T10:00:00.250000Z", "ws-02", "bob")),
    "as medvault writes it, kept as recorded": (
        [("before", "verify", "2026-11-07T10:00:00.000000Z", {}, BOB)],
        ("2026-11-07T10:00:00.000000Z", "ws-02", "bob")),
    "+00:00 is kept as recorded": (
        [("before", "verify", "2026-11-07T10:00:00+00:00", {}, BOB)],
        ("2026-11-07T10:00:00+00:00", "ws-02", "bob")),
    "a lowercase z is read": (
        [("before", "verify", "2026-11-07T10:00:00z", {}, BOB)],
        ("2026-11-07T10:00:00Z", "ws-02", "bob")),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CUSTODY))
def test_custody_last_seen_is_the_key_findings_last_act(book: Book, case: str) -> None:
    extra, expected = CUSTODY[case]
    book.add("create", CREATED, CREATE)
    book.add("remember", "2026-11-02T10:00:00Z", {"expires": "never"})  # prints last seen
    book.add("add", BASE_ACT[0], {"files": 1}, BASE_ACT[1])
    for when, action, at, details, actor in extra:
        if when == "before":
            book.add(action, at, details, actor)
    book.lose()
    for when, action, at, details, actor in extra:
        if when == "after":
            book.add(action, at, details, actor)
    report = book.report()
    c = report.custody
    assert (c.last_seen_at, c.last_seen_host, c.last_seen_by) == expected
    # The same moment as the key finding's "last seen", so the two never disagree.
    finding = next(f for f in report.findings if f.key == "key_not_on_drive")
    assert lost.moment_of(c.last_seen_at) == datetime.fromisoformat(_last_seen_line(finding))
    assert re.fullmatch(TIMESTAMP, c.last_seen_at)


def test_custody_before_any_act_is_the_vault_record_capped_at_the_discovery(
    book: Book,
) -> None:
    """No act before the loss: the vault's creation; a discovery earlier than that (a
    wrong clock somewhere) is the latest the drive can have been seen."""
    book.add("seen", "2026-11-10T10:00:00Z", {"authenticated": False}, CAROL)
    book.lose(discovered="2026-10-30T08:00:00Z")
    c = book.report().custody
    assert (c.last_seen_at, c.last_seen_host, c.last_seen_by) == (
        "2026-10-30T08:00:00Z", "ws-01", "alice (Alice Admin)",
    )  # fmt: skip


def test_two_acts_at_the_same_instant_name_the_one_recorded_last(book: Book) -> None:
    book.add("add", "2026-11-06T10:00:00Z", {"files": 1}, ALICE)
    book.add("verify", "2026-11-06T10:00:00.000000+00:00", {}, BOB)
    book.lose()
    c = book.report().custody
    assert (c.last_seen_host, c.last_seen_by) == ("ws-02", "bob")


# -- 2. a lock on the workstation ends a cached key's exposure, before or after the loss --

LAST_SEEN = "2026-11-05T10:00:00Z"
LATE = lost.AFTER_THE_LOSS
# lock time (None: no lock), recorded before the lost event?: how the cached key ended
FORGOTTEN, NONE, LATE_ONLY = "forgotten", "no later lock", "forgotten after the loss"
LOCKS: dict[str, tuple[str | None, bool, str]] = {
    "no lock": (None, True, NONE),
    "locked before the drive was last seen": ("2026-11-03T10:00:00Z", True, FORGOTTEN),
    "locked after last seen, before the discovery": ("2026-11-10T10:00:00Z", True, FORGOTTEN),
    "locked exactly at the discovery": (DISCOVERED, True, FORGOTTEN),
    "a lowercase z lock time is read": ("2026-11-10T10:00:00z", True, FORGOTTEN),
    "locked at the instant it was remembered": ("2026-11-02T10:00:00Z", True, NONE),
    "locked one second after the discovery": ("2026-11-20T08:30:01Z", True, LATE_ONLY),
    "locked before the discovery, recorded after the loss": (
        "2026-11-10T10:00:00Z", False, LATE_ONLY),
    "locked by incident lost, after the loss": ("2026-11-20T09:00:05Z", False, LATE_ONLY),
}  # fmt: skip


@pytest.mark.parametrize("case", list(LOCKS))
def test_a_lock_on_the_workstation_ends_the_cached_key(book: Book, case: str) -> None:
    """A lock before the loss: the key was gone when the drive can have been lost. A lock
    after it from the same workstation (as `incident lost` records where it runs): that
    workstation was in hand, so the key was on it and not with the drive; the evidence
    says which."""
    at, before_the_loss, outcome = LOCKS[case]
    book.add("create", CREATED, CREATE)
    remember = book.add("remember", "2026-11-02T10:00:00Z", {"expires": "2027-01-01T00:00:00Z"})
    book.add("add", LAST_SEEN, {"files": 1})
    locked = book.add("lock", at) if at is not None and before_the_loss else None
    book.lose()
    if at is not None and not before_the_loss:
        locked = book.add("lock", at)
    finding = book.finding("key_not_on_drive")
    assert finding.holds is (outcome != NONE)
    until = f"{ref(remember)}: remembered until 2027-01-01T00:00:00Z"
    if outcome == NONE:
        assert finding.evidence[-1] == f"{until}; no later lock on ws-01 is recorded"
        assert finding.statement.endswith("for example on a laptop lost with it.")
        return
    assert locked is not None
    if outcome == FORGOTTEN:
        assert f"{until}; forgotten there by {ref(locked)}" in finding.evidence
        assert LATE not in finding.evidence[-1]
    else:
        assert finding.evidence[-1] == f"{until}; forgotten there by {ref(locked)}, {LATE}"


def test_a_late_lock_does_not_hide_an_earlier_one(book: Book) -> None:
    """A lock in time and one after the loss: the first in time is named."""
    book.add("create", CREATED, CREATE)
    book.add("remember", "2026-11-02T10:00:00Z", {"expires": "2027-01-01T00:00:00Z"})
    book.add("add", LAST_SEEN, {"files": 1})
    in_time = book.add("lock", "2026-11-10T10:00:00Z")
    book.lose()
    book.add("lock", "2026-11-20T09:00:05Z")
    finding = book.finding("key_not_on_drive")
    assert finding.holds
    assert finding.evidence[-1].endswith(f"; forgotten there by {ref(in_time)}")


def test_a_late_lock_on_another_workstation_is_not_named(book: Book) -> None:
    book.add("create", CREATED, CREATE)
    book.add("remember", "2026-11-02T10:00:00Z", {"expires": "2027-01-01T00:00:00Z"})
    book.lose()
    book.add("lock", "2026-11-20T09:00:05Z", actor=BOB)
    finding = book.finding("key_not_on_drive")
    assert not finding.holds
    assert finding.evidence[-1].endswith("; no later lock on ws-01 is recorded")


# -- 3. one strict reading of times ------------------------------------------------------

PLUS_TWO = timezone(timedelta(hours=2))
READ: dict[str, datetime | None] = {
    "2026-12-01T10:00:00Z": datetime(2026, 12, 1, 10, tzinfo=UTC),
    "2026-12-01T10:00:00z": datetime(2026, 12, 1, 10, tzinfo=UTC),
    "2026-12-01T10:00:00.000000Z": datetime(2026, 12, 1, 10, tzinfo=UTC),
    "2026-12-01T10:00:00.5z": datetime(2026, 12, 1, 10, 0, 0, 500000, tzinfo=UTC),
    "2026-12-01T10:00:00+02:00": datetime(2026, 12, 1, 10, tzinfo=PLUS_TWO),
    "2026-12-01T10:00:00-08:00": datetime(2026, 12, 1, 18, tzinfo=UTC),
    "2026-12-01T10:00:00+05:45": datetime(2026, 12, 1, 4, 15, tzinfo=UTC),
    "2026-12-01T10:00:00": datetime(2026, 12, 1, 10, tzinfo=UTC),  # no offset: UTC
    "2026-12-01": None,  # a date alone is not an event time
    "2026-W49-1": None,
    "20261201T100000Z": None,
    "2026-12-01 10:00:00Z": None,
    " 2026-12-01T10:00:00Z": None,
    "2026-12-01T10:00:00Z\n": None,
    "2026-12-01T10:00:00ZZ": None,
    "2026-12-01T10:00:00.1234567Z": None,
    "2026-13-01T10:00:00Z": None,
    "2026-12-01T24:00:00Z": None,
    "2026-12-01T10:00:00+24:00": None,
    "\uff12\uff10\uff12\uff16-12-01T10:00:00Z": None,  # fullwidth digits
    "": None,
}


@pytest.mark.parametrize("text", list(READ))
def test_times_are_read_strictly(text: str) -> None:
    moment = lost.moment_of(text)
    assert moment == READ[text]
    if moment is not None:
        assert moment.tzinfo is not None


@pytest.mark.parametrize("value", [None, 1764583200, 1.5, ["2026-12-01T10:00:00Z"]], ids=repr)
def test_a_time_that_is_not_text_is_not_read(value: object) -> None:
    assert lost.moment_of(value) is None


@pytest.mark.usefixtures("los_angeles_clock")
def test_a_naive_time_is_utc_even_on_a_machine_in_another_zone() -> None:
    assert lost.moment_of("2026-12-01T10:00:00") == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_deadlines_read_a_lowercase_z_discovery() -> None:
    contents = Contents(None, {}, [], 0, 0)
    due = lost.deadlines("2026-12-05T00:30:00z", contents, "America/Los_Angeles")
    assert (due.discovered_local, due.notify_individuals_by) == (
        "2026-12-04T16:30-08:00",
        "2027-02-02",
    )
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        lost.deadlines("2026-12-05", contents, None)


def test_a_lowercase_z_report_is_built_on_the_organisations_clock(book: Book) -> None:
    """Every reader in the report: the discovery, a finding's time, a move's time, an
    expiry."""
    book.add("create", CREATED, CREATE)
    book.add("remember", "2026-11-02T10:00:00z", {"expires": "2026-11-05T09:59:59z"})
    book.add("add", "2026-11-05T10:00:00z", {"files": 1})
    found = book.add("plaintext-found", "2026-11-18T14:05:00z", {"files": 2, "reason": "x"})
    details = {
        "found": 2, "files": 2, "left": 0, "deletion": "zeroed-then-unlinked",
        "stored_under": "/scan", "plaintext_found_event": found.event.event_id,
    }  # fmt: skip
    book.add("plaintext-moved", "2026-11-20T08:30:01z", details)  # one second too late
    book.lose(discovered="2026-11-20T08:30:00z")
    report = book.report(time_zone="America/New_York")
    by_key = {f.key: f for f in report.findings}
    assert by_key["key_not_on_drive"].holds  # expired one second before last seen
    assert (
        by_key["key_not_on_drive"].evidence[-1].endswith("; expired before the drive was last seen")
    )
    plaintext = by_key["plaintext_findings"]
    assert "2 found 2026-11-18 09:05 America/New_York; the move" in plaintext.statement
    assert "came after the loss" in plaintext.statement
    assert plaintext.title == "Plaintext PHI found on the drive"  # the move does not count
    assert plaintext.statement.endswith("Encryption does not cover them.")
    assert report.deadlines.discovered_local == "2026-11-20T03:30-05:00"


# -- 4. what the drive held: whole numbers only, never a crash ---------------------------

HUGE = 10**30
MAX = 2**53 - 1
# events (action, details): (individuals, states, categories, files, bytes)
COUNTS: dict[str, tuple[list[tuple[str, dict[str, Any]]], tuple[object, ...]]] = {
    "files and bytes as text": (
        [("add", {"files": "3", "bytes": "many"}), ("add", {"files": 1, "bytes": 10})],
        (None, {}, [], 1, 10)),
    "files and bytes as fractions": (
        [("add", {"files": 2.0, "bytes": 10.5}), ("add", {"files": 1, "bytes": 10})],
        (None, {}, [], 1, 10)),
    "files and bytes as booleans": (
        [("add", {"files": True, "bytes": True}), ("export", {"files": 1, "bytes": 10})],
        (None, {}, [], 1, 10)),
    "negative files and bytes": (
        [("add", {"files": 5, "bytes": 50}), ("add", {"files": -4, "bytes": -40}),
         ("rm", {"files": -2, "bytes": -20})],
        (None, {}, [], 5, 50)),
    "absurd sizes": (
        [("add", {"files": HUGE, "bytes": MAX + 1}), ("add", {"files": 1, "bytes": MAX}),
         ("rm", {"files": HUGE, "bytes": HUGE})],
        (None, {}, [], 1, MAX)),
    "a removal counts down": (
        [("add", {"files": 5, "bytes": 50}), ("export", {"files": 1, "bytes": 5}),
         ("rm", {"files": 2, "bytes": 20})],
        (None, {}, [], 4, 35)),
    "a declaration of none, in no state": (
        [("declare", {"individuals": 0, "states": {"CA": 0}})],
        (0, {"CA": 0}, [], 0, 0)),
    "a removal as text": (
        [("add", {"files": 2, "bytes": 20}), ("rm", {"files": "2", "bytes": None})],
        (None, {}, [], 2, 20)),
    "individuals as text, fraction, boolean, negative, absurd": (
        [("declare", {"individuals": v}) for v in ("700", 7.0, True, -3, HUGE)]
        + [("declare", {"individuals": 0}), ("declare", {"individuals": 499})],
        (499, {}, [], 0, 0)),
    "nothing but bad individuals: never declared": (
        [("declare", {"individuals": "700"}), ("declare", {"individuals": False})],
        (None, {}, [], 0, 0)),
    "state counts": (
        [("declare", {"states": {"CA": "600", "NV": 7.0, "TX": True, "WA": -5, "OR": HUGE,
                                 "AZ": 3}}),
         ("declare", {"states": {"AZ": 2, "CA": 500}})],
        (None, {"AZ": 5, "CA": 500}, [], 0, 0)),
    "states as a list or text": (
        [("declare", {"states": ["CA"]}), ("declare", {"states": "CA"}),
         ("declare", {"states": 12})],
        (None, {}, [], 0, 0)),
    "categories as text or with non-text items": (
        [("declare", {"categories": "labs"}), ("declare", {"categories": [1, "notes", None]}),
         ("declare", {"categories": {"x": 1}})],
        (None, {}, ["notes"], 0, 0)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(COUNTS))
def test_only_whole_counts_are_counted(book: Book, case: str) -> None:
    events, expected = COUNTS[case]
    book.lose_after(events)
    report = book.report()
    c = report.contents
    assert (c.individuals, c.states, c.categories, c.files, c.bytes) == expected
    assert report.deadlines.individuals == c.individuals
