"""A real SecretService for tests: a private D-Bus session bus and gnome-keyring-daemon,
unlocked with a throwaway password, in a private HOME. Skips with a reason where the
binaries are missing or the daemon cannot start.

What the keyring holds is read here with secretstorage directly (not through medvault),
in every collection, so a test sees an entry wherever medvault may have put it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVICE = "medvault-unlock"
PASSWORD = "throwaway-test-password"
LOGIN = "/org/freedesktop/secrets/collection/login"
SESSION = "/org/freedesktop/secrets/collection/session"
KEYRING_APP = "Python keyring library"  # what keyring sets, so put() replaces its entry


@dataclass
class SecretService:
    env: dict[str, str]
    daemon_pid: int = 0

    def start_daemon(self) -> None:
        daemon = subprocess.run(
            ["gnome-keyring-daemon", "--unlock", "--components=secrets"],
            input=PASSWORD,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=20,
            check=False,
        )
        if daemon.returncode != 0:
            pytest.skip(f"gnome-keyring-daemon could not start: {daemon.stderr.strip()[:200]}")
        for line in daemon.stdout.splitlines():
            key, _, value = line.partition("=")
            if key == "GNOME_KEYRING_CONTROL":
                self.env[key] = value
        self.daemon_pid = self._owner_pid()

    def _owner_pid(self) -> int:
        """The pid of the process that owns org.freedesktop.secrets on this bus."""
        for _ in range(50):
            asked = subprocess.run(
                [
                    "dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus", "org.freedesktop.DBus.GetConnectionUnixProcessID",
                    "string:org.freedesktop.secrets",
                ],
                env=self.env, capture_output=True, text=True, timeout=10, check=False,
            )  # fmt: skip
            words = asked.stdout.split()
            if asked.returncode == 0 and words[-2:-1] == ["uint32"]:
                return int(words[-1])
            time.sleep(0.05)
        pytest.skip("gnome-keyring-daemon did not take org.freedesktop.secrets")

    def stop_daemon(self) -> None:
        """End the daemon (as at logout), by its pid, and wait until it has gone."""
        if not self.daemon_pid:
            return
        pid, self.daemon_pid = self.daemon_pid, 0
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not _running(pid):
                return
            time.sleep(0.05)

    def restart_daemon(self) -> None:
        """A logout and a new login: what the daemon held in memory is gone; its login
        keyring on disk (HOME/.local/share/keyrings) is unlocked again."""
        self.stop_daemon()
        self.start_daemon()

    def _connection(self):  # type: ignore[no-untyped-def]
        from jeepney.io.blocking import open_dbus_connection

        return open_dbus_connection(bus=self.env["DBUS_SESSION_BUS_ADDRESS"])

    def medvault_env(self, base: dict[str, str]) -> dict[str, str]:
        """BASE (a workspace's environment) with this service's, and no
        PYTHON_KEYRING_BACKEND: medvault uses this real SecretService."""
        env = {**base, **self.env}
        env.pop("PYTHON_KEYRING_BACKEND", None)
        return env

    def entries(self) -> dict[str, list[str]]:
        """vault id -> the collections holding a medvault entry for it."""
        import secretstorage

        found: dict[str, list[str]] = {}
        with contextlib.closing(self._connection()) as bus:
            for collection in secretstorage.get_all_collections(bus):
                for item in collection.search_items({"service": SERVICE}):
                    user = item.get_attributes()["username"]
                    found.setdefault(user, []).append(collection.collection_path)
        return found

    def secret(self, vault_id: str) -> str | None:
        """The stored text of VAULT_ID's entry, wherever it is."""
        import secretstorage

        with contextlib.closing(self._connection()) as bus:
            for collection in secretstorage.get_all_collections(bus):
                for item in collection.search_items({"service": SERVICE, "username": vault_id}):
                    return item.get_secret().decode()
        return None

    def put(self, vault_id: str, text: str, collection_path: str = LOGIN) -> None:
        """Write VAULT_ID's entry (as keyring would) straight into a collection."""
        import secretstorage

        with contextlib.closing(self._connection()) as bus:
            collection = secretstorage.Collection(bus, collection_path)
            attributes = {"service": SERVICE, "username": vault_id, "application": KEYRING_APP}
            collection.create_item(f"{SERVICE}/{vault_id}", attributes, text, replace=True)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@contextlib.contextmanager
def secret_service(home: Path) -> Iterator[SecretService]:
    for tool in ("dbus-daemon", "dbus-send", "gnome-keyring-daemon"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (apt-get install gnome-keyring dbus-x11)")
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "GNOME_KEYRING"))}
    env["HOME"] = str(home)
    # Its own runtime folder: gnome-keyring-daemon --unlock finds a daemon already running
    # for the same runtime folder (another test's, on another bus) and hands over to it, and
    # then nothing takes org.freedesktop.secrets on this bus.
    runtime = home / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env.pop("PYTHON_KEYRING_BACKEND", None)
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    service = SecretService(env)
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().strip()
        if not address:
            pytest.skip("dbus-daemon did not start a session bus")
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        service.start_daemon()
        yield service
    finally:
        service.stop_daemon()
        bus.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            bus.wait(timeout=5)
