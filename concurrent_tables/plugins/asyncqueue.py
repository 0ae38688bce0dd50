"""The host's queue of async events: what async plugins push, waiting for the event loop.

    q = AsyncEventQueue()
    q.push(event)                 # any thread; False (and dropped) when 4096 are waiting
    q.take_due(engine_event.ts)   # the event loop, before an engine event
    q.take_one_due(now)           # the event loop, on a source timeout

libsinsp's injection order (docs/plugins.md, "Async events"): the queue is ordered by `ts`, an
event with `ts = UINT64_MAX` ("the host fills in the time") first, and events with equal `ts`
in the order they arrived. Before each engine event, the queued events whose `ts` is at most
that event's go first; on a source timeout, one queued event whose `ts` is at most the current
time is delivered. A full queue (4096 events, libsinsp's bound) drops what is pushed: the
pusher is told (`push` returns False), the drop is counted and logged, and nothing blocks.

One guard libsinsp lacks: the events taken before an engine event are those queued when the
loop takes them, so a plugin that pushes while its async events are parsed cannot starve the
source (they wait for the next engine event or timeout).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from typing import Final

from ..events import NO_VALUE
from .base import Event

log = logging.getLogger(__name__)

#: Events waiting at most (libsinsp's bound); more are dropped.
MAX_QUEUED: Final = 4096


def _order(ts: int) -> int:
    """The sort key of a ts: UINT64_MAX (fill in the time) before every real ts."""
    return -1 if ts == NO_VALUE else ts


class AsyncEventQueue:
    """Async events in libsinsp's delivery order (see the module docstring). Thread-safe."""

    def __init__(self, capacity: int = MAX_QUEUED) -> None:
        self.capacity = capacity
        #: Events refused because the queue was full, since it was made.
        self.dropped = 0
        self._heap: list[tuple[int, int, Event]] = []
        self._seq = itertools.count()  # arrival order: equal ts stay in it
        self._lock = threading.Lock()  # a leaf lock: nothing is called while holding it

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, event: Event) -> bool:
        """Queue `event` (any thread); False if the queue is full and the event dropped."""
        with self._lock:
            if len(self._heap) >= self.capacity:
                self.dropped += 1
                dropped = self.dropped
            else:
                heapq.heappush(self._heap, (_order(event.ts), next(self._seq), event))
                return True
        if dropped & (dropped - 1) == 0:  # the 1st, 2nd, 4th, 8th ... drop: no log flood
            log.warning(
                "async event queue full (%d events waiting): event dropped (%d so far)",
                self.capacity,
                dropped,
            )
        return False

    def take_due(self, ts: int) -> list[Event]:
        """Every queued event due before an engine event of `ts`, in delivery order."""
        limit = ts  # a real ts is its own key; UINT64_MAX admits everything
        out: list[Event] = []
        with self._lock:
            heap = self._heap
            while heap and heap[0][0] <= limit:
                out.append(heapq.heappop(heap)[2])
        return out

    def take_one_due(self, now: int) -> Event | None:
        """The first queued event if its ts is at most `now` (a source timeout), else None."""
        with self._lock:
            heap = self._heap
            if heap and heap[0][0] <= now:
                return heapq.heappop(heap)[2]
        return None

    def take_all(self) -> list[Event]:
        """Every queued event, in delivery order (the source has ended)."""
        with self._lock:
            heap, self._heap = self._heap, []
        return [e for _, _, e in sorted(heap)]

    def clear(self) -> None:
        """Forget every queued event (a new capture opens)."""
        with self._lock:
            self._heap = []


__all__ = ["MAX_QUEUED", "AsyncEventQueue"]
