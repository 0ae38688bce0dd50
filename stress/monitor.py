"""The monitor thread: the live progress line and the deadlock watchdog.

Watchdog: every lane (thread) counts the operations it completed. A lane whose count has not moved
for `stall_s` seconds while the run is going is stuck: the monitor dumps every thread's stack
(`sys._current_frames`), records a `deadlock` violation with the stacks, prints them on stderr and
stops the run. The tables' lock timeout is longer than `stall_s`, so a thread blocked on an entry
lock is still blocked when its stack is taken, and then gets LockTimeoutError, which ends it.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TextIO

from .invariants import ViolationLog
from .scenario import Lane

#: Throughput timeline resolution (seconds).
TIMELINE_S = 0.25


def thread_stacks() -> dict[str, str]:
    """Every live thread's current stack, by thread name."""
    names = {t.ident: t.name for t in threading.enumerate()}
    frames = sys._current_frames()
    return {
        f"{names.get(tid, '?')} ({tid})": "".join(traceback.format_stack(frame))
        for tid, frame in frames.items()
    }


class Monitor(threading.Thread):
    """Progress on stderr plus the per-lane stall watchdog (see the module docstring)."""

    def __init__(
        self,
        lanes: Sequence[Lane],
        violations: ViolationLog,
        stop: threading.Event,
        *,
        stall_s: float,
        progress: bool,
        stream: TextIO | None = None,
        alive: Callable[[Lane], bool] = lambda lane: True,
        busy_since: Callable[[Lane], float | None] = lambda lane: None,
    ) -> None:
        super().__init__(name="stress-monitor", daemon=True)
        self.lanes = lanes
        self.violations = violations
        self.stop_run = stop
        self.stall_s = stall_s
        self.stream = stream if stream is not None else sys.stderr
        self.progress = progress
        self.tty = progress and self.stream.isatty()
        self.alive = alive
        self.busy_since = busy_since
        #: (seconds since start, ops/s over the last interval), every TIMELINE_S.
        self.timeline: list[tuple[float, float]] = []
        self._done = threading.Event()
        self.deadlocked: list[str] = []
        self.t0 = time.monotonic()
        self._tl_total, self._tl_t = 0, self.t0

    def finish(self) -> None:
        self._done.set()
        self.join()
        # The last, partial interval (a run shorter than one interval gets its only point).
        now = time.monotonic()
        if now - self._tl_t > 0.01:
            total = sum(lane.ops for lane in list(self.lanes))
            self.timeline.append(
                (round(now - self.t0, 3), round((total - self._tl_total) / (now - self._tl_t), 1))
            )
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def run(self) -> None:
        # `lanes` may grow while the run goes (plugin runs add a lane per new thread).
        last: dict[int, tuple[int, float]] = {}
        prev_total, prev_t = 0, time.monotonic()
        self._tl_total, self._tl_t = 0, prev_t
        next_print = prev_t + (0.2 if self.tty else 1.0)
        while not self._done.wait(0.05):
            now = time.monotonic()
            stuck = []
            lanes = list(self.lanes)
            for lane in lanes:
                ops, since = last.get(id(lane), (lane.ops, now))
                busy = self.busy_since(lane)
                if busy is not None and busy > since:
                    since = busy  # a thread counts as stuck from the start of its callback
                if lane.ops != ops:
                    last[id(lane)] = (lane.ops, now)
                else:
                    last[id(lane)] = (ops, since)
                    if now - since > self.stall_s and self.alive(lane):
                        stuck.append(lane.name)
            if stuck and not self.stop_run.is_set():
                self._deadlock(stuck)
            total = sum(lane.ops for lane in lanes)
            if now - self._tl_t >= TIMELINE_S:
                rate = (total - self._tl_total) / (now - self._tl_t)
                self.timeline.append((round(now - self.t0, 3), round(rate, 1)))
                self._tl_total, self._tl_t = total, now
            if self.progress and now >= next_print:
                rate = (total - prev_total) / max(now - prev_t, 1e-9)
                prev_total, prev_t = total, now
                self._print(now - self.t0, total, rate)
                next_print = now + (0.2 if self.tty else 1.0)

    def _print(self, elapsed: float, total: int, rate: float) -> None:
        line = (
            f"[{elapsed:6.1f}s] ops {total:>11,}  {rate:>10,.0f} ops/s  "
            f"violations {self.violations.total}"
        )
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _deadlock(self, stuck: list[str]) -> None:
        self.deadlocked = stuck
        stacks = thread_stacks()
        self.violations.add(
            "deadlock",
            {
                "stalled_threads": stuck,
                "no_progress_for_s": self.stall_s,
                "stacks": stacks,
            },
        )
        out = [f"\nstress: no progress for {self.stall_s:g}s in {', '.join(stuck)}; stacks:"]
        for name, stack in stacks.items():
            out.append(f"--- {name}\n{stack}")
        self.stream.write("\n".join(out) + "\n")
        self.stream.flush()
        self.stop_run.set()
