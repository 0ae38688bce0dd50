"""`HostDriver`: a scenario run through the real `PluginHost` (the default of `stress run`).

Three plugins, loaded in this order:

    ScenarioSource   source         yields `Event(payload=scenario.next_event(rng))`, seeded,
                                    until the run stops (then EOF ends the capture)
    ScenarioState    parse+listen   init: `scenario.setup()`; every table it makes is exported.
                     +async         parse_event: `scenario.parse` with the callback's reader and
                                    writer (TokenApi over its own tables, imported).
                                    capture_open: one routine per "listen" worker.
                                    start_async: one task per other worker; `ctx.push` becomes
                                    the AsyncContext's push.
    ScenarioExtract  extract        init: imports every exported table. extract (field
                                    `stress.extract`, requested for every event):
                                    `scenario.extract` with the reader only.

Why parse, listen and async are one plugin: the access matrix lets a listen routine or an async
task touch only thread-safe tables *its own plugin* exported, and a scenario's background
threads share their tables with the parser (in `parse-vs-background` the routine, the async
tasks and the parser all use `threads`). So the plugin that exports the tables is the one that
parses, starts the routines and runs the tasks, as `docs/examples/process_demo.py`'s `Alerts`
(parse+async) does. Its background threads use the raw tables; the parser goes through the API
(tokens and imported views of its own tables; the misuse probes use the raw tables, as the
owner may); the extractor only has imported views and a reader.

The driver consumes `host.stream()` (one result per event) on the thread that initialised the
host: between two results it runs the scenario's online checks and watches the deadline; at
the deadline it sets `ctx.stop`, the source ends, the host drains the async events, closes the
capture and joins the routines and tasks (timeout --stall + 1 s: a thread still running then is
hung). Errors: parse failures end the loop (PluginError, reported as the main thread's), extract
failures come back in the results, a worker's exception is recorded when it happens and ends
its task (the host reports it again at close; not counted twice).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

from concurrent_tables import (
    AsyncPlugin,
    Event,
    ExtractPlugin,
    ListenPlugin,
    ParsePlugin,
    PluginHost,
    SourcePlugin,
    TableReader,
    TablesInput,
    TableWriter,
)
from concurrent_tables.errors import BackgroundError
from concurrent_tables.plugins.background import BackgroundTask
from concurrent_tables.plugins.base import AsyncContext, CaptureListenInput, ExtractRequest

from .api import TokenApi
from .driver import CHECK_EVERY_S, BaseDriver
from .scenario import Lane, RunContext, Scenario, Worker

#: The one field the extract plugin serves; requested for every event.
EXTRACT_FIELD = "stress.extract"
#: Event types: drawn by the source, pushed by a worker.
SOURCE_EVENT, PUSHED_EVENT = 1, 2


class ScenarioSource(SourcePlugin):
    """Yields the scenario's events, drawn from a seeded RNG, until the run stops."""

    name = "stress-source"

    def __init__(self, scenario: Scenario, ctx: RunContext) -> None:
        self.scenario = scenario
        self.ctx = ctx
        self.rng = ctx.rng("source")  # the threads driver draws the same events

    def open(self) -> Iterator[Event]:
        next_event, rng, stop = self.scenario.next_event, self.rng, self.ctx.stop
        n = 0
        while not stop.is_set():
            n += 1
            yield Event(ts=n, tid=0, type=SOURCE_EVENT, payload=next_event(rng))


class ScenarioState(ParsePlugin, ListenPlugin, AsyncPlugin):
    """Owns and exports the scenario's tables, parses, runs the background workers."""

    name = "stress-state"

    def __init__(self, driver: HostDriver, scenario: Scenario, ctx: RunContext) -> None:
        self.driver = driver
        self.scenario = scenario
        self.ctx = ctx
        self.main: Lane | None = None
        self.listen: list[tuple[Worker, Lane]] = []
        self.tasks: list[tuple[Worker, Lane]] = []
        self.started: list[BackgroundTask] = []

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None  # parse and listen: full access at init
        self.ctx.export = tables.export_table
        try:
            self.scenario.setup()
        finally:
            self.ctx.export = None
        # Its own tables through the API, for the parse half: views confined to this thread.
        self.api = TokenApi(
            {name: tables.get_table(name, t.key_type) for name, t in self.ctx.by_name.items()}
        )

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        api, lane = self.api, self.main
        assert lane is not None
        api.bind(reader, writer)
        try:
            lane.ops += self.scenario.parse(lane, event.payload, api)
        except BaseException:
            self.ctx.stop.set()  # before the host joins the background threads
            raise

    def capture_open(self, capture: CaptureListenInput) -> None:
        for w, lane in self.listen:
            self.started.append(
                capture.start_routine(
                    self.driver.task_body(w, lane, self.ctx), interval=w.pause_s, name=w.name
                )
            )

    def start_async(self, ctx: AsyncContext) -> None:
        def push(payload: Any) -> None:
            ctx.push(Event(ts=0, tid=0, type=PUSHED_EVENT, payload=payload))

        self.ctx.push = push
        for w, lane in self.tasks:
            self.started.append(
                ctx.start_task(
                    self.driver.task_body(w, lane, self.ctx), interval=w.pause_s, name=w.name
                )
            )


class ScenarioExtract(ExtractPlugin):
    """The extract half, with imported views and a reader only."""

    name = "stress-extract"
    fields = (EXTRACT_FIELD,)

    def __init__(self, scenario: Scenario, ctx: RunContext) -> None:
        self.scenario = scenario
        self.ctx = ctx
        self.main: Lane | None = None

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.api = TokenApi(
            {info.name: tables.get_table(info.name, info.key_type) for info in tables.list_tables()}
        )

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        api, lane = self.api, self.main
        assert lane is not None
        api.bind(reader, reader)  # no writer in extract: changes are denied by the table API
        n = self.scenario.extract(lane, event.payload, api)
        lane.ops += n
        return n


class HostDriver(BaseDriver):
    """Runs the scenario as plugins of a `PluginHost` (see the module docstring)."""

    name = "host"
    main_role = "host event loop: source -> parse -> extract"

    def _setup(self, scenario: Scenario, ctx: RunContext) -> None:
        self.state = ScenarioState(self, scenario, ctx)
        self.extractor = ScenarioExtract(scenario, ctx)
        self.host = PluginHost(
            [ScenarioSource(scenario, ctx), self.state, *scenario.host_plugins(), self.extractor],
            stop_timeout=ctx.options.stall_s + 1.0,
            record=False,
        )
        self.host.init()  # the state plugin's init runs scenario.setup()

    def _role(self, w: Worker) -> str:
        if w.role == "native":
            return "native (a C pthread of a native plugin; an async task mirrors its ops)"
        return f"{w.role} ({'listen routine' if w.role == 'listen' else 'async task'})"

    def task_body(self, w: Worker, lane: Lane, ctx: RunContext) -> Callable[[], bool]:
        """One run of a routine / async task: a worker step; False ends the task."""
        step, stop, finished = w.step, ctx.stop, self._finished

        def body() -> bool:
            if stop.is_set():
                finished.add(w.name)
                return False
            try:
                lane.ops += step(lane)
            except BaseException as exc:
                self._thread_error(w.name, exc)
                self._reported.add(id(exc))
                finished.add(w.name)
                raise  # the task ends; the host reports it at close
            return True

        return body

    def _run(
        self,
        scenario: Scenario,
        ctx: RunContext,
        main: Lane,
        workers: list[tuple[Worker, Lane]],
        deadline: float,
    ) -> list[str]:
        self._reported: set[int] = set()
        st = self.state
        st.main = self.extractor.main = main
        st.listen = [(w, lane) for w, lane in workers if w.role == "listen"]
        st.tasks = [(w, lane) for w, lane in workers if w.role != "listen"]
        host, stop, check = self.host, ctx.stop, scenario.check
        try:
            results = host.stream(extract=[EXTRACT_FIELD])
            next_check = time.perf_counter() + CHECK_EVERY_S
            with closing(results):
                for result in results:
                    if result.errors:
                        for exc in result.errors.values():
                            self._thread_error("main", exc)
                        stop.set()  # the source ends at its next event
                    now = time.perf_counter()
                    if now >= next_check:
                        try:
                            check()
                        except BaseException as exc:
                            self._thread_error("main", exc)
                            stop.set()
                        if now >= deadline:
                            stop.set()
                        next_check = now + CHECK_EVERY_S
        except BackgroundError as exc:
            if exc.errors != host.background_errors:  # not close_capture's: report it
                self._thread_error("main", exc)
        except BaseException as exc:  # a parse failure (PluginError) ends the capture
            self._thread_error("main", exc)
        finally:
            self._finished.add("main")
            stop.set()
            try:
                host.destroy()
            except BaseException as exc:
                self._thread_error("host", exc)
        hung = [t for t in st.started if t.running]
        # Worker errors were reported when they happened; a task that did not stop in time
        # (its only error) is a hung thread; anything else (capture_close, stop_async) is the
        # host's own failure.
        known = self._reported | {id(e) for t in hung for e in t.errors}
        for err in host.background_errors:
            if id(err) not in known:
                self._thread_error("host", err)
        return [t.name for t in hung]
