"""`export --record-args` records CMD's arguments with secrets replaced by *** (review L6):
the forms the review found unredacted (-pPW, -p PW, -u user:pw, -P PW, --db-pw=PW) and
their neighbours. By default no argument is recorded at all
(tests/cli/test_export.py::test_export_records_no_arguments).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from medvault.vault.export import argv_sha256, command_record, redact
from tests.conftest import Workspace
from tests.support.export import run_export
from tests.support.paths import REPO_ROOT

SECRET = "S3cretPW"
# (argv, what it must be recorded as)
FORMS = [
    (["mysql", f"-p{SECRET}", "clinic"], ["mysql", "-p***", "clinic"]),
    (["sshpass", "-p", SECRET, "ssh", "db"], ["sshpass", "-p", "***", "ssh", "db"]),
    (["sqlcmd", "-P", SECRET, "-S", "db"], ["sqlcmd", "-P", "***", "-S", "db"]),
    (["curl", "-u", f"admin:{SECRET}", "https://x"], ["curl", "-u", "admin:***", "https://x"]),
    (["curl", f"-uadmin:{SECRET}"], ["curl", "-uadmin:***"]),
    (["curl", "--user", f"admin:{SECRET}"], ["curl", "--user", "admin:***"]),
    (["curl", f"--user=admin:{SECRET}"], ["curl", "--user=admin:***"]),
    (["x", f"--db-pw={SECRET}"], ["x", "--db-pw=***"]),
    (["x", "--db-pw", SECRET], ["x", "--db-pw", "***"]),
    (["x", "--password", SECRET], ["x", "--password", "***"]),
    (["x", f"--password={SECRET}"], ["x", "--password=***"]),
    (["x", "--api-token", SECRET], ["x", "--api-token", "***"]),
    (["openssl", "-passin", f"pass:{SECRET}"], ["openssl", "-p***", "***"]),
    (["x", f"PGPASSWORD={SECRET}"], ["x", "PGPASSWORD=***"]),
    (["x", f"db_password={SECRET}"], ["x", "db_password=***"]),
    (["curl", "-H", f"Authorization: Bearer {SECRET}"], ["curl", "-H", "Authorization: ***"]),
    (["psql", f"postgresql://ops:{SECRET}@db/x"], ["psql", "postgresql://ops:***@db/x"]),
    (["x", f"https://u:{SECRET}/x@y@host/p"], ["x", "https://u:***@host/p"]),
    (["rsync", f"backup:{SECRET}@host::module"], ["rsync", "backup:***@host::module"]),
    (["x", f"--out=s3://k:{SECRET}@bucket"], ["x", "--out=s3://k:***@bucket"]),
]
# Arguments with nothing secret in them are recorded as they are.
KEPT = [
    ["mysql", "-u", "root", "clinic"],
    ["scp", "labs.csv", "user@host:/tmp/x"],
    ["psql", "-c", "select 1", "postgresql://db/x"],
    ["./export.sh", "{}", "--since", "2026-01-01"],
]


@pytest.mark.parametrize(("argv", "recorded"), FORMS)
def test_each_secret_form_is_redacted(argv: list[str], recorded: list[str]) -> None:
    assert redact(argv) == recorded
    assert SECRET not in json.dumps(command_record(argv, record_args=True))


@pytest.mark.parametrize("argv", KEPT)
def test_ordinary_arguments_are_kept(argv: list[str]) -> None:
    assert redact(argv) == argv


def test_the_digest_tells_argument_lists_apart() -> None:
    """Each argument is length-prefixed, so no two lists share an encoding."""
    lists = [["a", "bc"], ["ab", "c"], ["abc"], ["a", "b", "c"], ["a", "bc", ""], []]
    assert len({argv_sha256(a) for a in lists}) == len(lists)
    # Arguments are hashed as the bytes the OS passed, also when they are not UTF-8.
    assert argv_sha256(["caf\udce9"]) != argv_sha256(["caf\u00e9"])


def test_record_args_stores_the_redacted_command(
    ws: Workspace,
    drive: Path,
    shm: Path,
) -> None:
    ws.cli("create", drive, check=True)
    tail = [arg for argv, _ in FORMS for arg in argv[1:]]
    argv = ["/bin/sh", "-c", 'echo x > "$MEDVAULT_EXPORT_DIR/x.csv"', "sh", *tail, "caf\udce9"]
    result = run_export(ws, shm, drive, "--record-args", "--", *argv)
    assert result.returncode == 0, result.stderr
    vault_id = json.loads(ws.cli("info", drive, "--json", check=True).stdout)["vault_id"]
    [export] = [s.event for s in ws.registry().events(vault_id) if s.event.action == "export"]
    command = export.details["command"]
    expected = ["/bin/sh", "-c", argv[2], "sh"]
    expected += [arg for _, recorded in FORMS for arg in recorded[1:]]
    assert command == [*expected, "caf\\xe9"]  # a non-UTF-8 byte is shown escaped
    assert SECRET not in json.dumps(export.details)
    assert export.details["argv_sha256"] == argv_sha256(argv)
    assert os.fsencode(argv[-1]) == b"caf\xe9"


def test_the_documented_one_liner_gives_the_digest() -> None:
    """docs/CLI.md gives a python3 one-liner to check a command against argv_sha256."""
    text = (REPO_ROOT / "docs" / "CLI.md").read_text()
    [code] = re.findall(r"`python3 -c '([^']+)' CMD ARGS\.\.\.`", text)
    argv = ["psql", "-c", r"\copy t to '{}/x.csv'", "caf\udce9", ""]
    shown = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == argv_sha256(argv)


def test_the_digest_does_not_hide_a_guessable_argument() -> None:
    """As the docs warn: knowing the rest of the command, a short identifier is found by
    trying every value (4 digits here; 8 digits are 10,000 times as many tries)."""
    recorded = argv_sha256(["./export.sh", "--mrn", "4711"])
    found = [
        n for n in range(10_000) if argv_sha256(["./export.sh", "--mrn", f"{n:04d}"]) == recorded
    ]
    assert found == [4711]
