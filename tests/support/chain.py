"""The custody registry's hash chain as the tamper tests check it."""

from __future__ import annotations

from medvault.registry.sql import Registry


def assert_chain_breaks_at(registry: Registry, seq: int, reason: str = "") -> None:
    """REGISTRY's chain check finds a problem, first at event SEQ, its reason saying
    REASON (when one is given)."""
    problem = registry.verify_chain()
    assert problem is not None
    assert problem.seq == seq
    assert reason in problem.reason
