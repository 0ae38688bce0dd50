"""The C core's hooks for `stress`: the per-handle probe and the planted faults.

`set_probe` sees every handle granted and released (any domain, with its wait), every field
store and every wait; an exception from it fails the operation and leaves nothing taken.
`_set_faults` plants the two library bugs `stress selftest` must catch; off by default.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from core_helpers import core, in_thread, make_core, start, usable, wait_until

from concurrent_tables.errors import LockTimeoutError

pytestmark = pytest.mark.timeout(30)


class Boom(BaseException):
    """What a probe raises here (an injected interrupt)."""


@pytest.fixture
def probe_log() -> Iterator[list[tuple[Any, ...]]]:
    seen: list[tuple[Any, ...]] = []
    lock = threading.Lock()

    def probe(ev: str, table: Any, key: Any, write: bool, h: Any, wait_ns: int) -> None:
        with lock:
            seen.append((ev, table.name, key, write, h, wait_ns, threading.get_ident()))

    old = core.set_probe(probe)
    assert old is None
    try:
        yield seen
    finally:
        assert core.set_probe(None) is probe


@pytest.mark.parametrize("thread_safe", [True, False])
def test_probe_sees_every_handle_and_store(
    probe_log: list[tuple[Any, ...]], thread_safe: bool
) -> None:
    t = make_core(thread_safe=thread_safe)
    with t.write(1) as h:
        h["total"] = 5
    with t.read(2) as r:
        assert r["total"] == 0
    events = [(ev, name, key, write) for ev, name, key, write, *_ in probe_log]
    assert events == [
        ("acquired", "rec", 1, True),
        ("store", "rec", 1, True),
        ("release", "rec", 1, True),
        ("acquired", "rec", 2, False),
        ("release", "rec", 2, False),
    ]
    assert probe_log[0][4] is h and probe_log[2][4] is h and probe_log[3][4] is r
    assert all(x[5] == 0 for x in probe_log)  # granted at once


def test_probe_reports_a_wait_and_its_length(probe_log: list[tuple[Any, ...]]) -> None:
    t = make_core()
    h = t.write(0)
    th, box = start(lambda: t.read(0, 5.0).release())
    assert wait_until(lambda: any(x[0] == "wait" for x in probe_log))
    threading.Event().wait(0.05)
    h.release()
    th.join(5)
    assert box == [None]
    waits = [x for x in probe_log if x[0] == "wait"]
    assert waits[0][4] is None and waits[0][6] == th.ident
    got = next(x for x in probe_log if x[0] == "acquired" and x[6] == th.ident)
    assert got[5] >= 40_000_000  # it waited about 50 ms for the writer
    assert usable(t, 0)


@pytest.mark.parametrize("event", ["acquired", "release", "store"])
def test_probe_raising_leaves_nothing_taken(event: str) -> None:
    t = make_core()

    def probe(ev: str, *a: Any) -> None:
        if ev == event:
            raise Boom

    core.set_probe(probe)
    try:
        with pytest.raises(Boom):
            with t.write(1) as h:
                h["total"] = 7
    finally:
        core.set_probe(None)
    with t.read(1) as r:
        assert r["total"] == (0 if event != "release" else 7)
    assert usable(t, 1)


def test_probe_raising_in_a_wait_ends_it_and_lets_the_queue_on() -> None:
    t = make_core()
    h = t.write(0)
    reader, got = start(lambda: t.read(0, 5.0).release())  # queued first
    assert wait_until(lambda: t._entry_state(0)[2] == 1)
    me = threading.get_ident()

    def probe(ev: str, *a: Any) -> None:
        if ev == "wait" and threading.get_ident() != me and threading.get_ident() != reader.ident:
            raise Boom

    core.set_probe(probe)
    try:
        r = in_thread(lambda: t.write(0, 5.0))
    finally:
        core.set_probe(None)
    assert isinstance(r, Boom)
    assert t._entry_state(0) == (-1, 1, 1)  # the failed writer left the queue
    h.release()
    reader.join(5)
    assert got == [None]
    assert usable(t, 0)


def test_set_probe_and_faults_refuse_bad_values() -> None:
    with pytest.raises(TypeError):
        core.set_probe(3)
    for bad in (-1, 4, 1 << 40):
        with pytest.raises((ValueError, OverflowError)):
            core._set_faults(bad)
    with pytest.raises(TypeError):
        core._set_faults("all")
    assert core._set_faults(0) == 0  # off by default


@pytest.fixture
def fault() -> Iterator[Any]:
    def plant(mask: int) -> None:
        core._set_faults(mask)

    yield plant
    core._set_faults(0)


def test_owner_check_fault_lets_the_owner_in(fault: Any) -> None:
    t = make_core()  # owned by this thread
    taken, done = threading.Event(), threading.Event()

    def other() -> None:
        with t.write(1):
            taken.set()
            done.wait(5)

    th, box = start(other)
    assert taken.wait(5)
    with pytest.raises(LockTimeoutError):  # the library: the owner waits for the other thread
        t.write(1, 0.05)
    fault(core.FAULT_OWNER_CHECK)
    h = t.write(1, 0.05)  # planted: taken lock-free while the other thread holds it
    assert t._entry_state(1) == (-1, 1, 0)  # not counted
    h["total"] = 1
    h.release()
    assert t._entry_state(1) == (-1, 1, 0)
    fault(0)
    done.set()
    th.join(5)
    assert box == [None]
    assert usable(t, 1)
    # A non-owner still waits under the fault.
    fault(core.FAULT_OWNER_CHECK)
    h = t.write(2)
    assert isinstance(in_thread(lambda: t.write(2, 0.05)), LockTimeoutError)
    h.release()


def test_wait_undo_fault_wedges_the_entry(fault: Any) -> None:
    t = make_core()
    h = t.write(0)
    # The library: a failed wait leaves nothing behind.
    assert isinstance(in_thread(lambda: t.read(0, 0.02)), LockTimeoutError)
    assert t._entry_state(0) == (-1, 1, 0)
    fault(core.FAULT_WAIT_UNDO)
    assert isinstance(in_thread(lambda: t.write(0, 0.02)), LockTimeoutError)
    assert t._entry_state(0) == (-1, 1, 1)  # planted: the failed waiter is still queued
    fault(0)
    h.release()
    assert t._entry_state(0) == (-1, 0, 1)  # granted to the stranded waiter, never claimed
    assert in_thread(lambda: t.write(0, 0.05).release()) is None  # which is overtaken once,
    assert isinstance(in_thread(lambda: t.write(0, 0.05)), LockTimeoutError)  # then wedges it
    with pytest.raises(LockTimeoutError):
        t.read(0, 0.05)
