"""Options and arguments several commands share, and what they name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from medvault.config import OrgConfig, find_org_config, load_org

F = TypeVar("F", bound=Callable[..., Any])

# Not readable=True: a dead drive must reach medvault's own check (DriveGone, exit 23).
VAULT_ARG = click.argument(
    "vault", type=click.Path(path_type=Path, file_okay=False, readable=False)
)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def folder_option(
    *decls: str, help: str, required: bool = False, metavar: str | None = None
) -> Callable[[F], F]:
    """An option naming a folder (one that is written to need not exist yet)."""
    path = click.Path(path_type=Path, file_okay=False)
    return click.option(*decls, type=path, required=required, metavar=metavar, help=help)


def out_folder_option(help: str) -> Callable[[F], F]:
    """--out DIR, required: the folder a command writes what it makes into (`out_dir`)."""
    return folder_option("--out", "out_dir", required=True, help=help)


def file_option(*decls: str, help: str, multiple: bool = False) -> Callable[[F], F]:
    """An option naming a file (not a folder)."""
    path = click.Path(path_type=Path, dir_okay=False)
    return click.option(*decls, type=path, multiple=multiple, help=help)


org_option = file_option(
    "--org",
    "org_path",
    help="Organisation config (default: $MEDVAULT_ORG, then $MEDVAULT_HOME/org.toml).",
)


def load_org_config(org_path: Path | None) -> OrgConfig:
    return load_org(find_org_config(org_path))


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
