"""The lost-drive evidence pack as data: what `incident lost` concludes and why.

`report.json` is exactly `asdict(LostDriveReport)` (schema: docs/lost-report.schema.json);
`report.html` renders the same object for people. Nothing here holds PHI: only counts,
digests, ids, names of staff and hosts, and times (UTC, ISO 8601; deadlines are dates
on the organisation's calendar, with its time zone).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA_ID = "medvault/lost-drive-report/v1"
SECURED = "secured, not reportable"
REPORTABLE = "reportable"


@dataclass(frozen=True)
class Finding:
    """One element of the safe-harbor argument, with the evidence behind it."""

    key: str  # stable id: encryption, key_not_on_drive, escrow_key, passphrase_policy, ...
    title: str  # short, for people
    holds: bool  # True: supports "secured"; False: disqualifies it
    statement: str  # one or two sentences
    evidence: list[str] = field(default_factory=list)  # e.g. "event 12: create at ... by ..."


@dataclass(frozen=True)
class Determination:
    secured: bool
    conclusion: str  # SECURED or REPORTABLE
    reasons: list[str]  # why; for REPORTABLE, each disqualifying finding's statement


@dataclass(frozen=True)
class Incident:
    incident_id: str
    vault_id: str
    label: str
    discovered_at: str
    reported_by: str
    recorded_at: str | None  # None: the lost event's time cannot be read
    recorded_by: str  # OS user (and declared person) who ran `incident lost`
    host: str


@dataclass(frozen=True)
class Encryption:
    payload: str  # e.g. "Cobblestone-256: AES-256-GCM, 16 KiB chunks, key-committing"
    file_keys: str  # "a random 256-bit key per stored file, wrapped under the vault key"
    key_wrap: str  # "AES-256 key wrap (RFC 3394)"
    kdf: dict[str, object]  # {"alg": "argon2id", "t": 3, "m_kib": 65536, "p": 4} or {}
    escrow_suites: list[str]
    escrow_key_ids: list[str]
    standard: str  # "NIST SP 800-111 (storage encryption); FIPS 197 AES; SP 800-38D GCM"


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    at: str | None  # None: the time recorded cannot be read (the summary quotes it)
    action: str
    who: str  # "os_user (person)" or "os_user"
    host: str
    summary: str  # counts and ids only
    event_hash: str


@dataclass(frozen=True)
class Custody:
    created_at: str | None  # None: the registry's creation time cannot be read
    created_by: str
    current_custodian: str
    last_seen_at: str | None
    last_seen_host: str
    last_seen_by: str
    timeline: list[TimelineEntry]


@dataclass(frozen=True)
class Contents:
    """Declared by staff at create/add/export (registry only) and counted from events."""

    individuals: int | None  # None: never declared
    states: dict[str, int]  # two-letter state -> individuals declared
    categories: list[str]
    files: int  # files added minus files removed
    bytes: int


@dataclass(frozen=True)
class Deadlines:
    """HIPAA 164.404-408: what would apply if the loss were reportable. Every date is a
    calendar date in the organisation's time zone (org.toml), named in TIME_ZONE."""

    discovered_at: str
    notify_individuals_by: str  # local discovery date + 60 days
    individuals: int | None
    notify_hhs_now: bool | None  # 500 or more individuals: HHS within 60 days
    media_notice_states: list[str]  # states with more than 500 residents affected
    hhs_annual_log_by: str | None  # under 500: within 60 days of the end of the calendar year
    time_zone: str = "UTC"  # IANA name the dates are on
    discovered_local: str | None = None  # discovery as the organisation's clock showed it
    time_zone_note: str | None = None  # why the dates are UTC when no zone is configured


@dataclass(frozen=True)
class AuditIntegrity:
    chain_intact: bool
    events: int
    head_hash: str
    problem: str | None


@dataclass(frozen=True)
class LostDriveReport:
    schema: str
    generated_at: str
    generator: str  # "medvault 0.1.0"
    org_name: str
    org_id: str
    incident: Incident
    determination: Determination
    findings: list[Finding]
    encryption: Encryption
    custody: Custody
    contents: Contents
    deadlines: Deadlines
    audit: AuditIntegrity
