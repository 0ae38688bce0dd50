"""A handle collected while it still holds its entry is released, with a warning, on both backends.

Never entered, leaked, dropped by another thread, a walk generator finalised by another thread
or by the cyclic GC: whatever thread collects the handle releases its entry and emits a
`ResourceWarning` naming the table and the key. `statistics().locks_in_use` counts such a held
handle until then (on the Python core, the owner's lock-free ones included).
"""

from __future__ import annotations

import gc
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import python_core_only
from test_interrupt_attacks import BACKENDS, all_usable, make

pytestmark = pytest.mark.timeout(30)


def in_thread(fn: Callable[[], Any]) -> Any:
    box: list[Any] = [None]

    def run() -> None:
        try:
            box[0] = fn()
        except BaseException as exc:
            box[0] = exc

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(10)
    assert not th.is_alive()
    return box[0]


@pytest.mark.parametrize("mode", ["fast_path", "locks_only", "single"])
@pytest.mark.parametrize("kind", BACKENDS)
def test_never_entered_handle_is_released_with_a_warning(kind: str, mode: str) -> None:
    t = make(kind, mode)
    h = t.write(1)
    assert t.statistics().locks_in_use == 1  # a held handle counts, lock-free or not
    with pytest.warns(ResourceWarning, match=r"abandoned write handle on entry 1 of table 'rows'"):
        del h
        gc.collect()
    all_usable(t)


@pytest.mark.parametrize("mode", ["fast_path", "locks_only"])
@pytest.mark.parametrize("kind", BACKENDS)
def test_handle_dropped_by_another_thread(kind: str, mode: str) -> None:
    t = make(kind, mode)
    box = [t.read(2), t.read(2)]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert in_thread(box.clear) is None
    assert sum("entry 2 of table 'rows'" in str(x.message) for x in w) == 2
    all_usable(t)


@pytest.mark.parametrize("kind", BACKENDS)
def test_generator_walk_finalised_by_another_thread(kind: str) -> None:
    t = make(kind)

    def walk() -> Iterator[Any]:
        for k in t.keys():
            with t.read(k) as h:
                yield h

    g = walk()
    assert next(g)["a"] == 0
    box = [g]
    del g
    errors: list[Any] = []
    old = sys.unraisablehook
    # The walk's own `with` exit runs in the wrong thread (WrongThreadError, unraisable); keep
    # the type only: the traceback would keep the generator's frame and its handle.
    sys.unraisablehook = lambda u: errors.append(u.exc_type)
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert in_thread(box.clear) is None
            gc.collect()
    finally:
        sys.unraisablehook = old
    assert errors and errors[0].__name__ == "WrongThreadError"
    assert any("entry 0 of table 'rows'" in str(x.message) for x in w)
    all_usable(t)


@pytest.mark.parametrize("kind", BACKENDS)
def test_handles_in_garbage_cycles_are_released_by_the_cyclic_gc(kind: str) -> None:
    t = make(kind)
    junk: list[Any] = [t.write(1)]
    junk.append(junk)  # a garbage cycle holding a live handle
    del junk

    def walk(me: list[Any]) -> Iterator[Any]:
        for k in t.keys():
            with t.read(k) as h:
                yield h

    me: list[Any] = []
    g = walk(me)
    me.append(g)  # the generator's frame -> `me` -> the generator
    assert next(g)["a"] == 0
    del g, me
    with pytest.warns(ResourceWarning, match="abandoned write handle on entry 1 of table 'rows'"):
        gc.collect()  # the walk is closed in this thread: its `with` releases its handle
    all_usable(t)


@python_core_only
@pytest.mark.parametrize("mode", ["fast_path", "locks_only"])
def test_collected_while_its_thread_holds_the_domain_mutex(mode: str) -> None:
    """Python core: a garbage collection runs wherever an allocation triggers it, so a handle in
    cyclic garbage may be finalised by a thread that holds its domain's mutex (in the middle of
    the domain's bookkeeping). Its release must not wait for that mutex (a self-deadlock): it
    is deferred, and done by the next thread that takes or waits for an entry lock."""
    t = make("python", mode)
    junk: list[Any] = [t.write(1), t.read(2)]
    junk.append(junk)  # a garbage cycle holding live handles
    del junk
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with t._domain.mutex:
            gc.collect()  # the finalisers run here, in this thread, under the mutex
    assert sum("abandoned" in str(x.message) for x in w) == 2
    all_usable(t)
