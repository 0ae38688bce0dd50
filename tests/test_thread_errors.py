"""Misuse raises a typed error at once (never a hang), and leaves the table as it was.

Every test asserts that the error came within a second, that the table is unchanged, that
another thread can then take a write handle within a short timeout (no leaked reader count,
no orphaned writer; for a single-threaded table: the owner can), and that
`statistics().locks_in_use` is back to 0.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import make_table, row_ok, run_threads, usable_from_another_thread, waiters

from concurrent_tables import EntryHandle, Table, backend
from concurrent_tables.errors import (
    BorrowError,
    ConcurrencyError,
    LockTimeoutError,
    ReentrancyError,
    StaleHandleError,
    WrongThreadError,
)
from concurrent_tables.table import TABLE_TIMEOUT

Snapshot = list[tuple[int, int, str, int]]


def snapshot(t: Table[int, Any]) -> Snapshot:
    out = []
    for k in t.keys():
        with t.read(k) as h:
            assert row_ok(h)
            out.append((k, h["a"], h["tag"], h["counter"]))
    return out


def assert_clean(t: Table[int, Any], before: Snapshot, key: int = 1) -> None:
    """Unchanged, and usable: another thread (the owner, if single-threaded) writes `key`."""
    assert snapshot(t) == before
    if t.thread_safe:
        assert usable_from_another_thread(t, key)
    else:
        with t.write(key, timeout=0.5):
            pass
    assert t.statistics().locks_in_use == 0
    assert snapshot(t) == before


@contextmanager
def within_a_second() -> Iterator[None]:
    t0 = time.monotonic()
    yield
    assert time.monotonic() - t0 < 1.0, "the error took more than a second: it waited"


def in_thread(fn: Callable[[], None]) -> None:
    run_threads([fn], timeout=5)


def wait_until(cond: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for the other thread"
        time.sleep(0.001)


def someone_waits(t: Table[int, Any], key: int) -> bool:
    """Some thread waits for `key`: queued on its lock, or for the owner's lock-free handle."""
    return waiters(t, key) > 0


MODES = [("write", "read"), ("write", "write"), ("read", "write")]
MODE_IDS = ["write-then-read", "write-then-write", "read-then-write(upgrade)"]


# -- re-entry ------------------------------------------------------------------------------------


@pytest.mark.timeout(5)
@pytest.mark.parametrize("first, second", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("who", ["owner", "other_thread"])
def test_reentry_raises_instead_of_self_deadlock(
    fast_path: bool, first: str, second: str, who: str
) -> None:
    t = make_table(3, fast_path=fast_path)
    before = snapshot(t)

    def body() -> None:
        h = t.get_entry(1, write=first == "write")
        with within_a_second(), pytest.raises(ReentrancyError) as ei:
            t.get_entry(1, write=second == "write", timeout=30)
        assert ei.value.table == "rows" and ei.value.key == 1
        assert "'rows'" in str(ei.value) and "1" in str(ei.value)
        assert h.alive and row_ok(h)  # the first handle is untouched
        h.release()

    body() if who == "owner" else in_thread(body)
    assert t.statistics().errors == 1
    assert_clean(t, before)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("first, second", MODES, ids=MODE_IDS)
def test_owner_reentry_while_another_thread_is_inside(first: str, second: str) -> None:
    """The owner holds a lock-free handle on an entry; a foreign writer arrives for the same entry
    (and waits for it); the owner's conflicting request now goes the locked way and must still
    be refused at once."""
    t = make_table(3, fast_path=True)
    before = snapshot(t)
    h = t.get_entry(1, write=first == "write")
    got: list[int] = []

    def other() -> None:
        with t.write(1, timeout=5) as h2:
            got.append(h2["a"])

    th = threading.Thread(target=other, daemon=True)
    th.start()
    wait_until(lambda: someone_waits(t, 1))
    with within_a_second(), pytest.raises(ReentrancyError):
        t.get_entry(1, write=second == "write", timeout=30)
    h.release()
    th.join(5)
    assert got == [1]
    assert_clean(t, before)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("first, second", MODES, ids=MODE_IDS)
def test_conflicting_borrows_on_a_single_threaded_table(first: str, second: str) -> None:
    t = make_table(3, thread_safe=False)
    before = snapshot(t)
    h = t.get_entry(1, write=first == "write")
    with within_a_second(), pytest.raises(BorrowError) as ei:
        t.get_entry(1, write=second == "write")
    assert ei.value.table == "rows" and ei.value.key == 1
    h.release()
    with t.read(1) as r1, t.read(1) as r2:  # shared borrows are fine
        assert r1["a"] == r2["a"] == 1
    assert_clean(t, before)


# -- a second read while a writer is queued ------------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize("reader", ["owner", "other_thread"])
def test_second_read_while_a_writer_is_queued_does_not_deadlock(
    fast_path: bool, reader: str
) -> None:
    """A fair lock queues new readers behind a waiting writer; a thread that already reads the
    entry and reads it again must piggyback on its first read instead of queueing (the reference
    SDK deadlocks here)."""
    t = make_table(3, fast_path=fast_path)
    first_read = threading.Event()
    wrote: list[int] = []

    def writer() -> None:
        assert first_read.wait(5)
        with t.write(1, timeout=5) as w:
            w["counter"] = 42
            wrote.append(1)

    def read_twice() -> None:
        with t.read(1) as r1:
            first_read.set()
            wait_until(lambda: someone_waits(t, 1))
            with within_a_second(), t.read(1, timeout=30) as r2:
                assert r2["counter"] == r1["counter"] == 0
            assert not wrote

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    read_twice() if reader == "owner" else in_thread(read_twice)
    th.join(5)
    assert wrote == [1]
    with t.read(1) as h:
        assert h["counter"] == 42
    assert usable_from_another_thread(t, 1)
    assert t.statistics().locks_in_use == 0


# -- erase / clear of a held entry ---------------------------------------------------------------


@pytest.mark.timeout(5)
@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
@pytest.mark.parametrize("kind", ["owner-fast", "owner-locks", "other_thread", "single_threaded"])
def test_erase_or_clear_of_an_entry_this_thread_holds(write: bool, kind: str) -> None:
    t = make_table(3, thread_safe=kind != "single_threaded", fast_path=kind == "owner-fast")
    before = snapshot(t)

    def body() -> None:
        with t.get_entry(1, write=write) as h:
            with within_a_second(), pytest.raises(ReentrancyError) as ei:
                t.erase_entry(1)
            assert ei.value.key == 1 and ei.value.table == "rows"
            with within_a_second(), pytest.raises(ReentrancyError):
                t.clear()
            assert h.alive and row_ok(h)
            assert len(t) == 3

    body() if kind != "other_thread" else in_thread(body)
    assert_clean(t, before)


# -- timeouts ------------------------------------------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize("wanted", ["read", "write"])
@pytest.mark.parametrize("holder", ["owner", "other_thread"])
def test_lock_timeout_names_table_and_key(fast_path: bool, wanted: str, holder: str) -> None:
    """Another thread holds a write handle: a request with a small timeout raises
    LockTimeoutError in about that time. (With the fast path on and the owner holding, the
    wait is for the owner's lock-free handle; otherwise it is the entry lock's.)"""
    t = make_table(3, fast_path=fast_path, timeout=0.2)  # the table's default timeout
    before = snapshot(t)
    errors: list[LockTimeoutError] = []

    def request() -> None:
        for timeout in (TABLE_TIMEOUT, 0.15):
            t0 = time.monotonic()
            with pytest.raises(LockTimeoutError) as ei:
                t.get_entry(1, write=wanted == "write", timeout=timeout)
            assert 0.1 <= time.monotonic() - t0 < 1.0
            errors.append(ei.value)

    if holder == "owner":
        with t.write(1):
            in_thread(request)
    else:
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with t.write(1):
                held.set()
                release.wait(5)

        th = threading.Thread(target=hold, daemon=True)
        th.start()
        assert held.wait(5)
        request()
        release.set()
        th.join(5)
    for e in errors:
        assert e.table == "rows" and e.key == 1 and e.mode == wanted
        assert "'rows'" in str(e) and "entry 1" in str(e)
    assert [e.timeout for e in errors] == [0.2, 0.15]
    assert t.statistics().timeouts == 2
    assert_clean(t, before)


# -- handles -------------------------------------------------------------------------------------


@pytest.mark.timeout(5)
@pytest.mark.parametrize("thread_safe", [True, False], ids=["thread_safe", "single_threaded"])
@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_stale_handle_after_release(thread_safe: bool, write: bool) -> None:
    t = make_table(3, thread_safe=thread_safe)
    before = snapshot(t)
    with t.get_entry(1, write=write) as h:
        pass
    for use in (lambda: h["a"], lambda: h.__setitem__("a", 5), lambda: h.get("tag")):
        with within_a_second(), pytest.raises(StaleHandleError) as ei:
            use()
        assert ei.value.table == "rows" and ei.value.key == 1
    h.release()  # releasing twice is a no-op
    with h:
        pass
    assert not h.alive
    # A detached entry is stale once attached.
    e = t.create_entry()
    t.add_entry(9, e)
    with pytest.raises(StaleHandleError):
        e["a"] = 1
    with pytest.raises(StaleHandleError):
        t.add_entry(10, e)
    t.erase_entry(9)
    assert_clean(t, before)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("thread_safe", [True, False], ids=["thread_safe", "single_threaded"])
@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_handle_used_from_another_thread(thread_safe: bool, write: bool) -> None:
    t = make_table(3, thread_safe=thread_safe)
    before = snapshot(t)
    me = threading.get_ident()
    h: EntryHandle = t.get_entry(1, write=write)
    seen: list[WrongThreadError] = []

    def misuse() -> None:
        for use in (lambda: h["a"], lambda: h.__setitem__("a", 5), h.release):
            with within_a_second(), pytest.raises(WrongThreadError) as ei:
                use()
            assert ei.value.owner == me and ei.value.caller == threading.get_ident()
            assert "'rows'" in str(ei.value)
            seen.append(ei.value)

    in_thread(misuse)
    assert len(seen) == 3
    assert h.alive and row_ok(h)  # still the owner's, still valid
    h.release()
    assert_clean(t, before)


@pytest.mark.timeout(5)
def test_single_threaded_table_used_from_another_thread() -> None:
    t = make_table(3, thread_safe=False)
    before = snapshot(t)
    owner = threading.get_ident()
    uses: dict[str, Callable[[], object]] = {
        "read": lambda: t.read(1),
        "write": lambda: t.write(1),
        "create_entry": t.create_entry,
        "erase_entry": lambda: t.erase_entry(1),
        "clear": t.clear,
        "size": t.size,
        "keys": t.keys,
        "contains": lambda: 1 in t,
        "iterate": lambda: t.iterate(lambda h: None),
    }
    raised: list[str] = []

    def other() -> None:
        me = threading.get_ident()
        for name, use in uses.items():
            with within_a_second(), pytest.raises(WrongThreadError) as ei:
                use()
            e = ei.value
            assert (e.owner, e.caller) == (owner, me), name
            assert f"thread id {owner}" in str(e) and f"thread id {me}" in str(e), name
            assert "'rows'" in str(e)
            raised.append(name)

    in_thread(other)
    assert raised == list(uses)
    assert_clean(t, before)


@pytest.mark.timeout(5)
def test_every_concurrency_error_is_a_concurrency_error() -> None:
    for cls in (BorrowError, ReentrancyError, LockTimeoutError, WrongThreadError):
        assert issubclass(cls, ConcurrencyError)
    assert issubclass(LockTimeoutError, TimeoutError)


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
    h = t.write(0)  # the owner, alone: a lock-free handle (Python core)
    assert t.statistics().acquisitions == (0 if backend.BACKEND == "python" else 1)
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
