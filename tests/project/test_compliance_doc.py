"""docs/COMPLIANCE.md maps each requirement to the feature and to tests that exist. Every
requirement below has a table row whose proof cell names a test; every test path and
`file::function` the page mentions is real; no feature that exists (custody, audit,
incidents, erase) is still "planned"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
DOC = ROOT / "docs" / "COMPLIANCE.md"

REQUIRED = (
    "HHS guidance",
    "SP 800-111",
    "164.310(d)",
    "164.312(b)",
    "164.414(b)",
    "SP 800-88",
    "164.404",
)
# Features that exist (custody, audit, sync, incidents, erase, ...), and the issue that built
# them: a row that still calls any of these "planned" is out of date.
ISSUE_4_TERMS = (
    "issue 4",
    "custody",
    "audit verify",
    "audit head",
    "audit report",
    "audit chain",
    "postgresql",
    "medvault sync",
    "`sync`",
    "incident",
    "lost drive",
    "lost-drive",
    "declared contents",
    "--individuals",
    "erase",
    "sanitiz",
    "sp 800-88",
    "164.310(d)",
    "164.312(b)",
    "164.404",
    "164.414(b)",
)
TEST_REF = re.compile(r"tests/[A-Za-z0-9_/]+\.py(?:::[A-Za-z_][A-Za-z0-9_]*)?")
PLANNED = re.compile(r"\bplanned\b", re.I)


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row; `\\|` inside a cell is not a separator."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def requirement_rows(text: str) -> list[list[str]]:
    """Body rows of every table whose header starts with "requirement"."""
    rows: list[list[str]] = []
    in_table = False
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if cells[0].lower() == "requirement":
            in_table = True
        elif in_table and not set("".join(cells)) <= set("-: "):
            rows.append(cells)
    return rows


def problems(text: str, root: Path = ROOT) -> list[str]:
    """Everything wrong with TEXT as the compliance map (empty when it is right)."""
    found: list[str] = []
    rows = requirement_rows(text)
    if len(rows) < len(REQUIRED):
        found.append(f"only {len(rows)} requirement rows")
    for rid in REQUIRED:
        matching = [r for r in rows if rid.lower() in r[0].lower()]
        if not matching:
            found.append(f"no row for {rid}")
        for row in matching:
            proof = row[-1]
            if len(row) < 4 or not proof:
                found.append(f"{rid}: empty proof cell in {row[0]!r}")
            elif PLANNED.search(proof):
                found.append(f"{rid}: proof cell says planned in {row[0]!r}")
            elif not TEST_REF.search(proof):
                found.append(f"{rid}: proof cell names no test in {row[0]!r}")
    for row in rows:
        joined = " ".join(row).lower()
        if PLANNED.search(joined):
            late = [t for t in ISSUE_4_TERMS if t in joined]
            if late:
                found.append(f"row {row[0]!r} still says planned for {late}")
    if re.search(r"planned[^\n]*issue 4", text, re.I):
        found.append('the page still says "planned ... issue 4"')
    for ref in sorted(set(TEST_REF.findall(text))):
        path, _sep, name = ref.partition("::")
        source = root / path
        if not source.is_file():
            found.append(f"{path} does not exist")
            continue
        if name and not re.search(
            rf"^\s*(?:async\s+)?def {re.escape(name)}\(", source.read_text(), re.M
        ):
            found.append(f"{path} has no function {name}")
    return found


def test_compliance_map_is_complete_and_true() -> None:
    assert problems(DOC.read_text()) == []


def test_every_required_requirement_has_a_row_with_a_test() -> None:
    rows = requirement_rows(DOC.read_text())
    for rid in REQUIRED:
        proofs = [r[-1] for r in rows if rid.lower() in r[0].lower()]
        assert proofs, rid
        assert all(TEST_REF.search(p) for p in proofs), rid


def _first_row(text: str, rid: str) -> str:
    return next(ln for ln in text.splitlines() if ln.startswith("|") and rid in _cells(ln)[0])


def _break_proof(text: str, rid: str, proof: str) -> str:
    line = _first_row(text, rid)
    head = line.rstrip().removesuffix("|").rstrip()
    cut = max(i for i in range(len(head)) if head[i] == "|" and head[i - 1] != "\\")
    return text.replace(line, head[: cut + 1] + f" {proof} |")


def _mutations(text: str) -> dict[str, str]:
    return {
        "row removed": text.replace(_first_row(text, "164.414(b)") + "\n", ""),
        "proof planned": _break_proof(text, "164.312(b)", "planned"),
        "proof empty": _break_proof(text, "SP 800-88", ""),
        "proof without a test": _break_proof(text, "164.404", "see REPORTS.md"),
        "missing test file": text.replace(
            "tests/cli/test_erase.py::", "tests/test_no_such_file.py::", 1
        ),
        "missing test function": text.replace(
            "test_erase_leaves_nothing_that_opens_the_vault", "test_erase_is_magic", 1
        ),
        "planned issue-4 row": text.replace(
            "| 164.308(a)(7)(ii)(A) data backup plan |",
            "| custody transfer records (planned, issue 4) |",
            1,
        ),
        "planned issue-4 prose": text + "\nAudit anchoring is planned for issue 4.\n",
    }


@pytest.mark.parametrize("name", sorted(_mutations(DOC.read_text())))
def test_a_broken_page_is_caught(name: str) -> None:
    text = DOC.read_text()
    broken = _mutations(text)[name]
    assert broken != text, name
    assert problems(broken), name
