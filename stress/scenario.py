"""The scenario model: setup, a main-thread step, background workers, invariant checks.

A scenario is a small class. The driver (`stress.driver`) creates it with a `RunContext`, calls
`setup()` on the main thread (which therefore owns every table it creates), starts one thread per
`Worker` returned by `workers()`, calls `step()` on the main thread in a loop and `check()` every
few tens of milliseconds, then stops and joins the workers and calls `finish()`.

The pieces map one-to-one onto the roles of the plugin host, which is the seam it will drive them
through later (see `stress.driver`):

    setup()             plugin init: create and export tables
    step(lane)          one event on the capture thread: source -> parse -> extract
    workers()           async plugins' threads and listen plugins' routines
    check() / finish()  the harness's own invariant checks (not plugin code)

Scenario code reports broken invariants through `ctx.violation(kind, details)`; it never raises
for them. Any exception escaping `step` or a worker's step is a *thread error* and fails the run.
"""

from __future__ import annotations

import random
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from concurrent_tables import Table
from concurrent_tables.schema import EntrySchema

from .invariants import ViolationLog

#: One step of a thread: takes its lane, returns the number of table operations it made.
StepFn = Callable[["Lane"], int]


def derive_seed(seed: int, *names: object) -> int:
    """A seed for one thread or purpose, stable across processes (no `hash()` randomisation)."""
    text = ":".join(str(n) for n in (seed, *names)).encode()
    return zlib.crc32(text) | (zlib.adler32(text) << 32)


@dataclass
class Lane:
    """One thread of a run: its name (which seeds its RNG) and its deterministic RNG."""

    name: str
    index: int
    rng: random.Random
    ops: int = 0  # written by the lane's own thread only; read by the monitor


@dataclass
class Worker:
    """A background thread: `step(lane)` is called in a loop until the run stops.

    `step` returns the number of table operations it made (progress for the watchdog and the
    ops/s figure). `pause_s` is slept between steps (a listen routine's period); 0 means busy.
    `role` names what the thread stands for: "async", "listen", "writer", ...
    """

    name: str
    role: str
    step: StepFn
    pause_s: float = 0.0


@dataclass
class RunOptions:
    """What `stress run` was asked for."""

    scenario: str = "parse-vs-background"
    duration_s: float = 5.0
    threads: int = 3
    seed: int = 0
    switch_interval_s: float | None = None  # None: the scenario's preference, else Python's
    detect: bool = False
    stall_s: float = 10.0  # watchdog: a thread without progress this long is deadlocked
    json_path: str | None = None
    progress: bool = True
    yield_probability: float = 0.5  # --detect: chance of a time.sleep(0) at each lock point


@dataclass
class RunContext:
    """What a scenario may use: options, seeded RNGs, table factory, violation log, yields."""

    options: RunOptions
    violations: ViolationLog
    stop: threading.Event = field(default_factory=threading.Event)
    tables: list[Table[Any, Any]] = field(default_factory=list)
    #: Called by scenario code between the field writes of one write handle, to widen race
    #: windows. A no-op unless --detect installs the detector's seeded yield.
    yield_point: Callable[[], None] = lambda: None

    @property
    def detect(self) -> bool:
        return self.options.detect

    @property
    def seed(self) -> int:
        return self.options.seed

    def rng(self, *purpose: object) -> random.Random:
        return random.Random(derive_seed(self.options.seed, *purpose))

    @property
    def lock_timeout_s(self) -> float:
        """Entry-lock timeout: a real deadlock ends in LockTimeoutError after the watchdog fired."""
        return self.options.stall_s + 5.0

    def make_table(
        self,
        name: str,
        key_type: Any,
        schema: type[EntrySchema],
        *,
        thread_safe: bool = True,
        track: bool = True,
    ) -> Table[Any, Any]:
        """Create a table owned by the calling (main) thread.

        Under --detect the owner's lock-free fast path is off, so that every handle takes the
        entry locks and passes the tracer. Seam for the host: there, the exporting plugin's init
        creates the table and registers it; this is the one place that would change.
        """
        t: Table[Any, Any] = Table(
            name,
            key_type,
            schema,
            thread_safe=thread_safe,
            fast_path=not self.options.detect,
            timeout=self.lock_timeout_s,
        )
        if track:
            self.tables.append(t)
        return t

    def violation(self, kind: str, **details: Any) -> None:
        self.violations.add(kind, details)


class Scenario(ABC):
    """Base class of scenarios; subclasses register themselves with `@register`."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: Not listed and not run by `--scenario all` (test-only scenarios).
    hidden: ClassVar[bool] = False
    #: A deliberately broken scenario: the violation kind the harness must report.
    expect_violation: ClassVar[str | None] = None
    #: Switch interval this scenario runs best with, unless --switch-interval says otherwise.
    switch_interval_s: ClassVar[float | None] = None
    #: The fewest background threads that make sense.
    min_threads: ClassVar[int] = 1

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    @abstractmethod
    def setup(self) -> None:
        """Create the tables and the initial entries (main thread)."""

    @abstractmethod
    def step(self, lane: Lane) -> int:
        """One main-thread event; returns the number of table operations made."""

    @abstractmethod
    def workers(self, n: int) -> list[Worker]:
        """`n` background workers (n >= min_threads)."""

    def check(self) -> None:  # noqa: B027 (optional hook)
        """Online checks, called on the main thread between steps."""

    def finish(self) -> None:  # noqa: B027 (optional hook)
        """Final checks, after every worker was joined (main thread)."""

    def summary(self) -> dict[str, Any]:
        """Scenario-specific figures for the report."""
        return {}


SCENARIOS: dict[str, type[Scenario]] = {}


def register(cls: type[Scenario]) -> type[Scenario]:
    """Class decorator: make a scenario runnable by name (`native` will register here too)."""
    if cls.name in SCENARIOS:
        raise ValueError(f"scenario {cls.name!r} registered twice")
    SCENARIOS[cls.name] = cls
    return cls
