"""The real scenarios: `parse-vs-background` (default), `writers`, `churn`.

Each splits its main-thread work into the host's halves (source `next_event`, `parse`,
`extract`, through an `Api`) and runs its workers on the raw thread-safe tables; see
`stress.scenario`. Deliberately broken scenarios live in `stress.canaries`.
"""

from __future__ import annotations

import queue
import random
import time
from dataclasses import dataclass
from typing import Any

from concurrent_tables import (
    I64,
    U8,
    U32,
    U64,
    EntryHandle,
    EntrySchema,
    Field,
    NestedTable,
    String,
    Table,
)
from concurrent_tables.errors import (
    AccessDeniedError,
    BorrowError,
    EntryExistsError,
    EntryNotFoundError,
    ForeignFieldError,
    InvalidValueError,
    ReadOnlyHandleError,
    ReentrancyError,
    StaleHandleError,
    WrongThreadError,
)
from concurrent_tables.importing.backends import EntryView

from .api import Api
from .invariants import CounterLedger, Tally, checksum
from .scenario import Lane, RunContext, Scenario, Worker, register

# -- shared probes -----------------------------------------------------------------------------


class Config(EntrySchema):
    """A single-threaded table owned by the main thread (for the misuse probes)."""

    value: U64


def expect_raises(ctx: RunContext, what: str, exc: type[BaseException], fn: Any, *args: Any) -> int:
    """Run a misuse probe: `fn(*args)` must raise `exc`; anything else is a violation."""
    try:
        fn(*args)
    except exc:
        return 1
    except Exception as other:  # any other outcome is the violation itself
        ctx.violation("missing-check", probe=what, expected=exc.__name__, got=repr(other))
        return 1
    ctx.violation("missing-check", probe=what, expected=exc.__name__, got="no error")
    return 1


def make_config(ctx: RunContext) -> Table[Any, Any]:
    cfg = ctx.make_table("config", U32, Config, thread_safe=False, track=False)
    cfg.add_entry(0, cfg.create_entry())
    return cfg


def _read_in(table: Table[Any, Any], key: Any) -> None:
    with table.read(key):
        pass


def _write_in(table: Table[Any, Any], key: Any) -> None:
    with table.write(key):
        pass


def _write_api(api: Api, table: Any, key: Any) -> None:
    with api.write(table, key):
        pass


def _use(h: EntryHandle, f: Field) -> Any:
    return h[f]


def _put(h: EntryHandle, f: Field, v: Any) -> None:
    h[f] = v


# -- parse-vs-background ----------------------------------------------------------------------


class FileDescriptor(EntrySchema):
    fd: I64
    name: String
    type: U8
    csum: U32  # checksum(fd, name, type)


class ThreadInfo(EntrySchema):
    tid: I64
    pid: I64
    comm: String
    exe: String
    gen: U64
    csum: U32  # checksum(tid, pid, comm, exe, gen): written under one write handle
    num_events: U64  # counter: the parser and the listen routine both increment it
    last_seen: U64
    origin: U8  # 0 parsed, 1 inserted by an async thread
    file_descriptors: NestedTable[I64, FileDescriptor]


STABLE_TIDS = range(1, 17)  # never erased: the counters live here
OWN_TIDS = range(1000, 1200)  # created and erased by the parser only
ASYNC_BASE = 10_000_000  # async lane i inserts ASYNC_BASE * (i + 1) + n
ASYNC_INFLIGHT = 32  # announced entries an async lane keeps before it waits for acks
ASYNC_PACE = 2  # beyond ASYNC_INFLIGHT, a lane announces once per ASYNC_PACE source events
PROBE_EVERY = 256  # one event in 256 is a "probe" event: misuse probes
PROBE_EVERY_DETECT = 32  # under --detect, where a run parses ten times fewer events


@dataclass(frozen=True, slots=True)
class ProcEvent:
    """A synthetic process event, as the source emits it.

    `kind`: syscall (tid, fd), execve (tid, text = new comm), clone (tid), exit (tid),
    open (tid, fd, text = file name), close (tid, fd), probe (tid). After parsing, the extract
    half reads thread `look_tid` and its fd `look_fd`, which exist once the event is parsed.
    """

    kind: str
    tid: int
    fd: int = 0
    text: str = ""
    look_tid: int = 1
    look_fd: int = 0


@dataclass(frozen=True, slots=True)
class Announce:
    """Pushed by async lane `lane` once it inserted thread `tid` (with comm `comm`)."""

    lane: str
    tid: int
    comm: str


@register
class ParseVsBackground(Scenario):
    """The main thread parses; async threads insert and erase; a listen routine refreshes."""

    name = "parse-vs-background"
    description = (
        "main thread parses process events into a thread-safe `threads` table with nested "
        "`file_descriptors`; async threads insert/erase entries; a listen routine refreshes"
    )

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self.acks: dict[str, queue.SimpleQueue[int]] = {}
        self.world: dict[int, set[int]] = {}  # the source's model: parser-created tid -> fds
        self.made = 0  # events the source made
        self.steps = 0  # source events parsed
        self.tally = Tally()  # shared by the async threads
        self.seen_announced = 0
        self.probes = 0

    # -- setup ---------------------------------------------------------------------------------

    def setup(self) -> None:
        t = self.threads = self.ctx.make_table("threads", I64, ThreadInfo)
        self.f_tid = t.get_field("tid", I64)
        self.f_pid = t.get_field("pid", I64)
        self.f_comm = t.get_field("comm", String)
        self.f_exe = t.get_field("exe", String)
        self.f_gen = t.get_field("gen", U64)
        self.f_csum = t.get_field("csum", U32)
        self.f_num = t.get_field("num_events", U64)
        self.f_seen = t.get_field("last_seen", U64)
        self.f_origin = t.get_field("origin", U8)
        self.f_fds = t.field("file_descriptors")
        assert self.f_fds.nested is not None
        self.g_fd = self.f_fds.nested.get("fd", I64)
        self.g_name = self.f_fds.nested.get("name", String)
        self.g_type = self.f_fds.nested.get("type", U8)
        self.g_csum = self.f_fds.nested.get("csum", U32)
        self.cfg = make_config(self.ctx)
        for tid in STABLE_TIDS:
            self._insert(self.direct, tid, f"init-{tid}", 0)

    def workers(self, n: int) -> list[Worker]:
        out = [Worker("listen-0", "listen", self._listen_step, pause_s=0.002)]
        for i in range(n - 1):
            name = f"async-{i}"
            self.acks[name] = queue.SimpleQueue()
            out.append(Worker(name, "async", self._async_step(i, name)))
        self.ledger = CounterLedger(list(STABLE_TIDS), ["main", *(w.name for w in out)])
        return out

    # -- records -------------------------------------------------------------------------------

    def _fill(self, h: EntryView, tid: int, pid: int, comm: str, exe: str, gen: int) -> None:
        """Write the identity record under one write handle, yielding between fields."""
        y = self.ctx.yield_point
        h[self.f_tid] = tid
        h[self.f_pid] = pid
        y()
        h[self.f_comm] = comm
        y()
        h[self.f_exe] = exe
        y()
        h[self.f_gen] = gen
        y()
        h[self.f_csum] = checksum(tid, pid, comm, exe, gen)

    def _verify(self, h: EntryView, key: int) -> None:
        tid, pid, comm = h[self.f_tid], h[self.f_pid], h[self.f_comm]
        exe, gen, cs = h[self.f_exe], h[self.f_gen], h[self.f_csum]
        if checksum(tid, pid, comm, exe, gen) != cs:
            self.ctx.violation(
                "torn-read",
                table="threads",
                key=key,
                record=[tid, pid, comm, exe, gen],
                checksum=cs,
            )
        elif tid != key:
            self.ctx.violation("wrong-entry", table="threads", key=key, tid=tid)

    def _fill_fd(self, fh: EntryView, fd: int, name: str, typ: int) -> None:
        y = self.ctx.yield_point
        fh[self.g_fd] = fd
        fh[self.g_name] = name
        y()
        fh[self.g_type] = typ
        y()
        fh[self.g_csum] = checksum(fd, name, typ)

    def _verify_fd(self, fh: EntryView, tid: int, fd: int) -> None:
        got = (fh[self.g_fd], fh[self.g_name], fh[self.g_type])
        if checksum(*got) != fh[self.g_csum] or got[0] != fd:
            self.ctx.violation(
                "torn-read", table="file_descriptors", tid=tid, fd=fd, record=list(got)
            )

    def _insert(self, api: Api, tid: int, comm: str, origin: int) -> None:
        """Create thread `tid` with fds 0-2, then attach it (EntryExistsError if present)."""
        t = api["threads"]
        e = api.create(t)
        self._fill(e, tid, tid, comm, f"/usr/bin/{comm}", 0)
        e[self.f_origin] = origin
        fds = e[self.f_fds]
        for fd in (0, 1, 2):
            fe = api.create(fds)
            self._fill_fd(fe, fd, f"/dev/pts/{fd}", 1)
            api.add(fds, fd, fe)
        api.add(t, tid, e)

    # -- source: a consistent stream of process events ----------------------------------------

    def next_event(self, rng: random.Random) -> ProcEvent:
        """The next event of a small simulated system (the source's own model, `world`)."""
        self.made += 1
        world = self.world
        every = PROBE_EVERY_DETECT if self.ctx.detect else PROBE_EVERY
        if self.made % every == every // 4:  # the first one early: short runs probe too
            kind, tid, fd, text = "probe", rng.choice(STABLE_TIDS), 0, ""
        else:
            r = rng.random()
            if r >= 0.80 and not world:
                r = 0.75  # exit, open or close need a parser-created thread: clone one
            elif 0.70 <= r < 0.80 and len(world) >= len(OWN_TIDS) // 2:
                r = 0.85  # enough threads: exit one instead
            fd, text = 0, ""
            if r < 0.55:
                kind, tid, fd = "syscall", rng.choice(STABLE_TIDS), rng.randrange(3)
            elif r < 0.70:
                pool = STABLE_TIDS if not world or rng.random() < 0.5 else list(world)
                kind, tid, text = "execve", rng.choice(pool), f"p{rng.randrange(1000)}"
            elif r < 0.80:
                kind, tid = "clone", rng.choice(OWN_TIDS)
                while tid in world:
                    tid = OWN_TIDS[(tid - OWN_TIDS[0] + 1) % len(OWN_TIDS)]
                world[tid] = {0, 1, 2}
            elif r < 0.88:
                kind, tid = "exit", rng.choice(list(world))
                del world[tid]
            else:
                tid = rng.choice(list(world))
                fds = world[tid]
                if len(fds) > 3 and rng.random() < 0.5:
                    kind, fd = "close", rng.choice(sorted(fds - {0, 1, 2}))
                    fds.discard(fd)
                else:
                    kind, fd = "open", max(fds) + 1
                    text = f"/tmp/f{fd}"
                    fds.add(fd)
        if world and rng.random() < 0.4:
            look = rng.choice(list(world))
            look_fd = rng.choice(sorted(world[look]))
        else:
            look, look_fd = rng.choice(STABLE_TIDS), rng.randrange(3)
        return ProcEvent(kind, tid, fd, text, look, look_fd)

    # -- parse -----------------------------------------------------------------------------------

    def parse(self, lane: Lane, event: Any, api: Api) -> int:
        if event.__class__ is Announce:
            return self._announced(event, api)
        self.steps += 1
        kind = event.kind
        if kind == "syscall":
            return self._syscall(lane, api, event.tid, event.fd)
        if kind == "execve":
            return self._execve(api, event.tid, event.text)
        if kind == "clone":
            return self._clone(api, event.tid)
        if kind == "exit":
            return self._exit(api, event.tid)
        if kind == "open":
            return self._open(api, event.tid, event.fd, event.text)
        if kind == "close":
            return self._close(api, event.tid, event.fd)
        return self._probes(event.tid)

    def _syscall(self, lane: Lane, api: Api, tid: int, fd: int) -> int:
        """A read/write on a stable thread: count the event, touch the fd (nested lock)."""
        y = self.ctx.yield_point
        with api.write(api["threads"], tid) as h:
            n = h[self.f_num]
            y()
            h[self.f_num] = n + 1
            h[self.f_seen] = self.steps
            with api.write(h[self.f_fds], fd) as fh:
                self._fill_fd(fh, fd, f"/dev/pts/{fd}", 1 + self.steps % 8)
        self.ledger.record(lane.name, tid)
        return 2

    def _execve(self, api: Api, tid: int, comm: str) -> int:
        try:
            with api.write(api["threads"], tid) as h:
                gen = h[self.f_gen] + 1
                self._fill(h, tid, h[self.f_pid], comm, f"/usr/bin/{comm}", gen)
        except EntryNotFoundError:
            self.ctx.violation("lost-entry", table="threads", key=tid, why="execve: no thread")
        return 1

    def _clone(self, api: Api, tid: int) -> int:
        try:
            self._insert(api, tid, f"c{tid}", 0)
        except EntryExistsError:
            self.ctx.violation("lost-entry", table="threads", key=tid, why="erased tid exists")
        return 1

    def _exit(self, api: Api, tid: int) -> int:
        try:
            api.erase(api["threads"], tid)
        except EntryNotFoundError:
            self.ctx.violation("lost-entry", table="threads", key=tid, why="own tid vanished")
        return 1

    def _open(self, api: Api, tid: int, fd: int, name: str) -> int:
        """A structural change of a nested table under a read handle on its parent."""
        try:
            with api.read(api["threads"], tid) as h:
                fds = h[self.f_fds]
                fe = api.create(fds)
                self._fill_fd(fe, fd, name, 2)
                try:
                    api.add(fds, fd, fe)
                except EntryExistsError:
                    self.ctx.violation("lost-entry", table="file_descriptors", tid=tid, fd=fd,
                                       why="closed fd exists")  # fmt: skip
        except EntryNotFoundError:
            self.ctx.violation("lost-entry", table="threads", key=tid, why="open: no thread")
        return 2

    def _close(self, api: Api, tid: int, fd: int) -> int:
        try:
            with api.read(api["threads"], tid) as h:
                try:
                    api.erase(h[self.f_fds], fd)
                except EntryNotFoundError:
                    self.ctx.violation("lost-entry", table="file_descriptors", tid=tid, fd=fd)
        except EntryNotFoundError:
            self.ctx.violation("lost-entry", table="threads", key=tid, why="close: no thread")
        return 2

    def _announced(self, event: Announce, api: Api) -> int:
        """An async lane inserted `event.tid` before announcing it: it must be all there."""
        tid = event.tid
        self.seen_announced += 1
        try:
            with api.read(api["threads"], tid) as h:
                self._verify(h, tid)
                if h[self.f_comm] != event.comm or h[self.f_origin] != 1:
                    self.ctx.violation(
                        "visibility",
                        table="threads",
                        key=tid,
                        why="values written before the announcement are not visible",
                        comm=h[self.f_comm],
                        expected=event.comm,
                    )
                fds = h[self.f_fds]
                if api.size(fds) != 3:
                    self.ctx.violation("visibility", table="file_descriptors", tid=tid)
                with api.read(fds, 1) as fh:
                    self._verify_fd(fh, tid, 1)
        except EntryNotFoundError as exc:
            self.ctx.violation(
                "visibility", table="threads", key=tid, why=f"announced entry missing: {exc}"
            )
        self.acks[event.lane].put(tid)
        return 2

    def _probes(self, tid: int) -> int:
        """Misuse that must raise: stale handle, re-entrant locks, borrow conflict, bad values.

        On the raw tables: the parser is their owner (the owner-side API).
        """
        ctx, t = self.ctx, self.threads
        with t.read(tid) as h:
            pass
        n = expect_raises(ctx, "read via a released handle", StaleHandleError, _use, h, self.f_comm)
        with t.write(tid) as h:
            n += expect_raises(ctx, "second write handle", ReentrancyError, _write_in, t, tid)
            n += expect_raises(ctx, "read while writing", ReentrancyError, _read_in, t, tid)
            n += expect_raises(ctx, "erase a held entry", ReentrancyError, t.erase_entry, tid)
            n += expect_raises(
                ctx, "u8 out of range", InvalidValueError, _put, h, self.f_origin, 300
            )
            n += expect_raises(ctx, "string into int", InvalidValueError, _put, h, self.f_pid, "x")
            n += expect_raises(
                ctx, "field of another table", ForeignFieldError, _put, h, self.g_fd, 1
            )
        with t.read(tid) as h:
            n += expect_raises(ctx, "write via a read handle", ReadOnlyHandleError, _put, h,
                               self.f_comm, "x")  # fmt: skip
        with self.cfg.write(0):
            n += expect_raises(ctx, "conflicting borrow", BorrowError, _read_in, self.cfg, 0)
        self.probes += n
        return n

    # -- extract ---------------------------------------------------------------------------------

    def extract(self, lane: Lane, event: Any, api: Api) -> int:
        """Read the thread the event points at (+ checksum) and one of its fds."""
        if event.__class__ is Announce:
            return 0
        tid, fd = event.look_tid, event.look_fd
        threads = api["threads"]
        n = 2
        if event.kind == "probe":  # extract is read only, whoever runs it
            n += expect_raises(self.ctx, "write in the extract phase", AccessDeniedError,
                               _write_api, api, threads, tid)  # fmt: skip
            self.probes += 1
        try:
            with api.read(threads, tid) as h:
                self._verify(h, tid)
                try:
                    with api.read(h[self.f_fds], fd) as fh:
                        self._verify_fd(fh, tid, fd)
                except EntryNotFoundError:
                    self.ctx.violation("visibility", table="file_descriptors", tid=tid, fd=fd)
        except EntryNotFoundError:
            self.ctx.violation("visibility", table="threads", key=tid, why="parsed tid missing")
        return n

    # -- background: listen routine and async threads (the owner's raw tables) -------------------

    def _listen_step(self, lane: Lane) -> int:
        """Walk the table (read handles, nested fds for some), then refresh a few counters."""
        rng, y, ops, prev = lane.rng, self.ctx.yield_point, 0, None
        for h in self.threads.items():
            key = h.key
            if prev is not None and key <= prev:
                self.ctx.violation("iteration-order", table="threads", prev=prev, key=key)
            prev = key
            self._verify(h, key)
            if rng.random() < 0.125:
                fds: Table[Any, Any] = h[self.f_fds]
                for fh in fds.items():
                    self._verify_fd(fh, key, fh.key)
                    ops += 1
            ops += 1
        row, index = self.ledger.row(lane.name), self.ledger.index
        for _ in range(4):
            tid = rng.choice(STABLE_TIDS)
            with self.threads.write(tid) as h:
                n = h[self.f_num]
                y()
                h[self.f_num] = n + 1
                h[self.f_seen] = time.monotonic_ns() & 0xFFFFFFFF
            row[index(tid)] += 1
            ops += 1
        if rng.random() < 0.1:
            tid = rng.choice(STABLE_TIDS)
            with self.threads.write(tid) as h:
                comm = f"l{rng.randrange(1000)}"
                self._fill(h, tid, h[self.f_pid], comm, f"/sbin/{comm}", h[self.f_gen] + 1)
            ops += 1
        return ops

    def _async_step(self, i: int, name: str) -> Any:
        base = ASYNC_BASE * (i + 1)
        acks = self.acks[name]
        inflight: set[int] = set()
        counter = 0
        direct = self.direct

        def step(lane: Lane) -> int:
            nonlocal counter
            ops = 0
            while True:
                try:
                    tid = acks.get_nowait()
                except queue.Empty:
                    break
                inflight.discard(tid)
                try:
                    self.threads.erase_entry(tid)
                except EntryNotFoundError:
                    self.ctx.violation("lost-entry", table="threads", key=tid, by=name)
                ops += 1
            # Back-pressure: at most ASYNC_INFLIGHT unacknowledged entries, and a budget that
            # grows with the source events parsed, or a slow parser (--detect) would spend
            # all its time on announcements (the host handles every queued one between two
            # source events).
            budget = ASYNC_INFLIGHT + self.steps // ASYNC_PACE
            if len(inflight) < ASYNC_INFLIGHT and counter < budget:
                tid = base + counter
                comm = f"a{i}-{counter}"
                counter += 1
                try:
                    self._insert(direct, tid, comm, 1)
                except EntryExistsError:
                    self.ctx.violation("lost-entry", table="threads", key=tid, why="key exists")
                    return ops + 1
                inflight.add(tid)
                self.ctx.push(Announce(name, tid, comm))  # an async event for the parser
                self.tally.add("async entries announced")
                ops += 1
            else:
                tid = lane.rng.choice(STABLE_TIDS)
                with self.threads.read(tid) as h:
                    self._verify(h, tid)
                ops += 1
            if lane.rng.random() < 0.01:
                ops += expect_raises(
                    self.ctx, "single-threaded table from a worker", WrongThreadError,
                    _read_in, self.cfg, 0,
                )  # fmt: skip
            return ops

        return step

    # -- checks ----------------------------------------------------------------------------------

    def _check_counters(self, final: bool) -> None:
        for tid in STABLE_TIDS:
            done = self.ledger.completed(tid)
            with self.threads.read(tid) as h:
                v = h[self.f_num]
            self.ledger.check(self.ctx.violations, "threads", tid, v, done, final=final)

    def check(self) -> None:
        self._check_counters(final=False)

    def finish(self) -> None:
        self._check_counters(final=True)

    def summary(self) -> dict[str, Any]:
        return {
            "events parsed": self.steps,
            **self.tally.as_dict(),
            "async entries verified by the parser": self.seen_announced,
            "misuse probes (all must raise)": self.probes,
        }


# -- writers ----------------------------------------------------------------------------------


class Counters(EntrySchema):
    count: U64
    a: U64  # count * 3
    b: U64  # count ^ 0x5555
    writer: String
    csum: U32  # checksum(count, a, b, writer)


@dataclass(frozen=True, slots=True)
class CounterEvent:
    """Increment `keys` (one, or two in key order), or read and verify `keys[0]`."""

    keys: tuple[int, ...]
    read: bool


@register
class Writers(Scenario):
    """Many writers increment counters on a few hot entries, some two at a time (in key order)."""

    name = "writers"
    checks = ("lost-update", "phantom-update", "torn-read")
    description = "many writers increment counter fields on a few hot entries; readers verify"
    nkeys = 8

    def setup(self) -> None:
        t = self.table = self.ctx.make_table("counters", U32, Counters)
        self.f_count = t.get_field("count", U64)
        self.f_a = t.get_field("a", U64)
        self.f_b = t.get_field("b", U64)
        self.f_writer = t.get_field("writer", String)
        self.f_csum = t.get_field("csum", U32)
        for k in range(self.nkeys):
            e = t.create_entry()
            e[self.f_b] = 0 ^ 0x5555
            e[self.f_csum] = checksum(0, 0, 0 ^ 0x5555, "")
            t.add_entry(k, e)
        self.keys = list(range(self.nkeys))
        self.tally = Tally()

    def workers(self, n: int) -> list[Worker]:
        out = [Worker(f"writer-{i}", "writer", self._writer_step) for i in range(n)]
        self.ledger = CounterLedger(self.keys, ["main", *(w.name for w in out)])
        return out

    def _bump(self, h: EntryView, who: str) -> None:
        y = self.ctx.yield_point
        c = h[self.f_count] + 1
        y()
        h[self.f_count] = c
        h[self.f_a] = c * 3
        y()
        h[self.f_b] = c ^ 0x5555
        h[self.f_writer] = who
        y()
        h[self.f_csum] = checksum(c, c * 3, c ^ 0x5555, who)

    def _verify(self, h: EntryView, key: int) -> int:
        c, a, b, w = h[self.f_count], h[self.f_a], h[self.f_b], h[self.f_writer]
        if checksum(c, a, b, w) != h[self.f_csum] or a != c * 3 or b != c ^ 0x5555:
            self.ctx.violation("torn-read", table="counters", key=key, record=[c, a, b, w])
        return int(c)

    def _draw(self, rng: random.Random) -> tuple[int, ...]:
        """Keys of one increment: 25% two entries (in key order), else one."""
        if rng.random() < 0.25:
            k1, k2 = sorted(rng.sample(self.keys, 2))
            return (k1, k2)
        return (rng.choice(self.keys),)

    def _increment(self, api: Api, who: str, keys: tuple[int, ...]) -> int:
        t = api["counters"]
        if len(keys) == 2:
            k1, k2 = keys
            with api.write(t, k1) as h1, api.write(t, k2) as h2:
                self._bump(h1, who)
                self._bump(h2, who)
            self.ledger.record(who, k1)
            self.ledger.record(who, k2)
            self.tally.add("two-entry increments")
            return 2
        with api.write(t, keys[0]) as h:
            self._bump(h, who)
        self.ledger.record(who, keys[0])
        return 1

    def _writer_step(self, lane: Lane) -> int:
        return self._increment(self.direct, lane.name, self._draw(lane.rng))

    def next_event(self, rng: random.Random) -> CounterEvent:
        if rng.random() < 0.5:
            return CounterEvent(self._draw(rng), read=False)
        return CounterEvent((rng.choice(self.keys),), read=True)

    def parse(self, lane: Lane, event: Any, api: Api) -> int:
        return 0 if event.read else self._increment(api, lane.name, event.keys)

    def extract(self, lane: Lane, event: Any, api: Api) -> int:
        if not event.read:
            return 0
        k = event.keys[0]
        done = self.ledger.completed(k)
        with api.read(api["counters"], k) as h:
            v = self._verify(h, k)
        self.ledger.check(self.ctx.violations, "counters", k, v, done, final=False)
        return 1

    def finish(self) -> None:
        for k in self.keys:
            with self.table.read(k) as h:
                v = self._verify(h, k)
            self.ledger.check(self.ctx.violations, "counters", k, v, self.ledger.completed(k),
                              final=True)  # fmt: skip

    def summary(self) -> dict[str, Any]:
        total = sum(self.ledger.completed(k) for k in self.keys)
        return {"increments": total, **self.tally.as_dict()}


# -- churn ------------------------------------------------------------------------------------


class Item(EntrySchema):
    key: U64
    gen: U64
    payload: String
    csum: U32  # checksum(key, gen, payload)


CHURN_KEYS = 64
CHURN_ROLES = ("inserter", "eraser", "iterator", "reader", "updater")


@register
class Churn(Scenario):
    """Insert / erase / clear racing readers, updaters and iteration on a small key space."""

    name = "churn"
    checks = ("torn-read", "wrong-entry", "iteration-order", "missing-check")
    description = "insert/erase/clear racing readers, updaters and iteration on 64 keys"

    def setup(self) -> None:
        t = self.table = self.ctx.make_table("churn", U64, Item)
        self.f_key = t.get_field("key", U64)
        self.f_gen = t.get_field("gen", U64)
        self.f_payload = t.get_field("payload", String)
        self.f_csum = t.get_field("csum", U32)
        self.cfg = make_config(self.ctx)
        self.tally = Tally()
        for k in range(0, CHURN_KEYS, 2):
            self._insert(self.direct, k, 0, replace=False)

    def workers(self, n: int) -> list[Worker]:
        roles = [CHURN_ROLES[i % len(CHURN_ROLES)] for i in range(n)]
        return [Worker(f"{r}-{i}", r, self._worker_step(r)) for i, r in enumerate(roles)]

    def _fill(self, h: EntryView, k: int, gen: int) -> None:
        y = self.ctx.yield_point
        payload = f"item-{k}-{gen}"
        h[self.f_key] = k
        y()
        h[self.f_gen] = gen
        y()
        h[self.f_payload] = payload
        y()
        h[self.f_csum] = checksum(k, gen, payload)

    def _verify(self, h: EntryView, k: int) -> None:
        key, gen, payload = h[self.f_key], h[self.f_gen], h[self.f_payload]
        if checksum(key, gen, payload) != h[self.f_csum]:
            self.ctx.violation("torn-read", table="churn", key=k, record=[key, gen, payload])
        elif key != k:
            self.ctx.violation("wrong-entry", table="churn", key=k, found=key)

    def _insert(self, api: Api, k: int, gen: int, *, replace: bool) -> None:
        t = api["churn"]
        e = api.create(t)
        self._fill(e, k, gen)
        api.add(t, k, e, replace=replace)

    def _op(self, op: str, k: int, rng: random.Random, api: Api) -> int:
        t = api["churn"]
        try:
            if op == "inserter":
                self._insert(api, k, rng.randrange(1 << 30), replace=rng.random() < 0.3)
            elif op == "eraser":
                if rng.random() < 0.002:
                    api.clear(t)
                    self.tally.add("clears")
                else:
                    api.erase(t, k)
            elif op == "reader":
                with api.read(t, k) as h:
                    self._verify(h, k)
            elif op == "updater":
                with api.write(t, k) as h:
                    self._fill(h, k, h[self.f_gen] + 1)
            else:
                return self._walk(rng, api)
        except (EntryNotFoundError, EntryExistsError) as exc:
            self.tally.add(type(exc).__name__)
        return 1

    def _walk(self, rng: random.Random, api: Api) -> int:
        """Iterate in key order, verifying (some walks update); sometimes erase mid-walk."""
        prev, n, t = None, 0, api["churn"]
        write = rng.random() < 0.3
        for h in api.items(t, write=write):
            k = h.key
            if prev is not None and k <= prev:
                self.ctx.violation("iteration-order", table="churn", prev=prev, key=k)
            prev = k
            self._verify(h, k)
            if write:
                self._fill(h, k, h[self.f_gen] + 1)
            n += 1
            r = rng.random()
            if r < 0.02:
                other = (k + 1 + rng.randrange(CHURN_KEYS - 1)) % CHURN_KEYS
                try:
                    api.erase(t, other)
                except EntryNotFoundError:
                    pass
            elif r < 0.03:
                n += expect_raises(self.ctx, "erase the entry being visited", ReentrancyError,
                                   api.erase, t, k)  # fmt: skip
        self.tally.add("write walks" if write else "walks")
        return n + 1

    def _worker_step(self, role: str) -> Any:
        direct = self.direct

        def step(lane: Lane) -> int:
            rng = lane.rng
            op = role if rng.random() < 0.6 else rng.choice(CHURN_ROLES)
            n = self._op(op, rng.randrange(CHURN_KEYS), rng, direct)
            if rng.random() < 0.005:
                n += expect_raises(
                    self.ctx, "single-threaded table from a worker", WrongThreadError,
                    _read_in, self.cfg, 0,
                )  # fmt: skip
            return n

        return step

    def next_event(self, rng: random.Random) -> tuple[str, int]:
        """(operation, key): "reader" events are the extract half's, the rest the parser's."""
        return rng.choice(CHURN_ROLES), rng.randrange(CHURN_KEYS)

    def parse(self, lane: Lane, event: Any, api: Api) -> int:
        op, k = event
        return 0 if op == "reader" else self._op(op, k, lane.rng, api)

    def extract(self, lane: Lane, event: Any, api: Api) -> int:
        op, k = event
        return self._op(op, k, lane.rng, api) if op == "reader" else 0

    def finish(self) -> None:
        prev = None
        for h in self.table.items():
            if prev is not None and h.key <= prev:
                self.ctx.violation("iteration-order", table="churn", prev=prev, key=h.key)
            prev = h.key
            self._verify(h, h.key)

    def summary(self) -> dict[str, Any]:
        return {**self.tally.as_dict(), "entries at the end": len(self.table)}
