"""One error hierarchy: every failure a user can meet has its own class, exit code and hint.

The CLI prints ``medvault: error: <message>`` and, when there is one, ``hint: <hint>``,
then exits with ``exit_code``. docs/CLI.md lists the codes; tests pin them.
"""

from __future__ import annotations

import errno


class MedvaultError(Exception):
    """Base class. Messages never contain secrets or file contents."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class UsageError(MedvaultError):
    exit_code = 2


class WrongPassphrase(MedvaultError):
    exit_code = 3
    hint = "check the passphrase; a security admin can recover the vault with the escrow shares"


class NotAVault(MedvaultError):
    exit_code = 4
    hint = (
        "is the drive plugged in and mounted? give the drive's root (holding MEDVAULT/) "
        "or the MEDVAULT/ folder itself"
    )


class OrgConfigMissing(MedvaultError):
    exit_code = 5
    hint = "pass --org PATH, set MEDVAULT_ORG, or put org.toml in $MEDVAULT_HOME"


class IntegrityError(MedvaultError):
    """Authentication failed: the bytes were damaged or tampered with."""

    exit_code = 6
    hint = "run `medvault verify` to list damage; `medvault repair` fixes headers and the index"


class MediaFull(MedvaultError):
    exit_code = 7
    hint = "free space on the drive (or use a larger one); files reported as added are safe"


class SourceUnreadable(MedvaultError):
    exit_code = 8


class AlreadyExists(MedvaultError):
    exit_code = 9


class VaultBusy(MedvaultError):
    exit_code = 10
    hint = "another medvault process is writing to this vault; wait for it to finish"


class RegistryError(MedvaultError):
    exit_code = 11
    hint = (
        "check that the registry ($MEDVAULT_REGISTRY, or $MEDVAULT_HOME/registry.sqlite) is "
        "reachable and writable by you; `create` writes nothing to the drive without it"
    )


class WeakPassphrase(MedvaultError):
    exit_code = 12
    hint = "use at least 15 characters, or `medvault create --generate-passphrase`"


class NoPassphraseSource(MedvaultError):
    exit_code = 13
    hint = "use --passphrase-fd N, --passphrase-file PATH or MEDVAULT_PASSPHRASE_FILE"


class UnsafePath(MedvaultError):
    exit_code = 14


class ReadOnlyMedia(MedvaultError):
    exit_code = 15
    hint = "the drive is write-protected or mounted read-only"


class NotFound(MedvaultError):
    exit_code = 16


class FormatError(IntegrityError):
    """Bytes that do not parse as the format says (also exit 6)."""


class UnsupportedVersion(MedvaultError):
    exit_code = 17
    hint = "this vault was written by a newer medvault; upgrade medvault"


class CryptoUnavailable(MedvaultError):
    exit_code = 18
    hint = "install cryptography >= 50 built against OpenSSL >= 3.5 (pip install -U cryptography)"


class EscrowRefused(MedvaultError):
    """Escrow recovery could not proceed: shares missing, mistyped, or from another key."""

    exit_code = 20


class KeyCacheRefused(MedvaultError):
    """The OS keyring is missing, refused, or not a secure store (a plaintext file)."""

    exit_code = 21
    hint = (
        "medvault caches keys only in the OS keyring (SecretService, KWallet, Keychain, "
        "Credential Locker); unlock with the passphrase instead"
    )


class AuditChainBroken(MedvaultError):
    """`audit verify` found an edited, missing, inserted or reordered event."""

    exit_code = 22
    hint = "treat the registry as tampered with; compare with an anchored head and backups"


class DriveGone(MedvaultError):
    """The drive went away under the command: unplugged, or its FUSE server died."""

    exit_code = 23
    hint = (
        "plug the drive in (mount it) again and re-run the command; files reported as added "
        "are safe, and the next command cleans up what this one left"
    )
    # What a vanished drive gives: a dead FUSE server (ENOTCONN; ECONNABORTED for a request
    # it was serving when it died: seen in the yank trials), a removed device.
    errnos = frozenset(
        {errno.ENOTCONN, errno.ECONNABORTED, errno.ENODEV, errno.ENXIO, errno.ENOMEDIUM}
    )


class DamageFound(MedvaultError):
    """verify found damaged or missing files."""

    exit_code = 19


class RepairNeeded(MedvaultError):
    """verify found no damage, only work an interrupted write left for `repair` to finish
    (a pack not yet indexed, an index that places entries where they are not)."""

    exit_code = 24
    hint = "run `medvault repair`: it finishes what was interrupted; no file is damaged"


class WriteNotVerified(MedvaultError):
    """What was read back from the drive after a commit was not what was written (a faulty
    drive or driver, a fake-capacity stick): those files were not added."""

    exit_code = 25
    hint = (
        "the drive or its driver is faulty, or it is a fake-capacity stick; files reported "
        "as added before this were read back and are safe: use another drive"
    )
