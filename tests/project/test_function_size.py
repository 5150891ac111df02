"""No function in medvault/ runs over 60 lines, from its `def` to its last line (the click
decorators above a command are not counted; its parameters are).

LONGER_FOR_NOW names the functions that were longer when this rule came in, each with its
length then: they may only shrink, and each leaves the list once it is under the limit.
The list is empty now: every function is within the limit."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "medvault"
LIMIT = 60

LONGER_FOR_NOW: dict[str, int] = {}


def function_lengths() -> dict[str, int]:
    """'path:name' -> lines from `def` to the end, for every function and method."""
    lengths: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno is not None
                key = f"{path.relative_to(PACKAGE).as_posix()}:{node.name}"
                lengths[key] = max(lengths.get(key, 0), node.end_lineno - node.lineno + 1)
    return lengths


def test_no_function_is_over_the_limit() -> None:
    lengths = function_lengths()
    too_long = {
        name: length
        for name, length in lengths.items()
        if length > LIMIT and length > LONGER_FOR_NOW.get(name, 0)
    }
    assert too_long == {}, f"split these functions (at most {LIMIT} lines each)"


def test_the_list_of_longer_functions_only_shrinks() -> None:
    """A function on the list that is now within the limit (or gone) leaves the list."""
    lengths = function_lengths()
    done = sorted(name for name in LONGER_FOR_NOW if lengths.get(name, 0) <= LIMIT)
    assert done == []


def test_the_measure_sees_decorators_apart_from_the_function(tmp_path: Path) -> None:
    """The count starts at `def`: decorators above do not count, the body does."""
    source = "@a\n@b(\n  1,\n)\ndef f(\n  x,\n):\n" + "    x += 1\n" * 5 + "\n"
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef)
    assert node.end_lineno is not None
    assert node.end_lineno - node.lineno + 1 == 3 + 5
