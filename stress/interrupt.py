"""Ctrl-C during a run: stop soon, keep the partial report.

`on_interrupt(stop)` installs a SIGINT handler for the length of a run (main thread only). The
first Ctrl-C sets `stop` (the run's own stop flag: the event loop ends at its next event, the
background threads at their next run) and marks the run interrupted; the report is then built
as usual and marked INTERRUPTED, and the process exits 130. A second Ctrl-C raises
KeyboardInterrupt at once, for a run stuck where no flag is looked at.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupt:
    """Whether (and when) the run was interrupted."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.count = 0

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def handler(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        self.stop.set()
        sys.stderr.write("\nstress: interrupted; stopping (Ctrl-C again to abort now)\n")
        sys.stderr.flush()


@contextmanager
def on_interrupt(stop: threading.Event) -> Iterator[Interrupt]:
    intr = Interrupt(stop)
    if threading.current_thread() is not threading.main_thread():
        yield intr
        return
    old = signal.signal(signal.SIGINT, intr.handler)
    try:
        yield intr
    finally:
        signal.signal(signal.SIGINT, old)
