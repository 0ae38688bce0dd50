"""Interrupts as an attacker sends them, on the running backend: no key wedged, no lock left in use.

- an exception injected at every Python function entry and every C call of a handle's life (a
  `sys.setprofile` hook raising at the n-th "call" / "c_call" event, for every n), on every
  lock path: the owner's lock-free handles, the locked path (fast_path=False, and a thread
  that is not the owner), and a single-threaded table;
- storms of real SIGINTs into a tight loop of `with t.write(k)` blocks, of the owner and of
  a thread that is not the owner, caught in the loop's own frame;
- storms of `PyThreadState_SetAsyncExc` exceptions into threads contending for the same keys,
  caught in the frame of their `with` blocks;
- on the Python core, an exception at the very entry of `__exit__` with the block's variable
  still alive, and at the very start of `__del__` of a collected handle (locking/reclaim.py).

Afterwards every key is usable from the owner and from another thread at once, and
`statistics().locks_in_use` is 0. (A handle lost on its way to its owner is released when it is
collected, with a ResourceWarning: those warnings are expected here.) The C core's own attack
tests are in tests/core/test_core_interrupts.py.
"""

from __future__ import annotations

import ctypes
import gc
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import Row, python_core_only, usable_from_another_thread

from concurrent_tables import U64, backend
from concurrent_tables import table as table_module
from concurrent_tables.errors import StaleHandleError
from concurrent_tables.table import PythonTable

pytestmark = [pytest.mark.timeout(60), pytest.mark.filterwarnings("ignore::ResourceWarning")]

#: The running backend: the suite runs once per backend (README), so each pass attacks its own.
BACKENDS = ["c"] if backend.core is not None else ["python"]


class Boom(Exception):
    pass


def make(kind: str, mode: str = "fast_path", owner: int | None = None, n: int = 3) -> Any:
    """A table of `Row` on backend `kind` with rows 0..n-1; mode: fast_path, locks_only,
    single (single-threaded)."""
    cls: Any = PythonTable if kind == "python" else table_module.CoreTable  # type: ignore[attr-defined]
    t = cls(
        "rows",
        U64,
        Row,
        thread_safe=mode != "single",
        fast_path=mode == "fast_path",
        owner_thread=owner,
        timeout=5.0,
    )
    for k in range(n):
        e = t.create_entry()
        e["a"], e["b"], e["total"], e["tag"] = k, k + 1, 2 * k + 1, str(k)
        t.add_entry(k, e)
    return t


def all_usable(t: Any, keys: range = range(3)) -> None:
    gc.collect()  # handles kept by tracebacks of the injected exceptions
    for k in keys:
        if t.thread_safe or threading.get_ident() == t.owner_thread:
            with t.write(k, 0.5) as h:
                assert h["b"] == h["a"] + 1, k
        if t.thread_safe:
            assert usable_from_another_thread(t, k), k
    assert t.statistics().locks_in_use == 0


def life(t: Any) -> None:
    """A handle's life on every path: write, nested read of another key, a second read of the
    same key (shared), an explicit release, a refused conflict."""
    with t.write(0) as h:
        h["counter"] = h["counter"] + 1
        with t.read(1) as r, t.read(1) as r2:
            r["a"]
            r2["b"]
    h2 = t.read(2)
    h2["tag"]
    h2.release()
    with t.read(2) as r:
        try:
            t.write(2)
        except Exception:
            pass
        r["a"]


def inject_everywhere(t: Any, kind: str) -> int:
    """Run `life` once per profile event of kind `kind`, raising Boom at that event."""
    n, injected = 0, 0
    armed = [False]
    while True:
        count = [0]

        def hook(frame: Any, event: str, arg: Any, n: int = n, count: list[int] = count) -> None:
            # A `with` block's own exit call is not a point where CPython delivers an
            # interrupt: one that arrives after the block's last call runs the exit anyway.
            if armed[0] and event == kind and getattr(arg, "__name__", "") != "__exit__":
                count[0] += 1
                if count[0] == n + 1:
                    raise Boom

        sys.setprofile(hook)
        armed[0] = True
        try:
            life(t)
        except Boom:
            injected += 1
        else:
            break
        finally:
            armed[0] = False
            sys.setprofile(None)
        all_usable(t)
        n += 1
        assert n < 3000, "life() never ran to its end"
    all_usable(t)
    return injected


@pytest.mark.parametrize("event", ["call", "c_call"])
@pytest.mark.parametrize("mode", ["fast_path", "locks_only", "single", "foreign"])
@pytest.mark.parametrize("kind", BACKENDS)
def test_exception_injected_at_every_call(kind: str, mode: str, event: str) -> None:
    """Every n: the exception hits the n-th call of the life (for "foreign", the table's owner
    is another thread, so every handle takes the locked path with the owner check)."""
    if mode == "foreign":
        other = threading.Thread(target=lambda: None, daemon=True)
        other.start()
        other.join(5)
        assert other.ident is not None
        t = make(kind, "fast_path", owner=other.ident)
    else:
        t = make(kind, mode)
    injected = inject_everywhere(t, event)
    if kind == "python" or event == "c_call":
        assert injected >= 5
    assert t.statistics().locks_in_use == 0


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGINT is delivered to the main thread only")
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def storm(fire: Callable[[], None], stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            fire()
            time.sleep(0.0003)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def other_thread_ident() -> int:
    """The id of a thread that has run and exited: an owner that is not this thread."""
    other = threading.Thread(target=lambda: None, daemon=True)
    other.start()
    other.join(5)
    assert other.ident is not None
    return other.ident


@pytest.mark.parametrize("mode", ["fast_path", "locks_only", "foreign"])
@pytest.mark.parametrize("kind", BACKENDS)
def test_sigint_storm_into_a_tight_loop(sigint_raises: None, kind: str, mode: str) -> None:
    """Real SIGINTs into a tight loop of `with` blocks that catches the KeyboardInterrupt in
    the same frame, so that a handle whose block an interrupt ended is still referred to by the
    block's variable when the loop asks for the key again (the worst case for an exit cut
    short): the loop must never get a ReentrancyError or a LockTimeoutError. "foreign": the
    table's owner is another thread, so this one takes the entry locks. The handler raises
    wherever it runs inside the loop's statements, finalisers and the library included."""
    t = make(kind, mode, owner=other_thread_ident() if mode == "foreign" else None)
    main = threading.main_thread().ident
    assert main is not None
    stop = threading.Event()
    active = [False]

    def handler(signum: int, frame: Any) -> None:
        if active[0]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    # An interrupt in a finaliser is unraisable: recorded here, not by pytest's own hook (which
    # an interrupt would break: the test run's failure, not the library's).
    old_hook, sys.unraisablehook = sys.unraisablehook, lambda u: None
    th = storm(lambda: signal.pthread_kill(main, signal.SIGINT), stop)
    hits, done, failures = 0, 0, []
    deadline = time.monotonic() + 3.0
    try:
        while (hits < 300 or done < 20) and time.monotonic() < deadline:
            try:
                active[0] = True
                with t.write(0, 2.0) as h:
                    h["counter"] = h["counter"] + 1
                with t.read(1, 2.0) as r:
                    r["a"]
                active[0] = False
                done += 1
            except KeyboardInterrupt:
                active[0] = False
                hits += 1
            except Exception as exc:  # ReentrancyError, LockTimeoutError: a wedged key
                active[0] = False
                failures.append(exc)
                break
    finally:
        active[0] = False
        stop.set()
        sys.setswitchinterval(old)
        sys.unraisablehook = old_hook
    th.join(5)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    assert not failures, failures[0]
    assert hits >= 20 and done >= 5
    del h, r
    all_usable(t)


def _async_raise(tid: int, exc: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(exc))


@pytest.mark.parametrize("mode", ["fast_path", "locks_only"])
@pytest.mark.parametrize("kind", BACKENDS)
def test_async_exception_storm_into_contending_threads(kind: str, mode: str) -> None:
    """Three threads (none the owner) write keys 0/1 and read key 2 in turn, and the owner
    writes key 0 too, while every thread but the owner gets asynchronous exceptions. Each
    thread catches them in the frame of its `with` blocks and goes on: a handle whose block an
    exception ended is still referred to by the block's variable, yet neither that thread nor
    the others may find the key wedged."""
    t = make(kind, mode)
    stop = threading.Event()
    hits = [0, 0, 0]
    errors: list[BaseException] = []

    def victim(i: int) -> None:
        while True:  # the outer try catches what lands between two iterations of the inner loop
            try:
                while not stop.is_set():
                    try:
                        with t.write(i % 2, 2.0) as h:
                            h["counter"] = h["counter"] + 1
                        with t.read(2, 2.0) as r:
                            r["a"]
                    except Boom:
                        hits[i] += 1
                return
            except Boom:
                hits[i] += 1
            except BaseException as exc:  # a timeout or a ReentrancyError: a wedged key
                errors.append(exc)
                return

    ths = [threading.Thread(target=victim, args=(i,), daemon=True) for i in range(3)]
    for th in ths:
        th.start()
    end = time.monotonic() + 1.5
    # One exception in flight per thread: the next is sent once the last one has landed (and
    # been caught), so each lands at some point of a handle's life, never inside the recovery
    # from the one before (an exception raised in a finaliser is unraisable: the Python core's
    # documented window).
    sent = [0, 0, 0]
    last = [0.0, 0.0, 0.0]
    unraisable: list[Any] = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: unraisable.append(u.exc_type)
    try:
        while time.monotonic() < end:
            now = time.monotonic()
            for i, th in enumerate(ths):
                # (or after 50 ms: one that landed in a finaliser is never counted)
                if sent[i] == hits[i] or now - last[i] > 0.05:
                    sent[i], last[i] = hits[i] + 1, now
                    assert th.ident is not None
                    _async_raise(th.ident, Boom)
            with t.write(0, 5.0) as h:  # the owner keeps taking key 0 meanwhile
                h["counter"] = h["counter"] + 1
            time.sleep(0.0003)
        stop.set()
        for th in ths:
            th.join(10)
            assert not th.is_alive()
        gc.collect()
    finally:
        sys.unraisablehook = old_hook
    assert not errors, errors[0]
    assert sum(hits) >= 20
    all_usable(t)


# -- the Python core's own windows: its exits and finalisers are Python functions ---------------


@contextmanager
def raising_at(name: str) -> Iterator[list[bool]]:
    """Raise Boom once, on the entry of the next call of the handles' method `name` (where
    CPython would deliver a KeyboardInterrupt or an asynchronous exception)."""
    fired = [False]

    def hook(frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code
        if event == "call" and not fired[0] and code.co_name == name:
            if code.co_filename.endswith("handles.py"):
                fired[0] = True
                raise Boom

    sys.setprofile(hook)
    try:
        yield fired
    finally:
        sys.setprofile(None)


@python_core_only
@pytest.mark.parametrize("mode", ["fast_path", "locks_only", "single", "foreign"])
def test_an_exception_on_the_entry_of_exit_with_the_variable_alive(mode: str) -> None:
    """The exception lands on the entry of the block's `__exit__`, before any of its code: the
    handle still holds its entry and the block's variable still refers to it. Its thread's
    next request for the key recovers it (with a ResourceWarning); so does another thread that
    waits for the key. The handle is stale afterwards."""
    t = make("python", mode, owner=other_thread_ident() if mode == "foreign" else None)
    for key, write in ((0, True), (0, False), (1, True)):
        with raising_at("__exit__") as fired:
            try:
                with t.write(key) if write else t.read(key) as h:
                    h["a"]
            except Boom:
                pass
        assert fired[0] and h.alive  # the exit never ran
        with pytest.warns(ResourceWarning, match="ended without its exit"):
            with t.write(key, 2.0) as again:
                again["counter"] = 1
        assert not h.alive
        with pytest.raises(StaleHandleError, match="ended without its exit"):
            h["a"]
    if mode != "single":  # recovered by another thread, which waits for the key
        with raising_at("__exit__"):
            try:
                with t.write(2) as h:
                    pass
            except Boom:
                pass
        assert h.alive
        assert usable_from_another_thread(t, 2, within=2.0)
        assert not h.alive
    all_usable(t)


@python_core_only
@pytest.mark.parametrize("mode", ["fast_path", "locks_only", "single"])
def test_an_exception_on_the_entry_of_a_finaliser(mode: str) -> None:
    """The exception lands on the entry of a collected handle's `__del__`: it is unraisable, and
    the release the finaliser would have made is lost. The record it leaves, with no handle
    behind it, is recovered by the thread that next conflicts with it or waits for it."""
    t = make("python", mode)
    lost: list[Any] = []
    old = sys.unraisablehook
    sys.unraisablehook = lambda u: lost.append(u.exc_type)
    try:
        for key in (0, 1):
            h = t.write(key) if key == 0 else t.read(key)
            with raising_at("__del__"):
                del h
                gc.collect()
    finally:
        sys.unraisablehook = old
    assert lost == [Boom, Boom]
    assert t.statistics().locks_in_use == 2  # taken, with no handle left
    with pytest.warns(ResourceWarning, match="no handle left"):
        with t.write(0, 2.0) as h:  # this thread conflicts with the orphaned write
            h["counter"] = 1
    if mode == "single":
        with pytest.warns(ResourceWarning, match="no handle left"):
            t.write(1, 2.0).release()
    else:
        assert usable_from_another_thread(t, 1, within=2.0)  # waits, then recovers it
    all_usable(t)
