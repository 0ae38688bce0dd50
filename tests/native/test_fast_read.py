"""Native reads served by the C core (cabi/fastread.py, ct_core.c "Native ids").

A plugin's read_entry_field on a Python-owned table is served in C when the full path would grant
it at once, and declined to the Python callback otherwise. These tests show the C path is taken
(the core's counters of served and declined reads), and that every rule of the full path still
holds through it: a writer on another thread makes the read wait, a queued writer is not
overtaken, a confined table refuses other threads, a phase without the read grant is refused,
stale and garbage ids fail without a crash, erased and replaced pinned entries read as before,
and string reads on a plugin's own thread use bounded memory.

The rule tests run on both backends (on the Python core every read takes the callback); the
tests of the C path itself are skipped there.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from concurrent_tables import (
    I8,
    I64,
    U8,
    U64,
    Bool,
    EntrySchema,
    NestedTable,
    ReadOnly,
    String,
    Table,
)
from concurrent_tables._abi import ffi, lib
from concurrent_tables.cabi import PluginSession, fastread, last_error, table_input
from concurrent_tables.cabi.exported import accessor_of
from concurrent_tables.registry import TableRegistry

pytestmark = pytest.mark.timeout(60)

c_path_only = pytest.mark.skipif(not fastread.ENABLED, reason="the C core serves native reads")

NULL = ffi.NULL
SUCCESS = 0
FAILURE = 1


class Leaf(EntrySchema):
    n: I64


class Row(EntrySchema):
    small: I8
    count: I64
    tiny: U8
    big: U64
    flag: Bool
    text: String
    kids: NestedTable[I64, Leaf]


def acc(table: Table[Any, Any], name: str) -> Any:
    """The accessor pointer of field `name`, as a plugin holds it."""
    return ffi.cast("void*", accessor_of(table._registry.lookup(name)).id)


def key(k: int) -> Any:
    d = ffi.new("ss_plugin_state_data*")
    d.s64 = k
    return d


def read(t: Any, e: Any, f: Any) -> tuple[int, Any]:
    """(rc, out) of one native read."""
    out = ffi.new("ss_plugin_state_data*")
    rc = lib.ct_disp_read_entry_field(t, e, f, out)
    return int(rc), out


def counts() -> tuple[int, int]:
    s = fastread.statistics()
    return s["served"], s["declined"]


def in_thread(fn: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Run `fn` on a new thread (a plugin's own thread: no callback), return its result."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(("ok", fn()))
        except BaseException as exc:  # re-raised in the test
            box.append(("err", exc))

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(timeout)
    assert box, "the thread did not finish"
    kind, v = box[0]
    if kind == "err":
        raise v
    return v


@pytest.fixture
def table() -> Table[int, Row]:
    t: Table[int, Row] = Table("rows", I64, Row, thread_safe=True)
    e = t.create_entry()
    e["count"] = 41
    t.add_entry(1, e)
    return t


@pytest.fixture
def session(table: Table[int, Row]) -> Iterator[PluginSession]:
    s = PluginSession("fast_reader", TableRegistry(table))
    yield s
    s.close()


# -- the C path is taken --------------------------------------------------------------------------


@c_path_only
def test_every_fixed_size_type_and_strings_are_served_in_c(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    with table.write(1) as h:
        h["small"], h["tiny"], h["big"] = -128, 255, 2**64 - 1
        h["flag"], h["text"] = True, "héllo wörld"
    served, declined = counts()
    with session.calling("parse_event"):
        e = lib.ct_disp_get_table_entry(t, key(1))
        assert e != NULL
        got = {}
        for name, member in (
            ("small", "s8"),
            ("count", "s64"),
            ("tiny", "u8"),
            ("big", "u64"),
            ("flag", "b"),
        ):
            rc, out = read(t, e, acc(table, name))
            assert rc == SUCCESS
            got[name] = getattr(out, member)
        rc, out = read(t, e, acc(table, "text"))
        assert rc == SUCCESS
        got["text"] = ffi.string(out.str).decode()
    assert got == {
        "small": -128,
        "count": 41,
        "tiny": 255,
        "big": 2**64 - 1,
        "flag": 1,
        "text": "héllo wörld",
    }
    assert counts() == (served + 6, declined)


@c_path_only
def test_a_plugin_thread_read_is_served_in_c_and_counted_as_a_grant(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    f = acc(table, "count")
    with session.calling("capture_open"):  # capture open keeps its pins: a plugin thread uses it
        e = lib.ct_disp_get_table_entry(t, key(1))
    before = table.statistics().acquisitions
    served, declined = counts()
    values = in_thread(lambda: [read(t, e, f)[1].s64 for _ in range(50)])
    assert values == [41] * 50
    assert counts() == (served + 50, declined)
    assert table.statistics().acquisitions == before + 50


@c_path_only
def test_a_field_added_after_the_entry_reads_its_default(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    with session.calling("init"):
        later = lib.ct_disp_add_table_field(t, b"later", 8)
        later_s = lib.ct_disp_add_table_field(t, b"later_s", 9)
    served, _ = counts()
    with session.calling("parse_event"):
        e = lib.ct_disp_get_table_entry(t, key(1))
        assert read(t, e, later)[1].u64 == 0
        rc, out = read(t, e, later_s)
        assert rc == SUCCESS and out.str != NULL and ffi.string(out.str) == b""
    assert counts()[0] == served + 2


@c_path_only
def test_what_needs_python_is_declined_and_still_read(
    table: Table[int, Row], session: PluginSession
) -> None:
    """A nested table, bytes that are not UTF-8, an iteration entry: the callback reads them."""
    t = table_input(table)
    raw = b"caf\xe9"
    with table.write(1) as h:
        h["text"] = raw.decode("utf-8", "surrogateescape")
    served, declined = counts()
    with session.calling("parse_event"):
        e = lib.ct_disp_get_table_entry(t, key(1))
        rc, out = read(t, e, acc(table, "kids"))
        assert rc == SUCCESS and lib.ct_disp_get_table_size(out.table) == 0
        rc, out = read(t, e, acc(table, "text"))
        assert rc == SUCCESS and ffi.string(out.str) == raw
    assert counts() == (served, declined + 2)


@c_path_only
def test_iteration_entries_are_served_in_c() -> None:
    table: Table[int, Row] = Table("walked", I64, Row, thread_safe=True)
    for k in range(5):
        e = table.create_entry()
        e["count"], e["text"] = k * 10, f"entry {k}"
        table.add_entry(k, e)
    s = PluginSession("walker", TableRegistry(table))
    t = table_input(table)
    count, text = acc(table, "count"), acc(table, "text")
    seen: list[tuple[int, bytes]] = []

    @ffi.callback("ss_plugin_bool(ss_plugin_table_iterator_state_t*, ss_plugin_table_entry_t*)")
    def visit(state: Any, e: Any) -> int:
        rc1, out1 = read(t, e, count)
        rc2, out2 = read(t, e, text)
        assert rc1 == rc2 == SUCCESS
        seen.append((out1.s64, ffi.string(out2.str)))
        return 1

    try:
        served, declined = counts()
        pins = fastread.statistics()["pins"]
        with s.calling("parse_event"):
            assert lib.ct_disp_iterate_entries(t, visit, NULL) == 1
        assert counts() == (served + 10, declined)
        assert seen == [(k * 10, f"entry {k}".encode()) for k in range(5)]
        assert fastread.statistics()["pins"] == pins  # each forgotten after its callback
    finally:
        s.close()


# -- the rules hold through it --------------------------------------------------------------------


def test_a_writer_on_another_thread_makes_the_read_wait_and_see_its_value(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    f = acc(table, "count")
    with session.calling("capture_open"):
        e = lib.ct_disp_get_table_entry(t, key(1))
    holding, done = threading.Event(), threading.Event()

    def writer() -> None:
        with table.write(1) as h:
            h["count"] = 7  # never seen: the final value is written before the release
            holding.set()
            time.sleep(0.2)
            h["count"] = 8
        done.set()

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    assert holding.wait(10)
    served, declined = counts()
    rc, out = read(t, e, f)  # waits for the writer's release
    assert rc == SUCCESS and out.s64 == 8
    assert done.is_set()
    th.join(10)
    if fastread.ENABLED:
        assert counts() == (served, declined + 1)


def test_a_queued_writer_is_not_overtaken(table: Table[int, Row], session: PluginSession) -> None:
    """Reader A holds the entry, writer B queues: a native read queues behind B (FIFO)."""
    t = table_input(table)
    f = acc(table, "count")
    with session.calling("capture_open"):
        e = lib.ct_disp_get_table_entry(t, key(1))
    a_reads, a_release, b_queued = threading.Event(), threading.Event(), threading.Event()

    def reader_a() -> None:
        with table.read(1):
            a_reads.set()
            assert a_release.wait(10)

    def writer_b() -> None:
        with table.write(1) as h:
            h["count"] = 99

    ta = threading.Thread(target=reader_a, daemon=True)
    ta.start()
    assert a_reads.wait(10)
    tb = threading.Thread(target=writer_b, daemon=True)
    tb.start()
    deadline = time.monotonic() + 10
    while not _has_waiter(table, 1):
        assert time.monotonic() < deadline, "the writer never queued"
        time.sleep(0.005)
    b_queued.set()
    result: list[int] = []
    tc = threading.Thread(target=lambda: result.append(read(t, e, f)[1].s64), daemon=True)
    tc.start()
    deadline = time.monotonic() + 10
    while _waiters(table, 1) < 2 and not result:
        assert time.monotonic() < deadline, "the native read neither queued nor returned"
        time.sleep(0.005)
    a_release.set()
    for th in (ta, tb, tc):
        th.join(10)
    assert result == [99]  # it read after B's write: it did not overtake B


def _waiters(table: Table[Any, Any], k: int) -> int:
    from tests.conftest import waiters

    return waiters(table, k)


def _has_waiter(table: Table[Any, Any], k: int) -> bool:
    return _waiters(table, k) >= 1


def test_wrong_thread_on_a_single_threaded_table_still_fails() -> None:
    table: Table[int, Row] = Table("confined", I64, Row)  # single-threaded: this thread only
    table.add_entry(1, table.create_entry())
    s = PluginSession("confined_reader", TableRegistry(table))
    try:
        t = table_input(table)
        f = acc(table, "count")
        with s.calling("capture_open"):
            e = lib.ct_disp_get_table_entry(t, key(1))
            rc, out = read(t, e, f)
            assert rc == SUCCESS and out.s64 == 0  # the owner may read
        served, declined = counts()
        rc, err = in_thread(lambda: (read(t, e, f)[0], last_error()))
        assert rc == FAILURE
        assert "table 'confined'" in (err or "") and "thread" in (err or ""), err
        if fastread.ENABLED:
            assert counts() == (served, declined + 1)
    finally:
        s.close()


def test_a_phase_without_the_read_grant_is_refused(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    f = acc(table, "count")
    with session.calling("capture_open"):
        e = lib.ct_disp_get_table_entry(t, key(1))
    with session.calling("init", access=False):  # nothing granted
        assert read(t, e, f)[0] == FAILURE
        assert "access denied" in (session.error_text or "")
    with session.calling("capture_close"):  # granted again (init's clean-up dropped `e`)
        e = lib.ct_disp_get_table_entry(t, key(1))
        assert read(t, e, f)[1].s64 == 41
    assert in_thread(lambda: read(t, e, f)[1].s64) == 41  # no callback: the plugin's thread


def test_an_entry_kept_past_its_callback_is_refused(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    f = acc(table, "count")
    with session.calling("parse_event"):
        e = lib.ct_disp_get_table_entry(t, key(1))
        assert read(t, e, f)[1].s64 == 41
    assert read(t, e, f)[0] == FAILURE  # parse's clean-up dropped it
    assert "invalid entry" in (last_error() or "")


def test_stale_and_garbage_ids_fail_without_a_crash(
    table: Table[int, Row], session: PluginSession
) -> None:
    other: Table[int, Row] = Table("other", I64, Row, thread_safe=True)
    other.add_entry(1, other.create_entry())
    other_t = table_input(other)
    t = table_input(table)
    f = acc(table, "count")
    garbage = ffi.cast("void*", 0xDEADBEEF)
    served, _ = counts()
    with session.calling("parse_event"):
        e = lib.ct_disp_get_table_entry(t, key(1))
        released = lib.ct_disp_get_table_entry(t, key(1))
        lib.ct_disp_release_table_entry(t, released)
        e_other = lib.ct_disp_get_table_entry(other_t, key(1))
        cases = {
            "released entry": (t, released, f, "invalid entry"),
            "garbage entry": (t, garbage, f, "invalid entry"),
            "null entry": (t, NULL, f, "invalid entry: null"),
            "garbage accessor": (t, e, garbage, "invalid field accessor"),
            "accessor of another table": (other_t, e_other, f, "rows"),
            "entry of another table": (t, e_other, f, "does not belong"),
        }
        for what, (tt, ee, ff, text) in cases.items():
            assert read(tt, ee, ff)[0] == FAILURE, what
            assert text in (session.error_text or ""), (what, session.error_text)
        assert read(t, e, f)[1].s64 == 41  # the good ids still work
    if fastread.ENABLED:
        assert counts()[0] == served + 1
    forget_other = table_input(other)
    from concurrent_tables.cabi import forget

    forget(other)
    assert read(forget_other, e_other, acc(other, "count"))[0] == FAILURE  # handle retired


def test_a_destroyed_plugins_handles_fail(table: Table[int, Row]) -> None:
    s = PluginSession("gone", TableRegistry(table))
    tables = ffi.new("ss_plugin_init_tables_input*")
    lib.ct_fill_init_tables_input(tables)
    with s.calling("init"):
        t = tables.get_table(s.owner, b"rows", 4)
        f = lib.ct_disp_get_table_field(t, b"count", 4)
    with s.calling("capture_open"):
        e = lib.ct_disp_get_table_entry(t, key(1))
    assert in_thread(lambda: read(t, e, f)[1].s64) == 41
    s.close()
    rc, err = in_thread(lambda: (read(t, e, f)[0], last_error()))
    assert rc == FAILURE and "was destroyed" in (err or "")


def test_erased_and_replaced_pinned_entries_read_as_before(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    f = acc(table, "count")
    served, _ = counts()
    with session.calling("parse_event"):
        e = lib.ct_disp_get_table_entry(t, key(1))
        table.erase_entry(1)
        assert read(t, e, f)[1].s64 == 41  # the pinned entry, erased
        fresh = table.create_entry()
        fresh["count"] = 5
        table.add_entry(1, fresh)
        assert read(t, e, f)[1].s64 == 41  # still the pinned one, not the new entry
        e2 = lib.ct_disp_get_table_entry(t, key(1))
        assert read(t, e2, f)[1].s64 == 5
    if fastread.ENABLED:
        assert counts()[0] == served + 3


def test_a_write_handle_of_the_reading_thread_conflicts(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    f = acc(table, "count")
    with session.calling("parse_event"):
        e = lib.ct_disp_get_table_entry(t, key(1))
        with table.write(1) as h:
            h["count"] = 3
            assert read(t, e, f)[0] == FAILURE  # would deadlock: refused at once
            assert "handle" in (session.error_text or "")
        assert read(t, e, f)[1].s64 == 3


@c_path_only
def test_a_handle_of_the_reading_thread_on_a_displaced_entry_conflicts(
    table: Table[int, Row],
) -> None:
    """Conflicts are per key: this thread's write handle on the entry another thread replaced
    still refuses this thread a read of the key's new entry. (On the Python core, the
    replacement waits for the handle instead.)"""
    t = table_input(table)
    f = acc(table, "count")

    def replace_and_pin() -> Any:
        fresh = table.create_entry()
        fresh["count"] = 5
        table.add_entry(1, fresh, replace=True)
        return lib.ct_disp_get_table_entry(t, key(1))  # a pin on the new entry

    with table.write(1):
        e_new = in_thread(replace_and_pin)
        assert e_new != NULL
        assert read(t, e_new, f)[0] == FAILURE
        assert "handle" in (last_error() or "")
    assert read(t, e_new, f)[1].s64 == 5
    lib.ct_disp_release_table_entry(t, e_new)


@c_path_only
def test_the_probe_sees_every_native_read() -> None:
    from concurrent_tables import _core

    table: Table[int, Row] = Table("probed", I64, Row, thread_safe=True)
    table.add_entry(1, table.create_entry())
    s = PluginSession("probed_reader", TableRegistry(table))
    events: list[str] = []
    try:
        t = table_input(table)
        f = acc(table, "count")
        with s.calling("parse_event"):
            e = lib.ct_disp_get_table_entry(t, key(1))
            old = _core.set_probe(lambda ev, *a: events.append(ev))
            try:
                assert read(t, e, f)[0] == SUCCESS
            finally:
                _core.set_probe(old)
            assert read(t, e, f)[0] == SUCCESS
    finally:
        s.close()
    assert events == ["acquired", "release"]  # the probed read took the full path, once


@c_path_only
def test_the_c_path_can_be_switched_off(table: Table[int, Row], session: PluginSession) -> None:
    t = table_input(table)
    f = acc(table, "count")
    with session.calling("parse_event"):
        e = lib.ct_disp_get_table_entry(t, key(1))
        try:
            assert lib.ct_core_api_init(0) == 0
            served, declined = counts()
            assert read(t, e, f)[1].s64 == 41
            assert counts() == (served, declined)  # not even asked
        finally:
            assert lib.ct_core_api_init(1) == 1
        assert read(t, e, f)[1].s64 == 41
        assert counts()[0] == served + 1


# -- ids and memory -------------------------------------------------------------------------------


@c_path_only
def test_many_pins_registered_and_forgotten(session: PluginSession) -> None:
    """Thousands of live pins (the core's id map grows), half released in random order."""
    import random

    table: Table[int, Row] = Table("many", I64, Row, thread_safe=True)
    for k in range(3000):
        e = table.create_entry()
        e["count"] = k
        table.add_entry(k, e)
    s = PluginSession("many_reader", TableRegistry(table))
    base = fastread.statistics()["pins"]
    try:
        t = table_input(table)
        f = acc(table, "count")
        with s.calling("capture_open"):
            pins = {k: lib.ct_disp_get_table_entry(t, key(k)) for k in range(3000)}
        assert fastread.statistics()["pins"] == base + 3000
        order = list(pins)
        random.Random(7).shuffle(order)
        gone = set(order[:1500])
        for k in order[:1500]:
            lib.ct_disp_release_table_entry(t, pins[k])
        assert fastread.statistics()["pins"] == base + 1500
        served, declined = counts()
        for k, e in pins.items():
            rc, out = read(t, e, f)
            if k in gone:
                assert rc == FAILURE
            else:
                assert rc == SUCCESS and out.s64 == k
        assert counts() == (served + 1500, declined + 1500)
    finally:
        s.close()
    assert fastread.statistics()["pins"] == base
    assert fastread.statistics()["consistent"] == 1


@c_path_only
def test_ids_are_forgotten_with_their_callback_and_plugin(table: Table[int, Row]) -> None:
    before = fastread.statistics()
    s = PluginSession("short_lived", TableRegistry(table))
    tables = ffi.new("ss_plugin_init_tables_input*")
    lib.ct_fill_init_tables_input(tables)
    with s.calling("init"):
        t = tables.get_table(s.owner, b"rows", 4)
        kids = lib.ct_disp_get_table_field(t, b"kids", 10)
    with s.calling("parse_event"):
        e = lib.ct_disp_get_table_entry(t, key(1))
        rc, _ = read(t, e, kids)  # a nested handle: registered for this callback
        assert rc == SUCCESS
        during = fastread.statistics()
        assert during["pins"] == before["pins"] + 1
        assert during["refs"] >= before["refs"] + 2  # the plugin's handle and the nested one
    after_parse = fastread.statistics()
    assert after_parse["pins"] == before["pins"]
    assert after_parse["refs"] == before["refs"] + 1  # the plugin's own handle stays
    s.close()
    assert fastread.statistics()["refs"] == before["refs"]


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.timeout(120)
def test_string_reads_on_a_plugin_thread_use_bounded_memory(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    f = acc(table, "text")
    with session.calling("capture_open"):
        e = lib.ct_disp_get_table_entry(t, key(1))

    def reads() -> int:
        value = "x" * 4096
        with table.write(1) as h:
            h["text"] = value
        out = ffi.new("ss_plugin_state_data*")
        gc.collect()
        start = _rss()
        for i in range(10_000):
            assert lib.ct_disp_read_entry_field(t, e, f, out) == SUCCESS
            if i % 1000 == 0:
                prev = out.str
                # The entry moves on; the bytes read stay valid until the next read
                with table.write(1) as h:
                    h["text"] = f"{i:04d}" + "y" * 4092
                gc.collect()
                assert ffi.string(prev) == value.encode()
                assert lib.ct_disp_read_entry_field(t, e, f, out) == SUCCESS
                value = f"{i:04d}" + "y" * 4092
                assert ffi.string(out.str) == value.encode()
        return _rss() - start

    grown = in_thread(reads, timeout=100)
    assert grown < 8 * 2**20, f"10,000 reads of a 4 KiB string grew RSS by {grown} bytes"


@c_path_only
def test_a_million_reads_leave_refcounts_and_memory_flat(
    table: Table[int, Row], session: PluginSession
) -> None:
    text = "a string value " * 8
    with table.write(1) as h:
        h["text"] = text
    with table.read(1) as h:
        stored = h["text"]
    t = table_input(table)
    out = ffi.new("double[]", 100)
    refs = sys.getrefcount(stored)
    with session.calling("capture_open"):
        e = lib.ct_disp_get_table_entry(t, key(1))
    gc.collect()
    start = _rss()
    for name in ("count", "text", "flag"):
        assert lib.ct_bench_read_entry_field(t, e, acc(table, name), 100, 3_400, out) == 0
    assert _rss() - start < 2 * 2**20
    assert sys.getrefcount(stored) == refs + 1  # the pin keeps the string it handed out
    lib.ct_disp_release_table_entry(t, e)
    assert sys.getrefcount(stored) == refs


# -- writes of integers and bools -----------------------------------------------------------------


def write(t: Any, e: Any, f: Any, member: str, value: Any) -> int:
    d = ffi.new("ss_plugin_state_data*")
    setattr(d, member, value)
    return int(lib.ct_disp_write_entry_field(t, e, f, d))


def write_counts() -> tuple[int, int]:
    s = fastread.statistics()
    return s["writes_served"], s["writes_declined"]


@c_path_only
def test_integer_and_bool_writes_are_served_in_c(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    served, declined = write_counts()
    with session.calling("parse_event"):
        e = lib.ct_disp_get_table_entry(t, key(1))
        for name, member, value in (
            ("small", "s8", -100),
            ("count", "s64", -(2**63)),
            ("tiny", "u8", 200),
            ("big", "u64", 2**64 - 1),
            ("flag", "b", 7),  # any non-zero is true
        ):
            assert write(t, e, acc(table, name), member, value) == SUCCESS
    assert write_counts() == (served + 5, declined)
    with table.read(1) as h:
        assert (h["small"], h["count"], h["tiny"], h["big"], h["flag"]) == (
            -100,
            -(2**63),
            200,
            2**64 - 1,
            True,
        )
    assert table.statistics().locks_in_use == 0


@c_path_only
def test_what_needs_python_is_declined_and_still_written(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    with session.calling("init"):
        later = lib.ct_disp_add_table_field(t, b"later", 8)  # no slot in entry 1 yet
    served, declined = write_counts()
    with session.calling("parse_event"):
        e = lib.ct_disp_get_table_entry(t, key(1))
        text = ffi.new("char[]", b"written")
        d = ffi.new("ss_plugin_state_data*")
        d.str = text
        assert lib.ct_disp_write_entry_field(t, e, acc(table, "text"), d) == SUCCESS
        assert write(t, e, later, "u64", 77) == SUCCESS
        assert write(t, e, later, "u64", 78) == SUCCESS  # the slot exists now: served
    assert write_counts() == (served + 1, declined + 2)
    with table.read(1) as h:
        assert h["text"] == "written" and h["later"] == 78


def test_a_reader_on_another_thread_makes_the_write_wait(
    table: Table[int, Row], session: PluginSession
) -> None:
    t = table_input(table)
    f = acc(table, "count")
    with session.calling("capture_open"):
        e = lib.ct_disp_get_table_entry(t, key(1))
    holding, seen = threading.Event(), []

    def reader() -> None:
        with table.read(1) as h:
            seen.append(h["count"])
            holding.set()
            time.sleep(0.2)  # the native write below starts meanwhile
            seen.append(h["count"])

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    assert holding.wait(10)
    assert write(t, e, f, "s64", 1000) == SUCCESS
    th.join(10)
    assert seen == [41, 41]  # the read handle never saw the write
    with table.read(1) as h:
        assert h["count"] == 1000


def test_refused_writes_still_fail(table: Table[int, Row], session: PluginSession) -> None:
    ro: Table[int, Any] = Table("ro", I64, _ReadOnlyRow, thread_safe=True)
    ro.add_entry(1, ro.create_entry())
    s = PluginSession("ro_writer", TableRegistry(ro))
    try:
        t, rt = table_input(table), table_input(ro)
        with s.calling("parse_event"):
            e = lib.ct_disp_get_table_entry(rt, key(1))
            assert write(rt, e, acc(ro, "fixed"), "s64", 1) == FAILURE
            assert "read-only" in (s.error_text or "")
        with session.calling("parse_event"):
            e = lib.ct_disp_get_table_entry(t, key(1))
            assert write(t, e, acc(table, "kids"), "u64", 1) == FAILURE  # a table field
            with table.read(1):  # this thread reads it: a write would deadlock
                assert write(t, e, acc(table, "count"), "s64", 1) == FAILURE
                assert "handle" in (session.error_text or "")
        with session.calling("extract_fields"):  # reads only
            e = lib.ct_disp_get_table_entry(t, key(1))
            assert write(t, e, acc(table, "count"), "s64", 1) == FAILURE
            assert "access denied" in (session.error_text or "")
        with ro.read(1) as h:
            assert h["fixed"] == 0
        with table.read(1) as h:
            assert h["count"] == 41
    finally:
        s.close()


class _ReadOnlyRow(EntrySchema):
    fixed: ReadOnly[I64]


class _Counter(EntrySchema):
    py_counter: U64


@c_path_only
@pytest.mark.timeout(60)
def test_a_plugins_pthread_is_served_in_c(counter_thread_so: Path) -> None:
    """counter_thread.c's pthread (a thread Python never saw) reads and writes entry 7 N times:
    its first call makes its thread state, and its reads and writes are then served in C."""
    from .helpers import load_plugin, thread_done, thread_status

    counters: Table[int, _Counter] = Table("counters", U64, _Counter, thread_safe=True)
    iters = 2000
    p = load_plugin(counter_thread_so, TableRegistry(counters), str(iters))
    try:
        p.init()
        reads, writes = counts()[0], write_counts()[0]
        p.capture_open()
        deadline = time.monotonic() + 45
        while not thread_done(p):
            assert time.monotonic() < deadline, thread_status(p)
            time.sleep(0.01)
        status = thread_status(p)
        assert status["failures"] == 0 and status["iterations"] == iters, status
        assert counts()[0] - reads == iters
        # the first write grows the new entry for the plugin's dynamic field: the callback's job
        assert write_counts()[0] - writes >= iters - 1
        with counters.read(7) as h:
            assert h["ct_counter"] == iters
        p.capture_close()
    finally:
        p.destroy()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("python_side", ["writer", "reader"])
def test_native_calls_never_see_inside_a_python_handle(
    table: Table[int, Row], session: PluginSession, python_side: str
) -> None:
    """A Python writer stores a sentinel, yields, then the real value, inside one write handle:
    threads calling the native read meanwhile never see the sentinel. A Python reader reads
    twice inside one read handle: threads calling the native write meanwhile never change the
    value under it. (One Python thread each: its waits would otherwise keep the native calls
    on the full path.)"""
    t = table_input(table)
    f = acc(table, "count")
    with session.calling("capture_open"):
        e = lib.ct_disp_get_table_entry(t, key(1))
    stop = threading.Event()
    problems: list[str] = []
    calls = [0]

    def python_writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            with table.write(1) as h:
                h["count"] = -1
                time.sleep(0)
                h["count"] = i

    def python_reader() -> None:
        while not stop.is_set():
            with table.read(1) as h:
                a = h["count"]
                time.sleep(0)
                b = h["count"]
            if a != b:
                problems.append(f"changed under a read handle: {a} then {b}")

    def native_reader() -> None:
        out = ffi.new("ss_plugin_state_data*")
        while not stop.is_set():
            if lib.ct_disp_read_entry_field(t, e, f, out) != SUCCESS:
                problems.append(f"read failed: {last_error()}")
            elif out.s64 == -1:
                problems.append("a native read saw the inside of a write handle")
            calls[0] += 1

    def native_writer() -> None:
        d = ffi.new("ss_plugin_state_data*")
        i = 0
        while not stop.is_set():
            i += 1
            d.s64 = i
            if lib.ct_disp_write_entry_field(t, e, f, d) != SUCCESS:
                problems.append(f"write failed: {last_error()}")
            calls[0] += 1

    fns = (python_writer, native_reader, native_reader)
    if python_side == "reader":
        fns = (python_reader, native_writer, native_writer)
    threads = [threading.Thread(target=fn, daemon=True) for fn in fns]
    for th in threads:
        th.start()
    time.sleep(1.0)
    stop.set()
    for th in threads:
        th.join(10)
        assert not th.is_alive()
    assert problems == []
    assert calls[0] > 0
    assert table.statistics().locks_in_use == 0
