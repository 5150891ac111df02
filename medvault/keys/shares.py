"""M-of-N admin shares of the escrow seed, with SLIP-39 (the reference implementation)."""

from __future__ import annotations

from collections.abc import Sequence

from medvault.errors import UsageError
from medvault.secret import Secret


def split_seed(seed: Secret, threshold: int, holders: int) -> list[str]:
    """One SLIP-39 mnemonic per holder; any ``threshold`` of them rebuild the seed."""
    if not 1 <= threshold <= holders <= 16:
        raise UsageError("need 1 <= threshold <= number of admins <= 16")
    import shamir_mnemonic

    if threshold == 1 and holders > 1:
        raise UsageError("a threshold of 1 with several admins gives every admin the whole key")
    groups = shamir_mnemonic.generate_mnemonics(
        group_threshold=1, groups=[(threshold, holders)], master_secret=seed.reveal()
    )
    return list(groups[0])


def combine_shares(mnemonics: Sequence[str]) -> Secret:
    import shamir_mnemonic

    try:
        return Secret(shamir_mnemonic.combine_mnemonics(list(mnemonics)))
    except shamir_mnemonic.MnemonicError as exc:
        raise UsageError(f"escrow shares do not combine: {exc}") from None
