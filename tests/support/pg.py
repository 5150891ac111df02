"""A throwaway PostgreSQL server for tests: initdb + pg_ctl on a Unix socket in a temp dir.

`start()` returns a `PgServer`; raise `PgUnavailable` (the skip reason) when PostgreSQL
cannot be found or started. With MEDVAULT_TEST_PG_URL set (an owner/superuser SQLAlchemy
URL) no cluster is started: databases are created on that server instead.

The cluster listens on no TCP port (listen_addresses=''), so the port only names the socket
file and can never collide; trust auth on the socket lets any role log in without a
password. Durability is switched off (fsync, full_page_writes): the data is thrown away.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

ENV_URL = "MEDVAULT_TEST_PG_URL"
SUPERUSER = "medvault"
PORT = 5433
START_TIMEOUT_S = 30
# Debian/Ubuntu layout first (one dir per major version), then RHEL's PGDG layout.
DEFAULT_ROOTS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")
SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")
# Settings for a disposable cluster: no TCP, no durability, little memory.
FAST_SETTINGS = {
    "listen_addresses": "''",
    "port": str(PORT),
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "32MB",
    "max_connections": "50",
}
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Unix socket paths are limited to ~107 bytes (sun_path), so the temp dir must stay short.
_MAX_SOCKET_PATH = 100


class PgUnavailable(Exception):
    """PostgreSQL cannot be used here; str(exc) says why (used as the skip reason)."""


@dataclass(frozen=True)
class Binaries:
    bindir: Path
    version: str  # e.g. "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _bindir_from_pg_config(path: str | None) -> tuple[Path | None, str]:
    pg_config = shutil.which("pg_config", path=path)
    if pg_config is None:
        return None, "pg_config not on PATH"
    try:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{pg_config} --bindir failed ({exc})"
    return Path(out.stdout.strip()), f"{pg_config} --bindir"


def _version_key(bindir: str) -> tuple[int, ...]:
    # "/usr/lib/postgresql/15/bin" -> (15,); sorts 9.6 < 10 < 15 < 17 numerically.
    return tuple(int(n) for n in re.findall(r"\d+", bindir)) or (0,)


def find_binaries(*, path: str | None = None, roots: Sequence[str] = DEFAULT_ROOTS) -> Binaries:
    """The newest usable server bindir, else raise PgUnavailable listing every place tried.

    Order: `pg_config --bindir` (the client-only libpq-dev pg_config reports /usr/bin, which
    has no initdb, hence the check), then `roots` newest first, then initdb on PATH (which
    resolves symlinks such as /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb).
    `path` replaces $PATH for the lookups (tests pass a bogus one).
    """
    tried: list[str] = []  # what was looked at and why it was not used: the skip reason
    candidates: dict[Path, str] = {}  # bindir -> where it came from (dict: ordered, no dups)
    from_pg_config, how = _bindir_from_pg_config(path)
    if from_pg_config is not None:
        candidates.setdefault(from_pg_config, f"from {how}")
    else:
        tried.append(how)
    for pattern in roots:
        matches = sorted(glob.glob(pattern), key=_version_key, reverse=True)
        for match in matches:
            candidates.setdefault(Path(match), f"matches {pattern}")
        if not matches:
            tried.append(f"{pattern} (no match)")
    initdb = shutil.which("initdb", path=path)
    if initdb is not None:
        candidates.setdefault(Path(initdb).resolve().parent, f"{initdb} on PATH")
    else:
        tried.append("initdb not on PATH")

    for bindir, origin in candidates.items():
        missing = [t for t in SERVER_TOOLS if not os.access(bindir / t, os.X_OK)]
        if missing:
            tried.append(f"{bindir} ({origin}) lacks {', '.join(missing)}")
            continue
        try:
            out = subprocess.run(
                [str(bindir / "postgres"), "--version"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            tried.append(f"{bindir}/postgres --version failed ({exc})")
            continue
        return Binaries(bindir, out.stdout.strip())
    raise PgUnavailable(
        f"no PostgreSQL server binaries ({', '.join(SERVER_TOOLS)}) found; tried: "
        + "; ".join(tried)
        + " (Debian: apt-get install postgresql; or set "
        + f"{ENV_URL}=postgresql+psycopg://USER@/postgres?host=/socket/dir)"
    )


@dataclass
class _Cluster:
    """A cluster this process created; stop() kills it and deletes its directory."""

    binaries: Binaries
    root: Path
    run_as: str | None  # "postgres" when we are root: initdb and pg_ctl refuse to run as root
    stopped: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "s"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        # PG* variables (PGDATA, PGPORT, PGHOST...) from the developer's shell must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,  # the postgres user may not be able to enter our cwd
            env=env,
            user=self.run_as,
            group=_primary_gid(self.run_as) if self.run_as else None,
            extra_groups=[] if self.run_as else None,  # drop root's supplementary groups
        )

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if (self.data / "postmaster.pid").exists():
            # Immediate: no shutdown checkpoint, the data is about to be deleted anyway.
            pg_ctl = self.binaries.tool("pg_ctl")
            result = self.run(pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
            if result.returncode != 0:
                self._kill_postmaster()
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        # Last resort if pg_ctl failed: SIGQUIT is postgres' "immediate shutdown" signal.
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)
            for _ in range(50):
                os.kill(pid, 0)  # raises ProcessLookupError once it has exited
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)


@dataclass
class PgServer:
    """A server to create test databases on; owner URLs log in as a superuser."""

    admin_url: URL  # superuser URL; its database is the one CREATE DATABASE runs from
    version: str
    startup_s: float = 0.0
    _cluster: _Cluster | None = None
    _engine: Engine | None = field(default=None, repr=False)
    _created: list[str] = field(default_factory=list)

    @property
    def socket_dir(self) -> Path | None:
        return self._cluster.socket_dir if self._cluster else None

    def owner_url(self, dbname: str) -> str:
        """SQLAlchemy URL for the superuser/owner, connected to `dbname`."""
        return self.admin_url.set(database=dbname).render_as_string(hide_password=False)

    def url_for(self, role: str, dbname: str, *, password: str | None = None) -> str:
        """URL for another login role (the throwaway cluster trusts the socket: no password)."""
        url = self.admin_url.set(username=role, password=password, database=dbname)
        return url.render_as_string(hide_password=False)

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a unique name if none given) and return its name."""
        name = name or f"mvtest_{uuid.uuid4().hex[:12]}"
        if not _DB_NAME.match(name):
            raise ValueError(f"database name must match {_DB_NAME.pattern}: {name!r}")
        if self._engine is None:
            # AUTOCOMMIT: CREATE DATABASE cannot run inside a transaction block.
            self._engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        # template0: pristine even if a test (or an external server's admin) changed template1.
        # FILE_COPY (PG15+) copies files and checkpoints instead of WAL-logging every page:
        # cheap only with fsync off, so only on our own cluster, never on a shared server.
        with self._engine.connect() as conn:
            own_fast_cluster = self._cluster is not None and _server_major(conn) >= 15
            strategy = " STRATEGY FILE_COPY" if own_fast_cluster else ""
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE template0{strategy}')
        self._created.append(name)
        return name

    def stop(self) -> None:
        """Stop the throwaway cluster (or drop the databases made on an external server)."""
        if self._engine is not None:
            if self._cluster is None:
                self._drop_created(self._engine)
            self._engine.dispose()
            self._engine = None
        if self._cluster is not None:
            self._cluster.stop()

    def _drop_created(self, engine: Engine) -> None:
        with engine.connect() as conn:
            force = " WITH (FORCE)" if _server_major(conn) >= 13 else ""
            for name in self._created:
                with contextlib.suppress(sa.exc.DBAPIError):
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"{force}')
        self._created.clear()


def _server_major(conn: sa.Connection) -> int:
    info = conn.dialect.server_version_info
    return int(info[0]) if info else 0


def _primary_gid(user: str) -> int:
    import pwd  # POSIX only; only reached when running as root

    return pwd.getpwnam(user).pw_gid


def short_tempdir() -> Path:
    base = tempfile.gettempdir()
    # macOS-style $TMPDIR (/var/folders/.../T) is too long for a socket path.
    if len(base) > 40 and os.path.isdir("/tmp"):
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix="mvpg-", dir=base))


def _run_as() -> str | None:
    """None when we can run initdb ourselves, else the user to run it as (we are root)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd  # POSIX only, like geteuid

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PgUnavailable(
            "running as root, initdb refuses root, and there is no 'postgres' user to run it "
            f"as (create one, run the tests as a normal user, or set {ENV_URL})"
        ) from None
    return "postgres"


def _chown(path: Path, user: str | None) -> None:
    if user is not None:
        shutil.chown(path, user, _primary_gid(user))


def start_local(
    binaries: Binaries | None = None, *, settings: dict[str, str] | None = None
) -> PgServer:
    """initdb + start a cluster in a fresh temp dir; raise PgUnavailable with the log tail."""
    started = time.perf_counter()
    binaries = binaries or find_binaries()
    run_as = _run_as()
    cluster = _Cluster(binaries, short_tempdir(), run_as)
    try:
        cluster.socket_dir.mkdir()
        socket_path = cluster.socket_dir / f".s.PGSQL.{PORT}"
        if len(str(socket_path)) > _MAX_SOCKET_PATH:
            raise PgUnavailable(f"socket path too long for a Unix socket: {socket_path}")
        _chown(cluster.root, run_as)
        _chown(cluster.socket_dir, run_as)
        initdb = [binaries.tool("initdb"), "-D", str(cluster.data), "-U", SUPERUSER, "-A", "trust"]
        initdb += ["-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"]
        _check(cluster, "initdb", cluster.run(*initdb))
        conf = {
            **FAST_SETTINGS,
            "unix_socket_directories": f"'{cluster.socket_dir}'",
            **(settings or {}),
        }
        # The config file, not pg_ctl -o: no shell quoting of '' and paths to get wrong.
        with (cluster.data / "postgresql.conf").open("a") as f:
            f.write("\n# tests/support/pg.py: throwaway test cluster\n")
            f.writelines(f"{key} = {value}\n" for key, value in conf.items())
        pg_ctl = [binaries.tool("pg_ctl"), "-D", str(cluster.data), "-l", str(cluster.log)]
        pg_ctl += ["-w", "-t", str(START_TIMEOUT_S), "start"]
        _check(cluster, "pg_ctl start", cluster.run(*pg_ctl, timeout=START_TIMEOUT_S + 10))
    except (OSError, subprocess.SubprocessError) as exc:
        # E.g. a hung initdb (TimeoutExpired) or a tool the run-as user may not execute.
        reason = f"starting PostgreSQL from {binaries.bindir} failed: {exc}{_log_tail(cluster)}"
        cluster.stop()
        raise PgUnavailable(reason) from exc
    except BaseException:
        cluster.stop()
        raise
    # Safety net: a session killed before its finalizers still leaves no postmaster behind.
    atexit.register(cluster.stop)
    url = URL.create(
        "postgresql+psycopg",
        username=SUPERUSER,
        database="postgres",
        query={"host": str(cluster.socket_dir), "port": str(PORT)},
    )
    return PgServer(url, binaries.version, time.perf_counter() - started, cluster)


def _check(cluster: _Cluster, what: str, result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode == 0:
        return
    output = (result.stdout + result.stderr).strip().splitlines()[-10:]
    raise PgUnavailable(
        f"{what} ({cluster.binaries.bindir}) exited {result.returncode}"
        + (f" as user {cluster.run_as}" if cluster.run_as else "")
        + ":\n"
        + "\n".join(output)
        + _log_tail(cluster)
    )


def _log_tail(cluster: _Cluster, lines: int = 15) -> str:
    """The end of the server log, where postgres says why it did not start ("" if none)."""
    try:
        text = cluster.log.read_text(errors="replace")
    except OSError:
        return ""
    tail = "\n".join(text.splitlines()[-lines:])
    return f"\nserver log tail ({cluster.log}):\n{tail}"


def connect_external(url: str) -> PgServer:
    """Use an existing server (MEDVAULT_TEST_PG_URL); its role needs CREATEDB."""
    started = time.perf_counter()
    admin_url = make_url(url)
    if admin_url.database is None:
        admin_url = admin_url.set(database="postgres")
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            version = str(conn.exec_driver_sql("select version()").scalar_one())
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        shown = admin_url.render_as_string(hide_password=True)
        raise PgUnavailable(f"{ENV_URL}={shown}: cannot connect: {exc}") from exc
    return PgServer(admin_url, version, time.perf_counter() - started, None, engine)


def start() -> PgServer:
    """The server for this test session: $MEDVAULT_TEST_PG_URL if set, else a throwaway one."""
    url = os.environ.get(ENV_URL)
    return connect_external(url) if url else start_local()
