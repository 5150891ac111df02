"""A real SecretService for tests: a private D-Bus session bus and gnome-keyring-daemon,
unlocked with a throwaway password, in a private HOME. Skips with a reason where the
binaries are missing or the daemon cannot start."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def secret_service(home: Path) -> Iterator[dict[str, str]]:
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (apt-get install gnome-keyring dbus-x11)")
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "GNOME_KEYRING"))}
    env["HOME"] = str(home)
    env.pop("PYTHON_KEYRING_BACKEND", None)
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().strip()
        if not address:
            pytest.skip("dbus-daemon did not start a session bus")
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        daemon = subprocess.run(
            ["gnome-keyring-daemon", "--unlock", "--components=secrets"],
            input="throwaway-test-password",
            capture_output=True,
            text=True,
            env=env,
            timeout=20,
            check=False,
        )
        if daemon.returncode != 0:
            pytest.skip(f"gnome-keyring-daemon could not start: {daemon.stderr.strip()[:200]}")
        for line in daemon.stdout.splitlines():
            key, _, value = line.partition("=")
            if key == "GNOME_KEYRING_CONTROL":
                env[key] = value
        time.sleep(0.2)
        yield env
    finally:
        bus.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            bus.wait(timeout=5)
        subprocess.run(
            ["pkill", "-f", f"gnome-keyring-daemon.*{home}"], check=False, capture_output=True
        )
