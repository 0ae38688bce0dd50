"""Interrupts, abandoned handles and exited holders never wedge a C-core entry.

Each acquisition and release is one C call, so an exception delivered between bytecodes can
only land before or after it: a handle lost that way is released when it is collected (from
whatever thread), with a ResourceWarning; a holder whose thread exits is recovered by the next
thread that would have to wait for it. After each attack every key is usable from every
thread and no entry is left in use.
"""

from __future__ import annotations

import ctypes
import gc
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from core_helpers import core, in_thread, in_use, make_core, start, usable, wait_until

pytestmark = pytest.mark.timeout(60)


def all_usable(t: Any, keys: range = range(3)) -> None:
    gc.collect()
    for k in keys:
        assert usable(t, k), k
    assert in_use(t) == 0


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGINT is delivered to the main thread only")
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


class Boom(Exception):
    pass


# -- exceptions at every point ------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize("kind", ["call", "c_call", "c_return"])
def test_exception_injected_at_every_profile_event(kind: str) -> None:
    """An exception raised by a profile hook at the n-th event of a handle's life, for every n."""
    t = make_core()

    def life() -> None:
        with t.write(0) as h:
            h["total"] = h["total"] + 1
            with t.read(1) as r:
                r["pid"]
        h2 = t.read(2)
        h2["comm"]
        h2.release()

    n, injected = 0, 0
    armed = [False]
    while True:
        count = [0]

        def hook(frame: Any, event: str, arg: Any, n: int = n, count: list[int] = count) -> None:
            if armed[0] and event == kind:
                count[0] += 1
                if count[0] == n + 1:
                    raise Boom

        sys.setprofile(hook)
        armed[0] = True
        try:
            life()
        except Boom:
            injected += 1
        else:
            break
        finally:
            armed[0] = False
            sys.setprofile(None)
        all_usable(t)
        n += 1
    assert injected >= 3 and n < 200
    all_usable(t)


@pytest.mark.parametrize("event", ["acquire", "acquired", "release"])
def test_tracer_raising_leaves_nothing_taken(event: str) -> None:
    t = make_core()

    def tracer(ev: str, domain: Any, table: Any, key: Any, write: bool) -> None:
        if ev == event:
            raise KeyboardInterrupt

    old = core.set_tracer(tracer)
    try:
        for write in (False, True):
            with pytest.raises(KeyboardInterrupt):
                h = t.write(1) if write else t.read(1)
                h.release()
    finally:
        core.set_tracer(old)
    all_usable(t)


# -- real signals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "wanted"), [("read", "write"), ("write", "read"), ("write", "write")]
)
def test_sigint_while_waiting(sigint_raises: None, held: str, wanted: str) -> None:
    t = make_core()
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with t.write(1) if held == "write" else t.read(1):
            holding.set()
            release.wait(10)

    th = threading.Thread(target=holder, daemon=True)
    th.start()
    assert holding.wait(5)
    main = threading.main_thread().ident
    assert main is not None

    def killer() -> None:
        wait_until(lambda: t._entry_state(1)[2] == 1)
        time.sleep(0.02)
        signal.pthread_kill(main, signal.SIGINT)

    k = threading.Thread(target=killer, daemon=True)
    k.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        (t.write if wanted == "write" else t.read)(1, 10)
    assert time.monotonic() - t0 < 5
    assert t._entry_state(1)[2] == 0  # the waiter left the queue
    k.join(5)
    release.set()
    th.join(5)
    all_usable(t)


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_sigint_storm_into_a_tight_owner_loop(sigint_raises: None) -> None:
    """Real SIGINTs, every ~0.5 ms, into a loop of `with` blocks on the main thread.

    The handler raises KeyboardInterrupt only when the signal is handled in the loop's own
    frame (so that it can only hit the handle's life, never the test's bookkeeping).
    """
    t = make_core()
    main = threading.main_thread().ident
    assert main is not None
    stop = threading.Event()

    def owner_loop() -> None:
        while True:
            with t.write(0) as h:
                h["total"] = h["total"] + 1
            with t.read(1) as r:
                r["pid"]

    def handler(signum: int, frame: Any) -> None:
        if frame is not None and frame.f_code is owner_loop.__code__ and not stop.is_set():
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)

    def storm() -> None:
        while not stop.is_set():
            signal.pthread_kill(main, signal.SIGINT)
            time.sleep(0.0005)

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # let the storm thread run often
    th = threading.Thread(target=storm, daemon=True)
    th.start()
    hits = 0
    deadline = time.monotonic() + 3.0
    try:
        while hits < 200 and time.monotonic() < deadline:
            try:
                owner_loop()
            except KeyboardInterrupt:
                hits += 1
    finally:
        stop.set()
        sys.setswitchinterval(old_interval)
    th.join(5)
    assert hits >= 20
    all_usable(t)


def _async_raise(tid: int, exc: type[BaseException]) -> int:
    set_async = ctypes.pythonapi.PyThreadState_SetAsyncExc
    return int(set_async(ctypes.c_ulong(tid), ctypes.py_object(exc)))


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_async_exception_storm_into_foreign_threads() -> None:
    t = make_core()
    stop = threading.Event()
    hits = [0, 0]

    def victim(i: int) -> None:
        while not stop.is_set():
            try:
                while not stop.is_set():
                    with t.write(i % 2) as h:
                        h["total"] = h["total"] + 1
                    with t.read(2) as r:
                        r["pid"]
            except Boom:
                hits[i] += 1

    ths = [threading.Thread(target=victim, args=(i,), daemon=True) for i in range(2)]
    for th in ths:
        th.start()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        for th in ths:
            assert th.ident is not None
            _async_raise(th.ident, Boom)
        time.sleep(0.0005)
    stop.set()
    for th in ths:
        th.join(5)
        assert not th.is_alive()
    assert sum(hits) >= 20
    all_usable(t)


# -- abandoned handles (the cases both backends share are in tests/test_abandoned_handles.py) --


def test_warning_kept_by_a_recorder_resurrects_safely() -> None:
    t = make_core()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t.read(0)
        gc.collect()
    assert len(w) == 1 and w[0].source is not None and not w[0].source.alive
    del w
    all_usable(t)


# -- holders whose thread exited ------------------------------------------------------------


def test_owner_died_is_recovered_by_the_next_acquirer() -> None:
    t = make_core()
    leaked: list[Any] = []
    assert in_thread(lambda: leaked.append(t.write(1))) is None
    with pytest.warns(ResourceWarning, match=r"exited while holding a write handle on entry 1"):
        with t.write(1, 5) as h:
            h["pid"] = 5
    assert leaked[0].ended == "released (its thread exited while holding it)"
    with pytest.raises(Exception, match="its thread exited"):
        leaked[0]["pid"]
    all_usable(t)


def test_owner_dies_while_others_wait() -> None:
    t = make_core()
    leaked: list[Any] = []
    got, go = threading.Event(), threading.Event()

    def holder() -> None:
        leaked.append(t.read(1))
        got.set()
        go.wait(5)  # then exit, still holding it

    th = threading.Thread(target=holder, daemon=True)
    th.start()
    assert got.wait(5)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        w, box = start(lambda: t.write(1, 10).release())
        assert wait_until(lambda: t._entry_state(1)[2] == 1)
        go.set()
        th.join(5)
        w.join(5)
    assert box == [None]
    assert not leaked[0].alive
    all_usable(t)


def test_nothing_in_use_after_the_suite_of_attacks() -> None:
    t = make_core()
    all_usable(t)
    assert in_thread(lambda: usable(t, 2)) is True
