"""Unlocking a vault for a command: where its passphrase or recovery code comes from
(PassphraseSource), the key cached by `unlock --remember`, and the lost-drive check that
follows every unlock."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from medvault.cli import passphrase as pp
from medvault.cli.context import CliContext, current_cli_context, in_background
from medvault.cli.options import apply_options
from medvault.cli.safe_text import safe
from medvault.engine.session import (
    HeaderCopies,
    UnlockedVault,
    header_copy_warnings,
    open_headers,
    refuse_superseded,
    unlock,
    unlock_with_key,
    unlock_with_recovery_code,
)
from medvault.errors import KeyCacheRefused, MedvaultError, WrongPassphrase
from medvault.keys.passphrase import to_secret
from medvault.keys.recovery_code import RecoveryCodeMistyped
from medvault.keys.recovery_code import parse as parse_recovery_code
from medvault.secret import Secret


@dataclass(frozen=True)
class PassphraseSource:
    """The four options a command that unlocks takes: the passphrase's file descriptor or
    file (then $MEDVAULT_PASSPHRASE_FILE, $MEDVAULT_PASSPHRASE and a prompt, in that order:
    cli/passphrase.py), or a recovery code from a file or a prompt. Never the secret."""

    fd: int | None = None
    file: Path | None = None
    recovery_code_file: Path | None = None
    use_recovery_code: bool = False

    def passphrase(
        self,
        *,
        confirm: bool = False,
        text: str = "Vault passphrase",
        check: Callable[[str], object] | None = None,
    ) -> str:
        """The passphrase (a new one, asked twice on a terminal, with CONFIRM, and asked
        again there while CHECK refuses it: cli/passphrase.prompt)."""
        return pp.obtain(self.fd, self.file, confirm=confirm, text=text, check=check)

    @property
    def asks_at_prompt(self) -> bool:
        """The passphrase will be typed at the terminal prompt (no option or variable)."""
        return pp.asks_at_prompt(self.fd, self.file)

    def recovery_code(self) -> str | None:
        """The recovery code, if --recovery-code-file or --use-recovery-code was given."""
        if self.recovery_code_file is not None:
            return pp.from_file(self.recovery_code_file, "--recovery-code-file")
        if self.use_recovery_code:
            return pp.prompt("Recovery code (8 groups of 6 digits)", confirm=False)
        return None

    @property
    def uses_recovery_code(self) -> bool:
        """--recovery-code-file or --use-recovery-code: unlock with the recovery code."""
        return self.recovery_code_file is not None or self.use_recovery_code

    @property
    def code_asked_at_prompt(self) -> bool:
        """The recovery code will be typed at the terminal prompt (--use-recovery-code,
        no --recovery-code-file, and stdin is a terminal)."""
        return self.recovery_code_file is None and self.use_recovery_code and pp.interactive()

    @property
    def passphrase_given(self) -> bool:
        """--passphrase-fd or --passphrase-file: a key cached on this workstation is not
        used instead."""
        return self.fd is not None or self.file is not None


PASSPHRASE_SOURCE_OPTIONS = [
    click.option(
        "--passphrase-fd",
        type=int,
        metavar="N",
        help="Read the passphrase from this open file descriptor.",
    ),
    click.option(
        "--passphrase-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Read the passphrase from the first line of this file.",
    ),
]
RECOVERY_CODE_OPTIONS = [
    click.option(
        "--recovery-code-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Unlock with the recovery code in this file instead of the passphrase.",
    ),
    click.option(
        "--use-recovery-code",
        is_flag=True,
        help="Unlock with the printed 48-digit recovery code (asked at a hidden prompt).",
    ),
]


def passphrase_options(command: Callable[..., None]) -> Callable[..., None]:
    """The four passphrase and recovery-code options, given to COMMAND as one
    `passphrase: PassphraseSource`."""

    @functools.wraps(command)
    def with_source(
        *args: Any,
        passphrase_fd: int | None,
        passphrase_file: Path | None,
        recovery_code_file: Path | None,
        use_recovery_code: bool,
        **kwargs: Any,
    ) -> None:
        source = PassphraseSource(
            passphrase_fd, passphrase_file, recovery_code_file, use_recovery_code
        )
        command(*args, passphrase=source, **kwargs)

    return apply_options(with_source, [*PASSPHRASE_SOURCE_OPTIONS, *RECOVERY_CODE_OPTIONS])


def new_passphrase_options(command: Callable[..., None]) -> Callable[..., None]:
    """For a command that sets a passphrase and unlocks nothing (create): --passphrase-fd
    and --passphrase-file only, given to COMMAND as `passphrase: PassphraseSource`."""

    @functools.wraps(command)
    def with_source(
        *args: Any, passphrase_fd: int | None, passphrase_file: Path | None, **kwargs: Any
    ) -> None:
        command(*args, passphrase=PassphraseSource(passphrase_fd, passphrase_file), **kwargs)

    return apply_options(with_source, PASSPHRASE_SOURCE_OPTIONS)


def with_unlocked_vault(command: Callable[..., None]) -> Callable[..., None]:
    """For a command whose first work is to unlock its VAULT argument (VAULT_ARG, given
    above this decorator): adds the passphrase options, and calls COMMAND with `unlocked`
    (the vault, unlocked by unlock_vault) in place of `vault`."""

    @functools.wraps(command)
    def unlocking(*args: Any, vault: Path, passphrase: PassphraseSource, **kwargs: Any) -> None:
        unlocked = unlock_vault(current_cli_context(), vault, passphrase)
        command(*args, unlocked=unlocked, **kwargs)

    return passphrase_options(unlocking)


# The commands that may open a vault with a key cached by `unlock --remember` (their path
# below the top-level group). Any other command, and any command added later, asks for
# the passphrase: passwd, erase, recover and escrow reseal must prove that the person
# knows it now, not that someone unlocked this workstation earlier.
MAY_USE_CACHED_KEY = frozenset(
    {
        "add", "cp", "ls", "extract", "cat", "mount", "rm", "verify", "repair", "compact",
        "sync", "export", "scan", "custody transfer",
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


def _unlock_any(cli: CliContext, path: Path, source: PassphraseSource) -> UnlockedVault:
    copies = open_headers(path)  # fail on "not a vault" before asking for anything
    if source.uses_recovery_code:
        return unlock_with_code(copies, source)
    if not source.passphrase_given and may_use_cached_key():
        from medvault.keys import keycache

        vault_id = copies.any.header.vault_id.hex()
        cached = keycache.recall(vault_id, cli.env.now())
        if cached is not None:
            try:
                return unlock_with_key(copies, cached)
            except MedvaultError:
                # Stale or wrong: fall back to the passphrase (a keyring that cannot be
                # reached now keeps the marker, and the next start tries again).
                with contextlib.suppress(KeyCacheRefused):
                    keycache.forget(vault_id)
    return unlock_with_passphrase(copies, source)[0]


# How many times a wrong passphrase typed at the terminal prompt is asked for.
UNLOCK_TRIES = 3


def unlock_with_passphrase(
    copies: HeaderCopies, source: PassphraseSource
) -> tuple[UnlockedVault, Secret]:
    """COPIES unlocked with SOURCE's passphrase, and that passphrase. Typed at the
    terminal prompt, a wrong one is asked again (each try runs Argon2id), up to
    UNLOCK_TRIES times; the last WrongPassphrase is raised (exit 3). A passphrase from an
    option, a file or the environment is tried once."""
    tries = UNLOCK_TRIES if source.asks_at_prompt else 1
    for left in range(tries - 1, -1, -1):
        secret = to_secret(source.passphrase())
        try:
            return unlock(copies, secret), secret
        except WrongPassphrase:
            if not left:
                raise
            click.echo(f"medvault: wrong passphrase; try again ({left} left)", err=True)
    raise AssertionError("unreachable: the last try returns or raises")


def unlock_with_code(copies: HeaderCopies, source: PassphraseSource) -> UnlockedVault:
    """COPIES unlocked with SOURCE's recovery code. Typed at the terminal prompt, a code
    that is mistyped (a group fails its check) or wrong is asked again, up to UNLOCK_TRIES
    times, as a passphrase is; the last error is raised (a wrong code: WrongPassphrase,
    exit 3; a mistyped one: exit 2). A code from --recovery-code-file is tried once."""
    tries = UNLOCK_TRIES if source.code_asked_at_prompt else 1
    for left in range(tries - 1, -1, -1):
        code = source.recovery_code()
        assert code is not None  # source.uses_recovery_code
        try:
            return unlock_with_recovery_code(copies, parse_recovery_code(code))
        except (WrongPassphrase, RecoveryCodeMistyped) as exc:
            if not left:
                raise
            click.echo(f"medvault: {safe(exc.message)}; try again ({left} left)", err=True)
    raise AssertionError("unreachable: the last try returns or raises")


def unlock_vault(cli: CliContext, path: Path, source: PassphraseSource) -> UnlockedVault:
    """Unlock VAULT with the recovery code if one was asked for, else with a key cached by
    `unlock --remember` if this command may use one (MAY_USE_CACHED_KEY), else with the
    passphrase."""
    unlocked = _unlock_any(cli, path, source)
    opens = command_path() not in RECORDS_NO_EVENT | APPENDS_EVENTS_ONLY

    def after_unlock() -> None:
        # A registry the check could not reach is not tried again here: the command's own
        # event tries once more and says why it failed (an unreachable server costs its
        # connection timeout each time).
        if warn_if_lost(cli, unlocked, path) and opens:
            open_registry_early(cli)

    in_background(after_unlock)
    warn_about_header_copies(unlocked)
    if command_path() not in MAY_USE_CACHED_KEY:
        refuse_superseded(unlocked)  # passwd, erase: the secret in force, not one replaced
    return unlocked


# Commands that record no custody event after they unlock. The lost-drive check reads the
# vault's status without SQLAlchemy (registry/lookup.py) and, for these, nothing more is
# loaded: `medvault ls` would otherwise wait ~0.2 s at exit for an import it never uses.
# For every other command but those of APPENDS_EVENTS_ONLY the background thread goes on to
# open the registry, as it did before, so that the command's event does not wait for it. A
# command missing here is only slower; one wrongly here only opens the registry when it
# records.
RECORDS_NO_EVENT = frozenset({"ls", "verify"})
# Commands whose use cases call only append_event and append_logged_event on the registry:
# registry/sqlite_append.py writes those events without SQLAlchemy when the lost-drive check
# could read the vault's status without it (registry/lookup.py); when it could not, the
# check has opened the registry already. So nothing is opened early for them (an add of
# 10,000 small files would otherwise share the GIL with ~0.25 s of SQLAlchemy import). A
# command wrongly here opens the registry when it first calls another method, later.
APPENDS_EVENTS_ONLY = frozenset(
    {"add", "cp", "extract", "cat", "rm", "repair", "compact", "mount", "export", "passwd"}
)


def open_registry_early(cli: CliContext) -> None:
    """Open the registry now (on the background thread) for the event the command will
    record. A registry that cannot be opened is the command's to report when it records."""
    with contextlib.suppress(MedvaultError):
        cli.registry()


def warn_about_header_copies(unlocked: UnlockedVault) -> None:
    """Say on stderr when the vault was opened from one header copy only: the secret
    opens only an older copy (it was changed since), or the other copy is older, missing,
    damaged or not authentic. An older copy is never used silently."""
    for warning in header_copy_warnings(unlocked):
        click.echo(f"medvault: warning: {safe(warning)}", err=True)


def forget_cached_key(cli: CliContext, vault_id: str, reason: str) -> None:
    """The key of VAULT_ID cached here goes after REASON (cached_keys.forget_after)."""
    from medvault.vault.cached_keys import forget_after  # keycache only when it may be needed

    forget_after(vault_id, reason, cli.registry_on_first_use(), cli.env)


def warn_if_lost(cli: CliContext, vault: UnlockedVault | str, path: Path) -> bool:
    """A drive reported lost is back: say so, and record where it was seen. VAULT is the
    unlocked vault, or only its id (commands that take no passphrase). False when the
    registry could not be read (nothing is said: see below)."""
    from medvault.vault.incidents import note_if_lost

    unlocked = vault if isinstance(vault, UnlockedVault) else None
    vault_id = vault.vault_id_hex if isinstance(vault, UnlockedVault) else vault
    try:
        seen = note_if_lost(
            cli.registry_for_lost_check(), cli.env, vault_id, str(path.resolve()), unlocked
        )
    except MedvaultError:
        return False  # no registry here: commands that must record will say so themselves
    if seen is not None:
        click.echo(
            f"medvault: warning: vault {vault_id} is recorded as LOST; this sighting "
            "was recorded. Tell your privacy officer.",
            err=True,
        )
    return True
