"""The scenario model: setup, the main thread's event in three halves, workers, checks.

A scenario is a small class. A driver (`stress.driver`) creates it with a `RunContext`, calls
`setup()` on the main thread (which therefore owns every table it creates), starts one thread
per `Worker` returned by `workers()`, and runs events on the main thread until the run stops,
calling `check()` every few tens of milliseconds; then it stops and joins the workers and calls
`finish()`. One event goes through three halves, the plugin host's event loop:

    next_event(rng)            source: draw the next event (seeded; no table access)
    parse(lane, event, api)    parse: apply it (read/write through `api`)
    extract(lane, event, api)  extract: read what it refers to (`api` is read only)

Events that workers hand to the main thread with `ctx.push(payload)` (an async plugin's
events) go through `parse` and `extract` too, between two source events.

Both drivers run the same code. `ThreadDriver` calls the halves itself with `OwnerApi`s over
the raw tables and runs each worker on a thread; `HostDriver` runs them as plugins of a real
`PluginHost`: setup() in a parse plugin's init (its tables exported), the halves in the
source / parse / extract callbacks with `TokenApi`s over imported views, workers as listen
routines and async tasks. Workers always use the raw tables (their plugin owns them).

Scenario code reports broken invariants through `ctx.violation(kind, details)`; it never raises
for them. Any exception escaping a half or a worker's step is a *thread error* and fails the run.
"""

from __future__ import annotations

import random
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from concurrent_tables import Plugin, Table
from concurrent_tables.schema import EntrySchema

from .api import Api, OwnerApi
from .invariants import ViolationLog
from .loading import PluginSpec

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
    driver: str = "host"  # "host": through PluginHost; "threads": raw tables, plain threads
    duration_s: float = 5.0
    threads: int = 3
    seed: int = 0
    switch_interval_s: float | None = None  # None: the scenario's preference, else Python's
    detect: bool = False
    stall_s: float = 10.0  # watchdog: a thread without progress this long is deadlocked
    json_path: str | None = None
    progress: bool = True
    yield_probability: float = 0.5  # --detect: chance of a time.sleep(0) at each lock point
    #: --detect: interrupt the main thread inside entry-lock waits (see stress.instrument).
    interrupts: bool = True
    #: The owner's lock-free fast path on the scenario's tables (on, also under --detect).
    fast_path: bool = True
    #: Scenario runs: measure handle waits and callback times (plugin runs always do).
    latency: bool = False
    #: Stop after this many events (plugin runs), instead of after `duration_s`.
    events: int | None = None
    #: Plugin runs (`--plugin`): the plugins, the source (None: the built-in workload), the
    #: companion invariant classes and the fields to extract (empty: every field offered).
    plugins: list[PluginSpec] = field(default_factory=list)
    source: PluginSpec | None = None
    invariants: list[str] = field(default_factory=list)
    extract: list[str] = field(default_factory=list)
    #: No watchdog stacks on stderr (they are in the report anyway).
    quiet: bool = False
    #: Stop the run at the first violation of these kinds (selftest: time to detection).
    stop_on: tuple[str, ...] = ()


class ScenarioUnavailable(RuntimeError):
    """The scenario cannot run here (no C compiler, a driver it does not support, ...)."""


def _no_driver(payload: Any) -> None:
    raise RuntimeError("ctx.push: no driver is running this scenario")


@dataclass
class RunContext:
    """What a scenario may use: options, seeded RNGs, table factory, violation log, yields."""

    options: RunOptions
    violations: ViolationLog
    stop: threading.Event = field(default_factory=threading.Event)
    #: Tables in the lock statistics (made with track=True).
    tables: list[Table[Any, Any]] = field(default_factory=list)
    #: Every table made, by name (what `OwnerApi` and the host driver's imports see).
    by_name: dict[str, Table[Any, Any]] = field(default_factory=dict)
    #: Called by scenario code between the field writes of one write handle, to widen race
    #: windows. A no-op unless --detect installs the detector's seeded yield.
    yield_point: Callable[[], None] = lambda: None
    #: Set by the host driver during its parse plugin's init: exports each table made.
    export: Callable[[Table[Any, Any]], None] | None = None
    #: Hands a payload to the main thread, which parses and extracts it as an event
    #: (thread-safe; installed by the driver: an async plugin's push under the host).
    push: Callable[[Any], None] = _no_driver

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

        The owner's lock-free fast path stays on under --detect (the probes trace it, see
        stress.instrument); `--no-fast-path` turns it off. Under the host driver this runs in
        the parse plugin's init, which exports the table (`export`).
        """
        t: Table[Any, Any] = Table(
            name,
            key_type,
            schema,
            thread_safe=thread_safe,
            fast_path=self.options.fast_path,
            timeout=self.lock_timeout_s,
        )
        if name in self.by_name:
            raise ValueError(f"table {name!r} made twice")
        self.by_name[name] = t
        if track:
            self.tables.append(t)
        if self.export is not None:
            self.export(t)
        return t

    def owner_api(self, *, writable: bool = True) -> OwnerApi:
        """An api over the raw tables (live: tables made later are seen)."""
        return OwnerApi(self.by_name, writable=writable)

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
    #: The drivers (`--driver`) that can run it.
    drivers: ClassVar[tuple[str, ...]] = ("host", "threads")
    #: The invariant kinds it checks (None: report.CHECKED_KINDS); the summary lists these.
    checks: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        #: The raw tables, for workers and the harness's own checks.
        self.direct = ctx.owner_api()

    def prepare(self) -> None:  # noqa: B027 (optional hook)
        """Before the driver starts: build what the run needs (raise ScenarioUnavailable)."""

    def host_plugins(self) -> list[Plugin]:
        """Extra plugins for the host driver, loaded after the state plugin (whose init has
        made and exported the tables) and before the extract plugin."""
        return []

    @abstractmethod
    def setup(self) -> None:
        """Create the tables (`ctx.make_table`) and the initial entries (main thread)."""

    @abstractmethod
    def workers(self, n: int) -> list[Worker]:
        """`n` background workers (n >= min_threads)."""

    def next_event(self, rng: random.Random) -> Any:
        """Source half: the next event's payload, drawn from `rng` only (no table access)."""
        return None

    @abstractmethod
    def parse(self, lane: Lane, event: Any, api: Api) -> int:
        """Parse half: apply `event` (a source event or a pushed payload); returns table ops."""

    def extract(self, lane: Lane, event: Any, api: Api) -> int:
        """Extract half, after parse: read what `event` refers to (`api` is read only)."""
        return 0

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
