"""`plugins/asyncqueue.py`: libsinsp's async injection order and bound, alone and in the host."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from concurrent_tables import AsyncPlugin, Event, ParsePlugin, PluginHost, SourcePlugin
from concurrent_tables.events import NO_VALUE
from concurrent_tables.plugins.asyncqueue import MAX_QUEUED, AsyncEventQueue
from concurrent_tables.plugins.base import AsyncContext
from concurrent_tables.plugins.tokens import TableReader, TableWriter

pytestmark = pytest.mark.timeout(30)


def ev(ts: int, tag: str) -> Event:
    return Event(ts=ts, tid=1, type=402, payload=tag)


def tags(events: list[Event]) -> list[str]:
    return [str(e.payload) for e in events]


def test_ordered_by_ts_unset_ts_first_equal_ts_in_arrival_order() -> None:
    q = AsyncEventQueue()
    for e in (ev(30, "a"), ev(10, "b"), ev(NO_VALUE, "c"), ev(10, "d"), ev(20, "e")):
        assert q.push(e)
    q.push(ev(NO_VALUE, "f"))
    assert tags(q.take_all()) == ["c", "f", "b", "d", "e", "a"]
    assert len(q) == 0


def test_take_due_stops_at_the_engine_events_ts() -> None:
    q = AsyncEventQueue()
    for e in (ev(30, "a"), ev(10, "b"), ev(NO_VALUE, "c"), ev(25, "d"), ev(25, "e")):
        q.push(e)
    assert tags(q.take_due(25)) == ["c", "b", "d", "e"]  # ts <= 25, ties included
    assert tags(q.take_due(29)) == []
    assert tags(q.take_due(NO_VALUE)) == ["a"]  # an engine event without ts admits all


def test_a_timeout_delivers_one_event_due_now() -> None:
    q = AsyncEventQueue()
    now = time.time_ns()
    for e in (ev(now + 60_000_000_000, "later"), ev(5, "x"), ev(6, "y")):
        q.push(e)
    assert tags([q.take_one_due(now)]) == ["x"]  # type: ignore[list-item]
    assert tags([q.take_one_due(now)]) == ["y"]  # type: ignore[list-item]
    assert q.take_one_due(now) is None  # "later" is not due
    assert len(q) == 1


def test_a_full_queue_drops_counts_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    q = AsyncEventQueue()
    assert q.capacity == MAX_QUEUED == 4096
    with caplog.at_level(logging.WARNING):
        results = [q.push(ev(i, str(i))) for i in range(MAX_QUEUED + 10)]
    assert results == [True] * MAX_QUEUED + [False] * 10
    assert q.dropped == 10 and len(q) == MAX_QUEUED
    # logged at the 1st, 2nd, 4th and 8th drop, not once per drop
    assert caplog.text.count("async event queue full") == 4
    assert tags(q.take_due(2)) == ["0", "1", "2"]
    assert q.push(ev(0, "room again"))


def test_pushes_from_many_threads_lose_nothing_and_keep_each_threads_order() -> None:
    q = AsyncEventQueue()

    def push(k: int) -> None:
        for i in range(500):
            q.push(ev(7, f"{k}:{i}"))  # equal ts: arrival order must hold

    threads = [threading.Thread(target=push, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    got = tags(q.take_all())
    assert len(got) == 2000
    for k in range(4):
        assert [t for t in got if t.startswith(f"{k}:")] == [f"{k}:{i}" for i in range(500)]


# -- in the host ----------------------------------------------------------------------------------


class Seen(ParsePlugin):
    def __init__(self) -> None:
        self.events: list[Event] = []

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        self.events.append(event)


class Preloaded(AsyncPlugin):
    """Pushes `events` as soon as the capture opens, before the first engine event."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.accepted: list[bool] = []

    def start_async(self, ctx: AsyncContext) -> None:
        self.ctx = ctx
        self.accepted = [ctx.push(e) for e in self.events]


def test_the_host_delivers_async_events_in_ts_order_around_engine_events() -> None:
    seen = Seen()
    pushed = [ev(30, "a30"), ev(10, "a10"), ev(NO_VALUE, "unset"), ev(10, "b10"), ev(20, "a20")]
    engine = [
        Event(ts=15, tid=1, type=3, payload="e15"),
        Event(ts=25, tid=1, type=3, payload="e25"),
    ]
    before = time.time_ns()
    PluginHost([Preloaded(pushed), seen]).run(events=engine)
    assert tags(seen.events) == ["unset", "a10", "b10", "e15", "a20", "e25", "a30"]
    assert [e.evtnum for e in seen.events] == list(range(1, 8))
    unset = seen.events[0]
    assert unset.source == "async" and before <= unset.ts <= time.time_ns()  # filled in


class TimesOut(SourcePlugin):
    """One timeout, then one engine event of ts 0, then the end."""

    def open(self) -> Iterator[Event | None]:
        yield None
        yield Event(ts=0, tid=1, type=3, payload="e0")


def test_a_source_timeout_delivers_one_due_event() -> None:
    seen = Seen()
    later = time.time_ns() + 3_600_000_000_000  # an hour ahead: never due during the run
    pushed = [ev(later, "later"), ev(2, "a2"), ev(1, "a1")]
    PluginHost([TimesOut(), Preloaded(pushed), seen]).run()
    # the timeout lets one due event in; the engine event of ts 0 waits for none; the rest
    # is delivered when the source ends
    assert tags(seen.events) == ["a1", "e0", "a2", "later"]


def test_the_host_queue_is_bounded() -> None:
    seen = Seen()
    plugin = Preloaded([ev(i, str(i)) for i in range(MAX_QUEUED + 5)])
    PluginHost([plugin, seen]).run(events=[])
    assert plugin.accepted.count(False) == 5 and plugin.ctx.dropped == 5
    assert len(seen.events) == MAX_QUEUED
