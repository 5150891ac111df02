"""The registry contract: every backend (embedded SQLite, PostgreSQL on a real server that
the fixtures start) passes the same tests. Tampering is done the way an attacker with
database access would: plain SQL as the owner, behind medvault's back."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from medvault.errors import RegistryError
from medvault.registry import chain, migrate
from medvault.registry.records import Actor, Event, KeyPackage
from medvault.registry.sql import Registry
from tests.support.chain import assert_chain_breaks_at
from tests.support.paths import TESTS_DIR
from tests.support.pg import PgServer
from tests.support.registries import BACKENDS, registry_url, registry_with

VAULT = "0123456789abcdef0123456789abcdef"
ALICE = Actor("alice", "ws-01", "Alice Example")
DATA = TESTS_DIR / "data"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return registry_url(request, tmp_path)


def _event(n: int, vault_id: str | None = VAULT, action: str = "add") -> Event:
    return Event(
        f"{n:032x}", f"2026-11-20T10:{n // 60 % 60:02d}:{n % 60:02d}.000000Z", ALICE,
        vault_id, action, {"files": n, "bytes": n * 10},
    )  # fmt: skip


def _filled(url: str, count: int = 6) -> Registry:
    return registry_with(url, map(_event, range(1, count + 1)))


def _sql(registry: Registry, statement: str) -> None:
    with registry.engine.begin() as conn:
        conn.exec_driver_sql(statement)


def test_vaults_and_key_packages(url: str) -> None:
    registry = Registry.for_url(url)
    first = KeyPackage(VAULT, "aaaaaaaaaaaaaaaa", "mlkem768-x25519", b"\x01" * 40)
    registry.record_vault(VAULT, "Lab", "org", "2026-11-20T10:00:00Z", ALICE, [first])
    assert registry.vault_status(VAULT) == "pending"
    registry.set_vault_status(VAULT, "active")
    registry.set_custodian(VAULT, "bob")
    record = registry.vault(VAULT)
    assert record is not None
    assert (record.status, record.custodian, record.created_by) == (
        "active",
        "bob",
        "alice (Alice Example)",
    )
    assert registry.key_packages(VAULT) == [first]
    assert [v["vault_id"] for v in registry.vaults_for_key("aaaaaaaaaaaaaaaa")] == [VAULT]

    second = KeyPackage(VAULT, "bbbbbbbbbbbbbbbb", "p384", b"\x02" * 40)
    registry.replace_key_packages(VAULT, [second], "2026-11-21T10:00:00Z")
    assert registry.key_packages(VAULT) == [second]
    assert _states(registry, "aaaaaaaaaaaaaaaa") == [(VAULT, "superseded", "2026-11-21T10:00:00Z")]
    assert _states(registry, "bbbbbbbbbbbbbbbb") == [(VAULT, "in_force", None)]
    assert [p["key_id"] for p in registry.package_history(VAULT)] == [
        "aaaaaaaaaaaaaaaa",
        "bbbbbbbbbbbbbbbb",
    ]

    assert registry.destroy_key_packages(VAULT, "2026-11-22T10:00:00Z") == 2
    assert registry.key_packages(VAULT) == []
    assert registry.vault_status(VAULT) == "erased"
    assert _states(registry, "bbbbbbbbbbbbbbbb") == [(VAULT, "destroyed", "2026-11-22T10:00:00Z")]
    with registry.engine.connect() as conn:
        sealed = conn.execute(sa.text("SELECT sealed FROM key_packages")).scalars().all()
    assert all(bytes(s) == b"" for s in sealed)  # the sealed bytes themselves are gone


def _states(registry: Registry, key_id: str) -> list[tuple[str, str, str | None]]:
    """What `escrow affected KEY_ID` is built from: (vault, package state, since)."""
    rows = registry.vaults_for_key(key_id)
    for row in rows:  # the vault record's own fields are all still there
        assert {"vault_id", "label", "created_at", "created_by", "host", "status"} <= set(row)
    return [(r["vault_id"], r["package_state"], r["package_state_at"]) for r in rows]


def _sealed_rows(registry: Registry) -> list[tuple[str, bytes, str | None]]:
    with registry.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT key_id, sealed, superseded_at FROM key_packages ORDER BY id")
        ).all()
    return [(str(k), bytes(sealed), superseded) for k, sealed, superseded in rows]


OLD_SEALED = b"old package sealed to a retired key " * 4
NEW_SEALED = [b"new package for key c " * 4, b"new package for key d " * 4]


def _resealed(url: str) -> tuple[Registry, list[KeyPackage]]:
    """A vault whose one package (key a) was replaced by two (keys c and d)."""
    registry = Registry.for_url(url)
    old = KeyPackage(VAULT, "aaaaaaaaaaaaaaaa", "p384", OLD_SEALED)
    registry.record_vault(VAULT, "Lab", "org", "2026-11-20T10:00:00Z", ALICE, [old])
    registry.set_vault_status(VAULT, "active")
    new = [
        KeyPackage(VAULT, key, "p384", sealed)
        for key, sealed in zip(("cccccccccccccccc", "dddddddddddddddd"), NEW_SEALED, strict=True)
    ]
    registry.replace_key_packages(VAULT, new, "2026-11-21T10:00:00Z")
    return registry, new


def test_replace_blanks_the_superseded_packages(url: str) -> None:
    """H2: a package sealed to a retired key is not kept readable in the registry."""
    registry, new = _resealed(url)
    assert registry.key_packages(VAULT) == new  # only the new ones are in force
    assert _sealed_rows(registry) == [
        ("aaaaaaaaaaaaaaaa", b"", "2026-11-21T10:00:00Z"),
        ("cccccccccccccccc", NEW_SEALED[0], None),
        ("dddddddddddddddd", NEW_SEALED[1], None),
    ]
    assert [p["superseded_at"] for p in registry.package_history(VAULT)] == [
        "2026-11-21T10:00:00Z", None, None,
    ]  # fmt: skip
    registry.close()
    if url.startswith("sqlite"):  # a copy of the file taken now does not hold them either
        data = Path(make_url(url).database or "").read_bytes()
        assert OLD_SEALED[:32] not in data
        assert NEW_SEALED[0][:22] in data


def test_replace_with_the_packages_in_force_changes_nothing(url: str) -> None:
    """A re-key resumed after a crash may record the same new packages again."""
    registry, new = _resealed(url)
    before = _sealed_rows(registry)
    registry.replace_key_packages(VAULT, list(reversed(new)), "2026-11-22T10:00:00Z")
    assert _sealed_rows(registry) == before
    registry.replace_key_packages(VAULT, new[:1], "2026-11-23T10:00:00Z")  # a real change
    assert registry.key_packages(VAULT) == new[:1]
    assert [sealed for _k, sealed, _at in _sealed_rows(registry)] == [b"", b"", b"", NEW_SEALED[0]]


def test_vaults_for_key_lists_superseded_and_destroyed_packages(url: str) -> None:
    """`escrow affected` must still show a vault once sealed to a compromised key."""
    registry = Registry.for_url(url)
    key, other = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"

    def vault(n: int, status: str, *keys: str) -> str:
        vault_id = f"{n:032x}"
        packages = [KeyPackage(vault_id, k, "p384", f"{vault_id}{k}".encode()) for k in keys]
        registry.record_vault(vault_id, f"v{n}", "org", f"2026-11-2{n}T10:00:00Z", ALICE, packages)
        registry.set_vault_status(vault_id, status)
        return vault_id

    in_force = vault(1, "active", key)
    resealed = vault(2, "active", key)
    registry.replace_key_packages(resealed, [KeyPackage(resealed, other, "p384", b"x")], "T2")
    erased = vault(3, "active", key)
    registry.destroy_key_packages(erased, "T3")
    vault(4, "pending", key)  # never activated: no data was ever sealed with it
    vault(5, "active", other)
    twice = vault(6, "lost", key)  # resealed to the same key again: in force wins
    registry.replace_key_packages(twice, [KeyPackage(twice, key, "p384", b"again")], "T6")
    assert _states(registry, key) == [
        (in_force, "in_force", None),
        (resealed, "superseded", "T2"),
        (erased, "destroyed", "T3"),
        (twice, "in_force", None),
    ]
    assert [row[0] for row in _states(registry, other)] == [resealed, f"{5:032x}"]
    assert registry.vaults_for_key("0" * 16) == []


def test_superseded_packages_of_an_older_registry_are_blanked_by_the_upgrade(url: str) -> None:
    """A registry written before this fix kept superseded packages whole; opening it with
    this release blanks them (migration r0003) and leaves the ones in force alone."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        from alembic import command

        command.upgrade(migrate.alembic_config(conn), "r0002")
        for key, sealed, superseded in (
            ("aaaaaaaaaaaaaaaa", OLD_SEALED, "2026-11-21T10:00:00Z"),
            ("cccccccccccccccc", NEW_SEALED[0], None),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO key_packages (vault_id, key_id, suite, sealed, created_at, "
                    "superseded_at) VALUES (:v, :k, 'p384', :s, '2026-11-20T10:00:00Z', :at)"
                ),
                {"v": VAULT, "k": key, "s": sealed, "at": superseded},
            )
    engine.dispose()
    registry = Registry.for_url(url)
    assert _sealed_rows(registry) == [
        ("aaaaaaaaaaaaaaaa", b"", "2026-11-21T10:00:00Z"),
        ("cccccccccccccccc", NEW_SEALED[0], None),
    ]
    assert [p.key_id for p in registry.key_packages(VAULT)] == ["cccccccccccccccc"]


def test_events_chain_and_read_back(url: str) -> None:
    registry = _filled(url)
    stored = registry.events(VAULT)
    assert [s.seq for s in stored] == [1, 2, 3, 4, 5, 6]
    assert stored[0].event == _event(1)
    assert stored[0].prev_hash == chain.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))
    assert registry.verify_chain() is None
    assert registry.head() == (6, stored[-1].hash)
    assert registry.contains_head(stored[2].hash)
    window = registry.events(since="2026-11-20T10:00:03", until="2026-11-20T10:00:05")
    assert [s.seq for s in window] == [3, 4]


def test_merge_records_each_event_once(url: str) -> None:
    registry = _filled(url, 2)
    found = [_event(2), _event(3), _event(4)]
    merged = registry.merge_events(found, "2026-11-23T00:00:00.000000Z")
    assert [e.event_id for e in merged] == [_event(3).event_id, _event(4).event_id]
    assert registry.merge_events(found, "2026-11-23T00:00:01.000000Z") == []
    twice = registry.merge_events([_event(9), _event(9)], "2026-11-23T00:00:02.000000Z")
    assert [e.event_id for e in twice] == [_event(9).event_id]
    stored = registry.events()
    assert [s.via for s in stored] == ["direct", "direct", "sync", "sync", "sync"]
    assert stored[2].recorded_at == "2026-11-23T00:00:00.000000Z"
    assert stored[2].event.at == _event(3).at  # the time it happened, not when merged
    assert registry.verify_chain() is None


def test_merge_of_more_than_one_batch(url: str) -> None:
    registry = Registry.for_url(url)
    found = [_event(n) for n in range(1, 1201)]
    assert len(registry.merge_events(found[::2], "2026-11-23T00:00:00.000000Z")) == 600
    merged = registry.merge_events(found, "2026-11-23T00:00:01.000000Z")
    assert [e.event_id for e in merged] == [e.event_id for e in found[1::2]]
    assert len(registry.events()) == 1200
    assert registry.verify_chain() is None


def test_an_event_id_is_unique(url: str) -> None:
    registry = _filled(url, 1)
    with pytest.raises(RegistryError):
        registry.append_event(_event(1))
    with pytest.raises(RegistryError, match="32 lowercase hex"):
        registry.append_event(Event("not-an-id", "t", ALICE, None, "x", {}))
    assert registry.verify_chain() is None


def test_an_event_already_on_a_drive_may_have_been_merged_by_a_sync_first(url: str) -> None:
    """add writes its event to the drive's log, then to the registry; a sync of that
    drive in between merges it (the CI race: 'UNIQUE constraint failed'). The second
    arrival of the same event is not an error; an id reused with other content is."""
    registry = _filled(url, 1)
    logged = _event(2)
    assert registry.merge_events([logged], "2026-11-23T00:00:00.000000Z") == [logged]
    head = registry.head()
    assert registry.append_logged_event(logged) == head[1]
    assert registry.head() == head  # nothing appended twice
    with pytest.raises(RegistryError, match="different content"):
        registry.append_logged_event(_event(2, action="remove"))
    fresh = registry.append_logged_event(_event(3))  # not merged yet: appended here
    [stored] = [s for s in registry.events() if s.event.event_id == _event(3).event_id]
    assert (stored.hash, stored.via) == (fresh, "direct")
    assert registry.verify_chain() is None


@pytest.mark.parametrize(
    ("tamper", "first_bad", "why"),
    [
        ('UPDATE events SET details = \'{"bytes":1,"files":1}\' WHERE seq = 3', 3, "altered"),
        ("UPDATE events SET actor = 'mallory' WHERE seq = 5", 5, "altered"),
        ("UPDATE events SET at = '2026-01-01T00:00:00.000000Z' WHERE seq = 1", 1, "altered"),
        ("DELETE FROM events WHERE seq = 4", 5, "missing"),
        ("UPDATE events SET seq = seq + 100 WHERE seq = 2", 3, "missing"),
    ],
)
def test_verify_names_the_first_edited_or_deleted_event(
    url: str, tamper: str, first_bad: int, why: str
) -> None:
    registry = _filled(url)
    _sql(registry, tamper)
    problem = registry.verify_chain()
    assert problem is not None
    assert (problem.seq, why in problem.reason) == (first_bad, True), problem


def test_verify_catches_swapped_events(url: str) -> None:
    registry = _filled(url)
    # Swap events 2 and 3 wholesale (their hashes move with them).
    _sql(registry, "UPDATE events SET seq = 1000 WHERE seq = 2")
    _sql(registry, "UPDATE events SET seq = 2 WHERE seq = 3")
    _sql(registry, "UPDATE events SET seq = 3 WHERE seq = 1000")
    assert_chain_breaks_at(registry, 2, "does not follow")


def test_verify_catches_an_inserted_event(url: str) -> None:
    registry = _filled(url)
    stored = registry.events()
    # Make room after event 3 and forge an event 4 that chains from event 3 correctly;
    # the old event 4 (now 5) no longer follows it.
    _sql(registry, "UPDATE events SET seq = seq + 1000 WHERE seq > 3")
    _sql(registry, "UPDATE events SET seq = seq - 999 WHERE seq > 1000")
    row = {
        "seq": 4,
        "event_id": "f" * 32,
        "at": "2026-11-20T10:00:03.500000Z",
        "recorded_at": "2026-11-20T10:00:03.500000Z",
        "actor": "mallory",
        "person": None,
        "host": "evil",
        "vault_id": VAULT,
        "action": "transfer",
        "details": chain.canonical({"to": "mallory"}),
        "via": "direct",
        "hash_version": chain.CURRENT_VERSION,
    }
    forged = chain.event_hash(stored[2].hash, row)
    with registry.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO events (seq, event_id, at, recorded_at, actor, person, host, "
                "vault_id, action, details, via, hash_version, prev_hash, hash) VALUES "
                "(:seq, :event_id, :at, :recorded_at, :actor, :person, :host, :vault_id, "
                ":action, :details, :via, :hash_version, :prev_hash, :hash)"
            ),
            {**row, "prev_hash": stored[2].hash, "hash": forged},
        )
    assert_chain_breaks_at(registry, 5, "does not follow")


def test_cutting_off_the_newest_events_is_caught_by_an_anchored_head(url: str) -> None:
    registry = _filled(url)
    _seq, anchored = registry.head()
    _sql(registry, "DELETE FROM events WHERE seq >= 5")
    assert registry.verify_chain() is None  # a shorter chain is still a chain...
    assert not registry.contains_head(anchored)  # ...but the anchor is gone


WRITER = """
import sys
from medvault.registry.records import Actor, Event
from medvault.registry.sql import Registry
registry = Registry.for_url(sys.argv[1])
tag = int(sys.argv[2])
for n in range(int(sys.argv[3])):
    registry.append_event(Event(f"{tag:08x}{n:024x}", "2026-11-20T10:00:00.000000Z",
                                Actor(f"writer{tag}", "ws"), None, "add", {"n": n}))
"""


def test_two_processes_writing_500_events_each_keep_one_chain(url: str) -> None:
    Registry.for_url(url).close()  # create the schema before the writers race
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, str(tag), "500"]) for tag in (1, 2)
    ]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    registry = Registry.for_url(url)
    stored = registry.events()
    assert len(stored) == 1000
    assert [s.seq for s in stored] == list(range(1, 1001))
    assert {s.event.actor.user for s in stored} == {"writer1", "writer2"}
    assert registry.verify_chain() is None


def test_v1_registry_file_from_the_first_release_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    shutil.copy(DATA / "registry_v1.sqlite", path)
    registry = Registry.for_path(path)
    old = registry.events()
    assert [s.event.action for s in old] == ["create", "add", "extract", "legacy-sealed"]
    assert registry.verify_chain() is None  # v1 hashes still verify, never rewritten
    registry.append_event(_event(7))
    assert registry.verify_chain() is None
    assert registry.events()[-1].prev_hash == old[-1].hash
    record = registry.vault(VAULT)
    assert record is not None
    assert record.status == "active"
    assert registry.key_packages(VAULT)[0].key_id == "00112233aabbccdd"
    with registry.engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()
    # An edit of a v1 event is still caught.
    _sql(registry, "UPDATE events SET details = '{}' WHERE seq = 2")
    assert_chain_breaks_at(registry, 2)


def test_v1_schema_upgrades_on_both_backends(url: str) -> None:
    """Build the first release's schema with its migration, add v1-hashed events the way
    that release did, then open it with the current code."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        config = migrate.alembic_config(conn)
        from alembic import command

        command.upgrade(config, migrate.FIRST_REVISION)
        prev = chain.GENESIS
        for n in (1, 2):
            row = {
                "at": f"2026-11-0{n}T09:00:00.000000Z",
                "actor": "alice",
                "host": "ws-01",
                "vault_id": VAULT,
                "action": "add",
                "details": chain.canonical({"files": n}),
                "hash_version": 1,
            }
            digest = chain.event_hash(prev, row)
            del row["hash_version"]
            conn.execute(
                sa.text(
                    "INSERT INTO events (seq, at, actor, host, vault_id, action, details, "
                    "prev_hash, hash) VALUES (:seq, :at, :actor, :host, :vault_id, :action, "
                    ":details, :prev, :hash)"
                ),
                {**row, "seq": n, "prev": prev, "hash": digest},
            )
            prev = digest
    engine.dispose()
    registry = Registry.for_url(url)
    assert registry.verify_chain() is None
    registry.append_event(_event(3))
    stored = registry.events()
    assert [s.seq for s in stored] == [1, 2, 3, 4]
    assert stored[2].event.action == "legacy-sealed"  # migration r0005 sealed events 1-2
    assert registry.verify_chain() is None
    with registry.engine.begin() as conn:  # a column outside a v1 hash: caught by the seal
        conn.execute(sa.text("UPDATE events SET person = 'Dr Innocent' WHERE seq = 2"))
    assert_chain_breaks_at(registry, 3)


def test_postgres_workstation_role_cannot_change_or_delete_events(
    pg_server: PgServer, pg_url: str
) -> None:
    owner = _filled(pg_url, 3)
    owner.init_roles("workstation")
    dbname = make_url(pg_url).database
    assert dbname is not None
    workstation = Registry.for_url(pg_server.url_for("workstation", dbname))
    workstation.append_event(_event(4))  # may add...
    assert len(workstation.events()) == 4  # ...and read
    for statement in (
        "UPDATE events SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM events WHERE seq = 4",
        "TRUNCATE events",
    ):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            _sql(workstation, statement)
    assert owner.verify_chain() is None
    assert len(owner.events()) == 4
    # Running init-roles again is harmless (fixes grants, keeps the role).
    owner.init_roles("workstation")
    with pytest.raises(RegistryError, match="lowercase"):
        owner.init_roles('bad"; DROP TABLE events; --')


def test_postgres_workstation_role_reads_no_superseded_package(
    pg_server: PgServer, pg_url: str
) -> None:
    """A reseal done from a workstation leaves nothing sealed to the old key that any
    workstation role can select."""
    owner = Registry.for_url(pg_url)
    owner.init_roles("workstation")
    dbname = make_url(pg_url).database
    assert dbname is not None
    workstation_url = pg_server.url_for("workstation", dbname)
    workstation, new = _resealed(workstation_url)
    with workstation.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT sealed, superseded_at IS NOT NULL FROM key_packages")
        ).all()
    assert sorted((bytes(sealed), old) for sealed, old in rows) == [
        (b"", True),
        *((sealed, False) for sealed in NEW_SEALED),
    ]
    assert workstation.key_packages(VAULT) == new


def test_init_roles_refuses_sqlite(tmp_path: Path) -> None:
    registry = Registry.for_path(tmp_path / "r.sqlite")
    with pytest.raises(RegistryError, match="PostgreSQL"):
        registry.init_roles("workstation")


def test_unreachable_or_bad_registry_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not a database URL"):
        Registry.for_url("not a url")
    with pytest.raises(RegistryError, match="cannot open"):
        Registry.for_url(f"postgresql+psycopg://nobody@/db?host={tmp_path}&port=1")


def test_postgresql_connections_time_out_unless_the_url_says_otherwise() -> None:
    from medvault.registry.sql import CONNECT_TIMEOUT_S, engine_connect_args

    assert engine_connect_args("postgresql+psycopg://ws@db/mv") == {
        "connect_timeout": CONNECT_TIMEOUT_S
    }
    assert engine_connect_args("postgresql+psycopg://ws@db/mv?connect_timeout=3") == {}
    assert engine_connect_args("sqlite:///x.sqlite") == {}


def test_head_revision_constant_is_alembics_head() -> None:
    """A new migration must bump HEAD_REVISION, or registries would never be upgraded."""
    assert migrate.head_revision() == migrate.HEAD_REVISION


def test_an_up_to_date_registry_opens_without_importing_alembic(tmp_path: Path) -> None:
    Registry.for_path(tmp_path / "registry.sqlite").close()  # created and migrated
    probe = (
        "import sys; from pathlib import Path; from medvault.registry.sql import Registry; "
        f"Registry.for_path(Path({str(tmp_path / 'registry.sqlite')!r})).close(); "
        "print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
