"""Reference counts and memory of the C core: a million operations leave memory flat, every
error path gives back what it took, and dropped tables are freed (nested ones, cycles too)."""

from __future__ import annotations

import gc
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from core_helpers import core, make_core

from concurrent_tables import TablesError
from concurrent_tables.errors import LockTimeoutError

pytestmark = pytest.mark.timeout(120)


def blocks_after(fn: Callable[[], None], repeat: int = 3) -> list[int]:
    """Allocated blocks after each run of `fn` (after one warm-up run)."""
    fn()
    out = []
    for _ in range(repeat):
        fn()
        gc.collect()
        out.append(sys.getallocatedblocks())
    return out


def flat(xs: list[int], slack: int = 200) -> bool:
    """No growth beyond caches warming up: a leak of one block per operation shows as 10^4+."""
    return max(xs) - min(xs) <= slack


def test_a_million_operations_leave_memory_flat() -> None:
    t = make_core(keys=100)
    key = 10**15 + 1  # a key object no cache shares
    e = t.create_entry()
    t.add_entry(key, e)
    value = "x" * 100
    f_pid, f_comm = t._registry.lookup("pid"), t._registry.lookup("comm")
    refs = (sys.getrefcount(key), sys.getrefcount(value), sys.getrefcount(t))

    def run() -> None:  # 5 operations x 70,000 steps, three times: over a million
        w, r = t.write, t.read
        for i in range(70_000):
            k = key if i & 1 else i % 100
            with w(k) as h:
                h[f_pid] = i
                h[f_comm] = value
            with r(k) as h:
                h[f_pid]

    assert flat(blocks_after(run))
    # The key and the table are referenced exactly as before; `value` by the entries it was
    # stored in (the entry at `key` and the 50 even keys below 100).
    assert (sys.getrefcount(key), sys.getrefcount(t)) == (refs[0], refs[2])
    assert sys.getrefcount(value) == refs[1] + 51
    assert core._free_handles() <= core.FREE_HANDLES


def test_error_paths_give_back_what_they_took() -> None:
    t = make_core(keys=3, timeout=0)
    other = make_core(name="other")
    f_other = other._registry.lookup("pid")
    held = t.write(2)

    def errors() -> None:
        for _ in range(5_000):
            with t.write(1) as h:
                for field, value in (("pid", "x"), ("kind", 300), ("comm", "a\0"), ("ro", 1)):
                    try:
                        h[field] = value
                    except TablesError:
                        pass
                for bad in (f_other, "missing", 3):
                    try:
                        h[bad]
                    except (TablesError, TypeError):
                        pass
                try:
                    t.read(1)
                except TablesError:
                    pass
            for call in (lambda: h["pid"], lambda: t.read(99), lambda: t.read("k")):
                try:
                    call()
                except TablesError:
                    pass
            try:
                t.read(2)
            except LockTimeoutError:
                pass

    box: list[Any] = []
    th = threading.Thread(target=lambda: box.append(blocks_after(errors)), daemon=True)
    th.start()  # a thread other than the holder of key 2, so that read(2) times out
    th.join(100)
    assert box and flat(box[0]), box
    held.release()
    st = t.statistics()
    assert st[4] >= 15_000 and st[6] == 0


def test_dropped_tables_are_freed() -> None:
    t = make_core(keys=50)
    with t.write(3) as h:
        nested = h["fds"]
        e = nested.create_entry()
        nested.add_entry(1, e)
        h["scratch"].append(t)  # a cycle: table -> entry -> private list -> table
    refs = [weakref.ref(t), weakref.ref(nested)]
    domain = t._domain
    domain_refs = sys.getrefcount(domain)
    handle = t.read(4)
    handle.release()
    del t, nested, h, e
    gc.collect()
    assert refs[0]() is not None  # a released handle keeps its table, as a Python one does
    del handle
    gc.collect()
    assert [r() for r in refs] == [None, None]
    assert sys.getrefcount(domain) == domain_refs - 2  # the two tables' references are gone


def test_memory_per_entry_is_close_to_a_list() -> None:
    """Not a benchmark: the entry layout adds a bounded number of bytes to a list's."""
    import tracemalloc

    n = 20_000
    t = make_core(keys=0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for k in range(n):
            t.add_entry(k, t.create_entry())
        core_bytes = (tracemalloc.get_traced_memory()[0] - before) / n
        reg = t._registry
        before = tracemalloc.get_traced_memory()[0]
        d = {k: reg.new_values() for k in range(n)}
        list_bytes = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert len(d) == len(t) == n
    assert core_bytes <= list_bytes + 48, (core_bytes, list_bytes)
