"""Where things live on a workstation, and the organisation config (org.toml).

org.toml is public: org name, contact text for the drive's notice, and the escrow public
key(s). Lookup order: --org PATH, then $MEDVAULT_ORG, then $MEDVAULT_HOME/org.toml.

Everything else under $MEDVAULT_HOME is private (the registry names vaults, people, hosts
and holds key packages): its folders are 0700 and its files 0600, whatever the umask.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medvault.errors import OrgConfigMissing

ORG_FILE = "org.toml"
REGISTRY_FILE = "registry.sqlite"
MAX_ORG_FILE = 1024 * 1024
MAX_ZONE_NAME = 64  # the longest IANA name is 32 characters
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
OTHERS = 0o077  # the group's and everyone else's permission bits
ESCROW_KEY_FIELDS = frozenset(
    {"key_id", "suite", "threshold", "admins", "created_at", "status", "public_key"}
)


def medvault_home() -> Path:
    """$MEDVAULT_HOME, else the platform's user data dir (~/.local/share/medvault on Linux)."""
    env = os.environ.get("MEDVAULT_HOME")
    if env:
        return Path(env)
    import platformdirs  # only without $MEDVAULT_HOME; ~2 MiB not kept while Argon2id runs

    return Path(platformdirs.user_data_dir("medvault", appauthor=False))


def _warn(text: str) -> None:
    # This layer has no CLI to hand a notice to; one line on stderr is what the CLI prints.
    sys.stderr.write(f"medvault: warning: {text}\n")


def _mode(st: os.stat_result) -> str:
    return f"{stat.S_IMODE(st.st_mode):04o}"


def private_folder(path: Path) -> Path:
    """PATH as a folder only its owner may enter: a missing one is made 0700 (its missing
    parents as usual). An existing one open to others is closed if it is this user's own
    and not a shared sticky folder such as /tmp; otherwise a warning says so. OSError
    when it cannot be made."""
    path.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    st = path.stat()
    if not st.st_mode & OTHERS:
        return path
    if st.st_uid != os.geteuid() or st.st_mode & stat.S_ISVTX:
        _warn(f"{path} (mode {_mode(st)}) can be read by other users; make it 0700 yourself")
        return path
    os.chmod(path, stat.S_IMODE(st.st_mode) & ~OTHERS)
    return path


def home_folder(*parts: str) -> Path:
    """$MEDVAULT_HOME/PARTS..., each folder on the way private (0700); OSError if not."""
    path = private_folder(medvault_home())
    for part in parts:
        path = private_folder(path / part)
    return path


def private_file(path: Path, what: str) -> None:
    """Create PATH empty with mode 0600 if it is missing; one that exists and is readable
    by others is made 0600, with a warning, since its contents were exposed. OSError
    when it cannot be opened."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        tighten_file(fd, path, what)
    finally:
        os.close(fd)


def tighten_file(fd: int, path: Path, what: str) -> None:
    """Take the group's and others' permissions off the open file FD (at PATH), and say so."""
    st = os.fstat(fd)
    if not st.st_mode & OTHERS:
        return
    if st.st_uid != os.geteuid():
        _warn(f"{what} {path} (mode {_mode(st)}) can be read by other users")
        return
    private = stat.S_IMODE(st.st_mode) & ~OTHERS
    os.fchmod(fd, private)
    _warn(f"{what} {path} could be read by other users (mode {_mode(st)}); it is now {private:04o}")


def registry_path() -> Path:
    return medvault_home() / REGISTRY_FILE


def registry_url() -> str:
    """$MEDVAULT_REGISTRY, else `registry = "..."` in the org config ($MEDVAULT_ORG or
    $MEDVAULT_HOME/org.toml), else the embedded SQLite under $MEDVAULT_HOME."""
    from_env = os.environ.get("MEDVAULT_REGISTRY")
    if from_env:
        return from_env
    try:
        found = find_org_config(None)
    except OrgConfigMissing:
        found = None  # no org config here (yet): the local registry
    org = load_org(found) if found is not None else None  # a broken one is an error
    if org is not None and org.registry:
        return org.registry
    return f"sqlite:///{registry_path()}"


@dataclass(frozen=True)
class EscrowKeyConfig:
    key_id: str
    suite: str
    public_key: bytes
    threshold: int
    admins: tuple[str, ...]
    created_at: str
    status: str = "active"  # "active": new vaults are sealed to it; "retired": kept to match


@dataclass(frozen=True)
class PassphrasePolicy:
    """org.toml's [passphrase_policy]: what a new passphrase must reach. The defaults are
    SP 800-63B-4's 15-character minimum and 10^12 estimated guesses (see COMPLIANCE.md)."""

    min_length: int = 15
    min_guesses_log10: float = 12.0

    def at_least_as_strict_as(self, other: PassphrasePolicy) -> bool:
        return (
            self.min_length >= other.min_length
            and self.min_guesses_log10 >= other.min_guesses_log10
        )


DEFAULT_PASSPHRASE_POLICY = PassphrasePolicy()
# Bounds an org.toml may set: never below the defaults' floor, never absurd.
POLICY_LENGTHS = range(15, 129)
POLICY_GUESSES_LOG10 = (12.0, 40.0)


@dataclass(frozen=True)
class OrgConfig:
    name: str
    contact: str
    org_id: str
    escrow_keys: tuple[EscrowKeyConfig, ...]
    path: Path | None = None
    registry: str | None = None  # the organisation's central registry URL (no password)
    # IANA name of the organisation's time zone: the calendar its deadlines are counted on.
    # None: an org.toml from before the setting; reports then use UTC and say so.
    time_zone: str | None = None
    passphrase_policy: PassphrasePolicy = DEFAULT_PASSPHRASE_POLICY

    @property
    def active_keys(self) -> tuple[EscrowKeyConfig, ...]:
        return tuple(k for k in self.escrow_keys if k.status == "active")


def find_org_config(explicit: Path | None) -> Path:
    if explicit is not None:
        if not explicit.is_file():
            raise OrgConfigMissing(f"org config {explicit} not found")
        return explicit
    env = os.environ.get("MEDVAULT_ORG")
    if env:
        if not Path(env).is_file():
            raise OrgConfigMissing(f"org config {env} (from MEDVAULT_ORG) not found")
        return Path(env)
    default = medvault_home() / ORG_FILE
    if default.is_file():
        return default
    raise OrgConfigMissing(f"no organisation config found (looked for {default})")


def _str(obj: dict[str, Any], key: str, where: Path) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise OrgConfigMissing(f"org config {where}: {key!r} missing or not text")
    return value


def _status(item: dict[str, Any], where: Path) -> str:
    status = item.get("status", "active")
    if status not in ("active", "retired"):
        raise OrgConfigMissing(f"org config {where}: escrow key status must be active or retired")
    return str(status)


def load_org(path: Path) -> OrgConfig:
    import tomllib  # only where an org config is read: not in every command's imports

    try:
        raw = path.read_bytes()
        if len(raw) > MAX_ORG_FILE:
            raise OrgConfigMissing(f"org config {path} is too large")
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        # ValueError: TOMLDecodeError, UnicodeDecodeError, an integer past 4300 digits.
        raise OrgConfigMissing(f"org config {path} cannot be read: {exc}") from None
    except RecursionError:
        raise OrgConfigMissing(f"org config {path} cannot be read: nested too deeply") from None
    keys_raw = data.get("escrow_keys")
    if not isinstance(keys_raw, list) or not keys_raw:
        raise OrgConfigMissing(f"org config {path}: no [[escrow_keys]]")
    keys = []
    for item in keys_raw:
        if not isinstance(item, dict):
            raise OrgConfigMissing(f"org config {path}: bad [[escrow_keys]] entry")
        unknown = sorted(set(item) - ESCROW_KEY_FIELDS)
        if unknown:
            raise OrgConfigMissing(
                f"org config {path}: unknown setting {unknown[0]!r} in [[escrow_keys]]",
                hint="top-level settings (such as registry) go above the first [[escrow_keys]]",
            )
        try:
            public = base64.b64decode(_str(item, "public_key", path), validate=True)
        except ValueError:  # binascii.Error, or a non-ASCII character
            raise OrgConfigMissing(f"org config {path}: escrow public key is not base64") from None
        admins = item.get("admins", [])
        threshold = item.get("threshold", 0)
        if (
            not isinstance(admins, list)
            or not all(isinstance(a, str) for a in admins)
            or type(threshold) is not int
        ):
            raise OrgConfigMissing(f"org config {path}: bad admins or threshold")
        keys.append(
            EscrowKeyConfig(
                key_id=_str(item, "key_id", path),
                suite=_str(item, "suite", path),
                public_key=public,
                threshold=threshold,
                admins=tuple(str(a) for a in admins),
                created_at=_str(item, "created_at", path),
                status=_status(item, path),
            )
        )
    return OrgConfig(
        name=_str(data, "name", path),
        contact=_str(data, "contact", path),
        org_id=_str(data, "org_id", path),
        escrow_keys=tuple(keys),
        path=path,
        registry=_registry(data, path),
        time_zone=_time_zone(data, path),
        passphrase_policy=_passphrase_policy(data, path),
    )


def _passphrase_policy(data: dict[str, Any], where: Path) -> PassphrasePolicy:
    table = data.get("passphrase_policy")
    if table is None:
        return DEFAULT_PASSPHRASE_POLICY
    hint = "min_length 15 to 128, min_guesses_log10 12 to 40; see docs/COMPLIANCE.md"
    if not isinstance(table, dict) or set(table) - {"min_length", "min_guesses_log10"}:
        raise OrgConfigMissing(f"org config {where}: bad [passphrase_policy]", hint=hint)
    length = table.get("min_length", DEFAULT_PASSPHRASE_POLICY.min_length)
    guesses = table.get("min_guesses_log10", DEFAULT_PASSPHRASE_POLICY.min_guesses_log10)
    low, high = POLICY_GUESSES_LOG10
    if (
        type(length) is not int
        or length not in POLICY_LENGTHS
        or type(guesses) not in (int, float)
        or not low <= guesses <= high
    ):
        raise OrgConfigMissing(f"org config {where}: bad [passphrase_policy]", hint=hint)
    return PassphrasePolicy(length, float(guesses))


def current_passphrase_policy() -> tuple[PassphrasePolicy, str | None]:
    """The policy and org name of this workstation's org config ($MEDVAULT_ORG or
    $MEDVAULT_HOME/org.toml); the defaults and no name when there is none."""
    try:
        org = load_org(find_org_config(None))
    except OrgConfigMissing:
        return DEFAULT_PASSPHRASE_POLICY, None
    return org.passphrase_policy, org.name


def is_time_zone(name: str) -> bool:
    """NAME is an IANA time zone this system's zoneinfo knows (e.g. America/Los_Angeles)."""
    if not 0 < len(name) <= MAX_ZONE_NAME or name != name.strip():
        return False
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # loads sysconfig: ~0.5 MiB

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: a path-like or malformed key
        return False
    return True


def _time_zone(data: dict[str, Any], where: Path) -> str | None:
    name = data.get("time_zone")
    if name is None:
        return None
    if not isinstance(name, str) or not is_time_zone(name):
        raise OrgConfigMissing(
            f"org config {where}: time_zone must be an IANA time zone name",
            hint='for example time_zone = "America/Los_Angeles"; see `medvault org init --help`',
        )
    return name


def _registry(data: dict[str, Any], where: Path) -> str | None:
    url = data.get("registry")
    if url is None:
        return None
    if not isinstance(url, str) or "://" not in url:
        raise OrgConfigMissing(f"org config {where}: registry must be a database URL")
    credentials = url.split("://", 1)[1].split("@", 1)
    if len(credentials) == 2 and ":" in credentials[0]:
        # org.toml is public; the password belongs in ~/.pgpass or a client certificate.
        raise OrgConfigMissing(f"org config {where}: the registry URL must not hold a password")
    return url


def _toml_str(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


def render_org_toml(org: OrgConfig) -> str:
    lines = [
        "# medvault organisation config. Public: copy it to every workstation.",
        "# It holds no secret; the escrow private key exists only as admin shares.",
        "format = 1",
        f"name = {_toml_str(org.name)}",
        f"contact = {_toml_str(org.contact)}",
        f"org_id = {_toml_str(org.org_id)}",
    ]
    if org.registry:
        lines.append(f"registry = {_toml_str(org.registry)}")
    if org.time_zone:
        lines.append(f"time_zone = {_toml_str(org.time_zone)}")
    if org.passphrase_policy != DEFAULT_PASSPHRASE_POLICY:
        policy = org.passphrase_policy
        lines += [
            "",
            "[passphrase_policy]",
            f"min_length = {policy.min_length}",
            f"min_guesses_log10 = {policy.min_guesses_log10}",
        ]
    for key in org.escrow_keys:
        admins = ", ".join(_toml_str(a) for a in key.admins)
        lines += [
            "",
            "[[escrow_keys]]",
            f"key_id = {_toml_str(key.key_id)}",
            f"suite = {_toml_str(key.suite)}",
            f"threshold = {key.threshold}",
            f"admins = [{admins}]",
            f"created_at = {_toml_str(key.created_at)}",
            f"status = {_toml_str(key.status)}",
            f"public_key = {_toml_str(base64.b64encode(key.public_key).decode())}",
        ]
    return "\n".join(lines) + "\n"
