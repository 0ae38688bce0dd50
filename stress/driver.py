"""Running a scenario: timing, detection, watchdog, the report; the threads driver.

Two drivers run a scenario's pieces (see `stress.scenario`):

    HostDriver (stress.host_driver, the default)   through a real `PluginHost`
    ThreadDriver (here, `--driver threads`)         raw tables and plain threads

Both share `BaseDriver.drive`: switch interval, --detect (tracer, yields, error counting), the
monitor (progress, watchdog), the final checks and the report. A driver supplies `_setup`
(make the tables: `scenario.setup()`, one way or another) and `_run` (start the workers, run
events on this thread until the deadline or a stop, stop and join the workers; returns the
threads that did not end).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Protocol

from concurrent_tables.locking import set_tracer

from .detect import Detector, count_errors
from .instrument import Probes
from .interrupt import on_interrupt
from .invariants import ViolationLog
from .monitor import Monitor, thread_stacks
from .report import CHECKED_KINDS, RunReport, lock_stats
from .scenario import (
    SCENARIOS,
    Lane,
    RunContext,
    RunOptions,
    Scenario,
    ScenarioUnavailable,
    Worker,
)
from .stats import merged

#: How often the main loop runs the scenario's online checks.
CHECK_EVERY_S = 0.05


def add_measurements(report: RunReport, probes: Probes, monitor: Monitor) -> None:
    """Handle waits, callback times, throughput over time and per-thread handles."""
    waits = probes.waits_by_plugin()
    everything = merged(waits.values())
    report.latency = {
        "handle_wait_ns": {who: h.summary() for who, h in sorted(waits.items())},
        "callback_ns": {
            plugin: {cb: h.summary() for cb, h in sorted(cbs.items())}
            for plugin, cbs in sorted(probes.calls_by_plugin().items())
        },
    }
    if len(waits) > 1:
        report.latency["handle_wait_ns"]["(all)"] = everything.summary()
    report.wait_histogram = [[b, n] for b, n in everything.bars()]
    report.throughput = [[t, r] for t, r in monitor.timeline]
    report.handles_by_thread = probes.handles_by_thread()


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
    old = set_tracer(detector.trace)
    try:
        yield
    finally:
        set_tracer(old)


class BaseDriver(ABC):
    """What every driver shares; see the module docstring."""

    #: Short name, as `--driver` spells it.
    name: str = ""
    #: What the main thread does, for the report's roles.
    main_role: str = ""

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
        probes = Probes(
            ctx.violations,
            detector=detector,
            interrupts=opts.detect and opts.interrupts,
            seed=opts.seed,
            by_thread=True,
        )
        # The probes cost a few us per handle: on under --detect (they trace the owner's fast
        # path) or when asked for latencies (--latency); plugin runs always have them.
        measure = opts.detect or opts.latency
        with (
            on_interrupt(ctx.stop) as intr,
            switch_interval(interval),
            tracing(detector),
            probes.installed() if measure else nullcontext(probes),
        ):
            with count_errors() if opts.detect else nullcontext(counts) as counted:
                t0 = time.perf_counter()
                self._setup(scenario, ctx)
                workers = scenario.workers(max(opts.threads, scenario.min_threads))
                main = Lane("main", 0, ctx.rng("lane", "main"))
                lanes = [main] + [
                    Lane(w.name, i + 1, ctx.rng("lane", w.name)) for i, w in enumerate(workers)
                ]
                ctx.violations.t0 = time.monotonic()
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
                hung = self._run(
                    scenario,
                    ctx,
                    main,
                    list(zip(workers, lanes[1:], strict=True)),
                    t_start + opts.duration_s,
                )
                elapsed = time.perf_counter() - t_start
                monitor.finish()
                if hung and not monitor.deadlocked:
                    ctx.violation("deadlock", stalled_threads=hung, stacks=thread_stacks())
                if not hung and not intr.interrupted:
                    self._guard("main", scenario.finish)
                counts = Counter(counted)
        if detector is not None:
            for cycle in detector.cycles():
                ctx.violation("lock-order-cycle", **cycle)
        checked = list(scenario.checks if scenario.checks is not None else CHECKED_KINDS)
        checked += [k for k in ("deadlock", "lock-order-cycle") if k not in checked]
        if not opts.detect:
            checked.remove("lock-order-cycle")
        report = RunReport.build(
            options=opts,
            scenario=scenario,
            driver=self.name,
            switch_interval_s=interval if interval is not None else sys.getswitchinterval(),
            elapsed_s=elapsed,
            setup_s=t_start - t0,
            lanes=lanes,
            roles={"main": self.main_role, **{w.name: self._role(w) for w in workers}},
            violations=ctx.violations,
            lock_stats=lock_stats(ctx.tables),
            thread_errors=self.thread_errors,
            hung_threads=hung,
            detect=None
            if detector is None
            else {
                **detector.report(),
                "errors_raised": dict(counts),
                "interrupts_injected": probes.injected,
            },
            checked=checked,
        )
        report.interrupted = intr.interrupted
        add_measurements(report, probes, monitor)
        if not measure:
            report.latency = {}
        return report

    # -- driver-specific part -------------------------------------------------------------------

    @abstractmethod
    def _setup(self, scenario: Scenario, ctx: RunContext) -> None:
        """Have `scenario.setup()` run on this thread (which then owns the tables)."""

    @abstractmethod
    def _run(
        self,
        scenario: Scenario,
        ctx: RunContext,
        main: Lane,
        workers: list[tuple[Worker, Lane]],
        deadline: float,
    ) -> list[str]:
        """Start the workers, run events until `deadline` or `ctx.stop`, stop and join the
        workers (waiting at most --stall + 1 s); return the names of those still running."""

    def _role(self, w: Worker) -> str:
        return w.role

    # -- common part ----------------------------------------------------------------------------

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


class ThreadDriver(BaseDriver):
    """Raw tables: the main thread runs the three halves itself, each worker is a thread."""

    name = "threads"
    main_role = "source+parse+extract (raw tables)"

    def __init__(self) -> None:
        super().__init__()
        self._pushed: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def _setup(self, scenario: Scenario, ctx: RunContext) -> None:
        scenario.setup()
        ctx.push = self._pushed.put

    def _run(
        self,
        scenario: Scenario,
        ctx: RunContext,
        main: Lane,
        workers: list[tuple[Worker, Lane]],
        deadline: float,
    ) -> list[str]:
        threads = [
            threading.Thread(
                target=self._worker_loop, args=(w, lane, ctx.stop), name=w.name, daemon=True
            )
            for w, lane in workers
        ]
        for t in threads:
            t.start()
        self._main_loop(scenario, ctx, main, deadline)
        self._finished.add("main")
        ctx.stop.set()
        return self._join(threads, ctx.options.stall_s + 1.0)

    def _main_loop(self, scenario: Scenario, ctx: RunContext, lane: Lane, deadline: float) -> None:
        stop, pushed = ctx.stop, self._pushed
        next_event, parse, extract = scenario.next_event, scenario.parse, scenario.extract
        rng = ctx.rng("source")
        rw, ro = ctx.owner_api(), ctx.owner_api(writable=False)
        next_check = time.perf_counter() + CHECK_EVERY_S
        try:
            while not stop.is_set():
                # Events from workers first, as the host does: those queued now, no more.
                for _ in range(pushed.qsize()):
                    ev = pushed.get_nowait()
                    lane.ops += parse(lane, ev, rw) + extract(lane, ev, ro)
                ev = next_event(rng)
                lane.ops += parse(lane, ev, rw) + extract(lane, ev, ro)
                now = time.perf_counter()
                if now >= next_check:
                    scenario.check()
                    if now >= deadline:
                        break
                    next_check = now + CHECK_EVERY_S
        except BaseException as exc:
            self._thread_error("main", exc)
            stop.set()

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

    @staticmethod
    def _join(threads: list[threading.Thread], timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in threads if t.is_alive()]


def make_driver(name: str) -> BaseDriver:
    """A fresh driver by `--driver` name: "host" (the default) or "threads"."""
    from .host_driver import HostDriver  # it builds on this module

    drivers: dict[str, type[BaseDriver]] = {"host": HostDriver, "threads": ThreadDriver}
    if name not in drivers:
        raise ValueError(f"unknown driver {name!r}: expected one of {sorted(drivers)}")
    return drivers[name]()


def run(
    options: RunOptions,
    driver: Driver | None = None,
    *,
    scenario_cls: type[Scenario] | None = None,
) -> RunReport:
    """Run one scenario (`scenario_cls`, else registered as `options.scenario`) and return its
    report (driver: by `options.driver`).

    Raises ScenarioUnavailable, before anything runs, if the scenario cannot run here.
    """
    cls = scenario_cls or SCENARIOS[options.scenario]
    if driver is None and options.driver not in cls.drivers:
        raise ScenarioUnavailable(
            f"scenario {cls.name!r} runs only with --driver {' or '.join(cls.drivers)}"
        )
    ctx = RunContext(options, ViolationLog())
    scenario = cls(ctx)
    scenario.prepare()
    return (driver or make_driver(options.driver)).drive(scenario, ctx)
