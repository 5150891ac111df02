"""What every command works with, made by the root group and passed as `ctx.obj`: the
Env of the person acting (--as), and the custody registry.

The registry is opened once per URL in this process and shared with the lost-drive
check, which runs on a thread while the command starts its work (see Background)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import click

from medvault.cli.output import warn_safely
from medvault.config import registry_url
from medvault.registry import lookup, sqlite_append
from medvault.registry.records import CustodyRegistry, Event, KeyPackageRegistry, VaultRecord
from medvault.vault.env import Env, current_actor

if TYPE_CHECKING:
    from medvault.registry.sql import Registry
    from medvault.vault.incidents import IncidentRegistry


class CommandRegistry(CustodyRegistry, KeyPackageRegistry, Protocol):
    """The registry as the commands hand it to a use case that may run Argon2id before it
    records anything (create, passwd, recover, add, extract, ...)."""


def _acting_env(person: str | None = None) -> Env:
    """PERSON (--as), else $MEDVAULT_PERSON, is recorded with the OS account in events."""
    return Env(actor=current_actor(person), warn=warn_safely)


@dataclass(frozen=True)
class CliContext:
    env: Env = field(default_factory=_acting_env)
    person: str | None = None  # --as, passed on to what the command runs (export's CMD)

    @classmethod
    def acting_as(cls, person: str | None) -> CliContext:
        return cls(_acting_env(person), person)

    def registry(self) -> Registry:
        """The custody registry, opened now: for work that runs no Argon2id after it."""
        return _open_registry()

    def registry_for_lost_check(self) -> IncidentRegistry:
        """The custody registry for the lost-drive check of every unlock: the vault's record
        read without SQLAlchemy when registry/lookup.py can (an up-to-date SQLite file),
        everything else (the registry of a PostgreSQL URL, recording a sighting) through
        the registry opened as usual."""
        return _LookupFirst()

    def registry_on_first_use(self) -> CommandRegistry:
        """The custody registry, opened when a use case first calls it: after any Argon2id
        work, so SQLAlchemy's ~30 MiB and Argon2id's 64 MiB are never resident together.
        An event is appended without SQLAlchemy when registry/sqlite_append.py can (an
        up-to-date SQLite file) and the registry is not open already."""
        return _OpenedOnFirstUse()


# A command's own `cli: CliContext` parameter; a command run without the root group (a
# test invoking it alone) gets one acting as $MEDVAULT_PERSON.
pass_cli_context = click.make_pass_decorator(CliContext, ensure=True)


def current_cli_context() -> CliContext:
    """The running command's CliContext, for the decorators that unlock a vault."""
    return click.get_current_context().ensure_object(CliContext)


class _OpenedOnFirstUse:
    """append_event and append_logged_event by registry/sqlite_append.py (no SQLAlchemy,
    no Alembic) unless it cannot answer or the registry is open already; any other method,
    and those then, on the registry opened at its first call."""

    def append_event(self, event: Event) -> str:
        return _pass_on("append_event", event)

    def append_logged_event(self, event: Event) -> str:
        return _pass_on("append_logged_event", event)

    def __getattr__(self, name: str) -> Any:
        return getattr(_open_registry(), name)


def _pass_on(method: str, event: Event) -> str:
    """The use case's EVENT handed to METHOD of registry/sqlite_append.py, else of the
    registry opened as usual (the same method: the same row, the same checks)."""
    if threading.current_thread() is not _background.thread:
        _background.join()  # its sighting event, if any, comes first
    url = registry_url()
    if url not in _opened:
        try:
            appended: str = getattr(sqlite_append, method)(url, event)
        except lookup.Unanswered:
            pass  # nothing was written: the registry opened as usual appends it
        else:
            return appended
    through_registry: str = getattr(_open_registry(), method)(event)
    return through_registry


class _LookupFirst:
    """vault() read by registry/lookup.py (no SQLAlchemy, no Alembic) unless it cannot
    answer; any other method, and vault() then, on the registry opened as usual."""

    def vault(self, vault_id: str) -> VaultRecord | None:
        try:
            return lookup.read_vault(registry_url(), vault_id)
        except lookup.Unanswered:
            return _open_registry().vault(vault_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(_open_registry(), name)


# One open registry per URL in this process: the lost-drive check at unlock and the
# command's own events share its engine and its migration check.
_opened: dict[str, Registry] = {}


def _open_registry() -> Registry:
    if threading.current_thread() is not _background.thread:
        _background.join()  # it may be opening this very registry
    url = registry_url()
    if url not in _opened:
        from medvault.registry.sql import Registry

        _opened[url] = Registry.for_url(url)
    return _opened[url]


class Background:
    """Work on a thread named NAME while the command goes on; `join()` waits for it and
    raises what it raised. A DAEMON thread is left running if the command fails first (the
    process is about to end). The one for the lost-drive check (`in_background`) may open
    the registry (importing SQLAlchemy and connecting take ~0.4 s that a command would
    otherwise wait for; cli/unlock.py says for which commands): whatever uses the registry
    next (the command's own event) joins it first, so the order of events is unchanged;
    the command's click context joins it as it closes (cli/main.py), even if the command
    failed."""

    def __init__(self, name: str, daemon: bool = False) -> None:
        self.name = name
        self.daemon = daemon
        self.thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start(self, work: Callable[[], None]) -> None:
        self.join()

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # raised in the main thread by join()
                self._failure = exc

        self.thread = threading.Thread(target=run, name=self.name, daemon=self.daemon)
        self.thread.start()

    def join(self) -> None:
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.join()
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure


_background = Background("medvault-registry")


def in_background(work: Callable[[], None]) -> None:
    """Run WORK on the background thread (after any earlier work there has finished)."""
    _background.start(work)


def join_background() -> None:
    """Wait for the lost-drive check (and raise what it raised)."""
    _background.join()
