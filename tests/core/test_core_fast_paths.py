"""The C core's hot paths (ct_core.c): the uncontended acquisition, the remembered last lookup,
the release without waiters, the with statement without bound methods, and nested handles
under a parent's grant. Each must decide exactly what the general path decides: same errors,
same state, same statistics; these tests drive the cases where the two could differ."""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from typing import Any

import pytest
from core_helpers import core, in_thread, make_core

from concurrent_tables import I64, EntrySchema, NestedTable, Table
from concurrent_tables import String as Str
from concurrent_tables.errors import (
    BorrowError,
    EntryNotFoundError,
    InvalidKeyError,
    LockTimeoutError,
    ReentrancyError,
    StaleHandleError,
    WrongThreadError,
)

pytestmark = pytest.mark.timeout(60)


def state(t: Any, key: Any) -> tuple[int, int, int]:
    """(state, holders, waiters) of the entry at `key`."""
    return t._entry_state(key)  # type: ignore[no-any-return]


def in_use(t: Any) -> int:
    return t.statistics()[6]  # type: ignore[no-any-return]


def new_entry(t: Any, pid: int) -> Any:
    e = t.create_entry()
    e["pid"] = pid
    return e


# -- the remembered last lookup ------------------------------------------------------------------


def test_erase_forgets_the_remembered_entry() -> None:
    t = make_core()
    with t.write(1) as h:  # remembered: entries[1]
        h["pid"] = 11
    t.erase_entry(1)
    with pytest.raises(EntryNotFoundError):
        t.write(1)
    t.add_entry(1, new_entry(t, 21))
    with t.read(1) as h:
        assert h["pid"] == 21


def test_replace_and_clear_forget_the_remembered_entry() -> None:
    t = make_core()
    with t.read(2) as h:
        assert h["pid"] == 2
    assert t.add_entry(2, new_entry(t, 22), replace=True) is True
    with t.read(2) as h:
        assert h["pid"] == 22
    t.clear()
    with pytest.raises(EntryNotFoundError):
        t.read(2)
    t.add_entry(2, new_entry(t, 32))
    with t.read(2) as h:
        assert h["pid"] == 32


def test_equal_keys_of_other_objects_find_the_same_entry() -> None:
    t = make_core(keys=0)
    big = 10**6  # one digit (< 2**30), not a cached small int
    t.add_entry(big, new_entry(t, 5))
    for k in (big, int(str(big)), big + 1 - 1):
        with t.write(k) as h:
            h["pid"] += 1
    with t.read(10**6) as h:
        assert h["pid"] == 8


def test_remembered_key_is_still_checked_on_other_tables() -> None:
    from concurrent_tables import U8

    t = make_core(keys=0, key_type=U8)
    t.add_entry(255, new_entry(t, 1))
    with t.read(255):
        pass
    with pytest.raises(InvalidKeyError, match="out of range"):
        t.read(256)
    with pytest.raises(InvalidKeyError, match="out of range"):
        t.read(-1)


# -- conflicts per key while an entry is retired --------------------------------------------------


def test_a_retired_handle_still_refuses_a_conflict_then_the_fast_path_returns() -> None:
    t = make_core()
    h = t.write(0)
    t.add_entry(0, new_entry(t, 100), replace=True)  # the held entry is retired
    with pytest.raises(ReentrancyError):
        t.read(0)  # this thread's write handle on the key's old entry
    h.release()
    with t.write(0) as g:  # nothing retired any more: granted at once
        assert g["pid"] == 100
    assert in_use(t) == 0


def test_erase_of_a_held_entry_keeps_it_for_its_holder() -> None:
    t = make_core()
    seen: list[Any] = []
    h = t.read(1)
    done = threading.Event()

    def other() -> None:
        t.erase_entry(1)  # another thread may erase it: this one holds it
        try:
            t.read(1)
        except EntryNotFoundError as exc:
            seen.append(exc)
        done.set()

    th = threading.Thread(target=other, daemon=True)
    th.start()
    th.join(10)
    assert done.is_set() and len(seen) == 1
    assert h["pid"] == 1  # the holder still sees its entry
    h.release()
    assert in_use(t) == 0


# -- the uncontended acquisition and the release --------------------------------------------------


@pytest.mark.parametrize("thread_safe", [True, False], ids=["thread_safe", "confined"])
def test_state_and_statistics_of_the_fast_paths(thread_safe: bool) -> None:
    t = make_core(thread_safe=thread_safe)
    before = t.statistics()[1]
    with t.write(1):
        assert state(t, 1) == (-1, 1, 0) and in_use(t) == 1
    assert state(t, 1) == (0, 0, 0) and in_use(t) == 0
    r1 = t.read(1)
    r2 = t.read(1)  # a second read shares the first (the general path)
    assert state(t, 1) == (2, 2, 0) and in_use(t) == 1
    r1.release()
    assert state(t, 1) == (1, 1, 0) and in_use(t) == 1
    r2.release()
    assert state(t, 1) == (0, 0, 0) and in_use(t) == 0
    assert t.statistics()[1] - before == 3  # acquisitions


@pytest.mark.parametrize("thread_safe", [True, False], ids=["thread_safe", "confined"])
def test_conflicts_in_the_owner_thread(thread_safe: bool) -> None:
    t = make_core(thread_safe=thread_safe)
    error = ReentrancyError if thread_safe else BorrowError
    errors = t.statistics()[5]
    with t.write(1):
        with pytest.raises(error, match="already holds a write handle"):
            t.read(1)
        with pytest.raises(error):
            t.write(1)
        with t.write(2):  # another key: independent
            pass
    with t.read(1), pytest.raises(error, match="already holds a read handle"):
        t.write(1)
    assert t.statistics()[5] - errors == 3
    assert in_use(t) == 0


def test_confined_table_refuses_other_threads_on_every_path() -> None:
    t = make_core(thread_safe=False)
    with t.read(0):
        pass  # remembered in the owner thread
    for key in (0, 1, 10**15):
        assert isinstance(in_thread(lambda key=key: t.read(key)), WrongThreadError)
        assert isinstance(in_thread(lambda key=key: t.write(key)), WrongThreadError)
    with t.write(0) as h:
        assert isinstance(in_thread(lambda: h["pid"]), WrongThreadError)
        assert isinstance(in_thread(lambda: h.__setitem__("pid", 3)), WrongThreadError)
        assert isinstance(in_thread(lambda: h.__exit__(None, None, None)), WrongThreadError)
        assert h.alive


def test_another_thread_waits_then_gets_the_entry() -> None:
    t = make_core(timeout=10)
    got: list[int] = []
    h = t.write(1)

    def other() -> None:
        with t.write(1) as g:  # waits for the owner's handle
            got.append(g["pid"])
            g["pid"] = 41

    th = threading.Thread(target=other, daemon=True)
    th.start()
    while state(t, 1)[2] == 0:  # queued
        th.join(0.001)
    h["pid"] = 40
    h.release()  # grants the waiter
    th.join(10)
    assert got == [40]
    with t.read(1) as r:  # taken again at once once idle
        assert r["pid"] == 41
    assert in_use(t) == 0


def test_a_zero_timeout_fails_at_once_on_a_held_entry() -> None:
    t = make_core(timeout=0)
    held: list[Any] = []
    ready, stop = threading.Event(), threading.Event()

    def holder() -> None:
        held.append(t.write(2))
        ready.set()
        stop.wait(10)
        held[0].release()

    th = threading.Thread(target=holder, daemon=True)
    th.start()
    ready.wait(10)
    with pytest.raises(LockTimeoutError):
        t.read(2)
    stop.set()
    th.join(10)
    with t.read(2):
        pass


def test_probe_and_tracer_still_see_every_handle() -> None:
    t = make_core()
    events: list[tuple[str, Any]] = []
    old_probe = core.set_probe(lambda ev, tab, key, w, h, ns: events.append((ev, key)))
    try:
        with t.write(1) as h:
            h["pid"] = 5
    finally:
        core.set_probe(old_probe)
    assert events == [("acquired", 1), ("store", 1), ("release", 1)]
    traced: list[tuple[str, Any]] = []
    old_tracer = core.set_tracer(lambda ev, d, tab, key, w: traced.append((ev, key)))
    try:
        with t.read(2):
            pass
    finally:
        core.set_tracer(old_tracer)
    assert traced == [("acquire", 2), ("acquired", 2), ("release", 2)]


# -- the with statement --------------------------------------------------------------------------


def test_enter_and_exit_follow_the_protocol() -> None:
    t = make_core()
    h = t.write(1)
    assert h.__enter__() is h
    assert h.alive
    assert h.__exit__(None, None, None) is None
    assert not h.alive
    h.__exit__(None, None, None)  # twice: a no-op, as release()
    g = t.read(1)
    with pytest.raises(TypeError, match=r"__exit__\(\) takes 3 arguments \(1 given\)"):
        g.__exit__(None)
    with pytest.raises(TypeError, match="no keyword arguments"):
        g.__exit__(None, None, tb=None)
    with pytest.raises(TypeError, match=r"__enter__\(\) takes 0 arguments"):
        type(g).__enter__(g, 1)
    assert g.alive  # a refused call changed nothing
    assert type(g).__enter__(g) is g
    type(g).__exit__(g, None, None, None)
    assert not g.alive
    with pytest.raises(TypeError, match="doesn't apply"):
        type(g).__dict__["__exit__"].__get__(object())
    with pytest.raises(TypeError, match="needs an argument"):
        type(g).__exit__()
    assert in_use(t) == 0


def test_with_releases_on_an_exception_and_in_exit_stacks() -> None:
    t = make_core()
    with pytest.raises(KeyError), t.write(1) as h:
        raise KeyError("boom")
    assert not h.alive and in_use(t) == 0
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(t.write(1))
        b = stack.enter_context(t.read(2))
        assert a.alive and b.alive and in_use(t) == 2
    assert not a.alive and not b.alive and in_use(t) == 0
    with t.create_entry() as e:  # a detached entry: entering and leaving hold nothing
        e["pid"] = 3
    assert e.alive


def test_with_without_as_keeps_the_handle_alive() -> None:
    t = make_core()
    with t.write(1):
        gc.collect()  # the handle is referenced only by the with statement
        assert state(t, 1) == (-1, 1, 0)
    assert state(t, 1) == (0, 0, 0)


def test_a_generator_suspended_in_a_with_block_releases_when_closed() -> None:
    t = make_core()

    def walk() -> Any:
        with t.write(1) as h:
            yield h["pid"]

    g = walk()
    assert next(g) == 1 and in_use(t) == 1
    g.close()
    assert in_use(t) == 0


# -- nested handles under a parent grant ---------------------------------------------------------


class Fd(EntrySchema):
    name: Str


class Proc(EntrySchema):
    pid: I64
    fds: NestedTable[I64, Fd]


def nested_tables() -> Table[Any, Any]:
    t: Table[Any, Any] = Table("procs", I64, Proc, thread_safe=True)
    for k in range(3):
        t.add_entry(k, t.create_entry())
        with t.write(k) as h:
            fds = h[t.field("fds")]
            for fd in (0, 1):
                e = fds.create_entry()
                e["name"] = f"{k}:{fd}"
                fds.add_entry(fd, e)
    return t


def test_nested_handles_under_the_parent_grant() -> None:
    t = nested_tables()
    f_fds = t.field("fds")
    for k in (0, 1, 2, 0, 2):  # each nested table remembers its own last lookup
        for fd in (1, 1, 0):
            with t.write(k) as h, h[f_fds].write(fd) as g:
                assert g["name"].startswith(f"{k}:{fd}")
                g["name"] = f"{k}:{fd}+"
    with t.read(0) as h:
        fds = h[f_fds]
        with fds.read(1) as g:
            assert g["name"] == "0:1+"
            with pytest.raises(ReentrancyError):
                fds.write(1)  # this thread's read handle on the nested entry
    assert not g.alive and t.statistics().locks_in_use == 0


def test_a_nested_entry_is_guarded_for_threads_that_kept_the_nested_table() -> None:
    t = nested_tables()
    f_fds = t.field("fds")
    with t.read(1) as h:
        fds = h[f_fds]  # kept past the parent's handle, as a plugin may
    seen: list[str] = []
    g = fds.write(0)

    def other() -> None:
        with fds.read(0, 10) as r:  # waits for the owner's nested write handle
            seen.append(r["name"])

    th = threading.Thread(target=other, daemon=True)
    th.start()
    while fds._entry_state(0)[2] == 0:
        th.join(0.001)
    g["name"] = "changed"
    g.release()
    th.join(10)
    assert seen == ["changed"]


def test_core_table_gets_its_own_getters() -> None:
    from concurrent_tables.table import CoreTable

    t = nested_tables()
    assert type(t) is CoreTable
    assert type(t).__dict__["write"].__objclass__ is CoreTable
    with pytest.raises(TypeError, match="a subclass of Core"):
        core.bind_getters(dict)
    h = t.read(0)
    h.release()
    with pytest.raises(StaleHandleError):
        h["pid"]


def test_nested_steps_leave_memory_and_references_flat() -> None:
    t = nested_tables()
    f_fds, f_pid = t.field("fds"), t.field("pid")
    f_name = None
    with t.read(0) as h:
        f_name = h[f_fds].field("name")
    refs = sys.getrefcount(t)

    def run() -> None:
        w = t.write
        for i in range(30_000):
            k = i % 3
            with w(k) as h, h[f_fds].write(i & 1) as g:
                g[f_name] = "x"
                h[f_pid] = i

    run()
    blocks = []
    for _ in range(3):
        run()
        gc.collect()
        blocks.append(sys.getallocatedblocks())
    assert max(blocks) - min(blocks) <= 200
    assert sys.getrefcount(t) == refs
    assert t.statistics().locks_in_use == 0
