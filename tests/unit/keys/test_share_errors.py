"""What a mistyped escrow share is told: a wrong word is a checksum failure (naming the
word when only one fits), a share with a word missing or extra is not a share at all."""

from __future__ import annotations

import pytest
import shamir_mnemonic

from medvault.keys.shares import ShareError, parse_share


def _share(secret_bytes: int) -> list[str]:
    groups = shamir_mnemonic.generate_mnemonics(1, [(1, 1)], b"\x07" * secret_bytes)
    return str(groups[0][0]).split()


@pytest.mark.parametrize("secret_bytes", [16, 32])
def test_a_share_with_a_word_missing_is_not_a_share(secret_bytes: int) -> None:
    words = _share(secret_bytes)
    with pytest.raises(ShareError) as caught:
        parse_share(" ".join(words[:-1]), "share 1")
    assert caught.value.message == "share 1: not a valid share (are all words there?)"


def test_a_share_with_a_word_too_many_is_not_a_share() -> None:
    words = _share(16)
    with pytest.raises(ShareError) as caught:
        parse_share(" ".join([*words, words[-1]]), "share 1")
    assert caught.value.message == "share 1: not a valid share (are all words there?)"


def test_a_wrong_word_in_a_share_of_valid_length_is_a_checksum_failure() -> None:
    words = _share(16)
    words[5] = "academic" if words[5] != "academic" else "acid"
    with pytest.raises(ShareError) as caught:
        parse_share(" ".join(words), "share 1")
    assert caught.value.message.startswith("share 1: the share's checksum fails: ")


def test_a_share_as_generated_parses() -> None:
    words = _share(16)
    parsed = parse_share(" ".join(words).upper(), "share 1")
    assert parsed.threshold == 1
