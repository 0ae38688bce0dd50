"""A native plugin's life in `NativePlugin` (cabi/loader.py): event types and sources, parse
results and errors, failed inits, two plugins on one directory, an extract-only plugin.

Plugins: event_counter.c (like the SDK's syscall_parse), exporter.c, table_api.c and
extract_reader.c from tests/native/plugins/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from concurrent_tables import U64, EntrySchema, Table
from concurrent_tables.errors import PluginError
from concurrent_tables.registry import TableRegistry

from .conftest import LoadFn
from .helpers import checks, failed, load_plugin

pytestmark = pytest.mark.timeout(60)


def threads_of(directory: TableRegistry) -> Table[int, EntrySchema]:
    t = directory.find("threads")
    assert isinstance(t, Table)
    return t


def test_event_types_and_sources(load: LoadFn, event_counter_so: Path) -> None:
    p = load(event_counter_so)
    assert p.event_types == frozenset({3}) and p.event_sources == frozenset({"syscall"})
    assert not p.parse_event(4, tid=1)  # not a listed type: skipped
    assert not p.parse_event(3, tid=1, source="k8s_audit")
    assert p.parse_event(3, tid=1)
    q = load(event_counter_so, "event_types=2,3,306")
    assert q.event_types == frozenset({2, 3, 306})
    r = load(event_counter_so, "event_types=")
    assert r.event_types is None and r.wants(12345)  # an empty list means every type


def test_count_mode(load: LoadFn, directory: TableRegistry, event_counter_so: Path) -> None:
    p = load(event_counter_so)
    for _ in range(5):
        p.parse_event(3, tid=1)
    with threads_of(directory).read(1) as h:
        assert h["ct_counter"] == 5
    with pytest.raises(PluginError) as err:
        p.parse_event(3, tid=4242)
    assert p.last_error == "can't get table entry: get_entry found no element at given key"
    assert p.last_error in str(err.value)
    assert p.owner_error() == "get_entry found no element at given key"


class Other(EntrySchema):
    n: U64


def test_failed_init_is_destroyed(directory: TableRegistry, event_counter_so: Path) -> None:
    no_threads = TableRegistry(Table("other", U64, Other))
    p = load_plugin(event_counter_so, no_threads)
    with pytest.raises(PluginError, match="no table 'threads' with int64 keys"):
        p.init()
    assert p.state != p.pffi.NULL  # a state came back with the failure
    p.destroy()
    assert p.state == p.pffi.NULL
    q = load_plugin(event_counter_so, directory, "nonsense=1")
    with pytest.raises(PluginError, match="unknown config key: nonsense"):
        q.init()
    q.destroy()
    r = load_plugin(event_counter_so, directory, "event_types=3,x")
    with pytest.raises(PluginError, match="bad event type list: 3,x"):
        r.init()
    r.destroy()


def test_two_plugins_share_fields_and_tables(
    load: LoadFn,
    directory: TableRegistry,
    event_counter_so: Path,
    exporter_so: Path,
    table_api_so: Path,
) -> None:
    """A second instance re-adds the same dynamic field (idempotent); a later plugin sees the
    table an earlier one exported."""
    a = load(event_counter_so)
    b = load(event_counter_so)
    a.parse_event(3, tid=1)
    b.parse_event(3, tid=1)
    with threads_of(directory).read(1) as h:
        assert h["ct_counter"] == 2
    load(exporter_so)
    c = load(table_api_so)
    assert checks(c, "init")["list_tables"]["detail"] == "threads:int64,plugin_sample:uint64"
    assert directory.owner_of("plugin_sample") == "ct_exporter"


def test_extract_only_plugin_reads_but_cannot_write(
    load: LoadFn, directory: TableRegistry, extract_reader_so: Path
) -> None:
    p = load(extract_reader_so)
    assert (p.can_parse, p.can_extract, p.can_listen) == (False, True, False)
    assert not p.wants(3)
    assert p.extract_fields(3, tid=1) == 0
    c = checks(p, "extract")
    assert failed(p) == []
    assert c["extract.input"]["ok"] and c["extract.read_entry_field"]["detail"] == "init"
    denied = "access denied: plugin 'ct_extract_reader' cannot {} during extract_fields " + (
        "(extract: read only)"
    )
    assert c["extract.write_entry_field.denied"]["err"] == denied.format("write_entry_field")
    assert c["extract.create_table_entry.denied"]["err"] == denied.format("create_table_entry")
    with threads_of(directory).read(1) as h:
        assert h["ct_counter"] == 0  # the write never happened
