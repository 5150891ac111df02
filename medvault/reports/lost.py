"""Build the lost-drive evidence pack from the custody registry (the drive is gone).

The determination is "secured, not reportable" only when every finding holds; each
finding names the events that show it. The criteria follow the HHS breach guidance:
PHI encrypted consistently with NIST SP 800-111 is "secured" unless the key, or a way to
get it, was compromised (disclosed passphrase or recovery code, compromised escrow key),
and plaintext found on the same drive is not covered by the encryption at all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeGuard
from zoneinfo import ZoneInfo

from medvault import __version__
from medvault.config import PassphrasePolicy, current_passphrase_policy
from medvault.errors import RegistryError
from medvault.registry.actions import Action
from medvault.registry.records import StoredEvent, VaultRecord
from medvault.reports import lost_model as m

NOTICE_DAYS = 60  # 45 CFR 164.404(b): without unreasonable delay, at most 60 days
HHS_THRESHOLD = 500  # 164.408(b): 500 or more individuals, HHS contemporaneously
MEDIA_THRESHOLD = 500  # 164.406: more than 500 residents of a state, media notice
NO_ZONE_NOTE = "time zone not set in org.toml; dates are UTC"
# A count a workstation recorded is taken only up to 2**53 - 1, the largest integer every
# JSON reader (JavaScript too) holds exactly: anything larger is not a count of files.
MAX_COUNT = 2**53 - 1
# A registry time as medvault writes it (2026-11-20T08:30:00.000000Z), or with a lowercase
# z or a numeric offset, or none; nothing looser (a date alone, week dates, basic format).
TIME_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"  # date and time to the second
    r"(\.[0-9]{1,6})?"  # fractions, to the microsecond
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?"  # UTC, an offset, or none (read as UTC)
)
# A state as `custody declare` writes it (USPS code), and as the report's schema requires.
STATE_CODE = re.compile(r"[A-Z]{2}")
# An escrow key id as medvault writes it, and as the report's schema requires.
KEY_ID = re.compile(r"[0-9a-f]{16}")
KEY_ID_WORDS = "16 lowercase hex digits"
# Argon2 parameters as RFC 9106 bounds them: anything outside is not a parameter medvault
# could have used, so it is left out of the evidence rather than copied into it.
KDF_PARAMS = {"t": 2**32 - 1, "m_kib": 2**32 - 1, "p": 2**24 - 1}
NOT_RECORDED = "not recorded"
# Nesting shown in a timeline summary before `...`: a registry value can nest deeply.
PLAIN_DEPTH = 8
# A lock after the loss from the workstation that cached the key (`incident lost` run
# there records one): that workstation was still in hand, so the key was not with the drive.
AFTER_THE_LOSS = "after the loss, so that workstation was in hand and the key not with the drive"
# Acts done with the drive in hand: the last one is where the drive was last seen.
DRIVE_ACTS = frozenset(
    {
        Action.CREATE, Action.ADD, Action.EXTRACT, Action.VERIFY, Action.PASSWD, Action.RM,
        Action.COMPACT, Action.REPAIR, Action.RECOVER, Action.RECOVER_RESET, Action.RESEAL,
        Action.REMEMBER, Action.SYNC, Action.SEEN, Action.TRANSFER, Action.EXPORT,
    }
)  # fmt: skip


class ChainCheck(Protocol):
    @property
    def seq(self) -> int: ...

    @property
    def reason(self) -> str: ...


class ReportRegistry(Protocol):
    def vault(self, vault_id: str) -> VaultRecord | None: ...

    def events(
        self, vault_id: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[StoredEvent]: ...

    def package_history(self, vault_id: str) -> list[dict[str, Any]]: ...

    def verify_chain(self) -> ChainCheck | None: ...

    def head(self) -> tuple[int, str]: ...


def event_ref(s: StoredEvent) -> str:
    ev = s.event
    return f"event {s.seq}: {ev.action} at {ev.at} by {ev.actor.describe()} on {ev.actor.host}"


def _of(events: Iterable[StoredEvent], *actions: Action) -> list[StoredEvent]:
    return [s for s in events if s.event.action in actions]


def build(
    registry: ReportRegistry,
    vault: VaultRecord,
    lost: StoredEvent,
    org_name: str,
    org_id: str,
    generated_at: str,
    time_zone: str | None = None,
    passphrase_policy: PassphrasePolicy | None = None,
) -> m.LostDriveReport:
    """The report on LOST; TIME_ZONE (IANA, from org.toml) is the calendar the deadlines
    are counted on, None for an org.toml that predates it (then UTC, and the report says so)."""
    events = registry.events(vault.vault_id)
    everything = registry.events()
    packages = registry.package_history(vault.vault_id)
    problem = registry.verify_chain()
    head_seq, head_hash = registry.head()
    discovered, incident_id = _incident_of(lost)

    findings = [
        _encryption(events),
        key_not_on_drive_finding(events, packages, lost, vault.created_at),
        _escrow_key(events, everything, packages),
        _passphrase_policy(events, passphrase_policy),
        _disclosures(events),
        _plaintext(events, lost, time_zone),
        _audit_chain(problem, head_seq),
    ]
    contents = declared_contents(events)
    return m.LostDriveReport(
        schema=m.SCHEMA_ID,
        generated_at=generated_at,
        generator=f"medvault {__version__}",
        org_name=org_name,
        org_id=org_id,
        incident=m.Incident(
            incident_id=incident_id,
            vault_id=vault.vault_id,
            label=vault.label,
            discovered_at=discovered,
            reported_by=_text(lost.event.details.get("reported_by")) or NOT_RECORDED,
            recorded_at=_utc_text(lost.event.at),
            recorded_by=lost.event.actor.describe(),
            host=lost.event.actor.host,
        ),
        determination=_determination(findings),
        findings=findings,
        encryption=_encryption_facts(events, packages),
        custody=_custody(vault, events, lost),
        contents=contents,
        deadlines=deadlines(discovered, contents, time_zone),
        audit=m.AuditIntegrity(
            chain_intact=problem is None,
            events=head_seq,
            head_hash=head_hash,
            problem=None if problem is None else problem.reason,
        ),
    )


def _determination(findings: list[m.Finding]) -> m.Determination:
    """Secured only when every finding holds; otherwise each failing finding is a reason."""
    failing = [f for f in findings if not f.holds]
    return m.Determination(
        secured=not failing,
        conclusion=m.SECURED if not failing else m.REPORTABLE,
        reasons=[f.statement for f in failing]
        or [
            "The drive held only data encrypted to NIST SP 800-111 strength, no key was on "
            "or with it, and no key or way to one was compromised: under the HHS guidance "
            "the PHI is secured and its loss is not a breach requiring notification."
        ],
    )


def _incident_of(lost: StoredEvent) -> tuple[str, str]:
    """LOST's discovery time (in UTC, as the schema requires) and incident id. Without
    either there is no report to make: the deadlines count from the discovery and the
    evidence pack is filed under the incident, so a lost event that lacks one is refused
    by name rather than reported on with a guess."""
    details = lost.event.details
    discovered = details.get("discovered_at")
    if discovered is None:
        raise UnreadableLostEvent(lost, "no discovery time (discovered_at)")
    if not isinstance(discovered, str) or moment_of(discovered) is None:
        raise UnreadableLostEvent(
            lost, "a discovery time (discovered_at) that is not an ISO 8601 time"
        )
    incident_id = _text(details.get("incident_id"))
    if incident_id is None:
        raise UnreadableLostEvent(lost, "no incident id (incident_id)")
    return _utc_text(discovered) or discovered, incident_id  # read by moment_of just above


class UnreadableLostEvent(RegistryError, ValueError):
    """A lost event the report cannot be made from (exit 11, as a registry fault); also a
    ValueError, as `deadlines` raises for a discovery that is not a time."""

    def __init__(self, lost: StoredEvent, what: str) -> None:
        super().__init__(
            f"{event_ref(lost)} records {what}, so no lost-drive report can be made",
            hint="that event was not written as `medvault incident lost` writes one: check "
            "the registry with `medvault audit verify`",
        )


def _text(value: object) -> str | None:
    """VALUE when it is text with something in it, else None: names and ids a workstation
    recorded, which may be absent, empty or of another type."""
    return value if isinstance(value, str) and value.strip() else None


def _recorded(value: object) -> str:
    """What a workstation recorded, as evidence text: text as written, anything else in
    plain words (never a Python repr); NOT_RECORDED when nothing is there."""
    shown = value if isinstance(value, str) else "" if value is None else plain(value)
    return shown if shown.strip() else NOT_RECORDED


def _create(events: list[StoredEvent]) -> StoredEvent | None:
    made = _of(events, Action.CREATE)
    return made[0] if made else None


def _encryption(events: list[StoredEvent]) -> m.Finding:
    made = _create(events)
    if made is None:
        return m.Finding(
            "encryption",
            "Encrypted by medvault",
            False,
            "The registry has no record of this vault being created by medvault, so its "
            "encryption cannot be shown.",
        )
    return m.Finding(
        "encryption",
        "Encrypted to NIST SP 800-111 strength",
        True,
        "Every file on the drive was encrypted with its own random 256-bit key (AES-256-GCM "
        "via Cobblestone-256, key-committing, authenticated); names and paths too.",
        [event_ref(made), "format: docs/FORMAT.md (medvault/v1)"],
    )


def key_not_on_drive_finding(
    events: list[StoredEvent], packages: list[dict[str, Any]], lost: StoredEvent, created_at: str
) -> m.Finding:
    made = _create(events)
    evidence = [
        "the vault key is stored on the drive only wrapped: AES-256 key wrap under an "
        "Argon2id-derived key (passphrase slot), and HPKE-sealed to the escrow public keys",
        f"{len(packages)} key package(s) of this vault are held off the drive, in the registry",
    ]
    if made is not None:
        evidence.insert(0, event_ref(made))
        if _has_recovery_code(made.event.details.get("recovery_code_slot")):
            evidence.append("a printed recovery code exists; it is kept apart from the drive")
    last_seen = _last_seen_before(events, lost, created_at)
    live, ended = _cached_keys(events, last_seen, lost)
    evidence += ended
    if live:
        return m.Finding(
            "key_not_on_drive",
            "A cached vault key may be with the drive",
            False,
            "The vault key was kept in a workstation's OS keyring (`unlock --remember`) "
            "until after the drive was last seen, and no later `lock` on that workstation "
            "is recorded: a key that opens the vault may have travelled with the drive, "
            "for example on a laptop lost with it.",
            [*evidence, f"the drive was last seen at {_shown(last_seen)}", *live],
        )
    return m.Finding(
        "key_not_on_drive",
        "No usable key on or with the drive",
        True,
        "No key that can decrypt the data was on the drive unwrapped; the passphrase is "
        "never stored, and the escrow private key is split among security admins.",
        evidence,
    )


def _has_recovery_code(slot: object) -> bool:
    """A recovery-code slot is recorded: its slot number (create writes 2), or true."""
    return slot is True or (type(slot) is int and slot > 0)


def _shown(moment: datetime | None) -> str:
    return "an unknown time" if moment is None else moment.isoformat()


def moment_of(text: object) -> datetime | None:
    """TEXT as an aware time, or None when it is not a time as TIME_TEXT spells one. Every
    time in this report is read here (event times, expiries, the discovery).

    A time without an offset is read as UTC: medvault writes every registry time in UTC
    with a Z (vault.env.iso), and a discovery typed without one was already converted to
    UTC by `incident lost`, so an offset-less time can only come from an older or foreign
    writer, whose times are UTC as well; guessing a local zone would move it by hours."""
    if not isinstance(text, str) or TIME_TEXT.fullmatch(text) is None:
        return None
    try:  # fromisoformat checks the ranges (month 13, 25:00, +24:00 are refused)
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def last_act(
    events: list[StoredEvent], recorded_before: int | None = None
) -> tuple[datetime, StoredEvent] | None:
    """The last act with the drive in hand, by parsed time (offsets and fractions of a
    second compared as times, not text), among those recorded before event
    RECORDED_BEFORE (the loss; None: all); an unauthenticated sighting or a time that
    cannot be read does not count. `medvault vaults` shows the same act as last seen."""
    acts = [
        (moment, s)
        for s in _of(events, *DRIVE_ACTS)
        if (recorded_before is None or s.seq < recorded_before)
        and not unauthenticated_sighting(s)
        and (moment := moment_of(s.event.at)) is not None
    ]
    return max(acts, key=lambda act: (act[0], act[1].seq), default=None)


def _last_act(events: list[StoredEvent], lost: StoredEvent) -> tuple[datetime, StoredEvent] | None:
    return last_act(events, lost.seq)


def _last_seen_before(
    events: list[StoredEvent], lost: StoredEvent, created_at: str
) -> datetime | None:
    """The earliest the drive can have been lost: the last act with it in hand recorded
    before the loss (else its creation), but no later than the discovery."""
    act = _last_act(events, lost)
    last = moment_of(created_at) if act is None else act[0]
    discovered = moment_of(lost.event.details.get("discovered_at"))
    return min((t for t in (last, discovered) if t is not None), default=None)


def unauthenticated_sighting(stored: StoredEvent) -> bool:
    """A `seen` made from a header read without the passphrase (anyone can copy one onto
    another stick): it does not place the drive anywhere."""
    if stored.event.action != Action.SEEN:
        return False
    details = stored.event.details
    return details.get("authenticated", details.get("unlocked")) is not True


def _cached_keys(
    events: list[StoredEvent], last_seen: datetime | None, lost: StoredEvent
) -> tuple[list[str], list[str]]:
    """Each `remember` event as evidence: those whose key may still have been in a
    workstation's keyring when the drive was lost (not expired when it was last seen, no
    later `lock` from the same host), then those that ended. A lock before the loss names
    the moment the key was gone; one after it (`incident lost` records one on the
    workstation it runs on) shows that workstation was in hand after the loss, so the key
    was on it and not with the drive. An expiry that cannot be read counts as not
    expired."""
    locks = _of(events, Action.LOCK)
    live: list[str] = []
    ended: list[str] = []
    for s in _of(events, Action.REMEMBER):
        recorded = s.event.details.get("expires")
        expires = moment_of(recorded)
        # No expiry reads "None" (tests/unit/reports/test_lost_report_edges.py pins it); any other
        # value as recorded, in words.
        shown = "None" if recorded is None else _recorded(recorded)
        until = f"{event_ref(s)}: remembered until {shown}"
        later = [lock for lock in locks if _locks_after(lock, s)]
        in_time = [lock for lock in later if _before_the_loss(lock, lost)]
        if in_time:
            ended.append(f"{until}; forgotten there by {event_ref(in_time[0])}")
        elif expires is not None and last_seen is not None and expires <= last_seen:
            ended.append(f"{until}; expired before the drive was last seen")
        elif later:
            ended.append(f"{until}; forgotten there by {event_ref(later[0])}, {AFTER_THE_LOSS}")
        else:
            live.append(f"{until}; no later lock on {s.event.actor.host} is recorded")
    return live, ended


def _locks_after(lock: StoredEvent, remember: StoredEvent) -> bool:
    """LOCK is from REMEMBER's host and after it: one host's clock orders both."""
    start, at = moment_of(remember.event.at), moment_of(lock.event.at)
    same_host = lock.event.actor.host == remember.event.actor.host
    return same_host and start is not None and at is not None and at > start


def _before_the_loss(lock: StoredEvent, lost: StoredEvent) -> bool:
    """LOCK was recorded before the loss and timed no later than its discovery: the key
    was gone from that workstation by the time the drive can have been lost."""
    at = moment_of(lock.event.at)
    discovered = moment_of(lost.event.details.get("discovered_at"))
    timed_before = at is not None and discovered is not None and at <= discovered
    return lock.seq < lost.seq and timed_before


def sealed_key_ids(events: list[StoredEvent], packages: list[dict[str, Any]]) -> list[str]:
    """Every escrow key the vault key was ever sealed to. From the hash chain (create and
    reseal events), so an edited key_packages row cannot hide a key; the registry's
    packages are added too (a union is the conservative side). Only ids as medvault writes
    them (KEY_ID); any other recorded value is one of `_unreadable_key_ids`."""
    return sorted({k for k in _recorded_key_ids(events, packages) if _is_key_id(k)})


def _unreadable_key_ids(events: list[StoredEvent], packages: list[dict[str, Any]]) -> list[str]:
    """What a create, a reseal or a key package recorded as an escrow key id that is not
    one (a number, a mapping, blanks, upper case, other text...): a key the vault key was
    sealed to that cannot be named, so cannot be shown not to be flagged compromised."""
    return [_recorded(k) for k in _recorded_key_ids(events, packages) if not _is_key_id(k)]


def _recorded_key_ids(events: list[StoredEvent], packages: list[dict[str, Any]]) -> list[object]:
    """Every value recorded as an escrow key id: by create and reseal events, then by the
    registry's key packages."""
    return [
        k for s in _of(events, Action.CREATE, Action.RESEAL) for k in _sealed_to(s.event.details)
    ] + [p.get("key_id") for p in packages]


def _is_key_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and KEY_ID.fullmatch(value) is not None


def _sealed_to(details: dict[str, Any]) -> list[object]:
    """The key ids a create or reseal event names: the items of each list, a lone text as
    one id (never its characters), any other recorded value as one unreadable id."""
    named: list[object] = []
    for field_name in ("escrow_key_ids", "key_ids_before", "key_ids_after"):
        value = details.get(field_name)
        if isinstance(value, list):
            named += value
        elif value is not None:
            named.append(value)
    return named


def custodian(vault: VaultRecord, events: list[StoredEvent]) -> str:
    """The current custodian from the chain: the last transfer's recipient, else the
    creator (the vaults table's copy is a convenience a workstation can update)."""
    transfers = _of(events, Action.TRANSFER)
    if not transfers:
        return vault.created_by
    last = transfers[-1]
    to = _text(last.event.details.get("to"))
    return to if to is not None else f"unknown (event {last.seq}: a transfer naming no recipient)"


def _escrow_key(
    events: list[StoredEvent], everything: list[StoredEvent], packages: list[dict[str, Any]]
) -> m.Finding:
    key_ids = sealed_key_ids(events, packages)
    unreadable = _unreadable_key_ids(events, packages)
    flagged = [
        s
        for s in _of(everything, Action.ESCROW_COMPROMISED)
        if _text(s.event.details.get("key_id")) in key_ids
    ]
    used = _of(events, Action.RECOVER, Action.RECOVER_RESET)
    evidence = [f"escrow key(s) ever sealed to this vault: {', '.join(key_ids) or 'none'}"]
    if unreadable:
        shown = "; ".join(unreadable)
        evidence.append(f"escrow key id(s) not recorded as a key id ({KEY_ID_WORDS}): {shown}")
    evidence += [event_ref(s) for s in used] or ["the escrow key was never used on this vault"]
    if flagged:
        evidence += [event_ref(s) + f" (key {s.event.details['key_id']})" for s in flagged]
        return m.Finding(
            "escrow_key",
            "Escrow key compromised",
            False,
            "An escrow key that this vault's key was sealed to is flagged compromised, so "
            "the vault key may be known to an unauthorised person.",
            evidence,
        )
    if unreadable:  # that key may be flagged under its real id: the safe harbor is unproven
        return m.Finding(
            "escrow_key",
            "Escrow key not identified",
            False,
            "An escrow key this vault's key was sealed to is recorded in a form that does not "
            "name it, so it cannot be shown that the key is not compromised.",
            evidence,
        )
    return m.Finding(
        "escrow_key",
        "Escrow key not compromised",
        True,
        "No escrow key this vault was ever sealed to is flagged compromised"
        + (f"; escrow recovery was used {len(used)} time(s), each recorded." if used else "."),
        evidence,
    )


def _passphrase_policy(
    events: list[StoredEvent], current: PassphrasePolicy | None = None
) -> m.Finding:
    """Holds only when every passphrase the vault was given (create, passwd, recover
    --reset-passphrase: earlier headers may stay on the medium) passed a recorded check
    under a policy at least as strict as the organisation's CURRENT one."""
    made = _create(events)
    policy = made.event.details.get("passphrase_policy") if made is not None else None
    if made is None or not isinstance(policy, dict):
        return m.Finding(
            "passphrase_policy",
            "Passphrase policy not recorded",
            False,
            "The passphrase policy check at creation is not recorded, so the strength of "
            "the passphrase protecting the key cannot be shown.",
            [event_ref(made)] if made is not None else [],
        )
    if current is None:
        current = current_passphrase_policy()[0]
    setters = [made, *_of(events, Action.PASSWD, Action.RECOVER_RESET)]
    verdicts = [_policy_verdict(s.event.details.get("passphrase_policy"), current) for s in setters]
    evidence = [event_ref(s) for s in setters]
    if "not met" in verdicts:
        return m.Finding(
            "passphrase_policy",
            "Passphrase policy not met",
            False,
            "A passphrase this vault was given did not meet the policy; it may be guessable.",
            evidence,
        )
    if "not verified" in verdicts:
        return m.Finding(
            "passphrase_policy",
            "Passphrase strength not verified",
            False,
            "A passphrase this vault was given was checked only against an older or weaker "
            f"policy than the organisation's current one (at least {current.min_length} "
            f"characters and 10^{current.min_guesses_log10:g} estimated guesses), so its "
            "strength cannot be shown.",
            evidence,
        )
    kdf = _kdf_params(made.event.details.get("kdf"))
    return m.Finding(
        "passphrase_policy",
        "Passphrase policy met",
        True,
        f"Every passphrase the vault was given met the policy (at least {current.min_length} "
        f"characters and 10^{current.min_guesses_log10:g} estimated guesses, not a common or "
        f"breached password) and is stretched with Argon2id (t={kdf.get('t')}, "
        f"m={kdf.get('m_kib')} KiB, p={kdf.get('p')}).",
        evidence,
    )


def _number(value: object) -> float | None:
    """VALUE as a finite number: NaN or infinity (JSON readers accept them) is none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float
        return None
    return number if math.isfinite(number) else None


def _policy_verdict(record: object, current: PassphrasePolicy) -> str:
    """'met', 'not met', or 'not verified' (no estimate recorded, or a laxer policy)."""
    if not isinstance(record, dict):
        return "not verified"
    if record.get("met") is not True:
        return "not met"
    length = record.get("min_length")
    floor, guesses = _number(record.get("min_guesses_log10")), _number(record.get("guesses_log10"))
    if type(length) is not int or floor is None or guesses is None:
        return "not verified"
    if not PassphrasePolicy(length, floor).at_least_as_strict_as(current) or guesses < floor:
        return "not verified"
    return "met"


def _disclosures(events: list[StoredEvent]) -> m.Finding:
    told = _of(events, Action.DISCLOSED)
    if told:
        kinds = sorted({_text(s.event.details.get("secret")) or "secret" for s in told})
        return m.Finding(
            "disclosures",
            "A secret was disclosed",
            False,
            f"The vault's {' and '.join(kinds)} is recorded as disclosed, so whoever holds "
            "the drive may be able to open it.",
            [event_ref(s) + f": {_recorded(s.event.details.get('reason'))}" for s in told],
        )
    return m.Finding(
        "disclosures",
        "No passphrase or recovery code disclosed",
        True,
        "No disclosure of the passphrase or recovery code is recorded for this vault.",
    )  # no evidence: Finding.evidence defaults to an empty list


# How `scan --into` deleted the files it moved, as its `plaintext-moved` event records it.
DELETIONS = {"zeroed-then-unlinked": "overwrote their bytes with zeros in place, then deleted them"}
UNRECORDED_DELETION = "deleted them (whether their bytes were overwritten first is not recorded)"
SCAN_REASON = "medvault scan --into:"  # how scan --into starts its plaintext-found reason
RESIDUE = (
    "overwriting a file in place cannot reach flash cells the drive's controller has "
    "remapped, earlier copies of the file left in free space, or the deleted directory "
    "entries that keep file names, and no event shows the whole drive sanitised since "
    "(NIST SP 800-88)"
)


def _plaintext(
    events: list[StoredEvent], lost: StoredEvent, time_zone: str | None = None
) -> m.Finding:
    """Fails whenever plaintext PHI is recorded on the drive, moved into the vault since or
    not: it was unsecured while it sat there, and a move leaves copies the overwrite cannot
    reach. For each finding it says when, and when and how `scan --into` moved those files
    (a move recorded after the loss cannot have emptied the lost drive)."""
    found = _of(events, Action.PLAINTEXT_FOUND)
    if not found:
        return m.Finding(
            "plaintext_findings",
            "No plaintext found on the drive",
            True,
            "No plaintext PHI outside the vault is recorded for this drive.",
        )  # no evidence
    zone = ZoneInfo(time_zone or "UTC")
    moves = _of(events, Action.PLAINTEXT_MOVED)
    accounts = [_plaintext_account(s, _move_of(s, moves, events), lost, zone) for s in found]
    files = sum(_count(s.event.details.get("files")) for s in found)
    all_moved = all(a.moved_all for a in accounts)
    any_moved = any(a.moved_all or a.moved_some for a in accounts)
    statement = (
        f"{files} plaintext file(s) with PHI were found on the same drive outside the vault: "
        + "; ".join(a.text for a in accounts)
        + ". "
    )
    if any_moved:
        statement += (
            "Encryption did not cover them while they were on the drive, and copies may "
            f"remain: {RESIDUE}."
        )
    else:
        statement += "Encryption does not cover them."
    evidence = [line for a in accounts for line in a.evidence]
    if any_moved:
        evidence.append(f"why a move does not make the finding hold: {RESIDUE}")
    return m.Finding(
        "plaintext_findings",
        "Plaintext PHI was on the drive (moved into the vault before the loss)"
        if all_moved
        else "Plaintext PHI found on the drive",
        False,
        statement,
        evidence,
    )


@dataclass(frozen=True)
class _Account:
    """One plaintext-found record as the finding tells it."""

    text: str  # "3 found 2026-11-20 14:05 UTC; moved ..."
    evidence: list[str]
    moved_all: bool  # every file found was moved and deleted before the loss
    moved_some: bool  # some were


def _plaintext_account(
    found: StoredEvent, move: StoredEvent | None, lost: StoredEvent, zone: ZoneInfo
) -> _Account:
    files = _count(found.event.details.get("files"))
    reason = (_text(found.event.details.get("reason")) or "").strip()
    seen = [f"{event_ref(found)}: {files} file(s) found" + (f"; {reason}" if reason else "")]
    text = f"{files} found {_when(found.event.at, zone)}"
    if move is None:
        return _Account(f"{text}, with no move into the vault recorded", seen, False, False)
    if not _before_loss(move, lost):
        return _Account(
            f"{text}; the move into the vault recorded {_when(move.event.at, zone)} came "
            "after the loss, so they were on the drive when it was lost",
            [*seen, f"{event_ref(move)}: recorded after the loss, so it does not count"],
            moved_all=False,
            moved_some=False,
        )
    details = move.event.details
    moved, left = _count(details.get("files")), _count(details.get("left"))
    how = DELETIONS.get(_text(details.get("deletion")) or "", UNRECORDED_DELETION)
    when = _when(move.event.at, zone)
    if moved:
        text += f"; {moved} moved into the vault by scan --into, which {how}, {when}"
    if left:
        text += f"; {left} left on the drive by scan --into {when}"
    line = (
        f"{event_ref(move)}: {moved} of the {files} file(s) of event {found.seq} moved into the "
        f"vault under {_recorded(details.get('stored_under'))}; scan --into {how}; {left} left "
        "on the drive"
    )
    return _Account(text, [*seen, line], moved > 0 and left == 0, moved > 0)


def _count(value: object) -> int:
    """VALUE when it is a count (see _whole), else 0."""
    return _whole(value) or 0


def _when(at: str, zone: ZoneInfo) -> str:
    """An event time for people, on the organisation's clock and named with its zone."""
    moment = moment_of(at)
    if moment is None:
        return at
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"


def _move_of(
    found: StoredEvent, moves: list[StoredEvent], events: list[StoredEvent]
) -> StoredEvent | None:
    """The `plaintext-moved` event of FOUND's files: the one that names it."""
    for move in moves:
        if move.event.details.get("plaintext_found_event") == found.event.event_id:
            return move
    return _older_move_of(found, events)


def _older_move_of(found: StoredEvent, events: list[StoredEvent]) -> StoredEvent | None:
    """Before a move named its finding, scan --into recorded the move and then the finding
    from one process: the vault's event just before a scan --into finding, when it is a
    move that names no finding, by the same user on the same host, of as many files."""
    if not (_text(found.event.details.get("reason")) or "").startswith(SCAN_REASON):
        return None
    earlier = [s for s in events if s.seq < found.seq]
    if not earlier:
        return None
    move = max(earlier, key=lambda s: s.seq)
    same_actor = (move.event.actor.user, move.event.actor.host) == (
        found.event.actor.user,
        found.event.actor.host,
    )
    if (
        move.event.action == Action.PLAINTEXT_MOVED
        and "plaintext_found_event" not in move.event.details
        and same_actor
        and _count(move.event.details.get("found")) == _count(found.event.details.get("files")) > 0
    ):
        return move
    return None


def _before_loss(move: StoredEvent, lost: StoredEvent) -> bool:
    """Recorded before the loss was, and not timed after its discovery: the drive was in
    hand then."""
    at = moment_of(move.event.at)
    discovered = moment_of(lost.event.details.get("discovered_at"))
    late = at is not None and discovered is not None and at > discovered
    return move.seq < lost.seq and not late


def _audit_chain(problem: ChainCheck | None, head_seq: int) -> m.Finding:
    if problem is not None:
        return m.Finding(
            "audit_chain",
            "Audit trail damaged",
            False,
            f"The registry's audit chain is broken ({problem.reason}); the custody evidence "
            "cannot be relied on.",
            [f"first bad event: {problem.seq}"],
        )
    return m.Finding(
        "audit_chain",
        "Audit trail intact",
        True,
        f"The registry's hash-chained audit trail of {head_seq} events verifies.",
    )  # no evidence


def _encryption_facts(events: list[StoredEvent], packages: list[dict[str, Any]]) -> m.Encryption:
    made = _create(events)
    kdf = _kdf_params(made.event.details.get("kdf")) if made is not None else {}
    for s in _of(events, Action.PASSWD, Action.RECOVER_RESET):  # the slot in force at the loss
        changed = _argon2_params({k: s.event.details.get(f"kdf_{k}") for k in KDF_PARAMS})
        kdf = {"alg": "argon2id", **kdf, **changed}
    return m.Encryption(
        payload="Cobblestone-256: AES-256-GCM, 16 KiB chunks, key-committing",
        file_keys="a random 256-bit key per stored file, wrapped under the vault key",
        key_wrap="AES-256 key wrap (RFC 3394)",
        kdf=kdf,
        escrow_suites=sorted({str(p["suite"]) for p in packages}),
        escrow_key_ids=sealed_key_ids(events, packages),
        standard="NIST SP 800-111; FIPS 197 (AES); SP 800-38D (GCM); RFC 9180 (HPKE)",
    )


def _kdf_params(recorded: object) -> dict[str, object]:
    """The KDF a create event (or, its parameters, a passwd) recorded, as the report shows
    it: each Argon2 parameter that is a whole number within RFC 9106's bounds, the
    algorithm's name when it is text (NOT_RECORDED when only parameters are); anything
    else is left out, so the evidence never carries a value no KDF could have used."""
    if not isinstance(recorded, dict):
        return {}
    params = _argon2_params(recorded)
    alg = _text(recorded.get("alg"))
    return {"alg": alg or NOT_RECORDED, **params} if alg or params else {}


def _argon2_params(recorded: dict[str, object]) -> dict[str, object]:
    return {
        k: v for k, top in KDF_PARAMS.items() if type(v := recorded.get(k)) is int and 1 <= v <= top
    }


def _custody(vault: VaultRecord, events: list[StoredEvent], lost: StoredEvent) -> m.Custody:
    """Last seen is the act `_last_seen_before` finds (the key finding's rule), as recorded,
    with its host and person; the vault's creation when there is none. When that time is
    after the discovery, the discovery is when it was last seen (the drive was gone)."""
    act = _last_act(events, lost)
    at, host, by = (
        (vault.created_at, vault.host, vault.created_by)
        if act is None
        else (act[1].event.at, act[1].event.actor.host, act[1].event.actor.describe())
    )
    capped = _last_seen_before(events, lost, vault.created_at)
    if capped is not None and capped != moment_of(at):
        at = str(lost.event.details.get("discovered_at"))
    return m.Custody(
        created_at=_utc_text(vault.created_at),
        created_by=vault.created_by,
        current_custodian=custodian(vault, events),
        last_seen_at=_utc_text(at),
        last_seen_host=host,
        last_seen_by=by,
        timeline=[
            m.TimelineEntry(
                s.seq,
                _utc_text(s.event.at),
                s.event.action,
                s.event.actor.describe(),
                s.event.actor.host,
                _timeline_summary(s),
                s.hash,
            )
            for s in events
        ],
    )


def _utc_text(recorded: object) -> str | None:
    """A recorded time as the report's schema requires its times: as recorded when it is
    already UTC (ends in Z or +00:00, as medvault writes times), else the same instant in
    UTC with a Z (a workstation may have written z, another offset, or none); None when it
    is not a time `moment_of` reads (the report never copies such text into a time field)."""
    moment = moment_of(recorded)
    if moment is None:
        return None
    if isinstance(recorded, str) and recorded.endswith(("Z", "+00:00")):
        return recorded
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _timeline_summary(s: StoredEvent) -> str:
    """The summary of S's details, after the time as recorded when it cannot be read (the
    entry's time is then null): the evidence keeps what the workstation wrote."""
    summary = summarize(s.event.action, s.event.details)
    if _utc_text(s.event.at) is not None:
        return summary
    return f"time recorded as {_recorded(s.event.at)}; {summary}"


def summarize(action: str, details: dict[str, Any]) -> str:
    """One line of counts and ids (never PHI) for a timeline, in words people read:
    `states: CA=550, NV=70; categories: labs, notes`, never Python's text for a dict."""
    keep = (
        "files", "bytes", "failed", "to", "from", "reason", "individuals", "states", "categories",
        "discovered_at", "reported_by", "secret", "where", "merged", "key_id", "approvers",
        "name", "authenticated",
    )  # fmt: skip
    parts = [_part(k, details[k]) for k in keep if details.get(k) not in (None, "", [], {})]
    return "; ".join(parts) if parts else action


def _part(name: str, value: object) -> str:
    if isinstance(value, dict | list | tuple):
        return f"{name}: {plain(value)}"
    return f"{name}={plain(value)}"


def plain(value: object, depth: int = 0) -> str:
    """VALUE as text for people: a mapping as `CA=550, NV=70`, a list as `a, b`, nested
    ones in parentheses (deeper than PLAIN_DEPTH as `...`), null as `none`; never a
    Python repr."""
    if isinstance(value, dict | list | tuple) and depth > PLAIN_DEPTH:
        return "..."
    if isinstance(value, dict):
        return ", ".join(f"{k}={_nested(v, depth)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_nested(v, depth) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "none" if value is None else str(value)


def _nested(value: object, depth: int) -> str:
    shown = plain(value, depth + 1)
    return f"({shown})" if isinstance(value, dict | list | tuple) else shown


def _whole(value: object) -> int | None:
    """VALUE when it is a count: an int (not a bool) from 0 to MAX_COUNT. Workstations
    write these events, so text, fractions, negatives and absurd sizes are not counted."""
    return value if type(value) is int and 0 <= value <= MAX_COUNT else None


def declared_contents(events: list[StoredEvent]) -> m.Contents:
    """What the drive held, from counts the events record; a value that is not a count
    (see _whole) is left out, never guessed at (`plaintext_findings` counts the same way),
    and so is a state that is not a two-letter code and a category that is not text."""
    files = nbytes = 0
    for s in _of(events, Action.ADD, Action.EXPORT, Action.RM):
        sign = -1 if s.event.action == Action.RM else 1
        files += sign * (_whole(s.event.details.get("files")) or 0)
        nbytes += sign * (_whole(s.event.details.get("bytes")) or 0)
    individuals: int | None = None
    states: dict[str, int] = {}
    categories: set[str] = set()
    # Declarations add up (an upper bound: the same person may be in two exports).
    for s in _of(events, Action.DECLARE):
        d = s.event.details
        declared = _whole(d.get("individuals"))
        if declared is not None:
            individuals = (individuals or 0) + declared
        by_state = d.get("states")
        for code, count in by_state.items() if isinstance(by_state, dict) else ():
            if (state := _state_code(code)) is not None and (n := _whole(count)) is not None:
                states[state] = states.get(state, 0) + n
        named = d.get("categories")
        categories.update(c for c in (named if isinstance(named, list) else ()) if _text(c))
    return m.Contents(
        individuals, dict(sorted(states.items())), sorted(categories), max(files, 0), max(nbytes, 0)
    )


def _state_code(code: object) -> str | None:
    """CODE as a two-letter state code (upper case, as `custody declare` writes it)."""
    if not isinstance(code, str) or not code.isascii():
        return None
    upper = code.strip().upper()
    return upper if STATE_CODE.fullmatch(upper) else None


def deadlines(discovered_at: str, contents: m.Contents, time_zone: str | None) -> m.Deadlines:
    """Every deadline counted in calendar days from the discovery's date on the
    organisation's calendar: 16:30 in Los Angeles on 4 December is 5 December in UTC, but
    the clinic's 60 days start on the 4th."""
    zone = ZoneInfo(time_zone or "UTC")
    moment = moment_of(discovered_at)
    if moment is None:
        raise ValueError(f"discovery time {discovered_at!r} is not an ISO 8601 time")
    local = moment.astimezone(zone)
    found = local.date()  # date arithmetic, so a DST change in the 60 days cannot move it
    individuals = contents.individuals
    annual: str | None = None
    if individuals is not None and individuals < HHS_THRESHOLD:
        annual = (date(found.year, 12, 31) + timedelta(days=NOTICE_DAYS)).isoformat()
    return m.Deadlines(
        discovered_at=discovered_at,
        notify_individuals_by=(found + timedelta(days=NOTICE_DAYS)).isoformat(),
        individuals=individuals,
        notify_hhs_now=None if individuals is None else individuals >= HHS_THRESHOLD,
        media_notice_states=sorted(c for c, n in contents.states.items() if n > MEDIA_THRESHOLD),
        hhs_annual_log_by=annual,
        time_zone=zone.key,
        discovered_local=local.isoformat(timespec="minutes"),
        time_zone_note=None if time_zone else NO_ZONE_NOTE,
    )
