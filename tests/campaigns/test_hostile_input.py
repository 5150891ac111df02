"""Hostile and unusual input: each case through the real CLI, with its one-line
message and exit code, and nothing lost (docs/CLI.md, "Hostile and unusual input").

Vaults are made through the library with a light Argon2id (FAST_KDF) so that each CLI
unlock costs little; every command under test is a real `python -m medvault` process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medvault.cli.shares_input import share_from_file
from medvault.crypto.escrow import EscrowSuite
from medvault.engine.session import open_headers, unlock
from medvault.errors import SourceUnreadable, UnsafePath
from medvault.format import vault_header
from medvault.format.entry import MAGIC as OBJECT_MAGIC
from medvault.keys import header_auth
from medvault.keys.passphrase import to_secret
from medvault.vault import reading
from medvault.vault.add import add_files, plan
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from medvault.vault.org import init_org
from medvault.vault.reading import list_files
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.files import digests, write_tree
from tests.support.media import mounted_fat32, raw_image_bytes

MIB = 1024 * 1024


def _vault(ws: Workspace, drive: Path) -> Path:
    create_vault(drive, "", to_secret(PASSPHRASE), ws.org, ws.registry(), Env(kdf=FAST_KDF))
    return drive


@pytest.fixture
def vault(ws: Workspace, drive: Path) -> Path:
    """An empty vault on DRIVE, made with a light Argon2id."""
    return _vault(ws, drive)


def _error(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line (then maybe a `hint:` line; before it only per-file `medvault:
    damaged:` lines; never a traceback)."""
    lines = result.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("medvault: error: ")]
    assert len(errors) == 1, result.stderr
    allowed = ("medvault: error: ", "hint: ", "medvault: damaged: ")
    assert all(ln.startswith(allowed) for ln in lines), result.stderr
    return errors[0]


def _hint(result: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(ln for ln in result.stderr.splitlines() if ln.startswith("hint: "))


def _listed(drive: Path) -> list[str]:
    """What the vault holds, read in-process (a CLI `ls` costs a process start)."""
    live, _ = list_files(unlock(open_headers(drive), to_secret(PASSPHRASE)))
    return sorted(x.path for x in live)


def _add_in_process(ws: Workspace, drive: Path, *sources: Path) -> None:
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    add_files(vault, list(sources), False, ws.registry(), Env(kdf=FAST_KDF))


def _refused_by_plan(source: Path, says: str) -> None:
    """The same check `add` runs, in-process, for the variants of a case whose CLI run
    (message and exit code) is tested once."""
    with pytest.raises(SourceUnreadable) as caught:
        plan([source])
    assert says in caught.value.message


# 1. Symbolic links -------------------------------------------------------------------


def test_links_inside_a_folder_are_refused_and_a_named_link_is_followed(
    ws: Workspace, vault: Path, tmp_path: Path
) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.txt": "not part of the source"})
    src = write_tree(tmp_path / "src", {"ok.txt": "fine"})
    before = digests(vault)
    links = {
        "self-loop": "self-loop",  # ELOOP when followed
        "dir-loop": ".",  # a folder loop
        "to-outside-file": str(outside / "secret.txt"),
        "to-outside-dir": str(outside),
        "to-inside-file": "ok.txt",
    }
    for name, target in links.items():
        link = src / name
        link.symlink_to(target)
        _refused_by_plan(src, f"{name} is a symbolic link (to {target})")
        if name in ("self-loop", "to-outside-file"):
            result = ws.cli("add", vault, src)
            assert result.returncode == 8, (name, result.stderr)
            line = _error(result)
            assert f"{name} is a symbolic link (to {target})" in line
            assert "not followed" in line and "nothing was added" in _hint(result)
        link.unlink()
    assert digests(vault) == before
    # A link named on the command line is the user's choice: followed, like cp -H.
    named = tmp_path / "named-link.txt"
    named.symlink_to(src / "ok.txt")
    result = ws.cli("add", vault, named, "--json", check=True)
    (added,) = json.loads(result.stdout)["added"]
    assert added["path"] == "named-link.txt"
    assert added["sha256"] == hashlib.sha256(b"fine").hexdigest()


# 2. FIFOs, devices, sockets ----------------------------------------------------------


def test_fifo_device_and_socket_are_refused_without_hanging(
    ws: Workspace, vault: Path, tmp_path: Path
) -> None:
    src = write_tree(tmp_path / "src", {"ok.txt": "fine"})
    before = digests(vault)
    fifo = src / "fifo"
    os.mkfifo(fifo)
    for args in ([src], [src / "ok.txt", fifo]):
        # Opening a FIFO with no writer would block forever: the timeout proves it does not.
        result = ws.cli("add", vault, *args, timeout=20)
        assert result.returncode == 8, result.stderr
        assert "fifo is not a regular file or folder" in _error(result)
        assert "nothing was added" in _hint(result)
    fifo.unlink()
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(src / "sock"))
        _refused_by_plan(src, "sock is not a regular file or folder")
    finally:
        sock.close()
        (src / "sock").unlink()
    try:
        os.mknod(src / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs CAP_MKNOD (tests normally run as root)")
    _refused_by_plan(src, "null is not a regular file or folder")
    _refused_by_plan(src / "null", "null is not a regular file or folder")
    assert digests(vault) == before


# 3. Unreadable files and folders -----------------------------------------------------


def _cli_without_dac_override(ws: Workspace, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI as root minus the capabilities that bypass file permissions, so chmod 000
    bites as it does for an ordinary user (the real kernel check, not a fake)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is needed to drop CAP_DAC_OVERRIDE as root")
        drop = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}"]
    env = {**ws.env, "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)}
    argv = [*prefix, sys.executable, "-m", "medvault", *map(str, args)]
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def test_unreadable_file_and_folder_add_nothing(ws: Workspace, vault: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "ok.txt").write_text("fine")
    (src / "sub" / "inner.txt").write_text("inner")
    locked = src / "locked.csv"
    locked.write_text("mrn\n1\n")
    locked.chmod(0)
    before = digests(vault)
    try:
        result = _cli_without_dac_override(ws, "add", vault, src)
        assert result.returncode == 8, result.stderr
        assert f"cannot read {locked}: Permission denied" in _error(result)
        assert "permissions" in _hint(result)
        locked.chmod(0o600)
        (src / "sub").chmod(0)
        result = _cli_without_dac_override(ws, "add", vault, src)
        assert result.returncode == 8, result.stderr
        assert f"cannot read {src / 'sub'}: Permission denied" in _error(result)
    finally:
        (src / "sub").chmod(0o700)
    assert digests(vault) == before
    # The same tree, readable again, goes in whole: the refusals were about permissions.
    result = ws.cli("add", vault, src, "--json", check=True)
    added = sorted(x["path"] for x in json.loads(result.stdout)["added"])
    assert added == ["src/locked.csv", "src/ok.txt", "src/sub/inner.txt"]


# 4. Names that are not UTF-8 ---------------------------------------------------------


def test_non_utf8_name_is_refused_and_named_escaped(
    ws: Workspace, vault: Path, tmp_path: Path
) -> None:
    src = write_tree(tmp_path / "src", {"ok.txt": "fine"})
    bad = os.fsencode(src) + b"/\xff\xfe.txt"
    with open(bad, "wb") as handle:
        handle.write(b"latin-1 named")
    before = digests(vault)
    result = ws.cli("add", vault, src)
    assert result.returncode == 8, result.stderr
    assert f"the name {src}/\\xff\\xfe.txt is not valid UTF-8" in _error(result)
    assert "rename it" in _hint(result)
    _refused_by_plan(Path(os.fsdecode(bad)), "\\xff\\xfe.txt is not valid UTF-8")
    backslash = tmp_path / "a\\b.txt"  # legal on Linux, not in a stored path
    backslash.write_text("x")
    _refused_by_plan(backslash, "its name holds a backslash")
    assert digests(vault) == before


# 5. Deep paths and long names --------------------------------------------------------


@pytest.fixture
def deep_tree(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "deep"
    yield root
    # shutil.rmtree (and pytest's own clean-up) recurse once per level: rm does not.
    subprocess.run(["rm", "-rf", str(root)], check=False)


def _mkdirs_relative(start: Path, name: str, count: int) -> Path:
    """COUNT nested folders made with relative paths (chdir), so the whole path may pass
    PATH_MAX; returns the deepest folder's path (which may be too long to open)."""
    here = os.getcwd()
    os.chdir(start)
    try:
        for _ in range(count):
            os.mkdir(name)
            os.chdir(name)
        with open("leaf.txt", "w") as handle:
            handle.write("deep leaf")
    finally:
        os.chdir(here)
    return start.joinpath(*[name] * count)


def test_deep_paths_and_long_names(
    ws: Workspace, vault: Path, deep_tree: Path, tmp_path: Path
) -> None:
    deep_tree.mkdir()
    leaf_dir = _mkdirs_relative(deep_tree, "d", 200)
    long_name = "n" * 251 + ".txt"  # 255 bytes, the most ext4 and the format allow
    (deep_tree / long_name).write_bytes(b"long name")
    ws.cli("add", vault, deep_tree, check=True)
    out = tmp_path / "out"
    ws.cli("extract", vault, "--to", out, check=True)
    assert (out / "deep" / long_name).read_bytes() == b"long name"
    extracted = out / "deep" / leaf_dir.relative_to(deep_tree) / "leaf.txt"
    assert extracted.read_text() == "deep leaf"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    # Past PATH_MAX (4096 bytes): refused at planning, with the path's end shown.
    before = digests(vault)
    too_deep = tmp_path / "too-deep"
    too_deep.mkdir()
    try:
        _mkdirs_relative(too_deep, "x" * 50, 90)  # ~4,600 bytes
        result = ws.cli("add", vault, too_deep)
        assert result.returncode == 8, result.stderr
        line = _error(result)
        assert "File name too long" in line and len(line) < 400
        assert "nearer to it" in _hint(result)
    finally:
        subprocess.run(["rm", "-rf", str(too_deep)], check=False)
    assert digests(vault) == before


# 6. Names FAT32/exFAT refuse ---------------------------------------------------------

FAT_INVALID = [
    "a:b",
    "CON",
    "nul.txt",
    "trailing.",
    "trailing ",
    "st*r?",
    "<lt>",
    'pi|pe"',
    "ctl\x01",
]


def test_fat_invalid_names_add_and_are_refused_onto_fat32(
    ws: Workspace, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    marker = "PLAINTEXT-MARK-{}-END"
    for i, name in enumerate(FAT_INVALID):
        (src / name).write_text(marker.format(i))
    (src / "ok.txt").write_text(marker.format("ok"))
    _add_in_process(ws, vault, src)
    listing = ws.cli("ls", vault, check=True).stdout.splitlines()
    assert len(listing) == len(FAT_INVALID) + 1  # a control character does not split a line
    assert any(line.endswith("src/ctl\\x01") for line in listing)
    with mounted_fat32(tmp_path) as fat:
        out = fat.mountpoint / "out"
        result = ws.cli("extract", vault, "--to", out)
        assert result.returncode == 14, result.stderr
        line = _error(result)
        assert "cannot be written to fuse.fusefat" in line
        assert f"(and {len(FAT_INVALID) - 1} more)" in line
        assert "nothing was extracted" in _hint(result)
        assert [p for p in out.rglob("*") if p.is_file()] == []
        assert b"PLAINTEXT-MARK" not in raw_image_bytes(fat.image)  # nor in free clusters
        # Second line of defence, for file systems not known to be FAT-like: each name is
        # created (empty) before its plaintext is written, so a refused name costs nothing.
        monkeypatch.setattr(reading, "filesystem_of", lambda _path: "unknown")
        unlocked = unlock(open_headers(vault), to_secret(PASSPHRASE))
        with pytest.raises(UnsafePath, match="a name this file system refuses"):
            reading.extract(unlocked, ["src/a:b"], out, False, ws.registry(), Env())
        monkeypatch.undo()
        assert [p for p in out.rglob("*") if p.is_file()] == []
        assert b"PLAINTEXT-MARK" not in raw_image_bytes(fat.image)
        ws.cli("extract", vault, "src/ok.txt", "--to", out, check=True)
        assert (out / "src" / "ok.txt").read_text() == marker.format("ok")
        assert marker.format("ok").encode() in raw_image_bytes(fat.image)  # the check can see


# 7. Files changing while they are read -----------------------------------------------


def _when_streaming(
    proc: subprocess.Popen[str], source: Path, vault_dir: Path, act: Callable[[], None]
) -> bool:
    """Run ACT once the medvault process has SOURCE open and a pack open in the vault's
    tmp/ (so it is encrypting SOURCE, past planning); False if that was never seen."""
    fd_dir = Path(f"/proc/{proc.pid}/fd")
    tmp = str(vault_dir / "MEDVAULT" / "tmp") + "/"
    while proc.poll() is None:
        try:
            targets = {os.readlink(fd_dir / fd) for fd in os.listdir(fd_dir)}
        except OSError:
            continue
        if str(source) in targets and any(t.startswith(tmp) for t in targets):
            act()
            return True
        time.sleep(0.0005)
    return False


def _add_while(
    ws: Workspace, vault: Path, src: Path, source: Path, act: Callable[[], None]
) -> tuple[subprocess.CompletedProcess[str], bool]:
    env = {**ws.env, "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)}
    argv = [sys.executable, "-m", "medvault", "add", "-v", str(vault), str(src)]
    with subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        seen = _when_streaming(proc, source, vault, act)
        out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), seen


def _append(path: Path) -> None:
    with open(path, "ab") as handle:
        handle.write(b"appended")


def _truncate(path: Path) -> None:
    os.truncate(path, 1000)


def _rewrite_same_size(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.write(b"rewritten in place")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1))


@pytest.mark.parametrize("change", [_append, _truncate, _rewrite_same_size])
def test_file_changing_while_read_is_refused(
    ws: Workspace, vault: Path, tmp_path: Path, change: Callable[[Path], None]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    big = src / "big.bin"
    big.write_bytes(os.urandom(24 * MIB))
    before = digests(vault)
    result, seen = _add_while(ws, vault, src, big, lambda: change(big))
    assert seen, "the add finished before the file could be changed"
    assert result.returncode == 8, result.stderr
    assert f"{big} changed while it was being read" in _error(result)
    assert result.stdout == ""
    assert digests(vault) == before


def test_file_rewritten_all_the_time_is_refused_or_stored_as_its_digest_says(
    ws: Workspace, vault: Path, tmp_path: Path
) -> None:
    """A writer appending and truncating in a loop for the whole run: add refuses, or the
    stored copy authenticates and matches its own digest (verify); never silently bad."""
    src = tmp_path / "src"
    src.mkdir()
    busy = src / "busy.log"
    busy.write_bytes(b"x" * (2 * MIB))
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            with open(busy, "ab") as handle:
                handle.write(b"y" * 4096)
            os.truncate(busy, 2 * MIB)
            time.sleep(0.0002)  # leave the CPU to medvault

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        result = ws.cli("add", vault, src)
    finally:
        stop.set()
        thread.join()
    assert result.returncode in (0, 8), result.stderr
    if result.returncode == 8:
        assert "changed while it was being read" in _error(result)
        assert _listed(vault) == []
    else:
        assert ws.cli("verify", vault).returncode == 0


def test_source_vanishing_after_planning(ws: Workspace, vault: Path, tmp_path: Path) -> None:
    """The first (large) file is committed and reported; the second is deleted while the
    first is being encrypted: exit 8 names it, and the vault holds exactly what was
    reported as added."""
    src = write_tree(tmp_path / "src", {"a.bin": os.urandom(24 * MIB)})
    doomed = src / "b.txt"
    doomed.write_text("will vanish")
    result, seen = _add_while(ws, vault, src, src / "a.bin", doomed.unlink)
    assert seen
    assert result.returncode == 8, result.stderr
    assert f"cannot read {doomed}: No such file or directory" in _error(result)
    assert "files reported as added are kept" in _hint(result)
    assert result.stdout == "added src/a.bin\n"
    assert _listed(vault) == ["src/a.bin"]


# The vault itself as a source --------------------------------------------------------


def test_the_vault_itself_is_not_a_source(ws: Workspace, vault: Path) -> None:
    before = digests(vault)
    for source, says in (
        (vault, "holds the vault itself"),
        (vault / "MEDVAULT" / "vault.mvh", "is inside the vault itself"),
    ):
        result = ws.cli("add", vault, source)
        assert result.returncode == 2, result.stderr
        assert says in _error(result)
    assert digests(vault) == before


# 8. A vault or object of a newer format ----------------------------------------------


def test_newer_object_format_exits_17(ws: Workspace, vault: Path, tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("from the future")
    _add_in_process(ws, vault, src)
    (part,) = (vault / "MEDVAULT" / "objects").rglob("*.mvo*")
    data = bytearray(part.read_bytes())
    at = data.index(OBJECT_MAGIC) + 12  # magic 8 | header_len 4 | suite u16
    data[at : at + 2] = (3).to_bytes(2, "big")  # suites 1 and 2 are formats 1.0 and 1.1
    part.write_bytes(bytes(data))
    out = tmp_path / "out"
    result = ws.cli("extract", vault, "--to", out)
    assert result.returncode == 17, result.stderr
    assert "written by a newer medvault" in _error(result)
    assert "upgrade medvault" in _hint(result)
    assert list(out.iterdir()) == []


def test_newer_vault_header_exits_17(ws: Workspace, vault: Path) -> None:
    """Both header copies written, checksummed and MACed by the real encoder as a
    version-4 medvault would (the version field and the body's "format")."""
    unlocked = unlock(open_headers(vault), to_secret(PASSPHRASE))
    header = unlocked.require_header()
    newer = dataclasses.replace(header.body, version=4)
    newer_header = dataclasses.replace(header, seq=header.seq + 1, body=newer)
    data = header_auth.seal(unlocked.keys, newer_header)
    assert data[8:10] == b"\x00\x04"
    for copy in (unlocked.paths.header_a, unlocked.paths.header_b):
        copy.write_bytes(data)
    result = ws.cli("ls", vault)
    assert "vault header version 4 is not supported" in _error(result)
    assert result.returncode == 17, result.stderr
    assert "upgrade medvault" in _hint(result)


# 9. Absurd Argon2id parameters in the header -----------------------------------------

RSS_WRAPPER = """
import resource, subprocess, sys, time
start = time.monotonic()
code = subprocess.run(sys.argv[1:]).returncode
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{code} {rss_kib} {time.monotonic() - start:.3f}", file=sys.stderr)
"""


@pytest.mark.parametrize(
    "params",
    [
        {"memory_kib": 4 * 1024**3},  # 4 TiB
        {"time_cost": 10**9},
        {"parallelism": 2**24},
    ],
    ids=["memory-4TiB", "time-1e9", "parallelism-2^24"],
)
def test_absurd_kdf_parameters_are_refused_at_once(
    ws: Workspace, vault: Path, params: dict[str, int]
) -> None:
    unlocked = unlock(open_headers(vault), to_secret(PASSPHRASE))
    header = unlocked.require_header()
    slots = tuple(
        dataclasses.replace(s, **params) if isinstance(s, vault_header.PassphraseSlot) else s
        for s in header.body.slots
    )
    hostile = dataclasses.replace(
        header, seq=header.seq + 1, body=dataclasses.replace(header.body, slots=slots)
    )
    data = header_auth.seal(unlocked.keys, hostile)  # a correct checksum and MAC
    for copy in (unlocked.paths.header_a, unlocked.paths.header_b):
        copy.write_bytes(data)
    env = {**ws.env, "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)}
    argv = [sys.executable, "-c", RSS_WRAPPER, sys.executable, "-m", "medvault", "ls", vault]
    result = subprocess.run(
        [str(a) for a in argv], env=env, capture_output=True, text=True, timeout=60
    )
    *lines, figures = result.stderr.strip().splitlines()
    code, rss_kib, seconds = figures.split()
    assert int(rss_kib) < 200 * 1024, f"RSS {rss_kib} KiB"  # no 4 TiB allocation attempt
    assert float(seconds) < 10
    message = "\n".join(lines)
    assert message.startswith("medvault: error: ") and "Traceback" not in message
    # Refused while parsing the header (both copies), before any key derivation.
    assert int(code) == 4 and "Argon2id" in message and "outside" in message, message


# 10. Another organisation's shares ---------------------------------------------------


def test_other_organisations_shares_recover_nothing(
    ws: Workspace, vault: Path, tmp_path: Path
) -> None:
    src = tmp_path / "records.csv"
    src.write_text("mrn\n1\n")
    _add_in_process(ws, vault, src)
    other_home = tmp_path / "other-org"
    other_home.mkdir()
    other = init_org(
        "Other Hospital",
        "security@other.invalid",
        ["dave", "erin", "frank"],
        2,
        EscrowSuite.MLKEM768_X25519,
        other_home,
        Env().timestamp(),
    )
    ours = [ws.home / "shares" / f"{n}.txt" for n in ("alice", "bob")]
    theirs = list(other.share_paths[:2])
    out = tmp_path / "out"

    def recover(shares: list[Path], *extra: str | Path) -> subprocess.CompletedProcess[str]:
        args: list[str | Path] = ["recover", vault, "--reason", "drill", "--to", out]
        for share in shares:
            args += ["--share", share]
        return ws.cli(*args, *extra, passphrase=False)

    # Their shares checked against our org.toml.
    result = recover(theirs)
    assert result.returncode == 20, result.stderr
    assert "not one of Test Clinic's" in _error(result)
    assert "another organisation" in _error(result)
    # Their shares with their org.toml, on our vault.
    result = recover(theirs, "--org", other.config_path)
    assert result.returncode == 20, result.stderr
    line = _error(result)
    assert "this vault belongs to Test Clinic" in line and "not to Other Hospital" in line
    # One of ours and one of theirs. Each key's shares carry a random 15-bit identifier;
    # when the two keys drew the same one (1 run in 32,768), the shares are told apart only
    # by their digest not holding.
    mixed = [ours[0], theirs[1]]
    same_identifier = len({share_from_file(share).identifier for share in mixed}) == 1
    result = recover(mixed)
    assert result.returncode == 20, result.stderr
    expected = "do not combine" if same_identifier else "different escrow keys"
    assert expected in _error(result)
    assert not out.exists() or list(out.iterdir()) == []
    assert not [e for e in ws.registry().events() if e.event.action == "recover"]
