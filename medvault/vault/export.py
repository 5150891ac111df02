"""`medvault export -- CMD`: run an export so its output reaches the drive only encrypted.

CMD writes into a private staging folder in memory (MEDVAULT_EXPORT_DIR, or `{}` in its
arguments). Only when it exits 0 is every file it produced encrypted into the vault under
exports/NAME/<timestamp>/, read back and authenticated against the staged bytes; then the
staging folder is wiped. When CMD fails, nothing is added and staging is wiped. A staging
folder left by a killed run is removed by the next run.

CMD runs as the user, with the user's full authority: it is not sandboxed. It can read
any file the user can (a passphrase file included) and /proc/<our pid>/cmdline. It cannot
read our memory, environment or descriptors (we are non-dumpable), and the passphrase is
read and the vault unlocked before it starts.

The export event records CMD's name and a SHA-256 of its arguments, not the arguments
(they can hold PHI or passwords); `--record-args` adds them, redacted by `redact`.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medvault.engine.catalog import Located, load_catalog
from medvault.engine.entry_reading import plaintext_sha256
from medvault.engine.session import UnlockedVault
from medvault.errors import IntegrityError, MedvaultError, SourceUnreadable, UsageError
from medvault.registry.actions import Action
from medvault.registry.records import CustodyRegistry
from medvault.secret import make_non_dumpable
from medvault.store.fsio import file_sha256
from medvault.vault.add import Renamed, add_files, renamed_by_normalization
from medvault.vault.env import Env, stamp
from medvault.workstation import staging

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Variables that could hand the export command a way into the vault: never passed on.
WITHHELD_ENV = ("MEDVAULT_PASSPHRASE", "MEDVAULT_PASSPHRASE_FILE", "MEDVAULT_PASSPHRASE_FD")
HIDDEN = "***"
SENSITIVE_WORDS = r"(pass|pwd|pw|secret|token|key|auth|credential)"
# --password=PW, --db-pw PW, -token PW: the option is kept, its value hidden.
SECRET_OPTION = re.compile(rf"^(--?[\w-]*{SENSITIVE_WORDS}[\w-]*)(=.*)?$", re.I)
# -pPW (mysql), -PPW (sqlcmd): a short password option with its value attached.
SHORT_PASSWORD = re.compile(r"^(-[pP])(?!-).+$")
OPTION_NAME = re.compile(r"-[a-z][a-z-]*")
SHORT_PASSWORD_OPTIONS = ("-p", "-P")  # -p PW (sshpass, mysql), -P PW (sqlcmd)
# -u user:pw, --user user:pw, -uuser:pw, --user=user:pw (curl): the password is hidden.
USER_OPTIONS = ("-u", "--user")
USER_ATTACHED = re.compile(r"^(-u|--user=)(.+)$")
SECRET_ASSIGNMENT = re.compile(rf"^([\w.-]*{SENSITIVE_WORDS}[\w.-]*)=.*$", re.I)
SECRET_HEADER = re.compile(
    r"^\s*((proxy-)?authorization|cookie|x-[\w-]*(key|token|auth|secret)[\w-]*)\s*:.*$", re.I
)
# scheme://user:PW@host (a password may hold / or @: hidden up to the last @), and
# user:PW@host with no scheme (sshpass, rsync daemons).
URL_PASSWORD = re.compile(r"([a-z][\w+.-]*://[^:/@\s]*):\S*@", re.I)
BARE_USERINFO = re.compile(r"^([^\s:/@]+):[^\s/@]+@")
PASS_ARGUMENT = re.compile(r"^pass:.*$", re.I)  # openssl -passin pass:PW


@dataclass
class ExportResult:
    command_exit: int
    staging_memory_backed: bool
    stored_under: str = ""
    files: list[Located] = field(default_factory=list)
    bytes: int = 0
    swept: list[Path] = field(default_factory=list)
    renamed: list[Renamed] = field(default_factory=list)  # names stored NFC, not as written


Redactor = Callable[[str], str]


def command_record(argv: list[str], record_args: bool) -> dict[str, object]:
    """What the export event says about CMD: its file name and a SHA-256 of its arguments
    (argv_sha256), and only with RECORD_ARGS the arguments themselves, redacted."""
    record: dict[str, object] = {
        "program": printable(os.path.basename(argv[0])),
        "argc": len(argv),
        "argv_sha256": argv_sha256(argv),
    }
    if record_args:
        record["command"] = [printable(arg) for arg in redact(argv)]
    return record


def argv_sha256(argv: list[str]) -> str:
    """SHA-256 over each argument's bytes (as the OS passed them), each preceded by its
    length as 4 bytes big-endian: one command, one digest, with no two argument lists
    encoding alike."""
    digest = hashlib.sha256()
    for arg in argv:
        raw = os.fsencode(arg)
        digest.update(len(raw).to_bytes(4, "big") + raw)
    return digest.hexdigest()


def printable(arg: str) -> str:
    """ARG as text that any JSON encoder takes: bytes that are not UTF-8 become \\xNN."""
    return os.fsencode(arg).decode("utf-8", "backslashreplace")


def redact(argv: list[str]) -> list[str]:
    """The command as recorded with --record-args: the values of password, token and key
    options (also -pPW, -p PW, -P PW, -u user:PW), secret-looking NAME=value words,
    Authorization and cookie headers, and URL passwords replaced by ***. A blocklist:
    it cannot know every program's options, which is why it is not the default."""
    out: list[str] = []
    redact_next: Redactor | None = None
    for arg in argv:
        if redact_next is not None:
            out.append(redact_next(arg))
            redact_next = None
            continue
        word, redact_next = _redact_word(arg)
        out.append(word)
    return out


def _hide(_arg: str) -> str:
    return HIDDEN


def _hide_userinfo(value: str) -> str:
    user, colon, _password = value.partition(":")
    return f"{user}:{HIDDEN}" if colon else value


def _redact_word(arg: str) -> tuple[str, Redactor | None]:
    """ARG as recorded, and how to record the argument after it."""
    if arg in SHORT_PASSWORD_OPTIONS:
        return arg, _hide
    if arg in USER_OPTIONS:
        return arg, _hide_userinfo
    attached = USER_ATTACHED.match(arg)
    if attached:
        return attached.group(1) + _hide_userinfo(attached.group(2)), None
    option = SECRET_OPTION.match(arg)
    short = SHORT_PASSWORD.match(arg)
    if short:  # -pS3cret is a value; -passin may be an option name: hide its value too
        named = option is not None and OPTION_NAME.fullmatch(arg) is not None
        return short.group(1) + HIDDEN, _hide if named else None
    if option:
        if option.group(3):
            return f"{option.group(1)}={HIDDEN}", None
        return arg, _hide
    return _redact_text(arg), None


def _redact_text(arg: str) -> str:
    assignment = SECRET_ASSIGNMENT.match(arg)
    if assignment:
        return f"{assignment.group(1)}={HIDDEN}"
    header = SECRET_HEADER.match(arg)
    if header:
        return f"{header.group(1)}: {HIDDEN}"
    if PASS_ARGUMENT.match(arg):
        return f"pass:{HIDDEN}"
    arg = URL_PASSWORD.sub(rf"\1:{HIDDEN}@", arg)
    return BARE_USERINFO.sub(rf"\1:{HIDDEN}@", arg)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise UsageError(
            f"--name {name!r}: letters, digits, '.', '_' and '-' (at most 64), e.g. lab-weekly"
        )
    return name


def run_export(
    vault: UnlockedVault,
    name: str,
    argv: list[str],
    registry: CustodyRegistry,
    env: Env,
    root: staging.StagingRoot,
    progress: Callable[[int], None] | None = None,
    on_commit: Callable[[list[Located]], None] | None = None,
    record_args: bool = False,
    person: str | None = None,
) -> ExportResult:
    if not argv:
        raise UsageError("give the export command after --, e.g. medvault export ... -- ./run.sh")
    swept = staging.sweep_stale(root)
    folder = staging.make(root)
    result = ExportResult(0, root.memory_backed, swept=swept)
    try:
        result.command_exit = _run(argv, folder, person)
        if result.command_exit != 0:
            return result  # nothing is added; staging is wiped below
        prefix = f"exports/{name}/{stamp(env.now())}/"
        result.stored_under = prefix
        sources = sorted(folder.iterdir())
        if not sources:
            return result
        staged, result.renamed = _staged(folder, prefix)
        added = add_files(
            vault,
            sources,
            False,
            registry,
            env,
            progress=progress,
            on_commit=on_commit,
            prefix=prefix,
            action=Action.EXPORT,
            details={
                "name": name,
                **command_record(argv, record_args),
                "staging": root.filesystem,
                "staging_memory_backed": root.memory_backed,
            },
        )
        result.files, result.bytes = added.files, added.bytes
        _read_back(vault, added.files, staged)
    except BaseException:
        if result.files:
            # Files are in the vault but the check failed: keep the plaintext for the user.
            kept = staging.keep(folder)
            raise MedvaultError(
                "the exported files did not read back intact from the drive",
                hint=f"the staged plaintext is kept in {kept}; run `medvault verify`",
            ) from None
        raise
    finally:
        if folder.exists():
            staging.wipe(folder)
    return result


def _run(argv: list[str], folder: Path, person: str | None) -> int:
    """Run CMD with its output folder; its exit code (128 + signal when killed). PERSON
    (`medvault --as`) is its MEDVAULT_PERSON: a medvault it runs records the same person."""
    make_non_dumpable()  # CMD runs as us while the vault key is in our memory
    child_env = {k: v for k, v in os.environ.items() if k not in WITHHELD_ENV}
    if person is not None:
        child_env["MEDVAULT_PERSON"] = person
    child_env["MEDVAULT_EXPORT_DIR"] = str(folder)
    command = [arg.replace("{}", str(folder)) for arg in argv]
    try:
        code = subprocess.call(command, env=child_env)
    except OSError as exc:
        raise SourceUnreadable(
            f"cannot run {argv[0]}: {exc.strerror or exc}", hint="check the command and its path"
        ) from None
    return 128 + signal.Signals(-code).value if code < 0 else code


def _staged(folder: Path, prefix: str) -> tuple[dict[str, str], list[Renamed]]:
    """Each staged file's SHA-256 under its stored path (PREFIX, then its path in FOLDER,
    NFC as add stores it), and the names that normalization changes."""
    staged: dict[str, str] = {}
    renamed: list[Renamed] = []
    for path in _files(folder):
        name = path.relative_to(folder).as_posix()
        stored = unicodedata.normalize("NFC", prefix + name)  # as normalize_path does
        staged[stored] = file_sha256(path)
        changed = renamed_by_normalization(name, prefix + name, stored)
        if changed is not None:
            renamed.append(changed)
    return staged, renamed


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _read_back(vault: UnlockedVault, files: list[Located], staged: dict[str, str]) -> None:
    """Decrypt every stored export from the drive (fresh index, authenticated stream) and
    compare its SHA-256 with the staged file's, before the plaintext is deleted."""
    catalog = load_catalog(vault)
    live = {loc.path: loc for loc in catalog.live()}
    if {f.path for f in files} != set(staged):
        raise IntegrityError("the vault does not hold exactly the staged files")
    for path, expected in staged.items():
        loc = live.get(path)
        if loc is None:
            raise IntegrityError("an exported file is missing from the vault's index")
        if plaintext_sha256(vault, loc) != expected:
            raise IntegrityError("an exported file does not match what the command wrote")
