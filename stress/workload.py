"""The built-in workload of `stress run --plugin`: a source plugin of process and fd events.

`ProcessWorld` is a small simulated system (the source's own model of live threads and their
fds), drawing events from a seeded RNG so that a seed replays the same stream:

    kind      Event.type   Event.tid   payload (a `ProcEvent`)
    clone     CLONE (1)    new tid     ProcEvent("clone", tid, ppid=parent)
    execve    EXECVE (2)   tid         ProcEvent("execve", tid, text=new comm)
    open      OPEN (3)     tid         ProcEvent("open", tid, fd, text=file name)
    close     CLOSE (4)    tid         ProcEvent("close", tid, fd)
    read      READ (5)     tid         ProcEvent("read", tid, fd)
    exit      EXIT (6)     tid         ProcEvent("exit", tid)

The first events clone threads 1..`initial_threads`, so a parse plugin sees every tid it is
asked about appear first. `WorkloadSource` emits them as plain `concurrent_tables.Event`s
(`encode_plain`), or as real syscall events (`encode_scap`: the event codec's bytes, what a
native parse plugin expects under libsinsp), as `WorkloadSource(encode=...)` says:

    kind      scap event (Event.type)        parameters
    clone     SYSCALL_CLONE_20_X (223)       res 0 (the child), tid, pid, ptid, comm, exe
    execve    SYSCALL_EXECVE_19_X (293)      res 0, exe, comm, tid, pid, filename
    open      SYSCALL_OPEN_X (3)             fd, name
    close     SYSCALL_CLOSE_X (5)            res 0, fd
    read      SYSCALL_READ_E (6)             fd, size
    exit      PROCEXIT_1_E (186)             status 0

Each event's header carries ts = its number and tid; its payload is the `ScapEvent`, which a
Python plugin reads by parameter name (`event.payload["fd"]`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from concurrent_tables import Event, SourcePlugin
from concurrent_tables.events import PPME, ScapEvent, build

CLONE, EXECVE, OPEN, CLOSE, READ, EXIT = 1, 2, 3, 4, 5, 6
TYPES = {"clone": CLONE, "execve": EXECVE, "open": OPEN, "close": CLOSE, "read": READ, "exit": EXIT}


@dataclass(frozen=True, slots=True)
class ProcEvent:
    """One simulated process event (see the module docstring)."""

    kind: str
    tid: int
    fd: int = 0
    text: str = ""
    ppid: int = 0


class ProcessWorld:
    """The source's model: live tids and their open fds; `next_event` keeps it consistent."""

    def __init__(self, initial_threads: int = 16, max_threads: int = 64) -> None:
        self.initial = initial_threads
        self.max_threads = max_threads
        self.threads: dict[int, set[int]] = {}
        self.next_tid = 1
        self.made = 0

    def _clone(self, parent: int) -> ProcEvent:
        tid = self.next_tid
        self.next_tid += 1
        self.threads[tid] = {0, 1, 2}
        return ProcEvent("clone", tid, ppid=parent)

    def next_event(self, rng: random.Random) -> ProcEvent:
        self.made += 1
        threads = self.threads
        if len(threads) < self.initial and self.made <= self.initial:
            return self._clone(0)
        r = rng.random()
        if not threads or (r < 0.05 and len(threads) < self.max_threads):
            return self._clone(rng.choice(list(threads)) if threads else 0)
        tid = rng.choice(list(threads))
        fds = threads[tid]
        if r < 0.08 and len(threads) > self.initial // 2:
            del threads[tid]
            return ProcEvent("exit", tid)
        if r < 0.15:
            return ProcEvent("execve", tid, text=f"p{rng.randrange(1000)}")
        if r < 0.30:
            fd = max(fds) + 1
            fds.add(fd)
            return ProcEvent("open", tid, fd, f"/tmp/f{fd}")
        if r < 0.40 and len(fds) > 3:
            fd = rng.choice(sorted(fds - {0, 1, 2}))
            fds.discard(fd)
            return ProcEvent("close", tid, fd)
        return ProcEvent("read", tid, rng.choice(sorted(fds)))


def encode_plain(ev: ProcEvent, n: int) -> Event:
    """A plain host `Event`: type from `TYPES`, the `ProcEvent` as payload."""
    return Event(ts=n, tid=ev.tid, type=TYPES[ev.kind], payload=ev)


def scap_event(ev: ProcEvent, n: int) -> ScapEvent:
    """The syscall event a kernel driver would report for `ev` (see the module docstring)."""
    tid = ev.tid
    if ev.kind == "clone":
        comm = f"thread-{tid}"
        params = {"res": 0, "tid": tid, "pid": tid, "ptid": ev.ppid, "comm": comm, "exe": comm}
        return build(PPME.SYSCALL_CLONE_20_X, params, ts=n, tid=tid)
    if ev.kind == "execve":
        params = {"res": 0, "tid": tid, "pid": tid, "exe": ev.text, "comm": ev.text}
        return build(PPME.SYSCALL_EXECVE_19_X, params, ts=n, tid=tid, filename=ev.text)
    if ev.kind == "open":
        return build(PPME.SYSCALL_OPEN_X, ts=n, tid=tid, fd=ev.fd, name=ev.text)
    if ev.kind == "close":
        return build(PPME.SYSCALL_CLOSE_X, ts=n, tid=tid, res=0, fd=ev.fd)
    if ev.kind == "read":
        return build(PPME.SYSCALL_READ_E, ts=n, tid=tid, fd=ev.fd, size=4096)
    assert ev.kind == "exit", ev.kind
    return build(PPME.PROCEXIT_1_E, ts=n, tid=tid, status=0)


def encode_scap(ev: ProcEvent, n: int) -> Event:
    """A host `Event` carrying the real syscall event of `ev` (its bytes go to native plugins)."""
    scap = scap_event(ev, n)
    return Event(ts=n, tid=ev.tid, type=scap.type, payload=scap)


class WorkloadSource(SourcePlugin):
    """Emits `ProcessWorld` events from a seeded RNG, without end (the runner stops it)."""

    name = "stress-workload"

    def __init__(
        self, seed: int, *, encode: Callable[[ProcEvent, int], Event] = encode_plain
    ) -> None:
        self.seed = seed
        self.encode = encode

    def open(self) -> Iterator[Event]:
        world, rng, encode = ProcessWorld(), random.Random(self.seed), self.encode
        n = 0
        while True:
            n += 1
            yield encode(world.next_event(rng), n)
