"""Background tasks: a thread that runs a function periodically until asked to stop.

    task = BackgroundTask(refresh, interval=0.01, name="refresh").start()
    ...
    task.stop(timeout=5.0)      # request stop, join; False if the thread did not end in time
    task.raise_errors()         # PluginError if the function raised or the join timed out

`target()` is called, then the task sleeps `interval` seconds (waking at once on a stop
request), and so on until a stop is requested, `target()` returns False, or it raises. Errors
are collected, never lost: the host reports them when it stops the task. Threads are daemons,
so a task that ignores its stop request cannot keep the interpreter alive; `stop` still reports
it. A task started for a plugin carries that plugin's `ThreadRole`, which turns off-thread use
of confined objects into an access denial naming the rule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Self

from ..errors import BackgroundError, PluginError, TaskUsageError
from ..roles import ThreadRole, set_role


class BackgroundTask:
    """A daemon thread calling `target()` every `interval` seconds until stopped."""

    def __init__(
        self,
        target: Callable[[], bool | None],
        *,
        interval: float = 0.0,
        name: str = "background-task",
        role: ThreadRole | None = None,
        stop_on_error: bool = True,
    ) -> None:
        if not interval >= 0:  # negative, or NaN
            raise TaskUsageError(name, f"interval must be >= 0 seconds, got {interval!r}")
        self.target = target
        self.interval = interval
        self.name = name
        self.role = role
        self.stop_on_error = stop_on_error
        self.runs = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the thread (once)."""
        if self._thread is not None:
            raise TaskUsageError(self.name, "already started (a task runs once)")
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the task to stop after its current run; does not wait."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        """True once a stop was requested (a long-running target should poll it)."""
        return self._stop.is_set()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking on a stop request; True if a stop was requested."""
        return self._stop.wait(seconds)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it has ended (or never started)."""
        t = self._thread
        if t is None:
            return True
        t.join(timeout)
        return not t.is_alive()

    def stop(self, timeout: float | None = 5.0) -> bool:
        """Request a stop and join; a thread still alive after `timeout` is recorded as an error."""
        self.request_stop()
        ended = self.join(timeout)
        if not ended:
            self.errors.append(
                PluginError(f"background task '{self.name}' did not stop within {timeout}s")
            )
        return ended

    @property
    def running(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    def raise_errors(self) -> None:
        """Raise a PluginError carrying every error the task collected, if any."""
        raise_collected(self.errors, f"background task '{self.name}'")

    # -- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        set_role(self.role)
        try:
            while not self._stop.is_set():
                try:
                    result = self.target()
                except BaseException as exc:  # collected and reported by the host, never lost
                    self.errors.append(exc)
                    if self.stop_on_error:
                        break
                    result = None
                self.runs += 1
                if result is False:
                    break
                # interval 0: call again at once. No time.sleep(0) here: it hands the GIL to a
                # busy thread (the capture thread) for a whole switch interval, capping a busy
                # task at one run per interval (~200/s); the interpreter's switch interval
                # already makes busy threads take turns.
                if self.interval and self._stop.wait(self.interval):
                    break
        finally:
            set_role(None)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"<BackgroundTask '{self.name}' {state}, {self.runs} runs, {len(self.errors)} errors>"
        )


def stop_all(tasks: Iterable[BackgroundTask], timeout: float | None = 5.0) -> list[BaseException]:
    """Request every task to stop, then join each; returns every collected error."""
    tasks = list(tasks)
    for t in tasks:
        t.request_stop()  # all at once, so the joins overlap
    errors: list[BaseException] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    for t in tasks:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        t.stop(left)
        errors.extend(t.errors)
    return errors


def raise_collected(errors: list[BaseException], what: str) -> None:
    """Raise one BackgroundError for `errors` (chained from the first), if there are any."""
    if errors:
        raise BackgroundError(what, errors) from errors[0]
