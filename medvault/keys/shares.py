"""M-of-N admin shares of the escrow seed, with SLIP-39 (the reference implementation).

Error messages name the share and the position of a bad word, never the words themselves:
a share is a secret even when it is mistyped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from medvault.errors import EscrowRefused, UsageError
from medvault.secret import Secret

# A 256-bit escrow seed gives 33-word shares. Longer input is refused before the typo
# search, which costs words x 1024 checksums of the whole share (quadratic in the length).
MAX_SHARE_WORDS = 33


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


def _fixable_at(indices: list[int], pos: int, custom: bytes, flag_bit: int | None) -> bool:
    """Whether changing word POS alone (by some XOR d != 0) passes the RS1024 checksum under
    customisation CUSTOM; with FLAG_BIT, d must have that bit as given (word 2's bit 4 picks
    the customisation). The checksum is affine over GF(2), so changing word p by d changes
    it by L_p(d), linear in d: ten probes give L_p, then each d costs one XOR."""
    from shamir_mnemonic.rs1024 import _polymod

    values = list(custom) + indices
    target = _polymod(values) ^ 1  # the change that would make the checksum pass
    zero = [0] * len(values)
    base = _polymod(zero)
    at = len(custom) + pos
    basis = []
    for bit in range(10):
        zero[at] = 1 << bit
        basis.append(_polymod(zero) ^ base)
    change = [0] * 1024
    for delta in range(1, 1024):
        low = delta & -delta
        change[delta] = change[delta ^ low] ^ basis[low.bit_length() - 1]
        if change[delta] == target and (flag_bit is None or (delta >> 4) & 1 == flag_bit):
            return True
    return False


def _length_is_valid(count: int) -> bool:
    """Whether COUNT words can be a share (what SLIP-39 checks before the checksum)."""
    from shamir_mnemonic.constants import (
        METADATA_LENGTH_WORDS,
        MIN_MNEMONIC_LENGTH_WORDS,
        RADIX_BITS,
    )

    padding: int = (RADIX_BITS * (count - METADATA_LENGTH_WORDS)) % 16
    minimum: int = MIN_MNEMONIC_LENGTH_WORDS
    return count >= minimum and padding <= 8


def _checksum_holds(words: list[str]) -> bool:
    """Whether the words pass their RS1024 checksum (customised by the extendable flag)."""
    from shamir_mnemonic import rs1024
    from shamir_mnemonic.share import _customization_string
    from shamir_mnemonic.wordlist import WORD_INDEX_MAP

    indices = [WORD_INDEX_MAP[w] for w in words]
    extendable = bool(len(indices) > 1 and (indices[1] >> 4) & 1)
    return bool(rs1024.verify_checksum(indices, _customization_string(extendable)))


def _locate_typo(words: list[str]) -> int | None:
    """The 1-based position of a single mistyped word, if exactly one position can be
    corrected to pass the RS1024 checksum."""
    from shamir_mnemonic.share import _customization_string
    from shamir_mnemonic.wordlist import WORD_INDEX_MAP

    indices = [WORD_INDEX_MAP[w] for w in words]
    # The extendable flag (part of the checksum's customisation) is bit 4 of word 2.
    extendable = bool(len(indices) > 1 and (indices[1] >> 4) & 1)
    same, other = _customization_string(extendable), _customization_string(not extendable)
    hits = set()
    for pos in range(len(indices)):
        if pos == 1:
            fixable = _fixable_at(indices, pos, same, 0) or _fixable_at(indices, pos, other, 1)
        else:
            fixable = _fixable_at(indices, pos, same, None)
        if fixable:
            hits.add(pos + 1)
    return hits.pop() if len(hits) == 1 else None


def parse_share(text: str, label: str) -> ParsedShare:
    """Check one share's words and checksum, naming the bad word's position."""
    from shamir_mnemonic import MnemonicError
    from shamir_mnemonic.share import Share
    from shamir_mnemonic.wordlist import WORD_INDEX_MAP

    words = text.lower().split()
    if not words:
        raise ShareError(f"{label}: empty")
    if len(words) > MAX_SHARE_WORDS:
        raise ShareError(
            f"{label}: {len(words)} words; a share has at most {MAX_SHARE_WORDS} "
            "(one share per line or file)"
        )
    for position, word in enumerate(words, 1):
        if word not in WORD_INDEX_MAP:
            raise ShareError(f"{label}: word {position} is not a SLIP-39 word (check its spelling)")
    try:
        share = Share.from_mnemonic(" ".join(words))
    except MnemonicError:
        if _length_is_valid(len(words)) and not _checksum_holds(words):
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


def approvers(
    admins: Sequence[str], shares: Sequence[ParsedShare], unnamed: str | None
) -> tuple[str, ...]:
    """Who approved with SHARES (combined, so one key's): the admin of each distinct share
    the quorum used, from ADMINS, the escrow key's admins in the order they were dealt.
    A share numbered beyond ADMINS is named UNNAMED with {number} filled in, or left out
    when UNNAMED is None: each caller says which (the recovery names the holder, reshare
    says "unknown", rotate leaves it out)."""
    used = list({s.member_index: s for s in shares}.values())[: shares[0].threshold]
    named: list[str] = []
    for share in used:
        if share.member_index < len(admins):
            named.append(admins[share.member_index])
        elif unnamed is not None:
            named.append(unnamed.format(number=share.member_index + 1))
    return tuple(named)
