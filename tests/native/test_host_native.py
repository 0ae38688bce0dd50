"""Native plugins in the Python plugin host, side by side with Python plugins, one registry."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from concurrent_tables import U64, EntrySchema, StateType, Table
from concurrent_tables.cabi import NativeTable
from concurrent_tables.cabi.native_backend import NativeBackend
from concurrent_tables.cabi.plugin_adapter import load_native_plugin
from concurrent_tables.errors import AccessDeniedError, EntryNotFoundError, PluginError
from concurrent_tables.falco import add_thread, threads_table
from concurrent_tables.importing.table import ImportedTable
from concurrent_tables.plugins.base import Event, ExtractPlugin, ExtractRequest, ParsePlugin
from concurrent_tables.plugins.host import PluginHost
from concurrent_tables.plugins.tokens import TableReader, TablesInput, TableWriter
from concurrent_tables.registry import TableRegistry

from .helpers import TEST_CDEF, checks, failed, thread_done, thread_status

pytestmark = pytest.mark.timeout(60)


class SampleWriter(ParsePlugin):
    """Writes the native plugin's table through the API: u64_val = 10 * event number."""

    name = "sample_writer"

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.sample = tables.get_table("plugin_sample", U64)
        self.u64 = self.sample.get_field("u64_val", U64)
        nested = self.sample.get_nested("children", U64)
        self.kid_val = nested.get_field("u64_val", U64)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        e = self.sample.create_entry(writer)
        e[self.u64] = 10 * event.evtnum
        self.sample.add_entry(writer, event.evtnum, e, replace=True)
        with self.sample.write(writer, event.evtnum) as h:
            kids = h["children"]
            assert isinstance(kids, ImportedTable)  # nested native tables are imported views
            k = kids.create_entry(writer)
            k[self.kid_val] = event.evtnum
            kids.add_entry(writer, 0, k)


class Extractor(ExtractPlugin):
    """Reads what the native plugin counted and what SampleWriter stored in the native table."""

    name = "extractor"
    fields = ("threads.ct_counter", "sample.u64_val", "sample.kids")

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.threads = tables.get_table("threads", StateType.INT64)
        self.ct = self.threads.get_field("ct_counter", U64)  # added by the native plugin
        self.sample = tables.get_table("plugin_sample", U64)
        self.u64 = self.sample.get_field("u64_val", U64)

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        if request.field == "threads.ct_counter":
            with self.threads.read(reader, event.tid) as h:
                return h[self.ct]
        with self.sample.read(reader, event.evtnum) as h:
            if request.field == "sample.kids":
                return h["children"].size(reader)
            with pytest.raises(AccessDeniedError):
                h[self.u64] = 1  # extract is read-only for Python plugins too
            return h[self.u64]


def make_registry() -> TableRegistry:
    threads = threads_table()
    add_thread(threads, 1, comm="init", cwd="/")
    registry = TableRegistry()
    registry.export(threads)
    return registry


def test_native_and_python_plugins_side_by_side(
    event_counter_so: Path, exporter_so: Path, extract_reader_so: Path
) -> None:
    registry = make_registry()
    counter = load_native_plugin(str(event_counter_so))
    exporter = load_native_plugin(str(exporter_so), extra_cdef=TEST_CDEF)
    probe = load_native_plugin(str(extract_reader_so), fields=["ct.probe"], extra_cdef=TEST_CDEF)
    plugins = [counter, exporter, SampleWriter(), Extractor(), probe]
    host = PluginHost(plugins, registry=registry)
    events = [Event(ts=i, tid=1, type=3) for i in range(1, 4)]
    with host:
        results = host.run(
            events=events,
            extract=["threads.ct_counter", "sample.u64_val", "sample.kids", "ct.probe"],
        )
        assert [r.errors for r in results] == [{}, {}, {}]
        assert [r.values["threads.ct_counter"] for r in results] == [1, 2, 3]
        assert [r.values["sample.u64_val"] for r in results] == [10, 20, 30]
        assert [r.values["sample.kids"] for r in results] == [1, 1, 1]
        assert [r.values["ct.probe"] for r in results] == [4, 4, 4]  # len("init")
        # one registry: the native table is registered by its plugin, behind a NativeBackend
        assert registry.owner_of("plugin_sample") == "ct_exporter"
        view = registry.get_table("plugin_sample", U64)
        assert isinstance(view._backend, NativeBackend)
        assert isinstance(view._backend.table, NativeTable)
        # the extract-only native plugin could read, and every write was refused
        c = checks(probe.native, "extract")
        assert c["extract.read_entry_field"]["detail"] == "init"
        assert c["extract.write_entry_field.denied"]["err"] == (
            "access denied: plugin 'ct_extract_reader' cannot write_entry_field during "
            "extract_fields (extract: read only)"
        )
        assert failed(probe.native) == [] and failed(exporter.native) == []
    for p in (counter, exporter, probe):
        assert p.native.state == p.native.pffi.NULL  # destroyed with the host


def test_native_parse_skips_other_event_types(event_counter_so: Path) -> None:
    registry = make_registry()
    counter = load_native_plugin(str(event_counter_so), "event_types=3")
    with PluginHost([counter], registry=registry) as host:
        host.run(events=[Event(ts=1, tid=1, type=3), Event(ts=2, tid=1, type=4)])
        threads = registry.get_table("threads", StateType.INT64)._backend
        with threads.table.read(1) as h:  # type: ignore[attr-defined]
            assert h["ct_counter"] == 1


def test_native_parse_failure_surfaces_as_plugin_error(event_counter_so: Path) -> None:
    counter = load_native_plugin(str(event_counter_so))
    with PluginHost([counter], registry=make_registry()) as host:
        with pytest.raises(PluginError) as err:
            host.run(events=[Event(ts=1, tid=99, type=3)])
    assert "can't get table entry: get_entry found no element at given key" in str(err.value)


def test_failed_native_init_is_destroyed(event_counter_so: Path) -> None:
    bad = load_native_plugin(str(event_counter_so), "nonsense=1")
    host = PluginHost([bad], registry=make_registry())
    with pytest.raises(PluginError, match="unknown config key: nonsense"):
        host.init()
    assert bad.native.state == bad.native.pffi.NULL  # destroyed although init failed


class Counters(EntrySchema):
    pass


def test_capture_listen_pthread_through_the_host(counter_thread_so: Path) -> None:
    counters = Table("counters", U64, Counters, thread_safe=True)
    registry = TableRegistry()
    registry.export(counters)
    listener = load_native_plugin(str(counter_thread_so), "500", extra_cdef=TEST_CDEF)
    with PluginHost([listener], registry=registry) as host:
        host.open_capture()
        deadline = time.monotonic() + 30
        while not thread_done(listener.native):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        host.close_capture()
        assert thread_status(listener.native)["failures"] == 0
        with counters.read(7) as h:
            assert h["ct_counter"] == 500


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("3.0.0", True),
        ("3.11.7", True),
        ("3.12.1", False),
        ("3.13.0", False),
        ("2.12.0", False),
        ("bogus", False),
    ],
)
def test_required_api_version(
    exporter_version_sos: dict[str, Path], version: str, ok: bool
) -> None:
    path = str(exporter_version_sos[version])
    if not ok:
        with pytest.raises(PluginError, match="required API version"):
            load_native_plugin(path)
        return
    p = load_native_plugin(path)
    assert p.native.api_version[:2] == tuple(int(x) for x in version.split(".")[:2])
    with PluginHost([p], registry=make_registry()) as host:
        host.init()
        sample = host.registry.get_table("plugin_sample", U64)._backend.table  # type: ignore[attr-defined]
        e = sample.create_entry()
        sample.add_entry(4, e)
        assert len(sample) == 1
        with pytest.raises(EntryNotFoundError):
            sample.get_entry(5)
        # a plugin requiring minor 0 has no _ext vtables: iteration is unsupported (false)
        assert sample.iterate(lambda h: None) is (version != "3.0.0")
