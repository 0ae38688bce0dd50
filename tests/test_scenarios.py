"""The reference scenarios S1-S5 and S7-S9, run through the plugin host."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import CountdownEntry, CountdownSource, DirectExporter, remaining_of, snapshot

from concurrent_tables import (
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    AsyncPlugin,
    Bool,
    Custom,
    EntrySchema,
    Event,
    ExtractPlugin,
    Field,
    Imported,
    ImportedNested,
    ImportedTable,
    ParsePlugin,
    PluginHost,
    SourcePlugin,
    StateType,
    String,
    Table,
    TableImport,
    TableReader,
    TablesInput,
    TableWriter,
)
from concurrent_tables.errors import KeyTypeMismatchError, ReadOnlyFieldError
from concurrent_tables.plugins.base import AsyncContext, ExtractRequest


class Basic(TableImport):
    remaining: Imported[U64]
    readonly: Imported[U64]


class CountdownImport(TableImport):
    count: Imported[U64]
    is_final: Custom[Bool]


class Extended(TableImport):
    remaining: Imported[U64]
    countdown: ImportedNested[U64, CountdownImport]
    is_even: Custom[Bool]
    as_string: Custom[String]


class BasicExtractor(ExtractPlugin):
    """Extracts countdown.remaining through a declarative import (S1)."""

    fields = ("countdown.remaining",)

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.view = Basic.import_table(tables, "remaining", U64)

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        with self.view.table.get_entry(reader, event.evtnum) as h:
            return self.view.remaining.get(h)


def run_values(host: PluginHost, field: str) -> list[str]:
    return [str(r.values[field]) for r in host.run(extract=[field])]


# -- S1, S2 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("thread_safe", [False, True])
def test_s1_parse_export_extract_declarative(thread_safe: bool) -> None:
    host = PluginHost(
        [CountdownSource(), DirectExporter(thread_safe=thread_safe), BasicExtractor()]
    )
    assert run_values(host, "countdown.remaining") == ["3", "2", "1", "0"]
    assert [e.evtnum for e in host.recorded] == [1, 2, 3, 4]


class RuntimeExtractor(ExtractPlugin):
    """Resolves `remaining` by name at init on an untyped import (S2)."""

    fields = ("countdown.remaining",)

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table = tables.get_table("remaining", U64)
        self.remaining = self.table.get_field("remaining", U64)

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        with self.table.get_entry(reader, event.evtnum) as h:
            return h[self.remaining]


def test_s2_runtime_import() -> None:
    host = PluginHost([CountdownSource(), DirectExporter(), RuntimeExtractor()])
    assert run_values(host, "countdown.remaining") == ["3", "2", "1", "0"]


# -- S3 -------------------------------------------------------------------------------------------


class ApiExporter(ParsePlugin):
    """Exports `remaining`, imports it back, and writes only through the API (S3)."""

    name = "api-exporter"

    def __init__(self, *, nested: bool = False) -> None:
        self.nested = nested
        self.readonly_errors: list[ReadOnlyFieldError] = []

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        from conftest import Remaining

        self.owned: Table[int, Remaining] = Table("remaining", U64, Remaining)
        tables.export_table(self.owned)
        self.view = Basic.import_table(tables, "remaining", U64)
        self.countdown = self.view.table.get_nested("countdown", U64)
        self.count = self.countdown.get_field("count", U64)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        n = remaining_of(event)
        t = self.view.table
        e = t.create_entry(writer)
        self.view.remaining.set(e, n)
        before = snapshot(self.owned)
        try:
            self.view.readonly.set(e, 7)
        except ReadOnlyFieldError as exc:
            self.readonly_errors.append(exc)
        assert snapshot(self.owned) == before
        if self.nested:
            nested: ImportedTable = e["countdown"]
            for i in range(n + 1):
                c = nested.create_entry(writer)
                c[self.count] = n - i
                nested.add_entry(writer, i, c)
        t.add_entry(writer, event.evtnum, e)


class CustomFieldWriter(ParsePlugin):
    """Adds is_even / as_string to the foreign table and sets them per event (S3)."""

    name = "custom-writer"

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.view = Extended.import_table(tables, "remaining", U64)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        v = self.view
        with v.table.get_entry(writer, event.evtnum, write=True) as h:
            v.is_even.set(h, v.remaining.get(h) % 2 == 0)
            v.as_string.set(h, str(event.payload))


class PlainReader(TableImport):
    remaining: Imported[U64]
    is_even: Imported[Bool]
    as_string: Imported[String]


class FieldsExtractor(ExtractPlugin):
    """Reads remaining / is_even / as_string; `redeclare` re-declares the custom fields."""

    def __init__(self, prefix: str, *, redeclare: bool) -> None:
        self.name = prefix
        self.fields = tuple(f"{prefix}.{f}" for f in ("remaining", "is_even", "as_string"))
        self.redeclare = redeclare

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        cls: type[TableImport] = Extended if self.redeclare else PlainReader
        self.view: Any = cls.import_table(tables, "remaining", U64)

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        with self.view.table.get_entry(reader, event.evtnum) as h:
            value = getattr(self.view, request.field.split(".")[1]).get(h)
        return str(int(value)) if isinstance(value, bool) else value


def test_s3_api_writes_readonly_rejection_shared_custom_fields() -> None:
    exporter = ApiExporter()
    first, second = (
        FieldsExtractor("a", redeclare=False),
        FieldsExtractor("b", redeclare=True),
    )
    host = PluginHost([CountdownSource(), exporter, CustomFieldWriter(), first, second])
    fields = [*first.fields, *second.fields]
    results = host.run(extract=fields)
    rows = [[str(r.values[f]) for f in fields[:3]] for r in results]
    assert rows == [
        ["3", "0", "3 events remaining"],
        ["2", "1", "2 events remaining"],
        ["1", "0", "1 events remaining"],
        ["0", "1", "0 events remaining"],
    ]
    assert [[str(r.values[f]) for f in fields[3:]] for r in results] == rows
    assert len(exporter.readonly_errors) == 4
    assert "attempt to write to read-only static struct field: readonly" in str(
        exporter.readonly_errors[0]
    )
    # The re-declared custom fields are the existing ones, not new ones.
    assert second.view.is_even.field is first.view.is_even.field
    assert second.view.as_string.field is first.view.as_string.field
    assert [f.name for f in exporter.owned.list_fields()].count("is_even") == 1


# -- S4 -------------------------------------------------------------------------------------------


class FinalMarker(ParsePlugin):
    """Adds is_final to the nested countdown tables and sets it while iterating them (S4)."""

    name = "final-marker"

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.view = Extended.import_table(tables, "remaining", U64)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        v = self.view
        fields = v.countdown.fields
        with v.table.get_entry(reader, event.evtnum) as h:
            nested = v.countdown.get(h)
            nested.iterate(
                writer,
                lambda c: fields.is_final.set(c, fields.count.get(c) == 0),
                write=True,
            )


class FinalExtractor(ExtractPlugin):
    fields = ("countdown.is_final",)

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.view = Extended.import_table(tables, "remaining", U64)

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        assert request.arg is not None
        v = self.view
        with v.table.get_entry(reader, event.evtnum) as h:
            key = int(request.arg.replace("remaining", str(v.remaining.get(h))).replace("+1", ""))
            if request.arg.endswith("+1"):
                key += 1
            with v.countdown.get_by_key(h, reader, key) as c:
                return str(int(v.countdown.fields.is_final.get(c)))


@pytest.mark.parametrize("api", [False, True])
def test_s4_nested_tables_with_is_final(api: bool) -> None:
    exporter: ParsePlugin = ApiExporter(nested=True) if api else DirectExporter(nested=True)
    extractor = FinalExtractor()
    host = PluginHost([CountdownSource(), exporter, CustomFieldWriter(), FinalMarker(), extractor])
    reqs = ["countdown.is_final[remaining]", "countdown.is_final[0]"]
    bad = "countdown.is_final[remaining+1]"
    results = host.run(extract=[*reqs, bad])
    # Event 4 has remaining == 0, so its [0] is the final entry too.
    assert [[r.values[q] for q in reqs] for r in results] == [["1", "0"]] * 3 + [["1", "1"]]
    from concurrent_tables.errors import EntryNotFoundError

    assert all(isinstance(r.errors[bad], EntryNotFoundError) for r in results)
    assert all(bad not in r.values for r in results)
    # The nested custom field exists on every instance: one shared registry.
    table: Table[Any, Any] = (
        exporter.owned if isinstance(exporter, ApiExporter) else exporter.table  # type: ignore[attr-defined]
    )
    with table.read(1) as h1, table.read(2) as h2:
        names1 = [f.name for f in h1["countdown"].list_fields()]
        names2 = [f.name for f in h2["countdown"].list_fields()]
    assert names1 == names2 == ["count", "is_final"]


def test_s4_is_even_as_string_hold_with_nested() -> None:
    first = FieldsExtractor("a", redeclare=False)
    host = PluginHost(
        [CountdownSource(), DirectExporter(nested=True), CustomFieldWriter(), FinalMarker(), first]
    )
    results = host.run(extract=list(first.fields))
    assert [r.values["a.is_even"] for r in results] == ["0", "1", "0", "1"]
    assert results[0].values["a.as_string"] == "3 events remaining"


# -- S5 -------------------------------------------------------------------------------------------


class Num(EntrySchema):
    num: U64


class BackgroundInserter(ParsePlugin, AsyncPlugin):
    """Exports thread-safe `table`; its async task inserts num=counter at key counter (S5)."""

    name = "inserter"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.counter = 0
        self.inserted = threading.Event()

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table: Table[int, Num] = Table("table", U64, Num, thread_safe=True)
        tables.export_table(self.table)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        pass

    def start_async(self, ctx: AsyncContext) -> None:
        ctx.start_task(self._insert_one, interval=self.interval, name="s5-inserter")

    def _insert_one(self) -> None:
        # The safe order: fill a fresh detached entry, then attach it holding no handle.
        e = self.table.create_entry()
        e["num"] = self.counter
        self.table.add_entry(self.counter, e)
        self.counter += 1
        if self.counter >= 30:
            self.inserted.set()


class SleepySourceParser(SourcePlugin, ParsePlugin):
    """Emits one event once the background thread inserted enough, then walks the table."""

    name = "walker"

    def __init__(self, inserter: BackgroundInserter) -> None:
        self.inserter = inserter
        self.done = False
        self.seen: list[int] = []
        self.grew_during_walk = False

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table = tables.get_table("table", U64)
        self.num = self.table.get_field("num", U64)

    def open(self) -> Iterator[Event]:
        assert self.inserter.inserted.wait(5.0), "the background inserter did not run"
        yield Event(ts=1, tid=1, type=1, payload="walk")

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        start = self.inserter.counter
        reader = reader.validate()

        def check(h: Any) -> None:
            assert h[self.num] == h.key == len(self.seen)
            self.seen.append(h.key)
            if len(self.seen) <= 10:
                time.sleep(0.005)  # a slow walk: the inserter must not be blocked by it

        assert self.table.iterate(reader, check)
        self.grew_during_walk = self.inserter.counter > start
        self.done = True


class NumExtractor(ExtractPlugin):
    fields = ("table.num",)

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table = tables.get_table("table", U64)
        self.num = self.table.get_field("num", U64)

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        with self.table.get_entry(reader, 5) as h:
            return h[self.num]


@pytest.mark.timeout(10)
def test_s5_background_thread_inserting() -> None:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        inserter = BackgroundInserter(interval=0.002)
        walker = SleepySourceParser(inserter)
        host = PluginHost([inserter, walker, NumExtractor()])
        results = host.run(extract=["table.num"])
    finally:
        sys.setswitchinterval(old)
    assert walker.done
    assert len(walker.seen) >= 30
    assert walker.seen == list(range(len(walker.seen)))
    assert walker.grew_during_walk  # the walk held no lock that stopped the inserter
    assert results[0].values["table.num"] == 5
    assert host.background_errors == []
    counter = inserter.counter
    time.sleep(0.02)
    assert inserter.counter == counter  # stopped and joined at close
    assert len(inserter.table) == counter


# -- S7 -------------------------------------------------------------------------------------------


class WrongNestedKey(TableImport):
    countdown: ImportedNested[I32, CountdownImport]


class WrongKeyParser(ParsePlugin):
    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.view = WrongNestedKey.import_table(tables, "remaining", U64)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        raise AssertionError("never reached")


def test_s7_bad_nested_key_type_fails_at_init() -> None:
    exporter = DirectExporter(nested=True)
    host = PluginHost([CountdownSource(), exporter, WrongKeyParser()])
    # The typed error leaves the host with its type; the host's context is a note.
    with pytest.raises(KeyTypeMismatchError, match="init of plugin 'WrongKeyParser'") as info:
        host.init()
    assert "requested='int32', actual='uint64'" in str(info.value)
    assert info.value.__notes__[-1] == "init of plugin 'WrongKeyParser' (parse) failed"
    # Nothing was created on the way: no entry, and no is_final field on the nested tables.
    assert len(exporter.table) == 0
    spec = exporter.table.field("countdown").nested
    assert spec is not None and [f.name for f in spec.listing()] == ["count"]


# -- S8 -------------------------------------------------------------------------------------------

SAMPLE_KEYS: dict[Any, Any] = {
    I8: -8,
    I16: -16,
    I32: -32,
    I64: -(2**40),
    U8: 8,
    U16: 16,
    U32: 32,
    U64: 2**40,
    Bool: True,
    String: "key",
}


class Val(EntrySchema):
    v: U64


class EveryKeyExporter(ParsePlugin):
    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.tables: list[Table[Any, Val]] = []
        for kt, key in SAMPLE_KEYS.items():
            st = StateType(kt.__metadata__[0])
            t: Table[Any, Val] = Table(f"t_{st.type_name}", kt, Val)
            e = t.create_entry()
            e["v"] = int(st)
            t.add_entry(key, e)
            tables.export_table(t)
            self.tables.append(t)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        pass


class EveryKeyReader(ExtractPlugin):
    fields = ("keys.all",)

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.imported: list[tuple[ImportedTable, Field, Any]] = []
        for kt, key in SAMPLE_KEYS.items():
            st = StateType(kt.__metadata__[0])
            t = tables.get_table(f"t_{st.type_name}", kt)
            self.imported.append((t, t.get_field("v", U64), key))

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        out = []
        for t, f, key in self.imported:
            with t.get_entry(reader, key) as h:
                out.append((t.key_type, h[f]))
        return out


def test_s8_every_key_type() -> None:
    host = PluginHost([EveryKeyExporter(), EveryKeyReader()])
    results = host.run(events=[Event(ts=1, tid=1, type=1)], extract=["keys.all"])
    got = results[0].values["keys.all"]
    assert [kt for kt, _ in got] == [StateType(k.__metadata__[0]) for k in SAMPLE_KEYS]
    assert all(v == int(kt) for kt, v in got)
    infos = host.registry.list_tables()
    assert {i.key_type for i in infos} == {StateType(k.__metadata__[0]) for k in SAMPLE_KEYS}


# -- S9 -------------------------------------------------------------------------------------------


class Lister(ExtractPlugin):
    fields = ("list.fields",)

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.tables = tables.list_tables()
        self.fields_listed = tables.get_table("remaining", U64).list_fields()

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        return None


def test_s9_field_listing() -> None:
    lister = Lister()
    host = PluginHost([DirectExporter(nested=True), lister])
    host.init()
    assert [(t.name, t.key_type) for t in lister.tables] == [("remaining", StateType.UINT64)]
    by_name = {f.name: f for f in lister.fields_listed}
    assert [f.name for f in lister.fields_listed] == ["remaining", "readonly", "countdown"]
    assert by_name["countdown"].type is StateType.TABLE and by_name["countdown"].read_only
    assert by_name["readonly"].read_only and not by_name["remaining"].read_only
    host.destroy()


def test_nested_schema_shared() -> None:
    # Sanity for the fixtures: a nested countdown entry schema with one static field.
    assert [s.name for s in CountdownEntry.__fields__] == ["count"]
