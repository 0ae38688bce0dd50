"""Reader/writer state of C-core entries: who waits, who is refused, timeouts, statistics.

Threads block only when they must: a writer waits for readers and writers, a reader for a
writer or a queued writer (FIFO), unless the reader already reads the entry (a second read
shares the first). Conflicts with the thread's own handles raise at once.
"""

from __future__ import annotations

import math
import random
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from core_helpers import core, in_thread, in_use, make_core, start, usable, wait_until

from concurrent_tables.errors import (
    BorrowError,
    EntryNotFoundError,
    LockTimeoutError,
    ReentrancyError,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def switchy() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def queued(t: Any, key: Any, n: int = 1) -> bool:
    return wait_until(lambda: t._entry_state(key)[2] >= n)


def test_writer_waits_for_reader_then_runs() -> None:
    t = make_core()
    r = t.read(0)
    th, box = start(lambda: t.write(0, 5).release())
    assert queued(t, 0)
    assert t._entry_state(0) == (1, 1, 1)
    r.release()
    th.join(5)
    assert box == [None] and t._entry_state(0) == (0, 0, 0) and in_use(t) == 0
    st = t.statistics()
    assert st[2] == 1 and st[3] > 0  # contended, longest wait


def test_readers_queue_behind_a_waiting_writer_but_a_second_read_does_not() -> None:
    t = make_core()
    first = t.read(0)
    wt, wbox = start(lambda: t.write(0, 5).release())
    assert queued(t, 0)
    # Another thread's reader queues behind the writer (FIFO: writers are not starved) ...
    rt, rbox = start(lambda: t.read(0, 5).release())
    assert queued(t, 0, 2)
    # ... but this thread, which already reads the entry, reads again at once.
    with t.read(0, 0) as again:
        assert again["pid"] == 0
    assert t._entry_state(0) == (1, 1, 2)
    first.release()
    wt.join(5)
    rt.join(5)
    assert wbox == [None] and rbox == [None] and t._entry_state(0) == (0, 0, 0)


def test_readers_share() -> None:
    t = make_core()
    with t.read(1) as a:
        b = in_thread(lambda: t.read(1, 0))
        assert t._entry_state(1) == (2, 2, 0)
        assert a["pid"] == 1
    assert t._entry_state(1) == (1, 1, 0)
    del b  # another thread's handle, dropped here: released with a ResourceWarning
    assert t._entry_state(1) == (0, 0, 0)


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_other_keys_never_wait() -> None:
    t = make_core()
    with t.write(0):
        assert in_thread(lambda: t.write(1, 0).release()) is None


@pytest.mark.parametrize("thread_safe", [True, False], ids=["thread-safe", "confined"])
def test_own_conflicts_raise_at_once(thread_safe: bool) -> None:
    t = make_core(thread_safe=thread_safe)
    err = ReentrancyError if thread_safe else BorrowError
    verb = "deadlock" if thread_safe else "conflict"
    with t.write(0):
        with pytest.raises(err, match=f"already holds a write handle; a read handle would {verb}"):
            t.read(0)
        with pytest.raises(err, match="a write handle would"):
            t.write(0)
        with t.write(1):
            pass
    with t.read(0), pytest.raises(err, match="already holds a read handle; a write handle"):
        t.write(0)
    assert t.statistics()[5] == 3 and in_use(t) == 0
    assert usable(t, 0) if thread_safe else t._entry_state(0) == (0, 0, 0)


def test_erase_and_clear_refuse_own_handles() -> None:
    t = make_core()
    with t.read(1):
        with pytest.raises(ReentrancyError, match="cannot erase an entry this thread holds"):
            t.erase_entry(1)
        with pytest.raises(ReentrancyError, match="cannot clear a table while"):
            t.clear()
        assert in_thread(lambda: t.erase_entry(2)) is None  # another thread's erase: fine
    with pytest.raises(EntryNotFoundError):
        t.erase_entry(2)
    t.clear()
    assert len(t) == 0 and t.keys() == []


def test_handle_keeps_erased_or_replaced_entry() -> None:
    t = make_core()
    h = t.write(1)
    assert in_thread(lambda: t.erase_entry(1)) is None
    h["pid"] = 42  # writes to the erased entry
    assert h["pid"] == 42
    e = t.create_entry()
    e["pid"] = 7
    assert t.add_entry(1, e) is False

    def read_pid() -> int:
        with t.read(1, 0) as r:
            return int(r["pid"])

    assert in_thread(read_pid) == 7  # another thread reads the new entry at once
    # This thread still holds the key (through its old entry): conflicts are per key.
    with pytest.raises(ReentrancyError):
        t.read(1, 0)
    with pytest.raises(ReentrancyError):
        t.erase_entry(1)
    h.release()
    with t.write(1, 0) as w:
        assert w["pid"] == 7


@pytest.mark.parametrize("change", ["erase", "replace"])
def test_waiter_rechecks_the_entry_after_waiting(change: str) -> None:
    """A thread granted an entry erased or replaced while it waited starts again."""
    t = make_core()
    h = t.write(1)

    def read_pid() -> int:
        with t.read(1, 5) as r:
            return int(r["pid"])

    th, box = start(read_pid)
    assert queued(t, 1)

    def change_it() -> None:
        if change == "erase":
            t.erase_entry(1)
        else:
            e = t.create_entry()
            e["pid"] = 99
            t.add_entry(1, e, replace=True)

    assert in_thread(change_it) is None
    h.release()
    th.join(5)
    if change == "erase":
        assert isinstance(box[0], EntryNotFoundError)
    else:
        assert box == [99]
    assert in_use(t) == 0


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_timeouts() -> None:
    t = make_core(timeout=0.05)
    h = t.write(0)

    def attempt(timeout: Any = ...) -> Any:
        def run() -> Any:
            t0 = time.monotonic()
            try:
                (t.read(0) if timeout is ... else t.read(0, timeout)).release()
            except LockTimeoutError as exc:
                return exc, time.monotonic() - t0
            return None

        return in_thread(run)

    exc, took = attempt()  # the table's default
    assert "timed out after 0.05s acquiring a read handle on entry 0 of table 'rec'" in str(exc)
    assert 0.04 < took < 2
    exc, took = attempt(0)
    assert isinstance(exc, LockTimeoutError) and took < 1
    exc, took = attempt(0.02)
    assert isinstance(exc, LockTimeoutError) and exc.timeout == 0.02
    for bad in (-1, -0.5, math.nan, "1"):
        r = in_thread(lambda bad=bad: t.read(0, bad))
        assert isinstance(r, (ValueError, TypeError)), bad
    assert t.statistics()[4] == 3
    # None, inf and huge values wait for ever, never OverflowError.
    for forever in (None, math.inf, 1e300, 10**400, 2**63):
        th, box = start(lambda forever=forever: t.read(0, forever).release())
        assert queued(t, 0)
        time.sleep(0.06)
        assert th.is_alive()
        h.release()
        th.join(5)
        assert box == [None], forever
        h = t.write(0)
    h.release()
    for value in (None, math.inf, 10**400, 0, 2.5):
        t.timeout = value
        assert t.timeout == value
    with pytest.raises(ValueError):
        t.timeout = -1
    assert in_use(t) == 0


def test_statistics_count_every_held_handle() -> None:
    for thread_safe in (True, False):
        t = make_core(thread_safe=thread_safe)
        assert t.statistics() == (thread_safe, 0, 0, 0.0, 0, 0, 0)
        a, b, c = t.read(0), t.read(0), t.write(1)
        st = t.statistics()
        assert st[1] == 3 and st[6] == 2
        for h in (a, b, c):
            h.release()
        assert t.statistics()[6] == 0


def test_tracer_sees_every_lock_point() -> None:
    t = make_core()
    seen: list[tuple[Any, ...]] = []
    old = core.set_tracer(lambda *a: seen.append(a))
    try:
        with t.write(1):
            pass
        t.read(2).release()
        assert in_thread(lambda: t.read(2).release()) is None
    finally:
        assert core.set_tracer(old) is not None
    events = [(ev, key, write) for ev, dom, table, key, write in seen]
    assert events == [
        ("acquire", 1, True), ("acquired", 1, True), ("release", 1, True),
        ("acquire", 2, False), ("acquired", 2, False), ("release", 2, False),
        ("acquire", 2, False), ("acquired", 2, False), ("release", 2, False),
    ]  # fmt: skip
    assert all(dom is t._domain and table is t for _, dom, table, _, _ in seen)
    confined = make_core(thread_safe=False)
    core.set_tracer(lambda *a: seen.append(a))
    try:
        n = len(seen)
        confined.read(0).release()
        assert len(seen) == n  # confined tables never block: nothing to trace
    finally:
        core.set_tracer(None)
    with pytest.raises(TypeError):
        core.set_tracer(3)


# -- invariants under many interleavings ------------------------------------------------------


def test_no_lost_update(switchy: None) -> None:
    t = make_core(keys=4)
    ops = 3000

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(ops):
            with t.write(rnd.randrange(4)) as h:
                n = h["total"]
                time.sleep(0) if rnd.random() < 0.05 else None  # yield inside the handle
                h["total"] = n + 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(20)
    assert not any(th.is_alive() for th in threads)
    total = 0
    for k in range(4):
        with t.read(k) as h:
            total += h["total"]
    assert total == 4 * ops
    assert in_use(t) == 0 and t.statistics()[2] > 0  # they did contend


def test_no_torn_row(switchy: None) -> None:
    t = make_core(keys=2)
    bad: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        rnd = random.Random(1)
        for _ in range(2000):
            with t.write(rnd.randrange(2)) as h:
                v = rnd.randrange(1 << 30)
                h["pid"] = v
                time.sleep(0)  # the row is torn here: a reader must not see it
                h["total"] = v

    def reader() -> None:
        rnd = random.Random(2)
        while not stop.is_set():
            with t.read(rnd.randrange(2)) as h:
                if h["pid"] != h["total"] and h["total"] != 0:
                    bad.append(f"torn: {h['pid']} != {h['total']}")

    for k in range(2):
        with t.write(k) as h:
            h["total"] = k
    rs = [threading.Thread(target=reader, daemon=True) for _ in range(2)]
    for th in rs:
        th.start()
    w = threading.Thread(target=writer, daemon=True)
    w.start()
    w.join(20)
    stop.set()
    for th in rs:
        th.join(5)
    assert not w.is_alive() and bad == []
    assert in_use(t) == 0


def test_a_running_thread_overtakes_a_granted_waiter_that_has_not_run() -> None:
    """Barging: the waiter's grant is taken back and given again at the next release."""
    t = make_core()
    h = t.write(0)
    th, box = start(lambda: t.write(0, 5).release())
    assert queued(t, 0)
    old = sys.getswitchinterval()
    sys.setswitchinterval(10.0)  # the waiter cannot take the GIL between the two lines below
    try:
        h.release()  # grants the waiter, which cannot run yet
        again = t.write(0, 0)  # taken at once: no live handle on the entry
        assert t._entry_state(0) == (-1, 1, 1)
    finally:
        sys.setswitchinterval(old)
    again.release()  # granted to the waiter again
    th.join(5)
    assert box == [None] and t._entry_state(0) == (0, 0, 0) and in_use(t) == 0
