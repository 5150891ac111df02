"""The key cache's rules on an OS keychain without a session collection (macOS Keychain,
Windows Credential Locker, KWallet), through an in-memory stand-in registered under the
macOS backend's name (those keychains do not exist on this machine), and its handling of
keyring chains and failures. Each case was seen to fail with one of the mutation campaign's
surviving mutants of keys/keycache.py applied (bench/results/mutation.md)."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring.core
import pytest
from keyring.backends.chainer import ChainerBackend
from keyring.backends.fail import Keyring as FailKeyring
from keyring.errors import PasswordDeleteError

from medvault.errors import KeyCacheRefused
from medvault.keys import keycache
from medvault.secret import Secret

VAULT = "ab" * 16
OTHER_VAULT = "cd" * 16
VMK = Secret(bytes(range(32)))
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(hours=8)


class Keychain:
    """An in-memory keychain, named as keyring's macOS backend is."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}
        self.fail_set: Exception | None = None
        self.fail_delete: Exception | None = None
        self.before_set: list[object] = []

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        for step in self.before_set:
            step()  # type: ignore[operator]
        if self.fail_set is not None:
            raise self.fail_set
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.fail_delete is not None:
            raise self.fail_delete
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


Keychain.__module__ = "keyring.backends.macOS"
Keychain.__qualname__ = "Keyring"


@pytest.fixture
def keychain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Keychain]:
    monkeypatch.setenv("MEDVAULT_HOME", str(tmp_path / "home"))
    store = Keychain()
    monkeypatch.setattr(keyring.core, "_keyring_backend", store)
    old_umask = os.umask(0o022)
    try:
        yield store
    finally:
        os.umask(old_umask)


def _marker(vault_id: str) -> Path:
    return Path(os.environ["MEDVAULT_HOME"]) / "remembered" / vault_id


def test_a_key_is_kept_in_the_keychain_as_a_version_1_entry(keychain: Keychain) -> None:
    assert keycache.remember(VAULT, VMK, EXPIRES) == "keyring"  # no session collection
    entry = json.loads(keychain.entries[(keycache.SERVICE, VAULT)])
    assert entry == {
        "v": 1,
        "key": base64.b64encode(VMK.reveal()).decode(),
        "expires": EXPIRES.isoformat(),
    }
    assert stat.S_IMODE(_marker(VAULT).stat().st_mode) == 0o600
    recalled = keycache.recall(VAULT, NOW)
    assert recalled is not None and recalled.reveal() == VMK.reveal()


def test_the_key_is_cached_until_just_before_its_expiry(keychain: Keychain) -> None:
    keycache.remember(VAULT, VMK, EXPIRES)
    assert keycache.may_be_cached(VAULT, EXPIRES - timedelta(microseconds=1))
    assert not keycache.may_be_cached(VAULT, EXPIRES)


def test_a_shorter_expiry_replaces_the_marker_whole(keychain: Keychain) -> None:
    keycache.remember(VAULT, VMK, EXPIRES + timedelta(microseconds=123456))
    keycache.remember(VAULT, VMK, EXPIRES)  # a shorter text than the first
    assert _marker(VAULT).read_text() == EXPIRES.isoformat() + "\n"
    assert keycache.may_be_cached(VAULT, NOW)


def test_an_expired_key_is_deleted_when_recalled(keychain: Keychain) -> None:
    keycache.remember(VAULT, VMK, EXPIRES)
    assert keycache.recall(VAULT, EXPIRES) is None
    assert keychain.entries == {}
    assert keycache.marked_vaults() == []


def test_the_purge_names_each_vault_it_purged(keychain: Keychain) -> None:
    keycache.remember(VAULT, VMK, EXPIRES)
    keycache.remember(OTHER_VAULT, VMK, EXPIRES)
    assert keycache.purge_expired(EXPIRES) == [VAULT, OTHER_VAULT]
    assert keychain.entries == {}


def test_a_key_deleted_from_the_keychain_meanwhile_is_not_recalled(keychain: Keychain) -> None:
    keycache.remember(VAULT, VMK, EXPIRES)
    keychain.entries.clear()  # by the keychain's own app, say
    assert keycache.recall(VAULT, NOW) is None


def test_an_expired_marker_with_an_insecure_keyring_recalls_nothing(
    keychain: Keychain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delete is refused (no secure keyring), which recall does not turn into an error;
    the marker stays, so the next start tries again."""
    keycache.remember(VAULT, VMK, EXPIRES)
    monkeypatch.setattr(keyring.core, "_keyring_backend", FailKeyring())
    assert keycache.recall(VAULT, EXPIRES) is None
    assert keycache.marked_vaults() == [VAULT]


def test_a_damaged_entry_that_cannot_be_deleted_recalls_nothing(keychain: Keychain) -> None:
    keycache.remember(VAULT, VMK, EXPIRES)
    keychain.entries[(keycache.SERVICE, VAULT)] = "not an entry"
    keychain.fail_delete = RuntimeError("locked")
    assert keycache.recall(VAULT, NOW) is None
    assert keycache.marked_vaults() == [VAULT]


def test_a_refused_store_is_reported_even_if_the_marker_went_meanwhile(
    keychain: Keychain,
) -> None:
    keychain.before_set.append(lambda: _marker(VAULT).unlink())  # another medvault's lock
    keychain.fail_set = RuntimeError("locked")
    with pytest.raises(KeyCacheRefused, match="could not store the key: RuntimeError"):
        keycache.remember(VAULT, VMK, EXPIRES)


class _Chain(ChainerBackend):
    def __init__(self, chained: list[object]) -> None:
        super().__init__()
        self.chained = chained

    @property
    def backends(self) -> list[object]:
        return self.chained


@pytest.mark.parametrize(
    ("chained", "named"),
    [([], "none"), ([FailKeyring()], "keyring.backends.fail.Keyring")],
    ids=["empty", "insecure"],
)
def test_a_chain_of_keyrings_is_judged_by_its_members(
    keychain: Keychain, monkeypatch: pytest.MonkeyPatch, chained: list[object], named: str
) -> None:
    chain = _Chain(chained)
    monkeypatch.setattr(keyring.core, "_keyring_backend", chain)
    with pytest.raises(KeyCacheRefused) as caught:
        keycache.secure_backend()
    assert caught.value.message == (
        f"the keyring backend here ({named}) is not a secure OS keyring"
    )


def test_a_chain_of_secure_keychains_uses_its_first(
    keychain: Keychain, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = _Chain([keychain, Keychain()])
    monkeypatch.setattr(keyring.core, "_keyring_backend", chain)
    assert keycache.secure_backend() is keychain
