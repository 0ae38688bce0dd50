"""tests/native/plugins/table_api.c against Python-owned tables, through the real bridge.

The plugin calls every table-API slot from C on an imported table, with good inputs and with the
refusals the reference catalogues, and records each result and the owner error it read right
after; these tests check each code and text against that catalogue (docs/c-abi.md, "Errors").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from concurrent_tables import I64, U64, EntrySchema, NestedTable, ReadOnly, String, Table
from concurrent_tables.cabi.loader import NativePlugin
from concurrent_tables.registry import TableRegistry

from .conftest import LoadFn
from .helpers import TEST_CDEF, checks, failed, load_plugin, report

pytestmark = pytest.mark.timeout(60)

# Every vtable slot but add_table (test_exporter.py), and the check that exercises it.
SLOT_CHECKS = {
    "list_tables": "list_tables",
    "get_table": "get_table",
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
}


def threads_of(directory: TableRegistry) -> Table[int, EntrySchema]:
    t = directory.find("threads")
    assert isinstance(t, Table)
    return t


def test_every_slot_passes_with_the_catalogued_errors(
    load: LoadFn, directory: TableRegistry, table_api_so: Path
) -> None:
    p = load(table_api_so)
    for _ in range(3):
        assert p.parse_event(3, tid=1)
    rep = report(p)
    assert failed(p) == []
    assert rep["plugin"] == "ct_table_api" and rep["events"] == 3
    names = {c["name"] for c in rep["checks"]}
    for slot, check in SLOT_CHECKS.items():
        assert check in names, slot
    assert [c["name"] for c in rep["checks"]].count("read_entry_field.string") == 3
    init, parse = checks(p, "init"), checks(p, "parse")
    for name, err in EXPECTED_ERRORS.items():
        c = init.get(name) or parse[name]
        assert c["ok"] and c["err"] == err, name
    assert init["list_tables"]["detail"] == "threads:int64"
    assert parse["read_entry_field.string"]["detail"] == "init"
    assert init["init.nested.get_table_name"]["detail"] == "file_descriptors"
    assert parse["event"]["detail"] == "syscall"
    assert "plugin_sample" not in directory  # it imports only
    # the dynamic counter went 0 -> 1 -> 2 -> 3 over the three events
    with threads_of(directory).read(1) as h:
        assert h["ct_counter"] == 3
        assert h["ct_note"] == ""  # the last write stored NULL as ""
    assert [(r.component, r.message, r.severity) for r in p.session.logs] == [
        (None, "initializing", 6),
        ("ct_table_api", "initialized", 7),
    ]


def test_plugin_without_table_capability_gets_no_access(
    directory: TableRegistry, table_api_so: Path
) -> None:
    """`tables` is always passed (C++ SDK plugins need it), but the owner grants nothing."""
    p = NativePlugin(
        str(table_api_so), registry=directory, extra_cdef=TEST_CDEF, table_access=False
    )
    try:
        p.init()
        c = checks(p, "init")
        assert c["list_tables"]["ok"] is False and c["get_table"]["ok"] is False
        assert c["get_table"]["err"] == (
            "access denied: plugin 'ct_table_api' cannot get_table during init "
            "(plugins that neither parse, extract nor listen: no table access)"
        )
    finally:
        p.destroy()


class Child(EntrySchema):
    fd: I64


class Row(EntrySchema):
    comm: String
    cwd: ReadOnly[String]
    file_descriptors: NestedTable[I64, Child]


def test_plugin_against_custom_table(table_api_so: Path) -> None:
    """Not only `threads`: a thread-safe uint64-keyed table with a nested table of its own."""
    rows = Table("rows", U64, Row, thread_safe=True)
    e = rows.create_entry()
    e["comm"] = "seven"
    rows.add_entry(7, e)
    p = load_plugin(table_api_so, TableRegistry(rows), "rows")
    try:
        p.init()
        p.parse_event(3, tid=7)
        assert failed(p) == []
        init, parse = checks(p, "init"), checks(p, "parse")
        assert init["list_tables"]["detail"] == "rows:uint64"
        assert init["get_table.wrong_key_type"]["err"] == (
            "table in registry accessed with wrong key type: "
            "table='rows', requested='int64', actual='uint64'"
        )
        assert parse["read_entry_field.string"]["detail"] == "seven"
        with rows.read(7) as h:
            assert h["ct_counter"] == 1
    finally:
        p.destroy()
