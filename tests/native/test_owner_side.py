"""The owner side, driven from Python through the same C dispatchers native plugins call.

A `Caller` plays a native plugin: it has a session (its owner cookie, its current phase) and
calls `lib.ct_disp_*` with the handles, entries and accessors the bridge hands out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from concurrent_tables import (
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    EntrySchema,
    NestedTable,
    ReadOnly,
    String,
    Table,
)
from concurrent_tables._abi import ffi, lib
from concurrent_tables.cabi import PINS, PluginSession, last_error, table_input
from concurrent_tables.cabi.exported import accessor_of
from concurrent_tables.falco import add_thread, threads_table
from concurrent_tables.registry import TableRegistry

pytestmark = pytest.mark.timeout(30)

NULL = ffi.NULL
FAILURE = 1
U64_ERROR = 2**64 - 1


class Fd(EntrySchema):
    fd: I64
    name: String


class AllTypes(EntrySchema):
    i8: I8
    i16: I16
    i32: I32
    i64: I64
    u8: U8
    u16: U16
    u32: U32
    u64: U64
    flag: Bool
    text: String
    home: ReadOnly[String]
    fds: NestedTable[I64, Fd]


MEMBERS = {
    "i8": ("s8", I8, -(2**7), 2**7 - 1),
    "i16": ("s16", I16, -(2**15), 2**15 - 1),
    "i32": ("s32", I32, -(2**31), 2**31 - 1),
    "i64": ("s64", I64, -(2**63), 2**63 - 1),
    "u8": ("u8", U8, 0, 2**8 - 1),
    "u16": ("u16", U16, 0, 2**16 - 1),
    "u32": ("u32", U32, 0, 2**32 - 1),
    "u64": ("u64", U64, 0, 2**64 - 1),
}
TYPE_CODE = {I8: 1, I16: 2, I32: 3, I64: 4, U8: 5, U16: 6, U32: 7, U64: 8, String: 9, Bool: 25}


def data(member: str, value: Any) -> Any:
    d = ffi.new("ss_plugin_state_data*")
    setattr(d, member, value)
    return d


class Caller:
    """Python in the role of a native plugin."""

    def __init__(self, directory: TableRegistry, name: str = "py_caller") -> None:
        self.session = PluginSession(name, directory)
        self._tables = ffi.new("ss_plugin_init_tables_input*")
        lib.ct_fill_init_tables_input(self._tables)
        self._keep: list[Any] = []

    def phase(self, name: str = "parse_event") -> Any:
        return self.session.calling(name)

    @property
    def error(self) -> str | None:
        return self.session.error_text

    def get_table(self, name: str, key_type: int) -> Any:
        return self._tables.get_table(self.session.owner, name.encode(), key_type)

    def field(self, t: Any, name: str, code: int) -> Any:
        return lib.ct_disp_get_table_field(t, name.encode(), code)

    def add_field(self, t: Any, name: str, code: int) -> Any:
        return lib.ct_disp_add_table_field(t, name.encode(), code)

    def entry(self, t: Any, key: int, member: str = "s64") -> Any:
        return lib.ct_disp_get_table_entry(t, data(member, key))

    def read(self, t: Any, e: Any, f: Any, member: str) -> Any:
        out = ffi.new("ss_plugin_state_data*")
        rc = lib.ct_disp_read_entry_field(t, e, f, out)
        if rc != 0:
            return ("failed", self.error if self.session.phase else last_error())
        v = getattr(out, member)
        if member == "str":
            assert v != NULL  # strings are never NULL
            return ffi.string(v).decode()
        return v

    def write(self, t: Any, e: Any, f: Any, member: str, value: Any) -> int:
        d = ffi.new("ss_plugin_state_data*")
        if member == "str":
            c = ffi.new("char[]", value.encode()) if value is not None else NULL
            self._keep.append(c)
            d.str = c
        else:
            setattr(d, member, value)
        return int(lib.ct_disp_write_entry_field(t, e, f, d))

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def all_types() -> Iterator[tuple[Table[int, AllTypes], TableRegistry]]:
    t: Table[int, AllTypes] = Table("all", I64, AllTypes, thread_safe=True)
    e = t.create_entry()
    e["home"] = "/root"
    t.add_entry(1, e)
    yield t, TableRegistry(t)


@pytest.fixture
def caller(all_types: tuple[Table[int, AllTypes], TableRegistry]) -> Iterator[Caller]:
    c = Caller(all_types[1])
    yield c
    c.close()


def test_every_type_both_ways(all_types: Any, caller: Caller) -> None:
    table, _ = all_types
    with caller.phase("init"):
        t = caller.get_table("all", 4)
        assert t != NULL and lib.ct_is_py_owned(t)
        acc = {
            name: caller.field(t, name, TYPE_CODE[typ]) for name, (_, typ, _, _) in MEMBERS.items()
        }
        flag = caller.field(t, "flag", 25)
        text = caller.field(t, "text", 9)
    with caller.phase():
        e = caller.entry(t, 1)
        for name, (member, _, lo, hi) in MEMBERS.items():
            assert caller.read(t, e, acc[name], member) == 0
            for v in (lo, hi):
                assert caller.write(t, e, acc[name], member, v) == 0
                assert caller.read(t, e, acc[name], member) == v
                with table.read(1) as h:
                    assert h[name] == v
        assert caller.read(t, e, flag, "b") == 0
        assert caller.write(t, e, flag, "b", 2) == 0  # any non-zero is true
        assert caller.read(t, e, flag, "b") == 1  # read back as exactly 1
        assert caller.read(t, e, text, "str") == ""  # never NULL, even unset
        assert caller.write(t, e, text, "str", "héllo") == 0
        assert caller.read(t, e, text, "str") == "héllo"
        assert caller.write(t, e, text, "str", None) == 0  # NULL is stored as ""
        with table.read(1) as h:
            assert h["flag"] is True and h["text"] == ""
        # Bytes that are not UTF-8 are stored as they are (libsinsp stores any bytes): Python
        # sees them decoded with surrogateescape, and native readers get the same bytes back.
        raw = b"caf\xe9-\xff\xfe"
        bad = ffi.new("char[]", raw)
        d = ffi.new("ss_plugin_state_data*")
        d.str = bad
        assert lib.ct_disp_write_entry_field(t, e, text, d) == 0
        out = ffi.new("ss_plugin_state_data*")
        assert lib.ct_disp_read_entry_field(t, e, text, out) == 0
        assert ffi.string(out.str) == raw
        with table.read(1) as h:
            assert h["text"] == raw.decode("utf-8", "surrogateescape")
        with table.write(1) as h:
            h["text"] = h["text"] + "!"  # the str written back restores the same bytes
        assert lib.ct_disp_read_entry_field(t, e, text, out) == 0
        assert ffi.string(out.str) == raw + b"!"


def test_strings_outlive_overwrites_until_the_callback_returns(
    all_types: Any, caller: Caller
) -> None:
    table, _ = all_types
    t = table_input(table)
    text = ffi.cast("void*", accessor_of(table.get_field("text", String)).id)
    with table.write(1) as h:
        h["text"] = "first"
    with caller.phase():
        e = caller.entry(t, 1)
        out = ffi.new("ss_plugin_state_data*")
        assert lib.ct_disp_read_entry_field(t, e, text, out) == 0
        p = out.str
        with table.write(1) as h:
            h["text"] = "second"
        assert ffi.string(p) == b"first"  # the bytes handed out are still alive
        assert caller.read(t, e, text, "str") == "second"


def test_dynamic_fields_default_and_listing(all_types: Any, caller: Caller) -> None:
    table, _ = all_types
    with caller.phase("init"):
        t = caller.get_table("all", 4)
        n = caller.add_field(t, "later", 8)
        assert n != NULL and caller.add_field(t, "later", 8) == n  # idempotent
        s = caller.add_field(t, "later_s", 9)
        count = ffi.new("uint32_t*")
        arr = lib.ct_disp_list_table_fields(t, count)
        infos = [
            (ffi.string(arr[i].name).decode(), arr[i].field_type, arr[i].read_only)
            for i in range(count[0])
        ]
    assert infos[:3] == [("i8", 1, 0), ("i16", 2, 0), ("i32", 3, 0)]
    assert ("home", 9, 1) in infos and ("fds", 10, 1) in infos
    assert infos[-2:] == [("later", 8, 0), ("later_s", 9, 0)]
    with caller.phase():
        e = caller.entry(t, 1)
        assert caller.read(t, e, n, "u64") == 0  # never written: the default
        assert caller.read(t, e, s, "str") == ""
    assert table.get_field("later", U64) is not None  # Python sees the plugin's field


def test_pins_survive_erase_and_replace(all_types: Any, caller: Caller) -> None:
    table, _ = all_types
    t = table_input(table)
    i64 = ffi.cast("void*", accessor_of(table.get_field("i64", I64)).id)
    with table.write(1) as h:
        h["i64"] = 11
    with caller.phase():
        e = caller.entry(t, 1)
        table.erase_entry(1)
        assert caller.read(t, e, i64, "s64") == 11  # the pinned entry is still readable
        assert caller.write(t, e, i64, "s64", 12) == 0
        fresh = table.create_entry()
        fresh["i64"] = 99
        table.add_entry(1, fresh)
        assert caller.read(t, e, i64, "s64") == 12  # still the old entry
        e2 = caller.entry(t, 1)
        assert caller.read(t, e2, i64, "s64") == 99


def test_release_rules(all_types: Any, caller: Caller) -> None:
    table, _ = all_types
    t = table_input(table)
    with caller.phase():
        e1, e2 = caller.entry(t, 1), caller.entry(t, 1)
        assert e1 != e2 and len(caller.session.acquired) == 2  # two acquisitions
        lib.ct_disp_release_table_entry(t, e1)
        lib.ct_disp_release_table_entry(t, e1)  # stray: ignored
        lib.ct_disp_release_table_entry(t, ffi.cast("void*", 0xDEAD))  # garbage: ignored
        assert caller.session.acquired == {int(ffi.cast("uintptr_t", e2))}
        i64 = ffi.cast("void*", accessor_of(table.get_field("i64", I64)).id)
        assert caller.read(t, e1, i64, "s64")[0] == "failed"  # released: unknown
        assert caller.read(t, e2, i64, "s64") == 0


def test_cleanup_after_parse_but_not_after_capture_open(all_types: Any, caller: Caller) -> None:
    table, _ = all_types
    t = table_input(table)
    fds = ffi.cast("void*", accessor_of(table.get_field("fds", 10)).id)
    with caller.phase("capture_open"):
        kept = caller.entry(t, 1)
    assert int(ffi.cast("uintptr_t", kept)) in PINS  # capture open/close skip the clean-up
    with caller.phase():
        e = caller.entry(t, 1)
        d = lib.ct_disp_create_table_entry(t)
        out = ffi.new("ss_plugin_state_data*")
        assert lib.ct_disp_read_entry_field(t, e, fds, out) == 0
        nested = out.table
        assert lib.ct_disp_get_table_size(nested) == 0
        detached = PINS[int(ffi.cast("uintptr_t", d))].entry
    ids = [int(ffi.cast("uintptr_t", p)) for p in (kept, e, d)]
    assert not any(i in PINS for i in ids)  # parse's clean-up dropped all of this plugin's pins
    assert detached is not None and not detached.alive  # and destroyed its detached entry
    assert lib.ct_disp_get_table_size(nested) == U64_ERROR  # the nested handle died too
    assert "invalid table handle" in (last_error() or "")


def test_nested_tables(all_types: Any, caller: Caller) -> None:
    table, _ = all_types
    table.add_entry(2, table.create_entry())
    with caller.phase("init"):
        t = caller.get_table("all", 4)
        fds = caller.field(t, "fds", 10)
        # discovery through a detached parent, as the SDKs do
        tmp = lib.ct_disp_create_table_entry(t)
        out = ffi.new("ss_plugin_state_data*")
        assert lib.ct_disp_read_entry_field(t, tmp, fds, out) == 0
        n = ffi.cast("ss_plugin_table_input*", out.table)
        assert ffi.string(n.name) == b"fds" and n.key_type == 4 and lib.ct_is_py_owned(n)
        custom = caller.add_field(n, "custom", 9)
        name = caller.field(n, "name", 9)
        lib.ct_disp_destroy_table_entry(t, tmp)
    with caller.phase():
        e1, e2 = caller.entry(t, 1), caller.entry(t, 2)
        assert lib.ct_disp_read_entry_field(t, e1, fds, out) == 0
        n1 = out.table
        assert lib.ct_disp_read_entry_field(t, e1, fds, out) == 0
        assert out.table == n1  # the same nested table: the same handle in one callback
        assert lib.ct_disp_read_entry_field(t, e2, fds, out) == 0
        n2 = out.table
        assert n2 != n1
        for nt, fd in ((n1, 3), (n2, 4)):  # one accessor works on every instance
            ne = lib.ct_disp_create_table_entry(nt)
            assert caller.write(nt, ne, custom, "str", f"c{fd}") == 0
            assert caller.write(nt, ne, name, "str", f"/dev/{fd}") == 0
            added = lib.ct_disp_add_table_entry(nt, data("s64", fd), ne)
            assert added != NULL
            assert caller.read(nt, added, custom, "str") == f"c{fd}"
        # an entry of one nested table is not an entry of another
        wrong = caller.read(n1, added, custom, "str")
        assert wrong[0] == "failed" and wrong[1] == "entry does not belong to table 'fds'"
    with table.read(1) as h:
        with h["fds"].read(3) as fd:
            assert fd["custom"] == "c3" and fd["name"] == "/dev/3"


def test_write_rules(all_types: Any, caller: Caller) -> None:
    table, _ = all_types
    t = table_input(table)
    home = ffi.cast("void*", accessor_of(table.get_field("home", String)).id)
    fds = ffi.cast("void*", accessor_of(table.get_field("fds", 10)).id)
    with caller.phase():
        e = caller.entry(t, 1)
        assert caller.write(t, e, fds, "u64", 0) == FAILURE
        assert caller.error == "writing to table fields is currently not supported"
        assert caller.write(t, e, home, "str", "/x") == FAILURE
        assert caller.error == "attempt to write to read-only static struct field: home"
        assert caller.read(t, e, home, "str") == "/root"
        d = lib.ct_disp_create_table_entry(t)
        assert caller.write(t, d, home, "str", "/y") == FAILURE  # detached: same rule
        a = lib.ct_disp_add_table_entry(t, data("s64", 1), d)  # replaces entry 1
        assert a != NULL and a != d
        assert len(table) == 1
        assert lib.ct_disp_add_table_entry(t, data("s64", 2), d) == NULL  # consumed
        assert caller.error == "add_entry called on entry not created by create_table_entry"
        lib.ct_disp_destroy_table_entry(t, a)
        assert caller.error == (
            "destroy_table_entry called on entry not created by create_table_entry"
        )
        assert lib.ct_disp_erase_table_entry(t, data("s64", 5)) == FAILURE
        assert caller.error == "table entry not found"
        assert lib.ct_disp_clear_table(t) == 0 and len(table) == 0


def test_iteration_early_stop_and_entry_scope(all_types: Any, caller: Caller) -> None:
    table, _ = all_types
    for k in (5, 3, 4):
        table.add_entry(k, table.create_entry())
    t = table_input(table)
    i64 = ffi.cast("void*", accessor_of(table.get_field("i64", I64)).id)
    seen: list[int] = []
    entries: list[Any] = []

    def visit(e: Any) -> bool:
        entries.append(e)
        assert caller.write(t, e, i64, "s64", 100 + len(seen)) == 0  # writes inside: no deadlock
        seen.append(caller.read(t, e, i64, "s64"))
        return len(seen) < 3

    cookie = ffi.new_handle(visit)
    with caller.phase():
        assert lib.ct_disp_iterate_entries(t, lib.ct_py_iterator, cookie) == 0  # broke out
        assert seen == [100, 101, 102]
        assert all(int(ffi.cast("uintptr_t", e)) not in PINS for e in entries)
        lib.ct_disp_release_table_entry(t, entries[0])  # like the C++ SDK: ignored
        seen.clear()
        assert lib.ct_disp_iterate_entries(t, lib.ct_py_iterator, cookie) == 0
    with table.read(3) as h:  # key order: 1, 3, 4, 5
        assert h["i64"] == 101


def test_access_matrix(all_types: Any, caller: Caller) -> None:
    table, _ = all_types
    t = table_input(table)
    with caller.phase("extract_fields"):
        e = caller.entry(t, 1)
        i64 = ffi.cast("void*", accessor_of(table.get_field("i64", I64)).id)
        assert caller.read(t, e, i64, "s64") == 0
        assert caller.write(t, e, i64, "s64", 1) == FAILURE
        assert caller.error == (
            "access denied: plugin 'py_caller' cannot write_entry_field during extract_fields "
            "(extract: read only)"
        )
        assert lib.ct_disp_clear_table(t) == FAILURE and len(table) == 1
        assert caller.get_table("all", 4) == NULL
        assert "cannot get_table during extract_fields" in (caller.error or "")
    with caller.phase("parse_event"):
        assert caller.add_field(t, "x", 8) == NULL
        assert "cannot add_table_field during parse_event" in (caller.error or "")
    assert caller.get_table("all", 4) == NULL  # outside any callback: no registry either
    # no current plugin on this thread: the error is this thread's own
    assert "tables are listed, imported and added during init only" in (last_error() or "")


def test_get_table_checks_the_key_type_every_time(all_types: Any, caller: Caller) -> None:
    with caller.phase("init"):
        assert caller.get_table("all", 4) != NULL
        assert caller.get_table("all", 8) == NULL
        assert caller.error == (
            "table in registry accessed with wrong key type: table='all', requested='uint64', "
            "actual='int64'"
        )
        caller.session.last_error = None
        assert caller.get_table("nope", 4) == NULL
        assert caller.error is None  # unknown name: NULL and no error, as libsinsp


def test_single_threaded_table_refuses_other_threads() -> None:
    threads = threads_table()  # single-threaded: owned by this thread
    add_thread(threads, 1, comm="init")
    t = table_input(threads)
    comm = ffi.cast("void*", accessor_of(threads.get_field("comm", String)).id)
    assert lib.ct_disp_get_table_entry(t, data("s64", 1)) != NULL  # the owner thread: fine
    results: dict[str, Any] = {}

    def other() -> None:  # like a plugin's pthread: no current plugin
        results["entry"] = lib.ct_disp_get_table_entry(t, data("s64", 1))
        results["size"] = lib.ct_disp_get_table_size(t)
        results["error"] = last_error()

    th = threading.Thread(target=other, daemon=True)
    th.start()
    th.join(10)
    assert not th.is_alive()
    assert results["entry"] == NULL and results["size"] == U64_ERROR
    assert "can only be used in the thread that created it" in results["error"]
    assert last_error() != results["error"]  # errors of threads without a plugin stay per thread
    del comm


def test_native_calls_take_the_entry_locks() -> None:
    rows = Table("rows", U64, RowSchema, thread_safe=True)
    rows.add_entry(1, rows.create_entry())
    t = table_input(rows)
    n = ffi.cast("void*", accessor_of(rows.get_field("n", U64)).id)
    e = lib.ct_disp_get_table_entry(t, data("u64", 1))
    # this thread holds a Python write handle: a native read from it would deadlock -> error
    with rows.write(1) as h:
        out = ffi.new("ss_plugin_state_data*")
        assert lib.ct_disp_read_entry_field(t, e, n, out) == FAILURE
        assert "already holds a write handle" in (last_error() or "")
        h["n"] = 1
    # another thread's native write waits for this thread's write handle to end
    done = threading.Event()

    def writer() -> None:
        d = ffi.new("ss_plugin_state_data*")
        d.u64 = 2
        assert lib.ct_disp_write_entry_field(t, e, n, d) == 0
        done.set()

    h = rows.write(1)
    th = threading.Thread(target=writer, daemon=True)
    th.start()
    time.sleep(0.2)
    assert not done.is_set()  # blocked on the entry's lock
    h["n"] = 10
    h.release()
    th.join(5)
    assert done.is_set()
    with rows.read(1) as r:
        assert r["n"] == 2
    lib.ct_disp_release_table_entry(t, e)


class RowSchema(EntrySchema):
    n: U64


def test_no_python_exception_escapes(all_types: Any, caller: Caller, monkeypatch: Any) -> None:
    table, _ = all_types
    t = table_input(table)

    def boom(self: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(type(table), "size", boom)  # the class of either backend
    with caller.phase():
        assert lib.ct_disp_get_table_size(t) == U64_ERROR
        assert caller.error == "boom"

    def interrupt(self: Any) -> list[Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(type(table), "keys", interrupt)
    with caller.phase():
        assert lib.ct_disp_iterate_entries(t, lib.ct_py_iterator, ffi.NULL) == 0
        assert caller.error == "KeyboardInterrupt"


def test_list_adapters_refuse_dynamic_fields() -> None:
    threads = threads_table()
    add_thread(threads, 1)
    c = Caller(TableRegistry(threads))
    try:
        with c.phase("init"):
            t = c.get_table("threads", 4)
            args = c.field(t, "args", 10)
            tmp = lib.ct_disp_create_table_entry(t)
            out = ffi.new("ss_plugin_state_data*")
            assert lib.ct_disp_read_entry_field(t, tmp, args, out) == 0
            assert ffi.cast("ss_plugin_table_input*", out.table).key_type == 8
            assert c.field(out.table, "value", 9) != NULL
            assert c.add_field(out.table, "extra", 9) == NULL
            assert c.error == "can't add dynamic fields to stl_container_table_adapter"
    finally:
        c.close()


def test_libs_subtables_shape_fd_and_list_tables_of_thread_0() -> None:
    """What libs' subtables test plugins do: discover nested fields at init through a detached
    thread, then per event on thread 0: 1024 fds created, added, written and released in one
    callback; then an erase; then a clear. The list adapter `env` the same way, where a string
    read must overwrite whatever the caller's union held."""
    threads = threads_table()
    add_thread(threads, 0, comm="swapper")
    c = Caller(TableRegistry(threads))
    try:
        with c.phase("init"):
            t = c.get_table("threads", 4)
            fds, env = c.field(t, "file_descriptors", 10), c.field(t, "env", 10)
            tmp = lib.ct_disp_create_table_entry(t)
            out = ffi.new("ss_plugin_state_data*")
            assert lib.ct_disp_read_entry_field(t, tmp, fds, out) == 0
            pid = c.field(out.table, "pid", 4)
            custom = c.add_field(out.table, "custom", 9)
            assert lib.ct_disp_read_entry_field(t, tmp, env, out) == 0
            value = c.field(out.table, "value", 9)
            lib.ct_disp_destroy_table_entry(t, tmp)
            assert NULL not in (pid, custom, value), c.error

        def nested(field: Any) -> tuple[Any, Any]:
            e = c.entry(t, 0)
            assert e != NULL and lib.ct_disp_read_entry_field(t, e, field, out) == 0
            return e, out.table

        with c.phase():
            e, fdt = nested(fds)
            for i in range(1024):
                ne = lib.ct_disp_add_table_entry(
                    fdt, data("s64", i), lib.ct_disp_create_table_entry(fdt)
                )
                assert ne != NULL, c.error
                assert c.write(fdt, ne, pid, "s64", 123) == 0
                assert c.write(fdt, ne, custom, "str", "world") == 0
                lib.ct_disp_release_table_entry(fdt, ne)
            lib.ct_disp_release_table_entry(t, e)
        with threads.read(0) as h:
            table = h["file_descriptors"]
            assert len(table) == 1024
            with table.read(1023) as fd:
                assert (fd["pid"], fd["custom"]) == (123, "world")
        with c.phase():
            e, fdt = nested(fds)
            assert lib.ct_disp_erase_table_entry(fdt, data("s64", 0)) == 0
        with c.phase():
            e, fdt = nested(fds)
            assert lib.ct_disp_get_table_size(fdt) == 1023
            assert lib.ct_disp_clear_table(fdt) == 0
            assert lib.ct_disp_get_table_size(fdt) == 0
        with c.phase():
            e, envt = nested(env)
            hello = ffi.new("char[]", b"hello")
            for i in range(10):
                ne = lib.ct_disp_add_table_entry(
                    envt, data("u64", i), lib.ct_disp_create_table_entry(envt)
                )
                assert ne != NULL, c.error
                got = ffi.new("ss_plugin_state_data*")
                got.str = hello  # the plugin's own string: the read must replace it
                assert lib.ct_disp_read_entry_field(envt, ne, value, got) == 0
                assert ffi.string(got.str) == b""
                assert c.write(envt, ne, value, "str", "hello") == 0
            assert lib.ct_disp_get_table_size(envt) == 10
    finally:
        c.close()


def test_bench_native_read() -> None:
    """The figure the stress bench reads: median ns of one native read on a Python table."""
    from concurrent_tables.cabi import bench_native_read

    ns = bench_native_read(5_000)
    assert isinstance(ns, float) and 50 < ns < 100_000
    assert 50 < bench_native_read(2_000, thread_safe=False, string=True) < 100_000


def test_nested_handles_of_a_thread_without_a_plugin_live_as_long_as_their_tables() -> None:
    """Outside any callback, each nested table keeps one handle while it exists (no ring)."""
    threads = threads_table()
    for tid in range(1, 301):
        add_thread(threads, tid)
    t = table_input(threads)
    fds = ffi.cast("void*", accessor_of(threads.get_field("file_descriptors", 10)).id)
    out = ffi.new("ss_plugin_state_data*")
    handles = []
    for tid in range(1, 301):
        e = lib.ct_disp_get_table_entry(t, data("s64", tid))
        assert lib.ct_disp_read_entry_field(t, e, fds, out) == 0
        handles.append(out.table)
        lib.ct_disp_release_table_entry(t, e)
    assert all(lib.ct_disp_get_table_size(h) == 0 for h in handles)  # every one still valid
    assert len({int(ffi.cast("uintptr_t", h)) for h in handles}) == 300  # none reused
    e = lib.ct_disp_get_table_entry(t, data("s64", 1))
    assert lib.ct_disp_read_entry_field(t, e, fds, out) == 0
    assert out.table == handles[0]  # the same table, the same handle
    lib.ct_disp_release_table_entry(t, e)
