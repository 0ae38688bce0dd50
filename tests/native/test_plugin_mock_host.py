"""The native test plugin run end to end against the mock host (tests/native/mock_host.py).

These check the C side (header, dispatchers, fillers, import wrappers, the plugin's own checks); the
mock stands in for the real Python bridge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from concurrent_tables._abi import ffi, lib

from .mock_host import MockHost, NativePlugin, NativeTable, Schema, Table, make_threads_table

pytestmark = pytest.mark.timeout(60)

# Every vtable slot must be exercised by the self-test (init phase + parse phase).
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

INIT_TIME_OWN_ERROR = "error in table 'plugin_sample' of plugin 'ct_test_plugin'"

# Expected failures and the owner error each must leave (the reference's catalogue, §9).
EXPECTED_ERRORS = {
    "get_table.wrong_key_type": "table in registry accessed with wrong key type: "
    "table='threads', requested='uint64', actual='int64'",
    "get_table.unknown_state_type": "can't convert plugin state type to typeinfo: 99",
    "get_table_field.wrong_type": "incompatible data types for static field: comm",
    "get_table_field.unknown_field": "undefined field 'ct_no_such_field' in table 'threads'",
    "add_table_field.type_conflict": "multiple definitions of dynamic field with different "
    "types in struct: ct_counter, prevtype=uint64, newtype=string",
    "add_table_field.static_name": "can't add dynamic field already defined as static: comm",
    "add_table_field.table_type": "can't add dynamic field of type table: ct_tablefield",
    "add_table.duplicate": "table added to registry multiple times: plugin_sample",
    "add_table.null_input": "failure in adding state table defined by plugin "
    "'ct_test_plugin': input is null",
    "add_table.null_name": "failure in adding state table defined by plugin "
    "'ct_test_plugin': name is null",
    "add_table.bad_key_type": "can't convert plugin state type to typeinfo: 99",
    "add_table.missing_ext": "failure in adding state table defined by plugin "
    "'ct_test_plugin': extended vtables must all be defined",
    "add_table.inconsistent_legacy": "failure in adding state table defined by plugin "
    "'ct_test_plugin': broken or inconsistent reader vtables",
    "write_entry_field.read_only": "attempt to write to read-only static struct field: cwd",
    "write_entry_field.table": "writing to table fields is currently not supported",
    "get_table_entry.missing": "get_entry found no element at given key",
    "erase_table_entry.missing": "table entry not found",
    "destroy_table_entry.foreign": "destroy_table_entry called on entry not created by "
    "create_table_entry",
    "add_table_entry.foreign": "add_entry called on entry not created by create_table_entry",
    # errors of the plugin-owned table during its exporter's plugin_init: the exporter's state is
    # not known yet, so plugin_get_last_error is not called and the host words a generic error
    "own.add_table_field.type_conflict": INIT_TIME_OWN_ERROR,
    "own.get_table_field.unknown_field": INIT_TIME_OWN_ERROR,
    # later, the wrappers copy the exporter's plugin_get_last_error
    "own.get_table_entry.missing": "unknown entry at key: 77",
    "own.erase_table_entry.missing": "unknown entry at key: 77",
}


@pytest.fixture
def host() -> MockHost:
    h = MockHost()
    make_threads_table(h)
    return h


@pytest.fixture
def plugins(host: MockHost) -> Iterator[list[NativePlugin]]:
    made: list[NativePlugin] = []
    yield made
    for p in made:
        p.destroy()


def load(host: MockHost, path: Path, made: list[NativePlugin], config: str) -> NativePlugin:
    p = NativePlugin(host, str(path), config)
    made.append(p)
    return p


def checks_by_name(report: dict[str, Any], phase: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"] if c["phase"] == phase}


def test_selftest_passes_and_covers_every_slot(
    host: MockHost, plugins: list[NativePlugin], ct_plugin_path: Path
) -> None:
    p = load(host, ct_plugin_path, plugins, "selftest=1")
    assert p.init_rc == 0, p.last_error()
    for _ in range(3):
        assert p.parse() == 0, p.last_error()
    report = p.report()
    failed = [c for c in report["checks"] if not c["ok"]]
    assert failed == []
    assert report["events"] == 3 and report["selftests"] == 3
    names = {c["name"] for c in report["checks"]}
    for slot, check in SLOT_CHECKS.items():
        assert check in names, slot
    init = checks_by_name(report, "init")
    parse = checks_by_name(report, "parse")
    for name, err in EXPECTED_ERRORS.items():
        c = init.get(name) or parse[name]
        assert c["ok"] and c["err"] == err, name
    assert parse["read_entry_field.string"]["detail"] == "init"
    assert init["own.list_table_fields"]["detail"] == "u64_val,str_val"
    # the dynamic counter went 0 -> 1 -> 2 -> 3 over the three self-tests
    threads = host.python_table("threads")
    assert threads.value(1, "ct_counter") == 3
    assert threads.value(1, "ct_note") == b""  # the last write stored NULL as ""
    assert host.logs == [(None, "initializing", 6), ("ct_test", "initialized", 7)]


def test_selftest_once(host: MockHost, plugins: list[NativePlugin], ct_plugin_path: Path) -> None:
    p = load(host, ct_plugin_path, plugins, "selftest=once; export=0")
    assert p.init_rc == 0
    assert p.parse() == 0 and p.parse() == 0
    report = p.report()
    assert report["selftests"] == 1 and report["failed"] == 0
    assert "plugin_sample" not in host.tables


def test_event_types(host: MockHost, plugins: list[NativePlugin], ct_plugin_path: Path) -> None:
    assert load(host, ct_plugin_path, plugins, "import=0;export=0").event_types() == [3]
    p = load(host, ct_plugin_path, plugins, "import=0;export=0;event_types=2,3,306")
    assert p.event_types() == [2, 3, 306]


def test_count_mode(host: MockHost, plugins: list[NativePlugin], ct_plugin_path: Path) -> None:
    p = load(host, ct_plugin_path, plugins, "count=1;export=0")
    assert p.init_rc == 0, p.last_error()
    for _ in range(5):
        assert p.parse(tid=1) == 0
    assert host.python_table("threads").value(1, "ct_counter") == 5
    assert p.parse(tid=4242) == lib.SS_PLUGIN_FAILURE
    assert p.last_error() == "can't get table entry: get_entry found no element at given key"


def test_count_mode_needs_table(
    host: MockHost, plugins: list[NativePlugin], ct_plugin_path: Path
) -> None:
    p = load(host, ct_plugin_path, plugins, "count=1;export=0;table=nope")
    assert p.init_rc == lib.SS_PLUGIN_FAILURE
    assert p.last_error() == "count=1 needs the imported table and its ct_counter field"
    report = p.report()
    assert checks_by_name(report, "init")["get_table"]["ok"] is False


def test_python_drives_plugin_table(
    host: MockHost, plugins: list[NativePlugin], ct_plugin_path: Path
) -> None:
    """Python uses the plugin-owned table through the same dispatchers the plugins get."""
    p = load(host, ct_plugin_path, plugins, "import=0")
    assert p.init_rc == 0
    nt = host.tables["plugin_sample"]
    assert isinstance(nt, NativeTable)
    h = nt.input
    assert lib.ct_is_native_box(h) == 1 and lib.ct_is_py_owned(h) == 0
    assert ffi.string(lib.ct_disp_get_table_name(h)) == b"plugin_sample"
    assert nt.box.input.name == nt.cname  # the host's own copy of the name
    u64 = lib.ct_disp_get_table_field(h, b"u64_val", lib.SS_PLUGIN_ST_UINT64)
    assert int(ffi.cast("uintptr_t", u64)) == 1  # the plugin hands out accessors 1, 2, ...
    s = lib.ct_disp_add_table_field(h, b"label", lib.SS_PLUGIN_ST_STRING)
    assert int(ffi.cast("uintptr_t", s)) == 3  # str_val (added at init) is 2

    key = ffi.new("ss_plugin_state_data*")
    val = ffi.new("ss_plugin_state_data*")
    for k in range(5):
        e = lib.ct_disp_create_table_entry(h)
        val.u64 = k * 10
        assert lib.ct_disp_write_entry_field(h, e, u64, val) == 0
        label = ffi.new("char[]", f"row{k}".encode())
        val.str = label
        assert lib.ct_disp_write_entry_field(h, e, s, val) == 0
        key.u64 = k
        added = lib.ct_disp_add_table_entry(h, key, e)
        assert added != ffi.NULL and added != e  # this owner copies the entry on add
        lib.ct_disp_release_table_entry(h, added)
    assert lib.ct_disp_get_table_size(h) == 5

    seen: list[tuple[int, str]] = []

    def visit(e: Any) -> bool:
        out = ffi.new("ss_plugin_state_data*")
        assert lib.ct_disp_read_entry_field(h, e, u64, out) == 0
        n = int(out.u64)
        assert lib.ct_disp_read_entry_field(h, e, s, out) == 0
        seen.append((n, ffi.string(out.str).decode()))
        return len(seen) < 3

    cookie = ffi.new_handle(visit)
    assert lib.ct_disp_iterate_entries(h, lib.ct_py_iterator, cookie) == 0  # broke out
    assert seen == [(0, "row0"), (10, "row1"), (20, "row2")]

    key.u64 = 99
    assert lib.ct_disp_get_table_entry(h, key) == ffi.NULL
    assert host.last_error_text() == "unknown entry at key: 99"
    assert lib.ct_disp_erase_table_entry(h, key) == lib.SS_PLUGIN_FAILURE
    assert lib.ct_disp_get_table_field(h, b"u64_val", lib.SS_PLUGIN_ST_STRING) == ffi.NULL
    assert host.last_error_text() == "field defined with incompatible types: u64_val"
    assert lib.ct_disp_clear_table(h) == 0 and lib.ct_disp_get_table_size(h) == 0


def test_counter_thread_while_python_reads(
    host: MockHost, plugins: list[NativePlugin], ct_plugin_path: Path
) -> None:
    """A plugin pthread increments a counter on a Python table through the listen vtables."""
    counters = host.add_table(Table(host, Schema("counters", 8), "counters"))
    iters = 20000
    config = f"import=0;export=0;counter_table=counters;counter_key=7;counter_iters={iters}"
    p = load(host, ct_plugin_path, plugins, config)
    assert p.init_rc == 0, p.last_error()
    assert p.capture_open() == 0, p.last_error()
    reads = 0
    last = 0
    deadline = time.monotonic() + 30
    while not p.thread_done():
        assert time.monotonic() < deadline, p.thread_status()
        v = counters.value(7, "ct_counter")
        assert v >= last  # monotonic: only the plugin thread writes
        last = v
        reads += 1
    status = p.thread_status()
    assert status["done"] and status["failures"] == 0, status
    assert status["iterations"] == iters
    assert counters.value(7, "ct_counter") == iters
    assert reads > 0
    assert p.capture_close() == 0
    assert p.thread_status()["started"] is False
    names = [c["name"] for c in p.report()["checks"]]
    assert names[-3:] == ["capture_open", "counter.entry", "capture_close"]


def test_counter_thread_stopped_by_capture_close(
    host: MockHost, plugins: list[NativePlugin], ct_plugin_path: Path
) -> None:
    host.add_table(Table(host, Schema("counters", 8), "counters"))
    config = "import=0;export=0;counter_table=counters;counter_iters=100000000"
    p = load(host, ct_plugin_path, plugins, config)
    assert p.capture_open() == 0
    time.sleep(0.05)
    assert p.capture_close() == 0  # joins the thread early
    status = p.thread_status()
    assert status["done"] and 0 < status["iterations"] < 100000000


def test_two_plugins_share_fields(
    host: MockHost, plugins: list[NativePlugin], ct_plugin_path: Path
) -> None:
    """A second instance re-adds the same dynamic fields (idempotent) and sees the first's table."""
    a = load(host, ct_plugin_path, plugins, "count=1")
    b = load(host, ct_plugin_path, plugins, "count=1;export=0")
    assert a.init_rc == 0 and b.init_rc == 0
    assert a.parse() == 0 and b.parse() == 0
    assert host.python_table("threads").value(1, "ct_counter") == 2
    tables = checks_by_name(b.report(), "init")["list_tables"]["detail"]
    assert tables == "threads:int64,plugin_sample:uint64"


def test_no_python_exception_escapes(host: MockHost) -> None:
    """A bad handle in a Python-owned callback becomes an error value plus an owner error."""
    t = host.python_table("threads")
    out = ffi.new("ss_plugin_state_data*")
    assert lib.ct_disp_read_entry_field(t.input, ffi.NULL, ffi.NULL, out) == 1
    assert host.last_error_text() == "invalid entry: null"
    threads_seen: list[str | None] = []

    def other() -> None:
        threads_seen.append(host.last_error_text())

    th = threading.Thread(target=other)
    th.start()
    th.join()
    assert threads_seen == [None]  # errors are per thread in the mock
