"""Docs stay true: every exit code is documented, every command explains its exit codes."""

from __future__ import annotations

import importlib
import re

import click
import pytest
from click.testing import CliRunner

from medvault import errors
from medvault.cli.main import cli
from tests.support.paths import REPO_ROOT

DOCS = REPO_ROOT / "docs"


def _error_classes() -> list[type[errors.MedvaultError]]:
    return [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.MedvaultError)
    ]


def test_every_error_class_is_in_the_exit_code_table() -> None:
    table = (DOCS / "CLI.md").read_text()
    for cls in _error_classes():
        row = re.search(rf"^\| {cls.exit_code} \| [^|]*\b{cls.__name__}\b", table, re.M)
        assert row, f"{cls.__name__} (exit {cls.exit_code}) missing from docs/CLI.md"


def test_exit_codes_are_unique_per_meaning() -> None:
    seen: dict[int, str] = {}
    for cls in _error_classes():
        base = cls.__mro__[1].__name__
        owner = seen.setdefault(cls.exit_code, cls.__name__)
        assert owner == cls.__name__ or base == owner, (owner, cls.__name__)


def _leaf_commands() -> list[tuple[str, ...]]:
    leaves: list[tuple[str, ...]] = []
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            leaves += [(name, sub) for sub in sorted(command.commands)]
        else:
            leaves.append((name,))
    return leaves


@pytest.mark.parametrize("path", _leaf_commands(), ids=" ".join)
def test_every_command_documents_exit_codes(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Exit codes" in result.output, path
    assert f"### `medvault {' '.join(path)}" in (DOCS / "CLI.md").read_text(), path


@pytest.mark.parametrize(
    "doc",
    ["FORMAT.md", "CLI.md", "THREAT_MODEL.md", "COMPLIANCE.md", "ADMIN.md", "ARCHITECTURE.md"],
)
def test_required_docs_exist(doc: str) -> None:
    assert (DOCS / doc).stat().st_size > 2000


# bench/bench_peers.py writes its README block between these comments, into
# bench/results/peers.md and into README.md's Performance section.
README_BLOCK = re.compile(
    r"<!-- bench_peers\.py README block: generated, do not edit by hand -->\n"
    r".*?\n<!-- end of bench_peers\.py README block -->",
    re.S,
)


def _readme_block(text: str) -> str:
    blocks = README_BLOCK.findall(text)
    assert len(blocks) == 1, f"{len(blocks)} README blocks"
    return str(blocks[0])


def test_readme_performance_block_is_the_results_files() -> None:
    """README.md's performance table and goal lines are the ones bench/results/peers.md
    holds, so the two cannot drift; and those goal lines are the report's own."""
    peers = (REPO_ROOT / "bench" / "results" / "peers.md").read_text()
    block = _readme_block(peers)
    assert _readme_block((REPO_ROOT / "README.md").read_text()) == block
    judged = peers.split("## Goals (issue 23)", 1)[1].split("## README block", 1)[0]
    goals = [line for line in judged.splitlines() if re.match(r"[1-6]\. \*\*", line)]
    assert [line[:2] for line in goals] == ["1.", "2.", "3.", "4.", "5.", "6."]
    assert all(line in block.splitlines() for line in goals)


ARCHITECTURE = DOCS / "ARCHITECTURE.md"
GLOSSARY = ["entry", "pack", "part", "journal", "path index", "catalog", "landing", "slot",
            "key package"]  # fmt: skip
# `pkg/module`, `pkg/module.py`, `pkg/module.name` or `pkg/module.Class.method` in backticks.
CODE_NAME = re.compile(r"`((?:medvault/)?[a-z_]+/[a-z_]+)(?:\.py)?((?:\.[A-Za-z_]+)*)`")


def test_the_architecture_page_defines_the_glossary() -> None:
    glossary = ARCHITECTURE.read_text().split("## Glossary", 1)[1]
    defined = {m.lower() for m in re.findall(r"^- \*\*([^*]+)\*\*", glossary, flags=re.M)}
    assert [term for term in GLOSSARY if term not in defined] == []


def test_every_module_and_function_the_architecture_page_names_exists() -> None:
    """A module moved or a function renamed makes the page wrong: this fails until it is
    corrected."""
    named = CODE_NAME.findall(ARCHITECTURE.read_text())
    assert len(named) > 30
    missing = []
    for module_path, attributes in named:
        module_name = "medvault." + module_path.removeprefix("medvault/").replace("/", ".")
        try:
            found: object = importlib.import_module(module_name)
        except ModuleNotFoundError:
            missing.append(module_path)
            continue
        for attribute in filter(None, attributes.split(".")):
            found = getattr(found, attribute, None)
        if found is None:
            missing.append(module_path + attributes)
    assert missing == []
