"""The host's own errors: background failures seen during the capture, typed errors keeping
their type, single messages, clean-up that releases everything, no leaked task at stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from concurrent_tables import U64, EntrySchema, ReadOnly, Table
from concurrent_tables.errors import PluginError, ReadOnlyFieldError
from concurrent_tables.plugins.background import BackgroundError
from concurrent_tables.plugins.base import (
    AsyncContext,
    AsyncPlugin,
    CaptureListenInput,
    Event,
    ListenPlugin,
    ParsePlugin,
    SourcePlugin,
)
from concurrent_tables.plugins.host import PluginHost
from concurrent_tables.plugins.tokens import CallbackScope, TableReader, TablesInput, TableWriter

pytestmark = pytest.mark.timeout(60)


class Slow(SourcePlugin):
    """Yields `n` events, 10 ms apart."""

    def __init__(self, n: int) -> None:
        self.n = n

    def open(self) -> Iterator[Event | None]:
        for i in range(self.n):
            time.sleep(0.01)
            yield Event(ts=i, tid=1, type=3)


class FailingRoutine(ListenPlugin):
    def capture_open(self, capture: CaptureListenInput) -> None:
        def boom() -> bool:
            raise RuntimeError("routine broke")

        capture.subscribe(boom)


def test_a_background_failure_is_seen_while_the_capture_runs() -> None:
    seen: list[BaseException] = []
    host = PluginHost([Slow(30), FailingRoutine()], on_error=seen.append)
    results: list[Any] = []
    with host, pytest.raises(BackgroundError, match="routine broke"):
        for r in host.stream():
            results.append(r)
    reported = [e for r in results for e in r.background_errors]
    assert [str(e) for e in reported] == ["routine broke"]  # once, with an event result
    assert results.index(next(r for r in results if r.background_errors)) < len(results) - 1
    assert seen == reported


class Item(EntrySchema):
    value: ReadOnly[U64]


class WritesReadOnly(ParsePlugin):
    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.items = Table("items", U64, Item)
        self.items.add_entry(1, self.items.create_entry())
        tables.export_table(self.items)
        self.view = tables.get_table("items", U64)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        with self.view.write(writer, 1) as h:
            h["value"] = 5


def test_typed_errors_keep_their_type_out_of_run() -> None:
    with PluginHost([WritesReadOnly()]) as host:
        with pytest.raises(ReadOnlyFieldError) as info:
            host.run(events=[Event(ts=1, tid=1, type=3)])
    assert "while plugin 'WritesReadOnly' parsed event #1" in info.value.__notes__


class WritesReadOnlyAtInit(ParsePlugin):
    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        items = Table("init_items", U64, Item)
        items.add_entry(1, items.create_entry())
        tables.export_table(items)
        with tables.get_table("init_items", U64).write(tables.writer, 1) as h:
            h["value"] = 5  # read-only through the API

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        raise AssertionError("never reached")


class FailsAtInit(ParsePlugin):
    def init(self, tables: TablesInput | None) -> None:
        raise RuntimeError("no config")

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        raise AssertionError("never reached")


def test_typed_errors_raised_during_init_keep_their_type() -> None:
    host = PluginHost([WritesReadOnly(), WritesReadOnlyAtInit()])
    with pytest.raises(ReadOnlyFieldError) as info:
        host.run(events=[])
    assert info.value.__notes__ == ["init of plugin 'WritesReadOnlyAtInit' (parse) failed"]
    assert "init_items" not in host.registry and "items" not in host.registry  # all undone
    # Any other exception becomes a PluginError naming the plugin, caused by the original.
    with pytest.raises(
        PluginError, match="init of plugin 'FailsAtInit' \\(parse\\) failed: no config"
    ) as bad:
        PluginHost([FailsAtInit()]).init()
    assert isinstance(bad.value.__cause__, RuntimeError)


def test_clean_up_releases_every_handle_even_if_one_release_fails() -> None:
    released: list[str] = []

    class Handle:
        def __init__(self, name: str, fail: bool) -> None:
            self.name, self.fail, self.alive = name, fail, True

        def release(self) -> None:
            self.alive = False
            released.append(self.name)
            if self.fail:
                raise RuntimeError(f"release of {self.name} failed")

    scope = CallbackScope("p", "parse_event", reader=True, writer=True, rule="parse")
    for name, fail in (("a", True), ("b", False), ("c", True)):
        scope.track(Handle(name, fail))
    with pytest.raises(RuntimeError, match="release of a failed") as info:
        scope.end()
    assert released == ["a", "b", "c"]
    assert any("release of c failed" in n for n in info.value.__notes__)


class Spawner(AsyncPlugin):
    """Its task keeps starting more tasks, racing the host's stop."""

    def start_async(self, ctx: AsyncContext) -> None:
        self.ctx = ctx

        def spawn() -> bool:
            try:
                ctx.start_task(lambda: time.sleep(0.001), name="child")
            except PluginError:
                return False
            except Exception:
                return False
            return True

        ctx.start_task(spawn, name="spawner")


@pytest.mark.parametrize("run", range(20))
def test_tasks_started_while_the_host_stops_are_stopped_and_joined(run: int) -> None:
    plugin = Spawner()
    with PluginHost([plugin]) as host:
        host.open_capture()
        time.sleep(0.002 * (run % 5))
        host.close_capture()
        tasks = list(plugin.ctx.tasks)
    assert tasks and not [t for t in tasks if t.running]
    before = threading.active_count()
    time.sleep(0.01)
    assert threading.active_count() <= before


class Listener(ListenPlugin):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def capture_open(self, capture: CaptureListenInput) -> None:
        self.calls.append("open")

    def capture_close(self, capture: CaptureListenInput) -> None:
        self.calls.append("close")


def test_an_abandoned_stream_closes_the_capture_on_the_thread_that_finalises_it() -> None:
    import gc

    listener = Listener()
    host = PluginHost([Slow(100), listener])
    box = [host.stream()]
    next(box[0])
    assert listener.calls == ["open"]

    def drop() -> None:  # the last reference dies here: the generator is finalised here
        box.pop()
        gc.collect()

    th = threading.Thread(target=drop, daemon=True)
    th.start()
    th.join(10)
    assert listener.calls == ["open", "close"]
    assert not host._open
    host.destroy()


class Counter(EntrySchema):
    value: U64


def test_another_plugins_routine_touching_a_raw_table_is_denied() -> None:
    from concurrent_tables.errors import AccessDeniedError, ThreadAccessDeniedError

    shared = Table("a_counts", U64, Counter, thread_safe=True)
    outcomes: dict[str, Any] = {}
    OPS: list[tuple[str, Callable[[], object]]] = [
        ("read", lambda: shared.read(1)),
        ("write", lambda: shared.write(1)),
        ("get_entry", lambda: shared.get_entry(1)),
        ("size", shared.size),
        ("len", lambda: len(shared)),
        ("contains", lambda: 1 in shared),
        ("keys", shared.keys),
        ("items", lambda: list(shared.items())),
        ("create_entry", shared.create_entry),
        ("erase_entry", lambda: shared.erase_entry(1)),
        ("clear", shared.clear),
    ]
    done = threading.Event()

    class A(ListenPlugin):
        def init(self, tables: TablesInput | None) -> None:
            assert tables is not None
            shared.add_entry(1, shared.create_entry())
            tables.export_table(shared)

        def capture_open(self, capture: CaptureListenInput) -> None:
            def own() -> bool:
                with shared.read(1) as h:
                    outcomes["A"] = h["value"]
                return False

            capture.subscribe(own)

    class B(ListenPlugin):
        def capture_open(self, capture: CaptureListenInput) -> None:
            def foreign() -> bool:
                for what, op in OPS:
                    try:
                        op()
                        outcomes[what] = None
                    except AccessDeniedError as exc:
                        outcomes[what] = exc
                done.set()
                return False

            capture.subscribe(foreign)

    with PluginHost([A(), B()]) as host:
        host.open_capture()
        assert done.wait(10)
        time.sleep(0.05)
        host.close_capture()
        with shared.read(1) as h:  # the host thread (no role) still may
            assert h["value"] == 0
    assert outcomes["A"] == 0
    assert len(shared) == 1  # nothing was erased or cleared
    for what, _ in OPS:
        err = outcomes[what]
        assert isinstance(err, ThreadAccessDeniedError), what
        assert "table 'a_counts' of plugin 'A'" in str(err)
        assert "capture-listen routine thread of plugin 'B'" in str(err)


@pytest.mark.parametrize("raw", [False, True])
def test_a_walk_over_another_plugins_table_handed_to_a_routine_is_refused(raw: bool) -> None:
    from concurrent_tables.errors import ThreadAccessDeniedError

    shared = Table("walked", U64, Counter, thread_safe=True)
    out: dict[str, BaseException | None] = {}
    done = threading.Event()

    class A(ListenPlugin):
        def init(self, tables: TablesInput | None) -> None:
            assert tables is not None
            for k in range(3):
                shared.add_entry(k, shared.create_entry())
            tables.export_table(shared)

    class B(ListenPlugin):
        def init(self, tables: TablesInput | None) -> None:
            assert tables is not None
            self.view = tables.get_table("walked", U64)

        def capture_open(self, capture: CaptureListenInput) -> None:
            walk: Iterator[Any] = shared.items() if raw else self.view.items(capture.reader)
            next(walk)  # started here, on the host thread

            def resume() -> bool:  # continued on B's routine thread
                try:
                    next(walk)
                    out["walk"] = None
                except BaseException as exc:
                    out["walk"] = exc
                done.set()
                return False

            capture.subscribe(resume)
            assert done.wait(10)  # while the walk's first handle is still held here

    with PluginHost([A(), B()]) as host:
        host.open_capture()
        host.close_capture()
    assert isinstance(out["walk"], ThreadAccessDeniedError), out["walk"]
    assert "routine thread of plugin 'B'" in str(out["walk"])
