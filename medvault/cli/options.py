"""Options and arguments several commands share, and what they name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from medvault.config import OrgConfig, find_org_config, load_org

F = TypeVar("F", bound=Callable[..., Any])

# Not readable=True: a dead drive must reach medvault's own check (DriveGone, exit 23).
VAULT_ARG = click.argument(
    "vault", type=click.Path(path_type=Path, file_okay=False, readable=False)
)


def apply_options(func: F, options: Sequence[Callable[[F], F]]) -> F:
    """FUNC with OPTIONS, which --help lists in the order given."""
    for option in reversed(options):
        func = option(func)
    return func


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
