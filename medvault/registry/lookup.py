"""One vault's record, read from an up-to-date embedded SQLite registry with the standard
library's sqlite3: the lost-drive check that follows every unlock, without SQLAlchemy.

Importing SQLAlchemy takes ~0.17 s and ~30 MiB, more than everything else `medvault ls`
does beside Argon2id (issue 23). This module imports neither SQLAlchemy nor Alembic. It
answers only when the registry is a plain `sqlite:///PATH` file that exists and is stamped
with the newest migration (HEAD_REVISION), after making the file private exactly as
opening it through `registry/sql.py` does. In every other case (PostgreSQL, a missing
file, an older schema, any SQLite error) it raises Unanswered, and the caller opens the
registry as usual, which creates, migrates or reports the problem as it always has.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from medvault import config
from medvault.registry.records import VaultRecord

# The newest revision in migrations/versions (tests/unit/registry/test_registry_contract.py
# checks it against Alembic's own head): an up-to-date registry opens without importing
# Alembic (registry/migrate.py), and the lost-drive check reads it without SQLAlchemy.
HEAD_REVISION = "r0005"
SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")
# The columns of registry/schema.py's `vaults` table, in order, as VAULT_QUERY reads them
# (a test compares both with the schema).
VAULT_COLUMNS = (
    "vault_id", "label", "org_id", "created_at", "created_by", "host", "status", "custodian"
)  # fmt: skip
VAULT_QUERY = (
    "SELECT vault_id, label, org_id, created_at, created_by, host, status, custodian "
    "FROM vaults WHERE vault_id = ?"
)
PLAIN_SQLITE = "sqlite:///"
BUSY_TIMEOUT_S = 30.0  # as registry/sql.py's PRAGMA busy_timeout


class Unanswered(Exception):
    """The lookup cannot answer without the full registry: open it as usual."""


def sqlite_path(url: str) -> Path | None:
    """The file of a plain `sqlite:///PATH` URL, as SQLAlchemy reads it; None for any
    other URL (another database, a query string, %-escapes, an in-memory database)."""
    if not url.startswith(PLAIN_SQLITE) or "?" in url or "%" in url:
        return None
    database = url[len(PLAIN_SQLITE) :]
    if database in ("", ":memory:"):
        return None
    return Path(database)


def read_vault(url: str, vault_id: str) -> VaultRecord | None:
    """The registry's record of VAULT_ID (None when it has none), read with one
    transaction of two plain SELECTs: the schema's revision, then the vault's row.
    Unanswered when the registry at URL is not an up-to-date SQLite file."""
    path = sqlite_path(url)
    if path is None or not path.is_file():
        raise Unanswered
    make_private(path)  # as Registry.for_path does before every opening
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error:
        raise Unanswered from None
    try:
        conn.execute("BEGIN")  # one snapshot for both reads
        revisions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
        if revisions != [HEAD_REVISION]:
            raise Unanswered  # to be migrated (or stamped) by registry/migrate.py
        row = conn.execute(VAULT_QUERY, (vault_id,)).fetchone()
    except sqlite3.Error:
        raise Unanswered from None
    finally:
        conn.close()  # ends the read transaction
    return None if row is None else VaultRecord(*row)


def make_private(path: Path) -> None:
    """The registry file 0600, made before SQLite opens it: SQLite creates its journal, WAL
    and shared-memory files with the database file's mode, so they are 0600 too. A new
    folder, and $MEDVAULT_HOME, are 0700; a folder chosen by MEDVAULT_REGISTRY that exists
    already is the admin's to set. Any of these files left readable by others is fixed."""
    folder = path.parent
    if not folder.exists() or folder.resolve() == config.medvault_home().resolve():
        config.private_folder(folder)
    config.private_file(path, "the custody registry")
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        try:
            fd = os.open(side, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue
        try:
            config.tighten_file(fd, side, "the custody registry's journal")
        finally:
            os.close(fd)
