"""Helpers of the C core's tests: tables built on `concurrent_tables._core` directly.

These tests exercise the extension on its own (stage 1 of the C core: not yet behind `Table`).
A `Core` is given what a `Table` owns: a `FieldRegistry` made from an entry schema, and a lock
`Domain` shared with its nested tables.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from concurrent_tables import I64, U8, U64, Bool, EntrySchema, NestedTable, Private, ReadOnly
from concurrent_tables import String as Str
from concurrent_tables.fields import FieldRegistry
from concurrent_tables.schema import factory
from concurrent_tables.types import coerce_state_type

core = pytest.importorskip("concurrent_tables._core")


class Fd(EntrySchema):
    fd: I64
    name: Str


class Rec(EntrySchema):
    pid: I64
    comm: Str
    kind: U8
    total: U64
    flag: Bool
    ro: ReadOnly[I64]
    fds: NestedTable[I64, Fd]
    scratch: Private[list[int]] = factory(list)


def make_core(
    *,
    thread_safe: bool = True,
    keys: int = 3,
    key_type: Any = I64,
    timeout: float | None = 30.0,
    owner: int | None = None,
    name: str = "rec",
) -> Any:
    """A Core of `Rec` with entries at keys 0..keys-1 whose pid is the key."""
    t = core.Core(
        name,
        coerce_state_type(key_type),
        FieldRegistry(name, Rec),
        core.Domain(thread_safe, owner),
        timeout,
    )
    for k in range(keys):
        e = t.create_entry()
        e["pid"] = k
        t.add_entry(k, e)
    return t


def in_thread(fn: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Run `fn` in a daemon thread; return its result, or the exception it raised."""
    box: list[Any] = [None]

    def run() -> None:
        try:
            box[0] = fn()
        except BaseException as exc:
            box[0] = exc

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(timeout)
    assert not th.is_alive(), "thread did not finish"
    return box[0]


def start(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start `fn` in a daemon thread; the list receives its result or exception."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:
            box.append(exc)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, box


def wait_until(cond: Callable[[], bool], within: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def in_use(t: Any) -> int:
    """The domain's locks_in_use counter."""
    return int(t.statistics()[6])


def usable(t: Any, key: Any) -> bool:
    """Every thread can take a write handle on `key` at once, and nothing is left in use."""
    with t.write(key, 0):
        pass
    r = in_thread(lambda: t.write(key, 1.0).release())
    return r is None and t._entry_state(key) == (0, 0, 0)
