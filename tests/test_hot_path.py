"""The checks on the per-event hot path (Table.read/write, EntryHandle get/set/exit).

These pin what the inlined lock-free path must keep doing: thread check, stale check, type and
range checks, field binding, dynamic-field growth, and borrow bookkeeping, in every table mode.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from conftest import idle

from concurrent_tables import I64, U8, EntrySchema, String, Table
from concurrent_tables.errors import (
    BorrowError,
    ForeignFieldError,
    InvalidValueError,
    ReadOnlyHandleError,
    ReentrancyError,
    StaleHandleError,
    WrongThreadError,
)
from concurrent_tables.handles import EntryHandle
from concurrent_tables.table import _handle_getter


class Rec(EntrySchema):
    pid: I64
    comm: String
    kind: U8


class Other(EntrySchema):
    x: I64


MODES = {
    "single-threaded": {"thread_safe": False},
    "thread-safe fast path": {"thread_safe": True},
    "thread-safe locked": {"thread_safe": True, "fast_path": False},
}


@pytest.fixture(params=list(MODES))
def table(request: pytest.FixtureRequest) -> Table[Any, Any]:
    t: Table[Any, Any] = Table("rec", I64, Rec, **MODES[request.param])
    for k in (1, 2):
        e = t.create_entry()
        e["pid"] = k
        t.add_entry(k, e)
    return t


def in_thread(fn: Callable[[], Any]) -> BaseException | None:
    box: list[BaseException | None] = [None]

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            box[0] = exc

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(10)
    assert not th.is_alive()
    return box[0]


def test_handle_state(table: Table[Any, Any]) -> None:
    with table.write(1) as h:
        assert h.alive and h.key == 1 and h.table is table
        h["comm"] = "bash"
        assert h["pid"] == 1 and h["comm"] == "bash"
    assert not h.alive
    assert idle(table)
    with table.read(1) as r1, table.read(1) as r2:
        assert r1["comm"] == r2["comm"] == "bash"
    assert idle(table)


def test_stale_handle(table: Table[Any, Any]) -> None:
    with table.write(1) as h:
        pass
    with pytest.raises(StaleHandleError):
        h["pid"]
    with pytest.raises(StaleHandleError):
        h["pid"] = 3
    h.release()  # releasing twice is a no-op
    h.__exit__(None, None, None)
    with table.write(1) as h2:  # and it released nothing else
        h2["pid"] = 4


def test_wrong_thread(table: Table[Any, Any]) -> None:
    with table.write(1) as h:
        for fn in (lambda: h["pid"], lambda: h.__setitem__("pid", 5), h.release):
            assert isinstance(in_thread(fn), WrongThreadError)
        assert h.alive
        h["pid"] = 6
    with table.read(1) as r:
        assert r["pid"] == 6


def test_value_and_field_checks(table: Table[Any, Any]) -> None:
    other: Table[Any, Any] = Table("other", I64, Other)
    with table.write(1) as h:
        with pytest.raises(InvalidValueError):
            h["kind"] = 256
        with pytest.raises(InvalidValueError):
            h["kind"] = -1
        with pytest.raises(InvalidValueError):
            h["pid"] = "1"
        with pytest.raises(InvalidValueError):
            h["comm"] = "a\0b"
        with pytest.raises(InvalidValueError):
            h["comm"] = 1
        with pytest.raises(ForeignFieldError):
            h[other.field("x")] = 1
        h["kind"] = 255
    with table.read(1) as r:
        with pytest.raises(ReadOnlyHandleError):
            r["pid"] = 1
        assert r["kind"] == 255


def test_dynamic_field_grows_old_entries(table: Table[Any, Any]) -> None:
    f = table.add_field("late", I64)
    g = table.add_field("later", String)
    with table.write(2) as h:
        assert h[f] == 0 and h[g] == ""
        h[g] = "x"  # two slots past the end of the entry's values
        assert h[f] == 0 and h[g] == "x"
        h[f] = 7
    with table.read(2) as r:
        assert (r[f], r[g]) == (7, "x")


def test_conflicts(table: Table[Any, Any]) -> None:
    err = ReentrancyError if table.thread_safe else BorrowError
    with table.write(1):
        with pytest.raises(err):
            table.read(1)
        with pytest.raises(err):
            table.write(1)
        with table.write(2):
            pass
    with table.read(1), pytest.raises(err):
        table.write(1)
    with table.write(1):  # nothing was left behind by the refusals
        pass
    assert idle(table)


def test_owner_borrows_are_not_another_threads_handles() -> None:
    # The owner's handles (lock-free `_borrows` on the Python core, grants on the C core): a
    # foreign thread's erase/clear must not take them for its own (it used to raise
    # ReentrancyError "this thread holds ..."). Both backends.
    t: Table[Any, Any] = Table("rec", I64, Rec, thread_safe=True)
    for k in (1, 2):
        t.add_entry(k, t.create_entry())
    with t.read(2) as h:  # lock-free: no other thread inside
        assert in_thread(lambda: t.erase_entry(2)) is None
        assert in_thread(t.clear) is None
        assert h["pid"] == 0  # the handle keeps its erased entry alive
        with pytest.raises(ReentrancyError):
            t.erase_entry(2)  # the owner's own borrow still counts for the owner
    assert len(t) == 0


def test_getter_refuses_a_handle_class_with_its_own_init() -> None:
    class Custom(EntryHandle):
        __slots__ = ()

        def __init__(self, *a: Any) -> None:
            EntryHandle.__init__(self, *a)

    with pytest.raises(TypeError):
        _handle_getter(False, Custom)
