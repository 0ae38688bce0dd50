"""Exceptions while holding or waiting for an entry lock leave every lock consistent.

- an exception, and a KeyboardInterrupt, raised inside a `with` block release the handle;
- a lock tracer (`concurrent_tables.locking.set_tracer`) that raises at "acquire" or
  "acquired" leaves nothing taken;
- a real SIGINT delivered to the main thread while it is blocked waiting for an entry lock
  (behind a reader, behind a writer, or for the owner's lock-free handle) raises
  KeyboardInterrupt from the wait and leaves the lock usable.

After each: the table is unchanged, another thread takes a write handle within a short
timeout, and `statistics().locks_in_use` is 0.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import (
    make_table,
    python_core_only,
    row_ok,
    run_threads,
    usable_from_another_thread,
    waiters,
)

from concurrent_tables import locking


class Boom(Exception):
    pass


def consistent(t: Any, keys: range = range(3)) -> None:
    for k in keys:
        with t.read(k) as h:
            assert row_ok(h) and h["a"] == k
        assert usable_from_another_thread(t, k)
    assert t.statistics().locks_in_use == 0


@pytest.fixture
def tracer() -> Iterator[Callable[[locking.LockTracer | None], None]]:
    old = locking.set_tracer(None)
    yield lambda tr: locking.set_tracer(tr) and None
    locking.set_tracer(old)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_exception_and_keyboard_interrupt_inside_with(fast_path: bool, write: bool) -> None:
    t = make_table(3, fast_path=fast_path)
    for exc in (Boom, KeyboardInterrupt):
        with pytest.raises(exc):
            with t.get_entry(1, write=write) as h:
                assert row_ok(h)
                raise exc()
        assert not h.alive
    consistent(t)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("event", ["acquire", "acquired"])
def test_tracer_raising_at_lock_points(
    tracer: Callable[[locking.LockTracer | None], None], event: str, fast_path: bool
) -> None:
    """Regression: a tracer raising at "acquired" used to leave the entry lock taken for ever.

    The tracer only sees locked acquisitions: with the fast path on, the owner's handles are
    lock-free, so the raising thread is a foreign one here.
    """
    t = make_table(3, fast_path=fast_path)
    hits: list[str] = []

    def tr(ev: str, domain: Any, table: Any, key: Any, write: bool) -> None:
        if ev == event and key == 1:
            hits.append(ev)
            raise KeyboardInterrupt  # as an injected interrupt would

    tracer(tr)
    caught: list[BaseException] = []

    def victim() -> None:
        for write in (False, True):
            try:
                t.get_entry(1, write=write)
            except KeyboardInterrupt as exc:
                caught.append(exc)

    run_threads([victim], timeout=5)
    tracer(None)
    assert len(caught) == 2 and hits == [event, event]
    consistent(t)
    assert t.statistics().errors == 0


def _interrupt_main_when(blocked: Callable[[], bool], *, within: float = 2.0) -> threading.Thread:
    """Send SIGINT to the main thread once `blocked()` holds (and a little later)."""
    main = threading.main_thread().ident
    assert main is not None

    def run() -> None:
        deadline = time.monotonic() + within
        while not blocked() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # let the main thread go from the bookkeeping into the wait
        signal.pthread_kill(main, signal.SIGINT)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGINT is delivered to the main thread only")
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@pytest.mark.timeout(15)
@pytest.mark.parametrize(
    "held, wanted",
    [("read", "write"), ("write", "read"), ("write", "write")],
    ids=["writer-behind-reader", "reader-behind-writer", "writer-behind-writer"],
)
def test_sigint_while_waiting_for_an_entry_lock(
    sigint_raises: None, fast_path: bool, held: str, wanted: str
) -> None:
    """Regression: readerwriterlock.RWLockFair kept its gate taken when a KeyboardInterrupt hit
    a writer waiting for the readers to leave, and that broken lock went back to the pool: the
    entry (and later any entry that drew the lock from the pool) timed out for ever.
    """
    t = make_table(3, fast_path=fast_path)
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with t.get_entry(1, write=held == "write"):
            holding.set()
            release.wait(5)

    th = threading.Thread(target=holder, daemon=True)
    th.start()
    assert holding.wait(5)
    killer = _interrupt_main_when(lambda: waiters(t, 1) >= 1)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        t.get_entry(1, write=wanted == "write", timeout=3.0)
    assert time.monotonic() - t0 < 2.5, "the interrupt should end the wait, not the timeout"
    killer.join(5)
    release.set()
    th.join(5)
    consistent(t)
    for _ in range(3):  # the pooled lock is sound for other keys too
        consistent(t)


@python_core_only
@pytest.mark.timeout(15)
def test_sigint_while_waiting_for_the_owners_lock_free_handle(sigint_raises: None) -> None:
    """An interrupt while waiting for the owner's lock-free handle leaves nothing behind.

    (Regression from the earlier, table-wide hand-over, where such an interrupt closed the
    owner's fast path for good.) A background thread owns the table and holds a lock-free
    write handle on key 2; the main thread (not the owner) waits for it, and is interrupted.
    """
    ready, release = threading.Event(), threading.Event()
    box: list[Any] = []

    def owner() -> None:
        t = make_table(3, fast_path=True)
        box.append(t)
        with t.write(2):
            ready.set()
            release.wait(5)
        # Back to alone: the owner's next handles take the lock-free path again.
        n = t.statistics().acquisitions
        with t.write(0):
            box.append(t.statistics().acquisitions - n)

    th = threading.Thread(target=owner, daemon=True)
    th.start()
    assert ready.wait(5)
    t = box[0]
    assert t.statistics().acquisitions == 0  # the owner's handle is lock-free
    killer = _interrupt_main_when(lambda: 2 in t._slots)  # published, now waiting
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        t.read(2, timeout=3.0)
    assert 2 not in t._slots  # the waiter's slot was retired
    assert time.monotonic() - t0 < 2.5
    killer.join(5)
    release.set()
    th.join(5)
    assert box[1] == 0, "the owner's fast path was closed after the interrupt"
    consistent(t)
