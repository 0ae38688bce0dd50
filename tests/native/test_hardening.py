"""Hardening of the bridge against bad input from the native side (issue 11's list)."""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

from concurrent_tables._abi import ffi, lib
from concurrent_tables.cabi import table_input
from concurrent_tables.cabi.context import last_error, set_error
from concurrent_tables.falco import add_thread, threads_table

pytestmark = pytest.mark.timeout(30)

SLOTS = [
    ("get_table_size", lambda: lib.ct_disp_get_table_size(ffi.NULL), 2**64 - 1),
    ("get_table_name", lambda: lib.ct_disp_get_table_name(ffi.NULL), ffi.NULL),
    ("get_table_entry", lambda: lib.ct_disp_get_table_entry(ffi.NULL, ffi.NULL), ffi.NULL),
    ("clear_table", lambda: lib.ct_disp_clear_table(ffi.NULL), 1),
    ("create_table_entry", lambda: lib.ct_disp_create_table_entry(ffi.NULL), ffi.NULL),
    ("get_table_field", lambda: lib.ct_disp_get_table_field(ffi.NULL, b"x", 8), ffi.NULL),
]


@pytest.mark.parametrize(("slot", "call", "error_value"), SLOTS, ids=[s[0] for s in SLOTS])
def test_a_null_table_sets_an_error_text(slot: str, call: object, error_value: object) -> None:
    set_error("an earlier, unrelated error")
    assert callable(call)
    assert call() == error_value
    assert last_error() == f"{slot}: invalid table: null"


def _nested_handles(n: int) -> tuple[Any, list[tuple[int, Any]]]:
    """Read the file_descriptors handle of n threads (thread t has t % 7 fds), as a plugin's
    own thread does (no callback running): [(tid, handle)]."""
    threads = threads_table()
    for tid in range(1, n + 1):
        add_thread(threads, tid, comm=f"t{tid}")
        with threads.write(tid) as h:
            fds = h["file_descriptors"]
            for fd in range(tid % 7):
                fds.add_entry(fd, fds.create_entry())
    t = table_input(threads)
    acc = lib.ct_disp_get_table_field(t, b"file_descriptors", 10)
    assert acc != ffi.NULL, last_error()
    key = ffi.new("ss_plugin_state_data*")
    out = ffi.new("ss_plugin_state_data*")
    handles = []
    for tid in range(1, n + 1):
        key.s64 = tid
        e = lib.ct_disp_get_table_entry(t, key)
        assert e != ffi.NULL, last_error()
        assert lib.ct_disp_read_entry_field(t, e, acc, out) == 0, last_error()
        handles.append((tid, out.table))
        lib.ct_disp_release_table_entry(t, e)
    return threads, handles


def test_nested_handles_on_a_plugin_thread_never_alias_another_table() -> None:
    result: list[Any] = []

    def plugin_thread() -> None:  # a thread of the plugin's own: no callback, no session
        _threads, handles = _nested_handles(600)  # the table stays alive meanwhile
        result.append([(tid, lib.ct_disp_get_table_size(h)) for tid, h in handles])

    th = threading.Thread(target=plugin_thread, daemon=True)
    th.start()
    th.join(30)
    assert result, "the plugin thread did not finish"
    assert result[0] == [(tid, tid % 7) for tid in range(1, 601)]


def test_a_nested_handle_whose_table_is_gone_is_stale() -> None:
    threads, handles = _nested_handles(3)
    tid, h = handles[1]
    assert lib.ct_disp_get_table_size(h) == 2
    threads.erase_entry(tid)  # the entry and its nested fd table die
    gc.collect()
    assert lib.ct_disp_get_table_size(h) == 2**64 - 1
    assert "unknown or no longer valid" in (last_error() or "")
    assert lib.ct_disp_get_table_size(handles[2][1]) == 3  # the others are untouched


def test_registry_calls_are_judged_by_the_calling_thread() -> None:
    from concurrent_tables.cabi import PluginSession
    from concurrent_tables.registry import TableRegistry

    registry = TableRegistry()
    registry.export(threads_table())
    session = PluginSession("p", registry)
    tables = ffi.new("ss_plugin_init_tables_input*")
    lib.ct_fill_init_tables_input(tables)
    seen: list[Any] = []

    def worker() -> None:  # the plugin's own thread, while its init runs elsewhere
        seen.append(tables.get_table(session.owner, b"threads", 4))
        seen.append(last_error())
        n = ffi.new("uint32_t*")
        seen.append(tables.list_tables(session.owner, n))

    try:
        with session.calling("init"):
            assert tables.get_table(session.owner, b"threads", 4) != ffi.NULL  # the init thread
            th = threading.Thread(target=worker, name="plugin-worker", daemon=True)
            th.start()
            th.join(10)
    finally:
        session.close()
    assert seen[0] == ffi.NULL and seen[2] == ffi.NULL
    assert "cannot get_table from thread 'plugin-worker'" in seen[1]
    assert "running none of its callbacks" in seen[1]


def test_a_plugin_thread_calling_after_its_plugins_destroy_gets_errors() -> None:
    from concurrent_tables.cabi import PluginSession
    from concurrent_tables.registry import TableRegistry

    registry = TableRegistry()
    threads = threads_table(thread_safe=True)  # plugin threads may use it
    add_thread(threads, 1, comm="init")
    registry.export(threads)
    session = PluginSession("p", registry)
    other = PluginSession("q", registry)
    tables = ffi.new("ss_plugin_init_tables_input*")
    lib.ct_fill_init_tables_input(tables)
    with session.calling("init"):
        mine = tables.get_table(session.owner, b"threads", 4)
    with other.calling("init"):
        theirs = tables.get_table(other.owner, b"threads", 4)
    assert mine != theirs  # one handle per plugin
    seen: list[Any] = []

    def plugin_thread() -> None:  # the plugin's own pthread, still running after destroy
        seen.append(lib.ct_disp_get_table_size(mine))
        seen.append(last_error())
        seen.append(lib.ct_disp_get_table_size(theirs))

    session.close()  # what NativePlugin.destroy does after plugin_destroy
    th = threading.Thread(target=plugin_thread, daemon=True)
    th.start()
    th.join(10)
    other.close()
    assert seen[0] == 2**64 - 1
    assert "plugin 'p' was destroyed" in seen[1]
    assert seen[2] == 1  # another plugin's handle is untouched
