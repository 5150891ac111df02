"""workstation/mounts.py: the one place medvault asks the system what is mounted. On Linux
it reads /proc/self/mountinfo; elsewhere (or with /proc hidden) psutil. Both sources are
checked against each other here, on real mounts: the local disk, /dev/shm, FAT32 and exFAT
images (the FUSE file systems of USB sticks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medvault.workstation import mounts
from tests.support.media import EXFAT, FAT32, fuse_available, missing_tools, mounted

SOURCES = ("mountinfo", "psutil")


@pytest.mark.parametrize("source", SOURCES)
def test_both_sources_list_this_machines_mounts(source: mounts.Source) -> None:
    listed = mounts.mounts(source)
    assert listed is not None and len(listed) > 3
    assert any(m.point == Path("/") for m in listed)


def test_the_sources_agree_on_every_mount_point_and_type() -> None:
    by_info = {(m.point, m.fstype) for m in mounts.mounts("mountinfo") or []}
    by_psutil = {(m.point, m.fstype) for m in mounts.mounts("psutil") or []}
    assert by_psutil and by_psutil <= by_info


@pytest.mark.parametrize("source", SOURCES)
def test_the_file_system_of_a_path_and_of_a_device(source: mounts.Source, tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if mounts.filesystem_of(shm, "mountinfo") != "tmpfs":
        pytest.skip("/dev/shm is not a tmpfs on this machine")
    assert mounts.filesystem_of(shm / "no-such-file", source) == "tmpfs"
    local = mounts.by_device(os.stat(tmp_path).st_dev, source)
    assert local is not None
    assert local.fstype == mounts.filesystem_of(tmp_path, source) != ""
    assert local.fstype == mounts.filesystem_of(tmp_path, "mountinfo")


@pytest.mark.parametrize("kind", [FAT32, EXFAT])
def test_a_stick_is_found_by_path_and_device_from_both_sources(kind: str, tmp_path: Path) -> None:
    reason = fuse_available() or missing_tools(kind)
    if reason:
        pytest.skip(reason)
    with mounted(kind, tmp_path) as stick:
        inside = stick.mountpoint / "folder"
        inside.mkdir()
        device = os.stat(inside).st_dev
        found = {s: mounts.holding(inside, device, s) for s in SOURCES}
        assert {s: m.point if m else None for s, m in found.items()} == dict.fromkeys(
            SOURCES, stick.mountpoint
        )
        assert {m.fstype for m in found.values() if m} == {mounts.filesystem_of(inside)}
        assert mounts.filesystem_of(inside).startswith("fuse")
        for source in SOURCES:
            at = mounts.by_device(device, source)
            assert at is not None and at.point == stick.mountpoint
            assert mounts.still_mounted(at, source) is True
        gone = {s: mounts.by_device(device, s) for s in SOURCES}
    for source, was in gone.items():
        assert was is not None and mounts.still_mounted(was, source) is False


def test_mountinfo_names_are_unescaped_and_bad_lines_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "garbage line without the separator\n"
        "23 22 x:y / /broken rw - ext4 /dev/sdb rw\n"
        "24 22 8:17 / /media/USB\\040STICK rw,nosuid - vfat /dev/sdb1 rw\n"
        "25 22 0:50 / /media/USB\\040STICK rw - fuse.fusefat /dev/loop0 rw\n"
        "26 22 0:51 / /short rw -\n"
    )
    monkeypatch.setattr(mounts, "MOUNTINFO", info)
    listed = mounts.mounts("mountinfo")
    assert listed is not None
    assert [m.mount_id for m in listed] == ["22", "24", "25"]
    stick = Path("/media/USB STICK")
    assert listed[1].point == stick and listed[1].options == {"rw", "nosuid"}
    assert listed[1].device == os.makedev(8, 17) and listed[1].source == "/dev/sdb1"
    # Two mounts at one point: the later is on top.
    assert mounts.filesystem_of(stick / "a") == "fuse.fusefat"
    assert mounts.holding(stick / "a", os.makedev(8, 17), "mountinfo") == listed[1]
    assert mounts.by_device(os.makedev(0, 50), "mountinfo") == listed[2]
    assert mounts.filesystem_of(Path("/elsewhere")) == "ext4"


def test_a_mount_id_given_to_another_mount_is_not_the_same_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linux hands a freed mount ID to the next mount: a stick pulled while another is
    mounted elsewhere must read as gone (seen when two FUSE mounts came and went at once)."""
    info = tmp_path / "mountinfo"
    monkeypatch.setattr(mounts, "MOUNTINFO", info)
    info.write_text("30 22 0:60 / /media/a rw - fuse.fusefat /dev/loop0 rw\n")
    stick = mounts.by_device(os.makedev(0, 60), "mountinfo")
    assert stick is not None and mounts.still_mounted(stick, "mountinfo") is True
    info.write_text("30 22 0:61 / /media/b rw - fuse.fusefat /dev/loop1 rw\n")
    assert mounts.still_mounted(stick, "mountinfo") is False
    info.write_text("30 22 0:60 / /media/b rw - fuse.fusefat /dev/loop1 rw\n")
    assert mounts.still_mounted(stick, "mountinfo") is False


def test_without_mountinfo_psutil_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on macOS and Windows (and with /proc hidden): the fallback is used."""
    monkeypatch.setattr(mounts, "MOUNTINFO", tmp_path / "missing")
    assert mounts.mounts("mountinfo") is None
    listed = mounts.mounts()
    assert listed is not None and all(m.mount_id is None for m in listed)
    local = mounts.by_device(os.stat(tmp_path).st_dev)
    assert local is not None and local.device is None
    assert local.fstype == mounts.filesystem_of(tmp_path, "psutil") != ""


def test_a_mount_no_longer_listed_is_not_still_mounted() -> None:
    made_up = mounts.Mount(Path("/nowhere"), "vfat", "/dev/sdz1", frozenset(), None, None)
    assert mounts.still_mounted(made_up, "psutil") is False
    assert mounts.still_mounted(made_up, "mountinfo") is False
    with_id = mounts.Mount(Path("/"), "ext4", "", frozenset(), None, "no-such-id")
    assert mounts.still_mounted(with_id) is False


def test_mountinfo_lines_of_every_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every escape the kernel writes; a line with no source (fstype last); one with a
    source and no super options; bytes that are not UTF-8; lines to skip anywhere (long
    ones without the separator, short ones before good ones)."""
    info = tmp_path / "mountinfo"
    info.write_bytes(
        b"40 1 0:70 / /a\\011tab\\012nl\\134bs rw - tmpfs none rw\n"
        b"41 1 0:71 / /short-before rw -\n"
        b"no separator in this line but more than six fields\n"
        b"45 1 0:75 / - rw\n"
        b"46 1 - / /separator-too-early rw\n"
        b"42 1 0:72 / /no-source rw - tmpfs\n"
        b"43 1 0:73 / /no-super-options rw - vfat /dev/sdc1\n"
        b"44 1 0:74 / /caf\xe9 rw - tmpfs latin1 rw\n"
    )
    monkeypatch.setattr(mounts, "MOUNTINFO", info)
    listed = mounts.mounts("mountinfo")
    assert listed is not None
    assert [(m.mount_id, str(m.point), m.fstype, m.source) for m in listed] == [
        ("40", "/a\ttab\nnl\\bs", "tmpfs", "none"),
        ("42", "/no-source", "tmpfs", ""),
        ("43", "/no-super-options", "vfat", "/dev/sdc1"),
        ("44", "/caf\ufffd", "tmpfs", "latin1"),
    ]


def test_psutil_gives_each_mount_its_source_and_options() -> None:
    """psutil's list (macOS, Windows) carries sources and split options, as mountinfo's
    does for the same mount points."""
    by_psutil = mounts.mounts("psutil")
    by_info = mounts.mounts("mountinfo")
    assert by_psutil and by_info
    for mount in by_psutil:
        assert isinstance(mount.source, str)
        assert mount.options and all(o and "," not in o for o in mount.options)
    root = [m for m in by_psutil if m.point == Path("/")][-1]
    assert root.source == [m for m in by_info if m.point == Path("/")][-1].source != ""
    assert {"rw", "ro"} & root.options


def test_each_question_asks_the_source_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With mountinfo saying something made up, a question asked of psutil gets psutil's
    answer, and the same question asked of mountinfo (or by default) gets the made-up one."""
    info = tmp_path / "mountinfo"
    info.write_text("50 1 0:90 / / rw - madeupfs /dev/nothing rw\n")
    monkeypatch.setattr(mounts, "MOUNTINFO", info)
    real = mounts.filesystem_of(tmp_path, "psutil")
    assert real not in ("", "madeupfs")
    assert (
        mounts.filesystem_of(tmp_path)
        == mounts.filesystem_of(tmp_path, "mountinfo")
        == ("madeupfs")
    )
    listed = mounts.mounts("psutil")
    assert listed and all(m.mount_id is None for m in listed)
    held = mounts.holding(tmp_path, source="psutil")
    assert held is not None and held.fstype == real and held.device is None
    made_up = mounts.Mount(Path("/"), "madeupfs", "/dev/nothing", frozenset(), None, None)
    assert mounts.still_mounted(made_up) is True
    assert mounts.still_mounted(made_up, "psutil") is False  # "/" is there, not its type


def test_nothing_listed_is_no_mount_and_no_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "mountinfo"
    info.write_text("")
    monkeypatch.setattr(mounts, "MOUNTINFO", info)
    assert mounts.mounts() == []
    assert mounts.filesystem_of(tmp_path) == ""
    assert mounts.holding(tmp_path) is None
    assert mounts.by_device(os.stat(tmp_path).st_dev) is None


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown source of mounts"):
        mounts.mounts("proc")  # type: ignore[arg-type]
