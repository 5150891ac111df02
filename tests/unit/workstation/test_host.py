"""The host name that lock files and custody events record is the one socket gives, with
or without uname (Windows has none)."""

from __future__ import annotations

import os
import socket

import pytest

from medvault.workstation.host import host_name


def test_host_name_is_what_socket_answers() -> None:
    assert host_name() == socket.gethostname()


def test_host_name_without_uname_asks_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "uname")
    monkeypatch.setattr(socket, "gethostname", lambda: "ward-7-pc")
    assert host_name() == "ward-7-pc"
