"""One custody event appended to an up-to-date embedded SQLite registry with the standard
library's sqlite3: the event that add, extract and the other vault commands record, without
SQLAlchemy.

Importing SQLAlchemy costs ~0.25 s of CPU, and an add or extract paid it on a thread that
shares the GIL with its own work (issue 23). This module imports neither SQLAlchemy nor
Alembic, and writes what registry/sql.py's `Registry.append_event` and
`append_logged_event` write on SQLite: the row is made by `chained_row` below, which sql.py
uses too (the same columns, `chain.event_hash` over the same dict, the current hash
version); the writers are serialised the same way (the connection set up as sql.py sets up
its own: a 30 s busy timeout and `secure_delete`; `BEGIN IMMEDIATE`; the chain's head read,
and for a logged event the event id looked up, in the transaction that inserts the row).

It answers only where registry/lookup.py does: a plain `sqlite:///PATH` file that exists,
made private first exactly as opening it does, stamped with the newest migration (checked
inside the write transaction). In every other case, and on any SQLite error before the
COMMIT (the transaction is then rolled back: nothing was written), it raises
lookup.Unanswered and the caller appends through the registry opened as usual. A registry
still locked by another writer after the busy timeout, or a failed COMMIT, raises the
RegistryError that sql.py raises then (through SQLAlchemy it would wait as long again).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from medvault.errors import RegistryError
from medvault.registry import chain
from medvault.registry.lookup import (
    BUSY_TIMEOUT_S,
    HEAD_REVISION,
    Unanswered,
    make_private,
    sqlite_path,
)
from medvault.registry.records import Event

EVENT_ID = re.compile(r"[0-9a-f]{32}")
# The columns of registry/schema.py's `events` table, in order, as FIND_QUERY reads them
# and INSERT writes them (a test compares all three with the schema).
EVENT_COLUMNS = chain.ROW_COLUMNS
LAST_QUERY = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
FIND_QUERY = (
    "SELECT seq, event_id, at, recorded_at, actor, person, host, vault_id, action, details, "
    "via, hash_version, prev_hash, hash FROM events WHERE event_id = ?"
)
INSERT = (
    "INSERT INTO events (seq, event_id, at, recorded_at, actor, person, host, vault_id, "
    "action, details, via, hash_version, prev_hash, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
WRITE_FAILED = "custody registry write failed"


def event_columns(ev: Event) -> dict[str, Any]:
    """The columns that hold what EV says (not where it sits in the chain)."""
    return {**ev.flat(), "details": chain.canonical(ev.details)}


def check_event_id(ev: Event) -> None:
    if not EVENT_ID.fullmatch(ev.event_id):
        raise RegistryError("an event id must be 32 lowercase hex digits")


def chained_row(ev: Event, recorded_at: str, via: str, last: tuple[int, str]) -> dict[str, Any]:
    """Every column of EV's row appended after LAST (the chain head's seq and hash, read
    under the writers' lock), the hash included: what registry/sql.py inserts on SQLite."""
    seq, prev = last
    row: dict[str, Any] = {
        "seq": seq + 1,
        **event_columns(ev),
        "recorded_at": recorded_at,
        "via": via,
        "hash_version": chain.CURRENT_VERSION,  # never an older version: L12
    }
    return {**row, "prev_hash": prev, "hash": chain.event_hash(prev, row)}


def recorded_hash(ev: Event, found: Mapping[Any, Any]) -> str:
    """The hash of FOUND, the row already recorded with EV's id, if it says what EV says."""
    says = event_columns(ev)
    if {name: found[name] for name in says} != says:
        raise RegistryError(f"event {ev.event_id} is already recorded with different content")
    return str(found["hash"])


def append_event(url: str, ev: Event) -> str:
    """Append EV where it happened, as Registry.append_event; returns its chain hash."""
    with _writing(url) as conn:
        return _insert(conn, ev)


def append_logged_event(url: str, ev: Event) -> str:
    """Append EV, already on a drive's custody log, as Registry.append_logged_event: an
    event with its id already here is not appended again (the same content returns its
    hash; other content is a RegistryError)."""
    with _writing(url) as conn:
        row = conn.execute(FIND_QUERY, (ev.event_id,)).fetchone()
        if row is None:
            return _insert(conn, ev)
    return recorded_hash(ev, dict(zip(EVENT_COLUMNS, row, strict=True)))


def _insert(conn: sqlite3.Connection, ev: Event) -> str:
    check_event_id(ev)
    last = conn.execute(LAST_QUERY).fetchone()
    head = (0, chain.GENESIS) if last is None else (int(last[0]), str(last[1]))
    row = chained_row(ev, ev.at, "direct", head)
    conn.execute(INSERT, [row[name] for name in EVENT_COLUMNS])
    return str(row["hash"])


def _connect(url: str) -> sqlite3.Connection:
    path = sqlite_path(url)
    if path is None or not path.is_file():
        raise Unanswered
    try:
        make_private(path)  # as Registry.for_path does before every opening
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except (OSError, sqlite3.Error):
        raise Unanswered from None  # the registry opened as usual says what is wrong
    return conn


@contextmanager
def _writing(url: str) -> Iterator[sqlite3.Connection]:
    """One write transaction on the up-to-date registry at URL, committed when the body
    returns. Unanswered (nothing written) unless it can be done here."""
    conn = _connect(url)
    try:
        try:
            conn.execute("PRAGMA secure_delete = ON")  # as sql.py's connections
            conn.execute("BEGIN IMMEDIATE")  # the writers' lock, as sql.py takes it
        except sqlite3.Error as exc:
            if _busy(exc):
                raise _failure(exc) from None
            raise Unanswered from None
        try:
            revisions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
            if revisions != [HEAD_REVISION]:
                raise Unanswered  # to be migrated (or stamped) by registry/migrate.py
            yield conn
        except BaseException as exc:
            with suppress(sqlite3.Error):
                conn.rollback()  # when the error has not ended the transaction already
            if isinstance(exc, sqlite3.Error):
                raise Unanswered from None
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _failure(exc) from None
    finally:
        conn.close()  # rolls back whatever was not committed


def _busy(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


def _failure(exc: sqlite3.Error) -> RegistryError:
    # As registry/sql.py words a failed write: the driver's first line.
    detail = (str(exc).splitlines() or [""])[0]
    return RegistryError(f"{WRITE_FAILED}: {detail[:200]}")
