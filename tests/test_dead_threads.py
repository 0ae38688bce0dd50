"""A thread that exits while holding a handle does not wedge its entry, on both backends.

The next thread that would have to wait for the entry recovers it, like a robust mutex whose
owner died: the exited thread's handle is released, with a `ResourceWarning` naming the
thread, the table and the key, and is stale afterwards; the statistics count it as released.
Covered: another thread's locked handle (read and write), the owner's own handles (lock-free
on the Python core), the exit happening while the other thread already waits, and a holder
whose handle the other thread asks for again and again.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from test_interrupt_attacks import BACKENDS, all_usable, make

from concurrent_tables.errors import StaleHandleError

pytestmark = pytest.mark.timeout(30)

EXITED = r"thread \d+ exited while holding a {} handle on entry 1 of table 'rows'"


def holder(take: Callable[[], Any]) -> tuple[threading.Thread, list[Any], threading.Event]:
    """A thread that takes a handle with `take`, keeps it in the returned list, and exits once
    the returned event is set (still holding it)."""
    kept: list[Any] = []
    got, go = threading.Event(), threading.Event()

    def run() -> None:
        kept.append(take())
        got.set()
        go.wait(10)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    assert got.wait(10)
    return th, kept, go


def exited_holder(take: Callable[[], Any]) -> list[Any]:
    """`holder`, exited: its handle, kept. Both cores tell an exited thread by its id (as
    libsinsp would: a thread state with that id), and a thread started meanwhile may reuse it:
    then another holder is made (a test of the recovery, not of thread-id reuse)."""
    for _ in range(5):
        th, kept, go = holder(take)
        ident = th.ident
        go.set()
        th.join(10)
        if ident not in sys._current_frames():
            return kept
        kept[0] = None  # released by collection (its id is taken by a live thread: retry)
    raise AssertionError("the exited holder's thread id was reused five times")


@pytest.mark.parametrize("write", [True, False], ids=["write", "read"])
@pytest.mark.parametrize("kind", BACKENDS)
def test_a_handle_of_an_exited_thread_is_recovered_by_the_next_writer(
    kind: str, write: bool
) -> None:
    t = make(kind, "fast_path")
    kept = exited_holder(lambda: t.write(1) if write else t.read(1))
    assert t.statistics().locks_in_use == 1  # held by a handle whose thread is gone
    mode = "write" if write else "read"
    with pytest.warns(ResourceWarning, match=EXITED.format(mode)):
        with t.write(1, 5) as h:
            h["counter"] = 7
    assert not kept[0].alive
    with pytest.raises(StaleHandleError, match="its thread exited"):
        kept[0]["a"]
    kept[0].release()  # a no-op: it holds nothing
    all_usable(t)


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_owners_own_handle_is_recovered_when_the_owner_exits(kind: str) -> None:
    """The owner of a thread-safe table takes its handles lock-free on the Python core: they
    are recovered too (and the fast path ends with its owner)."""
    ident: list[int] = []
    ready, made = threading.Event(), threading.Event()
    box: list[Any] = []

    def owner() -> None:
        ident.append(threading.get_ident())
        ready.set()
        assert made.wait(10)
        box.append(box[0].write(1))  # the owner's own handle, kept after it exits

    th = threading.Thread(target=owner, daemon=True)
    th.start()
    assert ready.wait(10)
    box.append(make(kind, "fast_path", owner=ident[0]))
    made.set()
    th.join(10)
    t, leaked = box
    assert t.statistics().locks_in_use == 1
    with pytest.warns(ResourceWarning, match=EXITED.format("write")):
        with t.read(1, 5) as h:
            assert h["a"] == 1
    with pytest.raises(StaleHandleError, match="its thread exited"):
        leaked["a"] = 3
    all_usable(t)


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_holder_that_exits_while_another_thread_waits(kind: str) -> None:
    t = make(kind, "fast_path")
    th, kept, go = holder(lambda: t.read(1))
    box: list[Any] = []

    def waiter() -> None:
        try:
            with t.write(1, 10) as h:  # queued behind the reader until it is recovered
                h["counter"] = 1
            box.append("done")
        except BaseException as exc:
            box.append(exc)

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        wt = threading.Thread(target=waiter, daemon=True)
        wt.start()
        wt.join(0.3)
        assert wt.is_alive()  # it waits: the reader's thread is alive
        go.set()
        th.join(10)
        wt.join(10)
    assert box == ["done"]
    assert any("exited while holding a read handle" in str(x.message) for x in w)
    assert not kept[0].alive
    all_usable(t)


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_statistics_count_a_recovered_handle_as_released(kind: str) -> None:
    t = make(kind, "locks_only")
    kept = exited_holder(lambda: t.write(2))  # kept: collected, it would be released
    before = t.statistics()
    assert before.locks_in_use == 1
    with pytest.warns(ResourceWarning):
        t.write(2, 5).release()
    after = t.statistics()
    assert after.locks_in_use == 0
    # Locked handles are counted as granted on the C core, as released on the Python core:
    # the exited thread's handle counts once either way.
    counted = 2 if kind == "python" else 1
    assert after.acquisitions - before.acquisitions == counted
    assert after.timeouts == before.timeouts and after.errors == before.errors
    assert not kept[0].alive
