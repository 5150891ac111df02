"""A new passphrase must be hard to guess, not only
15 characters long. zxcvbn estimates the guesses (common and breached passwords, keyboard
walks, repeats, sequences, the org's and vault's own names); the registry records the
check, and the lost-drive report trusts it only under a policy as strict as today's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medvault.config import DEFAULT_PASSPHRASE_POLICY, PassphrasePolicy, load_org
from medvault.engine.session import open_headers, unlock
from medvault.errors import OrgConfigMissing, WeakPassphrase
from medvault.keys.passphrase import check_strength, generate, to_secret
from medvault.vault.env import Env
from medvault.vault.maintenance import change_passphrase
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.lost_book import policy_finding
from tests.support.terminal import answer_new_passphrase, spawn_medvault, wait_for_exit

ORG = "Test Clinic"  # tests/conftest.py's organisation
LABEL = "Lab exports"
WEAK = [
    # common passwords, padded to 15 or more characters
    "123456789012345",
    "Password1234567",
    "Password123456789",
    "football12345678",
    "princess12345678",
    "Iloveyou12345678",
    "1234567890abcdef",
    # keyboard walks
    "qwertyuiopasdfg",
    "zxcvbnmasdfghjkl",
    "1qaz2wsx3edc4rfv",
    "asdfghjkl;asdfghjkl;",
    "Qwerty123456789!",
    # repeated words and characters
    "passwordpassword",
    "iloveyouiloveyou",
    "Summer2026Summer",
    "monkeymonkeymonkey",
    "letmeinletmeinletmein",
    "aaaaaaaaaaaaaaaa",
    "abcdefghijklmnop",
    # the organisation's name or the vault's label plus digits
    "TestClinic2026!!!",
    "Test Clinic 2026!!",
    "testclinic123456",
    "Lab exports 2026!",
    "LabExports123456",
]
STRONG = [
    PASSPHRASE,
    "a fresh passphrase number 0 for you",
    "velvet mango quarry lantern 84",
    "orbit-cactus-fjord-pencil-marble",
    "tiger paints seven blue kettles",
    "my cat Ziggy hates wet Tuesdays",
    "plum;ocean;radar;tulip;gravel",
    "Seventeen narwhals ate my bicycle",
    "harbor sleet wombat crayon 1968",
    "quietly folding maps in Reykjavik",
    "purple walrus juggles 9 teacups",
    "cobalt fennel mitten sprocket",
    "Lemonade tastes better at midnight!",
    "kx7#Qp2@vL9!mZ4w",
    "fjords-and-falafel-on-friday",
    "granite kiwi saxophone drizzle",
    "wooden spoons never argue back",
    "brisk owl; tangled kite; 47 oars",
    "seven sleepy otters dance tango",
    "Umbrella Carrot Violin Stapler",
]


def test_weak_passphrases_are_refused_with_a_reason() -> None:
    assert len(WEAK) >= 20
    for weak in WEAK:
        with pytest.raises(WeakPassphrase) as caught:
            check_strength(weak, DEFAULT_PASSPHRASE_POLICY, (ORG, LABEL))
        assert "too easy to guess" in caught.value.message or "too short" in caught.value.message
        assert weak not in caught.value.message and weak not in str(caught.value.hint)


def test_strong_and_generated_passphrases_are_accepted() -> None:
    assert len(STRONG) >= 20
    for strong in [*STRONG, *(generate() for _ in range(20))]:
        found = check_strength(strong, DEFAULT_PASSPHRASE_POLICY, (ORG, LABEL))
        assert found.guesses_log10 >= DEFAULT_PASSPHRASE_POLICY.min_guesses_log10


def test_the_org_name_counts_as_a_guessable_word() -> None:
    """Without the org name as context, 'TestClinic2026!!!' looks strong enough."""
    check_strength("TestClinic2026!!!", DEFAULT_PASSPHRASE_POLICY, ())
    with pytest.raises(WeakPassphrase):
        check_strength("TestClinic2026!!!", DEFAULT_PASSPHRASE_POLICY, (ORG,))


def test_create_refuses_each_weak_passphrase(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    """The CLI's check knows the org's name; the vault's label is added where the vault
    is made (see the report: the create command does not yet pass it)."""
    source = tmp_path / "weak.txt"
    source.touch(mode=0o600)
    for weak in [w for w in WEAK if "lab" not in w.lower()]:
        source.write_text(weak + "\n")
        result = ws.cli(
            "create", drive, "--label", LABEL, extra_env={"MEDVAULT_PASSPHRASE_FILE": str(source)}
        )
        assert result.returncode == 12, (weak, result.stderr)
        assert "medvault: error: passphrase too" in result.stderr
        assert weak not in result.stderr + result.stdout
        assert list(drive.iterdir()) == []


def test_passwd_and_reset_refuse_weak_passphrases(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    ws.create_fast(drive, LABEL)
    new = tmp_path / "new.txt"
    new.touch(mode=0o600)
    shares = [ws.home / "shares" / f"{name}.txt" for name in ("alice", "bob")]
    share_args = [arg for share in shares for arg in ("--share", str(share))]
    for weak in ["TestClinic2026!!!", "passwordpassword", "qwertyuiopasdfg", "Password1234567"]:
        new.write_text(weak + "\n")
        passwd = ws.cli("passwd", drive, "--new-passphrase-file", new)
        assert passwd.returncode == 12, passwd.stderr
        reset = ws.cli(
            "recover", drive, "--reason", "forgot", "--reset-passphrase",
            "--new-passphrase-file", new, *share_args, passphrase=False,
        )  # fmt: skip
        assert reset.returncode == 12, reset.stderr
        assert weak not in passwd.stderr + reset.stderr
    assert ws.cli("ls", drive).returncode == 0  # the passphrase is unchanged


def _policy_records(ws: Workspace, vault_id: str) -> dict[str, dict[str, object]]:
    registry = ws.registry()
    try:
        events = registry.events(vault_id)
    finally:
        registry.close()
    return {
        s.event.action: s.event.details["passphrase_policy"]
        for s in events
        if "passphrase_policy" in s.event.details
    }


def test_create_and_passwd_record_the_check(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    source = tmp_path / "strong.txt"
    source.write_text("velvet mango quarry lantern 84\n")
    created = ws.cli("create", drive, "--json", "--label", LABEL, check=True)
    vault_id = json.loads(created.stdout)["vault_id"]
    ws.cli("passwd", drive, "--new-passphrase-file", source, check=True)
    records = _policy_records(ws, vault_id)
    for action in ("create", "passwd"):
        record = records[action]
        assert set(record) == {
            "min_length", "min_guesses_log10", "guesses_log10", "estimator", "met",
        }  # fmt: skip
        assert record["min_length"] == 15 and record["min_guesses_log10"] == 12.0
        assert record["estimator"] == "zxcvbn 4.5.0" and record["met"] is True
        guesses = record["guesses_log10"]
        assert isinstance(guesses, float) and guesses >= 12 and round(guesses, 1) == guesses


def test_report_trusts_the_check_only_under_a_policy_as_strict(ws: Workspace, drive: Path) -> None:
    vault_id = ws.create_fast(drive, LABEL)
    met = policy_finding(ws, vault_id, DEFAULT_PASSPHRASE_POLICY)
    assert met.holds and met.title == "Passphrase policy met"
    for stricter in (PassphrasePolicy(16, 12.0), PassphrasePolicy(15, 13.0)):
        later = policy_finding(ws, vault_id, stricter)
        assert not later.holds and later.title == "Passphrase strength not verified"


def test_report_fails_when_a_later_passphrase_was_weak(ws: Workspace, drive: Path) -> None:
    """A passphrase set through the library without the CLI's check is recorded as not met,
    and the report (which looks at every passphrase the vault was given) says so."""
    vault_id = ws.create_fast(drive, LABEL)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    registry = ws.registry()
    try:
        change_passphrase(vault, to_secret("passwordpassword"), registry, Env(kdf=FAST_KDF))
    finally:
        registry.close()
    assert _policy_records(ws, vault_id)["passwd"]["met"] is False
    finding = policy_finding(ws, vault_id, DEFAULT_PASSPHRASE_POLICY)
    assert not finding.holds and finding.title == "Passphrase policy not met"


def test_org_policy_is_read_and_enforced(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    path = ws.org_created.config_path
    text = path.read_text()
    strict = text.replace(
        "\n[[escrow_keys]]", "\n[passphrase_policy]\nmin_length = 32\nmin_guesses_log10 = 14\n"
        "\n[[escrow_keys]]", 1,
    )  # fmt: skip
    path.write_text(strict)
    assert load_org(path).passphrase_policy == PassphrasePolicy(32, 14.0)
    refused = ws.cli("create", drive)  # PASSPHRASE has 31 characters
    assert refused.returncode == 12 and "at least 32" in refused.stderr
    for bad in ("min_length = 8", "min_guesses_log10 = 6", 'min_length = "long"', "minimum = 1"):
        path.write_text(
            text.replace("\n[[escrow_keys]]", f"\n[passphrase_policy]\n{bad}\n\n[[escrow_keys]]", 1)
        )
        with pytest.raises(OrgConfigMissing):
            load_org(path)


def test_a_weak_new_passphrase_is_asked_again_on_a_terminal(ws: Workspace, drive: Path) -> None:
    ws.create_fast(drive, LABEL)
    env = {**ws.env, "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)}  # the current one
    child = spawn_medvault(env, "passwd", drive)
    seen = []
    for answer in ("passwordpassword", "seven sleepy otters dance tango"):
        seen.append(answer_new_passphrase(child, answer))
    status, before = wait_for_exit(child)
    assert status == 0, before
    assert "Passphrase changed." in before
    assert "too easy to guess" in seen[1] and "choose another" in seen[1]
    assert "passwordpassword" not in before + "".join(seen)
    opened = ws.cli(
        "ls",
        drive,
        extra_env={"MEDVAULT_PASSPHRASE_FILE": str(_file(ws, "seven sleepy otters dance tango"))},
    )
    assert opened.returncode == 0, opened.stderr


def _file(ws: Workspace, text: str) -> Path:
    path = ws.root / "typed.txt"
    path.touch(mode=0o600)
    path.write_text(text + "\n")
    return path


def test_create_refuses_the_label_plus_digits(ws: Workspace, tmp_path: Path) -> None:
    """The vault's own label is a word an attacker tries first (it is on the drive)."""
    drive = tmp_path / "usb-label"
    drive.mkdir()
    weak = tmp_path / "label-pass.txt"
    weak.write_text("Radiology Archive 2026!\n")
    weak.chmod(0o600)
    result = ws.cli(
        "create", drive, "--label", "Radiology Archive", passphrase=False,
        extra_env={"MEDVAULT_PASSPHRASE_FILE": str(weak)},
    )  # fmt: skip
    assert result.returncode == 12, result.stderr
    assert "Radiology Archive 2026" not in result.stderr
    assert not (drive / "MEDVAULT").exists()


def test_the_estimator_is_loaded_only_to_check_a_new_passphrase() -> None:
    """zxcvbn's word lists cost ~10 MiB: every command imports the CLI, but only those that
    set a passphrase load them (bench_core's and bench_peers' memory gates, 100 MiB)."""
    probe = (
        "import sys, medvault.cli.main, medvault.cli.passphrase, medvault.keys.passphrase; "
        "print('zxcvbn' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
