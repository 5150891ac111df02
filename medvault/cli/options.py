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


def org_option(func: F) -> F:
    return click.option(
        "--org",
        "org_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Organisation config (default: $MEDVAULT_ORG, then $MEDVAULT_HOME/org.toml).",
    )(func)


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
