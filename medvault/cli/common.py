"""Shared options and helpers for the commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from tqdm import tqdm

from medvault.cli import passphrase as pp
from medvault.config import OrgConfig, find_org_config, load_org, registry_path
from medvault.keys.passphrase import to_secret
from medvault.registry.local import Registry
from medvault.vault.env import Env
from medvault.vault.session import UnlockedVault, open_headers, unlock

F = TypeVar("F", bound=Callable[..., Any])

VAULT_ARG = click.argument("vault", type=click.Path(path_type=Path, file_okay=False))


def passphrase_options(func: F) -> F:
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


def open_registry() -> Registry:
    return Registry.for_path(registry_path())


def env() -> Env:
    return Env()


def unlock_vault(path: Path, fd: int | None, file: Path | None) -> UnlockedVault:
    copies = open_headers(path)  # fail on "not a vault" before asking for anything
    secret = pp.obtain(fd, file, confirm=False, text="Vault passphrase")
    return unlock(copies, to_secret(secret))


def emit_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@contextmanager
def progress_bar(total: int, desc: str) -> Iterator[Callable[[int], None]]:
    """Bytes progress on stderr, only when stderr is a terminal (disable=None)."""
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
