"""Shared fixtures and helpers.

- The reference scenarios' countdown source, `remaining` table and helpers (host tests).
- The thread-safety tests' helpers: every test that runs threads uses `switchy` (a very short
  GIL switch interval, so threads interleave at nearly every bytecode) and `run_threads`
  (threads are daemons and are joined with a timeout: a hang fails the test, not the suite).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from concurrent_tables import (
    I64,
    U64,
    EntrySchema,
    Event,
    NestedTable,
    ParsePlugin,
    ReadOnly,
    SourcePlugin,
    String,
    Table,
    TableReader,
    TablesInput,
    TableWriter,
    backend,
)
from concurrent_tables.locking import SharedDomain
from concurrent_tables.table import PythonTable

#: Tests of the Python core's own machinery (lock-free borrows, lock slots, the readerwriterlock
#: domain, frontrun's exploration of its Python locks) run on the Python backend only; the C
#: core's equivalents are in tests/core.
python_core_only = pytest.mark.skipif(
    backend.BACKEND != "python", reason="tests the Python core's internals (see tests/core)"
)

#: tests/core test the C extension itself, whichever core `Table` runs, so they run in the C-core
#: pass only (the README's test command runs the suite once per backend).
collect_ignore_glob = ["core/test_*.py"] if backend.BACKEND == "python" else []


class CountdownEntry(EntrySchema):
    count: U64


class Remaining(EntrySchema):
    remaining: U64
    readonly: ReadOnly[U64]
    countdown: NestedTable[U64, CountdownEntry]


class CountdownSource(SourcePlugin):
    """Emits "3 events remaining" … "0 events remaining" (for remaining=4), then EOF."""

    def __init__(self, remaining: int = 4) -> None:
        self.remaining = remaining

    def open(self) -> Iterator[Event]:
        for i in range(self.remaining):
            left = self.remaining - 1 - i
            yield Event(ts=1000 + i, tid=1, type=1, payload=f"{left} events remaining")


def remaining_of(event: Event) -> int:
    """The N of "N events remaining"."""
    return int(str(event.payload).split()[0])


class DirectExporter(ParsePlugin):
    """Exports `remaining` and fills it directly, bypassing the API (S1, S2)."""

    name = "exporter"

    def __init__(self, *, thread_safe: bool = False, nested: bool = False) -> None:
        self.thread_safe = thread_safe
        self.nested = nested

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table: Table[int, Remaining] = Table(
            "remaining", U64, Remaining, thread_safe=self.thread_safe
        )
        tables.export_table(self.table)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        n = remaining_of(event)
        e = self.table.create_entry()
        e["remaining"] = n
        e["readonly"] = 100 + n  # the owner writes read-only fields directly
        if self.nested:
            countdown = e["countdown"]
            for i in range(n + 1):
                c = countdown.create_entry()
                c["count"] = n - i
                countdown.add_entry(i, c)
        self.table.add_entry(event.evtnum, e, replace=True)


def snapshot(table: Table[Any, Any]) -> dict[Any, tuple[Any, ...]]:
    """Every entry's public scalar values, to check that a failed operation changed nothing."""
    names = [f.name for f in table.list_fields() if f.type.name != "TABLE"]
    out: dict[Any, tuple[Any, ...]] = {}
    for h in table.items():
        out[h.key] = tuple(h[n] for n in names)
    return out


@pytest.fixture
def source() -> CountdownSource:
    return CountdownSource()


# -- thread-safety helpers ----------------------------------------------------------------------


class Child(EntrySchema):
    count: U64


class Row(EntrySchema):
    """A row whose fields are written together: `b == a + 1`, `total == a + b`, `tag == str(a)`."""

    a: U64
    b: U64
    total: U64
    tag: String
    counter: I64
    children: NestedTable[U64, Child]


@pytest.fixture
def switchy() -> Iterator[None]:
    """Switch threads every microsecond (the default is 5 ms), restoring the old interval."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@pytest.fixture(params=[True, False], ids=["fast_path", "locks_only"])
def fast_path(request: pytest.FixtureRequest) -> bool:
    """Both lock protocols of a thread-safe table: with and without the owner's fast path."""
    return bool(request.param)


def make_table(
    n: int = 0,
    *,
    thread_safe: bool = True,
    fast_path: bool = True,
    name: str = "rows",
    timeout: float | None = 5.0,
    owner_thread: int | None = None,
    unsafe: bool = False,
) -> Table[int, Row]:
    """A table of `Row` with entries 0 .. n-1, all fields consistent.

    unsafe=True gives it a `NoLockDomain`: thread-safe in name, with no entry locks at all (a
    Python-backend table, whose domain can be swapped).
    """
    t: Table[int, Row] = (PythonTable if unsafe else Table)(
        name,
        U64,
        Row,
        thread_safe=thread_safe,
        fast_path=fast_path,
        timeout=timeout,
        owner_thread=owner_thread,
    )
    if unsafe:
        t._domain = NoLockDomain(t.owner_thread)
    for k in range(n):
        e = t.create_entry()
        write_row(e, k)
        t.add_entry(k, e)
    return t


def write_row(h: Any, a: int) -> None:
    """Write a consistent row, one field at a time (a reader must never see it half-done)."""
    h["a"] = a
    h["b"] = a + 1
    h["tag"] = str(a)
    h["total"] = 2 * a + 1


def row_ok(h: Any) -> bool:
    a = h["a"]
    return bool(h["b"] == a + 1 and h["total"] == 2 * a + 1 and h["tag"] == str(a))


def run_threads(
    fns: list[Callable[[], None]], *, timeout: float = 10.0, start: threading.Barrier | None = None
) -> None:
    """Run each fn in a daemon thread, join them all within `timeout`, re-raise the first error."""
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)

        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in fns]
    for th in threads:
        th.start()
    deadline = time.monotonic() + timeout
    for th in threads:
        th.join(max(0.0, deadline - time.monotonic()))
    alive = [th.name for th in threads if th.is_alive()]
    if errors:
        raise errors[0]
    assert not alive, f"threads still running after {timeout}s (deadlock?): {alive}"


def usable_from_another_thread(t: Table[Any, Any], key: Any, within: float = 0.5) -> bool:
    """True if another thread can take a write handle on `key` within `within` seconds."""
    ok: list[bool] = []

    def probe() -> None:
        with t.write(key, timeout=within):
            ok.append(True)

    run_threads([probe], timeout=within + 5)
    return ok == [True]


class NoLockDomain(SharedDomain):
    """A thread-safe domain with the locking removed: every handle is granted at once.

    Used only to show that the invariant tests have teeth: they must FAIL on a table with this
    domain (see test_thread_safety.py::test_the_tests_fail_without_locking).
    """

    def __init__(self, owner: int | None = None) -> None:
        super().__init__(owner, fast_path=False)  # fast_tid = 0: every handle goes to acquire

    def acquire(
        self, table: Any, key: Any, write: bool, timeout: float | None, handle: Any
    ) -> None:
        handle._grant, handle._tid = "no lock", threading.get_ident()

    def release(self, table: Any, key: Any, write: bool, grant: Any, handle: Any) -> None:
        handle._tid = -1

    def held_by_me(self, table: Any, key: Any) -> bool:
        return False


def run_with_owner(
    owner: Callable[[], None], others: list[Callable[[], None]], *, timeout: float = 10.0
) -> None:
    """Run `owner` in this thread (the table's owner) while `others` run in daemon threads."""
    errors: list[BaseException] = []
    done = threading.Event()

    def background() -> None:
        try:
            run_threads(others, timeout=timeout)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    bg = threading.Thread(target=background, daemon=True)
    bg.start()
    owner()
    assert done.wait(timeout + 5), "background threads did not finish"
    if errors:
        raise errors[0]


def waiters(t: Table[Any, Any], key: Any) -> int:
    """Threads waiting for the entry at `key` (either backend)."""
    if backend.BACKEND == "c" and not isinstance(t, PythonTable):
        return int(t._entry_state(key)[2])  # type: ignore[attr-defined]
    slot = t._slots.get(key)
    return 0 if slot is None else int(slot.users - len(slot.readers) - bool(slot.writer))


def idle(t: Table[Any, Any]) -> bool:
    """No handle is held on any entry of `t` and nobody waits (either backend)."""
    if backend.BACKEND == "c" and not isinstance(t, PythonTable):
        return t.statistics().locks_in_use == 0
    return not t._borrows and not t._slots
