"""The host's routine pool: capture-listen routines on a small, fixed set of worker threads.

    pool = RoutinePool(size=2)
    h = pool.subscribe(step, plugin="myplugin")   # step() -> truthy: run again; falsy: done
    pool.unsubscribe(h)                           # True if it was subscribed
    pool.purge()                                  # remove all, wait for running ones
    pool.close()                                  # purge, stop and join the workers

As libsinsp's pool (docs/c-abi.md): `subscribe` queues one task; each task runs the
routine once and re-queues it at once while it returns true (plugins pace themselves);
`unsubscribe` removes a routine without waiting (a running iteration completes); `purge` after
capture_close removes every routine, drops queued tasks and awaits running ones. Workers are
daemons carrying the routine's plugin `ThreadRole` while it runs, so a routine touching a
confined table gets an access denial. A routine that raises is removed; its error is kept in
`errors`, logged, and offered to `on_error`.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..roles import ROUTINE, ThreadRole, set_role

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Routine:
    handle: int
    fn: Callable[[], Any]
    role: ThreadRole
    runs: int = 0


class RoutinePool:
    """A fixed pool of daemon workers running subscribed routines (see the module docstring)."""

    def __init__(
        self, size: int = 2, *, on_error: Callable[[BaseException], None] | None = None
    ) -> None:
        if size < 1:
            raise ValueError(f"a routine pool needs at least one thread, got {size}")
        self.size = size
        self.on_error = on_error
        self.errors: list[BaseException] = []
        self._cond = threading.Condition()
        self._routines: dict[int, _Routine] = {}
        self._queue: collections.deque[int] = collections.deque()
        self._running = 0
        self._closed = False
        self._ids = itertools.count(1)
        self._workers: list[threading.Thread] = []

    def _start_workers(self) -> None:
        while len(self._workers) < self.size:
            t = threading.Thread(
                target=self._work, name=f"routine-pool-{len(self._workers)}", daemon=True
            )
            self._workers.append(t)
            t.start()

    def subscribe(self, fn: Callable[[], Any], *, plugin: str) -> int:
        """Start running `fn` until it returns falsy or is unsubscribed; returns its handle."""
        with self._cond:
            if self._closed:
                raise RuntimeError("routine pool is closed")
            h = next(self._ids)
            self._routines[h] = _Routine(h, fn, ThreadRole(plugin, ROUTINE))
            self._queue.append(h)
            self._start_workers()
            self._cond.notify()
            return h

    def unsubscribe(self, handle: int) -> bool:
        """Remove a routine, without waiting for a running iteration; False if unknown."""
        with self._cond:
            return self._routines.pop(handle, None) is not None

    def active(self, plugin: str | None = None) -> int:
        """How many routines are subscribed (of `plugin`, if given)."""
        with self._cond:
            return sum(1 for r in self._routines.values() if plugin in (None, r.role.plugin))

    def purge(self, plugin: str | None = None, timeout: float = 5.0) -> bool:
        """Remove every routine (of `plugin`) and wait until none is running; False on timeout."""
        with self._cond:
            for h, r in list(self._routines.items()):
                if plugin in (None, r.role.plugin):
                    del self._routines[h]
            self._queue = collections.deque(h for h in self._queue if h in self._routines)
            return self._cond.wait_for(lambda: self._running == 0, timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Purge, then stop and join the workers; False if one did not end in time."""
        ok = self.purge(timeout=timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._workers:
            t.join(timeout)
            ok = ok and not t.is_alive()
        return ok

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                r = self._routines.get(self._queue.popleft())
                if r is None:
                    continue  # unsubscribed while queued
                self._running += 1
            set_role(r.role)
            again = False
            try:
                again = bool(r.fn())
            except BaseException as exc:  # a routine must never kill a worker
                self._report(r, exc)
            finally:
                set_role(None)
            r.runs += 1
            with self._cond:
                self._running -= 1
                if again and self._routines.get(r.handle) is r and not self._closed:
                    self._queue.append(r.handle)
                else:
                    self._routines.pop(r.handle, None)
                self._cond.notify_all()

    def _report(self, r: _Routine, exc: BaseException) -> None:
        exc.add_note(f"in routine {r.handle} of {r.role}")
        self.errors.append(exc)
        log.error("routine %d of plugin '%s' failed: %s", r.handle, r.role.plugin, exc)
        if self.on_error is not None:
            try:
                self.on_error(exc)
            except Exception:  # the callback's own failure must not stop the pool
                log.exception("on_error callback failed")

    def __repr__(self) -> str:
        return f"<RoutinePool {self.size} threads, {self.active()} routines>"


__all__ = ["RoutinePool"]
