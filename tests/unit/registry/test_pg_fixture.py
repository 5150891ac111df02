"""The throwaway PostgreSQL fixture (tests/support/pg.py): it works, and it explains when it
can't."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import pg
from tests.support.pg import PgServer, PgUnavailable


def test_pg_url_is_a_fresh_database(pg_server: PgServer, pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    role = f"mv_clerk_{uuid.uuid4().hex[:8]}"  # roles are cluster-wide: unique per test
    try:
        with engine.begin() as conn:
            assert "PostgreSQL" in conn.execute(sa.text("select version()")).scalar_one()
            assert conn.execute(sa.text("select current_user")).scalar_one() == pg.SUPERUSER
            # Fresh: nothing but the system schemas.
            tables = sa.inspect(conn).get_table_names()
            assert tables == []
            conn.execute(sa.text("create table events (id int primary key, note text)"))
            conn.execute(sa.text("insert into events values (1, 'hello')"))
            conn.execute(sa.text(f"create role {role} login"))
            conn.execute(sa.text(f"grant select on events to {role}"))
    finally:
        engine.dispose()

    dbname = sa.make_url(pg_url).database
    assert dbname is not None
    other = sa.create_engine(pg_server.url_for(role, dbname))
    try:
        with other.connect() as conn:
            assert conn.execute(sa.text("select current_user")).scalar_one() == role
            assert conn.execute(sa.text("select note from events")).scalar_one() == "hello"
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text("insert into events values (2, 'nope')"))
    finally:
        other.dispose()


def test_each_test_gets_its_own_database(pg_server: PgServer, pg_url: str) -> None:
    second = pg_server.create_database()
    assert sa.make_url(pg_url).database != second
    engine = sa.create_engine(pg_server.owner_url(second))
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar_one() == second
    finally:
        engine.dispose()


def test_missing_binaries_give_a_precise_reason(tmp_path: Path) -> None:
    """The skip path, without skipping: discovery with nothing installed says what it tried."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    with pytest.raises(PgUnavailable) as caught:
        pg.find_binaries(path=str(empty), roots=[str(tmp_path / "postgresql/*/bin")])
    reason = str(caught.value)
    assert "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found" in reason
    assert "pg_config not on PATH" in reason
    assert f"{tmp_path}/postgresql/*/bin (no match)" in reason
    assert "initdb not on PATH" in reason
    assert "apt-get install postgresql" in reason


def test_incomplete_bindir_is_not_used(tmp_path: Path) -> None:
    """A pg_config whose bindir lacks the server (libpq-dev's reports /usr/bin) is skipped."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "pg_config"
    fake.write_text(f"#!/bin/sh\necho {bindir}\n")
    fake.chmod(0o755)
    with pytest.raises(PgUnavailable) as caught:
        pg.find_binaries(path=str(bindir), roots=[])
    assert f"{bindir} (from {fake} --bindir) lacks initdb, pg_ctl, postgres" in str(caught.value)


def test_start_failure_reports_the_server_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cluster that cannot start raises with the log tail, and leaves nothing behind."""
    try:
        binaries = pg.find_binaries()
    except PgUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    made: list[Path] = []

    def recording_tempdir() -> Path:
        made.append(real_tempdir())
        return made[-1]

    real_tempdir = pg.short_tempdir
    monkeypatch.setattr(pg, "short_tempdir", recording_tempdir)
    with pytest.raises(PgUnavailable) as caught:
        pg.start_local(binaries, settings={"max_connections": "lots"})
    reason = str(caught.value)
    assert "pg_ctl start" in reason
    assert "server log tail" in reason
    assert 'invalid value for parameter "max_connections"' in reason
    assert len(made) == 1
    assert not made[0].exists()  # the temp dir (data, log, socket) was removed
