"""On fusefat FAT32 (4 KiB clusters, mkfs's choice for a 448 MiB
stick, and 512-byte clusters) and on exFAT, files of 0 B, 4 MiB - 1, 4 MiB + 1, 9,000,000 B
and a big one plus 2,000 small files are added with one `added` line each; after the stick
is unmounted and mounted again every file extracts byte-identical, `verify` exits 0 and fsck
finds nothing to fix. The big file is 300,000,000 B on 4 KiB clusters (73,243 clusters, the
mkfs default a user's stick gets) and on exFAT; on 512-byte clusters it is 40,000,000 B
(78,125 clusters): a chain as long as the 300 MB one on 4 KiB clusters, past 2^16 clusters
(32 MiB there), for half the test's time (fusefat is slowest on 512-byte clusters).

fusefat 0.1a loses data on any write that is not one front-to-back run per open handle
(tests/media/test_write_discipline.py is the fast guard for that rule); this test is the end to
end proof on the real drivers. Images are sparse (in tmp_path); the source files and the
extracted copy are in /dev/shm when it has room (else tmp_path) and are deleted as soon as
they are compared, so a run needs about 1 GB of the two.
"""

from __future__ import annotations

import filecmp
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.support import media

pytestmark = pytest.mark.fuse

MiB = 1024 * 1024
SIZES = {
    "zero.bin": 0,
    "four-1.bin": 4 * MiB - 1,
    "four+1.bin": 4 * MiB + 1,
    "nine.bin": 9_000_000,
}
BIG = "big.bin"
# The big file per medium: a chain of more than 2^16 clusters on both FAT32 cluster sizes.
BIG_BYTES = {"fat32-4k": 300_000_000, "fat32-512": 40_000_000, "exfat": 300_000_000}
SMALL_FILES = 2000
IMAGE_MIB = 448  # big enough for 300 MB twice over; FAT32 gets 4 KiB clusters by default
TIMEOUT_S = 900

MEDIA = [
    pytest.param(media.FAT32, 4096, BIG_BYTES["fat32-4k"], id="fat32-4k"),
    pytest.param(media.FAT32, 512, BIG_BYTES["fat32-512"], id="fat32-512"),
    pytest.param(media.EXFAT, None, BIG_BYTES["exfat"], id="exfat"),
]


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        left = size
        while left:
            piece = min(left, 8 * MiB)
            handle.write(os.urandom(piece))
            left -= piece


def _source(root: Path, big_bytes: int) -> list[str]:
    """The files under ROOT/batch, as `add ROOT/batch` names them."""
    batch = root / "batch"
    (batch / "small").mkdir(parents=True)
    for name, size in {**SIZES, BIG: big_bytes}.items():
        _write_random(batch / name, size)
    sizes = random.Random(18)
    for n in range(SMALL_FILES):
        (batch / "small" / f"msg-{n:05d}.hl7").write_bytes(os.urandom(sizes.randint(200, 2000)))
    return sorted(p.relative_to(root).as_posix() for p in batch.rglob("*") if p.is_file())


@pytest.fixture
def local_side(tmp_path: Path) -> Iterator[Path]:
    """A RAM-backed folder (/dev/shm) for the source files and the extracted copy when it
    has room for both, else tmp_path. What is tested is the stick's file system; on disk,
    writing the sources and the copy and reading both back to compare is disk time (and
    sync(2), which medvault calls after each fsync on fusefat, flushes the sources too)."""
    need = 2 * max(BIG_BYTES.values()) + 256 * MiB
    shm = Path("/dev/shm")
    try:
        stat = os.statvfs(shm)
        roomy = os.access(shm, os.W_OK) and stat.f_bavail * stat.f_frsize > need
    except OSError:
        roomy = False
    if not roomy:
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="medvault-patterns-") as name:
        yield Path(name)


def _differing(src: Path, out: Path, names: list[str]) -> list[str]:
    return [
        name
        for name in names
        if not (out / name).is_file() or not filecmp.cmp(src / name, out / name, shallow=False)
    ]


@pytest.mark.parametrize("cluster_bytes", [512, 4096])
def test_the_fat32_images_have_the_cluster_size_they_are_named_for(
    tmp_path: Path, cluster_bytes: int
) -> None:
    """Checked on its own: a wrong size in the slow test would hide behind its xfail."""
    if shutil.which("mkfs.vfat") is None or shutil.which("fsck.vfat") is None:
        pytest.skip("dosfstools not installed (see .ci/run for the packages)")
    image = tmp_path / "fat32.img"
    media.make_image(media.FAT32, image, IMAGE_MIB, None if cluster_bytes == 4096 else 512)
    assert media.fat32_cluster_bytes(image) == cluster_bytes


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "cluster_bytes", "big_bytes"), MEDIA)
def test_every_size_survives_a_remount(
    ws: Workspace,
    tmp_path: Path,
    local_side: Path,
    kind: str,
    cluster_bytes: int | None,
    big_bytes: int,
) -> None:
    reason = media.missing_tools(kind)
    if reason is not None:
        pytest.skip(reason)
    src, out, image = local_side / "src", local_side / "out", tmp_path / f"{kind}.img"
    mountpoint = tmp_path / "mnt"
    names = _source(src, big_bytes)
    # FAT32 4 KiB is mkfs's own choice for this size (what a user's stick gets): not forced.
    media.make_image(kind, image, IMAGE_MIB, None if cluster_bytes == 4096 else cluster_bytes)
    if kind == media.FAT32:
        assert media.fat32_cluster_bytes(image) == cluster_bytes
        assert big_bytes > 2**16 * cluster_bytes  # the big file's chain: past 2^16 clusters
    try:
        with media.mount_image(kind, image, mountpoint) as stick:
            ws.create_fast(stick.mountpoint, "patterns")
            added = ws.cli("add", "-v", stick.mountpoint, src / "batch", timeout=TIMEOUT_S)
        assert added.returncode == 0, added.stderr
        lines = added.stdout.splitlines()
        reported = sorted(line[len("added ") :] for line in lines if line.startswith("added "))
        assert reported == names
        with media.mount_image(kind, image, mountpoint) as stick:
            extracted = ws.cli("extract", stick.mountpoint, "--to", out, timeout=TIMEOUT_S)
            assert extracted.returncode == 0, extracted.stderr
            assert _differing(src, out, names) == []
            shutil.rmtree(out)
            verified = ws.cli("verify", stick.mountpoint, timeout=TIMEOUT_S)
            assert verified.returncode == 0, verified.stdout + verified.stderr
        checked = media.fsck_image(kind, image)
        assert checked.returncode == 0, checked.output
    finally:
        for big in (src, out):
            shutil.rmtree(big, ignore_errors=True)
        image.unlink(missing_ok=True)
