"""What each line of the lost-drive report (reports/lost.py) decides.

The report is built in-process, the way `incident lost` builds it (`lost.build`), from a
real SQLite custody registry holding crafted events: each test pins a finding's verdict,
its evidence and wording, the boundaries of its times (exactly at a limit, one second
past), which events count (another vault's, those after the loss, unauthenticated
sightings) and the defaults. Each table row was checked to fail with the line it pins
mutated (the mutmut campaign's survivors, bench/mutation.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medvault.config import PassphrasePolicy
from medvault.registry.records import Actor, StoredEvent
from medvault.reports import lost
from medvault.reports.lost_model import AuditIntegrity, Finding
from tests.support import lost_book
from tests.support.lost_book import ALICE, BOB, CREATE, CREATED, KDF, KEY, MET, Book, ref

VAULT = "a" * 32
OTHER = "b" * 32  # another vault in the same registry: none of its events count
WRAPPED = (
    "the vault key is stored on the drive only wrapped: AES-256 key wrap under an "
    "Argon2id-derived key (passphrase slot), and HPKE-sealed to the escrow public keys"
)
PACKAGES = "1 key package(s) of this vault are held off the drive, in the registry"
RECOVERY = "a printed recovery code exists; it is kept apart from the drive"
CACHED = (
    "The vault key was kept in a workstation's OS keyring (`unlock --remember`) "
    "until after the drive was last seen, and no later `lock` on that workstation "
    "is recorded: a key that opens the vault may have travelled with the drive, "
    "for example on a laptop lost with it."
)

SECURED_REASON = (
    "The drive held only data encrypted to NIST SP 800-111 strength, no key was on "
    "or with it, and no key or way to one was compromised: under the HHS guidance "
    "the PHI is secured and its loss is not a breach requiring notification."
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with VAULT and OTHER recorded, made once: each test copies it (a new
    registry's schema takes ~0.2 s to create, a copy ~0.005 s)."""
    path = tmp_path_factory.mktemp("lost-edges") / "registry.sqlite"
    registry = lost_book.record_vault(path, VAULT)
    try:
        registry.record_vault(OTHER, "Other", "org-1", CREATED, BOB, [])
    finally:
        registry.close()
    return path


@pytest.fixture
def book(template: Path, tmp_path: Path) -> Iterator[Book]:
    with lost_book.registry_copy(template, tmp_path) as registry:
        yield Book(registry, VAULT, "INC-7")


def test_guard_the_module_under_test_is_the_one_imported() -> None:
    # The mutant runner puts a scratch copy first on sys.path; this names which one ran.
    assert Path(lost.__file__).name == "lost.py"


# -- a normal vault: every finding's exact text, and another vault's events ignored ------


def test_a_normal_vault_is_secured_with_each_findings_evidence(book: Book) -> None:
    made = book.add("create", CREATED, {**CREATE, "recovery_code_slot": True})
    added = book.add("add", "2026-11-05T10:00:00.000000Z", {"files": 2, "bytes": 1017})
    # Another vault's disclosure, remembered key and escrow use do not concern this one.
    book.add("disclosed", "2026-11-06T10:00:00Z", {"secret": "passphrase"}, BOB, OTHER)
    book.add("remember", "2026-11-06T10:00:00Z", {"expires": "2027-01-01T00:00:00Z"}, BOB, OTHER)
    book.add("recover", "2026-11-06T11:00:00Z", {}, BOB, OTHER)
    book.add("escrow-compromised", "2026-11-07T10:00:00Z", {"key_id": "9999"}, BOB, None)
    lost_event = book.lose()
    report = book.report()
    assert report.determination.secured is True
    assert [(f.key, f.holds) for f in report.findings] == [
        ("encryption", True), ("key_not_on_drive", True), ("escrow_key", True),
        ("passphrase_policy", True), ("disclosures", True), ("plaintext_findings", True),
        ("audit_chain", True),
    ]  # fmt: skip
    by_key = {f.key: f for f in report.findings}
    assert ref(made) == f"event 1: create at {CREATED} by alice (Alice Admin) on ws-01"
    assert by_key["encryption"].evidence == [ref(made), "format: docs/FORMAT.md (medvault/v1)"]
    assert by_key["encryption"] == Finding(
        "encryption",
        "Encrypted to NIST SP 800-111 strength",
        True,
        "Every file on the drive was encrypted with its own random 256-bit key (AES-256-GCM "
        "via Cobblestone-256, key-committing, authenticated); names and paths too.",
        [ref(made), "format: docs/FORMAT.md (medvault/v1)"],
    )
    assert report.determination.reasons == [SECURED_REASON]
    assert by_key["escrow_key"].statement == (
        "No escrow key this vault was ever sealed to is flagged compromised."
    )
    assert by_key["disclosures"] == Finding(
        "disclosures",
        "No passphrase or recovery code disclosed",
        True,
        "No disclosure of the passphrase or recovery code is recorded for this vault.",
        [],
    )
    assert by_key["plaintext_findings"] == Finding(
        "plaintext_findings",
        "No plaintext found on the drive",
        True,
        "No plaintext PHI outside the vault is recorded for this drive.",
        [],
    )
    assert by_key["key_not_on_drive"] == Finding(
        "key_not_on_drive",
        "No usable key on or with the drive",
        True,
        "No key that can decrypt the data was on the drive unwrapped; the passphrase is "
        "never stored, and the escrow private key is split among security admins.",
        [ref(made), WRAPPED, PACKAGES, RECOVERY],
    )
    assert by_key["escrow_key"].evidence == [
        f"escrow key(s) ever sealed to this vault: {KEY}",
        "the escrow key was never used on this vault",
    ]
    assert by_key["passphrase_policy"].statement == (
        "Every passphrase the vault was given met the policy (at least 15 characters and "
        "10^12 estimated guesses, not a common or breached password) and is stretched with "
        "Argon2id (t=3, m=65536 KiB, p=4)."
    )
    assert by_key["passphrase_policy"].evidence == [ref(made)]
    head_seq, head_hash = book.registry.head()
    assert by_key["audit_chain"].statement == (
        f"The registry's hash-chained audit trail of {head_seq} events verifies."
    )
    assert report.audit == AuditIntegrity(True, head_seq, head_hash, None)
    assert report.incident.incident_id == "INC-7"
    assert report.incident.reported_by == "Pat P"
    assert report.incident.discovered_at == lost_book.DISCOVERED
    assert report.incident.recorded_at == lost_book.LOST_AT
    assert report.encryption.escrow_suites == [lost_book.SUITE]
    assert report.encryption.escrow_key_ids == [KEY]
    assert [e.seq for e in report.custody.timeline] == [made.seq, added.seq, lost_event.seq]
    assert report.contents.files == 2


@pytest.mark.parametrize(
    ("slot", "printed"), [(True, [RECOVERY]), (False, []), (None, [])], ids=str
)
def test_the_recovery_code_is_named_only_when_the_vault_has_one(
    book: Book, slot: bool | None, printed: list[str]
) -> None:
    details = dict(CREATE) if slot is None else {**CREATE, "recovery_code_slot": slot}
    made = book.add("create", CREATED, details)
    book.lose()
    assert book.finding("key_not_on_drive").evidence == [ref(made), WRAPPED, PACKAGES, *printed]


def test_a_vault_without_a_create_record_cannot_show_its_encryption(book: Book) -> None:
    book.add("add", "2026-11-05T10:00:00.000000Z", {"files": 1, "bytes": 10})
    book.lose()
    report = book.report()
    findings = {f.key: f for f in report.findings}
    assert findings["encryption"] == Finding(
        "encryption",
        "Encrypted by medvault",
        False,
        "The registry has no record of this vault being created by medvault, so its "
        "encryption cannot be shown.",
        [],
    )
    assert findings["key_not_on_drive"].evidence == [WRAPPED, PACKAGES]
    assert findings["passphrase_policy"].evidence == []
    assert findings["passphrase_policy"].title == "Passphrase policy not recorded"
    assert report.determination.secured is False


def test_a_broken_chain_is_named_with_its_first_bad_event(book: Book) -> None:
    book.add("create", CREATED, CREATE)
    book.add("add", "2026-11-05T10:00:00.000000Z", {"files": 1, "bytes": 10})
    book.lose()
    with book.registry.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET host = 'elsewhere' WHERE action = 'add'")
    problem = book.registry.verify_chain()
    assert problem is not None
    assert problem.seq == 2
    report = book.report()
    head_seq, head_hash = book.registry.head()
    assert report.audit == AuditIntegrity(False, head_seq, head_hash, problem.reason)
    assert report.findings[-1] == Finding(
        "audit_chain",
        "Audit trail damaged",
        False,
        f"The registry's audit chain is broken ({problem.reason}); the custody evidence "
        "cannot be relied on.",
        ["first bad event: 2"],
    )
    assert report.determination.reasons == [report.findings[-1].statement]


# -- the passphrase policy: the org's current policy is the one the report applies -------


def test_the_policy_passed_in_is_the_one_applied(book: Book) -> None:
    book.add("create", CREATED, CREATE)
    book.lose()
    stricter = PassphrasePolicy(20, 14.0)
    finding = book.finding("passphrase_policy", policy=stricter)
    assert (finding.holds, finding.title) == (False, "Passphrase strength not verified")
    assert "(at least 20 characters and 10^14 estimated guesses)" in finding.statement
    assert book.finding("passphrase_policy").title == "Passphrase policy met"


# The creation record, changed: its verdict under the default policy (15, 10^12).
VERDICTS: dict[str, tuple[dict[str, object], str]] = {
    "as recorded": ({}, "met"),
    "estimate exactly at the floor": ({"guesses_log10": 12.0}, "met"),
    "estimate just under the floor": ({"guesses_log10": 11.99}, "not verified"),
    "estimate as text": ({"guesses_log10": "20"}, "not verified"),
    "estimate as a boolean": ({"guesses_log10": True}, "not verified"),
    "no estimate": ({"guesses_log10": None}, "not verified"),
    "floor as text": ({"min_guesses_log10": "12"}, "not verified"),
    "no floor": ({"min_guesses_log10": None}, "not verified"),
    "length as text": ({"min_length": "15"}, "not verified"),
    "a laxer floor, met under it": (
        {"min_guesses_log10": 10.0, "guesses_log10": 11.0}, "not verified"),
    "a laxer length": ({"min_length": 14}, "not verified"),
    "integer estimate and floor": ({"min_guesses_log10": 12, "guesses_log10": 13}, "met"),
    "met not recorded": ({"met": None}, "not met"),
}  # fmt: skip
TITLES = {
    "met": (True, "Passphrase policy met"),
    "not verified": (False, "Passphrase strength not verified"),
    "not met": (False, "Passphrase policy not met"),
}


@pytest.mark.parametrize("case", list(VERDICTS))
def test_each_recorded_policy_check_gets_its_verdict(book: Book, case: str) -> None:
    change, verdict = VERDICTS[case]
    record = {k: v for k, v in {**MET, **change}.items() if v is not None}
    made = book.add("create", CREATED, {**CREATE, "passphrase_policy": record})
    book.lose()
    finding = book.finding("passphrase_policy")
    assert (finding.holds, finding.title) == TITLES[verdict]
    assert finding.evidence == [ref(made)]


LATER = {  # a later passphrase's record (None: none recorded): the verdict
    "passwd, met": ("passwd", MET, "met"),
    "passwd, nothing recorded": ("passwd", None, "not verified"),
    "passwd, a record that is not a mapping": ("passwd", "met", "not verified"),
    "recover-reset, failed": ("recover-reset", {**MET, "met": False}, "not met"),
    "recover-reset, nothing recorded": ("recover-reset", None, "not verified"),
    "passwd, not a passphrase change": ("verify", None, "met"),
}


@pytest.mark.parametrize("case", list(LATER))
def test_every_later_passphrase_is_judged_too(book: Book, case: str) -> None:
    action, record, verdict = LATER[case]
    made = book.add("create", CREATED, CREATE)
    later = book.add(
        action, "2026-11-03T10:00:00Z", {} if record is None else {"passphrase_policy": record}
    )
    book.lose()
    finding = book.finding("passphrase_policy")
    assert (finding.holds, finding.title) == TITLES[verdict]
    setters = [made] if action == "verify" else [made, later]
    assert finding.evidence == [ref(s) for s in setters]


# -- when the drive was last seen, and whether a cached key was still live then ----------

ADDED = "2026-11-05T10:00:00.000000Z"  # the last act with the drive in hand, in the base case
SEEN_AT = "2026-11-15T10:00:00.000000Z"


def _live_remember(book: Book) -> StoredEvent:
    """A remembered key with no expiry and no lock: the finding prints when last seen."""
    return book.add("remember", "2026-11-02T10:00:00.000000Z", {"expires": "never"})


def _last_seen(finding: Finding) -> str:
    (line,) = [e for e in finding.evidence if e.startswith("the drive was last seen at ")]
    return line.removeprefix("the drive was last seen at ")


# Events besides create (Nov 1), remember (Nov 2), add (Nov 5): when the drive was last seen.
Extra = list[tuple[str, str, str, dict[str, Any]]]
LAST_SEEN: dict[str, tuple[Extra, str]] = {
    "the last act before the loss": ([], "2026-11-05T10:00:00+00:00"),
    "an act recorded after the loss does not count": (
        [("after", "add", "2026-11-10T10:00:00Z", {})], "2026-11-05T10:00:00+00:00"),
    "a sighting without the passphrase does not count": (
        [("before", "seen", SEEN_AT, {"unlocked": False})], "2026-11-05T10:00:00+00:00"),
    "a sighting with no authentication recorded does not count": (
        [("before", "seen", SEEN_AT, {"where": "/media/x"})], "2026-11-05T10:00:00+00:00"),
    "an unlocked sighting (older record) counts": (
        [("before", "seen", SEEN_AT, {"unlocked": True})], "2026-11-15T10:00:00+00:00"),
    "an authenticated sighting counts": (
        [("before", "seen", SEEN_AT, {"authenticated": True})], "2026-11-15T10:00:00+00:00"),
    "authenticated False overrides unlocked True": (
        [("before", "seen", SEEN_AT, {"authenticated": False, "unlocked": True})],
        "2026-11-05T10:00:00+00:00"),
    "an act timed after the discovery is capped at the discovery": (
        [("before", "verify", "2026-11-21T10:00:00Z", {})], "2026-11-20T08:30:00+00:00"),
    "an act whose time cannot be read does not count": (
        [("before", "verify", "last tuesday", {})], "2026-11-05T10:00:00+00:00"),
    "a time without an offset is UTC": (
        [("before", "verify", "2026-11-15T10:00:00", {})], "2026-11-15T10:00:00+00:00"),
    "a non-drive act (declare) does not count": (
        [("before", "declare", SEEN_AT, {"individuals": 3})], "2026-11-05T10:00:00+00:00"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(LAST_SEEN))
def test_when_the_drive_was_last_seen(book: Book, case: str) -> None:
    extra, expected = LAST_SEEN[case]
    book.add("create", CREATED, CREATE)
    _live_remember(book)
    book.add("add", ADDED, {"files": 1})
    for when, action, at, details in extra:
        if when == "before":
            book.add(action, at, details)
    book.lose()
    for when, action, at, details in extra:
        if when == "after":
            book.add(action, at, details)
    assert _last_seen(book.finding("key_not_on_drive")) == expected


def test_with_no_act_before_the_loss_the_creation_time_is_last_seen(book: Book) -> None:
    """No create record (an imported vault), nothing done with the drive before the
    loss: the vault's recorded creation is when it was last seen, not the discovery."""
    book.add("seen", SEEN_AT, {"unlocked": False})
    book.lose()
    book.add("remember", "2026-11-21T10:00:00Z", {})
    assert _last_seen(book.finding("key_not_on_drive")) == "2026-11-01T09:00:00+00:00"


def test_with_no_time_at_all_the_last_sighting_is_unknown(book: Book) -> None:
    """Neither a creation time nor a discovery time can be read (build() refuses such a
    discovery in its deadlines; the finding itself says it does not know)."""
    lost_event = book.lose(discovered="unknown")
    remember = book.add("remember", "2026-11-19T10:00:00Z", {})  # after the loss
    finding = lost.key_not_on_drive_finding(book.registry.events(VAULT), [], lost_event, "unknown")
    assert finding.evidence[-2:] == [
        "the drive was last seen at an unknown time",
        f"{ref(remember)}: remembered until None; no later lock on ws-01 is recorded",
    ]
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        book.report()


def test_a_live_cached_key_makes_the_finding_fail_with_its_evidence(book: Book) -> None:
    made = book.add("create", CREATED, CREATE)
    remember = book.add(
        "remember", "2026-11-02T10:00:00.000000Z", {"expires": "2026-11-05T10:00:01Z"}
    )
    book.add("add", ADDED, {"files": 1})
    book.lose()
    assert book.finding("key_not_on_drive") == Finding(
        "key_not_on_drive",
        "A cached vault key may be with the drive",
        False,
        CACHED,
        [
            ref(made), WRAPPED, PACKAGES, "the drive was last seen at 2026-11-05T10:00:00+00:00",
            f"{ref(remember)}: remembered until 2026-11-05T10:00:01Z; no later lock on ws-01 "
            "is recorded",
        ],
    )  # fmt: skip
    assert book.report().determination.reasons == [CACHED]


EXPIRED = "expired before the drive was last seen"
REMEMBERED = {  # expiry, locks (host, at): live or how it ended
    "expired one second before last seen": ("2026-11-05T09:59:59Z", [], EXPIRED),
    "expired exactly when last seen": ("2026-11-05T10:00:00Z", [], EXPIRED),
    "expires one second after last seen": ("2026-11-05T10:00:01Z", [], "live"),
    "an expiry that cannot be read": ("soon", [], "live"),
    "locked later on the same workstation": (
        "2027-01-01T00:00:00Z", [("ws-01", "2026-11-03T10:00:00Z")], "forgotten"),
    "locked at the same instant on the same workstation": (
        "2027-01-01T00:00:00Z", [("ws-01", "2026-11-02T10:00:00Z")], "live"),
    "locked before it on the same workstation": (
        "2027-01-01T00:00:00Z", [("ws-01", "2026-11-02T09:00:00Z")], "live"),
    "locked later on another workstation": (
        "2027-01-01T00:00:00Z", [("ws-02", "2026-11-03T10:00:00Z")], "live"),
    "a lock whose time cannot be read": ("2027-01-01T00:00:00Z", [("ws-01", "later")], "live"),
    "the first later lock is named": (
        "2027-01-01T00:00:00Z",
        [("ws-02", "2026-11-03T10:00:00Z"), ("ws-01", "2026-11-04T10:00:00Z"),
         ("ws-01", "2026-11-04T11:00:00Z")], "forgotten"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REMEMBERED))
def test_whether_a_remembered_key_was_still_cached(book: Book, case: str) -> None:
    expires, locks, outcome = REMEMBERED[case]
    made = book.add("create", CREATED, CREATE)
    remember = book.add("remember", "2026-11-02T10:00:00Z", {"expires": expires})
    locked = [book.add("lock", at, {}, Actor("alice", host)) for host, at in locks]
    book.add("add", ADDED, {"files": 1})
    book.lose()
    finding = book.finding("key_not_on_drive")
    until = f"{ref(remember)}: remembered until {expires}"
    if outcome == "live":
        assert not finding.holds
        assert finding.evidence[-1] == f"{until}; no later lock on ws-01 is recorded"
        return
    assert finding.holds
    if outcome == EXPIRED:
        assert finding.evidence == [ref(made), WRAPPED, PACKAGES, f"{until}; {EXPIRED}"]
    else:
        first = next(s for s in locked if s.event.actor.host == "ws-01")
        assert finding.evidence == [
            ref(made),
            WRAPPED,
            PACKAGES,
            f"{until}; forgotten there by {ref(first)}",
        ]


# -- plaintext found on the drive, and the moves that count ------------------------------

SCAN = "medvault scan --into: 2 file(s) with PHI"
RESIDUE_LINE = f"why a move does not make the finding hold: {lost.RESIDUE}"


def _found(
    book: Book, files: object, reason: str | None = "scan", at: str = "2026-11-18T14:05:00Z"
) -> StoredEvent:
    details: dict[str, Any] = {"files": files}
    if reason is not None:
        details["reason"] = reason
    return book.add("plaintext-found", at, details)


def _moved(
    book: Book,
    found: StoredEvent | None,
    moved: int,
    left: int,
    at: str = "2026-11-18T15:00:00Z",
    actor: Actor = ALICE,
) -> StoredEvent:
    details: dict[str, Any] = {
        "found": moved + left, "files": moved, "left": left, "deletion": "zeroed-then-unlinked",
        "stored_under": "/scan",
    }  # fmt: skip
    if found is not None:
        details["plaintext_found_event"] = found.event.event_id
    return book.add("plaintext-moved", at, details, actor)


@pytest.mark.parametrize(
    ("reason", "shown"), [(None, ""), ("", ""), ("  ", ""), (" scan ", "; scan")], ids=repr
)
def test_a_finding_without_a_reason_is_listed_without_one(
    book: Book, reason: str | None, shown: str
) -> None:
    book.add("create", CREATED, CREATE)
    found = _found(book, 3, reason)
    book.lose()
    assert book.finding("plaintext_findings") == Finding(
        "plaintext_findings",
        "Plaintext PHI found on the drive",
        False,
        "3 plaintext file(s) with PHI were found on the same drive outside the vault: "
        "3 found 2026-11-18 14:05 UTC, with no move into the vault recorded. "
        "Encryption does not cover them.",
        [f"{ref(found)}: 3 file(s) found{shown}"],
    )


@pytest.mark.parametrize(
    ("files", "counted"),
    [(-3, 0), (0, 0), (2.5, 0), ("4", 0), (None, 0), (1, 1), (True, 0)],
    ids=repr,
)
def test_only_a_positive_whole_file_count_is_counted(
    book: Book, files: object, counted: int
) -> None:
    book.add("create", CREATED, CREATE)
    found = _found(book, files)
    book.lose()
    finding = book.finding("plaintext_findings")
    assert finding.statement.startswith(f"{counted} plaintext file(s) with PHI were found")
    assert finding.evidence == [f"{ref(found)}: {counted} file(s) found; scan"]


MOVES = {  # moved, left, minutes after discovery (None: before): title, any moved
    "one moved, none left": (1, 0, None, "moved", True),
    "two moved, none left": (2, 0, None, "moved", True),
    "one moved, one left": (1, 1, None, "found", True),
    "none moved, three left": (0, 3, None, "found", False),
    "none moved, none left": (0, 0, None, "found", False),
    "moved exactly at the discovery": (2, 0, 0, "moved", True),
    "moved one second after the discovery": (2, 0, 1, "after", False),
}  # fmt: skip
TITLE = {
    "moved": "Plaintext PHI was on the drive (moved into the vault before the loss)",
    "found": "Plaintext PHI found on the drive",
    "after": "Plaintext PHI found on the drive",
}


@pytest.mark.parametrize("case", list(MOVES))
def test_what_a_recorded_move_makes_of_the_finding(book: Book, case: str) -> None:
    moved, left, late, title, any_moved = MOVES[case]
    book.add("create", CREATED, CREATE)
    found = _found(book, 2)
    at = "2026-11-18T15:00:00Z" if late is None else f"2026-11-20T08:30:0{late}Z"
    move = _moved(book, found, moved, left, at)
    book.lose()
    finding = book.finding("plaintext_findings")
    assert (finding.holds, finding.title) == (False, TITLE[title])
    assert (RESIDUE_LINE in finding.evidence) is any_moved
    assert finding.statement.endswith(
        f"copies may remain: {lost.RESIDUE}." if any_moved else "Encryption does not cover them."
    )
    if title == "after":
        assert finding.evidence[-1] == f"{ref(move)}: recorded after the loss, so it does not count"
    else:
        assert (
            f"{ref(move)}: {moved} of the 2 file(s) of event {found.seq} moved into"
            in finding.evidence[1]
        )


def test_a_move_that_names_another_finding_is_not_this_ones(book: Book) -> None:
    """An older scan --into recorded its move just before its finding; a move that names a
    finding belongs to that finding only, even when it sits just before another one."""
    book.add("create", CREATED, CREATE)
    first = _found(book, 2, "manual check")
    _moved(book, first, 2, 0)
    second = _found(book, 2, SCAN, at="2026-11-18T15:00:01Z")
    book.lose()
    finding = book.finding("plaintext_findings")
    assert finding.title == "Plaintext PHI found on the drive"
    assert "2 found 2026-11-18 15:00 UTC, with no move into the vault recorded" in finding.statement
    assert f"{ref(second)}: 2 file(s) found; {SCAN}" in finding.evidence


def test_an_older_unnamed_move_just_before_its_scan_finding_counts(book: Book) -> None:
    book.add("create", CREATED, CREATE)
    move = book.add(
        "plaintext-moved", "2026-11-18T15:00:00Z",
        {"files": 2, "left": 0, "found": 2, "stored_under": "/scan"},
    )  # fmt: skip
    found = _found(book, 2, SCAN, at="2026-11-18T15:00:01Z")
    book.lose()
    finding = book.finding("plaintext_findings")
    assert finding.title == TITLE["moved"]
    assert finding.evidence[1] == (
        f"{ref(move)}: 2 of the 2 file(s) of event {found.seq} moved into the vault under "
        f"/scan; scan --into {lost.UNRECORDED_DELETION}; 0 left on the drive"
    )


@pytest.mark.parametrize(
    ("at", "shown"),
    [
        ("unknown, zone unset", "unknown, zone unset"),
        ("2026-11-18T14:05:00z", "2026-11-18 14:05 UTC"),  # ISO 8601 allows a lowercase z
        ("2026-11-18", "2026-11-18"),  # a date alone is no moment
        ("2026-11-18T14:05:00Z", "2026-11-18 14:05 UTC"),
        ("2026-11-18T14:05:00+01:00", "2026-11-18 13:05 UTC"),
    ],
)
def test_a_time_that_cannot_be_read_is_shown_as_recorded(book: Book, at: str, shown: str) -> None:
    """The report reads a time with a Z (either case) or an offset; any other text is shown
    as recorded rather than guessed at."""
    book.add("create", CREATED, CREATE)
    _found(book, 1, at=at)
    book.lose()
    finding = book.finding("plaintext_findings")
    assert f"1 found {shown}, with no move" in finding.statement


def test_a_move_whose_time_cannot_be_read_counts_by_its_place_in_the_chain(book: Book) -> None:
    """Recorded before the loss and not readably timed after the discovery: it counts."""
    book.add("create", CREATED, CREATE)
    found = _found(book, 2)
    _moved(book, found, 2, 0, at="2026-11-20 at half past eight")
    book.lose()
    assert book.finding("plaintext_findings").title == TITLE["moved"]


# -- the timeline's summaries, in words people read ----------------------------------------

SUMMARIES: dict[str, tuple[dict[str, Any], str]] = {
    "counts": ({"files": 2, "bytes": 1017}, "files=2; bytes=1017"),
    "a mapping and a list": (
        {"states": {"CA": 550, "NV": 70}, "categories": ["labs", "notes"]},
        "states: CA=550, NV=70; categories: labs, notes"),
    "nested values in parentheses": (
        {"approvers": [["ann", "bo"], {"k": 1}, "cy"], "states": {"CA": [1, 2]}},
        "states: CA=(1, 2); approvers: (ann, bo), (k=1), cy"),
    "booleans as yes and no": (
        {"authenticated": True, "where": "/m"}, "where=/m; authenticated=yes"),
    "false is no": ({"authenticated": False}, "authenticated=no"),
    "nothing kept: the action": ({"other": 1, "files": None, "to": ""}, "sync"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SUMMARIES))
def test_timeline_summaries_read_as_people_write_them(book: Book, case: str) -> None:
    details, text = SUMMARIES[case]
    book.add("sync", "2026-11-02T10:00:00Z", details)
    book.lose()
    assert book.report().custody.timeline[0].summary == text


# -- disclosures, the escrow key, and what the report counts ------------------------------


@pytest.mark.parametrize(
    ("secrets", "kinds"),
    [
        (["passphrase"], "passphrase"),
        (["recovery-code", "passphrase", "recovery-code"], "passphrase and recovery-code"),
    ],
)
def test_a_disclosed_secret_fails_the_finding(book: Book, secrets: list[str], kinds: str) -> None:
    book.add("create", CREATED, CREATE)
    told = [
        book.add("disclosed", CREATED, {"secret": s, "reason": f"INC-{i}"})
        for i, s in enumerate(secrets)
    ]
    book.lose()
    finding = book.finding("disclosures")
    assert finding == Finding(
        "disclosures",
        "A secret was disclosed",
        False,
        f"The vault's {kinds} is recorded as disclosed, so whoever holds the drive may be "
        "able to open it.",
        [f"{ref(s)}: INC-{i}" for i, s in enumerate(told)],
    )


def test_a_compromised_escrow_key_sealed_to_the_vault_fails_the_finding(book: Book) -> None:
    book.add("create", CREATED, CREATE)
    book.add("reseal", CREATED, {"key_ids_before": [KEY], "key_ids_after": ["5555666677778888"]})
    flag = book.add("escrow-compromised", CREATED, {"key_id": "5555666677778888"}, BOB, None)
    never_sealed = "7777888899990000"
    book.add("escrow-compromised", CREATED, {"key_id": never_sealed}, BOB, None)
    book.lose()
    report = book.report()
    assert report.encryption.escrow_key_ids == [KEY, "5555666677778888"]
    assert report.findings[2] == Finding(
        "escrow_key",
        "Escrow key compromised",
        False,
        "An escrow key that this vault's key was sealed to is flagged compromised, so "
        "the vault key may be known to an unauthorised person.",
        [
            f"escrow key(s) ever sealed to this vault: {KEY}, 5555666677778888",
            "the escrow key was never used on this vault",
            f"{ref(flag)} (key 5555666677778888)",
        ],
    )


@pytest.mark.parametrize("field_name", ["escrow_key_ids", "key_ids_before", "key_ids_after"])
@pytest.mark.parametrize("action", ["create", "reseal"])
def test_every_key_a_create_or_reseal_names_was_sealed_to(
    book: Book, action: str, field_name: str
) -> None:
    book.add(action, CREATED, {field_name: ["5555666677778888"]})
    book.add("passwd", CREATED, {"escrow_key_ids": ["6666777788889999"]})  # not a sealing event
    book.lose()
    assert book.report().encryption.escrow_key_ids == [KEY, "5555666677778888"]


def test_escrow_recovery_is_counted_but_does_not_fail_the_finding(book: Book) -> None:
    book.add("create", CREATED, CREATE)
    used = [book.add(a, CREATED, {}) for a in ("recover", "recover-reset")]
    book.lose()
    finding = book.finding("escrow_key")
    assert finding == Finding(
        "escrow_key",
        "Escrow key not compromised",
        True,
        "No escrow key this vault was ever sealed to is flagged compromised; escrow recovery "
        "was used 2 time(s), each recorded.",
        [f"escrow key(s) ever sealed to this vault: {KEY}", *[ref(s) for s in used]],
    )


def test_a_create_without_a_policy_record_is_not_recorded(book: Book) -> None:
    made = book.add("create", CREATED, {"kdf": KDF, "passphrase_policy": "met"})
    book.lose()
    assert book.finding("passphrase_policy") == Finding(
        "passphrase_policy",
        "Passphrase policy not recorded",
        False,
        "The passphrase policy check at creation is not recorded, so the strength of "
        "the passphrase protecting the key cannot be shown.",
        [ref(made)],
    )


@pytest.mark.parametrize(
    ("kdf", "shown"), [(KDF, "(t=3, m=65536 KiB, p=4)"), (None, "(t=None, m=None KiB, p=None)")]
)
def test_the_met_statement_names_the_kdf(book: Book, kdf: object, shown: str) -> None:
    details = {"passphrase_policy": MET} if kdf is None else CREATE
    book.add("create", CREATED, details)
    book.lose()
    assert book.finding("passphrase_policy").statement.endswith(f"Argon2id {shown}.")


def test_the_failing_policy_findings_statements(book: Book) -> None:
    made = book.add("create", CREATED, CREATE)
    bad = book.add("passwd", CREATED, {"passphrase_policy": {**MET, "met": False}})
    book.lose()
    assert book.finding("passphrase_policy") == Finding(
        "passphrase_policy",
        "Passphrase policy not met",
        False,
        "A passphrase this vault was given did not meet the policy; it may be guessable.",
        [ref(made), ref(bad)],
    )


def test_the_unverified_policy_findings_statement(book: Book) -> None:
    made = book.add("create", CREATED, {**CREATE, "passphrase_policy": {**MET, "min_length": 12}})
    book.lose()
    assert book.finding("passphrase_policy") == Finding(
        "passphrase_policy",
        "Passphrase strength not verified",
        False,
        "A passphrase this vault was given was checked only against an older or weaker "
        "policy than the organisation's current one (at least 15 characters and 10^12 "
        "estimated guesses), so its strength cannot be shown.",
        [ref(made)],
    )


KDFS: dict[str, tuple[list[tuple[str, dict[str, Any]]], dict[str, object]]] = {
    "create's": ([("create", {"kdf": KDF})], KDF),
    "changed by passwd": (
        [("create", {"kdf": KDF}), ("passwd", {"kdf_t": 4, "kdf_m_kib": 131072, "kdf_p": 2})],
        {"alg": "argon2id", "t": 4, "m_kib": 131072, "p": 2}),
    "changed by recover-reset, in part": (
        [("create", {"kdf": KDF}), ("recover-reset", {"kdf_t": 5})], {**KDF, "t": 5}),
    "no create record": ([("passwd", {"kdf_p": 1})], {"alg": "argon2id", "p": 1}),
    "a kdf that is not a mapping": ([("create", {"kdf": "argon2id"})], {}),
    "nothing recorded": ([], {}),
}  # fmt: skip


@pytest.mark.parametrize("case", list(KDFS))
def test_the_kdf_in_force_at_the_loss(book: Book, case: str) -> None:
    events, expected = KDFS[case]
    book.lose_after(events)
    assert book.report().encryption.kdf == expected


CONTENTS: dict[str, tuple[list[tuple[str, dict[str, Any]]], tuple[object, ...]]] = {
    "added, exported, removed": (
        [("add", {"files": 2, "bytes": 100}), ("export", {"files": 3, "bytes": 30}),
         ("rm", {"files": 1, "bytes": 5}), ("add", {}), ("rm", {})],
        (None, {}, [], 4, 125)),
    "more removed than added": (
        [("add", {"files": 1, "bytes": 10}), ("rm", {"files": 3, "bytes": 40})],
        (None, {}, [], 0, 0)),
    "declarations add up": (
        [("declare", {"individuals": 40, "states": {"TX": 40}, "categories": ["labs"]}),
         ("declare", {"individuals": 60, "states": {"TX": 10, "CA": 50},
                      "categories": ["notes", "labs"]}),
         ("declare", {"individuals": "7"})],
        (100, {"CA": 50, "TX": 50}, ["labs", "notes"], 0, 0)),
    "one declaration of one": ([("declare", {"individuals": 1})], (1, {}, [], 0, 0)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CONTENTS))
def test_what_the_drive_held(book: Book, case: str) -> None:
    events, expected = CONTENTS[case]
    book.lose_after(events)
    c = book.report().contents
    assert (c.individuals, c.states, c.categories, c.files, c.bytes) == expected


@pytest.mark.parametrize(
    ("individuals", "states", "hhs_now", "annual", "media"),
    [
        (499, {"CA": 499}, False, "2027-03-01", []),
        (500, {"CA": 500}, True, None, []),
        (501, {"CA": 501, "NV": 500}, True, None, ["CA"]),
        (None, {}, None, None, []),
    ],
)
def test_the_thresholds_exactly_at_and_past_500(
    book: Book, individuals: int | None, states: dict[str, int], hhs_now: bool | None,
    annual: str | None, media: list[str],
) -> None:  # fmt: skip
    details: dict[str, Any] = {"states": states}
    if individuals is not None:
        details["individuals"] = individuals
    book.add("declare", CREATED, details)
    book.lose()
    d = book.report().deadlines
    assert (d.individuals, d.notify_hhs_now, d.hhs_annual_log_by, d.media_notice_states) == (
        individuals, hhs_now, annual, media,
    )  # fmt: skip
    assert d.notify_individuals_by == "2027-01-19"


def test_custody_names_the_last_act_and_the_last_recipient(book: Book) -> None:
    book.add("create", CREATED, CREATE)
    book.add("transfer", "2026-11-02T10:00:00Z", {"to": "Al"}, ALICE)
    book.add("transfer", "2026-11-03T10:00:00Z", {"to": "Bo"}, BOB)
    book.add("add", "2026-11-06T10:00:00Z", {"files": 1}, BOB)
    book.add("transfer", "2026-11-04T10:00:00Z", {"to": "Cy"}, ALICE)  # recorded later
    book.add("declare", "2026-11-09T10:00:00Z", {"individuals": 1})  # not a drive act
    book.lose()
    c = book.report().custody
    assert (c.current_custodian, c.last_seen_at, c.last_seen_host, c.last_seen_by) == (
        "Cy", "2026-11-06T10:00:00Z", "ws-02", "bob",
    )  # fmt: skip
    assert (c.created_at, c.created_by) == (CREATED, "alice (Alice Admin)")


def test_custody_with_no_act_falls_back_to_the_vault_record(book: Book) -> None:
    book.add("declare", "2026-11-09T10:00:00Z", {"individuals": 1})
    book.lose()
    c = book.report().custody
    assert (c.current_custodian, c.last_seen_at, c.last_seen_host, c.last_seen_by) == (
        "alice (Alice Admin)", CREATED, "ws-01", "alice (Alice Admin)",
    )  # fmt: skip
