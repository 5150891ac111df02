"""Secrets hygiene: a whole flow with distinctive secrets, then a search for them
everywhere they must not be.

Secrets: the passphrase (and the two that replace it), the recovery code, every admin's
share words and the vault key (raw, hex, base64). Places: the argv of every process while
the flow runs (/proc/*/cmdline, polled), the environment and argv of the export command,
stdout/stderr of every command (a debug traceback included), every file under
MEDVAULT_HOME, the drive, the staging folder, $TMPDIR and whatever appeared in /tmp and
/dev/shm, and the reprs of the objects that hold them. The files the test itself writes
(passphrase and recovery-code files) and the share files `org init` deals out are the
only places they may be.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from medvault.crypto.escrow import EscrowPrivateKey, EscrowSuite
from medvault.engine.catalog import load_catalog
from medvault.engine.entry_reading import open_reader
from medvault.engine.session import open_headers, unlock, unlock_with_recovery_code
from medvault.errors import WrongPassphrase
from medvault.keys.passphrase import to_secret
from medvault.keys.recovery_code import parse as parse_code
from medvault.keys.shares import combine_parsed, parse_share
from medvault.store.entries import open_header
from medvault.vault.add import add_files
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from medvault.vault.reading import extract
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.paths import REPO_ROOT

REPO = REPO_ROOT
ADMINS = ("alice", "bob", "carol")
SCAN_LIMIT = 20 * 1024 * 1024  # bigger files in /tmp are not ours

# The export command: records its own argv and environment and what it can see of the
# medvault process that started it, writes one CSV, and fails when asked to.
CHILD = r"""
import json, os, sys
from pathlib import Path
dump, mode = Path(sys.argv[1]), sys.argv[2]
parent = {}
for name in ("cmdline", "environ"):
    try:
        parent[name] = Path(f"/proc/{os.getppid()}/{name}").read_bytes().decode("latin-1")
    except OSError as exc:
        parent[name] = f"unreadable: {exc}"
dump.write_text(json.dumps({"argv": sys.argv, "env": dict(os.environ), "parent": parent}))
out = Path(os.environ["MEDVAULT_EXPORT_DIR"])
(out / "report.csv").write_text("mrn,result\n1,neg\n")
if mode == "fail":
    raise RuntimeError("the export query failed")
"""


def _encodings(raw: bytes) -> list[bytes]:
    b64 = base64.b64encode(raw)
    url = base64.urlsafe_b64encode(raw)
    return [
        raw,
        raw.hex().encode(),
        raw.hex().upper().encode(),
        b64,
        b64.rstrip(b"="),
        url,
        url.rstrip(b"="),
    ]


@dataclass
class Needles:
    """Every form in which a secret could leak, by name."""

    forms: dict[str, list[bytes]] = field(default_factory=dict)

    def text(self, name: str, value: str) -> None:
        utf8 = value.encode()
        self.forms[name] = [utf8, value.encode("utf-16-le"), base64.b64encode(utf8)]

    def key(self, name: str, raw: bytes) -> None:
        self.forms[name] = _encodings(raw)

    def share(self, name: str, words: list[str]) -> None:
        # Any three consecutive words of its value (single words are common English words;
        # the first four encode the org's random id and the member number, shared by
        # other orgs' shares for the same member 1 time in 32).
        windows = [" ".join(words[i : i + 3]).encode() for i in range(4, len(words) - 2)]
        self.forms[name] = windows

    def found(self, data: bytes, skip: tuple[str, ...] = ()) -> list[str]:
        """The names of the secrets DATA holds in any form."""
        return [
            name
            for name, forms in self.forms.items()
            if name not in skip and any(f in data for f in forms)
        ]


class ProcWatcher:
    """Polls every process's argv (and the environment of medvault processes) while the
    flow runs; records any that holds a secret."""

    def __init__(self, needles: Needles) -> None:
        self.needles = needles
        self.argv_hits: set[str] = set()
        # The environment is read as soon as a process appears, which can be before the
        # test has marked it exempt (its pid is known only once Popen returns): findings
        # are kept by pid and the exemption applied when they are read.
        self.env_hits: dict[int, set[str]] = {}
        self.exempt_env: set[int] = set()
        self.polls = 0
        self.seen_medvault: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def hits(self) -> set[str]:
        """What leaked: argv anywhere, and the environment of a medvault process that was
        not meant to hold a secret."""
        return self.argv_hits | {
            f"environment of pid {pid} holds {name}"
            for pid, names in self.env_hits.items()
            if pid not in self.exempt_env
            for name in names
        }

    def __enter__(self) -> ProcWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit() or int(entry.name) == me:
                    continue
                try:
                    cmdline = Path(entry.path, "cmdline").read_bytes()
                except OSError:
                    continue
                for name in self.needles.found(cmdline):
                    self.argv_hits.add(f"argv of pid {entry.name} holds {name}")
                if b"medvault" not in cmdline:
                    continue
                pid = int(entry.name)
                self.seen_medvault.add(pid)
                try:
                    environ = Path(entry.path, "environ").read_bytes()
                except OSError:
                    continue
                for name in self.needles.found(environ):
                    self.env_hits.setdefault(pid, set()).add(name)
            self.polls += 1
            time.sleep(0.02)


def _files_under(root: Path, limit: int = 5000) -> Iterator[Path]:
    """Regular files under ROOT, breadth first, at most LIMIT (other sessions keep deep
    and large trees in /tmp: those are not ours and must not stall the test)."""
    queue, count = [root], 0
    while queue and count < limit:
        folder = queue.pop(0)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    queue.append(Path(entry.path))
                elif (
                    entry.is_file(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_size < SCAN_LIMIT
                ):
                    count += 1
                    yield Path(entry.path)
            except OSError:
                continue


def _new_entries(base: Path, since: float, skip: set[Path]) -> Iterator[Path]:
    """Files in the entries of BASE made or changed since SINCE."""
    try:
        entries = list(os.scandir(base))
    except OSError:
        return
    for entry in entries:
        path = Path(entry.path)
        if path in skip:
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime < since:
                continue
            if entry.is_file(follow_symlinks=False):
                yield path
            elif entry.is_dir(follow_symlinks=False):
                yield from _files_under(path, limit=500)
        except OSError:
            continue


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_secret_reaches_argv_env_output_files_or_reprs(
    ws: Workspace, drive: Path, tmp_path: Path, shm: Path
) -> None:
    started = time.time() - 1
    needles = Needles()
    secret_files: set[Path] = set()

    def secret_file(name: str, text: str) -> Path:
        path = tmp_path / "secrets" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text + "\n")
        path.chmod(0o600)
        secret_files.add(path)
        return path

    passphrase = "hygiene " + secrets.token_urlsafe(18)
    new_passphrase = "rotated " + secrets.token_urlsafe(18)
    needles.text("passphrase", passphrase)
    needles.text("new passphrase", new_passphrase)
    share_paths = {a: ws.home / "shares" / f"{a}.txt" for a in ADMINS}
    for admin, path in share_paths.items():
        words = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
        needles.share(f"share of {admin}", words[0].split())
    pass_file = secret_file("pass.txt", passphrase)
    new_file = secret_file("new.txt", new_passphrase)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    base_env = {
        "MEDVAULT_PASSPHRASE_FILE": str(pass_file),
        "MEDVAULT_STAGING_DIR": str(shm),
        "TMPDIR": str(tmpdir),
    }
    outputs: list[tuple[str, str, str]] = []  # what ran, stdout, stderr
    src = tmp_path / "records"
    src.mkdir()
    (src / "labs.csv").write_text("mrn,result\n1,neg\n")
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    dumps = {m: tmp_path / f"child-{m}.json" for m in ("env", "fail")}
    wrong_passphrase = "mistyped " + secrets.token_urlsafe(18)
    needles.text("mistyped passphrase", wrong_passphrase)
    wrong_file = secret_file("wrong.txt", wrong_passphrase)
    alice_words = share_paths["alice"].read_text().split("\n")[-2].split()
    misspelt = [*alice_words[:9], "zzzq", *alice_words[10:]]
    misspelt_file = secret_file("alice-misspelt.txt", " ".join(misspelt))
    # Two neighbouring words that differ (two equal ones, 1 share in 1,024 at a fixed
    # place, would swap into the same share, which recovers).
    at = next(i for i in range(8, len(alice_words) - 1) if alice_words[i] != alice_words[i + 1])
    swapped = [*alice_words]
    swapped[at], swapped[at + 1] = swapped[at + 1], swapped[at]
    bad_checksum = secret_file("alice-swapped.txt", " ".join(swapped))

    def together(watcher: ProcWatcher, *steps: Step) -> list[subprocess.CompletedProcess[str]]:
        """Run STEPS at the same time (independent commands: the suite stays short)."""
        procs = []
        for step in steps:
            argv = [sys.executable, *([] if step.raw else ["-m", "medvault"]), *step.argv]
            proc = subprocess.Popen(
                [str(a) for a in argv],
                env={**ws.env, **base_env, **step.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=REPO,
            )
            if step.env_holds_secret:
                watcher.exempt_env.add(proc.pid)  # its own environment holds it on purpose
            procs.append(proc)
        done = []
        for step, proc in zip(steps, procs, strict=True):
            out, err = proc.communicate(timeout=180)
            outputs.append((step.label, out, err))
            assert proc.returncode == step.expect, (step.label, out, err)
            done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        return done

    no_file = {"MEDVAULT_PASSPHRASE_FILE": ""}
    debug = {"MEDVAULT_DEBUG": "1"}
    with ProcWatcher(needles) as watcher:
        (create,) = together(
            watcher, Step("create", ["create", drive, "--recovery-code", "--json"])
        )
        code_text = json.loads(create.stdout)["recovery_code"]
        needles.text("recovery code", code_text)
        needles.text("recovery code digits", re.sub(r"\D", "", code_text))
        code_file = secret_file("code.txt", code_text)
        vault = unlock(open_headers(drive), to_secret(passphrase))
        needles.key("vault key", vault.keys.vault_key().reveal())
        together(watcher, Step("add", ["add", drive, src]))
        alice, bob = share_paths["alice"], share_paths["bob"]

        def _recover(first: Path, to: Path) -> list[str | Path]:
            """`recover` by FIRST's share and bob's, into TO."""
            return ["recover", drive, "--reason", "drill", "--share", first, "--share", bob,
                    "--to", to]  # fmt: skip

        together(
            watcher,
            Step("ls", ["ls", drive, "--json"]),
            Step(
                "extract by recovery code",
                ["extract", drive, "--to", tmp_path / "out", "--recovery-code-file", code_file],
                no_file,
            ),
            Step(
                "recover",
                _recover(alice, tmp_path / "recovered"),
                no_file,
            ),
            Step(
                "wrong passphrase",
                ["ls", drive],
                {"MEDVAULT_PASSPHRASE_FILE": str(wrong_file), **debug},
                expect=3,
            ),
            Step(
                "misspelt share",
                _recover(misspelt_file, tmp_path / "never"),
                no_file,
                expect=20,
            ),
            Step(
                "swapped share words",
                _recover(bad_checksum, tmp_path / "never"),
                no_file,
                expect=20,
            ),
            # An internal error whose message formats the unlock arguments (the
            # passphrase among them), shown as a full traceback under MEDVAULT_DEBUG.
            Step("internal error", ["-c", INTERNAL_ERROR, drive], debug, expect=1, raw=True),
        )
        together(watcher, Step("passwd", ["passwd", drive, "--new-passphrase-file", new_file]))
        base_env["MEDVAULT_PASSPHRASE_FILE"] = str(new_file)
        export = ["export", "--vault", drive, "--name"]
        # The passphrase in the environment (warned against): neither the export command
        # nor anything reading medvault's /proc/<pid>/environ may get it.
        _ok, failed = together(
            watcher,
            Step(
                "export, passphrase in the environment",
                [*export, "env", "--", sys.executable, child, dumps["env"], "ok"],
                {**no_file, "MEDVAULT_PASSPHRASE": new_passphrase},
                env_holds_secret=True,
            ),
            Step(
                "failing export",
                [*export, "fail", "--", sys.executable, child, dumps["fail"], "fail"],
                debug,
                expect=1,
            ),
        )
        assert "RuntimeError: the export query failed" in failed.stderr

    leaks = sorted(watcher.hits)
    assert watcher.polls > 20 and len(watcher.seen_medvault) >= 10, "the watcher saw no runs"
    # stdout/stderr: create prints the recovery code once on purpose.
    for what, stdout, stderr in outputs:
        skip = ("recovery code", "recovery code digits") if what.startswith("create") else ()
        for name in needles.found((stdout + stderr).encode(), skip):
            leaks.append(f"output of `{what}` holds {name}")
    # The export command's own view.
    for mode, dump in dumps.items():
        seen = json.loads(dump.read_text())
        assert not any(k.startswith("MEDVAULT_PASSPHRASE") for k in seen["env"]), mode
        for name in needles.found(json.dumps(seen["argv"] + [seen["env"]]).encode()):
            leaks.append(f"export command ({mode}) argv/environment holds {name}")
        # What the command can read of medvault itself, /proc/<ppid>/environ included:
        # MEDVAULT_PASSPHRASE is overwritten there once read.
        parent = json.dumps(seen["parent"]).encode()
        for name in needles.found(parent):
            leaks.append(f"medvault process seen from the export ({mode}) holds {name}")
    # Every file we did not write on purpose.
    allowed = secret_files | set(share_paths.values())
    scanned = 0
    tmp_root = Path("/tmp")
    places = [
        *_files_under(tmp_path),
        *_new_entries(tmp_root, started, {tmp_path, *tmp_path.parents} - {tmp_root, Path("/")}),
        *_new_entries(Path("/dev/shm"), started, set()),
    ]
    for path in places:
        if path in allowed:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        scanned += 1
        for name in needles.found(data):
            leaks.append(f"{path} holds {name}")
    assert scanned >= 20
    assert list(shm.iterdir()) == [], "staging left behind"
    # Reprs of what holds secrets.
    by_code = unlock_with_recovery_code(open_headers(drive), parse_code(code_text))
    parsed = [parse_share(p.read_text().splitlines()[-1], p.name) for p in share_paths.values()]
    catalog = load_catalog(by_code)
    loc = catalog.live()[0]
    with open_reader(by_code, loc.pack) as reader:
        opened = open_header(by_code.keys, reader.read(loc.offset, loc.header_len))
    escrow = EscrowPrivateKey(EscrowSuite(ws.org.active_keys[0].suite), combine_parsed(parsed[:2]))
    holders = [
        vault,
        by_code,
        vault.keys,
        vault.keys.vault_key(),
        to_secret(passphrase),
        parse_code(code_text),
        *parsed,
        opened,
        opened.keys,
        escrow,
        combine_parsed(parsed[:2]),
    ]
    for obj in holders:
        shown_as = [repr(obj), str(obj), f"{obj}", f"{obj!r}", "%s" % (obj,)]  # noqa: UP031
        for shown in shown_as:
            for name in needles.found(shown.encode()):
                leaks.append(f"repr of {type(obj).__name__} holds {name}")
    with pytest.raises(WrongPassphrase) as wrong_exc:
        unlock(open_headers(drive), to_secret(passphrase))
    for name in needles.found(str(wrong_exc.value).encode() + repr(wrong_exc.value).encode()):
        leaks.append(f"WrongPassphrase holds {name}")
    assert not leaks, "\n".join(leaks)
    assert "word 10 is not a SLIP-39 word" in next(o[2] for o in outputs if "misspelt" in o[0])
    crash = next(o for o in outputs if o[0] == "internal error")
    assert "Traceback" in crash[2] and "RuntimeError: unlock failed" in crash[2]
    assert "Secret(<" in crash[2]  # the argument was formatted, redacted
    # Extracted and recovered files are readable by their owner only.
    for folder in (tmp_path / "out", tmp_path / "recovered"):
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert files
        for path in files:
            assert _mode(path) == 0o600, f"{path} is {oct(_mode(path))}"


@dataclass
class Step:
    label: str
    argv: list[str | Path]
    env: dict[str, str] = field(default_factory=dict)
    expect: int = 0
    raw: bool = False  # ARGV is for python itself, not `python -m medvault`
    env_holds_secret: bool = False


INTERNAL_ERROR = r"""
import sys
import medvault.engine.session as session
def failing(*args):
    raise RuntimeError(f"unlock failed with {args!r}")
session.open_slots = failing
from medvault.cli.main import main
sys.argv = ["medvault", "ls", sys.argv[1]]
main()
"""


def test_extract_folders_are_private(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    """Extracted files 0600, and the folders extract creates 0700: their names can be PHI."""
    src = tmp_path / "Smith-John"
    (src / "labs").mkdir(parents=True)
    (src / "labs" / "2026.csv").write_text("mrn,result\n1,neg\n")
    create_vault(drive, "", to_secret(PASSPHRASE), ws.org, ws.registry(), Env(kdf=FAST_KDF))
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    add_files(vault, [src], False, ws.registry(), Env())
    out = tmp_path / "out"
    extract(vault, [], out, False, ws.registry(), Env())
    extracted = out / "Smith-John" / "labs" / "2026.csv"
    assert _mode(extracted) == 0o600
    for folder in (out, out / "Smith-John", out / "Smith-John" / "labs"):
        assert _mode(folder) == 0o700, f"{folder} is {oct(_mode(folder))}"


def test_the_helper_of_a_non_dumpable_process_is_non_dumpable_too() -> None:
    """add and extract fork a helper that holds the vault key (engine/helper_process.py):
    Linux keeps the non-dumpable mark across fork, so the helper's memory is as closed as
    the command's. The helper itself reports its mark."""
    probe = (
        "import ctypes, os, sys\n"
        "from medvault.secret import make_non_dumpable\n"
        "from medvault.engine import helper_process\n"
        "if not helper_process.worth_it(100): print('no helper'); sys.exit()\n"
        "make_non_dumpable()\n"
        "libc = ctypes.CDLL(None)\n"
        "parent = os.getpid()\n"
        "def work(task):\n"
        "    return f'{os.getpid() != parent}:{libc.prctl(3, 0, 0, 0, 0)}'.encode()\n"
        "done = helper_process.in_order([b'x'] * 100, 100, lambda t: t, work, lambda _t, a: a)\n"
        "print(sorted({answer.decode() for _task, answer in done}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    if out.stdout.strip() == "no helper":
        pytest.skip("no helper here: it needs Linux and a second core")
    assert out.stdout.strip() == "['True:0']"


def test_make_non_dumpable_clears_the_flag_export_relies_on() -> None:
    """While CMD runs, the vault key is in medvault's memory; a non-dumpable process's
    /proc/<pid>/mem and environ are closed to other processes of the same user (not to
    root, which these tests run as, so the flag itself is checked)."""
    probe = (
        "import ctypes; from medvault.secret import make_non_dumpable; "
        "libc = ctypes.CDLL(None); before = libc.prctl(3, 0, 0, 0, 0); make_non_dumpable(); "
        "print(before, libc.prctl(3, 0, 0, 0, 0))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["1", "0"]
