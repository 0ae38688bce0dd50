"""Run-time probes: every handle, every callback, every background run (plugin runs always;
scenario runs with --detect or --latency).

`Probes.installed()` patches, for the length of a run, the few places every entry handle and
every plugin thread passes through, and restores them afterwards:

    Table.read / Table.write (the imported views' too)           every handle taken
    EntryHandle.release / __exit__                               every handle given back
    WriteHandle.__setitem__ (--detect, plugin runs)              a seeded yield per field write
    CaptureListenInput.start_routine, AsyncContext.start_task    every background run
    the loaded plugins' own callbacks (`wrap_plugin`)            every host callback

With them it measures the wait for each handle (attributed to the plugin whose callback or
background task took it) and each callback's time; keeps, per thread, the handles it holds, so
that a handle still held when a callback or a background run ends is reported (`handle-leak`:
the host's scope releases token handles, but a leak is a bug in the plugin even then); and gives
the watchdog one `Lane` per thread, busy while inside a callback.

Under --detect it also closes the gap the library's lock tracer leaves: the owner's lock-free
fast path never calls the tracer, so the getters here report a lock-free handle to the detector
(acquire/acquired/release, the same events), which puts the owner's handles in the lock-order
graph and gives them the seeded yields. Tables therefore keep their fast path under --detect.
With interrupt injection on (--detect), the locks inside each entry lock (`_FairRWLock`'s,
made through the library's `_new_lock`) are wrapped: a blocking wait of the main thread ends,
by a seeded draw, in `InjectedInterrupt` after a short wait, as a Ctrl-C landing in that wait
would; the getter retries, so user code never sees it, but a lock the library failed to give
back on the way out leaves the retry (or another thread) stuck, which the watchdog and the
final table check report. Only blocked waits are interrupted: the narrower windows where a
real signal could land between two bytecodes are not modelled.

The patches reach library internals: `_new_lock` of `concurrent_tables.locking.rwlock` (the
factory `_FairRWLock` makes its locks with) and `EntryHandle._grant` (None: a lock-free borrow).

On the C core (`concurrent_tables.lock_backend() == "c"`) the handle type and its locks are C:
nothing there can be patched. The core's probe hook (`_core.set_probe`, ct_core.c "Probe and
planted faults") reports the same moments instead: "acquired" (with the handle's wait, measured
in C), "release", "store" (the seeded yield before a field write) and "wait" (a thread about to
block for an entry: where an injected interrupt lands, after a short seeded wait, as in the
Python core's lock waits). The C core has no lock-free path (every handle is a grant the lock
tracer sees), so nothing needs adding for the detector. `CoreTable.read`/`write` get only a
retry wrapper while interrupts are injected. The Python patches stay installed as well: they
cover the tables a test makes on the Python core (`PythonTable`) next to C ones.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from concurrent_tables import (
    TABLE_TIMEOUT,
    DetachedEntry,
    EntryHandle,
    Plugin,
    Table,
    WriteHandle,
    backend,
)
from concurrent_tables.locking import rwlock
from concurrent_tables.plugins.base import AsyncContext, CaptureListenInput

from .invariants import ViolationLog
from .scenario import Lane
from .stats import Histogram

#: Host callbacks wrapped on each loaded plugin (the generator of `open` per event).
CALLBACKS = (
    "init",
    "capture_open",
    "capture_close",
    "start_async",
    "stop_async",
    "parse_event",
    "extract",
    "destroy",
)

#: Chance that a blocking entry-lock wait of the main thread is interrupted (--detect).
INTERRUPT_PROBABILITY = 0.25
#: How long an interrupted wait waits before the interrupt lands (at most, seconds).
INTERRUPT_AFTER_S = 0.002


class InjectedInterrupt(BaseException):
    """Raised by the interrupt injector inside an entry-lock wait of the main thread."""


class _InterruptibleLock:
    """One of a `_FairRWLock`'s locks, whose blocking waits on the main thread may end in
    `InjectedInterrupt` (as a Ctrl-C landing in the wait would) and, once the run has stopped,
    in `RunAborted` (so that a stuck main thread lets the run end)."""

    __slots__ = ("_lock", "_probes")

    def __init__(self, lock: Any, probes: Probes) -> None:
        self._lock = lock
        self._probes = probes

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        lock, probes = self._lock, self._probes
        if lock.acquire(False):
            return True
        if not blocking:
            return False
        if probes._interrupt_now():
            if lock.acquire(True, INTERRUPT_AFTER_S * probes._rng.random()):
                return True
            probes.injected += 1
            raise InjectedInterrupt("injected by stress --detect in an entry-lock wait")
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        stop = probes.run_stop
        while True:
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                return False
            if lock.acquire(True, left):
                return True
            if stop is not None and stop.is_set() and threading.get_ident() == probes._main:
                raise RunAborted("the run stopped while the main thread waited for a lock")

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return bool(self._lock.locked())

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class RunAborted(BaseException):
    """Raised in the main thread's entry-lock wait once the run has stopped (a stuck run)."""


@dataclass
class ThreadProbe:
    """One thread's state: what it runs now, what it holds, what it measured."""

    name: str
    lane: Lane
    plugin: str = ""
    callback: str = ""
    busy_since: float | None = None
    #: id(handle) -> (handle, table, write, lock_free)
    held: dict[int, tuple[Any, Any, bool, bool]] = field(default_factory=dict)
    #: Held handles already reported as leaked (still held: a release may come later).
    reported: set[int] = field(default_factory=set)
    waits: dict[str, Histogram] = field(default_factory=dict)
    calls: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    handles: int = 0
    waiting: bool = False


class Probes:
    """The probes of one run (see the module docstring)."""

    def __init__(
        self,
        violations: ViolationLog,
        *,
        detector: Any = None,
        interrupts: bool = False,
        seed: int = 0,
        by_thread: bool = False,
        stop: threading.Event | None = None,
        field_yields: bool = False,
    ) -> None:
        self.violations = violations
        #: Key handle waits by thread name (scenario runs) rather than by plugin.
        self.by_thread = by_thread
        self.detector = detector
        self.interrupts = interrupts
        self.seed = seed
        self.lanes: list[Lane] = []
        #: (plugin, callback, thread, exception) of every exception escaping a callback.
        self.errors: list[tuple[str, str, str, BaseException]] = []
        #: (plugin, task) of every routine and async task started.
        self.tasks: list[tuple[str, Any]] = []
        self.threads: list[ThreadProbe] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self.leaks = 0
        self.injected = 0
        self._main = threading.main_thread().ident
        self._rng = random.Random(seed)
        #: --detect: yield before field writes (plugin runs; scenarios call ctx.yield_point).
        self.field_yields = field_yields
        #: The run's stop flag: once set, a main thread blocked in a lock wait is aborted.
        self.run_stop = stop

    # -- per thread ------------------------------------------------------------------------------

    def state(self) -> ThreadProbe:
        try:
            st: ThreadProbe = self._local.st
        except AttributeError:
            name = threading.current_thread().name
            if threading.get_ident() == self._main:
                name = "main"
            with self._lock:
                lane = Lane(name, len(self.lanes), random.Random(0))
                st = ThreadProbe(name, lane)
                self.lanes.append(lane)
                self.threads.append(st)
            self._local.st = st
        return st

    def busy(self, lane: Lane) -> bool:
        """The watchdog's question: is this thread inside a callback or background run?"""
        for st in self.threads:
            if st.lane is lane:
                return st.busy_since is not None
        return False

    def call(self, plugin: str, name: str, fn: Callable[..., Any], *a: Any, **k: Any) -> Any:
        """Run `fn(*a, **k)` as one callback of `plugin`: timed, its exception recorded, the
        handles it leaves held reported. (Not a context manager: this runs per task step.)"""
        st = self.state()
        outer_plugin, outer_cb, outer_busy = st.plugin, st.callback, st.busy_since
        held = st.held
        before = set(held) if held else None
        st.plugin, st.callback = plugin, name
        st.busy_since = time.monotonic()
        t0 = time.perf_counter_ns()
        try:
            return fn(*a, **k)
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit | StopIteration):
                with self._lock:
                    self.errors.append((plugin, name, st.name, exc))
            raise
        finally:
            dt = time.perf_counter_ns() - t0
            h = st.calls.get((plugin, name))
            if h is None:
                h = st.calls[(plugin, name)] = Histogram()
            h.add(dt)
            st.lane.ops += 1
            if held:
                left = [
                    k for k in held if (before is None or k not in before) and k not in st.reported
                ]
                if left:
                    st.reported.update(left)
                    self._leaked(st, plugin, name, [held[k] for k in left])
            st.plugin, st.callback, st.busy_since = outer_plugin, outer_cb, outer_busy

    def _leaked(
        self, st: ThreadProbe, plugin: str, name: str, left: list[tuple[Any, Any, bool, bool]]
    ) -> None:
        self.leaks += len(left)
        self.violations.add(
            "handle-leak",
            {
                "plugin": plugin,
                "callback": name,
                "thread": st.name,
                "handles": [
                    f"{'write' if w else 'read'} {t.name}[{h.key!r}]" for h, t, w, _ in left
                ],
                "why": "a handle was still held when the callback returned",
            },
        )

    # -- handle getters and release --------------------------------------------------------------

    def _wrap_getter(self, orig: Callable[..., Any], write: bool) -> Callable[..., Any]:
        state, det, by_thread = self.state, self.detector, self.by_thread
        perf = time.perf_counter_ns

        def get(table: Table[Any, Any], key: Any, timeout: Any = TABLE_TIMEOUT) -> Any:
            st = state()
            if det is not None:
                det.yield_point()
            t0 = perf()
            while True:
                st.waiting = True
                try:
                    h = orig(table, key, timeout)
                    break
                except InjectedInterrupt:
                    continue  # as if the program caught Ctrl-C and went on: take it again
                finally:
                    st.waiting = False
            dt = perf() - t0
            who = st.name if by_thread else st.plugin
            hist = st.waits.get(who)
            if hist is None:
                hist = st.waits[who] = Histogram()
            hist.add(dt)
            st.handles += 1
            st.lane.ops += 1
            lock_free = h._grant is None and table.thread_safe
            st.held[id(h)] = (h, table, write, lock_free)
            if lock_free and det is not None:
                dom = table._domain
                det.trace("acquire", dom, table, key, write)
                det.trace("acquired", dom, table, key, write)
            return h

        get.__name__ = getattr(orig, "__name__", "get")
        get.__doc__ = orig.__doc__
        return get

    def _wrap_release(self, orig: Callable[..., Any], name: str) -> Callable[..., Any]:
        state, det = self.state, self.detector

        def release(h: EntryHandle, *exc: object) -> Any:
            st = state()
            entry = st.held.pop(id(h), None)
            if st.reported:
                st.reported.discard(id(h))
            out = orig(h, *exc)
            if entry is not None and entry[3] and det is not None:
                table = h._table
                det.trace("release", table._domain, table, h._key, entry[2])
            return out

        release.__name__ = name
        return release

    def _wrap_setitem(self, orig: Callable[..., Any]) -> Callable[..., Any]:
        yield_point = self.detector.yield_point

        def setitem(h: EntryHandle, f: Any, value: Any) -> None:
            if h.__class__ is not DetachedEntry and h._table.thread_safe:
                yield_point()
            orig(h, f, value)

        return setitem

    # -- the C core's probe ---------------------------------------------------------------------

    def _core_probe(self) -> Callable[[str, Any, Any, bool, Any, int], None]:
        """The C core's probe (see the module docstring): the getters' and releases' work."""
        state, by_thread = self.state, self.by_thread
        det = self.detector
        yields = det is not None and self.field_yields
        wait = self._core_wait

        def probe(event: str, table: Any, key: Any, write: bool, h: Any, wait_ns: int) -> None:
            if event == "acquired":
                st = state()
                who = st.name if by_thread else st.plugin
                hist = st.waits.get(who)
                if hist is None:
                    hist = st.waits[who] = Histogram()
                hist.add(wait_ns)
                st.handles += 1
                st.lane.ops += 1
                st.held[id(h)] = (h, table, write, False)
            elif event == "release":
                st = state()
                st.held.pop(id(h), None)
                if st.reported:
                    st.reported.discard(id(h))
            elif event == "store":
                if yields and table._domain.thread_safe:
                    det.yield_point()
            elif event == "wait":
                wait(wait_ns)

        return probe

    def _core_wait(self, waited_ns: int) -> None:
        """A C-core wait about to block (again): abort a stuck main thread once the run has
        stopped; inject an interrupt into the main thread's wait (at its first slice only)."""
        if threading.get_ident() != self._main:
            return
        stop = self.run_stop
        if stop is not None and stop.is_set():
            raise RunAborted("the run stopped while the main thread waited for a lock")
        # The core re-checks every 50 ms: a first call comes well inside the first millisecond.
        if self.interrupts and waited_ns < 1_000_000 and self._interrupt_now():
            time.sleep(INTERRUPT_AFTER_S * self._rng.random())
            self.injected += 1
            raise InjectedInterrupt("injected by stress --detect in an entry wait")

    @staticmethod
    def _retrying(orig: Callable[..., Any]) -> Callable[..., Any]:
        """A C-core getter that takes the handle again after an injected interrupt."""

        def get(table: Any, key: Any, *a: Any, **k: Any) -> Any:
            while True:
                try:
                    return orig(table, key, *a, **k)
                except InjectedInterrupt:
                    continue  # as if the program caught Ctrl-C and went on: take it again

        get.__name__ = getattr(orig, "__name__", "get")
        get.__doc__ = orig.__doc__
        return get

    # -- background runs -------------------------------------------------------------------------

    def _wrap_target(self, plugin: str, kind: str, target: Callable[[], Any]) -> Callable[[], Any]:
        call = self.call

        def run() -> Any:
            return call(plugin, kind, target)

        return run

    def _wrap_start_routine(self, orig: Callable[..., Any]) -> Callable[..., Any]:
        probes = self

        def start_routine(cap: CaptureListenInput, target: Callable[[], Any], **kw: Any) -> Any:
            plugin = cap._scope.plugin
            task = orig(cap, probes._wrap_target(plugin, "routine", target), **kw)
            probes.tasks.append((plugin, task))
            return task

        return start_routine

    def _wrap_start_task(self, orig: Callable[..., Any]) -> Callable[..., Any]:
        probes = self

        def start_task(ctx: AsyncContext, target: Callable[[], Any], **kw: Any) -> Any:
            task = orig(ctx, probes._wrap_target(ctx.plugin, "async task", target), **kw)
            probes.tasks.append((ctx.plugin, task))
            return task

        return start_task

    # -- plugins ---------------------------------------------------------------------------------

    def wrap_plugin(self, plugin: Plugin) -> None:
        """Time every host callback of `plugin` and check what it leaves held."""
        name = plugin.plugin_name
        for cb in CALLBACKS:
            fn = getattr(plugin, cb, None)
            if fn is None or not callable(fn):
                continue
            try:
                setattr(plugin, cb, self._wrap_callback(name, cb, fn))
            except (AttributeError, TypeError):
                pass  # a plugin with __slots__: measured as a whole by the host loop only
        open_fn = getattr(plugin, "open", None)
        if callable(open_fn) and hasattr(plugin, "event_source"):
            try:
                setattr(plugin, "open", self._wrap_open(name, open_fn))  # noqa: B010
            except (AttributeError, TypeError):
                pass

    def _wrap_callback(self, plugin: str, cb: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        call = self.call

        def callback(*a: Any, **k: Any) -> Any:
            return call(plugin, cb, fn, *a, **k)

        return callback

    def _wrap_open(self, plugin: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        probes = self

        def open_events() -> Iterator[Any]:
            it = probes.call(plugin, "open", lambda: iter(fn()))
            end = object()
            try:
                while True:
                    ev = probes.call(plugin, "next_event", next, it, end)
                    if ev is end:
                        return
                    yield ev
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()

        return open_events

    # -- install ---------------------------------------------------------------------------------

    @contextmanager
    def installed(self) -> Iterator[Probes]:
        saved: list[tuple[Any, str, Any]] = []

        def patch(obj: Any, name: str, new: Any) -> None:
            saved.append((obj, name, obj.__dict__[name] if name in obj.__dict__ else None))
            setattr(obj, name, new)

        patch(Table, "read", self._wrap_getter(Table.read, False))
        patch(Table, "write", self._wrap_getter(Table.write, True))
        patch(EntryHandle, "release", self._wrap_release(EntryHandle.release, "release"))
        patch(EntryHandle, "__exit__", self._wrap_release(EntryHandle.__exit__, "__exit__"))
        patch(
            CaptureListenInput,
            "start_routine",
            self._wrap_start_routine(CaptureListenInput.start_routine),
        )
        patch(AsyncContext, "start_task", self._wrap_start_task(AsyncContext.start_task))
        if self.detector is not None and self.field_yields:
            # A seeded yield before each field write inside a handle: the window of a
            # read-modify-write, where a handle that fails to exclude others loses an update.
            patch(WriteHandle, "__setitem__", self._wrap_setitem(WriteHandle.__setitem__))
        if self.interrupts:
            patch(rwlock, "_new_lock", self._new_lock_factory(rwlock._new_lock))
        core = backend.core
        old_probe: Any = None
        if core is not None:
            from concurrent_tables.table import CoreTable

            if self.interrupts:
                patch(CoreTable, "read", self._retrying(CoreTable.read))
                patch(CoreTable, "write", self._retrying(CoreTable.write))
            old_probe = core.set_probe(self._core_probe())
        try:
            yield self
        finally:
            if core is not None:
                core.set_probe(old_probe)
            for obj, name, old in reversed(saved):
                if old is None:
                    delattr(obj, name)
                else:
                    setattr(obj, name, old)

    # -- interrupt injection ---------------------------------------------------------------------

    def _new_lock_factory(self, orig: Callable[[], Any]) -> Callable[[], Any]:
        """`_new_lock` that gives the entry locks' own locks (those a `_FairRWLock` makes) an
        interruptible wrapper, and everything else (the domain mutex) a plain lock."""
        probes = self

        def new_lock() -> Any:
            caller = sys._getframe(1).f_locals.get("self")
            lock = orig()
            if caller is not None and type(caller).__name__ == "_FairRWLock":
                return _InterruptibleLock(lock, probes)
            return lock

        return new_lock

    def _interrupt_now(self) -> bool:
        """Should this blocking entry-lock wait of the main thread be interrupted? (seeded)"""
        if threading.get_ident() != self._main:
            return False
        with self._lock:
            return self._rng.random() < INTERRUPT_PROBABILITY

    # -- results ---------------------------------------------------------------------------------

    def waits_by_plugin(self) -> dict[str, Histogram]:
        out: dict[str, Histogram] = {}
        for st in self.threads:
            for plugin, h in list(st.waits.items()):
                # Outside any callback: the harness's checks (main), a native plugin's thread.
                who = plugin or f"outside callbacks: {st.name}"
                out.setdefault(who, Histogram()).merge(h)
        return out

    def calls_by_plugin(self) -> dict[str, dict[str, Histogram]]:
        out: dict[str, dict[str, Histogram]] = {}
        for st in self.threads:
            for (plugin, cb), h in list(st.calls.items()):
                out.setdefault(plugin, {}).setdefault(cb, Histogram()).merge(h)
        return out

    def handles_by_thread(self) -> dict[str, int]:
        return {st.name: st.handles for st in self.threads}
