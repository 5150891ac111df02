"""M-of-N admin shares of the escrow seed, with SLIP-39 (the reference implementation).

Error messages name the share and the position of a bad word, never the words themselves:
a share is a secret even when it is mistyped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from medvault.errors import EscrowRefused, UsageError
from medvault.secret import Secret


class ShareError(EscrowRefused):
    """A share that cannot be used: misspelt, mistyped, or not enough of them."""


@dataclass(frozen=True)
class ParsedShare:
    mnemonic: str
    identifier: int
    member_index: int
    threshold: int
    label: str

    def __repr__(self) -> str:
        return f"ParsedShare({self.label}, member {self.member_index}, <redacted>)"


def split_seed(seed: Secret, threshold: int, holders: int) -> list[str]:
    """One SLIP-39 mnemonic per holder; any ``threshold`` of them rebuild the seed."""
    import shamir_mnemonic

    if not 1 <= threshold <= holders <= 16:
        raise UsageError("need 1 <= threshold <= number of admins <= 16")
    if threshold == 1 and holders > 1:
        raise UsageError("a threshold of 1 with several admins gives every admin the whole key")
    groups = shamir_mnemonic.generate_mnemonics(
        group_threshold=1, groups=[(threshold, holders)], master_secret=seed.reveal()
    )
    return list(groups[0])


def _locate_typo(words: list[str]) -> int | None:
    """The 1-based position of a single mistyped word, if exactly one position can be
    corrected to pass the RS1024 checksum."""
    from shamir_mnemonic import rs1024
    from shamir_mnemonic.share import _customization_string
    from shamir_mnemonic.wordlist import WORD_INDEX_MAP, WORDLIST

    indices = [WORD_INDEX_MAP[w] for w in words]
    hits = set()
    for pos in range(len(indices)):
        original = indices[pos]
        for candidate in range(len(WORDLIST)):
            indices[pos] = candidate
            # The extendable flag (part of the checksum's customisation) sits in word 2.
            extendable = bool((((indices[0] << 10) | indices[1]) >> 4) & 1)
            if candidate != original and rs1024.verify_checksum(
                indices, _customization_string(extendable)
            ):
                hits.add(pos + 1)
                break
        indices[pos] = original
    return hits.pop() if len(hits) == 1 else None


def parse_share(text: str, label: str) -> ParsedShare:
    """Check one share's words and checksum, naming the bad word's position."""
    from shamir_mnemonic import MnemonicError
    from shamir_mnemonic.share import Share
    from shamir_mnemonic.wordlist import WORD_INDEX_MAP

    words = text.lower().split()
    if not words:
        raise ShareError(f"{label}: empty")
    for position, word in enumerate(words, 1):
        if word not in WORD_INDEX_MAP:
            raise ShareError(f"{label}: word {position} is not a SLIP-39 word (check its spelling)")
    try:
        share = Share.from_mnemonic(" ".join(words))
    except MnemonicError as exc:
        if "checksum" in str(exc):
            where = _locate_typo(words)
            detail = f"word {where} looks mistyped" if where else "a word is mistyped or missing"
            raise ShareError(f"{label}: the share's checksum fails: {detail}") from None
        raise ShareError(f"{label}: not a valid share (are all words there?)") from None
    return ParsedShare(
        " ".join(words), share.identifier, share.index, share.member_threshold, label
    )


def combine_parsed(shares: Sequence[ParsedShare]) -> Secret:
    """The seed from at least ``threshold`` distinct shares of one key."""
    import shamir_mnemonic

    if not shares:
        raise ShareError("no escrow shares given")
    if len({s.identifier for s in shares}) > 1:
        raise ShareError("the shares belong to different escrow keys")
    distinct = list({s.member_index: s for s in shares}.values())
    needed = distinct[0].threshold
    if len(distinct) < needed:
        raise ShareError(
            f"{needed} different admins' shares are needed; got {len(distinct)}",
            hint="a single admin cannot recover a vault: that is the point of the quorum",
        )
    try:
        seed = shamir_mnemonic.combine_mnemonics([s.mnemonic for s in distinct[:needed]])
    except shamir_mnemonic.MnemonicError:
        raise ShareError("the shares do not combine (is one from another key?)") from None
    return Secret(seed)


def combine_shares(mnemonics: Sequence[str]) -> Secret:
    return combine_parsed([parse_share(m, f"share {i}") for i, m in enumerate(mnemonics, 1)])
