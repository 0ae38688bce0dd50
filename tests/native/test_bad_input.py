"""tests/native/plugins/bad_input.c: every bad input to the table API fails cleanly from C, with
the owner error the reference (or, where it has none, this project) words for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from concurrent_tables.registry import TableRegistry

from .conftest import LoadFn
from .helpers import checks, failed, report

pytestmark = pytest.mark.timeout(60)

INVALID_ENTRY = (
    "invalid entry for table 'threads': unknown, released, or only valid during the callback "
    "that received it"
)

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
    "access.add_table_field.parse": "access denied: plugin 'ct_bad_input' cannot "
    "add_table_field during parse_event (parse: read/write)",
    "access.get_table_field.parse": "access denied: plugin 'ct_bad_input' cannot "
    "get_table_field during parse_event (parse: read/write)",
    "access.add_table_field.capture_open": "access denied: plugin 'ct_bad_input' cannot "
    "add_table_field during capture_open (capture listen: read/write, no fields or tables)",
}


def test_every_bad_input_fails_cleanly(
    load: LoadFn, directory: TableRegistry, bad_input_so: Path
) -> None:
    p = load(bad_input_so)
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
    assert names.count("bad.stale_nested_handle") == 2
    threads = directory.find("threads")
    assert threads is not None and "ct_late" not in [f.name for f in threads.list_fields()]
