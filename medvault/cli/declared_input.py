"""--individuals/--state/--category: what a vault's data is about (kept in the registry
only), given to a command as one Declaration."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from medvault.cli.options import apply_options
from medvault.vault.custody import Declared, parse_declared


@dataclass(frozen=True)
class Declaration:
    """The three options as given: checked only when the command asks (parsed), so a
    command's own checks that come first still come first."""

    individuals: int | None
    states: tuple[str, ...]
    categories: tuple[str, ...]

    def parsed(self) -> Declared:
        return parse_declared(self.individuals, self.states, self.categories)


def declare_options(command: Callable[..., None]) -> Callable[..., None]:
    """--individuals/--state/--category, given to COMMAND as one `declaration: Declaration`."""

    @functools.wraps(command)
    def with_declaration(
        *args: Any,
        individuals: int | None,
        states: tuple[str, ...],
        categories: tuple[str, ...],
        **kwargs: Any,
    ) -> None:
        command(*args, declaration=Declaration(individuals, states, categories), **kwargs)

    return apply_options(
        with_declaration,
        [
            click.option(
                "--individuals",
                type=click.IntRange(0),
                metavar="N",
                help="How many people the data is about (for a breach assessment). Registry only.",
            ),
            click.option(
                "--state",
                "states",
                multiple=True,
                metavar="XX=N",
                help="Individuals per US state, e.g. --state CA=120 (repeatable). Registry only.",
            ),
            click.option(
                "--category",
                "categories",
                multiple=True,
                metavar="NAME",
                help="Kind of data, e.g. lab-results (repeatable). Registry only, never on the "
                "drive.",
            ),
        ],
    )
