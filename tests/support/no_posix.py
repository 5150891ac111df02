"""Run medvault's CLI as on a platform without POSIX-only modules and without /proc:
`python tests/support/no_posix.py ARGS...` is `medvault ARGS...` with fcntl, termios, tty,
pty, resource, pwd and grp unimportable (an import hook) and every path under /proc
missing (open, io.open, os.open, os.stat, os.listdir and os.scandir refuse it), as on
Windows: mounts are then listed through psutil (workstation/mounts.py)."""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.machinery
import io
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

HIDDEN = frozenset({"fcntl", "termios", "tty", "pty", "resource", "pwd", "grp"})


class HidePosixModules(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] in HIDDEN:
            raise ImportError(f"No module named {fullname!r} (hidden: not on this platform)")
        return None


def _refusing_proc(call: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(path: Any = ".", *args: Any, **kwargs: Any) -> Any:
        if isinstance(path, str | bytes | os.PathLike) and os.fsdecode(path).startswith("/proc"):
            raise FileNotFoundError(2, "No such file or directory (hidden)", os.fsdecode(path))
        return call(path, *args, **kwargs)

    return wrapped


def hide() -> None:
    for name in [n for n in sys.modules if n.split(".")[0] in HIDDEN]:
        del sys.modules[name]
    sys.meta_path.insert(0, HidePosixModules())
    builtins.open = _refusing_proc(builtins.open)
    io.open = _refusing_proc(io.open)  # what pathlib opens with
    os.scandir = _refusing_proc(os.scandir)
    os.open = _refusing_proc(os.open)
    os.stat = _refusing_proc(os.stat)
    os.listdir = _refusing_proc(os.listdir)


if __name__ == "__main__":
    hide()
    from medvault.cli.main import main

    sys.argv = ["medvault", *sys.argv[1:]]
    main()
