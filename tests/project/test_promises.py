"""Every promise names the test that proves it.

* Every `(test: tests/FILE.py::NAME)` marker in the docs, the README and the code (--help
  texts) names a test function that exists.
* Every sentence the erase certificate, the erased drive's notice and README-MEDVAULT.txt
  tell a reader is listed below with the test that proves it: a new or changed sentence
  fails here until it is mapped.
* In the parts of THREAT_MODEL.md and ADMIN.md named below (SECTIONS, ROWS), every
  paragraph, list item and table row that states something carries a marker.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from medvault.config import EscrowKeyConfig, OrgConfig
from medvault.reports import certificate
from medvault.vault import erase
from medvault.vault.create import readme_text
from medvault.vault.erase import Erased
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
MARKER = re.compile(r"\(test:\s*(tests/[\w/]+\.py)::(\w+)\)")
# Markers may wrap over two lines in Markdown and in docstrings.
WRAPPED = re.compile(r"\(test:\s*(tests/[\w/]+\.py)::\s*(\w+)\)")


@cache
def _tests_in(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    )


def _exists(path: str, name: str) -> bool:
    return (ROOT / path).is_file() and name in _tests_in(path)


def _sources() -> list[Path]:
    return [
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "README.md",
        *sorted((ROOT / "medvault").rglob("*.py")),
    ]


def test_every_marker_names_an_existing_test() -> None:
    found, missing = 0, []
    for source in _sources():
        text = source.read_text(encoding="utf-8")
        for match in WRAPPED.finditer(re.sub(r"\s+", " ", text)):
            found += 1
            if not _exists(match.group(1), match.group(2)):
                missing.append(f"{source.relative_to(ROOT)}: {match.group(0)}")
    assert found >= 60, found  # the markers are there to check
    assert missing == [], "\n".join(missing)


def test_a_marker_naming_no_test_is_caught() -> None:
    assert _exists("tests/campaigns/test_fault_points.py", "test_crash_at_every_point")
    assert not _exists("tests/unit/vault/test_rekey.py", "test_that_does_not_exist")
    assert not _exists("tests/test_nothing_here.py", "test_x")


def _sentences(text: str) -> list[str]:
    """Each claim of TEXT: its sentences, and the parts of a sentence joined by ';'."""
    flat = re.sub(r"\s+", " ", text).strip()
    return [s.strip() for s in re.split(r";\s+|(?<=\.)\s+(?=[A-Z])", flat) if s.strip()]


# What the certificate says, sentence by sentence, and the test that shows it true.
CERTIFICATE = {
    "Cryptographic Erase (NIST SP 800-88 Rev. 2): every key copy destroyed, the externally "
    "managed ones (registry key packages) included": "tests/cli/test_erase.py::"
    "test_erase_leaves_nothing_that_opens_the_vault",
    "both vault header copies, the only header versions a version 2 vault keeps, overwritten "
    "in place with random data and deleted": "tests/media/test_erase_media.py::"
    "test_erase_leaves_no_header_version_on_the_medium",
    "leftovers of interrupted writes in tmp/ overwritten and deleted": "tests/cli/test_erase.py::"
    "test_erase_overwrites_leftovers_in_tmp",
    "What a file-level erase cannot reach (NIST SP 800-88 Rev. 2, Cryptographic Erase): on "
    "flash media the device's wear levelling may keep copies of overwritten sectors, readable "
    "only by invasive means": "tests/media/test_erase_wipe.py::"
    "test_the_certificate_warns_of_version_1_headers_left_in_free_space",
    "the vault key was stored there only wrapped (Argon2id passphrase slot) and sealed to the "
    "escrow keys.": "tests/unit/format/test_vectors.py::test_vector",
    "For Purge or Destroy, sanitize the device itself or destroy it physically.": "tests/"
    "media/test_erase_wipe.py::test_the_certificate_warns_of_version_1_headers_left_in_free_space",
    "Registry backups made before this erase still hold the key packages until they expire.": (
        "tests/unit/registry/test_registry_contract.py::test_replace_blanks_the_superseded_packages"
    ),
    "This vault's header was in format version 1, which medvault 0.1 replaced by renaming: "
    "header versions superseded before medvault 0.2 (an old passphrase's slot, old escrow "
    "packages) may survive in the drive's free space": "tests/media/test_erase_wipe.py::"
    "test_wipe_free_space_overwrites_a_deleted_header_version",
}
# The erased drive's README-MEDVAULT.txt, and a live vault's.
ERASED_NOTICE = {
    "Every copy of its key that medvault kept was destroyed: both header copies were "
    "overwritten and deleted, and the registry's key packages emptied.": "tests/"
    "media/test_erase_media.py::test_erase_leaves_no_header_version_on_the_medium",
    "The remaining files are ciphertext that nothing can decrypt.": "tests/cli/test_erase.py::"
    "test_erase_leaves_nothing_that_opens_the_vault",
    "The drive can be formatted and reused.": "tests/cli/test_erase.py::"
    "test_erase_leaves_nothing_that_opens_the_vault",
    "On flash media the device may still hold copies of overwritten sectors (wear levelling), "
    "readable only by invasive means: see the certificate.": "tests/media/test_erase_wipe.py::"
    "test_the_certificate_warns_of_version_1_headers_left_in_free_space",
}
VAULT_NOTICE = {
    "Its contents cannot be read without the owner's passphrase, its recovery code (if one "
    "was made) or the organisation's escrow key.": "tests/media/test_fat32.py::"
    "test_no_plaintext_on_fat32",
    "Escrow key id: KEY": "tests/unit/vault/test_rekey.py::"
    "test_plain_rotation_what_old_shares_still_open",
}


def _erased(version: int) -> Erased:
    return Erased("00" * 16, "l", "2026-12-05T00:00:00Z", 1, 2, 2, 0, 0, [], version, 0, None)


def _certificate_sentences() -> set[str]:
    said: set[str] = set()
    for version in (1, 2):
        cert = certificate.certificate(_erased(version), "who", "host", "Org")
        said |= set(_sentences(cert["sanitization"]["detail"]))
        said |= set(_sentences(cert["caveat"]))
    # After the version 1 caveat, an instruction: how to act on it, not a claim.
    return {s for s in said if not s.startswith("run erase again")}


def test_every_certificate_sentence_has_its_test() -> None:
    said = _certificate_sentences()
    assert len(said) >= 8, said
    assert sorted(s for s in said if s not in CERTIFICATE) == []
    for promise, test in CERTIFICATE.items():
        path, name = test.split("::")
        assert _exists(path, name), (promise, test)


def test_the_erased_notice_and_the_vault_notice_have_their_tests(tmp_path: Path) -> None:
    class Paths:
        root = tmp_path
        readme = tmp_path / "README-MEDVAULT.txt"
        tmp = tmp_path

    erase.replace_readme(Paths, _erased(2))  # type: ignore[arg-type]
    body = Paths.readme.read_text().split("\n\n", 1)[1]
    said = _sentences(body)[1:]  # after "Vault ... was erased on ... (UTC)."
    assert said and all(s in ERASED_NOTICE for s in said), said
    org = OrgConfig(
        "Org", "org-1", "call 555", (EscrowKeyConfig("KEY", "p384", b"", 2, ("a",), "t"),)
    )
    notice = readme_text(org, "00" * 16, ("KEY",), "2026-12-05T00:00:00Z")
    promise = _sentences(notice.split("\n\n")[1])[1]
    assert promise.startswith(next(iter(VAULT_NOTICE))[:40]), promise
    assert re.sub(r"\s+", " ", notice.split("\n\n")[3]).startswith("Vault id:")
    for table in (ERASED_NOTICE, VAULT_NOTICE):
        for claim, test in table.items():
            path, name = test.split("::")
            assert _exists(path, name), (claim, test)


# The parts of THREAT_MODEL.md and ADMIN.md where every statement carries a marker.
SECTIONS = {
    "docs/THREAT_MODEL.md": ["## Cryptographic erase, and what a file-level erase cannot reach"],
    "docs/ADMIN.md": ["## 7. Responding to a suspected escrow-key compromise", "## 13. Retiring"],
}
ROWS = re.compile(r"review finding (H1|H2|M3|M2|L2)|opening an erased vault")


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = text.find("\n## ", start + len(heading))
    return text[start : following if following > 0 else len(text)]


def _statements(section: str) -> list[str]:
    """Paragraphs and list items, without headings and code blocks."""
    section = re.sub(r"```.*?```", "", section, flags=re.S)
    blocks = re.split(r"\n\s*\n|\n(?=\s*(?:\* |\d+\. ))", section)
    return [
        " ".join(b.split())
        for b in blocks
        if b.strip() and not b.lstrip().startswith("#") and not b.strip().endswith(":")
    ]


@pytest.mark.parametrize("doc", sorted(SECTIONS))
def test_promises_this_issue_touched_name_their_tests(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    bare = []
    for heading in SECTIONS[doc]:
        for statement in _statements(_section(text, heading)):
            if not MARKER.search(statement):
                bare.append(statement[:120])
    for row in text.splitlines():
        if row.startswith("|") and ROWS.search(row) and not MARKER.search(row):
            bare.append(row[:120])
    assert bare == [], "\n".join(bare)


def test_format_md_counts_the_vectors() -> None:
    text = (ROOT / "docs" / "FORMAT.md").read_text(encoding="utf-8")
    count = len(list((ROOT / "tests" / "vectors").glob("*.json")))
    assert f"holds {count} vectors" in text
