"""tests/native/plugins/exporter.c: a plugin's add_table, every refusal add_table owes, and the
plugin's own table used back through the host, checked from C."""

from __future__ import annotations

from pathlib import Path

import pytest

from concurrent_tables.cabi import NativeTable
from concurrent_tables.registry import TableRegistry

from .conftest import LoadFn
from .helpers import checks, failed, report

pytestmark = pytest.mark.timeout(60)

ADD_TABLE = "failure in adding state table defined by plugin 'ct_exporter': "

EXPECTED_ERRORS = {
    "add_table.duplicate": "table added to registry multiple times: plugin_sample",
    "add_table.null_input": ADD_TABLE + "input is null",
    "add_table.null_name": ADD_TABLE + "name is null",
    "add_table.bad_key_type": "can't convert plugin state type to typeinfo: 99",
    "add_table.missing_ext": ADD_TABLE + "extended vtables must all be defined",
    "add_table.inconsistent_legacy": ADD_TABLE + "broken or inconsistent reader vtables",
    # the plugin's own table, used during its own plugin_init: its state (and so its
    # plugin_get_last_error) is not known yet, so the host words the error
    "own.add_table_field.type_conflict": "error in table 'plugin_sample' of plugin 'ct_exporter'",
    "own.get_table_field.unknown_field": "error in table 'plugin_sample' of plugin 'ct_exporter'",
    # later, the exporter's plugin_get_last_error text is copied
    "own.get_table_entry.missing": "unknown entry at key: 77",
    "own.erase_table_entry.missing": "unknown entry at key: 77",
}

# Every reader/writer slot on the plugin's own table, through the host.
OWN_SLOT_CHECKS = (
    "own.get_table_name",
    "own.get_table_entry.missing",
    "own.create_table_entry",
    "own.write_entry_field",
    "own.add_table_entry",
    "own.read_entry_field",
    "own.get_table_size",
    "own.iterate_entries",
    "own.erase_table_entry",
    "own.clear_table",
)


def test_add_table_and_own_table_through_the_host(
    load: LoadFn, directory: TableRegistry, exporter_so: Path
) -> None:
    p = load(exporter_so)
    for _ in range(2):
        assert p.parse_event(3, tid=1)
    assert failed(p) == []
    rep = report(p)
    assert rep["events"] == 2
    init, parse = checks(p, "init"), checks(p, "parse")
    assert init["add_table"]["ok"] and init["get_table.own_table"]["ok"]
    for name, err in EXPECTED_ERRORS.items():
        c = init.get(name) or parse[name]
        assert c["ok"] and c["err"] == err, name
    for name in OWN_SLOT_CHECKS:
        assert parse[name]["ok"], name
    names = [c["name"] for c in rep["checks"]]
    assert names.count("own.clear_table") == 1  # first event only: the table is others' after
    assert init["own.list_table_fields"]["detail"] == "u64_val,children,str_val"
    assert parse["own.read_entry_field"]["detail"] == "11,sample"
    assert directory.owner_of("plugin_sample") == "ct_exporter"
    nt = directory.find("plugin_sample")
    assert isinstance(nt, NativeTable) and len(nt) == 0  # cleared by the checks
    # the refused tables were not registered
    assert [i.name for i in directory.list_tables()] == ["threads", "plugin_sample"]
