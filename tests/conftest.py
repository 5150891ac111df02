"""Shared fixtures: an isolated MEDVAULT_HOME with an org, passphrase files, a CLI runner.

The CLI is run as a real subprocess (`python -m medvault`), so exit codes, stdout/stderr
and signals are exactly what a user or script sees. Crypto is never mocked.
"""

from __future__ import annotations

import compileall
import copy
import dataclasses
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings

from medvault.config import OrgConfig, load_org
from medvault.crypto.escrow import EscrowSuite
from medvault.crypto.kdf import Argon2Params
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.keys import header_auth
from medvault.keys.passphrase import to_secret
from medvault.registry.records import Event
from medvault.registry.sql import Registry
from medvault.vault.create import DEFAULT_PART_SIZE, create_vault
from medvault.vault.env import Env, current_actor
from medvault.vault.org import OrgCreated, init_org
from medvault.workstation import mounts, staging

if TYPE_CHECKING:
    from tests.support.pg import PgServer

# The property tests check results, not speed (speed lives in bench/): on a loaded CI
# machine one example slower than hypothesis's default 200 ms deadline would fail the run.
settings.register_profile("medvault", deadline=None)
settings.load_profile("medvault")

pytest_plugins = ["tests.support.ci_skips"]
# The helpers in tests/support assert as tests do: their failures show the values compared.
pytest.register_assert_rewrite("tests.support")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Byte-compile medvault once, as pip does when it installs a package. The tests run
    the CLI as a subprocess hundreds of times, and where PYTHONDONTWRITEBYTECODE is set
    (as on this machine) an editable install compiles every module again each time (~0.1 s
    a command). Under pytest-xdist the controller does it before it starts the workers."""
    if not hasattr(session.config, "workerinput"):
        compileall.compile_dir(Path(__file__).resolve().parents[1] / "medvault", quiet=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow run first (a stable sort: otherwise in file order). With one
    pytest-xdist worker per core, a long test handed out last would leave the other cores
    idle while it runs."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


PASSPHRASE = "correct horse battery staple 42"
# Tests that create many vaults through the library use a lighter (still valid) Argon2id.
FAST_KDF = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)


@dataclass
class Workspace:
    root: Path
    home: Path
    org_created: OrgCreated
    passfile: Path

    @property
    def org(self) -> OrgConfig:
        return load_org(self.org_created.config_path)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDVAULT_")}
        env["MEDVAULT_HOME"] = str(self.home)
        env["PYTHONUNBUFFERED"] = "1"
        # Guard: no test touches a real keyring unless it starts its own (secret_service).
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        return env

    def registry(self) -> Registry:
        return Registry.for_path(self.home / "registry.sqlite")

    def append_event(self, vault_id: str, action: str, at: str, details: dict[str, Any]) -> None:
        """An event in this workspace's registry as any writer might have put it (a foreign
        or older workstation), by the current user."""
        registry = self.registry()
        try:
            registry.append_event(
                Event(uuid.uuid4().hex, at, current_actor(), vault_id, action, details)
            )
        finally:
            registry.close()

    def create_fast(self, drive: Path, label: str = "", part_size: int = DEFAULT_PART_SIZE) -> str:
        """What `medvault create DRIVE` does (vault, escrow, registry record), through the
        library with FAST_KDF; returns the vault id. The Argon2id parameters are the vault
        header's own, so every later command unlocks this vault in ~0.01 s of CPU instead
        of ~0.25 s. For tests of what comes after create: tests of create run the CLI."""
        registry = self.registry()
        try:
            created = create_vault(
                drive, label, to_secret(PASSPHRASE), self.org, registry, Env(kdf=FAST_KDF),
                part_size,
            )  # fmt: skip
        finally:
            registry.close()
        return created.vault_id

    def create_unlocked(self, drive: Path) -> UnlockedVault:
        """create_fast, then the vault unlocked with PASSPHRASE, for library-level tests."""
        self.create_fast(drive)
        return unlock(open_headers(drive), to_secret(PASSPHRASE))

    def cli(
        self,
        *args: str | Path,
        passphrase: bool = True,
        check: bool = False,
        extra_env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run `medvault ARGS` with the workspace passphrase file (unless passphrase=False)."""
        argv = [sys.executable, "-m", "medvault", *map(str, args)]
        env = self.env
        if passphrase:
            env["MEDVAULT_PASSPHRASE_FILE"] = str(self.passfile)
        env.update(extra_env or {})
        result = subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"medvault {args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result


def make_workspace(root: Path, suite: EscrowSuite = EscrowSuite.MLKEM768_X25519) -> Workspace:
    home = root / "home"
    home.mkdir(parents=True)
    created = init_org(
        "Test Clinic",
        "security@test-clinic.invalid",
        ["alice", "bob", "carol"],
        2,
        suite,
        home,
        Env().timestamp(),
    )
    passfile = root / "passphrase.txt"
    passfile.write_text(PASSPHRASE + "\n")
    passfile.chmod(0o600)
    return Workspace(root, home, created, passfile)


def copy_workspace(template: Workspace, root: Path) -> Workspace:
    """TEMPLATE's files copied to ROOT with their modes (shares/ 0700, each share and the
    passphrase file 0600), and a Workspace that points at the copy."""
    shutil.copytree(template.root, root, symlinks=True)

    def moved(path: Path) -> Path:
        return root / path.relative_to(template.root)

    created = template.org_created
    org_created = OrgCreated(
        copy.deepcopy(created.org),
        moved(created.config_path),
        tuple(moved(path) for path in created.share_paths),
    )
    return Workspace(root, moved(template.home), org_created, moved(template.passfile))


@pytest.fixture(autouse=True)
def no_lost_drive_check_left_running() -> Iterator[None]:
    """A command run in this process (click's test runner) finishes its lost-drive check
    before it returns (cli/main.py). One left running reads the registry of whatever
    $MEDVAULT_HOME is later: the next test's, while that test creates it."""
    yield
    left = [t.name for t in threading.enumerate() if t.name == "medvault-registry"]
    assert not left, f"a command returned with its lost-drive check still running: {left}"


@pytest.fixture(scope="session")
def ws_template(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The org every `ws` copies, built once per session (per pytest-xdist worker): building
    one (escrow key pair, SLIP-39 shares) costs 0.03 s, copying it a tenth of that. So the
    `ws` of different tests share the org id and escrow key; a test that needs two distinct
    orgs builds the other with make_workspace."""
    return make_workspace(tmp_path_factory.mktemp("ws-template") / "ws")


@pytest.fixture
def ws(ws_template: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A workstation: MEDVAULT_HOME with org.toml (2 of 3 admins) and a passphrase file."""
    workspace = copy_workspace(ws_template, tmp_path / "ws")
    for key in [k for k in os.environ if k.startswith("MEDVAULT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MEDVAULT_HOME", str(workspace.home))
    return workspace


@pytest.fixture
def los_angeles_clock() -> Iterator[None]:
    """This process's local zone set to Los Angeles, so a time converted to the local zone
    instead of UTC shows."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/Los_Angeles"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.fixture
def disk_staging(tmp_path: Path) -> staging.StagingRoot:
    """An export staging root in tmp_path (on disk, as --allow-disk-staging allows)."""
    folder = tmp_path / "staging"
    folder.mkdir()
    return staging.choose_root(folder, allow_disk=True)


@pytest.fixture
def shm() -> Iterator[Path]:
    """A private folder on the machine's tmpfs, used as the staging root (skips where
    /dev/shm is not a tmpfs)."""
    base = Path("/dev/shm")
    if not base.is_dir() or mounts.filesystem_of(base) != "tmpfs":
        pytest.skip("/dev/shm is not a tmpfs here")
    root = base / f"medvault-test-{uuid.uuid4().hex[:12]}"
    root.mkdir(mode=0o700)
    yield root
    subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.fixture
def drive(tmp_path: Path) -> Path:
    """A folder standing in for a USB stick's root."""
    path = tmp_path / "drive"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server per session (tests/support/pg.py); skips with the reason if
    unavailable."""
    from tests.support.pg import PgUnavailable, start

    try:
        server = start()
    except PgUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    # pytest runs the code after yield as a finalizer: it stops the cluster even when tests
    # fail or the run is interrupted with Ctrl-C (tests/support/pg.py also registers an
    # atexit stop).
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """Owner (superuser) SQLAlchemy URL of a fresh, empty database for this test."""
    return pg_server.owner_url(pg_server.create_database())


def open_under(folder: Path) -> list[str]:
    """What this process has open in or below FOLDER (FOLDER itself included)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target == str(folder) or target.startswith(f"{folder}/"):
            found.append(target)
    return found


def put_back_version_2_header(vault: UnlockedVault) -> None:
    """Both header copies as medvault wrote them before the removal record (version 2),
    authentic under VAULT's key, one sequence number on."""
    header = vault.require_header()
    old = dataclasses.replace(
        header, seq=header.seq + 1, body=dataclasses.replace(header.body, version=2)
    )
    data = header_auth.seal(vault.keys, old)
    assert data[8:10] == b"\x00\x02" and b"removals" not in data
    for copy_path in (vault.paths.header_a, vault.paths.header_b):
        copy_path.write_bytes(data)
