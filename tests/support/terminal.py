"""The medvault command line on a pseudo-terminal (pexpect), the way a person at a
terminal runs it: prompts, echo and Ctrl-C as a tty gives them."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import pexpect


def default_sigint() -> None:
    """For preexec_fn: a suite started in the background of a shell without job control
    inherits SIGINT ignored, and so would the child: its Ctrl-C would then be lost, unlike
    on a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn_medvault(
    env: dict[str, str], *args: str | Path, timeout: float = 60, **options: Any
) -> pexpect.spawn:
    """`python -m medvault ARGS` on a new pseudo-terminal with ENV, its text read as UTF-8;
    OPTIONS go to pexpect.spawn as they are (dimensions, preexec_fn, codec_errors)."""
    return pexpect.spawn(
        sys.executable,
        ["-m", "medvault", *map(str, args)],
        env=env,
        encoding="utf-8",
        timeout=timeout,
        **options,
    )


def wait_for_exit(child: pexpect.spawn) -> tuple[int | None, str]:
    """Read CHILD's output to its end and wait for it to exit: (its exit status, what it
    printed after the last prompt it was expected at)."""
    child.expect(pexpect.EOF)
    rest = child.before or ""
    child.close()
    return child.exitstatus, rest


def answer_new_passphrase(child: pexpect.spawn, passphrase: str, repeat: str | None = None) -> str:
    """At CHILD's new-passphrase prompt type PASSPHRASE, and at the confirmation prompt
    REPEAT (PASSPHRASE unless given); returns what the terminal showed before the first
    prompt."""
    child.expect("New vault passphrase: ")
    shown = child.before or ""
    child.sendline(passphrase)
    child.expect("Repeat to confirm: ")
    child.sendline(passphrase if repeat is None else repeat)
    return shown
