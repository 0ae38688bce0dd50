"""`python -m stress bench`: the hot path's cost, as ratios against baselines in the same process.

Every figure is the median over `--rounds` rounds; each ratio is computed within a round (the
variants of a round run back to back, in rotating order) and the median of those ratios is
reported, so slow drift of a noisy machine cancels out. Timing loops run with the garbage
collector disabled and use `time.perf_counter_ns`.

1. Parse step: look up a thread by tid, read three fields, write two, under one write handle
   (`with t.write(tid) as h: ...`, fields resolved once like a plugin does at init), over 1,000
   tids in turn. Variants: thread-safe table (the owner alone: its lock-free fast path),
   thread-safe table with fast_path=False (every handle takes its entry lock), single-threaded
   table, and baselines on a dict of lists (the table's own entry layout): plain, under a
   `threading.Lock`, and under one `RWLockFair` write acquisition per step (the readerwriterlock
   floor: `lk = rw.gen_wlock(); lk.acquire(); ...; lk.release()`). Loop overhead is included in
   every variant alike.
2. Contention: total parse steps per second of the main thread plus two busy background writers
   (on other keys of the same thread-safe table) against the main thread alone, and the
   p50/p99 time to obtain a write handle ("wait"), which includes waiting for the GIL.
3. Memory: bytes per entry of a table of `--entries` entries (create_entry + add_entry; the
   keys' int objects included), thread-safe vs single-threaded, measured with tracemalloc.
   Variants `python_backend` (a `PythonTable`: the Python core, whatever the process's backend)
   and the nested step (depth 2: the thread's write handle, then a write handle on one of its
   file descriptors, whose 3 fields are read and 2 written) against the same step at depth 1;
   and that nested step with the fd alternating between two at each visit of a thread
   (`nested_depth2_uncached`: the C core's remembered last lookup never hits).
2b. Contention on the same keys: the two writers work on the main thread's own 1,000 keys.
4. native_read_ns: the median ns of one native `read_entry_field` of an int64 field on a
   Python-owned thread-safe table (`concurrent_tables.cabi.bench_native_read`: a C loop calls
   the read dispatcher during a parse callback, as a plugin does, timed in C in batches of 100),
   200,000 calls per round (2,000 with --quick), median over the rounds. Each round also times
   the plain-dict parse step just before and just after the reads: native_read_vs_dict_step is
   the median of the per-round ratios to their mean.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from readerwriterlock.rwlock import RWLockFair

from concurrent_tables import I64, U64, EntrySchema, NestedTable, String, Table
from concurrent_tables import backend as table_backend
from concurrent_tables.table import PythonTable

NTIDS = 1000

TARGETS = {
    # issue 10 (the table core in C)
    "parse_step_vs_dict_lock": ("<=", 1.0),
    "parse_step_single_vs_dict_lock": ("<=", 1.0),
    "parse_step_python_backend_vs_dict_lock": ("<=", 4.5),
    "contention_same_keys_total_vs_alone": (">=", 0.75),
    "contention_same_keys_p99_wait_us": ("<=", 1.0),
    "contention_other_keys_writer_share": (">=", 0.25),
    "memory_vs_dict_of_lists": ("<=", 1.25),
    "native_read_vs_dict_step": ("<=", 1.0),
    "nested_depth2_vs_depth1": ("<=", 1.5),
    "parse_step_threadsafe_vs_rwlock_floor": ("<=", 1.25),
    "parse_step_threadsafe_vs_single": ("<=", 1.5),
    "contention_total_vs_single": (">=", 0.8),
    "memory_threadsafe_vs_single": ("<=", 1.5),
    "parse_step_threadsafe_vs_dict_lock": ("<= (stretch)", 2.0),
    "native_read_ns": ("<=", 1000.0),
}

#: Native reads per round (a C loop; --quick uses fewer).
NATIVE_READS = 200_000


class Proc(EntrySchema):
    pid: I64
    comm: String
    exe: String
    num_events: U64
    last_tid: I64
    cwd: String
    uid: U64


class Fd(EntrySchema):
    fd: I64
    name: String
    flags: U64
    count: U64
    last: I64


class NestedProc(Proc):
    fds: NestedTable[I64, Fd]


# -- parse step ----------------------------------------------------------------------------------


def make_table(
    thread_safe: bool,
    fast_path: bool = True,
    n: int = NTIDS,
    cls: type[Table[Any, Any]] = Table,
    schema: type[EntrySchema] = Proc,
) -> Table[Any, Any]:
    t: Table[Any, Any] = cls("threads", I64, schema, thread_safe=thread_safe, fast_path=fast_path)
    f_pid, f_comm, f_exe = t.field("pid"), t.field("comm"), t.field("exe")
    for tid in range(n):
        e = t.create_entry()
        e[f_pid] = tid
        e[f_comm] = "bash"
        e[f_exe] = "/usr/bin/bash"
        t.add_entry(tid, e)
    return t


def table_step(t: Table[Any, Any], keys: list[int]) -> int:
    """Run the parse step over `keys`; returns elapsed ns."""
    f_pid, f_comm, f_exe = t.field("pid"), t.field("comm"), t.field("exe")
    f_num, f_last = t.field("num_events"), t.field("last_tid")
    w = t.write
    t0 = time.perf_counter_ns()
    for k in keys:
        with w(k) as h:
            pid = h[f_pid]
            h[f_comm]
            h[f_exe]
            h[f_num] = pid + 1
            h[f_last] = k
    return time.perf_counter_ns() - t0


def nested_table(n: int = NTIDS, fds: tuple[int, ...] = (3,)) -> Table[Any, Any]:
    """A thread-safe table whose entries each hold one fd (key 3) in their nested table (the
    uncached variant's own table holds fds 3 and 4)."""
    t = make_table(True, n=n, schema=NestedProc)
    f_fds = t.field("fds")
    for tid in range(n):
        with t.write(tid) as h:
            table = h[f_fds]
            for fd in fds:
                e = table.create_entry()
                e["name"] = "/dev/null"
                table.add_entry(fd, e)
    return t


def nested_step(t: Table[Any, Any], keys: list[int]) -> int:
    """The parse step one level down: the thread's handle, then its fd 3's write handle."""
    f_fds = t.field("fds")
    w = t.write
    with t.read(0) as h0:
        fr = h0[f_fds].field
    f_fd, f_name, f_flags, f_count, f_last = (
        fr(n) for n in ("fd", "name", "flags", "count", "last")
    )
    t0 = time.perf_counter_ns()
    for k in keys:
        with w(k) as h, h[f_fds].write(3) as g:
            fd = g[f_fd]
            g[f_name]
            g[f_flags]
            g[f_count] = fd + 1
            g[f_last] = k
    return time.perf_counter_ns() - t0


def nested_step_uncached(t: Table[Any, Any], keys: list[int]) -> int:
    """The nested step with the fd alternating between 3 and 4 at each visit of a thread: the
    C core's remembered last lookup of the nested table never hits (its cost without it)."""
    f_fds = t.field("fds")
    w = t.write
    with t.read(0) as h0:
        fr = h0[f_fds].field
    f_fd, f_name, f_flags, f_count, f_last = (
        fr(n) for n in ("fd", "name", "flags", "count", "last")
    )
    n = len(t)
    fds = [3 + (i // n) % 2 for i in range(len(keys))]
    t0 = time.perf_counter_ns()
    for k, fd in zip(keys, fds, strict=True):
        with w(k) as h, h[f_fds].write(fd) as g:
            v = g[f_fd]
            g[f_name]
            g[f_flags]
            g[f_count] = v + 1
            g[f_last] = k
    return time.perf_counter_ns() - t0


def dict_entries() -> dict[int, list[Any]]:
    return {tid: [tid, "bash", "/usr/bin/bash", 0, 0, "", 0] for tid in range(NTIDS)}


def dict_step(d: dict[int, list[Any]], keys: list[int]) -> int:
    t0 = time.perf_counter_ns()
    for k in keys:
        e = d[k]
        pid = e[0]
        e[1]
        e[2]
        e[3] = pid + 1
        e[4] = k
    return time.perf_counter_ns() - t0


def dict_lock_step(d: dict[int, list[Any]], keys: list[int]) -> int:
    lock = threading.Lock()
    t0 = time.perf_counter_ns()
    for k in keys:
        with lock:
            e = d[k]
            pid = e[0]
            e[1]
            e[2]
            e[3] = pid + 1
            e[4] = k
    return time.perf_counter_ns() - t0


def rwlock_floor_step(d: dict[int, list[Any]], keys: list[int]) -> int:
    rw = RWLockFair()
    t0 = time.perf_counter_ns()
    for k in keys:
        lk = rw.gen_wlock()
        lk.acquire()
        e = d[k]
        pid = e[0]
        e[1]
        e[2]
        e[3] = pid + 1
        e[4] = k
        lk.release()
    return time.perf_counter_ns() - t0


def bench_parse_step(rounds: int, steps: int) -> dict[str, Any]:
    keys = [i % NTIDS for i in range(steps)]
    ts, locked, single = make_table(True), make_table(True, fast_path=False), make_table(False)
    py = make_table(True, cls=PythonTable)
    nested, nested_two_fds = nested_table(), nested_table(fds=(3, 4))
    d = dict_entries()
    variants: dict[str, Callable[[], int]] = {
        "threadsafe": lambda: table_step(ts, keys),
        "python_backend": lambda: table_step(py, keys),
        "nested_depth1": lambda: table_step(nested, keys),
        "nested_depth2": lambda: nested_step(nested, keys),
        "nested_depth2_uncached": lambda: nested_step_uncached(nested_two_fds, keys),
        "threadsafe_locked": lambda: table_step(locked, keys),
        "single": lambda: table_step(single, keys),
        "dict_lock": lambda: dict_lock_step(d, keys),
        "dict": lambda: dict_step(d, keys),
        "rwlock_floor": lambda: rwlock_floor_step(d, keys),
    }
    names = list(variants)
    per: dict[str, list[float]] = {n: [] for n in names}
    for fn in variants.values():  # warm-up
        fn()
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for n in order:
                per[n].append(variants[n]() / steps)
    finally:
        gc.enable()
    return {"per_round_ns": per, "ns": {n: statistics.median(v) for n, v in per.items()}}


def ratio(per: dict[str, list[float]], a: str, b: str) -> float:
    return statistics.median(x / y for x, y in zip(per[a], per[b], strict=True))


# -- contention ----------------------------------------------------------------------------------


def _busy(
    t: Table[Any, Any], keys: list[int], go: threading.Event, stop: threading.Event
) -> tuple[int, list[int]]:
    """Parse steps on `keys` until `stop`; returns (steps, per-step handle wait in ns)."""
    f_pid, f_comm, f_exe = t.field("pid"), t.field("comm"), t.field("exe")
    f_num, f_last = t.field("num_events"), t.field("last_tid")
    w, clock = t.write, time.perf_counter_ns
    waits: list[int] = []
    add = waits.append
    n, nk = 0, len(keys)
    go.wait()
    while not stop.is_set():
        for i in range(256):
            k = keys[(n + i) % nk]
            t0 = clock()
            h = w(k)
            add(clock() - t0)
            with h:
                pid = h[f_pid]
                h[f_comm]
                h[f_exe]
                h[f_num] = pid + 1
                h[f_last] = k
        n += 256
    return n, waits


def _writer(
    t: Table[Any, Any],
    i: int,
    go: threading.Event,
    stop: threading.Event,
    results: dict[int, tuple[int, list[int]]],
    same_keys: bool = False,
) -> None:
    """Background writer i: parse steps on its own 1,000 keys, or on the main thread's."""
    keys = list(range(NTIDS)) if same_keys else list(range(NTIDS * (i + 1), NTIDS * (i + 2)))
    results[i] = _busy(t, keys, go, stop)


def _pct(xs: list[int], p: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    return float(xs[min(len(xs) - 1, int(p * len(xs)))])


def bench_contention(rounds: int, seconds: float, same_keys: bool = False) -> dict[str, Any]:
    t = make_table(True, n=3 * NTIDS)
    main_keys = list(range(NTIDS))
    alone: list[float] = []
    total: list[float] = []
    main_rate: list[float] = []
    writer_rate: list[float] = []
    alone_waits: list[int] = []
    main_waits: list[int] = []
    writer_waits: list[int] = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            go, stop = threading.Event(), threading.Event()
            timer = threading.Timer(seconds, stop.set)
            go.set()
            t0 = time.perf_counter()
            timer.start()
            n, waits = _busy(t, main_keys, go, stop)
            el = time.perf_counter() - t0
            alone.append(n / el)
            alone_waits += waits

            go, stop = threading.Event(), threading.Event()
            results: dict[int, tuple[int, list[int]]] = {}

            ws = [
                threading.Thread(
                    target=_writer,
                    args=(t, i, go, stop, results, same_keys),
                    name=f"bench-writer-{i}",
                )
                for i in range(2)
            ]
            for th in ws:
                th.start()
            time.sleep(0.01)
            go.set()
            t0 = time.perf_counter()
            timer = threading.Timer(seconds, stop.set)
            timer.start()
            n, waits = _busy(t, main_keys, go, stop)
            for th in ws:
                th.join()
            el = time.perf_counter() - t0
            wn = sum(results[i][0] for i in range(2))
            total.append((n + wn) / el)
            main_rate.append(n / el)
            writer_rate.append(wn / el)
            main_waits += waits
            for i in range(2):
                writer_waits += results[i][1]
    finally:
        gc.enable()
    ratios = [tt / a for tt, a in zip(total, alone, strict=True)]
    return {
        "seconds_per_run": seconds,
        "alone_steps_per_s": statistics.median(alone),
        "total_steps_per_s": statistics.median(total),
        "main_steps_per_s": statistics.median(main_rate),
        "writers_steps_per_s": statistics.median(writer_rate),
        "ratio": statistics.median(ratios),
        "writer_share": statistics.median(
            w / (m + w) for m, w in zip(main_rate, writer_rate, strict=True)
        ),
        "alone_wait_ns": {"p50": _pct(alone_waits, 0.5), "p99": _pct(alone_waits, 0.99)},
        "main_wait_ns": {"p50": _pct(main_waits, 0.5), "p99": _pct(main_waits, 0.99)},
        "writers_wait_ns": {"p50": _pct(writer_waits, 0.5), "p99": _pct(writer_waits, 0.99)},
        "statistics": {k: v for k, v in t.statistics().__dict__.items() if k != "thread_safe"},
    }


# -- memory --------------------------------------------------------------------------------------


def _bytes_per_entry(build: Callable[[], Any], entries: int) -> float:
    """Bytes per entry that `build()` allocates and keeps (tracemalloc); its result is dropped."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    gc.collect()
    return (after - before) / entries


def _table_bytes(thread_safe: bool, entries: int) -> float:
    def build() -> Table[Any, Any]:
        t: Table[Any, Any] = Table("threads", I64, Proc, thread_safe=thread_safe)
        create, add = t.create_entry, t.add_entry
        for tid in range(entries):
            add(tid, create())
        return t

    return _bytes_per_entry(build, entries)


def _dict_of_lists_bytes(entries: int) -> float:
    """The baseline: a dict of value lists made as the table makes an entry's values."""
    new_values = make_table(False, n=0)._registry.new_values
    return _bytes_per_entry(lambda: {tid: new_values() for tid in range(entries)}, entries)


def bench_memory(entries: int) -> dict[str, Any]:
    ts = _table_bytes(True, entries)
    single = _table_bytes(False, entries)
    lists = _dict_of_lists_bytes(entries)
    return {
        "entries": entries,
        "threadsafe": ts,
        "single": single,
        "dict_of_lists": lists,
        "ratio": ts / single,
        "vs_dict_of_lists": ts / lists,
    }


# -- report --------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "switch_interval_s": sys.getswitchinterval(),
    }


def bench_native_read_ns(rounds: int, n: int, steps: int) -> dict[str, Any]:
    """Median ns per native read_entry_field, per round and over the rounds, and the median of
    its per-round ratios to the plain-dict parse step (`steps` steps, timed around the reads)."""
    from concurrent_tables.cabi import bench_native_read

    keys = [i % NTIDS for i in range(steps)]
    d = dict_entries()
    per_round: list[float] = []
    ratios: list[float] = []
    dict_step(d, keys)  # warm-up
    gc.disable()
    try:
        for _ in range(rounds):
            before = dict_step(d, keys) / steps
            ns = bench_native_read(n)
            after = dict_step(d, keys) / steps
            per_round.append(ns)
            ratios.append(ns / ((before + after) / 2))
    finally:
        gc.enable()
    return {
        "median": statistics.median(per_round),
        "per_round": per_round,
        "calls": n,
        "vs_dict_step": statistics.median(ratios),
        "vs_dict_step_per_round": ratios,
    }


def _verdict(name: str, value: float | None) -> str:
    if value is None or name not in TARGETS:
        return ""
    op, bound = TARGETS[name]
    ok = value <= bound if op.startswith("<=") else value >= bound
    return f"{op} {bound:g}  {'met' if ok else 'MISSED'}"


def run_bench(
    *, rounds: int = 7, entries: int = 1_000_000, json_path: str | None = None, quick: bool = False
) -> int:
    steps = 2_000 if quick else 50_000
    seconds = 0.1 if quick else 0.5
    m = machine()
    print(f"stress bench: {m['cpu']}, {m['nproc']} cores, {m['python']}, {rounds} rounds")
    ps = bench_parse_step(rounds, steps)
    per = ps["per_round_ns"]
    ct = bench_contention(rounds, seconds)
    same = bench_contention(rounds, seconds, same_keys=True)
    mem = bench_memory(entries)
    nat = bench_native_read_ns(rounds, 2_000 if quick else NATIVE_READS, steps)
    out: dict[str, Any] = {
        "machine": m,
        "rounds": rounds,
        "parse_step_steps_per_round": steps,
        "parse_step_threadsafe_vs_single": ratio(per, "threadsafe", "single"),
        "parse_step_threadsafe_vs_rwlock_floor": ratio(per, "threadsafe", "rwlock_floor"),
        "parse_step_threadsafe_vs_dict_lock": ratio(per, "threadsafe", "dict_lock"),
        "parse_step_threadsafe_vs_dict": ratio(per, "threadsafe", "dict"),
        "parse_step_locked_vs_rwlock_floor": ratio(per, "threadsafe_locked", "rwlock_floor"),
        "contention_total_vs_single": ct["ratio"],
        "backend": table_backend.BACKEND,
        "parse_step_vs_dict_lock": ratio(per, "threadsafe", "dict_lock"),
        "parse_step_single_vs_dict_lock": ratio(per, "single", "dict_lock"),
        "parse_step_python_backend_vs_dict_lock": ratio(per, "python_backend", "dict_lock"),
        "contention_same_keys_total_vs_alone": same["ratio"],
        "contention_same_keys_p99_wait_us": same["main_wait_ns"]["p99"] / 1e3,
        "contention_other_keys_writer_share": ct["writer_share"],
        "memory_vs_dict_of_lists": mem["vs_dict_of_lists"],
        "native_read_vs_dict_step": nat["vs_dict_step"],
        "nested_depth2_vs_depth1": ratio(per, "nested_depth2", "nested_depth1"),
        "nested_depth2_uncached_vs_depth1": ratio(per, "nested_depth2_uncached", "nested_depth1"),
        "contention_same_keys": same,
        "memory_threadsafe_vs_single": mem["ratio"],
        "native_read_ns": nat["median"],
        "native_read_ns_per_round": nat["per_round"],
        "native_read_calls_per_round": nat["calls"],
        "native_read_vs_dict_step_per_round": nat["vs_dict_step_per_round"],
        "parse_step_ns": ps["ns"],
        "parse_step_per_round_ns": per,
        "contention": ct,
        "memory_bytes_per_entry": mem,
        "notes": {
            "native_read_ns": "one native read_entry_field (int64 field, thread-safe Python "
            "table, owner fast path) through the C dispatcher during a parse callback, timed in "
            "C; median of batches per round, median over rounds",
            "backend": "the table core behind Table (CONCURRENT_TABLES_BACKEND); "
            "python_backend is a PythonTable whatever the backend",
            "threadsafe": "owner thread: lock-free fast path (no other thread on its keys) on "
            "the Python core; on the C core every handle is a grant of the entry's state",
            "threadsafe_locked": "fast_path=False: every handle takes its entry lock",
            "nested_depth2_uncached": "the nested step with the fd alternating between 3 and 4 "
            "at each visit of a thread (on a table of its own whose nested tables hold both), "
            "so that the C core's remembered last lookup of the nested table never hits "
            "(no target)",
            "contention": "main thread + 2 busy writers on other keys vs main thread alone; "
            "wait = time to obtain the write handle, GIL waits included",
        },
        "targets": {k: f"{op} {b:g}" for k, (op, b) in TARGETS.items()},
    }
    print(format_table(out))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
    return 0


def format_table(r: dict[str, Any]) -> str:
    ns = r["parse_step_ns"]
    ct = r["contention"]
    mem = r["memory_bytes_per_entry"]
    lines = [
        "",
        "parse step (look up a thread, read 3 fields, write 2), median ns per step:",
        f"  {'thread-safe table (owner fast path)':44} {ns['threadsafe']:9.0f}",
        f"  {'thread-safe table, fast_path=False':44} {ns['threadsafe_locked']:9.0f}",
        f"  {'thread-safe PythonTable (Python backend)':44} {ns['python_backend']:9.0f}",
        f"  {'nested: depth 1 / depth 2 / depth 2 uncached':44} {ns['nested_depth1']:9.0f} / "
        f"{ns['nested_depth2']:.0f} / {ns['nested_depth2_uncached']:.0f}",
        f"  {'single-threaded table':44} {ns['single']:9.0f}",
        f"  {'dict + RWLockFair write lock (floor)':44} {ns['rwlock_floor']:9.0f}",
        f"  {'dict + threading.Lock':44} {ns['dict_lock']:9.0f}",
        f"  {'plain dict':44} {ns['dict']:9.0f}",
        "",
        f"{'ratio (median of per-round ratios)':50} {'value':>7}  target",
    ]
    rows = [
        ("parse_step_vs_dict_lock", f"thread-safe ({r['backend']} core) / dict+Lock"),
        ("parse_step_single_vs_dict_lock", "single-threaded / dict+Lock"),
        ("parse_step_python_backend_vs_dict_lock", "Python backend, thread-safe / dict+Lock"),
        ("contention_same_keys_total_vs_alone", "same keys: total (main+2 writers) / alone"),
        ("contention_same_keys_p99_wait_us", "same keys: main's p99 handle wait (us)"),
        ("contention_other_keys_writer_share", "other keys: writers' share of all steps"),
        ("memory_vs_dict_of_lists", "memory: thread-safe / dict of lists"),
        ("native_read_vs_dict_step", "one native read / one plain-dict parse step"),
        ("nested_depth2_vs_depth1", "nested step (depth 2) / depth 1"),
        ("nested_depth2_uncached_vs_depth1", "nested step, fd alternating / depth 1"),
        ("parse_step_threadsafe_vs_rwlock_floor", "thread-safe / rwlock floor"),
        ("parse_step_threadsafe_vs_single", "thread-safe / single-threaded"),
        ("parse_step_threadsafe_vs_dict_lock", "thread-safe / dict+Lock"),
        ("parse_step_threadsafe_vs_dict", "thread-safe / plain dict"),
        ("parse_step_locked_vs_rwlock_floor", "thread-safe fast_path=False / rwlock floor"),
        ("contention_total_vs_single", "contention: total (main+2 writers) / main alone"),
        ("memory_threadsafe_vs_single", "memory: thread-safe / single-threaded"),
    ]
    for key, label in rows:
        lines.append(f"  {label:48} {r[key]:7.3f}  {_verdict(key, r[key])}")
    lines += [
        f"  {'native_read_ns (ns per native read_entry_field)':48} {r['native_read_ns']:7.0f}  "
        f"{_verdict('native_read_ns', r['native_read_ns'])}",
        "",
        f"contention ({ct['seconds_per_run']:g}s runs): alone {ct['alone_steps_per_s']:,.0f} "
        f"steps/s; with 2 writers: total {ct['total_steps_per_s']:,.0f} "
        f"(main {ct['main_steps_per_s']:,.0f}, writers {ct['writers_steps_per_s']:,.0f})",
        "  handle wait p50/p99 (us): "
        f"main alone {ct['alone_wait_ns']['p50'] / 1e3:.2f}/{ct['alone_wait_ns']['p99'] / 1e3:.2f}"
        f", main contended {ct['main_wait_ns']['p50'] / 1e3:.2f}/"
        f"{ct['main_wait_ns']['p99'] / 1e3:.2f}"
        f", writers {ct['writers_wait_ns']['p50'] / 1e3:.2f}/"
        f"{ct['writers_wait_ns']['p99'] / 1e3:.2f}",
        f"memory ({mem['entries']:,} entries): thread-safe {mem['threadsafe']:.1f} B/entry, "
        f"single-threaded {mem['single']:.1f} B/entry, "
        f"dict of lists {mem['dict_of_lists']:.1f} B/entry",
    ]
    return "\n".join(lines)
