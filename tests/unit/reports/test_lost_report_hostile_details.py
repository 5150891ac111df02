"""The lost-drive report (reports/lost.py) with hostile event details.

Workstations write the registry's events, so any detail the report reads may be absent,
empty, text, a number, NaN, true, a list or a mapping. The report is the privacy
officer's evidence: whatever was recorded, `lost.build` returns a report that validates
against docs/lost-report.schema.json, renders, and never shows a Python repr; a lost
event without a readable discovery time or incident id is refused by name (a
RegistryError), not with a KeyError.

The sweep substitutes one detail of one event of a real registry's history (the events
as the registry returns them, read once: a copy per case would take minutes); the named
faults are recorded through the registry itself. Each test was seen failing on the code
before the fix.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from medvault.errors import RegistryError
from medvault.registry.records import Actor, KeyPackage, StoredEvent, VaultRecord
from medvault.registry.sql import Registry
from medvault.reports import lost
from medvault.reports.lost_model import Finding, LostDriveReport
from medvault.reports.render_html import render_html
from medvault.reports.render_json import render_json
from tests.support import lost_book
from tests.support.lost_book import ALICE, BOB, CREATED, KDF, KEY, MET, Book, ref
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
SCHEMA = json.loads((ROOT / "docs" / "lost-report.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
VAULT = "c" * 32
OTHER_KEY = "5555666677778888"
ORG_ID = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
ZONE = "America/Los_Angeles"  # the report's time zone
CREATE = {**lost_book.CREATE, "recovery_code_slot": 2}
LOST = {"incident_id": "INC-9", "discovered_at": lost_book.DISCOVERED, "reported_by": "Pat P"}


def at(day: int, hour: int = 10) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00Z"


# Every event kind the report reads details of, each detail set as medvault writes it.
# (label, action, at, details, actor); "lost" is the incident the report is on.
HISTORY: list[tuple[str, str, str, dict[str, Any], Actor]] = [
    ("create", "create", CREATED, CREATE, ALICE),
    ("add", "add", at(2), {"files": 4, "bytes": 400}, ALICE),
    ("declare", "declare", at(2), {
        "individuals": 620, "states": {"CA": 550, "NV": 70}, "categories": ["labs"],
        "for": "add"}, ALICE),
    ("export", "export", at(3), {"files": 1, "bytes": 10}, ALICE),
    ("rm", "rm", at(3), {"files": 1, "bytes": 10}, ALICE),
    ("passwd", "passwd", at(4), {
        "slot_id": 1, "kdf_t": 4, "kdf_m_kib": 131072, "kdf_p": 2,
        "passphrase_policy": MET}, ALICE),
    ("recover-reset", "recover-reset", at(5), {
        "slot_id": 1, "kdf_t": 4, "kdf_m_kib": 131072, "kdf_p": 2,
        "passphrase_policy": MET}, ALICE),
    ("reseal", "reseal", at(6), {
        "escrow_key_ids": [KEY], "key_ids_before": [KEY], "key_ids_after": [OTHER_KEY]}, ALICE),
    ("remember", "remember", at(7), {"expires": at(8)}, ALICE),
    ("lock", "lock", at(7, 12), {}, ALICE),
    ("seen", "seen", at(9), {"authenticated": True, "unlocked": True, "where": "/media/x"}, BOB),
    ("transfer", "transfer", at(10), {"from": "alice", "to": "Bob B"}, ALICE),
    ("disclosed", "disclosed", at(11), {"secret": "recovery-code", "reason": "INC-3"}, ALICE),
    ("found", "plaintext-found", at(12), {"files": 3, "reason": "audit sweep"}, ALICE),
    ("moved", "plaintext-moved", at(13), {
        "files": 2, "left": 1, "found": 3, "deletion": "zeroed-then-unlinked",
        "stored_under": "/scan"}, ALICE),  # plaintext_found_event: set once "found" is stored
    # scan --into before a move named its finding: the move, then the finding.
    ("older move", "plaintext-moved", at(14), {
        "files": 2, "left": 0, "found": 2, "deletion": "zeroed-then-unlinked",
        "stored_under": "/old"}, BOB),
    ("older found", "plaintext-found", at(14), {
        "files": 2, "reason": "medvault scan --into: 2 file(s)"}, BOB),
    ("lost", "lost", lost_book.LOST_AT, LOST, ALICE),
    ("compromised", "escrow-compromised", at(21), {"key_id": OTHER_KEY}, BOB),
]  # fmt: skip

# The details the report reads, by event label: (label, key) or (label, key, nested key).
FIELDS: list[tuple[str, ...]] = [
    ("create", "recovery_code_slot"), ("create", "escrow_key_ids"), ("create", "kdf"),
    ("create", "kdf", "alg"), ("create", "kdf", "t"), ("create", "kdf", "m_kib"),
    ("create", "kdf", "p"), ("create", "passphrase_policy"),
    ("create", "passphrase_policy", "met"), ("create", "passphrase_policy", "min_length"),
    ("create", "passphrase_policy", "min_guesses_log10"),
    ("create", "passphrase_policy", "guesses_log10"),
    ("add", "files"), ("add", "bytes"), ("export", "files"), ("export", "bytes"),
    ("rm", "files"), ("rm", "bytes"),
    ("declare", "individuals"), ("declare", "states"), ("declare", "states", "CA"),
    ("declare", "categories"),
    ("passwd", "passphrase_policy"), ("passwd", "passphrase_policy", "guesses_log10"),
    ("passwd", "kdf_t"), ("passwd", "kdf_m_kib"), ("passwd", "kdf_p"),
    ("recover-reset", "passphrase_policy"), ("recover-reset", "kdf_t"),
    ("recover-reset", "kdf_m_kib"), ("recover-reset", "kdf_p"),
    ("reseal", "escrow_key_ids"), ("reseal", "key_ids_before"), ("reseal", "key_ids_after"),
    ("remember", "expires"), ("seen", "authenticated"), ("seen", "unlocked"),
    ("transfer", "to"), ("disclosed", "secret"), ("disclosed", "reason"),
    ("found", "files"), ("found", "reason"),
    ("moved", "files"), ("moved", "left"), ("moved", "found"), ("moved", "deletion"),
    ("moved", "stored_under"), ("moved", "plaintext_found_event"),
    ("older move", "found"), ("older found", "files"), ("older found", "reason"),
    ("compromised", "key_id"),
    ("lost", "discovered_at"), ("lost", "incident_id"), ("lost", "reported_by"),
]  # fmt: skip
ABSENT = object()  # the detail is not there at all
VALUES: dict[str, object] = {
    "absent": ABSENT, "null": None, "text": "text", "blank": "  ", "zero": 0,
    "negative": -7, "huge": 2**64, "fraction": 1.5, "nan": math.nan, "infinity": math.inf,
    "true": True, "false": False, "empty list": [], "list": ["x", 1, None, {"k": [2]}],
    "empty mapping": {}, "mapping": {"k": "v", "n": [1, 2]},
}  # fmt: skip
# The lost event's discovery and incident id: without a readable one there is no report.
REQUIRED = {("lost", "discovered_at"), ("lost", "incident_id")}


@dataclass(frozen=True)
class History:
    """HISTORY as a real registry returned it, read once."""

    registry: Registry
    vault: VaultRecord
    mine: list[StoredEvent]  # the vault's events
    everything: list[StoredEvent]
    seq: dict[str, int]  # label -> seq


@dataclass
class Swapped:
    """The registry of HISTORY with the event SEQ's details replaced by DETAILS: what
    `lost.build` reads, as if a workstation had recorded them so."""

    history: History
    seq: int
    details: dict[str, Any]

    def swap(self, events: list[StoredEvent]) -> list[StoredEvent]:
        return [self.swapped(s) if s.seq == self.seq else s for s in events]

    def swapped(self, s: StoredEvent) -> StoredEvent:
        return replace(s, event=replace(s.event, details=self.details))

    def vault(self, vault_id: str) -> VaultRecord | None:
        return self.history.vault if vault_id == VAULT else None

    def events(
        self, vault_id: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[StoredEvent]:
        assert since is None and until is None
        return self.swap(self.history.mine if vault_id == VAULT else self.history.everything)

    def package_history(self, vault_id: str) -> list[dict[str, Any]]:
        return self.history.registry.package_history(vault_id)

    def verify_chain(self) -> lost.ChainCheck | None:
        return self.history.registry.verify_chain()

    def head(self) -> tuple[int, str]:
        return self.history.registry.head()


def _append(registry: Registry, action: str, when: str, details: dict[str, Any], who: Actor) -> str:
    vault_id = None if action == "escrow-compromised" else VAULT
    return lost_book.append(registry, action, when, details, who, vault_id)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    path = tmp_path_factory.mktemp("hostile") / "registry.sqlite"
    registry = lost_book.record_vault(path, VAULT, ORG_ID)
    try:
        ids: dict[str, str] = {}
        for label, action, when, details, who in HISTORY:
            if label == "moved":
                details = {**details, "plaintext_found_event": ids["found"]}
            ids[label] = _append(registry, action, when, details, who)
        everything = registry.events()
        seq = {label: next(s.seq for s in everything if s.event.event_id == i)
               for label, i in ids.items()}  # fmt: skip
        vault = registry.vault(VAULT)
        assert vault is not None
        yield History(registry, vault, registry.events(VAULT), everything, seq)
    finally:
        registry.close()


def _build(registry: lost.ReportRegistry, lost_event: StoredEvent) -> LostDriveReport:
    return lost_book.build(registry, VAULT, lost_event, ORG_ID, ZONE)


def _with(details: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    """DETAILS with the detail at PATH set to VALUE (or removed, for ABSENT)."""
    changed = copy.deepcopy(details)
    holder = changed
    for key in path[:-1]:
        holder = holder[key]
    if value is ABSENT:
        del holder[path[-1]]
    else:
        holder[path[-1]] = copy.deepcopy(value)
    return changed


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


# What Python prints for a list, a mapping or None. Two statements print an unrecorded
# value as None, pinned by tests/unit/reports/test_lost_report_edges.py: the Argon2
# parameters of a met passphrase policy (test_the_met_statement_names_the_kdf) and a
# cached key's expiry (test_with_no_time_at_all_the_last_sighting_is_unknown).
REPR = re.compile(r"\[\]|\{\}|\['|\{'|\[[0-9]|(?<![tmp]=)(?<!until )\bNone\b")


def _problems(report: LostDriveReport) -> list[str]:
    """What is wrong with REPORT: report.json's schema errors, and each text in the report
    that is a Python repr (report.html must render too)."""
    data = json.loads(render_json(report))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(data)]
    assert render_html(report)
    return errors + [f"repr: {s}" for s in _strings(dataclasses.asdict(report)) if REPR.search(s)]


def _assert_sound(report: LostDriveReport) -> None:
    assert _problems(report) == []


def test_the_unchanged_history_makes_a_sound_report(history: History) -> None:
    """The sweep's baseline: every finding the sweep can change is reached."""
    lost_event = next(s for s in history.mine if s.seq == history.seq["lost"])
    report = _build(Swapped(history, 0, {}), lost_event)
    _assert_sound(report)
    findings = {f.key: f for f in report.findings}
    assert findings["passphrase_policy"].title == "Passphrase policy met"  # reads create's kdf
    assert findings["escrow_key"].title == "Escrow key compromised"
    assert report.encryption.kdf == {"alg": "argon2id", "t": 4, "m_kib": 131072, "p": 2}
    assert report.custody.current_custodian == "Bob B"
    assert report.contents.states == {"CA": 550, "NV": 70}
    assert len(findings["plaintext_findings"].evidence) == 5  # both moves were matched


@pytest.mark.parametrize("field", FIELDS, ids=".".join)
def test_any_recorded_detail_makes_a_sound_report(history: History, field: tuple[str, ...]) -> None:
    """Each detail set to each of VALUES in turn (one test per detail: 880 would spend
    more time in pytest than in the report)."""
    label, *path = field
    seq = history.seq[label]
    original = next(s for s in history.everything if s.seq == seq)
    problems: dict[str, list[str]] = {}
    for name, value in VALUES.items():
        registry = Swapped(history, seq, _with(original.event.details, tuple(path), value))
        lost_event = registry.swap([s for s in history.mine if s.seq == history.seq["lost"]])[0]
        try:
            found = _problems(_build(registry, lost_event))
        except RegistryError as exc:  # only a lost event without its discovery or incident id
            found = [] if field in REQUIRED and _names(exc, lost_event, path[0]) else [str(exc)]
        if found:
            problems[name] = found
    assert problems == {}


def _names(exc: RegistryError, lost_event: StoredEvent, detail: str) -> bool:
    return exc.message.startswith(f"{ref(lost_event)} records ") and (f"({detail})" in exc.message)


# -- the named faults, recorded through the registry -------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile-book") / "registry.sqlite"
    lost_book.record_vault(path, VAULT, ORG_ID).close()
    return path


@pytest.fixture
def book(template: Path, tmp_path: Path) -> Iterator[Book]:
    """A Book whose every report is checked sound."""
    with lost_book.registry_copy(template, tmp_path) as registry:
        yield Book(registry, VAULT, "INC-9", ORG_ID, ZONE, check=_assert_sound)


@pytest.mark.parametrize("kdf", ["argon2id", ["argon2id", 3], 7, True], ids=repr)
def test_a_kdf_that_is_not_a_mapping_is_not_recorded(book: Book, kdf: object) -> None:
    """Fault 1: a met policy with a create kdf that is not a mapping raised
    AttributeError."""
    book.add("create", CREATED, {**CREATE, "kdf": kdf})
    book.lose()
    report = book.report()
    finding = next(f for f in report.findings if f.key == "passphrase_policy")
    assert finding.title == "Passphrase policy met"
    assert finding.statement.endswith("Argon2id (t=None, m=None KiB, p=None).")
    assert report.encryption.kdf == {}


@pytest.mark.parametrize(
    ("recorded", "sealed"),
    [
        (KEY, [KEY]),  # a lone id is one id, not sixteen one-character ones
        (OTHER_KEY, [KEY, OTHER_KEY]),
        ([OTHER_KEY, OTHER_KEY], [KEY, OTHER_KEY]),
        (None, [KEY]),
        ([], [KEY]),
    ],
    ids=repr,
)
def test_key_ids_recorded_as_one_text_are_one_id(
    book: Book, recorded: object, sealed: list[str]
) -> None:
    """Fault 2: a text key id field was split into its characters."""
    book.add("create", CREATED, {**CREATE, "escrow_key_ids": recorded})
    book.lose()
    report = book.report()
    assert report.encryption.escrow_key_ids == sealed
    escrow = next(f for f in report.findings if f.key == "escrow_key")
    assert (escrow.title, escrow.holds) == ("Escrow key not compromised", True)


@pytest.mark.parametrize(
    ("recorded", "shown"),
    [(42, "42"), ([OTHER_KEY, 42, {"id": 7}], "42; id=7"), (True, "yes"), ({}, "not recorded")],
    ids=repr,
)
def test_a_key_id_that_is_not_text_fails_the_escrow_finding(
    book: Book, recorded: object, shown: str
) -> None:
    """Fault 2: a number as a key id raised TypeError. A key the vault key was sealed to
    that the registry cannot name may be flagged under its real id, so the finding does
    not hold; the recorded values are shown in words."""
    made = book.add("create", CREATED, CREATE)
    book.add("reseal", at(6), {"key_ids_before": [KEY], "key_ids_after": recorded})
    book.lose()
    report = book.report()
    named = [OTHER_KEY] if isinstance(recorded, list) else []
    assert report.encryption.escrow_key_ids == sorted([KEY, *named])
    assert next(f for f in report.findings if f.key == "escrow_key") == Finding(
        "escrow_key",
        "Escrow key not identified",
        False,
        "An escrow key this vault's key was sealed to is recorded in a form that does not "
        "name it, so it cannot be shown that the key is not compromised.",
        [
            f"escrow key(s) ever sealed to this vault: {', '.join(sorted([KEY, *named]))}",
            f"escrow key id(s) not recorded as a key id (16 lowercase hex digits): {shown}",
            "the escrow key was never used on this vault",
        ],
    )
    assert ref(made) in report.findings[0].evidence


def test_a_compromised_key_still_fails_as_compromised_beside_an_unreadable_id(
    book: Book,
) -> None:
    book.add("create", CREATED, {**CREATE, "escrow_key_ids": [KEY, 7]})
    flag = book.add("escrow-compromised", at(3), {"key_id": KEY}, BOB)
    book.add("escrow-compromised", at(3), {"key_id": 7}, BOB)  # names no key
    book.lose()
    finding = book.finding("escrow_key")
    assert finding.title == "Escrow key compromised"
    assert finding.evidence[-1] == f"{ref(flag)} (key {KEY})"


KDF_CHANGES: dict[str, tuple[dict[str, Any], dict[str, object]]] = {
    "as medvault writes them": (
        {"kdf_t": 4, "kdf_m_kib": 131072, "kdf_p": 2},
        {"alg": "argon2id", "t": 4, "m_kib": 131072, "p": 2}),
    "text, fraction, boolean": (
        {"kdf_t": "4", "kdf_m_kib": 131072.0, "kdf_p": True}, KDF),
    "zero, negative, beyond RFC 9106": (
        {"kdf_t": 0, "kdf_m_kib": -1, "kdf_p": 2**24}, KDF),
    "at RFC 9106's limits": (
        {"kdf_t": 2**32 - 1, "kdf_m_kib": 2**32 - 1, "kdf_p": 2**24 - 1},
        {"alg": "argon2id", "t": 2**32 - 1, "m_kib": 2**32 - 1, "p": 2**24 - 1}),
    "huge": ({"kdf_t": 2**70, "kdf_m_kib": None, "kdf_p": [4]}, KDF),
}  # fmt: skip


@pytest.mark.parametrize("case", list(KDF_CHANGES))
def test_only_argon2_parameters_reach_the_evidence(book: Book, case: str) -> None:
    """Fault 3: passwd's kdf_t, kdf_m_kib, kdf_p were copied into the report unchecked
    (text or a huge number in report.json, against the schema)."""
    changed, shown = KDF_CHANGES[case]
    book.add("create", CREATED, CREATE)
    book.add("passwd", at(4), {**changed, "passphrase_policy": MET})
    book.lose()
    assert book.report().encryption.kdf == shown


@pytest.mark.parametrize(
    ("kdf", "shown"),
    [
        ({**KDF, "t": "3", "salt": [1, 2], "m_kib": 2**33}, {"alg": "argon2id", "p": 4}),
        (
            {"t": 3, "m_kib": 65536, "p": 4},
            {"alg": "not recorded", **{k: v for k, v in KDF.items() if k != "alg"}},
        ),
        ({"alg": ["argon2id"]}, {}),
        ({"alg": "scrypt"}, {"alg": "scrypt"}),  # as recorded: the evidence, not a claim
    ],
    ids=repr,
)
def test_only_a_named_kdf_and_its_parameters_are_copied_from_create(
    book: Book, kdf: dict[str, Any], shown: dict[str, object]
) -> None:
    book.add("create", CREATED, {**CREATE, "kdf": kdf})
    book.lose()
    assert book.report().encryption.kdf == shown


NO_DISCOVERY = "no discovery time (discovered_at)"
BAD_DISCOVERY = "a discovery time (discovered_at) that is not an ISO 8601 time"
NO_INCIDENT = "no incident id (incident_id)"


@pytest.mark.parametrize(
    ("details", "missing"),
    [
        ({"incident_id": "INC-9", "reported_by": "Pat P"}, NO_DISCOVERY),
        ({**LOST, "discovered_at": "last week"}, BAD_DISCOVERY),
        ({**LOST, "discovered_at": 1795163400}, BAD_DISCOVERY),
        ({"discovered_at": lost_book.DISCOVERED, "reported_by": "Pat P"}, NO_INCIDENT),
        ({**LOST, "incident_id": ""}, NO_INCIDENT),
        ({**LOST, "incident_id": 9}, NO_INCIDENT),
    ],
    ids=repr,
)
def test_a_lost_event_without_a_discovery_or_incident_id_is_refused_by_name(
    book: Book, details: dict[str, Any], missing: str
) -> None:
    """Fault 4: a missing discovered_at or incident_id raised KeyError (an unreadable
    discovery, ValueError): now a RegistryError (exit 11) naming the event and the
    detail."""
    book.add("create", CREATED, CREATE)
    lost_event = book.lose(details)
    with pytest.raises(RegistryError) as raised:
        book.report()
    assert raised.value.message == (
        f"{ref(lost_event)} records {missing}, so no lost-drive report can be made"
    )
    assert raised.value.exit_code == 11
    assert raised.value.hint is not None and "medvault audit verify" in raised.value.hint


@pytest.mark.parametrize("reported_by", [None, "", 7, ["Pat"]], ids=repr)
def test_a_lost_event_without_a_reporter_says_so(book: Book, reported_by: object) -> None:
    book.add("create", CREATED, CREATE)
    book.lose({**LOST, "reported_by": reported_by})
    assert book.report().incident.reported_by == "not recorded"


def test_a_discovery_with_an_offset_is_reported_in_utc(book: Book) -> None:
    """The schema's times are UTC: a discovery recorded with an offset is the same instant
    in UTC, and the deadlines count from it on the organisation's calendar."""
    book.add("create", CREATED, CREATE)
    book.lose({**LOST, "discovered_at": "2026-11-20T10:30:00+02:00"})
    report = book.report()
    assert report.incident.discovered_at == report.deadlines.discovered_at == lost_book.DISCOVERED
    assert report.deadlines.discovered_local == "2026-11-20T00:30-08:00"


# -- neighbours: every other detail the evidence quotes -----------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400], ids=repr)
@pytest.mark.parametrize("field", ["guesses_log10", "min_guesses_log10"])
def test_a_policy_record_that_is_not_a_finite_number_is_not_verified(
    book: Book, field: str, value: object
) -> None:
    """NaN compares false with everything, so an estimate of NaN guesses passed as met."""
    book.add("create", CREATED, CREATE)
    book.add("passwd", at(4), {"passphrase_policy": {**MET, field: value}})
    book.lose()
    assert book.finding("passphrase_policy").title == "Passphrase strength not verified"


@pytest.mark.parametrize("to", [None, "", "  ", 7, ["Bob"], {"name": "Bob"}], ids=repr)
def test_a_transfer_naming_no_recipient_leaves_the_custodian_unknown(
    book: Book, to: object
) -> None:
    book.add("create", CREATED, CREATE)
    book.add("transfer", at(3), {"to": "Carol C"})
    moved = book.add("transfer", at(4), {"to": to})
    book.lose()
    assert book.report().custody.current_custodian == (
        f"unknown (event {moved.seq}: a transfer naming no recipient)"
    )


@pytest.mark.parametrize(
    ("secret", "reason", "kind", "why"),
    [
        (None, None, "secret", "not recorded"),
        (["passphrase"], {"ticket": 12}, "secret", "ticket=12"),
        ("passphrase", ["INC-1", "INC-2"], "passphrase", "INC-1, INC-2"),
        (7, 7, "secret", "7"),
    ],
    ids=repr,
)
def test_a_disclosure_is_told_in_words(
    book: Book, secret: object, reason: object, kind: str, why: str
) -> None:
    book.add("create", CREATED, CREATE)
    told = book.add("disclosed", at(3), {"secret": secret, "reason": reason})
    book.lose()
    finding = book.finding("disclosures")
    assert finding.statement.startswith(f"The vault's {kind} is recorded as disclosed")
    assert finding.evidence == [f"{ref(told)}: {why}"]


@pytest.mark.parametrize(
    ("expires", "shown"),
    [
        (None, "None"),  # pinned by tests/unit/reports/test_lost_report_edges.py
        (1795163400, "1795163400"),
        (["never"], "never"),
        ("", "not recorded"),
    ],
    ids=repr,
)
def test_a_cached_keys_expiry_is_told_in_words(book: Book, expires: object, shown: str) -> None:
    book.add("create", CREATED, CREATE)
    remembered = book.add("remember", at(2), {"expires": expires})
    book.lose()
    assert book.finding("key_not_on_drive").evidence[-1] == (
        f"{ref(remembered)}: remembered until {shown}; no later lock on ws-01 is recorded"
    )


@pytest.mark.parametrize("slot", ["2", [2], 0, -1, 2.0], ids=repr)
def test_a_recovery_code_is_named_only_for_a_slot_number(book: Book, slot: object) -> None:
    book.add("create", CREATED, {**CREATE, "recovery_code_slot": slot})
    book.lose()
    evidence = book.finding("key_not_on_drive").evidence
    assert not any("recovery code" in line for line in evidence)


def test_a_move_is_told_in_words_and_counts_only_whole_numbers(book: Book) -> None:
    book.add("create", CREATED, CREATE)
    found = book.add("plaintext-found", at(3), {"files": 2**60, "reason": ["a", "b"]})
    move = book.add("plaintext-moved", at(4), {
        "files": 2, "left": "0", "deletion": ["zeroed-then-unlinked"],
        "stored_under": {"path": "/scan"}, "plaintext_found_event": found.event.event_id,
    })  # fmt: skip
    book.lose()
    finding = book.finding("plaintext_findings")
    assert finding.evidence[:2] == [
        f"{ref(found)}: 0 file(s) found",
        f"{ref(move)}: 2 of the 0 file(s) of event {found.seq} moved into the vault under "
        f"path=/scan; scan --into {lost.UNRECORDED_DELETION}; 0 left on the drive",
    ]


@pytest.mark.parametrize(("found", "files"), [(None, None), (True, 1), ("2", "2"), (0, 0)])
def test_an_older_move_is_matched_only_by_equal_whole_counts(
    book: Book, found: object, files: object
) -> None:
    """Before a move named its finding it was matched by count: an absent or equal
    non-count (None == None, True == 1) is no match."""
    book.add("create", CREATED, CREATE)
    book.add("plaintext-moved", at(3), {"files": 1, "left": 0, "found": found}, BOB)
    book.add("plaintext-found", at(3), {"files": files, "reason": "medvault scan --into: x"}, BOB)
    book.lose()
    finding = book.finding("plaintext_findings")
    assert finding.title == "Plaintext PHI found on the drive"
    assert len(finding.evidence) == 1  # the finding alone: no move matched


def test_declared_states_are_codes_and_categories_are_text(book: Book) -> None:
    book.add("declare", at(2), {
        "states": {"ca": 600, "California": 5, " NV ": 3, "ÇA": 4, "": 1, "TXX": 2},
        "categories": ["labs", "", "  ", 3, "notes"],
    })  # fmt: skip
    book.lose()
    contents = book.report().contents
    assert (contents.states, contents.categories) == ({"CA": 600, "NV": 3}, ["labs", "notes"])


def test_a_deeply_nested_detail_is_summarized_without_recursing_forever(book: Book) -> None:
    deep: object = "bottom"
    for _ in range(600):
        deep = [deep]
    added = book.add("add", at(2), {"files": 1, "reason": deep})
    book.lose()
    entry = next(t for t in book.report().custody.timeline if t.seq == added.seq)
    assert entry.summary == "files=1; reason: " + "(" * 9 + "..." + ")" * 9


# -- the campaign's last survivors of reports/lost.py (bench/results/mutation.md) ------------


@pytest.mark.parametrize("slot", [1, 2, 7, True], ids=repr)
def test_a_recovery_code_is_named_for_any_slot_number(book: Book, slot: object) -> None:
    """A slot number (create writes 2; any positive one names a slot) or true records a
    recovery code, which the key finding names as a way to the key."""
    book.add("create", CREATED, {**CREATE, "recovery_code_slot": slot})
    book.lose()
    evidence = book.finding("key_not_on_drive").evidence
    assert any("recovery code" in line for line in evidence)


@pytest.mark.parametrize("field", ["escrow_key_ids", "key_ids_after"])
def test_a_key_id_that_is_not_text_at_create_fails_the_escrow_finding(
    book: Book, field: str
) -> None:
    """The create event's own key ids are read as the reseal's are: a number is a key the
    vault key was sealed to that no one can name."""
    book.add("create", CREATED, {**CREATE, field: [KEY, 7]})
    book.lose()
    escrow = book.finding("escrow_key")
    assert (escrow.title, escrow.holds) == ("Escrow key not identified", False)
    shown = "escrow key id(s) not recorded as a key id (16 lowercase hex digits): 7"
    assert shown in escrow.evidence


def test_an_older_move_of_one_file_is_matched(book: Book) -> None:
    """Matching by count works for a single file too (one found, one moved)."""
    book.add("create", CREATED, CREATE)
    book.add("plaintext-moved", at(3), {"files": 1, "left": 0, "found": 1}, BOB)
    book.add("plaintext-found", at(3), {"files": 1, "reason": "medvault scan --into: x"}, BOB)
    book.lose()
    finding = book.finding("plaintext_findings")
    assert finding.title == "Plaintext PHI was on the drive (moved into the vault before the loss)"


@pytest.mark.usefixtures("los_angeles_clock")
def test_last_seen_recorded_with_an_offset_is_reported_in_utc_whatever_the_local_zone(
    book: Book,
) -> None:
    book.add("create", CREATED, CREATE)
    book.add("add", "2026-11-02T11:00:00+01:00", {"files": 1, "bytes": 4})
    book.lose()
    assert book.report().custody.last_seen_at == "2026-11-02T10:00:00Z"


# -- values a workstation wrote that the schema constrains: never copied unchecked --------


@pytest.mark.parametrize(
    "recorded", ["not-hex", "ABCDEF0123456789", f" {KEY}", KEY[:-1], KEY + "0"], ids=repr
)
def test_an_escrow_key_id_as_medvault_never_writes_one_is_not_identified(
    book: Book, recorded: str
) -> None:
    """The schema's key ids are 16 lowercase hex digits: other text is shown in the
    evidence as recorded, never copied into escrow_key_ids, and it fails the finding as a
    number does (that key may be flagged compromised under its real id)."""
    book.add("create", CREATED, {**CREATE, "escrow_key_ids": [KEY, recorded]})
    book.lose()
    report = book.report()  # validates against the schema
    assert report.encryption.escrow_key_ids == [KEY]
    escrow = next(f for f in report.findings if f.key == "escrow_key")
    assert (escrow.title, escrow.holds) == ("Escrow key not identified", False)
    assert escrow.evidence[1] == (
        f"escrow key id(s) not recorded as a key id (16 lowercase hex digits): {recorded}"
    )


@pytest.mark.parametrize(
    ("recorded", "in_utc"),
    [
        ("2026-11-02T11:00:00+01:00", "2026-11-02T10:00:00Z"),
        ("2026-11-02T10:00:00", "2026-11-02T10:00:00Z"),
        ("2026-11-02T10:00:00z", "2026-11-02T10:00:00Z"),
        ("2026-11-02T10:00:00.000000+00:00", "2026-11-02T10:00:00.000000+00:00"),
    ],
)
def test_every_event_time_in_the_report_is_utc(book: Book, recorded: str, in_utc: str) -> None:
    """Timeline times, the incident's recorded time and last seen are the same instants in
    UTC, as the schema requires (a workstation may write an offset, z or none)."""
    book.add("create", CREATED, CREATE)
    added = book.add("add", recorded, {"files": 1, "bytes": 4})
    book.lost_event = book.add("lost", recorded.replace("-02T", "-20T"), LOST)
    report = book.report()  # validates against the schema
    entry = next(t for t in report.custody.timeline if t.seq == added.seq)
    assert (entry.at, report.custody.last_seen_at) == (in_utc, in_utc)
    assert report.incident.recorded_at == in_utc.replace("-02T", "-20T")


@pytest.mark.parametrize("recorded", ["yesterday", "2026-11-02", "2026-W45-1T10:00:00Z", ""])
def test_an_event_time_that_cannot_be_read_is_null_and_quoted(book: Book, recorded: str) -> None:
    book.add("create", CREATED, CREATE)
    added = book.add("add", recorded, {"files": 1, "bytes": 4})
    book.lost_event = book.add("lost", recorded, LOST)
    report = book.report()  # validates against the schema
    entry = next(t for t in report.custody.timeline if t.seq == added.seq)
    shown = recorded or "not recorded"
    assert (entry.at, entry.summary) == (None, f"time recorded as {shown}; files=1; bytes=4")
    assert report.incident.recorded_at is None
    assert report.custody.last_seen_at == CREATED  # an unreadable time is no act in hand
    row = f'<td class="num">{added.seq}</td><td class="nowrap">—</td>'
    assert row in render_html(report)


def test_a_vault_record_and_key_package_as_medvault_never_writes_them(tmp_path: Path) -> None:
    """The vaults table and key packages are written by workstations too."""
    registry = Registry.for_path(tmp_path / "registry.sqlite")
    try:
        package = KeyPackage(VAULT, "Key-1", "mlkem768-x25519", b"sealed")
        registry.record_vault(VAULT, "Lab exports", ORG_ID, "a while ago", ALICE, [package])
        _append(registry, "create", CREATED, CREATE, ALICE)
        lost_id = _append(registry, "lost", lost_book.LOST_AT, LOST, ALICE)
        lost_event = next(s for s in registry.events() if s.event.event_id == lost_id)
        report = _build(registry, lost_event)
        _assert_sound(report)
        assert (report.custody.created_at, report.encryption.escrow_key_ids) == (None, [KEY])
        escrow = next(f for f in report.findings if f.key == "escrow_key")
        assert escrow.evidence[1].endswith("(16 lowercase hex digits): Key-1")
    finally:
        registry.close()
