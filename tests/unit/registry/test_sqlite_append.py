"""registry/sqlite_append.py: a custody event appended with the standard library's sqlite3
is the row registry/sql.py would have written (every column, the hash chain), events
appended both ways make one chain that verifies, a logged event is recorded once, and
whatever it cannot do exactly as sql.py does is left to the registry opened as usual
(lookup.Unanswered), with nothing written. Real SQLite files (and a real PostgreSQL
server where one is installed); nothing is mocked."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from medvault.errors import RegistryError
from medvault.registry import lookup, schema, sqlite_append
from medvault.registry.records import Actor, Event
from medvault.registry.sql import Registry
from tests.support.paths import TESTS_DIR

VAULT = "0123456789abcdef0123456789abcdef"
ALICE = Actor("alice", "ws-01", "Alice Example")
NOBODY = Actor("svc", "ws-02")  # no declared person: NULL in the row


def _event(n: int, actor: Actor = ALICE, vault_id: str | None = VAULT, **details: Any) -> Event:
    return Event(
        f"{n:032x}", f"2026-11-20T10:00:{n % 60:02d}.000000Z", actor, vault_id, "add",
        {"files": n, "bytes": n * 4096, "sha256_of_digests": f"{n:064x}", **details},
    )  # fmt: skip


# Events of every shape a command records: a person or none, a vault or none, nested and
# non-ASCII details (canonical JSON keeps them as they are).
EVENTS = [
    _event(1),
    _event(2, NOBODY),
    _event(3, vault_id=None),
    _event(4, reason="Übergabe an Zoë", nested={"b": [1, 2.5, None], "a": True}),
    _event(5, NOBODY, vault_id=None),
    _event(6),
]


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _new_registry(path: Path) -> str:
    Registry.for_path(path).close()
    return _url(path)


def _rows(path: Path) -> list[tuple[Any, ...]]:
    """Every column of every event, with the SQLite storage class of each: what is on disk."""
    columns = ", ".join(f"{c}, typeof({c})" for c in sqlite_append.EVENT_COLUMNS)
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT {columns} FROM events ORDER BY seq").fetchall()  # noqa: S608


def test_the_columns_read_and_written_are_the_events_tables() -> None:
    names = tuple(column.name for column in schema.events.columns)
    assert names == sqlite_append.EVENT_COLUMNS
    selected = sqlite_append.FIND_QUERY.removeprefix("SELECT ").split(" FROM events ")[0]
    assert tuple(selected.split(", ")) == names
    inserted = sqlite_append.INSERT.removeprefix("INSERT INTO events (").split(") VALUES ")
    assert tuple(inserted[0].split(", ")) == names
    assert inserted[1] == "(" + ", ".join("?" for _ in names) + ")"


def test_rows_appended_without_sqlalchemy_are_the_rows_sql_py_writes(tmp_path: Path) -> None:
    """The same events in the same order, once alternating between the two writers and once
    through sql.py alone: the two files hold the same rows, column by column."""
    mixed_path, plain_path = tmp_path / "mixed.sqlite", tmp_path / "plain.sqlite"
    mixed_url = _new_registry(mixed_path)
    plain = Registry.for_path(plain_path)
    mixed = Registry.for_url(mixed_url)
    fast_hashes, sql_hashes = [], []
    for n, event in enumerate(EVENTS):
        logged = n % 4 >= 2  # append_event, append_event, then two logged events, ...
        if n % 2:
            append = sqlite_append.append_logged_event if logged else sqlite_append.append_event
            fast_hashes.append(append(mixed_url, event))
        else:
            fast_hashes.append(
                mixed.append_logged_event(event) if logged else mixed.append_event(event)
            )
        sql_hashes.append(plain.append_logged_event(event) if logged else plain.append_event(event))
    assert fast_hashes == sql_hashes
    assert _rows(mixed_path) == _rows(plain_path)
    assert mixed.verify_chain() is None
    stored = mixed.events()
    assert [s.event for s in stored] == EVENTS
    assert [s.hash for s in stored] == sql_hashes
    assert {(s.via, s.recorded_at == s.event.at) for s in stored} == {("direct", True)}
    assert [s.seq for s in stored] == list(range(1, len(EVENTS) + 1))
    mixed.close()
    plain.close()


def test_the_audit_command_accepts_a_chain_written_both_ways(tmp_path: Path) -> None:
    home = tmp_path / "home"
    url = _new_registry(home / "registry.sqlite")
    registry = Registry.for_url(url)
    for n, event in enumerate(EVENTS):
        if n % 2:
            sqlite_append.append_logged_event(url, event)
        else:
            registry.append_event(event)
    registry.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDVAULT_")}
    env["MEDVAULT_HOME"] = str(home)
    audit = [sys.executable, "-m", "medvault", "audit", "verify"]
    done = subprocess.run(audit, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(home / "registry.sqlite") as conn:
        conn.execute("UPDATE events SET details = '{}' WHERE seq = 4")  # one fast-path row
    done = subprocess.run(audit, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 22, done.stderr


def test_a_logged_event_already_recorded_is_recorded_once(tmp_path: Path) -> None:
    url = _new_registry(tmp_path / "registry.sqlite")
    registry = Registry.for_url(url)
    first, second = EVENTS[0], EVENTS[1]
    recorded = registry.append_event(first)  # a sync merged it before the command got here
    assert sqlite_append.append_logged_event(url, first) == recorded
    recorded = sqlite_append.append_logged_event(url, second)
    assert registry.append_logged_event(second) == recorded  # and the other way round
    assert sqlite_append.append_logged_event(url, second) == recorded
    assert [s.event for s in registry.events()] == [first, second]
    registry.close()


def test_a_logged_event_recorded_with_other_content_is_refused_as_sql_py_refuses_it(
    tmp_path: Path,
) -> None:
    url = _new_registry(tmp_path / "registry.sqlite")
    registry = Registry.for_url(url)
    registry.append_event(EVENTS[0])
    before = _rows(tmp_path / "registry.sqlite")
    for changed in (
        _event(1, files_changed=True),
        _event(1, NOBODY),
        _event(1, vault_id=None),
        Event(EVENTS[0].event_id, "2027-01-01T00:00:00Z", ALICE, VAULT, "add", EVENTS[0].details),
    ):
        with pytest.raises(RegistryError) as by_sql:
            registry.append_logged_event(changed)
        with pytest.raises(RegistryError) as fast:
            sqlite_append.append_logged_event(url, changed)
        assert fast.value.message == by_sql.value.message
        assert "already recorded with different content" in fast.value.message
    assert _rows(tmp_path / "registry.sqlite") == before
    registry.close()


def test_a_malformed_event_id_is_refused_as_sql_py_refuses_it(tmp_path: Path) -> None:
    url = _new_registry(tmp_path / "registry.sqlite")
    registry = Registry.for_url(url)
    bad = Event("ABC", "2026-11-20T10:00:00Z", ALICE, VAULT, "add", {})
    for append in (sqlite_append.append_event, sqlite_append.append_logged_event):
        with pytest.raises(RegistryError) as fast:
            append(url, bad)
        with pytest.raises(RegistryError) as by_sql:
            registry.append_event(bad)
        assert fast.value.message == by_sql.value.message
    assert registry.events() == []
    registry.close()


def test_what_it_cannot_do_as_sql_py_does_is_left_to_the_registry(tmp_path: Path) -> None:
    event = EVENTS[0]
    missing = tmp_path / "missing" / "registry.sqlite"
    older = tmp_path / "older.sqlite"
    shutil.copy(TESTS_DIR / "data" / "registry_v1.sqlite", older)
    stamped = tmp_path / "stamped.sqlite"
    _new_registry(stamped)
    with sqlite3.connect(stamped) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'r0004'")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all, just some bytes" * 100)
    no_events = tmp_path / "no-events.sqlite"
    _new_registry(no_events)
    with sqlite3.connect(no_events) as conn:
        conn.execute("DROP TABLE events")
    before = {p: p.read_bytes() for p in (older, stamped, garbage, no_events)}
    urls = [_url(p) for p in (missing, older, stamped, garbage, no_events)]
    urls += ["postgresql+psycopg://ws@db.invalid/mv", f"sqlite:///{older}?mode=rw", "sqlite://"]
    for url in urls:
        for append in (sqlite_append.append_event, sqlite_append.append_logged_event):
            with pytest.raises(lookup.Unanswered):
                append(url, event)
    assert not missing.parent.exists()  # the registry, opened as usual, creates it
    assert {p: p.read_bytes() for p in before} == before


def test_a_registry_locked_past_the_busy_timeout_fails_as_sql_py_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not left to the registry opened as usual, which would wait as long again."""
    path = tmp_path / "registry.sqlite"
    url = _new_registry(path)
    monkeypatch.setattr(sqlite_append, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(RegistryError) as failed:
            sqlite_append.append_event(url, EVENTS[0])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert failed.value.message == "custody registry write failed: database is locked"
    assert _rows(path) == []
    sqlite_append.append_event(url, EVENTS[0])  # the lock is gone
    assert len(_rows(path)) == 1


def test_the_append_makes_the_registry_private_as_opening_it_does(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    url = _new_registry(path)
    os.chmod(path, 0o644)
    sqlite_append.append_event(url, EVENTS[0])
    assert path.stat().st_mode & 0o777 == 0o600


# What a command's registry (CliContext.registry_on_first_use) does with one event, in a
# process of its own: prints whether SQLAlchemy was imported.
THROUGH_THE_COMMANDS_REGISTRY = """
import sys
from medvault.cli.context import CliContext
from medvault.registry.records import Actor, Event
event = Event(sys.argv[1], "2026-11-20T10:00:00Z", Actor("alice", "ws-01"), None, "add", {})
registry = CliContext().registry_on_first_use()
registry.append_logged_event(event) if sys.argv[2] == "logged" else registry.append_event(event)
print("sqlalchemy" in sys.modules)
"""


def _through_the_commands_registry(url: str, n: int, logged: bool) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDVAULT_")}
    env["MEDVAULT_REGISTRY"] = url
    argv = [sys.executable, "-c", THROUGH_THE_COMMANDS_REGISTRY, f"{n:032x}"]
    done = subprocess.run(
        [*argv, "logged" if logged else "direct"], env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {"True": True, "False": False}[done.stdout.strip()]


def test_a_commands_event_goes_through_sqlite3_alone_when_it_can(tmp_path: Path) -> None:
    url = _new_registry(tmp_path / "registry.sqlite")
    assert _through_the_commands_registry(url, 1, logged=False) is False
    assert _through_the_commands_registry(url, 2, logged=True) is False
    registry = Registry.for_url(url)
    assert [s.event.event_id for s in registry.events()] == [f"{1:032x}", f"{2:032x}"]
    assert registry.verify_chain() is None
    registry.close()


def test_a_commands_event_goes_through_the_registry_when_sqlite3_cannot(
    tmp_path: Path,
) -> None:
    """A missing file is created, an older schema migrated: by the registry, as before."""
    missing = tmp_path / "new" / "registry.sqlite"
    older = tmp_path / "older.sqlite"
    shutil.copy(TESTS_DIR / "data" / "registry_v1.sqlite", older)
    for n, path in enumerate((missing, older), start=100):
        assert _through_the_commands_registry(_url(path), n, logged=True) is True
        with sqlite3.connect(path) as conn:
            (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        assert revision == lookup.HEAD_REVISION
        registry = Registry.for_path(path)
        assert registry.events()[-1].event.event_id == f"{n:032x}"
        assert registry.verify_chain() is None
        registry.close()


def test_a_commands_event_goes_to_a_postgresql_registry_through_sqlalchemy(pg_url: str) -> None:
    Registry.for_url(pg_url).close()
    assert _through_the_commands_registry(pg_url, 7, logged=True) is True
    assert _through_the_commands_registry(pg_url, 8, logged=False) is True
    registry = Registry.for_url(pg_url)
    assert [s.event.event_id for s in registry.events()] == [f"{7:032x}", f"{8:032x}"]
    assert registry.verify_chain() is None
    registry.close()


WRITER = """
import sys
from medvault.registry import sqlite_append
from medvault.registry.records import Actor, Event
from medvault.registry.sql import Registry
url, tag, count, way = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
registry = Registry.for_url(url) if way == "sql" else None
for n in range(count):
    event = Event(f"{tag:08x}{n:024x}", "2026-11-20T10:00:00.000000Z",
                  Actor(f"writer{tag}", "ws"), None, "add", {"n": n})
    if registry is not None:
        registry.append_logged_event(event) if n % 2 else registry.append_event(event)
    elif n % 2:
        sqlite_append.append_logged_event(url, event)
    else:
        sqlite_append.append_event(url, event)
"""


def test_writers_of_both_kinds_at_once_keep_one_chain(tmp_path: Path) -> None:
    url = _new_registry(tmp_path / "registry.sqlite")
    ways = {1: "sqlite3", 2: "sql", 3: "sqlite3"}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, str(tag), "300", way])
        for tag, way in ways.items()
    ]
    assert [w.wait(timeout=300) for w in writers] == [0, 0, 0]
    registry = Registry.for_url(url)
    stored = registry.events()
    assert [s.seq for s in stored] == list(range(1, 901))
    assert {s.event.actor.user for s in stored} == {"writer1", "writer2", "writer3"}
    for tag in ways:  # each writer's events in its own order
        mine = [s.event.details["n"] for s in stored if s.event.actor.user == f"writer{tag}"]
        assert mine == list(range(300))
    assert registry.verify_chain() is None
    registry.close()
