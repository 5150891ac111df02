"""Text from a drive or the registry never reaches the terminal with
raw control characters. safe() is checked over every C0 and C1 control, DEL and the bidi
controls; `info` of a label carrying the review's escape sequences is read through a real
pty; events merged from a drive's log by `sync` are shown by `custody show` (text and
--json) and `audit report` without their controls."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from medvault.cli.safe_text import dumps, safe, safe_lines
from medvault.engine.session import open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.registry.records import Actor, Event
from medvault.store import drive_log
from medvault.vault.create import create_vault
from medvault.vault.custody import to_log_dict
from medvault.vault.env import Env
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.terminal import spawn_medvault, wait_for_exit

# The review's label (poc/label_inject.py): erase the line, recolour, retitle the window.
LABEL = (
    "Lab exports\x1b[2K\r\x1b[1;32mVault id:       ok, this drive is clean\x1b[0m\x1b]0;owned\x07"
)
C0 = [chr(c) for c in range(0x20)]
C1 = [chr(c) for c in range(0x7F, 0xA0)]  # DEL and the C1 controls (0x9b is CSI)
BIDI = [chr(c) for c in (0x61C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))]
OTHER = ["\u2028", "\u2029", "\ufeff", "\udcff", "\U000e0001"]  # separators, BOM, tag
CONTROLS = C0 + C1 + BIDI + OTHER


@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_safe_escapes_every_control_visibly(char: str) -> None:
    shown = safe(f"a{char}b")
    assert char not in shown
    assert shown.isprintable()
    assert shown.startswith("a\\") and shown.endswith("b")
    code = ord(char)
    assert f"{code:02x}" in shown or f"{code:04x}" in shown or f"{code:08x}" in shown


def test_safe_leaves_printable_text_alone() -> None:
    text = "Zürich Labor, 東京 — Ärztin Ødegård (ok) \\x1b"
    assert safe(text) == text
    assert safe(42) == "42"


def test_json_output_keeps_its_value_and_drops_raw_controls() -> None:
    value = {"label": "".join(CONTROLS), "n": [1, "ü"]}
    text = dumps(value)
    assert all(line.isprintable() for line in text.split("\n"))
    assert json.loads(text) == value
    assert "ü" in text  # readable text stays readable


def test_safe_lines_keeps_line_ends_only() -> None:
    text = "a,b\r\nc\x1b[2J,d\x9b31m\r\n\u202eevil\n"
    assert safe_lines(text) == "a,b\r\nc\\x1b[2J,d\\x9b31m\r\n\\u202eevil\n"


def _vault(ws: Workspace, drive: Path, label: str) -> str:
    made = create_vault(
        drive, label, to_secret(PASSPHRASE), ws.org, ws.registry(), Env(kdf=FAST_KDF)
    )
    return made.vault_id


def _raw_controls(text: str) -> set[str]:
    return {c for c in text if c not in "\r\n" and unicodedata.category(c) in ("Cc", "Cf")}


def test_info_on_a_terminal_shows_a_hostile_label_escaped(ws: Workspace, drive: Path) -> None:
    _vault(ws, drive, LABEL)
    child = spawn_medvault(
        ws.env, "info", drive, codec_errors="surrogateescape", dimensions=(40, 160)
    )
    status, transcript = wait_for_exit(child)
    assert status == 0, transcript
    assert "\x1b" not in transcript and "\x07" not in transcript
    # The pty turns each \n into \r\n; no other carriage return may get through.
    assert "\r" not in transcript.replace("\r\n", "")
    label_line = next(line for line in transcript.splitlines() if line.startswith("Label:"))
    assert "Lab exports\\x1b[2K\\x0d\\x1b[1;32mVault id:" in label_line
    assert "\\x1b]0;owned\\x07" in label_line
    as_json = ws.cli("info", drive, "--json", passphrase=False)
    assert json.loads(as_json.stdout)["label"] == LABEL
    assert not _raw_controls(as_json.stdout)


HOSTILE = Actor(user="nurse\x1b[2J", host="ward-3\x1b]0;owned\x07", person="Dr \u202eevil")
DETAILS = {"to": "Lab\x9b31mred", "reason": "ok\rFAKE LINE", "files": 1}


def test_synced_events_are_shown_without_controls(ws: Workspace, drive: Path) -> None:
    vault_id = _vault(ws, drive, "lab\x1b[5m")
    unlocked = unlock(open_headers(drive), to_secret(PASSPHRASE))
    forged = Event("f" * 32, Env().timestamp(), HOSTILE, vault_id, "transfer", DETAILS)
    drive_log.append(unlocked.paths, unlocked.keys, to_log_dict(forged))
    synced = ws.cli("sync", drive)
    assert synced.returncode == 0, synced.stderr
    outputs = {
        "custody show": ws.cli("custody", "show", vault_id, passphrase=False),
        "custody show --json": ws.cli("custody", "show", vault_id, "--json", passphrase=False),
        "audit report": ws.cli("audit", "report", "--since", "2000-01-01", passphrase=False),
    }
    for name, result in outputs.items():
        assert result.returncode == 0, (name, result.stderr)
        assert not _raw_controls(result.stdout), name
        assert "\r" not in result.stdout.replace("\r\n", ""), name
    shown = outputs["custody show"].stdout
    assert "ward-3\\x1b]0;owned\\x07" in shown
    assert "nurse\\x1b[2J (Dr \\u202eevil)" in shown
    assert "to=Lab\\x9b31mred" in shown and "reason=ok\\x0dFAKE LINE" in shown
    timeline = json.loads(outputs["custody show --json"].stdout)["timeline"]
    assert {"by": "nurse\x1b[2J (Dr \u202eevil)", "host": HOSTILE.host}.items() <= next(
        e for e in timeline if e["action"] == "transfer"
    ).items()
    assert "ward-3\\x1b]0;owned\\x07" in outputs["audit report"].stdout
