"""registry/lookup.py: the lost-drive check's read of one vault's record without
SQLAlchemy answers exactly as the registry does when the registry is an up-to-date SQLite
file, and otherwise refuses to answer (Unanswered) so that the registry is opened as
usual (created, migrated, or its problem reported)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from medvault.registry import lookup, schema
from medvault.registry.records import Actor, KeyPackage
from medvault.registry.sql import Registry
from tests.support.paths import TESTS_DIR

VAULT = "0123456789abcdef0123456789abcdef"
ALICE = Actor("alice", "ws-01", "Alice Example")


def _registry_with_a_vault(path: Path, status: str = "lost") -> Registry:
    registry = Registry.for_path(path)
    package = KeyPackage(VAULT, "00112233aabbccdd", "MLKEM768_X25519", b"sealed")
    registry.record_vault(VAULT, "Lab", "org", "2026-11-20T10:00:00Z", ALICE, [package])
    registry.set_vault_status(VAULT, status)
    registry.set_custodian(VAULT, "Pat")
    return registry


def test_the_columns_read_are_the_vaults_tables() -> None:
    names = tuple(column.name for column in schema.vaults.columns)
    assert names == lookup.VAULT_COLUMNS
    selected = lookup.VAULT_QUERY.removeprefix("SELECT ").split(" FROM vaults ")[0]
    assert tuple(selected.split(", ")) == names


def test_a_vault_read_without_sqlalchemy_is_the_registrys_record(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    registry = _registry_with_a_vault(path)
    url = f"sqlite:///{path}"
    assert lookup.read_vault(url, VAULT) == registry.vault(VAULT)
    assert lookup.read_vault(url, "f" * 32) is None
    registry.close()


def test_the_lookup_imports_neither_sqlalchemy_nor_alembic(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    _registry_with_a_vault(path).close()
    probe = (
        "import sys; from medvault.registry import lookup; "
        f"record = lookup.read_vault({f'sqlite:///{path}'!r}, {VAULT!r}); "
        "print(record.status, sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["lost", "[]"]


def test_urls_are_read_as_sqlalchemy_reads_them_or_not_at_all(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path}/r.sqlite", "sqlite:///relative/r.sqlite"):
        found = lookup.sqlite_path(url)
        assert found == Path(str(make_url(url).database))
    for url in (
        "postgresql+psycopg://ws@db/mv",
        "sqlite://",
        "sqlite:///",
        "sqlite:///:memory:",
        f"sqlite:///{tmp_path}/r.sqlite?mode=ro",
        f"sqlite:///{tmp_path}/r%20s.sqlite",
        f"sqlite+pysqlite:///{tmp_path}/r.sqlite",
    ):
        assert lookup.sqlite_path(url) is None, url
        with pytest.raises(lookup.Unanswered):
            lookup.read_vault(url, VAULT)


def test_a_missing_registry_is_not_created_by_the_lookup(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    with pytest.raises(lookup.Unanswered):
        lookup.read_vault(f"sqlite:///{path}", VAULT)
    assert not path.exists()  # the registry, opened as usual, creates it


def test_an_older_schema_is_left_to_the_migrations(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    shutil.copy(TESTS_DIR / "data" / "registry_v1.sqlite", path)
    before = path.read_bytes()
    with pytest.raises(lookup.Unanswered):
        lookup.read_vault(f"sqlite:///{path}", VAULT)
    assert path.read_bytes() == before
    _registry_with_a_vault(tmp_path / "new.sqlite").close()
    with sqlite3.connect(tmp_path / "new.sqlite") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'r0004'")
    with pytest.raises(lookup.Unanswered):
        lookup.read_vault(f"sqlite:///{tmp_path / 'new.sqlite'}", VAULT)


def test_a_file_that_is_not_a_registry_is_left_to_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    path.write_bytes(b"not a database at all, just some bytes" * 100)
    with pytest.raises(lookup.Unanswered):
        lookup.read_vault(f"sqlite:///{path}", VAULT)


def test_the_lookup_makes_the_registry_private_as_opening_it_does(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    _registry_with_a_vault(path).close()
    os.chmod(path, 0o644)
    assert lookup.read_vault(f"sqlite:///{path}", VAULT) is not None
    assert path.stat().st_mode & 0o777 == 0o600
