"""The command groups' shared behaviour: a mistyped command name is answered with the
closest names ("did you mean"), at the top level and inside every group."""

from __future__ import annotations

import click

# How close a name must be to be suggested (difflib's ratio: "extrat" to "extract" is 0.92).
CLOSE_ENOUGH = 0.6


class SuggestingGroup(click.Group):
    """A group whose unknown command fails (exit 2) naming the commands it may have meant."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if (
            not ctx.resilient_parsing  # shell completion asks for what matches, not this
            and not name.startswith("-")
            and self.get_command(ctx, name) is None
        ):
            import difflib  # only for a name that is no command

            close = difflib.get_close_matches(name, self.list_commands(ctx), 3, CLOSE_ENOUGH)
            if close:
                meant = " or ".join(f"'{match}'" for match in close)
                ctx.fail(f"No such command '{name}'. Did you mean {meant}?")
        return super().resolve_command(ctx, args)
