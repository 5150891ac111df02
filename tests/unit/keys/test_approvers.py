"""One approvers() for recover, reshare and rotate, each naming a share beyond the key's
admin list its own way (a share dealt to more members than the key has admins)."""

from __future__ import annotations

from medvault.keys.shares import ParsedShare, approvers

ADMINS = ("alice", "bob")


def _share(member_index: int, threshold: int = 2) -> ParsedShare:
    return ParsedShare("words", 7, member_index, threshold, f"share {member_index}")


def test_the_first_share_of_each_member_counts_up_to_the_threshold() -> None:
    shares = [_share(1), _share(1), _share(0), _share(1)]
    assert approvers(ADMINS, shares, unnamed=None) == ("bob", "alice")


def test_a_share_beyond_the_admins_is_named_as_each_caller_asks() -> None:
    shares = [_share(0), _share(4)]
    assert approvers(ADMINS, shares, unnamed="holder of share {number}") == (
        "alice",
        "holder of share 5",
    )
    assert approvers(ADMINS, shares, unnamed="unknown") == ("alice", "unknown")
    assert approvers(ADMINS, shares, unnamed=None) == ("alice",)
