"""Invariant bookkeeping: the violation log, the lost-update ledger and record checksums.

Violation kinds used by the harness:

    lost-update       a counter below the increments that threads completed on it
    phantom-update    a counter above them (a write applied twice, or by nobody)
    torn-read         a multi-field record whose checksum does not match (seen under a read handle)
    visibility        an entry that must exist (inserted before the event that looks for it) is
                      missing, or shows older values than were written before it was announced
    lost-entry        an entry erased or replaced by nobody entitled to
    wrong-entry       an entry found under a key other than its own
    iteration-order   iteration yielded keys out of order or twice
    missing-check     a misuse probe (stale handle, re-entrant lock, wrong thread, conflicting
                      borrow) that did not raise what the library promises
    deadlock          a thread made no progress for --stall seconds (stacks attached)
    lock-order-cycle  --detect: the lock-order graph has a cycle (a potential deadlock)

Plugin runs add (stress.plugin_run): invariant (a declared one), handle-leak, resource-warning,
table-check.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: Details kept per kind: later violations of the same kind are only counted.
MAX_KEPT_PER_KIND = 20


@dataclass(frozen=True)
class Violation:
    kind: str
    details: dict[str, Any]
    thread: str
    at_s: float  # seconds since the run's threads started

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "thread": self.thread,
            "at_s": round(self.at_s, 4),
            "details": self.details,
        }


class ViolationLog:
    """A thread-safe list of violations, with a count per kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kept: list[Violation] = []
        self.counts: Counter[str] = Counter()
        self.t0 = time.monotonic()  # reset by the driver when the threads start
        self.first_s: float | None = None
        #: Seconds from the start to the first violation of each kind.
        self.first_at: dict[str, float] = {}

    def add(self, kind: str, details: dict[str, Any]) -> None:
        thread = threading.current_thread().name
        at = time.monotonic() - self.t0
        with self._lock:
            self.counts[kind] += 1
            if self.first_s is None:
                self.first_s = at
            self.first_at.setdefault(kind, at)
            if self.counts[kind] <= MAX_KEPT_PER_KIND:
                self.kept.append(Violation(kind, details, thread, at))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __bool__(self) -> bool:
        return self.total > 0


class CounterLedger:
    """Per-thread counts of completed increments, per counter key (the lost-update check).

    Each lane writes only its own row (`record`), so rows need no lock. Keys are fixed when the
    ledger is made, so a reader summing rows never sees a row change size.

    Check: snapshot `completed(key)` *before* taking a read handle; every increment counted in
    the snapshot was released before it, so the value read must be at least the snapshot. After
    all threads are joined the value must equal `completed(key)` exactly.
    """

    def __init__(self, keys: Sequence[Any], lanes: Iterable[str]) -> None:
        self.keys = list(keys)
        self._index = {k: i for i, k in enumerate(self.keys)}
        self._rows: dict[str, list[int]] = {lane: [0] * len(self.keys) for lane in lanes}
        self._reported: dict[Any, int] = {}  # key -> largest gap reported so far

    def row(self, lane: str) -> list[int]:
        """The lane's own row (index with `index(key)`), for a hot loop."""
        return self._rows[lane]

    def index(self, key: Any) -> int:
        return self._index[key]

    def record(self, lane: str, key: Any, n: int = 1) -> None:
        self._rows[lane][self._index[key]] += n

    def completed(self, key: Any) -> int:
        i = self._index[key]
        return sum(row[i] for row in self._rows.values())

    def by_lane(self, key: Any) -> dict[str, int]:
        i = self._index[key]
        return {lane: row[i] for lane, row in self._rows.items() if row[i]}

    def check(
        self, log: ViolationLog, table: str, key: Any, value: int, done: int, *, final: bool
    ) -> None:
        """Compare a counter read under a handle with `done`, snapshotted before that read.

        Online (final=False) only a value below `done` is wrong, and a gap is reported again
        only when it has grown. Final (every thread joined): the value must equal `done`.
        Call it from one thread (the main thread's checks).
        """
        gap = done - value
        if gap > 0 and (final or gap > self._reported.get(key, 0)):
            self._reported[key] = gap
            kind = "lost-update"
        elif final and gap < 0:
            kind = "phantom-update"
        else:
            return
        log.add(
            kind,
            {
                "table": table,
                "key": key,
                "value": value,
                "completed": done,
                "by_thread": self.by_lane(key),
                "final": final,
            },
        )


class Tally:
    """Outcome counts shared by several threads (e.g. expected EntryNotFoundError misses)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, what: str, n: int = 1) -> None:
        with self._lock:
            self._counts[what] += n

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))


def checksum(*values: object) -> int:
    """A 32-bit checksum of a record's fields (stored in a U32 field)."""
    return zlib.crc32(repr(values).encode())
