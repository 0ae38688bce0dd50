"""The real scenarios: `parse-vs-background` (default), `writers`, `churn`.

Each drives thread-safe tables directly, the way the plugin host will (see `stress.driver`).
Deliberately broken scenarios live in `stress.canaries`.
"""

from __future__ import annotations

import queue
import random
import time
from typing import Any

from concurrent_tables import (
    I64,
    U8,
    U32,
    U64,
    BorrowError,
    EntryExistsError,
    EntryHandle,
    EntryNotFoundError,
    EntrySchema,
    Field,
    ForeignFieldError,
    InvalidValueError,
    NestedTable,
    ReadOnlyHandleError,
    ReentrancyError,
    StaleHandleError,
    String,
    Table,
    WrongThreadError,
)

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
PROBE_EVERY = 256  # main steps between misuse probes


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
        self.events: queue.SimpleQueue[tuple[str, int, str]] = queue.SimpleQueue()
        self.acks: dict[str, queue.SimpleQueue[int]] = {}
        self.own: dict[int, set[int]] = {}  # parser-created tid -> its open fds (main only)
        self.steps = 0
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
            self._insert(tid, f"init-{tid}", 0)

    def workers(self, n: int) -> list[Worker]:
        out = [Worker("listen-0", "listen", self._listen_step, pause_s=0.002)]
        for i in range(n - 1):
            name = f"async-{i}"
            self.acks[name] = queue.SimpleQueue()
            out.append(Worker(name, "async", self._async_step(i, name)))
        self.ledger = CounterLedger(list(STABLE_TIDS), ["main", *(w.name for w in out)])
        return out

    # -- records -------------------------------------------------------------------------------

    def _fill(self, h: EntryHandle, tid: int, pid: int, comm: str, exe: str, gen: int) -> None:
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

    def _verify(self, h: EntryHandle, key: int) -> None:
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

    def _fill_fd(self, fh: EntryHandle, fd: int, name: str, typ: int) -> None:
        y = self.ctx.yield_point
        fh[self.g_fd] = fd
        fh[self.g_name] = name
        y()
        fh[self.g_type] = typ
        y()
        fh[self.g_csum] = checksum(fd, name, typ)

    def _verify_fd(self, fh: EntryHandle, tid: int, fd: int) -> None:
        got = (fh[self.g_fd], fh[self.g_name], fh[self.g_type])
        if checksum(*got) != fh[self.g_csum] or got[0] != fd:
            self.ctx.violation(
                "torn-read", table="file_descriptors", tid=tid, fd=fd, record=list(got)
            )

    def _new_entry(self, tid: int, comm: str, origin: int) -> Any:
        e = self.threads.create_entry()
        self._fill(e, tid, tid, comm, f"/usr/bin/{comm}", 0)
        e[self.f_origin] = origin
        fds: Table[Any, Any] = e[self.f_fds]
        for fd in (0, 1, 2):
            fe = fds.create_entry()
            self._fill_fd(fe, fd, f"/dev/pts/{fd}", 1)
            fds.add_entry(fd, fe)
        return e

    def _insert(self, tid: int, comm: str, origin: int) -> None:
        self.threads.add_entry(tid, self._new_entry(tid, comm, origin))

    # -- main thread: parse + extract -----------------------------------------------------------

    def step(self, lane: Lane) -> int:
        rng = lane.rng
        ops = self._drain_announcements()
        r = rng.random()
        if r < 0.55:
            ops += self._syscall(lane, rng.choice(STABLE_TIDS), rng.randrange(3))
        elif r < 0.70:
            pool = STABLE_TIDS if not self.own or rng.random() < 0.5 else list(self.own)
            ops += self._execve(rng.choice(pool), rng)
        elif r < 0.80:
            ops += self._clone(rng)
        elif r < 0.88:
            ops += self._exit(rng)
        else:
            ops += self._open_close(rng)
        ops += self._extract(rng)
        self.steps += 1
        if self.steps % PROBE_EVERY == 0:
            ops += self._probes(rng)
        return ops

    def _syscall(self, lane: Lane, tid: int, fd: int) -> int:
        """A read/write on a stable thread: count the event, touch the fd (nested lock)."""
        y = self.ctx.yield_point
        with self.threads.write(tid) as h:
            n = h[self.f_num]
            y()
            h[self.f_num] = n + 1
            h[self.f_seen] = self.steps
            fds: Table[Any, Any] = h[self.f_fds]
            with fds.write(fd) as fh:
                self._fill_fd(fh, fd, f"/dev/pts/{fd}", 1 + self.steps % 8)
        self.ledger.record(lane.name, tid)
        return 2

    def _execve(self, tid: int, rng: random.Random) -> int:
        with self.threads.write(tid) as h:
            gen = h[self.f_gen] + 1
            comm = f"p{rng.randrange(1000)}"
            self._fill(h, tid, h[self.f_pid], comm, f"/usr/bin/{comm}", gen)
        return 1

    def _clone(self, rng: random.Random) -> int:
        if len(self.own) >= len(OWN_TIDS) // 2:
            return self._exit(rng)
        tid = rng.choice(OWN_TIDS)
        while tid in self.own:
            tid = OWN_TIDS[(tid - OWN_TIDS[0] + 1) % len(OWN_TIDS)]
        try:
            self._insert(tid, f"c{tid}", 0)
        except EntryExistsError:
            self.ctx.violation("lost-entry", table="threads", key=tid, why="erased tid exists")
            return 1
        self.own[tid] = {0, 1, 2}
        return 1

    def _exit(self, rng: random.Random) -> int:
        if not self.own:
            return 0
        tid = rng.choice(list(self.own))
        del self.own[tid]
        try:
            self.threads.erase_entry(tid)
        except EntryNotFoundError:
            self.ctx.violation("lost-entry", table="threads", key=tid, why="own tid vanished")
        return 1

    def _open_close(self, rng: random.Random) -> int:
        if not self.own:
            return self._clone(rng)
        tid = rng.choice(list(self.own))
        open_fds = self.own[tid]
        with self.threads.read(tid) as h:
            fds: Table[Any, Any] = h[self.f_fds]
            if len(open_fds) > 3 and rng.random() < 0.5:
                fd = rng.choice(sorted(open_fds - {0, 1, 2}))
                open_fds.discard(fd)
                try:
                    fds.erase_entry(fd)
                except EntryNotFoundError:
                    self.ctx.violation("lost-entry", table="file_descriptors", tid=tid, fd=fd)
            else:
                fd = max(open_fds) + 1
                fe = fds.create_entry()
                self._fill_fd(fe, fd, f"/tmp/f{fd}", 2)
                fds.add_entry(fd, fe)
                open_fds.add(fd)
        return 2

    def _extract(self, rng: random.Random) -> int:
        """Extraction: read comm/pid/exe (+ checksum); an fd opened earlier must be there."""
        if self.own and rng.random() < 0.4:
            tid = rng.choice(list(self.own))
            fd = rng.choice(sorted(self.own[tid]))
        else:
            tid, fd = rng.choice(STABLE_TIDS), rng.randrange(3)
        try:
            with self.threads.read(tid) as h:
                self._verify(h, tid)
                fds: Table[Any, Any] = h[self.f_fds]
                try:
                    with fds.read(fd) as fh:
                        self._verify_fd(fh, tid, fd)
                except EntryNotFoundError:
                    self.ctx.violation("visibility", table="file_descriptors", tid=tid, fd=fd)
        except EntryNotFoundError:
            self.ctx.violation("visibility", table="threads", key=tid, why="parsed tid missing")
        return 2

    def _drain_announcements(self) -> int:
        """Async events: each names an entry an async thread inserted before announcing it."""
        ops = 0
        for _ in range(8):
            try:
                lane, tid, comm = self.events.get_nowait()
            except queue.Empty:
                break
            self.seen_announced += 1
            try:
                with self.threads.read(tid) as h:
                    self._verify(h, tid)
                    if h[self.f_comm] != comm or h[self.f_origin] != 1:
                        self.ctx.violation(
                            "visibility",
                            table="threads",
                            key=tid,
                            why="values written before the announcement are not visible",
                            comm=h[self.f_comm],
                            expected=comm,
                        )
                    fds: Table[Any, Any] = h[self.f_fds]
                    if fds.size() != 3:
                        self.ctx.violation("visibility", table="file_descriptors", tid=tid)
                    with fds.read(1) as fh:
                        self._verify_fd(fh, tid, 1)
            except EntryNotFoundError as exc:
                self.ctx.violation(
                    "visibility", table="threads", key=tid, why=f"announced entry missing: {exc}"
                )
            self.acks[lane].put(tid)
            ops += 2
        return ops

    def _probes(self, rng: random.Random) -> int:
        """Misuse that must raise: stale handle, re-entrant locks, borrow conflict, bad values."""
        ctx, t = self.ctx, self.threads
        tid = rng.choice(STABLE_TIDS)
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

    # -- background: listen routine and async threads --------------------------------------------

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
            if len(inflight) < ASYNC_INFLIGHT:
                tid = base + counter
                comm = f"a{i}-{counter}"
                counter += 1
                try:
                    self._insert(tid, comm, 1)
                except EntryExistsError:
                    self.ctx.violation("lost-entry", table="threads", key=tid, why="key exists")
                    return ops + 1
                inflight.add(tid)
                self.events.put((name, tid, comm))
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


@register
class Writers(Scenario):
    """Many writers increment counters on a few hot entries, some two at a time (in key order)."""

    name = "writers"
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

    def _bump(self, h: EntryHandle, who: str) -> None:
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

    def _verify(self, h: EntryHandle, key: int) -> int:
        c, a, b, w = h[self.f_count], h[self.f_a], h[self.f_b], h[self.f_writer]
        if checksum(c, a, b, w) != h[self.f_csum] or a != c * 3 or b != c ^ 0x5555:
            self.ctx.violation("torn-read", table="counters", key=key, record=[c, a, b, w])
        return int(c)

    def _increment(self, lane: Lane) -> int:
        rng, t = lane.rng, self.table
        if rng.random() < 0.25:
            k1, k2 = sorted(rng.sample(self.keys, 2))
            with t.write(k1) as h1, t.write(k2) as h2:
                self._bump(h1, lane.name)
                self._bump(h2, lane.name)
            self.ledger.record(lane.name, k1)
            self.ledger.record(lane.name, k2)
            self.tally.add("two-entry increments")
            return 2
        k = rng.choice(self.keys)
        with t.write(k) as h:
            self._bump(h, lane.name)
        self.ledger.record(lane.name, k)
        return 1

    def _writer_step(self, lane: Lane) -> int:
        return self._increment(lane)

    def step(self, lane: Lane) -> int:
        if lane.rng.random() < 0.5:
            return self._increment(lane)
        k = lane.rng.choice(self.keys)
        done = self.ledger.completed(k)
        with self.table.read(k) as h:
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
            self._insert(k, 0, replace=False)

    def workers(self, n: int) -> list[Worker]:
        roles = [CHURN_ROLES[i % len(CHURN_ROLES)] for i in range(n)]
        return [Worker(f"{r}-{i}", r, self._worker_step(r)) for i, r in enumerate(roles)]

    def _fill(self, h: EntryHandle, k: int, gen: int) -> None:
        y = self.ctx.yield_point
        payload = f"item-{k}-{gen}"
        h[self.f_key] = k
        y()
        h[self.f_gen] = gen
        y()
        h[self.f_payload] = payload
        y()
        h[self.f_csum] = checksum(k, gen, payload)

    def _verify(self, h: EntryHandle, k: int) -> None:
        key, gen, payload = h[self.f_key], h[self.f_gen], h[self.f_payload]
        if checksum(key, gen, payload) != h[self.f_csum]:
            self.ctx.violation("torn-read", table="churn", key=k, record=[key, gen, payload])
        elif key != k:
            self.ctx.violation("wrong-entry", table="churn", key=k, found=key)

    def _insert(self, k: int, gen: int, *, replace: bool) -> None:
        e = self.table.create_entry()
        self._fill(e, k, gen)
        self.table.add_entry(k, e, replace=replace)

    def _op(self, op: str, lane: Lane) -> int:
        rng, t = lane.rng, self.table
        k = rng.randrange(CHURN_KEYS)
        try:
            if op == "inserter":
                self._insert(k, rng.randrange(1 << 30), replace=rng.random() < 0.3)
            elif op == "eraser":
                if rng.random() < 0.002:
                    t.clear()
                    self.tally.add("clears")
                else:
                    t.erase_entry(k)
            elif op == "reader":
                with t.read(k) as h:
                    self._verify(h, k)
            elif op == "updater":
                with t.write(k) as h:
                    self._fill(h, k, h[self.f_gen] + 1)
            else:
                return self._walk(lane)
        except (EntryNotFoundError, EntryExistsError) as exc:
            self.tally.add(type(exc).__name__)
        return 1

    def _walk(self, lane: Lane) -> int:
        """Iterate in key order, verifying (some walks update); sometimes erase mid-walk."""
        prev, n, t = None, 0, self.table
        write = lane.rng.random() < 0.3
        for h in t.items(write=write):
            k = h.key
            if prev is not None and k <= prev:
                self.ctx.violation("iteration-order", table="churn", prev=prev, key=k)
            prev = k
            self._verify(h, k)
            if write:
                self._fill(h, k, h[self.f_gen] + 1)
            n += 1
            r = lane.rng.random()
            if r < 0.02:
                other = (k + 1 + lane.rng.randrange(CHURN_KEYS - 1)) % CHURN_KEYS
                try:
                    t.erase_entry(other)
                except EntryNotFoundError:
                    pass
            elif r < 0.03:
                n += expect_raises(self.ctx, "erase the entry being visited", ReentrancyError,
                                   t.erase_entry, k)  # fmt: skip
        self.tally.add("write walks" if write else "walks")
        return n + 1

    def _worker_step(self, role: str) -> Any:
        def step(lane: Lane) -> int:
            op = role if lane.rng.random() < 0.6 else lane.rng.choice(CHURN_ROLES)
            n = self._op(op, lane)
            if lane.rng.random() < 0.005:
                n += expect_raises(
                    self.ctx, "single-threaded table from a worker", WrongThreadError,
                    _read_in, self.cfg, 0,
                )  # fmt: skip
            return n

        return step

    def step(self, lane: Lane) -> int:
        return self._op(lane.rng.choice(CHURN_ROLES), lane)

    def finish(self) -> None:
        prev = None
        for h in self.table.items():
            if prev is not None and h.key <= prev:
                self.ctx.violation("iteration-order", table="churn", prev=prev, key=h.key)
            prev = h.key
            self._verify(h, h.key)

    def summary(self) -> dict[str, Any]:
        return {**self.tally.as_dict(), "entries at the end": len(self.table)}
