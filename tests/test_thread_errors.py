"""Misuse raises a typed error at once (never a hang), and leaves the table as it was.

Every test asserts that the error came within a second, that the table is unchanged, that
another thread can then take a write handle within a short timeout (no leaked reader count,
no orphaned writer), and that `statistics().locks_in_use` is back to 0.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import make_table, row_ok, run_threads, usable_from_another_thread

from concurrent_tables import (
    ReentrancyError,
)


def snapshot(t: Any) -> list[tuple[int, int, str]]:
    out = []
    for k in t.keys():
        with t.read(k) as h:
            out.append((k, h["a"], h["tag"]))
    return out


def assert_clean(t: Any, before: list[tuple[int, int, str]], key: int = 0) -> None:
    assert snapshot(t) == before
    assert usable_from_another_thread(t, key)
    assert t.statistics().locks_in_use == 0


@pytest.mark.timeout(10)
def test_other_threads_erase_and_clear_ignore_the_owners_lock_free_handles(
    switchy: None,
) -> None:
    """Regression: a foreign thread's erase/clear took the owner's fast-path handle as its own.

    `held_by_me` looked at `_borrows` (the owner's lock-free handles) for any caller, so another
    thread got ReentrancyError ("this thread holds a handle") for a handle it did not hold, and
    `clear()` iterated `_borrows` while the owner could be changing it.
    """
    t = make_table(3, fast_path=True)
    h = t.write(0)  # the owner, alone: a lock-free handle
    assert t.statistics().acquisitions == 0
    done: list[str] = []

    def other() -> None:
        t.erase_entry(0)  # structural ops do not wait for entry handles
        done.append("erased")
        t.clear()
        done.append("cleared")

    run_threads([other], timeout=5)
    assert done == ["erased", "cleared"]
    assert row_ok(h) and h["a"] == 0  # the owner's handle still sees its (erased) entry
    h["a"] = 7
    h.release()
    assert len(t) == 0
    with pytest.raises(ReentrancyError):  # the owner itself is still refused
        t.add_entry(1, t.create_entry())
        with t.read(1):
            t.erase_entry(1)
    assert t.statistics().locks_in_use == 0
