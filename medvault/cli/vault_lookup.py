"""Which vault a person means: a drive's path, a vault id, a unique id prefix or label."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from medvault.cli.context import CliContext
from medvault.engine.session import open_headers
from medvault.errors import NotAVault, NotFound, UsageError
from medvault.registry.records import VaultRecord

VAULT_ID = re.compile(r"[0-9a-f]{32}")
# 6 hex digits: 16.7 million prefixes, so two vaults of an organisation rarely share one.
MIN_ID_PREFIX = 6
VAULT_ID_PREFIX = re.compile(rf"[0-9a-f]{{{MIN_ID_PREFIX},32}}")
MAX_LISTED_MATCHES = 10  # an ambiguous name lists at most this many vaults
MAX_QUOTED_NAME = 100


def vault_id_of(cli: CliContext, vault: str) -> str:
    """The vault id of what a person calls the vault: a drive's path (the id in its header,
    read without the passphrase), the 32-digit id, or, from the custody registry, a unique
    id prefix of at least 6 hex digits or a unique label (exact, in any case). Several
    matches: UsageError listing them (exit 2); none: NotFound (exit 16)."""
    if _names_a_path(vault):  # a drive in hand wins over any name in the registry
        return open_headers(Path(vault)).any.header.vault_id.hex()
    if VAULT_ID.fullmatch(vault.lower()):
        return vault.lower()  # a whole id needs no registry (lock after the drive is gone)
    matches = vaults_named(cli.registry().vaults(), vault)
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
