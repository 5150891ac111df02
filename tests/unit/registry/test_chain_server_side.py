"""The audit chain a workstation role cannot
break, and a hash version that is itself hashed.

PostgreSQL runs on a real server started by the fixtures (tests/support/pg.py); the workstation
role is made by `init_roles`, and tampering is plain SQL behind medvault's back."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from medvault.registry import chain
from medvault.registry.records import Actor, Event
from medvault.registry.sql import Registry
from tests.support.chain import assert_chain_breaks_at
from tests.support.paths import TESTS_DIR
from tests.support.pg import PgServer
from tests.support.registries import BACKENDS, registry_url, registry_with

VAULT = "0123456789abcdef0123456789abcdef"
ALICE = Actor("alice", "ws-01", "Alice Example")
# Every character class canonical JSON treats specially: the server must hash it the same.
AWKWARD = (
    'quote " backslash \\ nl \n tab \t cr \r bs \b ff \f ctl \x01\x1f del \x7f é ☃ 𝄞 \u2028 / <>'
)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return registry_url(request, tmp_path)


def _event(n: int, actor: Actor = ALICE, vault_id: str | None = VAULT) -> Event:
    return Event(
        f"{n:032x}", f"2026-11-20T10:00:{n % 60:02d}.000000Z", actor, vault_id, "add",
        {"files": n, "note": AWKWARD if n % 2 else "plain"},
    )  # fmt: skip


def _filled(url: str, count: int = 4) -> Registry:
    return registry_with(url, map(_event, range(1, count + 1)))


def _sql(registry: Registry, statement: str, params: dict[str, object] | None = None) -> None:
    with registry.engine.begin() as conn:
        conn.execute(sa.text(statement), params or {})


def _workstation(pg_server: PgServer, pg_url: str) -> tuple[Registry, Registry]:
    """(owner, workstation) registries on the same fresh database."""
    owner = _filled(pg_url, 2)
    role = f"ws_{uuid.uuid4().hex[:12]}"
    owner.init_roles(role)
    dbname = make_url(pg_url).database
    assert dbname is not None
    return owner, Registry.for_url(pg_server.url_for(role, dbname))


FORGED = (
    "INSERT INTO events (seq, event_id, at, recorded_at, actor, person, host, vault_id, "
    "action, details, via, hash_version, prev_hash, hash) VALUES (2147483647, "
    "'ffffffffffffffffffffffffffffffff', '2026-12-05T00:00:00Z', '2026-12-05T00:00:00Z', "
    "'x', NULL, 'x', NULL, 'noop', '{}', 'direct', 2, '00', '00')"
)


def test_workstation_role_cannot_insert_events_directly(pg_server: PgServer, pg_url: str) -> None:
    owner, workstation = _workstation(pg_server, pg_url)
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _sql(workstation, FORGED)
    workstation.append_event(_event(3))  # through the server-side function
    workstation.append_event(_event(4, actor=Actor("bob", "ws-02")))
    assert [s.seq for s in owner.events()] == [1, 2, 3, 4]
    assert owner.verify_chain() is None


def test_no_path_the_workstation_role_has_adds_a_forged_row(
    pg_server: PgServer, pg_url: str
) -> None:
    """The role's only way in is the function; it chooses seq, prev_hash, hash and
    hash_version itself, whatever the caller sends, and the role cannot replace it."""
    owner, workstation = _workstation(pg_server, pg_url)
    with (
        pytest.raises(sa.exc.ProgrammingError, match=r"function .* does not exist"),
        workstation.engine.begin() as conn,
    ):
        conn.execute(  # no overload takes seq or hash
            sa.text(
                "SELECT * FROM medvault_append_event(2147483647, 'f', 'a', 'a', 'x', "
                "NULL, 'x', NULL, 'noop', '{}', 'direct', 2, '00', '00')"
            )
        )
    for statement in (
        "CREATE OR REPLACE FUNCTION medvault_append_event(text, text, text, text, text, "
        "text, text, text, text, text) RETURNS TABLE (seq bigint, hash text) "
        "LANGUAGE sql AS $$ SELECT 1::bigint, 'x' $$",
        "ALTER TABLE events ALTER COLUMN seq DROP NOT NULL",
        "CREATE TRIGGER t BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION now()",
    ):
        with pytest.raises(sa.exc.ProgrammingError):
            _sql(workstation, statement)
    # A temporary "events" of the role's own does not divert the function (search_path
    # is pinned and the table named with its schema).
    with workstation.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE events (seq bigint, hash text)")
        conn.exec_driver_sql("INSERT INTO events VALUES (2147483647, repeat('0', 64))")
        conn.execute(
            sa.text(
                "SELECT * FROM medvault_append_event(:id, 'a', 'a', 'x', NULL, 'x', NULL, "
                "'noop', '{}', 'direct')"
            ),
            {"id": "e" * 32},
        )
    with (
        pytest.raises(sa.exc.ProgrammingError, match="via must be"),
        workstation.engine.begin() as conn,
    ):
        conn.execute(
            sa.text(
                "SELECT * FROM medvault_append_event(:id, 'a', 'a', 'x', NULL, 'x', "
                "NULL, 'noop', '{}', 'forged')"
            ),
            {"id": "d" * 32},
        )
    stored = owner.events()
    assert [(s.seq, s.event.event_id) for s in stored][-1] == (3, "e" * 32)
    assert owner.verify_chain() is None
    with owner.engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT DISTINCT hash_version FROM events").scalars()
        assert list(versions) == [chain.CURRENT_VERSION]


def test_the_append_function_is_security_definer_with_a_pinned_search_path(
    pg_url: str,
) -> None:
    registry = Registry.for_url(pg_url)
    with registry.engine.connect() as conn:
        definer, config, public_may_run = conn.exec_driver_sql(
            "SELECT prosecdef, proconfig, has_function_privilege('public', oid, 'EXECUTE') "
            "FROM pg_proc WHERE proname = 'medvault_append_event'"
        ).one()
        seq_type = conn.exec_driver_sql(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'events' AND column_name = 'seq'"
        ).scalar_one()
    assert definer is True
    assert config == ["search_path=pg_catalog, pg_temp"]
    assert public_may_run is False
    assert seq_type == "bigint"


def test_the_server_hashes_byte_for_byte_as_chain_py(url: str) -> None:
    """Awkward text in every field (quotes, controls, non-ASCII, a NULL person and vault)
    gives the hash chain.py computes, so `audit verify` passes on both backends."""
    registry = _filled(url)
    registry.append_event(_event(5, actor=Actor(AWKWARD, AWKWARD, None), vault_id=None))
    registry.merge_events([_event(6, actor=Actor("a", "h", AWKWARD))], "2026-12-01T00:00:00Z")
    prev = chain.GENESIS
    with registry.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM events ORDER BY seq")).mappings().all()
    assert len(rows) == 6
    for row in rows:
        assert row["hash_version"] == chain.CURRENT_VERSION
        assert row["prev_hash"] == prev
        assert chain.event_hash(prev, dict(row)) == row["hash"]
        prev = row["hash"]
    assert registry.verify_chain() is None


@pytest.mark.parametrize("relabelled", [1, 2])
def test_the_hash_version_is_covered_by_the_hash(url: str, relabelled: int) -> None:
    registry = _filled(url)
    _sql(registry, "UPDATE events SET hash_version = :v WHERE seq = 2", {"v": relabelled})
    assert_chain_breaks_at(registry, 2)


def test_a_v1_row_after_a_newer_one_is_rejected_even_when_its_hash_matches(url: str) -> None:
    """A v1 digest leaves seq, event_id, recorded_at, person and via unauthenticated: one
    is accepted only before the first newer row (an old registry's history)."""
    registry = _filled(url, 2)
    last = registry.events()[-1]
    row = {
        "at": "2026-11-20T11:00:00.000000Z",
        "actor": "mallory",
        "host": "evil",
        "vault_id": VAULT,
        "action": "transfer",
        "details": chain.canonical({"to": "mallory"}),
        "hash_version": 1,
    }
    _sql(
        registry,
        "INSERT INTO events (seq, event_id, at, recorded_at, actor, person, host, vault_id, "
        "action, details, via, hash_version, prev_hash, hash) VALUES (3, :id, :at, :at, "
        ":actor, NULL, :host, :vault_id, :action, :details, 'direct', 1, :prev, :hash)",
        {**row, "id": "f" * 32, "prev": last.hash, "hash": chain.event_hash(last.hash, row)},
    )
    assert_chain_breaks_at(registry, 3, "hash version 1 after version 3")


def test_appends_always_write_the_current_hash_version(url: str) -> None:
    registry = _filled(url, 3)
    registry.merge_events([_event(9)], "2026-12-01T00:00:00Z")
    with registry.engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT hash_version FROM events").scalars().all()
    assert versions == [3, 3, 3, 3]
    assert chain.CURRENT_VERSION == 3


def test_init_roles_takes_back_an_older_release_insert_grant(
    pg_server: PgServer, pg_url: str
) -> None:
    """A role set up by an older medvault had INSERT on events: running `init-roles`
    again after the upgrade removes it."""
    owner, workstation = _workstation(pg_server, pg_url)
    role = make_url(str(workstation.engine.url)).username
    _sql(owner, f'GRANT INSERT ON events TO "{role}"')  # as the older release did
    owner.init_roles(str(role))
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _sql(workstation, FORGED)
    workstation.append_event(_event(3))
    assert owner.verify_chain() is None


def _old_registry(tmp_path: Path) -> Registry:
    """The first release's registry file (three version 1 events), opened by this one."""
    path = tmp_path / "registry.sqlite"
    shutil.copy(TESTS_DIR / "data" / "registry_v1.sqlite", path)
    return Registry.for_path(path)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("person", "'Dr Innocent'"),
        ("via", "'sync'"),
        ("recorded_at", "'2020-01-01T00:00:00.000000Z'"),
        ("event_id", "'" + "0" * 32 + "'"),
    ],
)
def test_the_columns_of_a_v1_row_outside_its_hash_are_sealed(
    tmp_path: Path, column: str, value: str
) -> None:
    """A v1 hash leaves person, via, recorded_at and event_id out: migration r0005 seals
    every column of the older rows under one version 3 event, so an edit is caught."""
    registry = _old_registry(tmp_path)
    registry.append_event(_event(7))
    assert registry.verify_chain() is None
    _sql(registry, f"UPDATE events SET {column} = {value} WHERE seq = 1")  # noqa: S608
    assert_chain_breaks_at(registry, 4, "an older event was edited")


def test_the_seal_is_one_chained_event_after_the_older_rows(tmp_path: Path) -> None:
    registry = _old_registry(tmp_path)
    stored = registry.events()
    assert [s.event.action for s in stored] == ["create", "add", "extract", "legacy-sealed"]
    seal = stored[-1]
    assert seal.event.vault_id is None
    assert seal.event.details["rows"] == 3
    assert seal.event.details["through_seq"] == 3
    # Its digest is the one FORMAT.md section 11 describes, computed here independently.
    with registry.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT seq, event_id, at, recorded_at, actor, person, host, vault_id, action, "
            "details, via, hash_version, prev_hash, hash FROM events WHERE seq <= 3 ORDER BY seq"
        ).mappings()
        lines = b"".join(
            json.dumps(dict(r), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            + b"\n"
            for r in rows
        )
    expected = hashlib.sha256(b"medvault/v1/audit-legacy-seal\x00" + lines).hexdigest()
    assert seal.event.details["digest"] == expected
    with registry.engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT hash_version FROM events WHERE seq = 4").scalar()
    assert version == chain.CURRENT_VERSION


def test_opening_again_does_not_seal_twice(tmp_path: Path) -> None:
    _old_registry(tmp_path)
    again = Registry.for_path(tmp_path / "registry.sqlite")
    _sql(again, "UPDATE alembic_version SET version_num = 'r0004'")
    again = Registry.for_path(tmp_path / "registry.sqlite")  # runs r0005 again
    actions = [s.event.action for s in again.events()]
    assert actions.count("legacy-sealed") == 1


def test_removing_or_forging_the_seal_is_caught(tmp_path: Path) -> None:
    registry = _old_registry(tmp_path)
    _sql(
        registry,
        "UPDATE events SET details = :d WHERE seq = 4",
        {"d": chain.canonical({"rows": 3, "through_seq": 3, "digest": "0" * 64})},
    )
    assert_chain_breaks_at(registry, 4)  # the seal no longer matches (and its own hash neither)
    (tmp_path / "again").mkdir()
    fresh = _old_registry(tmp_path / "again")
    _sql(fresh, "DELETE FROM events WHERE seq = 4")
    assert_chain_breaks_at(fresh, 3, "not sealed")


def test_a_registry_without_older_rows_gets_no_seal_and_a_stray_one_is_harmless(
    url: str,
) -> None:
    registry = _filled(url, 2)
    assert [s.event.action for s in registry.events()] == ["add", "add"]
    registry.append_event(
        Event("e" * 32, "2026-11-20T12:00:00.000000Z", ALICE, None, "legacy-sealed", {"x": 1})
    )
    assert registry.verify_chain() is None


def test_the_server_function_uses_the_clients_lock_and_hash_version() -> None:
    """The migration's copies of the constants: a new hash version needs a new migration."""
    from medvault.registry import sql
    from medvault.registry.migrations.versions import r0004_server_side_chain as r0004

    assert r0004.CHAIN_LOCK_KEY == sql.CHAIN_LOCK_KEY
    assert r0004.HASH_VERSION == chain.CURRENT_VERSION


def test_an_empty_seal_names_no_row() -> None:
    """The seal's starting values (a mutant that changed them survived a mutmut trial)."""
    empty = chain.LegacySeal()
    expected = hashlib.sha256(b"medvault/v1/audit-legacy-seal\x00").hexdigest()
    assert empty.details() == {"rows": 0, "through_seq": 0, "digest": expected}
