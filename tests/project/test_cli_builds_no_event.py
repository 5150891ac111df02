"""The command line builds no custody event: the use cases record their own (their
`record` calls take an Action, which mypy --strict checks), so a command cannot write an
event the use case does not know of. Reads the source, so it is kept out of the mutation
pools."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO_ROOT

CLI = REPO_ROOT / "medvault" / "cli"
# What builds or writes an event: medvault.vault.custody's record and new_event, the
# registry's append_event, and the Event record itself (which a command may still name in a
# type annotation, to show events it reads).
EVENT_MAKERS = {"record", "record_event", "new_event", "append_event", "Event"}


def _makers_used(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in EVENT_MAKERS:
                found.append(f"{path.name}:{node.lineno} {name}()")
    return found


def test_no_command_module_builds_or_records_an_event() -> None:
    modules = sorted(CLI.glob("*.py"))
    assert len(modules) > 20
    assert [hit for path in modules for hit in _makers_used(path)] == []


def test_the_check_sees_an_event_built_in_a_command(tmp_path: Path) -> None:
    planted = tmp_path / "x_cmd.py"
    planted.write_text(
        "from medvault.registry.records import Event\n"
        "def run(registry, env):\n"
        "    record(registry, env, 'add', {})\n"
        "    registry.append_event(Event('a', 'b', None, None, 'c', {}))\n"
    )
    assert len(_makers_used(planted)) == 3
