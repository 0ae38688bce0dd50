"""Deliberately broken scenarios: proof that the harness sees what it claims to see.

`unsafe-counter`
    Workers increment a counter as read-modify-write split across two handles: the value is read
    under a read handle, the GIL is given up (`time.sleep(0)`), and value + 1 is written under a
    separate write handle. Each handle is correctly locked; the *sequence* is not atomic, so
    increments are lost. The run must fail with a `lost-update` violation (exit 1), within a
    second or two. If it ever passes, the lost-update check is broken.

`lock-inversion` (hidden; for tests of --detect)
    One worker nests alpha[1] -> beta[1] and alpha[1] -> alpha[2]; another nests the same locks
    the other way round. A plain gate lock (invisible to the tracer) keeps them from ever running
    at the same time, so the run never deadlocks, yet under --detect the lock-order graph has the
    cycles and the run must fail with `lock-order-cycle`. Without --detect it passes.

`deadlock` (hidden; for tests of the watchdog)
    The same inversion without the gate, and a barrier so that each thread holds its first lock
    before it asks for its second: a real deadlock on the first step. The watchdog must report
    it with every thread's stack (exit 1); the two threads then end with LockTimeoutError.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from concurrent_tables import U32, U64, EntrySchema, Table

from .api import Api
from .invariants import CounterLedger
from .scenario import Lane, Scenario, Worker, register


class Count(EntrySchema):
    count: U64


@register
class UnsafeCounter(Scenario):
    name = "unsafe-counter"
    description = (
        "canary: read under one handle, write under another; the harness must report the "
        "lost updates"
    )
    expect_violation = "lost-update"
    checks = ("lost-update", "phantom-update")
    switch_interval_s = 1e-5
    min_threads = 2
    keys = (0, 1)

    def setup(self) -> None:
        t = self.table = self.ctx.make_table("counter", U32, Count)
        self.f = t.get_field("count", U64)
        for k in self.keys:
            t.add_entry(k, t.create_entry())

    def workers(self, n: int) -> list[Worker]:
        out = [Worker(f"incrementer-{i}", "writer", self._racy_increment) for i in range(n)]
        self.ledger = CounterLedger(self.keys, ["main", *(w.name for w in out)])
        return out

    def _racy_increment(self, lane: Lane) -> int:
        k = lane.rng.choice(self.keys)
        with self.table.read(k) as h:
            v = h[self.f]
        time.sleep(0)  # the window: another thread reads the same v here
        with self.table.write(k) as h:
            h[self.f] = v + 1
        self.ledger.record(lane.name, k)
        return 2

    def _check(self, api: Api, final: bool) -> int:
        t = api["counter"]
        for k in self.keys:
            done = self.ledger.completed(k)
            with api.read(t, k) as h:
                v = h[self.f]
            self.ledger.check(self.ctx.violations, "counter", k, v, done, final=final)
        return len(self.keys)

    def parse(self, lane: Lane, event: Any, api: Api) -> int:
        time.sleep(0.001)
        return self._check(api, final=False)

    def finish(self) -> None:
        self._check(self.direct, final=True)


class Cell(EntrySchema):
    n: U64


@register
class LockInversion(Scenario):
    name = "lock-inversion"
    description = "canary (hidden): two threads nest the same entry locks in opposite orders"
    hidden = True
    expect_violation = "lock-order-cycle"
    checks = ()
    min_threads = 2

    def setup(self) -> None:
        self.alpha = self.ctx.make_table("alpha", U32, Cell)
        self.beta = self.ctx.make_table("beta", U32, Cell)
        for t in (self.alpha, self.beta):
            for k in (1, 2):
                t.add_entry(k, t.create_entry())
        self.gate = threading.Lock()  # never traced: it hides the inversion from the run

    def workers(self, n: int) -> list[Worker]:
        out = [
            Worker("forward", "writer", self._forward, pause_s=0.001),
            Worker("backward", "writer", self._backward, pause_s=0.001),
        ]
        return out + [Worker(f"idle-{i}", "idle", self._idle, pause_s=0.01) for i in range(n - 2)]

    def _nested(self, t1: Table[Any, Any], k1: int, t2: Table[Any, Any], k2: int) -> None:
        with t1.write(k1) as h1, t2.write(k2) as h2:
            h1[t1.field("n")] = h1[t1.field("n")] + 1
            h2[t2.field("n")] = h2[t2.field("n")] + 1

    def _forward(self, lane: Lane) -> int:
        with self.gate:
            self._nested(self.alpha, 1, self.beta, 1)
            self._nested(self.alpha, 1, self.alpha, 2)
        return 2

    def _backward(self, lane: Lane) -> int:
        with self.gate:
            self._nested(self.beta, 1, self.alpha, 1)
            self._nested(self.alpha, 2, self.alpha, 1)
        return 2

    def _idle(self, lane: Lane) -> int:
        return 1

    def parse(self, lane: Lane, event: Any, api: Api) -> int:
        time.sleep(0.001)
        return 1


@register
class Deadlock(Scenario):
    name = "deadlock"
    description = "canary (hidden): a real AB/BA deadlock; the watchdog must catch it"
    hidden = True
    expect_violation = "deadlock"
    checks = ()
    min_threads = 2

    def setup(self) -> None:
        self.alpha = self.ctx.make_table("alpha", U32, Cell)
        self.beta = self.ctx.make_table("beta", U32, Cell)
        for t in (self.alpha, self.beta):
            t.add_entry(1, t.create_entry())
        # Both threads take their first lock before either asks for its second.
        self.barrier = threading.Barrier(2, timeout=self.ctx.options.stall_s)

    def workers(self, n: int) -> list[Worker]:
        return [
            Worker("forward", "writer", self._forward),
            Worker("backward", "writer", self._backward),
        ]

    def _both(self, first: Table[Any, Any], second: Table[Any, Any]) -> int:
        with first.write(1):
            self.barrier.wait()
            with second.write(1):
                pass
        return 1

    def _forward(self, lane: Lane) -> int:
        return self._both(self.alpha, self.beta)

    def _backward(self, lane: Lane) -> int:
        return self._both(self.beta, self.alpha)

    def parse(self, lane: Lane, event: Any, api: Api) -> int:
        time.sleep(0.001)
        return 1
