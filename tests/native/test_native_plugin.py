"""The native test plugin end to end against Python-owned tables, through the real bridge.

The plugin (concurrent_tables/native/ct_test_plugin.c) calls every vtable function from C, with
good and bad inputs, and records each result and the owner error it read right after; these tests
check each code and text against the reference's catalogue (table-abi.md §9).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from concurrent_tables import (
    I64,
    U64,
    EntrySchema,
    NestedTable,
    PluginError,
    ReadOnly,
    String,
    Table,
)
from concurrent_tables.cabi.loader import NativePlugin
from concurrent_tables.registry import TableRegistry

from .conftest import LoadFn
from .helpers import checks, failed, load_plugin, report

pytestmark = pytest.mark.timeout(60)

# Every vtable slot, and the check that exercises it (init phase + parse phase).
SLOT_CHECKS = {
    "list_tables": "list_tables",
    "get_table": "get_table",
    "add_table": "add_table",
    "list_table_fields": "list_table_fields",
    "get_table_field": "get_table_field",
    "add_table_field": "add_table_field",
    "get_table_name": "get_table_name",
    "get_table_size": "get_table_size",
    "get_table_entry": "get_table_entry",
    "read_entry_field": "read_entry_field.string",
    "release_table_entry": "release_table_entry",
    "iterate_entries": "iterate_entries",
    "clear_table": "nested.clear_table",
    "erase_table_entry": "erase_table_entry",
    "create_table_entry": "create_table_entry",
    "destroy_table_entry": "destroy_table_entry",
    "add_table_entry": "add_table_entry",
    "write_entry_field": "write_entry_field.dynamic",
}

ADD_TABLE = "failure in adding state table defined by plugin 'ct_test_plugin': "
INVALID_ENTRY = (
    "invalid entry for table 'threads': unknown, released, or only valid during the callback "
    "that received it"
)

# Expected failures, and the owner error each leaves (libsinsp's words where it has them).
EXPECTED_ERRORS = {
    "get_table.wrong_key_type": "table in registry accessed with wrong key type: "
    "table='threads', requested='uint64', actual='int64'",
    "get_table.unknown_state_type": "can't convert plugin state type to typeinfo: 99",
    "get_table.table_key_type": "table in registry accessed with wrong key type: "
    "table='threads', requested='table', actual='int64'",
    "get_table_field.wrong_type": "incompatible data types for static field: comm",
    "get_table_field.unknown_field": "undefined field 'ct_no_such_field' in table 'threads'",
    "add_table_field.type_conflict": "multiple definitions of dynamic field with different "
    "types in struct: ct_counter, prevtype=uint64, newtype=string",
    "add_table_field.static_name": "can't add dynamic field already defined as static: comm",
    "add_table_field.table_type": "can't add dynamic field of type table: ct_tablefield",
    "add_table.duplicate": "table added to registry multiple times: plugin_sample",
    "add_table.null_input": ADD_TABLE + "input is null",
    "add_table.null_name": ADD_TABLE + "name is null",
    "add_table.bad_key_type": "can't convert plugin state type to typeinfo: 99",
    "add_table.missing_ext": ADD_TABLE + "extended vtables must all be defined",
    "add_table.inconsistent_legacy": ADD_TABLE + "broken or inconsistent reader vtables",
    "write_entry_field.read_only": "attempt to write to read-only static struct field: cwd",
    "write_entry_field.table": "writing to table fields is currently not supported",
    "read_entry_field.foreign_accessor": "field 'fd' comes from table 'file_descriptors', "
    "not from table 'threads'",
    "read_entry_field.null_accessor": "invalid field accessor: null (table 'threads')",
    "get_table_entry.missing": "get_entry found no element at given key",
    "erase_table_entry.missing": "table entry not found",
    "destroy_table_entry.foreign": "destroy_table_entry called on entry not created by "
    "create_table_entry",
    "add_table_entry.foreign": "add_entry called on entry not created by create_table_entry",
    # the plugin's own table, used during its own plugin_init: its state (and so its
    # plugin_get_last_error) is not known yet, so the host words the error
    "own.add_table_field.type_conflict": "error in table 'plugin_sample' of plugin "
    "'ct_test_plugin'",
    "own.get_table_field.unknown_field": "error in table 'plugin_sample' of plugin "
    "'ct_test_plugin'",
    # later, the exporter's plugin_get_last_error text is copied
    "own.get_table_entry.missing": "unknown entry at key: 77",
    "own.erase_table_entry.missing": "unknown entry at key: 77",
}

BAD_INPUT_ERRORS = {
    "bad.list_tables.null_count": "list_tables: ntables is null",
    "bad.get_table.null_name": "get_table: table name is null",
    "bad.list_table_fields.null_count": "list_table_fields: nfields is null",
    "bad.get_table_field.null_name": "invalid field name: null",
    "bad.add_table_field.null_name": "invalid field name: null",
    "bad.get_table_field.unknown_type": "can't convert plugin state type to typeinfo: 99",
    "bad.add_table_field.unknown_type": "can't convert plugin state type to typeinfo: 99",
    "bad.stale_entry": INVALID_ENTRY,
    "bad.get_table_entry.null_key": "key is null",
    "bad.read_entry_field.null_out": "read_entry_field: out is null",
    "bad.read_entry_field.garbage_entry": INVALID_ENTRY,
    "bad.read_entry_field.null_entry": "invalid entry: null (table 'threads')",
    "bad.read_entry_field.garbage_accessor": "invalid field accessor for table 'threads'",
    "bad.write_entry_field.null_value": "write_entry_field: value is null",
    "bad.write_entry_field.garbage_entry": INVALID_ENTRY,
    "bad.iterate_entries.null_iterator": "iterate_entries: iterator function is null",
    "bad.destroy_table_entry.garbage": "destroy_table_entry called on entry not created by "
    "create_table_entry",
    "bad.add_table_entry.null_entry": "add_entry called on entry not created by create_table_entry",
    "bad.erase_table_entry.null_key": "key is null",
    "access.add_table_field.parse": "access denied: plugin 'ct_test_plugin' cannot "
    "add_table_field during parse_event (parse: read/write)",
    "access.get_table_field.parse": "access denied: plugin 'ct_test_plugin' cannot "
    "get_table_field during parse_event (parse: read/write)",
    "access.add_table_field.capture_open": "access denied: plugin 'ct_test_plugin' cannot "
    "add_table_field during capture_open (capture listen: read/write, no fields or tables)",
}

TYPE_VALUES = {
    "types.int8": "-128,127",
    "types.int16": "-32768,32767",
    "types.int32": "-2147483648,2147483647",
    "types.int64": "-9223372036854775808,9223372036854775807",
    "types.uint8": "0,255",
    "types.uint16": "0,65535",
    "types.uint32": "0,4294967295",
    "types.uint64": "0,18446744073709551615",
    "types.bool": "0,1",
    "types.string": "[],[héllo wörld]",
    "types.string2": "[héllo wörld],[]",
}


def threads_of(directory: TableRegistry) -> Table[int, EntrySchema]:
    t = directory.find("threads")
    assert isinstance(t, Table)
    return t


def test_selftest_passes_and_covers_every_slot(load: LoadFn, directory: TableRegistry) -> None:
    p = load("selftest=1")
    for _ in range(3):
        assert p.parse_event(3, tid=1)
    rep = report(p)
    assert failed(p) == []
    assert rep["events"] == 3 and rep["selftests"] == 3
    names = {c["name"] for c in rep["checks"]}
    for slot, check in SLOT_CHECKS.items():
        assert check in names, slot
    init, parse = checks(p, "init"), checks(p, "parse")
    for name, err in EXPECTED_ERRORS.items():
        c = init.get(name) or parse[name]
        assert c["ok"] and c["err"] == err, name
    assert parse["read_entry_field.string"]["detail"] == "init"
    assert init["own.list_table_fields"]["detail"] == "u64_val,str_val"
    assert init["init.nested.get_table_name"]["detail"] == "file_descriptors"
    # the dynamic counter went 0 -> 1 -> 2 -> 3 over the three self-tests
    threads = threads_of(directory)
    with threads.read(1) as h:
        assert h["ct_counter"] == 3
        assert h["ct_note"] == ""  # the last write stored NULL as ""
    assert [(r.component, r.message, r.severity) for r in p.session.logs] == [
        (None, "initializing", 6),
        ("ct_test", "initialized", 7),
    ]


def test_every_type_round_trips(load: LoadFn, directory: TableRegistry) -> None:
    p = load("selftest=1;types=1;export=0")
    assert p.parse_event(3, tid=1)
    assert failed(p) == []
    parse = checks(p, "parse")
    for name, detail in TYPE_VALUES.items():
        assert parse[name]["ok"] and parse[name]["detail"] == detail, name
    with threads_of(directory).read(1) as h:  # Python sees what C wrote last
        assert h["ct_t_int8"] == 127 and h["ct_t_uint64"] == 2**64 - 1
        assert h["ct_t_bool"] is True and h["ct_t_string"] == "héllo wörld"
        assert h["ct_t_string2"] == ""


def test_every_bad_input_fails_cleanly(load: LoadFn) -> None:
    p = load("selftest=1;badinput=1;export=0")
    p.capture_open()
    for _ in range(3):
        assert p.parse_event(3, tid=1)
    p.capture_close()
    assert failed(p) == []
    everything = {**checks(p, "init"), **checks(p, "parse"), **checks(p, "capture_open")}
    for name, err in BAD_INPUT_ERRORS.items():
        c = everything[name]
        assert c["ok"] and c["err"] == err, name
    stale = checks(p, "parse")["bad.stale_nested_handle"]
    assert stale["ok"] and stale["err"].startswith("invalid table handle (id ")
    names = [c["name"] for c in report(p)["checks"]]
    assert names.count("bad.stale_entry") == 2  # from the 2nd and 3rd events


def test_selftest_once_without_export(load: LoadFn, directory: TableRegistry) -> None:
    p = load("selftest=once; export=0")
    assert p.parse_event(3, tid=1) and p.parse_event(3, tid=1)
    rep = report(p)
    assert rep["selftests"] == 1 and rep["failed"] == 0
    assert "plugin_sample" not in directory


def test_event_types_and_sources(load: LoadFn) -> None:
    p = load("import=0;export=0")
    assert p.event_types == frozenset({3}) and p.event_sources == frozenset({"syscall"})
    assert not p.parse_event(4, tid=1)  # not a listed type: skipped
    assert not p.parse_event(3, tid=1, source="k8s_audit")
    assert p.parse_event(3, tid=1)
    q = load("import=0;export=0;event_types=2,3,306")
    assert q.event_types == frozenset({2, 3, 306})
    r = load("import=0;export=0;event_types=")
    assert r.event_types is None and r.wants(12345)  # an empty list means every type


def test_count_mode(load: LoadFn, directory: TableRegistry) -> None:
    p = load("count=1;export=0")
    for _ in range(5):
        p.parse_event(3, tid=1)
    with threads_of(directory).read(1) as h:
        assert h["ct_counter"] == 5
    with pytest.raises(PluginError) as err:
        p.parse_event(3, tid=4242)
    assert p.last_error == "can't get table entry: get_entry found no element at given key"
    assert p.last_error in str(err.value)
    assert p.owner_error() == "get_entry found no element at given key"


def test_failed_init_is_destroyed(directory: TableRegistry, ct_plugin_path: Path) -> None:
    p = load_plugin(ct_plugin_path, directory, "count=1;export=0;table=nope")
    with pytest.raises(PluginError, match="count=1 needs the imported table"):
        p.init()
    assert p.state != p.pffi.NULL  # a state came back with the failure
    assert checks(p, "init")["get_table"]["ok"] is False
    p.destroy()
    assert p.state == p.pffi.NULL
    q = load_plugin(ct_plugin_path, directory, "fail_init=1")
    with pytest.raises(PluginError, match="init failure requested by config"):
        q.init()
    q.destroy()


def test_two_plugins_share_fields_and_tables(load: LoadFn, directory: TableRegistry) -> None:
    """A second instance re-adds the same dynamic fields (idempotent) and sees the first's table."""
    a = load("count=1")
    b = load("count=1;export=0")
    a.parse_event(3, tid=1)
    b.parse_event(3, tid=1)
    with threads_of(directory).read(1) as h:
        assert h["ct_counter"] == 2
    tables = checks(b, "init")["list_tables"]["detail"]
    assert tables == "threads:int64,plugin_sample:uint64"
    assert directory.owner_of("plugin_sample") == "ct_test_plugin"


def test_plugin_without_table_capability_gets_no_access(
    directory: TableRegistry, ct_plugin_path: Path
) -> None:
    """`tables` is always passed (C++ SDK plugins need it), but the owner grants nothing."""
    p = NativePlugin(
        str(ct_plugin_path),
        "export=0",
        registry=directory,
        extra_cdef="const char* ct_test_report(void* s);",
        table_access=False,
    )
    try:
        p.init()
        c = checks(p, "init")
        assert c["list_tables"]["ok"] is False and c["get_table"]["ok"] is False
        assert c["get_table"]["err"] == (
            "access denied: plugin 'ct_test_plugin' cannot get_table during init "
            "(plugins that neither parse, extract nor listen: no table access)"
        )
    finally:
        p.destroy()


def test_extract_only_plugin_reads_but_cannot_write(
    directory: TableRegistry, ct_extract_plugin_path: Path
) -> None:
    p = load_plugin(ct_extract_plugin_path, directory, "export=0")
    try:
        p.init()
        assert (p.can_parse, p.can_extract, p.can_listen) == (False, True, False)
        assert not p.wants(3)
        assert p.extract_fields(3, tid=1) == 0
        c = checks(p, "extract")
        assert failed(p) == []
        assert c["extract.input"]["ok"] and c["extract.read_entry_field"]["detail"] == "init"
        denied = "access denied: plugin 'ct_test_extract' cannot {} during extract_fields " + (
            "(extract: read only)"
        )
        assert c["extract.write_entry_field.denied"]["err"] == denied.format("write_entry_field")
        assert c["extract.create_table_entry.denied"]["err"] == denied.format("create_table_entry")
        with threads_of(directory).read(1) as h:
            assert h["ct_counter"] == 0  # the write never happened
    finally:
        p.destroy()


class Child(EntrySchema):
    n: I64


class Row(EntrySchema):
    label: String
    home: ReadOnly[String]
    kids: NestedTable[I64, Child]


def test_plugin_against_custom_table(ct_plugin_path: Path) -> None:
    """Not only `threads`: a thread-safe uint64-keyed table with a nested table of its own."""
    rows = Table("rows", U64, Row, thread_safe=True)
    e = rows.create_entry()
    e["label"] = "seven"
    rows.add_entry(7, e)
    directory = TableRegistry(rows)
    config = (
        "selftest=1;export=0;table=rows;key_type=uint64;key=7;str_field=label;ro_field=home;"
        "tab_field=kids;nested_field=n"
    )
    p = load_plugin(ct_plugin_path, directory, config)
    try:
        p.init()
        p.parse_event(3, tid=7)
        assert failed(p) == []
        assert checks(p, "parse")["read_entry_field.string"]["detail"] == "seven"
        with rows.read(7) as h:
            assert h["ct_counter"] == 1
    finally:
        p.destroy()
