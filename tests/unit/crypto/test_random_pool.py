"""crypto.symmetric.RandomPool: the CSPRNG drawn in blocks must never hand out a byte twice,
in one process or across a fork (a child repeating its parent's bytes would repeat keys)."""

from __future__ import annotations

import os

from medvault.crypto.symmetric import RandomPool, new_key, random_bytes


def test_no_two_draws_are_equal_and_blocks_refill() -> None:
    pool = RandomPool()
    draws = [pool.take(16) for _ in range(5 * RandomPool.BLOCK // 16)]
    assert len(set(draws)) == len(draws)
    assert all(len(d) == 16 for d in draws)
    assert len(pool.take(RandomPool.BLOCK)) == RandomPool.BLOCK  # large: straight through


def test_handed_out_bytes_are_not_kept_in_the_pool() -> None:
    pool = RandomPool()
    key = pool.take(32)
    assert key not in bytes(pool._block)


def test_a_forked_child_does_not_repeat_the_parents_bytes() -> None:
    random_bytes(16)  # the module pool now holds a block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, random_bytes(64))
        os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    parent = random_bytes(64)
    assert len(child) == 64
    assert child != parent
    assert new_key().reveal() != new_key().reveal()
