"""Shared options and helpers for the commands."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import click

from medvault.cli import passphrase as pp
from medvault.cli import safe_text
from medvault.cli.safe_text import safe
from medvault.config import OrgConfig, find_org_config, load_org, registry_url
from medvault.errors import KeyCacheRefused, MedvaultError, NotAVault, NotFound, UsageError
from medvault.keys.passphrase import to_secret
from medvault.keys.recovery_code import parse as parse_recovery_code
from medvault.registry.records import Actor, Event, KeyPackage, VaultRecord
from medvault.vault.catalog import Located
from medvault.vault.env import Env
from medvault.vault.names import shown
from medvault.vault.session import (
    UnlockedVault,
    open_headers,
    unlock,
    unlock_with_key,
    unlock_with_recovery_code,
)

if TYPE_CHECKING:
    from medvault.registry.sql import Registry

F = TypeVar("F", bound=Callable[..., Any])

VAULT_ID = re.compile(r"[0-9a-f]{32}")
# 6 hex digits: 16.7 million prefixes, so two vaults of an organisation rarely share one.
MIN_ID_PREFIX = 6
VAULT_ID_PREFIX = re.compile(rf"[0-9a-f]{{{MIN_ID_PREFIX},32}}")
MAX_LISTED_MATCHES = 10  # an ambiguous name lists at most this many vaults
MAX_QUOTED_NAME = 100
# Not readable=True: a dead drive must reach medvault's own check (DriveGone, exit 23).
VAULT_ARG = click.argument(
    "vault", type=click.Path(path_type=Path, file_okay=False, readable=False)
)


def _remember_in_context(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if param.name is not None:
        ctx.meta[f"medvault.{param.name}"] = value


def passphrase_options(func: F) -> F:
    func = click.option(
        "--use-recovery-code",
        "recovery_code_prompt",
        is_flag=True,
        expose_value=False,
        callback=_remember_in_context,
        help="Unlock with the printed 48-digit recovery code (asked at a hidden prompt).",
    )(func)
    func = click.option(
        "--recovery-code-file",
        type=click.Path(path_type=Path, dir_okay=False),
        expose_value=False,
        callback=_remember_in_context,
        help="Unlock with the recovery code in this file instead of the passphrase.",
    )(func)
    func = click.option(
        "--passphrase-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Read the passphrase from the first line of this file.",
    )(func)
    func = click.option(
        "--passphrase-fd",
        type=int,
        metavar="N",
        help="Read the passphrase from this open file descriptor.",
    )(func)
    return func


def _recovery_code_requested() -> str | None:
    """The recovery code, if --recovery-code-file or --recovery-code was given."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    code_file = ctx.meta.get("medvault.recovery_code_file")
    if code_file is not None:
        return pp.from_file(Path(str(code_file)), "--recovery-code-file")
    if ctx.meta.get("medvault.recovery_code_prompt"):
        return pp.prompt("Recovery code (8 groups of 6 digits)", confirm=False)
    return None


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def org_option(func: F) -> F:
    return click.option(
        "--org",
        "org_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Organisation config (default: $MEDVAULT_ORG, then $MEDVAULT_HOME/org.toml).",
    )(func)


def load_org_config(org_path: Path | None) -> OrgConfig:
    return load_org(find_org_config(org_path))


class LazyRegistry:
    """The custody registry, opened on first use: after any Argon2id work, so SQLAlchemy's
    ~30 MiB and Argon2id's 64 MiB are never resident together."""

    # One open registry per URL in this process: the lost-drive check at unlock and the
    # command's own events share its engine and its migration check.
    _opened: ClassVar[dict[str, Registry]] = {}

    def _open(self) -> Registry:
        if threading.current_thread() is not _background.thread:
            _background.join()  # it may be opening this very registry
        url = registry_url()
        if url not in LazyRegistry._opened:
            from medvault.registry.sql import Registry

            LazyRegistry._opened[url] = Registry.for_url(url)
        return LazyRegistry._opened[url]

    def record_vault(
        self,
        vault_id: str,
        label: str,
        org_id: str,
        created_at: str,
        actor: Actor,
        packages: list[KeyPackage],
    ) -> None:
        self._open().record_vault(vault_id, label, org_id, created_at, actor, packages)

    def set_vault_status(self, vault_id: str, status: str) -> None:
        self._open().set_vault_status(vault_id, status)

    def append_event(self, event: Event) -> str:
        return self._open().append_event(event)

    def append_logged_event(self, event: Event) -> str:
        return self._open().append_logged_event(event)

    def merge_events(self, found: list[Event], recorded_at: str) -> list[Event]:
        return self._open().merge_events(found, recorded_at)

    def key_packages(self, vault_id: str) -> list[KeyPackage]:
        return self._open().key_packages(vault_id)

    def replace_key_packages(self, vault_id: str, packages: list[KeyPackage], at: str) -> None:
        self._open().replace_key_packages(vault_id, packages, at)

    def real(self) -> Registry:
        return self._open()


def open_registry() -> LazyRegistry:
    return LazyRegistry()


def _warn_safely(message: str) -> None:
    # Warnings may quote a drive's or the registry's text (a file name, a reason).
    sys.stderr.write(f"medvault: warning: {safe(message)}\n")


def env() -> Env:
    return Env(warn=_warn_safely)


# The commands that may open a vault with a key cached by `unlock --remember` (their path
# below the top-level group). Any other command, and any command added later, asks for
# the passphrase: passwd, erase, recover and escrow reseal must prove that the person
# knows it now, not that someone unlocked this workstation earlier.
MAY_USE_CACHED_KEY = frozenset(
    {
        "add", "cp", "ls", "extract", "rm", "verify", "repair", "compact", "sync", "export",
        "scan", "custody transfer",
    }
)  # fmt: skip


def command_path() -> str:
    """The running command's path below the top-level group ("custody transfer"), or ""
    outside a click command."""
    ctx = click.get_current_context(silent=True)
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def may_use_cached_key() -> bool:
    return command_path() in MAY_USE_CACHED_KEY and not os.environ.get("MEDVAULT_NO_KEYRING")


def _unlock_any(path: Path, fd: int | None, file: Path | None) -> UnlockedVault:
    copies = open_headers(path)  # fail on "not a vault" before asking for anything
    code = _recovery_code_requested()
    if code is not None:
        return unlock_with_recovery_code(copies, parse_recovery_code(code))
    if fd is None and file is None and may_use_cached_key():
        from medvault.keys import keycache

        vault_id = copies.any.header.vault_id.hex()
        cached = keycache.recall(vault_id, env().now())
        if cached is not None:
            try:
                return unlock_with_key(copies, cached)
            except MedvaultError:
                # Stale or wrong: fall back to the passphrase (a keyring that cannot be
                # reached now keeps the marker, and the next start tries again).
                with contextlib.suppress(KeyCacheRefused):
                    keycache.forget(vault_id)
    secret = pp.obtain(fd, file, confirm=False, text="Vault passphrase")
    return unlock(copies, to_secret(secret))


def unlock_vault(path: Path, fd: int | None, file: Path | None) -> UnlockedVault:
    """Unlock VAULT with the recovery code if one was asked for, else with a key cached by
    `unlock --remember` if this command may use one (MAY_USE_CACHED_KEY), else with the
    passphrase."""
    unlocked = _unlock_any(path, fd, file)
    _background.start(lambda: warn_if_lost(unlocked, path))
    return unlocked


def forget_cached_key(vault_id: str, reason: str) -> None:
    """After REASON (erase, passwd, recover, incident lost): delete the key of VAULT_ID
    cached on this workstation, if a marker says there may be one, and record a `lock`
    event so a lost-drive report knows the key is gone. A keyring that cannot be reached
    gets a warning: the command itself has succeeded."""
    from medvault.keys import keycache
    from medvault.vault.custody import record

    try:
        removed = keycache.forget_if_marked(vault_id)
    except KeyCacheRefused as exc:
        env().warn(f"{exc.message}; run `medvault lock {vault_id}` to delete the cached key")
        return
    if not removed:
        return
    try:
        record(open_registry(), env(), "lock", {"reason": reason}, vault_id=vault_id)
    except MedvaultError as exc:  # may run while another error is on its way out (erase)
        env().warn(f"the cached key was deleted; its lock event was not recorded: {exc.message}")


class _Background:
    """The lost-drive check, on a thread while the command starts its work: it opens the
    registry, and importing SQLAlchemy and connecting take ~0.4 s that an add or extract
    would otherwise wait for. Whatever uses the registry next (the command's own event)
    joins it first, so the order of events is unchanged; main() joins it before exit."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start(self, work: Callable[[], None]) -> None:
        self.join()

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # raised in the main thread by join()
                self._failure = exc

        self.thread = threading.Thread(target=run, name="medvault-registry")
        self.thread.start()

    def join(self) -> None:
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.join()
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure


_background = _Background()


def join_background() -> None:
    """Wait for the lost-drive check (and raise what it raised)."""
    _background.join()


def warn_if_lost(vault: UnlockedVault | str, path: Path) -> None:
    """A drive reported lost is back: say so, and record where it was seen. VAULT is the
    unlocked vault, or only its id (commands that take no passphrase)."""
    from medvault.vault.incidents import note_if_lost

    unlocked = vault if isinstance(vault, UnlockedVault) else None
    vault_id = vault.vault_id_hex if isinstance(vault, UnlockedVault) else vault
    try:
        seen = note_if_lost(open_registry().real(), env(), vault_id, str(path.resolve()), unlocked)
    except MedvaultError:
        return  # no registry here: commands that must record will say so themselves
    if seen is not None:
        click.echo(
            f"medvault: warning: vault {vault_id} is recorded as LOST; this sighting "
            "was recorded. Tell your privacy officer.",
            err=True,
        )


def writable_folder(folder: Path) -> None:
    """Create FOLDER if needed and prove a file can be written there (exit 1 otherwise)."""
    probe = folder / ".medvault-write-test"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise MedvaultError(
            f"cannot write to {folder}: {exc.strerror}", hint="choose another --out folder"
        ) from None


def vault_id_of(vault: str) -> str:
    """The vault id of what a person calls the vault: a drive's path (the id in its header,
    read without the passphrase), the 32-digit id, or, from the custody registry, a unique
    id prefix of at least 6 hex digits or a unique label (exact, in any case). Several
    matches: UsageError listing them (exit 2); none: NotFound (exit 16)."""
    if _names_a_path(vault):  # a drive in hand wins over any name in the registry
        return open_headers(Path(vault)).any.header.vault_id.hex()
    if VAULT_ID.fullmatch(vault.lower()):
        return vault.lower()  # a whole id needs no registry (lock after the drive is gone)
    matches = vaults_named(open_registry().real().vaults(), vault)
    if len(matches) == 1:
        return matches[0].vault_id
    if matches:
        raise _ambiguous(vault, matches)
    if os.sep in vault:  # a path to a drive that is not mounted: exit 4, as before
        raise NotAVault(f"{_quoted_name(vault)} does not exist")
    raise NotFound(
        f'no vault is called "{_quoted_name(vault)}": it is not a drive here, nor a label or an id '
        "prefix in the custody registry",
        hint="`medvault vaults` lists the vaults; an id prefix needs at least "
        f"{MIN_ID_PREFIX} hex digits; or plug the drive in and give its path",
    )


def _quoted_name(name: str) -> str:
    """NAME as an error quotes it: a mistyped paste of a whole page is not echoed back."""
    return name if len(name) <= MAX_QUOTED_NAME else name[:MAX_QUOTED_NAME] + "..."


def _names_a_path(vault: str) -> bool:
    try:
        return Path(vault).exists()
    except OSError:  # a label longer than a file name may be (ENAMETOOLONG) is no path
        return False


def vaults_named(records: Iterable[VaultRecord], name: str) -> list[VaultRecord]:
    """The RECORDS whose id starts with NAME (at least MIN_ID_PREFIX hex digits) or whose
    label is NAME in any case."""
    prefix = name.lower() if VAULT_ID_PREFIX.fullmatch(name.lower()) else None
    label = name.casefold()
    return [
        r
        for r in records
        if (prefix is not None and r.vault_id.startswith(prefix)) or r.label.casefold() == label
    ]


def _ambiguous(vault: str, matches: list[VaultRecord]) -> UsageError:
    listed = "; ".join(
        f'{r.vault_id} "{r.label}" ({r.status})' for r in matches[:MAX_LISTED_MATCHES]
    )
    more = len(matches) - MAX_LISTED_MATCHES
    return UsageError(
        f'"{_quoted_name(vault)}" names {len(matches)} vaults: {listed}'
        + (f"; and {more} more" if more > 0 else ""),
        hint="give the vault's id, or enough of it (at least "
        f"{MIN_ID_PREFIX} hex digits) that only one vault has; `medvault vaults` lists them",
    )


def declare_options(func: F) -> F:
    """--individuals/--state/--category: what the data is, kept in the registry only."""
    func = click.option(
        "--category",
        "categories",
        multiple=True,
        metavar="NAME",
        help="Kind of data, e.g. lab-results (repeatable). Registry only, never on the drive.",
    )(func)
    func = click.option(
        "--state",
        "states",
        multiple=True,
        metavar="XX=N",
        help="Individuals per US state, e.g. --state CA=120 (repeatable). Registry only.",
    )(func)
    func = click.option(
        "--individuals",
        type=click.IntRange(0),
        metavar="N",
        help="How many people the data is about (for a breach assessment). Registry only.",
    )(func)
    return func


def added_printer(as_json: bool) -> Callable[[list[Located]], None]:
    """on_commit for add/cp/export: "added PATH" once each file is durably committed
    (nothing with --json, whose output comes at the end)."""

    def report(done: list[Located]) -> None:
        if not as_json:  # one write per group: 10,000 click.echo calls cost ~0.1 s
            sys.stdout.write("".join(f"added {shown(x.path, limit=1 << 16)}\n" for x in done))
            sys.stdout.flush()

    return report


def _no_progress(_n: int) -> None:
    return None


def emit_json(value: object) -> None:
    click.echo(safe_text.dumps(value))


def emit_json_array(items: Iterable[object]) -> None:
    """emit_json of a list, byte for byte, written item by item: a listing of 100,000
    files is never held whole."""
    out = sys.stdout
    first = True
    for item in items:
        body = safe_text.dumps(item).replace("\n", "\n  ")
        out.write(("[\n  " if first else ",\n  ") + body)
        first = False
    out.write("[]\n" if first else "\n]\n")


@contextmanager
def progress_bar(total: int | None, desc: str) -> Iterator[Callable[[int], None]]:
    """Bytes progress on stderr, only when stderr is a terminal (disable=None).

    tqdm is imported here, after unlocking, to keep it out of memory during Argon2id, and
    only for a terminal: importing it costs ~0.1 s, which a script (stderr not a terminal,
    where tqdm would draw nothing) should not pay."""
    if not sys.stderr.isatty():
        yield _no_progress
        return
    from tqdm import tqdm

    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        file=sys.stderr,
        disable=None,
        mininterval=0.2,
        dynamic_ncols=True,
        leave=False,
    ) as bar:

        def advance(n: int) -> None:
            bar.update(n)

        yield advance
