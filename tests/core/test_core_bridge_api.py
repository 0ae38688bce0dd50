"""What the rest of the library uses of a C-core handle beyond fields: views (the table API's
rules and importers' views), the end-of-callback text, the entry's storage for the C bridge's
pins, nested tables made on first use, and the timeout marker."""

from __future__ import annotations

import math
from typing import Any

import pytest
from core_helpers import in_thread, make_core

from concurrent_tables.errors import (
    InvalidTimeoutError,
    ReadOnlyFieldError,
    ReadOnlyHandleError,
    StaleHandleError,
)
from concurrent_tables.handles import API, ApiRules
from concurrent_tables.table import TABLE_TIMEOUT

pytestmark = pytest.mark.timeout(30)


class Recording(ApiRules):
    """An importer-like view that records what the handle asks of it."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def nested(self, table: Any) -> Any:
        self.seen.append(("nested", table.name))
        return ("view of", table)

    def write_denied(self, table: str, key: Any, field: str) -> Exception:
        self.seen.append(("denied", table, key, field))
        return PermissionError(f"{field} is read-only for this importer")


def test_views() -> None:
    t = make_core()
    view = Recording()
    with t.read(1, view=view) as r:
        assert r.view is view
        assert r["fds"][0] == "view of"
        with pytest.raises(PermissionError, match="pid is read-only"):
            r["pid"] = 1
    assert view.seen == [("nested", "fds"), ("denied", "rec", 1, "pid")]
    with t.write(1) as w:
        assert w.view is None
        w._view = API  # handles.apply_view
        assert w.view is API
        with pytest.raises(ReadOnlyFieldError):
            w["ro"] = 1
        with pytest.raises(ReadOnlyFieldError, match="writing to table fields"):
            w["fds"] = 1
        w._view = None
        w["ro"] = 1  # the owner may
    with t.read(1) as r, pytest.raises(ReadOnlyHandleError):
        r["pid"] = 1
    d = t.create_entry(API)
    assert d.view is API
    with pytest.raises(ReadOnlyFieldError):
        d["ro"] = 1


def test_end_texts() -> None:
    t = make_core()
    h = t.read(0)
    h.release()
    h._grant = "released when parse_event of plugin 'p' returned"
    with pytest.raises(StaleHandleError, match="was already released when parse_event"):
        h["pid"]
    assert "parse_event" in repr(h)
    d = t.create_entry()
    d._end("destroyed when init of plugin 'p' returned")
    assert not d.alive
    with pytest.raises(StaleHandleError, match="destroyed when init"):
        d["pid"]
    w = t.write(1)
    w._end("ended by the test")
    assert not w.alive and t._entry_state(1) == (0, 0, 0)
    with pytest.raises(TypeError):
        w._grant = 3


def test_entry_storage_for_pins() -> None:
    t = make_core()
    f_late = t._registry.add("late", 4)  # int64
    with t.write(2) as h:
        values = h._values
        assert len(values) == len(t._registry.specs) and values[0] == 2
        with pytest.raises(IndexError):
            values[f_late.index]
        values.extend(t._registry.dynamic_defaults(len(values), f_late.index))
        values[f_late.index] = 9
        assert h[f_late] == 9
        with pytest.raises(TypeError):
            del values[0]
        fds = t.nested_table(values, t._registry.lookup("fds"))
        assert fds is h["fds"] is t.nested_table(values, t._registry.lookup("fds"))
    assert h._values is None  # released: the handle no longer reaches the entry
    with pytest.raises(TypeError):
        t.nested_table([1], t._registry.lookup("fds"))
    assert t._domain.fast_tid == 0  # no lock-free borrows: table.borrow_now says no


def test_timeout_marker_and_invalid_timeouts() -> None:
    t = make_core(timeout=0.01)
    h = t.write(0)
    r = in_thread(lambda: t.read(0, TABLE_TIMEOUT))
    assert "after 0.01s" in str(r)
    for bad in (-1, math.nan, True, "1", object()):
        with pytest.raises(InvalidTimeoutError):
            t.read(1, bad)  # checked even where no wait happens
    h.release()
    with pytest.raises(InvalidTimeoutError):
        t.timeout = -0.5
    with pytest.raises(TypeError):
        t.read(1, 1.0, nope=1)


def test_a_waiter_is_overtaken_at_most_once() -> None:
    """A thread that keeps taking the entry cannot starve a granted waiter."""
    import sys

    from core_helpers import start, wait_until

    t = make_core()
    h = t.read(0)
    th, box = start(lambda: t.write(0, 5).release())
    assert wait_until(lambda: t._entry_state(0)[2] == 1)
    old = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    try:
        h.release()  # grants the writer, which cannot run yet
        h = t.read(0, 0)  # overtakes it once
        h.release()  # grants it again
        with pytest.raises(Exception, match="timed out"):
            t.read(0, 0)  # not twice: this reader now waits for the writer
    finally:
        sys.setswitchinterval(old)
    th.join(5)
    assert box == [None] and t._entry_state(0) == (0, 0, 0)


def test_pinned_reads_and_writes_lock_the_pinned_entry() -> None:
    """The C bridge's pins: one field under the pinned entry's own grant, even once replaced."""
    from core_helpers import start, wait_until

    t = make_core()
    with t.read(1) as h:
        pinned = h._values
    f_pid = t._registry.lookup("pid")
    assert t._read_pinned(pinned, 1, f_pid) == 1
    t._write_pinned(pinned, 1, f_pid, 5)
    assert t._read_pinned(pinned, 1, "pid") == 5
    e = t.create_entry()
    t.add_entry(1, e, replace=True)  # the pin keeps the old entry
    assert t._read_pinned(pinned, 1, f_pid) == 5
    with t.read(1) as h:
        assert h["pid"] == 0
    th, box = start(lambda: t._read_pinned(pinned, 1, f_pid))
    th.join(5)
    assert box == [5]
    with t.write(2) as g:
        pinned2 = g._values
        th, box = start(lambda: t._read_pinned(pinned2, 2, f_pid))
        assert wait_until(lambda: t._entry_state(2)[2] == 1)  # waits for this write handle
        g["pid"] = 22
    th.join(5)
    assert box == [22] and t._entry_state(2) == (0, 0, 0)
    with pytest.raises(TypeError):
        t._read_pinned([1], 1, f_pid)
