"""`medvault export -- CMD`: run an export so its output reaches the drive only encrypted.

CMD writes into a private staging folder in memory (MEDVAULT_EXPORT_DIR, or `{}` in its
arguments). Only when it exits 0 is every file it produced encrypted into the vault under
exports/NAME/<timestamp>/, read back and authenticated against the staged bytes; then the
staging folder is wiped. When CMD fails, nothing is added and staging is wiped. A staging
folder left by a killed run is removed by the next run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medvault.errors import IntegrityError, MedvaultError, SourceUnreadable, UsageError
from medvault.registry.records import CustodyRegistry
from medvault.secret import make_non_dumpable
from medvault.store import staging
from medvault.store.fsio import file_sha256
from medvault.vault.add import add_files
from medvault.vault.catalog import Located, load_catalog
from medvault.vault.env import Env, stamp
from medvault.vault.reading import plaintext_sha256
from medvault.vault.session import UnlockedVault

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Variables that could hand the export command a way into the vault: never passed on.
WITHHELD_ENV = ("MEDVAULT_PASSPHRASE", "MEDVAULT_PASSPHRASE_FILE", "MEDVAULT_PASSPHRASE_FD")
SECRET_OPTION = re.compile(
    r"^(-{1,2}[\w-]*(pass|pwd|secret|token|key|auth|credential)[\w-]*)(=.*)?$", re.I
)
SECRET_ASSIGNMENT = re.compile(r"^([A-Z0-9_]*(PASS|PWD|SECRET|TOKEN|KEY|AUTH)[A-Z0-9_]*)=.*$")
URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]*):[^@/\s]*@")


@dataclass
class ExportResult:
    command_exit: int
    staging_memory_backed: bool
    stored_under: str = ""
    files: list[Located] = field(default_factory=list)
    bytes: int = 0
    swept: list[Path] = field(default_factory=list)


def redact(argv: list[str]) -> list[str]:
    """The command as recorded: values of password/token/key options, secret-looking
    VAR=value words and URL passwords replaced by ***."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        option = SECRET_OPTION.match(arg)
        if option:
            if option.group(3):
                out.append(option.group(1) + "=***")
            else:
                out.append(arg)
                hide_next = True
            continue
        assignment = SECRET_ASSIGNMENT.match(arg)
        if assignment:
            out.append(assignment.group(1) + "=***")
            continue
        out.append(URL_PASSWORD.sub(r"\1:***@", arg))
    return out


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
) -> ExportResult:
    if not argv:
        raise UsageError("give the export command after --, e.g. medvault export ... -- ./run.sh")
    swept = staging.sweep_stale(root)
    folder = staging.make(root)
    result = ExportResult(0, root.memory_backed, swept=swept)
    try:
        result.command_exit = _run(argv, folder)
        if result.command_exit != 0:
            return result  # nothing is added; staging is wiped below
        prefix = f"exports/{name}/{stamp(env.now())}/"
        result.stored_under = prefix
        sources = sorted(folder.iterdir())
        if not sources:
            return result
        staged = {prefix + p.relative_to(folder).as_posix(): file_sha256(p) for p in _files(folder)}
        added = add_files(
            vault,
            sources,
            False,
            registry,
            env,
            progress=progress,
            on_commit=on_commit,
            prefix=prefix,
            action="export",
            details={
                "name": name,
                "command": redact(argv),
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


def _run(argv: list[str], folder: Path) -> int:
    """Run CMD with its output folder; its exit code (128 + signal when killed)."""
    make_non_dumpable()  # CMD runs as us while the vault key is in our memory
    child_env = {k: v for k, v in os.environ.items() if k not in WITHHELD_ENV}
    child_env["MEDVAULT_EXPORT_DIR"] = str(folder)
    command = [arg.replace("{}", str(folder)) for arg in argv]
    try:
        code = subprocess.call(command, env=child_env)
    except OSError as exc:
        raise SourceUnreadable(
            f"cannot run {argv[0]}: {exc.strerror or exc}", hint="check the command and its path"
        ) from None
    return 128 + signal.Signals(-code).value if code < 0 else code


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
