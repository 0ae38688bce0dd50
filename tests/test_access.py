"""The access matrix, one test per cell: what is allowed works, everything else is denied.

capability  init          action phase
source      no access     no access
parse       full          read/write
extract     full          read only
listen      full          capture open/close read/write; routines: own thread-safe tables
async       no access     own thread-safe exported tables, from its own threads
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import CountdownSource, DirectExporter, Remaining, snapshot

from concurrent_tables import (
    U64,
    AsyncPlugin,
    EntrySchema,
    Event,
    ExtractPlugin,
    ImportedTable,
    ListenPlugin,
    ParsePlugin,
    PluginHost,
    SourcePlugin,
    Table,
    TableReader,
    TablesInput,
    TableWriter,
)
from concurrent_tables.errors import (
    AccessDeniedError,
    BackgroundError,
    ThreadAccessDeniedError,
    WrongThreadError,
)
from concurrent_tables.plugins.base import AsyncContext, CaptureListenInput, ExtractRequest


def denied(fn: Callable[[], object], match: str | None = None) -> AccessDeniedError:
    """Run `fn`, which must raise AccessDeniedError (matching `match`); return the error."""
    with pytest.raises(AccessDeniedError, match=match) as info:
        fn()
    return info.value


def record(outcomes: dict[str, BaseException | None], name: str, fn: Callable[[], object]) -> None:
    """Run `fn` and record what it raised (None if it did not raise) under `name`."""
    try:
        fn()
        outcomes[name] = None
    except Exception as exc:
        outcomes[name] = exc


class Counter(EntrySchema):
    n: U64


def one_event() -> list[Event]:
    return [Event(ts=1, tid=1, type=1, payload="0 events remaining")]


# -- source ---------------------------------------------------------------------------------------


class PureSource(CountdownSource):
    def init(self, tables: TablesInput | None) -> None:
        self.got_tables = tables


def test_source_init_no_access() -> None:
    src = PureSource()
    host = PluginHost([src])
    host.run()
    assert src.got_tables is None


class SourceSmuggler(SourcePlugin, ParsePlugin):
    """A source+parse plugin that keeps its init and parse tokens for the source phase."""

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.tables = tables
        self.table = tables.get_table("remaining", U64)
        self.errors: list[AccessDeniedError] = []
        self.reader: TableReader | None = None
        self.writer: TableWriter | None = None

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        self.reader, self.writer = reader, writer

    def open(self) -> Iterator[Event]:
        yield Event(ts=1, tid=1, type=1, payload="1 events remaining")
        # Source phase: every token this plugin ever got is dead here.
        assert self.reader is not None and self.writer is not None
        reader, writer = self.reader, self.writer
        self.errors.append(denied(lambda: self.tables.get_table("remaining", U64), "after init"))
        self.errors.append(denied(lambda: self.table.size(reader), "after parse_event returned"))
        self.errors.append(denied(lambda: self.table.create_entry(writer), "TableWriter"))
        self.errors.append(denied(lambda: self.table.clear(writer)))
        yield Event(ts=2, tid=1, type=1, payload="0 events remaining")


def test_source_action_no_access() -> None:
    exporter = DirectExporter()
    smuggler = SourceSmuggler()
    host = PluginHost([exporter, smuggler])
    host.init()
    before = snapshot(exporter.table)
    host.run(source="SourceSmuggler")
    assert len(smuggler.errors) == 4
    # Only the exporter's parse changed the table: two events, nothing from the smuggler.
    assert before == {} and sorted(snapshot(exporter.table)) == [1, 2]


# -- parse ----------------------------------------------------------------------------------------


class ParseInit(ParsePlugin):
    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.listed = tables.list_tables()
        own: Table[int, Counter] = Table("own", U64, Counter)
        tables.export_table(own)
        self.remaining = tables.get_table("remaining", U64)
        self.flag = self.remaining.add_field("flag", U64)
        self.rem = self.remaining.get_field("remaining", U64)
        # Init also gets a reader and a writer (ABI 3.5+).
        e = self.remaining.create_entry(tables.writer)
        e[self.rem] = 42
        self.remaining.add_entry(tables.writer, 99, e)
        self.size_at_init = self.remaining.size(tables.reader)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        pass


def test_parse_init_full_access() -> None:
    exporter = DirectExporter()
    p = ParseInit()
    host = PluginHost([exporter, p])
    host.init()
    assert [t.name for t in p.listed] == ["remaining"]
    assert "own" in host.registry
    assert p.size_at_init == 1
    with exporter.table.read(99) as h:
        assert h["remaining"] == 42 and h["flag"] == 0
    host.destroy()


class ParseAction(ParsePlugin):
    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.tables = tables
        self.table = tables.get_table("remaining", U64)
        self.rem = self.table.get_field("remaining", U64)
        self.flag = self.table.add_field("flag", U64)
        self.stale: TableWriter | None = None
        self.errors: list[AccessDeniedError] = []
        self.snapshots: list[Any] = []

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        # Allowed: read and write through the tokens of this very callback.
        with self.table.get_entry(writer, event.evtnum, write=True) as h:
            h[self.flag] = h[self.rem] + 1
        owned = self.table  # checked from the test through the exporter's table
        if self.stale is not None:
            stale = self.stale
            self.errors.append(denied(lambda: owned.erase_entry(stale, 1), "after parse_event"))
        self.errors.append(denied(lambda: self.tables.get_table("remaining", U64), "during init"))
        self.errors.append(denied(lambda: self.table.get_field("remaining", U64), "during init"))
        self.errors.append(denied(lambda: self.table.add_field("other", U64), "during init"))
        self.stale = writer


def test_parse_action_read_write() -> None:
    exporter = DirectExporter()
    p = ParseAction()
    host = PluginHost([CountdownSource(), exporter, p])
    host.run()
    assert len(p.errors) == 3 + 4 * 3  # stale writer from event 2 on, 3 lookups per event
    assert snapshot(exporter.table) == {e: (4 - e, 104 - e, 5 - e) for e in (1, 2, 3, 4)}
    assert [f.name for f in exporter.table.list_fields()] == [
        "remaining",
        "readonly",
        "countdown",
        "flag",
    ]


# -- extract --------------------------------------------------------------------------------------


class ExtractInit(ExtractPlugin):
    fields = ("x.flag",)

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table = tables.get_table("remaining", U64)
        self.flag = self.table.add_field("xflag", U64)
        self.own: Table[int, Counter] = Table("extract-own", U64, Counter)
        tables.export_table(self.own)

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        with self.table.get_entry(reader, event.evtnum) as h:
            return h[self.flag]


def test_extract_init_full_access() -> None:
    p = ExtractInit()
    host = PluginHost([CountdownSource(), DirectExporter(), p])
    results = host.run(extract=["x.flag"])
    assert [r.values["x.flag"] for r in results] == [0, 0, 0, 0]
    assert "extract-own" in host.registry


class ExtractWriter(ExtractPlugin):
    """Tries every write from extract: each must be denied, and reads must work."""

    fields = ("w.remaining",)

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table = tables.get_table("remaining", U64)
        self.rem = self.table.get_field("remaining", U64)
        self.nested = self.table.get_nested("countdown", U64)
        self.errors: list[AccessDeniedError] = []

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        t, key = self.table, event.evtnum
        bad: Any = reader  # deliberately the wrong token type for write operations
        attempts: list[Callable[[], object]] = [
            lambda: t.create_entry(bad),
            lambda: t.get_entry(reader, key, write=True),
            lambda: t.erase_entry(bad, key),
            lambda: t.clear(bad),
            lambda: t.iterate(reader, lambda h: None, write=True),
            lambda: t.add_entry(bad, 77, bad),
        ]
        for attempt in attempts:
            self.errors.append(denied(attempt, "extract: read only|read handle"))
        with t.get_entry(reader, key) as h:
            self.errors.append(denied(lambda: h.__setitem__(self.rem, 5), "read handle"))
            nested: ImportedTable = h["countdown"]
            self.errors.append(denied(lambda: nested.create_entry(bad), "needs a TableWriter"))
            return h[self.rem]


def test_extract_action_read_only() -> None:
    exporter = DirectExporter(nested=True)
    p = ExtractWriter()
    host = PluginHost([CountdownSource(), exporter, p])
    results = host.run(extract=["w.remaining"])
    assert [r.values["w.remaining"] for r in results] == [3, 2, 1, 0]
    assert all(not r.errors for r in results)
    assert len(p.errors) == 4 * 8
    assert "needs a TableWriter, got a TableReader of plugin 'ExtractWriter'" in str(p.errors[0])
    assert snapshot(exporter.table) == {e: (4 - e, 104 - e) for e in (1, 2, 3, 4)}


# -- listen ---------------------------------------------------------------------------------------


class ListenInit(ListenPlugin):
    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table = tables.get_table("remaining", U64)
        self.field = self.table.add_field("listened", U64)


def test_listen_init_full_access() -> None:
    p = ListenInit()
    exporter = DirectExporter()
    host = PluginHost([exporter, p])
    host.init()
    assert "listened" in [f.name for f in exporter.table.list_fields()]
    host.destroy()


class ListenCapture(ListenPlugin):
    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table = tables.get_table("remaining", U64)
        self.rem = self.table.get_field("remaining", U64)
        self.errors: list[AccessDeniedError] = []
        self.sizes: list[int] = []

    def capture_open(self, capture: CaptureListenInput) -> None:
        e = self.table.create_entry(capture.writer)
        e[self.rem] = 1000
        self.table.add_entry(capture.writer, 1000, e)
        self.opened = capture

    def capture_close(self, capture: CaptureListenInput) -> None:
        self.sizes.append(self.table.size(capture.reader))
        old = self.opened
        self.errors.append(denied(lambda: self.table.size(old.reader), "capture_open returned"))
        self.errors.append(denied(lambda: self.table.erase_entry(old.writer, 1000)))
        self.errors.append(denied(lambda: old.start_routine(lambda: False), "routine after"))


def test_listen_capture_open_close_read_write() -> None:
    exporter = DirectExporter()
    p = ListenCapture()
    host = PluginHost([CountdownSource(), exporter, p])
    host.run()
    assert p.sizes == [5]  # the capture_open entry plus four events
    assert len(p.errors) == 3
    assert snapshot(exporter.table)[1000] == (1000, 0)


class ListenRoutines(ListenPlugin):
    """Starts routines that try each kind of table; records what happened."""

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.imported = tables.get_table("remaining", U64)
        self.own_ts: Table[int, Counter] = Table("listen-ts", U64, Counter, thread_safe=True)
        self.own_st: Table[int, Counter] = Table("listen-st", U64, Counter)
        tables.export_table(self.own_ts)
        tables.export_table(self.own_st)
        self.outcomes: dict[str, BaseException | None] = {}
        self.ran = threading.Event()

    def capture_open(self, capture: CaptureListenInput) -> None:
        reader = capture.reader
        capture.start_routine(lambda: self._probe(reader), interval=0.001, name="probe")
        capture.start_routine(lambda: bool(self.imported.size(reader)), name="raiser")

    def _probe(self, reader: TableReader) -> bool:
        def own_insert() -> None:
            e = self.own_ts.create_entry()
            e["n"] = 1
            self.own_ts.add_entry(len(self.own_ts), e)

        record(self.outcomes, "own thread-safe", own_insert)
        record(self.outcomes, "own single-threaded", lambda: self.own_st.create_entry())
        record(self.outcomes, "imported", lambda: self.imported.size(reader))
        record(self.outcomes, "token", lambda: reader.validate())
        self.ran.set()
        return False  # one run is enough


@pytest.mark.timeout(10)
def test_listen_routines_only_own_thread_safe_tables() -> None:
    exporter = DirectExporter()
    p = ListenRoutines()
    host = PluginHost([exporter, p])
    host.init()
    host.open_capture()
    assert p.ran.wait(5.0)
    with pytest.raises(BackgroundError) as info:
        host.close_capture()
    # The routine that let its denial escape is reported at close.
    assert len(info.value.errors) == 1
    assert isinstance(info.value.errors[0], ThreadAccessDeniedError)
    assert p.outcomes["own thread-safe"] is None
    assert len(p.own_ts) == 1
    for name in ("own single-threaded", "imported"):
        err = p.outcomes[name]
        assert isinstance(err, ThreadAccessDeniedError)
        assert isinstance(err, WrongThreadError)  # names both threads too
        assert "capture-listen routine thread of plugin 'ListenRoutines'" in str(err)
        assert "routines may only use thread-safe tables their own plugin exported" in str(err)
    assert isinstance(p.outcomes["token"], AccessDeniedError)
    assert len(p.own_st) == 0 and snapshot(exporter.table) == {}
    host.destroy()


# -- async ----------------------------------------------------------------------------------------


class PureAsync(AsyncPlugin):
    def init(self, tables: TablesInput | None) -> None:
        self.got_tables = tables

    def start_async(self, ctx: AsyncContext) -> None:
        ctx.push(Event(ts=5, tid=2, type=9, payload="async hello"))


def test_async_init_exports_only() -> None:
    p = PureAsync()
    host = PluginHost([p])
    results = host.run(events=one_event())
    assert p.got_tables is not None  # an export-only input: it may export its own tables
    with pytest.raises(AccessDeniedError, match="used for list_tables after init returned"):
        p.got_tables.list_tables()
    assert [(r.event.source, r.event.payload) for r in results] == [
        ("syscall", "0 events remaining"),
        ("async", "async hello"),  # ts 5: after the engine event of ts 1 (ts order)
    ]


class AsyncOwner(ParsePlugin, AsyncPlugin):
    """Exports a thread-safe and a single-threaded table, imports a foreign one."""

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.own_ts: Table[int, Counter] = Table("async-ts", U64, Counter, thread_safe=True)
        self.own_st: Table[int, Remaining] = Table("async-st", U64, Remaining)
        tables.export_table(self.own_ts)
        tables.export_table(self.own_st)
        self.imported = tables.get_table("remaining", U64)
        self.outcomes: dict[str, BaseException | None] = {}
        self.ran = threading.Event()

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        self.writer = writer

    def start_async(self, ctx: AsyncContext) -> None:
        ctx.start_task(self._work, interval=0.001)

    def _work(self) -> bool:
        def own_insert() -> None:
            e = self.own_ts.create_entry()
            e["n"] = 7
            self.own_ts.add_entry(0, e)
            with self.own_ts.read(0) as h:
                assert h["n"] == 7

        record(self.outcomes, "own thread-safe", own_insert)
        record(self.outcomes, "own single-threaded", lambda: len(self.own_st))
        record(self.outcomes, "imported", lambda: self.imported.get_field("remaining", U64))
        self.ran.set()
        return False


@pytest.mark.timeout(10)
def test_async_action_own_thread_safe_tables_only() -> None:
    exporter = DirectExporter()
    p = AsyncOwner()
    host = PluginHost([exporter, p])
    host.init()
    host.open_capture()
    assert p.ran.wait(5.0)
    host.close_capture()
    assert p.outcomes["own thread-safe"] is None
    for name in ("own single-threaded", "imported"):
        err = p.outcomes[name]
        assert isinstance(err, ThreadAccessDeniedError)
        assert "async task thread of plugin 'AsyncOwner'" in str(err)
        assert "async plugins have no table access" in str(err)
    assert snapshot(exporter.table) == {} and len(p.own_st) == 0
    host.destroy()
