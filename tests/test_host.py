"""PluginHost life cycle: order, replay, errors, async events, background shutdown."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from conftest import CountdownSource, DirectExporter, snapshot

from concurrent_tables import (
    U64,
    AsyncPlugin,
    Capability,
    Event,
    ExtractPlugin,
    ListenPlugin,
    ParsePlugin,
    Plugin,
    PluginHost,
    SourcePlugin,
    TableReader,
    TablesInput,
    TableWriter,
)
from concurrent_tables.errors import (
    BackgroundError,
    PluginError,
    TableNotFoundError,
    WrongThreadError,
)
from concurrent_tables.plugins.base import AsyncContext, CaptureListenInput, ExtractRequest


class Log(ParsePlugin, ExtractPlugin, ListenPlugin):
    """Records every callback it gets, and extracts log.evtnum."""

    fields = ("log.evtnum",)

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def init(self, tables: TablesInput | None) -> None:
        self.log.append(f"init tables={tables is not None}")

    def capture_open(self, capture: CaptureListenInput) -> None:
        self.log.append("open")

    def capture_close(self, capture: CaptureListenInput) -> None:
        self.log.append("close")

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        self.log.append(f"parse {event.evtnum}")

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        self.log.append(f"extract {event.evtnum}")
        return event.evtnum

    def destroy(self) -> None:
        self.log.append("destroy")


def test_capabilities_and_call_order() -> None:
    log: list[str] = []
    plugin = Log(log)
    assert plugin.capabilities == Capability.PARSE | Capability.EXTRACT | Capability.LISTEN
    with PluginHost([CountdownSource(2), plugin]) as host:
        results = host.run(extract=["log.evtnum"])
    assert [r.values["log.evtnum"] for r in results] == [1, 2]
    assert log == [
        "init tables=True",
        "open",
        "parse 1",
        "extract 1",
        "parse 2",
        "extract 2",
        "close",
        "destroy",
    ]
    assert "Log(parse+extract+listen)" in repr(host)


def test_replay_without_source() -> None:
    first = PluginHost([CountdownSource(), DirectExporter()])
    first.run()
    recorded = list(first.recorded)
    exporter = DirectExporter()
    replay = PluginHost([exporter])
    results = replay.run(events=recorded)
    assert [r.event.evtnum for r in results] == [1, 2, 3, 4]
    assert snapshot(exporter.table) == {e: (4 - e, 104 - e) for e in (1, 2, 3, 4)}


def test_stream_hands_out_results_one_at_a_time() -> None:
    class Endless(SourcePlugin):
        closed = False

        def open(self) -> Iterator[Event]:
            n = 0
            while True:
                n += 1
                yield Event(ts=n, tid=1, type=1, payload=f"{n % 5} events remaining")

        def close(self) -> None:
            self.closed = True

    log: list[str] = []
    src = Endless()
    host = PluginHost([src, DirectExporter(), Log(log)], record=False)
    results = host.stream(extract=["log.evtnum"])
    assert log == ["init tables=True"]  # init now, the capture opens at the first next()
    seen = []
    with closing(results):
        for r in results:
            seen.append(r.values["log.evtnum"])
            assert log[-1] == f"extract {r.event.evtnum}"  # nothing runs between results
            if len(seen) == 3:
                break
        assert log[-1] != "close"
    assert seen == [1, 2, 3]
    assert log[-1] == "close" and src.closed  # closing the iterator ended the capture
    assert host.recorded == []  # record=False keeps no events
    with pytest.raises(PluginError, match="no loaded plugin extracts field 'nope'"):
        host.stream(extract=["nope"])  # checked at the call, not at the first next()


@pytest.mark.timeout(10)
def test_stream_closed_early_raises_background_errors() -> None:
    class Broken(AsyncPlugin):
        def start_async(self, ctx: AsyncContext) -> None:
            ctx.start_task(self.fail)

        def fail(self) -> None:
            raise RuntimeError("async failure")

    host = PluginHost([CountdownSource(), DirectExporter(), Broken()])
    results = host.stream()
    next(results)
    with pytest.raises(BackgroundError, match="async failure"):
        results.close()
    assert [type(e) for e in host.background_errors] == [RuntimeError]


def test_no_source_and_no_events() -> None:
    host = PluginHost([DirectExporter()])
    with pytest.raises(PluginError, match="no source plugin loaded"):
        host.run()
    with pytest.raises(PluginError, match="no source plugin named 'x'"):
        host.run(source="x")


def test_later_plugins_see_earlier_tables_and_fields() -> None:
    class AddsField(ParsePlugin):
        def init(self, tables: TablesInput | None) -> None:
            assert tables is not None
            tables.get_table("remaining", U64).add_field("extra", U64)

        def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
            pass

    class UsesField(ExtractPlugin):
        fields = ("x",)

        def init(self, tables: TablesInput | None) -> None:
            assert tables is not None
            self.extra = tables.get_table("remaining", U64).get_field("extra", U64)

        def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
            return None

    host = PluginHost([DirectExporter(), AddsField(), UsesField()])
    host.init()
    host.destroy()
    # In the other order the table does not exist yet when UsesField initialises.
    bad = PluginHost([UsesField(), DirectExporter(), AddsField()])
    # The registry's typed error leaves the host with its type; the host adds a note.
    with pytest.raises(TableNotFoundError, match="init of plugin 'UsesField' \\(extract\\) failed"):
        bad.init()


def test_parse_failure_stops_and_reports() -> None:
    class Fails(ParsePlugin):
        def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
            if event.evtnum == 2:
                raise ValueError("bad event")

    class ClosingSource(CountdownSource):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    log: list[str] = []
    src = ClosingSource()
    host = PluginHost([src, Fails(), Log(log)])
    with pytest.raises(PluginError, match="plugin 'Fails' failed to parse event #2: bad event"):
        host.run()
    assert log[-1] == "close"  # the capture was closed on the way out
    assert src.closed == 1


def test_unknown_extract_field_fails_before_open() -> None:
    log: list[str] = []
    host = PluginHost([CountdownSource(), Log(log)])
    with pytest.raises(PluginError, match="no loaded plugin extracts field 'nope'"):
        host.run(extract=["nope"])
    assert "open" not in log
    with pytest.raises(ValueError, match="invalid field request"):
        ExtractRequest.parse("a[")
    assert str(ExtractRequest.parse("a.b[3]")) == "a.b[3]"


def test_loading_rules() -> None:
    host = PluginHost([DirectExporter()])
    with pytest.raises(PluginError, match="implements no capability"):
        host.load(Plugin())
    host.init()
    with pytest.raises(PluginError, match="after init"):
        host.load(DirectExporter())
    host.destroy()


@pytest.mark.timeout(10)
def test_host_confined_to_its_thread() -> None:
    host = PluginHost([DirectExporter()])
    host.init()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            host.process(Event(ts=1, tid=1, type=1, payload="1 events remaining"))
        except BaseException as exc:
            errors.append(exc)

    th = threading.Thread(target=other, daemon=True)
    th.start()
    th.join(5)
    assert len(errors) == 1 and isinstance(errors[0], WrongThreadError)
    host.destroy()


class Pusher(AsyncPlugin):
    """Pushes one event per source event it is told about, from a background task."""

    def __init__(self) -> None:
        self.pending = threading.Semaphore(0)
        self.pushed = threading.Event()

    def start_async(self, ctx: AsyncContext) -> None:
        self.ctx = ctx

        def push() -> None:
            if self.pending.acquire(timeout=0.01):
                ctx.push(Event(ts=0, tid=7, type=99, payload="from async"))
                self.pushed.set()

        ctx.start_task(push)


class Trigger(SourcePlugin):
    def __init__(self, pusher: Pusher) -> None:
        self.pusher = pusher

    def open(self) -> Iterator[Event]:
        yield Event(ts=1, tid=1, type=1, payload="first")
        self.pusher.pending.release()
        assert self.pusher.pushed.wait(5)
        yield Event(ts=2, tid=1, type=1, payload="second")


@pytest.mark.timeout(10)
def test_async_events_are_processed_between_source_events() -> None:
    pusher = Pusher()
    log: list[str] = []
    host = PluginHost([Trigger(pusher), pusher, Log(log)])
    results = host.run()
    assert [(r.event.evtnum, r.event.source, r.event.payload) for r in results] == [
        (1, "syscall", "first"),
        (2, "async", "from async"),
        (3, "syscall", "second"),
    ]
    pusher.ctx.push(Event(ts=0, tid=0, type=0))  # after stop: dropped
    assert pusher.ctx.dropped == 1


@pytest.mark.timeout(10)
def test_async_events_cannot_starve_the_source() -> None:
    class Echo(ParsePlugin, AsyncPlugin):
        """Pushes a new async event each time it parses one: an endless stream of them."""

        def __init__(self) -> None:
            self.sources: list[str] = []

        def start_async(self, ctx: AsyncContext) -> None:
            self.ctx = ctx
            ctx.push(Event(ts=0, tid=1, type=2))

        def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
            self.sources.append(event.source)
            if event.source == "async" and len(self.sources) < 50:
                self.ctx.push(Event(ts=0, tid=1, type=2))

    echo = Echo()
    PluginHost([CountdownSource(3), echo]).run()
    # One drain takes what was queued when it started: the source goes on between drains.
    assert echo.sources == ["async", "syscall"] * 3 + ["async"]


@pytest.mark.timeout(10)
def test_background_errors_raised_at_close() -> None:
    class Broken(AsyncPlugin):
        def start_async(self, ctx: AsyncContext) -> None:
            ctx.start_task(self.fail)

        def fail(self) -> None:
            raise RuntimeError("async failure")

        def stop_async(self) -> None:
            raise ValueError("stop failure")

    host = PluginHost([Broken()])
    with pytest.raises(BackgroundError) as info:
        host.run(events=[Event(ts=1, tid=1, type=1)])
    kinds = sorted(type(e).__name__ for e in info.value.errors)
    assert kinds == ["RuntimeError", "ValueError"]
    assert host.background_errors == info.value.errors
