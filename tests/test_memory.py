"""Memory: a thread-safe table costs (about) no more per entry than a single-threaded one.

A thread-safe table gives an entry a lock only while some thread holds or waits for it, so
idle entries carry nothing extra. Measured with tracemalloc over 50,000 entries (the bound is
loose: at most 1.5x; the measured ratio is ~1.00, at 1,000,000 entries too).
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from typing import Any

import pytest
from conftest import Row

from concurrent_tables import U64, Table

N = 50_000


def build(thread_safe: bool, n: int = N) -> tuple[Table[int, Row], int]:
    """A table of n entries, and the bytes it took (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        t: Table[int, Row] = Table("mem", U64, Row, thread_safe=thread_safe)
        for k in range(n):
            e = t.create_entry()
            e["a"] = k
            t.add_entry(k, e)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return t, used


def touch(t: Table[int, Any], n: int) -> None:
    """Take and release a write handle on n entries from another thread (so: locked ones)."""
    th = threading.Thread(target=lambda: [t.write(k).release() for k in range(n)], daemon=True)
    th.start()
    th.join(60)
    assert not th.is_alive()


@pytest.mark.timeout(60)
def test_thread_safe_entries_cost_no_more_than_single_threaded_ones() -> None:
    _, single = build(thread_safe=False)
    safe_t, safe = build(thread_safe=True)
    ratio = safe / single
    assert single / N > 50  # sanity: the measurement saw the entries
    assert ratio <= 1.5, f"{safe / N:.0f} vs {single / N:.0f} bytes per entry ({ratio:.2f}x)"

    # Entry locks go back to the (bounded) pool: nothing stays per entry that was locked once.
    touched = 20_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        touch(safe_t, touched)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert safe_t.statistics().locks_in_use == 0
    assert safe_t.statistics().acquisitions == touched
    assert grown < 20 * 1024, f"locking {touched} entries once left {grown} bytes behind"
