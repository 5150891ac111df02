"""What `init-roles` grants the workstation role on vaults and
key_packages (registry/sql.py `_grant`), on a real PostgreSQL (tests/support/pg.py).

tests/unit/registry/test_registry_contract.py checks the role cannot change or delete events; here:
the role can do what workstations do with vaults and key packages (record a vault, set
its status, reseal: supersede the old package by blanking it and insert new ones), and
cannot delete or truncate either table, drop any table, or add events by INSERT. A grant
of DELETE or TRUNCATE would let any workstation delete the escrow key packages, the only
way to recover a vault whose passphrase is lost.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from medvault.errors import RegistryError
from medvault.registry.records import Actor, KeyPackage
from medvault.registry.sql import Registry
from tests.support.pg import PgServer

VAULT = "0123456789abcdef0123456789abcdef"
ALICE = Actor("alice", "ws-01", "Alice Example")
OLD = KeyPackage(VAULT, "aaaaaaaaaaaaaaaa", "p384", b"old package " * 8)
NEW = [KeyPackage(VAULT, key, "p384", key.encode() * 4) for key in ("c" * 16, "d" * 16)]
REFUSED = (
    "DELETE FROM key_packages",
    "DELETE FROM key_packages WHERE superseded_at IS NULL",
    "DELETE FROM vaults",
    "TRUNCATE key_packages",
    "TRUNCATE vaults",
    "TRUNCATE vaults CASCADE",
    "DELETE FROM alembic_version",
    "UPDATE alembic_version SET version_num = 'x'",
    "DROP TABLE key_packages",
    "DROP TABLE vaults",
    "DROP TABLE events",
    "DROP TABLE alembic_version",
    "ALTER TABLE key_packages DISABLE TRIGGER ALL",
    "INSERT INTO events (seq) VALUES (1000)",
)


def _sql(registry: Registry, statement: str) -> None:
    with registry.engine.begin() as conn:
        conn.exec_driver_sql(statement)


def _workstation(pg_server: PgServer, pg_url: str) -> Registry:
    owner = Registry.for_url(pg_url)
    try:
        owner.init_roles("workstation")
    finally:
        owner.close()
    dbname = make_url(pg_url).database
    assert dbname is not None
    return Registry.for_url(pg_server.url_for("workstation", dbname))


def test_the_workstation_role_cannot_delete_key_packages_or_vaults(
    pg_server: PgServer, pg_url: str
) -> None:
    workstation = _workstation(pg_server, pg_url)
    try:
        # What a workstation needs: create, activate, reseal.
        workstation.record_vault(VAULT, "Lab", "org", "2026-11-20T10:00:00Z", ALICE, [OLD])
        workstation.set_vault_status(VAULT, "active")
        workstation.replace_key_packages(VAULT, NEW, "2026-11-21T10:00:00Z")
        assert workstation.key_packages(VAULT) == NEW
        for statement in REFUSED:
            with pytest.raises(sa.exc.ProgrammingError, match=r"permission denied|must be owner"):
                _sql(workstation, statement)
    finally:
        workstation.close()
    owner = Registry.for_url(pg_url)
    try:
        assert owner.key_packages(VAULT) == NEW
        assert owner.vault_status(VAULT) == "active"
        with owner.engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM key_packages")).scalar_one()
        assert count == 3  # the superseded package's row is kept (blanked) too
    finally:
        owner.close()


def test_init_roles_run_without_the_right_says_why_and_what_to_do(
    pg_server: PgServer, pg_url: str
) -> None:
    """A role that may not create roles (here the workstation role itself) gets the
    server's refusal and the hint naming who can run init-roles, with the role to create."""
    workstation = _workstation(pg_server, pg_url)
    try:
        with pytest.raises(RegistryError) as caught:
            workstation.init_roles("laptop_7")
    finally:
        workstation.close()
    assert caught.value.message.startswith("the server refused to set up the role: ")
    assert "permission denied" in caught.value.message
    assert caught.value.hint is not None
    assert "CREATEROLE" in caught.value.hint
    assert 'CREATE ROLE "laptop_7" LOGIN first' in caught.value.hint
