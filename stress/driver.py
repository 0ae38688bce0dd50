"""Running a scenario: threads, timing, detection, and the report.

THE SEAM FOR THE PLUGIN HOST. `ThreadDriver` drives a scenario's pieces itself: it calls
`setup()` and `step()` on the calling thread and runs each `Worker` on a thread of its own. A
`HostDriver` (once `concurrent_tables.host` lands) implements the same `Driver.drive()` by wrapping
the scenario as plugins instead:

    scenario.setup()     -> a parse plugin's init (it creates and exports the tables)
    scenario.step(lane)  -> the host's event loop: a source plugin emits event i, a parse plugin
                            runs the parse half, an extract plugin the extract half (today the
                            scenario's step does both on the capture thread)
    workers (role)       -> "async": an async plugin's start/stop spawning the thread;
                            "listen": a listen plugin's capture-open routine
    check() / finish()   -> unchanged (harness code, not plugin code)

Everything else here (tracer, watchdog, error counting, report) stays as it is; only
`ThreadDriver._main_loop` and `ThreadDriver._start_workers` are host-specific.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Protocol

from concurrent_tables import locking

from .detect import Detector, count_errors
from .invariants import ViolationLog
from .monitor import Monitor, thread_stacks
from .report import RunReport, lock_stats
from .scenario import SCENARIOS, Lane, RunContext, RunOptions, Scenario, Worker

#: How often the main loop runs the scenario's online checks.
CHECK_EVERY_S = 0.05


class Driver(Protocol):
    def drive(self, scenario: Scenario, ctx: RunContext) -> RunReport: ...


@contextmanager
def switch_interval(seconds: float | None) -> Iterator[None]:
    old = sys.getswitchinterval()
    if seconds is not None:
        sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@contextmanager
def tracing(detector: Detector | None) -> Iterator[None]:
    if detector is None:
        yield
        return
    old = locking.set_tracer(detector.trace)
    try:
        yield
    finally:
        locking.set_tracer(old)


class ThreadDriver:
    """Runs the scenario's main step on this thread and each worker on its own thread."""

    def __init__(self) -> None:
        self.thread_errors: list[dict[str, Any]] = []
        self._errors_lock = threading.Lock()
        self._finished: set[str] = set()

    def drive(self, scenario: Scenario, ctx: RunContext) -> RunReport:
        opts = ctx.options
        detector = Detector(opts.seed, opts.yield_probability) if opts.detect else None
        if detector is not None:
            ctx.yield_point = detector.yield_point
        interval = opts.switch_interval_s
        if interval is None:
            interval = scenario.switch_interval_s
        if interval is None and opts.detect:
            interval = 1e-6
        counts: Counter[str] = Counter()
        with switch_interval(interval), tracing(detector):
            with count_errors() if opts.detect else nullcontext(counts) as counted:
                t0 = time.perf_counter()
                main = Lane("main", 0, ctx.rng("lane", "main"))
                scenario.setup()
                workers = scenario.workers(max(opts.threads, scenario.min_threads))
                lanes = [main] + [
                    Lane(w.name, i + 1, ctx.rng("lane", w.name)) for i, w in enumerate(workers)
                ]
                ctx.violations.t0 = time.monotonic()
                threads = self._start_workers(workers, lanes[1:], ctx)
                monitor = Monitor(
                    lanes,
                    ctx.violations,
                    ctx.stop,
                    stall_s=opts.stall_s,
                    progress=opts.progress,
                    alive=lambda lane: lane.name not in self._finished,
                )
                monitor.start()
                t_start = time.perf_counter()
                self._main_loop(scenario, ctx, main, t_start + opts.duration_s)
                self._finished.add("main")
                ctx.stop.set()
                hung = self._join(threads, opts.stall_s + 1.0)
                elapsed = time.perf_counter() - t_start
                monitor.finish()
                if hung and not monitor.deadlocked:
                    ctx.violation("deadlock", stalled_threads=hung, stacks=thread_stacks())
                if not hung:
                    self._guard("main", scenario.finish)
                counts = Counter(counted)
        if detector is not None:
            for cycle in detector.cycles():
                ctx.violation("lock-order-cycle", **cycle)
        return RunReport.build(
            options=opts,
            scenario=scenario,
            switch_interval_s=interval if interval is not None else sys.getswitchinterval(),
            elapsed_s=elapsed,
            setup_s=t_start - t0,
            lanes=lanes,
            roles={"main": "parse+extract", **{w.name: w.role for w in workers}},
            violations=ctx.violations,
            lock_stats=lock_stats(ctx.tables),
            thread_errors=self.thread_errors,
            hung_threads=hung,
            detect=None
            if detector is None
            else {**detector.report(), "errors_raised": dict(counts)},
        )

    # -- host-specific part -------------------------------------------------------------------

    def _main_loop(self, scenario: Scenario, ctx: RunContext, lane: Lane, deadline: float) -> None:
        stop = ctx.stop
        step = scenario.step
        next_check = time.perf_counter() + CHECK_EVERY_S
        try:
            while not stop.is_set():
                lane.ops += step(lane)
                now = time.perf_counter()
                if now >= next_check:
                    scenario.check()
                    if now >= deadline:
                        break
                    next_check = now + CHECK_EVERY_S
        except BaseException as exc:
            self._thread_error("main", exc)
            stop.set()

    def _start_workers(
        self, workers: list[Worker], lanes: list[Lane], ctx: RunContext
    ) -> list[threading.Thread]:
        threads = []
        for w, lane in zip(workers, lanes, strict=True):
            t = threading.Thread(
                target=self._worker_loop, args=(w, lane, ctx.stop), name=w.name, daemon=True
            )
            threads.append(t)
        for t in threads:
            t.start()
        return threads

    # -- common part ----------------------------------------------------------------------------

    def _worker_loop(self, w: Worker, lane: Lane, stop: threading.Event) -> None:
        step, pause = w.step, w.pause_s
        try:
            while not stop.is_set():
                lane.ops += step(lane)
                if pause:
                    stop.wait(pause)
        except BaseException as exc:
            self._thread_error(w.name, exc)
        finally:
            self._finished.add(w.name)

    def _guard(self, name: str, fn: Any) -> None:
        try:
            fn()
        except BaseException as exc:
            self._thread_error(name, exc)

    def _thread_error(self, name: str, exc: BaseException) -> None:
        with self._errors_lock:
            self.thread_errors.append(
                {
                    "thread": name,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": "".join(traceback.format_exception(exc)),
                }
            )

    @staticmethod
    def _join(threads: list[threading.Thread], timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in threads if t.is_alive()]


def run(options: RunOptions, driver: Driver | None = None) -> RunReport:
    """Run one scenario by name and return its report."""
    cls = SCENARIOS[options.scenario]
    ctx = RunContext(options, ViolationLog())
    scenario = cls(ctx)
    return (driver or ThreadDriver()).drive(scenario, ctx)
