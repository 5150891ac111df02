"""Where a passphrase comes from. There is deliberately no option that takes it in argv.

Order: --passphrase-fd N, --passphrase-file PATH, $MEDVAULT_PASSPHRASE_FILE,
$MEDVAULT_PASSPHRASE (with a warning), then a hidden prompt on a terminal.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import click

from medvault.errors import NoPassphraseSource, SourceUnreadable, WeakPassphrase
from medvault.keys.passphrase import check_strength

MAX_SECRET_INPUT = 64 * 1024


def _first_line(data: bytes, origin: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceUnreadable(f"{origin} is not UTF-8 text") from None
    line = text.split("\n", 1)[0].rstrip("\r")
    if not line:
        raise SourceUnreadable(f"{origin} gives an empty first line")
    return line


# Read or write permission for the group or others on a secret's file.
SHARED_BITS = stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH


def from_file(path: Path, origin: str) -> str:
    try:
        with open(path, "rb") as handle:
            warn_if_shared(os.fstat(handle.fileno()).st_mode, path, origin)
            return _first_line(handle.read(MAX_SECRET_INPUT), origin)
    except OSError as exc:
        raise SourceUnreadable(f"cannot read {origin} {path}: {exc.strerror}") from None


def warn_if_shared(mode: int, path: Path, origin: str) -> None:
    """Say so when other users may read (or replace) the file a secret comes from."""
    if mode & SHARED_BITS:
        click.echo(
            f"medvault: warning: {origin} {path} has mode {stat.S_IMODE(mode):04o}: other "
            f"users can read or change it; make it private: chmod 600 {path}",
            err=True,
        )


def from_fd(fd: int) -> str:
    try:
        with os.fdopen(fd, "rb", closefd=True) as handle:
            return _first_line(handle.read(MAX_SECRET_INPUT), f"file descriptor {fd}")
    except OSError as exc:
        raise SourceUnreadable(f"cannot read passphrase from fd {fd}: {exc.strerror}") from None


def scrub_environ(name: str) -> None:
    """Zero NAME's value in this process's environment block and drop it from os.environ.

    /proc/<pid>/environ shows that block (as it was at exec) to every process of the
    user, an export command included; unsetenv alone leaves the bytes there.
    """
    prefix = name.encode() + b"="
    if sys.platform.startswith("linux"):
        try:
            environ = ctypes.POINTER(ctypes.c_void_p).in_dll(ctypes.CDLL(None), "environ")
        except (OSError, ValueError):
            environ = None
        index = 0
        while environ is not None and environ[index]:
            address = environ[index]
            entry = ctypes.string_at(address)
            if address is not None and entry.startswith(prefix):
                ctypes.memset(address + len(prefix), 0, len(entry) - len(prefix))
            index += 1
    os.environ.pop(name, None)


def interactive() -> bool:
    return sys.stdin.isatty()


NEW_PASSPHRASE_TRIES = 3


def prompt(text: str, confirm: bool, check: Callable[[str], object] | None = None) -> str:
    """Ask on the terminal. A new passphrase (CONFIRM) that CHECK (by default, this
    workstation's passphrase policy) refuses is asked again, with the reason, up to
    NEW_PASSPHRASE_TRIES times; the last refusal is raised (WeakPassphrase, exit 12)."""
    if not interactive():
        raise NoPassphraseSource("no passphrase given and no terminal to ask on")
    if not confirm:
        return _ask(text, confirm=False)
    refuse = check if check is not None else check_strength
    for _ in range(NEW_PASSPHRASE_TRIES - 1):
        value = _ask(text, confirm=True)
        try:
            refuse(value)
        except WeakPassphrase as exc:
            click.echo(f"medvault: {exc.message}; choose another.", err=True)
            continue
        return value
    value = _ask(text, confirm=True)
    refuse(value)  # the last try: refused for good (exit 12)
    return value


def asks_at_prompt(fd: int | None, file: Path | None) -> bool:
    """Whether obtain(FD, FILE, ...) would ask at the terminal prompt: no option, no
    environment variable names the passphrase, and stdin is a terminal."""
    return (
        fd is None
        and file is None
        and not os.environ.get("MEDVAULT_PASSPHRASE_FILE")
        and not os.environ.get("MEDVAULT_PASSPHRASE")
        and interactive()
    )


def _ask(text: str, confirm: bool) -> str:
    value: str = click.prompt(
        text,
        hide_input=True,
        confirmation_prompt="Repeat to confirm" if confirm else False,
        err=True,
    )
    return value


def obtain(
    fd: int | None,
    file: Path | None,
    *,
    confirm: bool,
    text: str,
    check: Callable[[str], object] | None = None,
) -> str:
    if fd is not None:
        return from_fd(fd)
    if file is not None:
        return from_file(file, "--passphrase-file")
    env_file = os.environ.get("MEDVAULT_PASSPHRASE_FILE")
    if env_file:
        return from_file(Path(env_file), "MEDVAULT_PASSPHRASE_FILE")
    env_value = os.environ.get("MEDVAULT_PASSPHRASE")
    if env_value:
        scrub_environ("MEDVAULT_PASSPHRASE")
        click.echo(
            "medvault: warning: taking the passphrase from MEDVAULT_PASSPHRASE; other "
            "processes may read it, prefer --passphrase-file or --passphrase-fd",
            err=True,
        )
        return env_value
    return prompt(text, confirm, check)
