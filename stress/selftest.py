"""`python -m stress selftest`: does the detector catch what it claims? Planted bugs, timed.

Each planted bug is a small set of plugins run like `stress run --plugin ... --detect` (the same
runner, probes and checks), with the bug planted for that run only, until the violation it
must cause is reported or `--budget` seconds pass:

    lost-update          an async task increments a shared counter with the read and the write
                         under two handles; the parser counts events on the same keys
                         -> `invariant` (the declared "hits add up" invariant)
    fast-path-check      the library's owner fast path with its cross-thread check removed (the
                         owner takes a key lock-free while another thread holds its lock); the
                         same two plugins, correct this time -> `invariant` (lost updates)
    lock-order           the parser (owner, fast path) nests alpha[1] -> beta[1], an async task
                         beta[1] -> alpha[1]; an untraced gate keeps them from deadlocking
                         -> `lock-order-cycle`
    handle-leak          a parser that keeps a read handle past the end of its callback every
                         16th event -> `handle-leak`
    release-skipped      the entry lock's write acquisition without its undo when interrupted:
                         an interrupt that lands while the owner waits for readers leaves the
                         lock's gate taken -> `deadlock` (the watchdog) once every thread queues
                         behind it

The second and the last are library bugs (`stress.planted`): on the Python core they patch its
code, on the C core they switch on the core's test-only faults. The selftest runs on the lock
backend the library runs (CONCURRENT_TABLES_BACKEND; `--backend c|python` picks one, in a child
process, and `--backend all` runs both and reports each). A bug without a hook in a backend is
reported as not planted there, and counts as missed. Exit 0 only if every bug was caught.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from threading import Lock
from typing import Any

import concurrent_tables
from concurrent_tables import (
    U32,
    U64,
    AsyncPlugin,
    EntrySchema,
    Event,
    ParsePlugin,
    Plugin,
    Table,
    TableReader,
    TablesInput,
    TableWriter,
)
from concurrent_tables.plugins.base import AsyncContext

from .checks import invariant
from .loading import PluginSpec
from .planted import planted_fast_path, planted_release_skipped
from .report import environment
from .scenario import RunOptions

KEYS = range(4)


#: The lock backends `--backend all` runs.
BACKENDS = ("c", "python")


def _run_all(*, budget_s: float, bugs: list[str] | None, seed: int, json_path: str | None) -> int:
    """The selftest on every lock backend in turn; one line per backend at the end."""
    codes: dict[str, int] = {}
    per_backend: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for b in BACKENDS:
            out = os.path.join(tmp, f"{b}.json")
            codes[b] = run_selftest(budget_s=budget_s, bugs=bugs, backend=b, seed=seed,
                                    json_path=out)  # fmt: skip
            if os.path.exists(out):
                with open(out, encoding="utf-8") as f:
                    per_backend[b] = json.load(f)["results"]
    verdict = {0: "PASS", 1: "FAIL"}
    print("stress selftest: " + ", ".join(
        f"{b} {verdict.get(c, 'NOT RUN')}" for b, c in codes.items()))  # fmt: skip
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump({**environment(), "backends": per_backend}, f, indent=2)
    return max(codes.values())


# -- the plugins ----------------------------------------------------------------------------------


class Hits(EntrySchema):
    hits: U64


class Ticker(ParsePlugin, AsyncPlugin):
    """Exports `hits`; its async task increments one key per run, under one write handle."""

    name = "ticker"

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table: Table[int, Any] = Table("hits", U32, Hits, thread_safe=True)
        for k in KEYS:
            self.table.add_entry(k, self.table.create_entry())
        tables.export_table(self.table)
        self.ticks = [0 for _ in KEYS]
        self.n = 0

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        pass

    def start_async(self, ctx: AsyncContext) -> None:
        ctx.start_task(self.tick, name="ticker")

    def tick(self) -> None:
        k = self.n % len(KEYS)
        self.n += 1
        with self.table.write(k) as h:
            h["hits"] += 1
        self.ticks[k] += 1


class RacyTicker(Ticker):
    """Planted lost update: read and write under two handles."""

    def tick(self) -> None:
        k = self.n % len(KEYS)
        self.n += 1
        with self.table.read(k) as h:
            hits = h["hits"]
        with self.table.write(k) as h:
            h["hits"] = hits + 1
        self.ticks[k] += 1


class Counter(ParsePlugin):
    """Imports `hits`; counts each event on key tid % 4 under the callback's writer."""

    name = "counter"

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.hits = tables.get_table("hits", U32)
        self.field = self.hits.get_field("hits", U64)
        self.parsed = [0 for _ in KEYS]

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        k = event.tid % len(KEYS)
        with self.hits.get_entry(writer, k, write=True) as h:
            h[self.field] += 1
        self.parsed[k] += 1


class HitsAddUp:
    """Every hit was counted by the ticker or the counter."""

    def __init__(self, plugins: dict[str, Plugin]) -> None:
        self.ticker: Any = plugins["ticker"]
        self.counter: Any = plugins["counter"]

    @invariant("hits == events parsed + ticks, on every key")
    def hits_add_up(self, final: bool) -> bool | str:
        for k in KEYS:
            ticks = self.ticker.ticks[k]
            with self.ticker.table.read(k) as h:
                hits = h["hits"]
            expected = self.counter.parsed[k] + ticks
            if hits < expected or (final and hits != expected):
                return f"key {k}: hits {hits}, expected {expected}"
        return True


class Cell(EntrySchema):
    n: U64


class Inverter(ParsePlugin, AsyncPlugin):
    """Planted lock-order inversion, serialised by a gate the tracer cannot see."""

    name = "inverter"

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.alpha: Table[int, Any] = Table("alpha", U32, Cell, thread_safe=True)
        self.beta: Table[int, Any] = Table("beta", U32, Cell, thread_safe=True)
        for t in (self.alpha, self.beta):
            t.add_entry(1, t.create_entry())
            tables.export_table(t)
        self.gate = Lock()

    def _nested(self, first: Table[Any, Any], second: Table[Any, Any]) -> None:
        with self.gate, first.write(1) as a, second.write(1) as b:
            a["n"] += 1
            b["n"] += 1

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        self._nested(self.alpha, self.beta)  # the owner: both handles on its fast path

    def start_async(self, ctx: AsyncContext) -> None:
        ctx.start_task(lambda: self._nested(self.beta, self.alpha), interval=0.001, name="inv")


class Leaker(ParsePlugin):
    """Planted handle leak: every 16th event keeps a read handle past its callback."""

    name = "leaker"

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.hits = tables.get_table("hits", U32)
        self.n = 0
        self.kept: list[Any] = []

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        self.n += 1
        h = self.hits.get_entry(reader, self.n % len(KEYS))
        if self.n % 16:
            h.release()
        else:
            self.kept.append(h)  # the bug: never released (the host's scope does it)


class Holder(ParsePlugin, AsyncPlugin):
    """Readers hold key 0 most of the time; the owner writes it, so it waits for them."""

    name = "holder"

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table: Table[int, Any] = Table("held", U32, Cell, thread_safe=True)
        self.table.add_entry(0, self.table.create_entry())
        tables.export_table(self.table)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        with self.table.write(0) as h:
            h["n"] += 1

    def start_async(self, ctx: AsyncContext) -> None:
        for i in range(2):
            ctx.start_task(self._read, name=f"reader-{i}")

    def _read(self) -> None:
        with self.table.read(0):
            time.sleep(0.002)


# -- the catalogue --------------------------------------------------------------------------------

_HERE = __name__


@dataclass(frozen=True)
class PlantedBug:
    name: str
    description: str
    plugins: tuple[str, ...]  # MODULE:ATTR specs, loaded like --plugin
    invariants: tuple[str, ...]
    expect: str  # the violation kind that catches it
    plant: Callable[[], Any] = nullcontext
    #: The lock backends it can be planted in (None: any; the bug is in the plugins).
    backends: tuple[str, ...] | None = None
    stall_s: float = 10.0


BUGS = (
    PlantedBug(
        "lost-update",
        "async task: read and write of a counter under two handles",
        (f"{_HERE}:RacyTicker", f"{_HERE}:Counter"),
        (f"{_HERE}:HitsAddUp",),
        "invariant",
    ),
    PlantedBug(
        "fast-path-check",
        "owner fast path without its cross-thread check",
        (f"{_HERE}:Ticker", f"{_HERE}:Counter"),
        (f"{_HERE}:HitsAddUp",),
        "invariant",
        planted_fast_path,
    ),
    PlantedBug(
        "lock-order",
        "owner nests alpha -> beta on its fast path, a task beta -> alpha",
        (f"{_HERE}:Inverter",),
        (),
        "lock-order-cycle",
    ),
    PlantedBug(
        "handle-leak",
        "a read handle kept past the end of parse_event",
        (f"{_HERE}:Ticker", f"{_HERE}:Leaker"),
        (),
        "handle-leak",
    ),
    PlantedBug(
        "release-skipped",
        "write lock acquisition without its undo when interrupted",
        (f"{_HERE}:Holder",),
        (),
        "deadlock",
        planted_release_skipped,
        stall_s=0.5,
    ),
)


def active_backend() -> str:
    """The lock backend the library runs on (issue 10 adds `concurrent_tables.lock_backend`)."""
    fn = getattr(concurrent_tables, "lock_backend", None)
    if callable(fn):
        return str(fn())
    return "python"


def run_bug(bug: PlantedBug, budget_s: float, seed: int, backend: str) -> dict[str, Any]:
    from .plugin_run import run_plugins

    if bug.backends is not None and backend not in bug.backends:
        return {
            "bug": bug.name,
            "caught": False,
            "planted": False,
            "why": f"no hook to plant it in the {backend!r} lock backend",
        }
    opts = RunOptions(
        duration_s=budget_s,
        seed=seed,
        detect=True,
        stall_s=bug.stall_s,
        progress=False,
        quiet=True,
        plugins=[PluginSpec(s) for s in bug.plugins],
        invariants=list(bug.invariants),
        stop_on=(bug.expect,),
    )
    t0 = time.monotonic()
    with bug.plant():
        report = run_plugins(opts)
    wall = time.monotonic() - t0
    caught = report.violation_counts.get(bug.expect, 0) > 0
    at: float | None = None
    if caught and report.detect is not None and bug.expect == "lock-order-cycle":
        at = min(c["complete_at_s"] for c in report.detect["lock_order"]["cycles"])
    elif caught:
        at = next(v["at_s"] for v in report.violations if v["kind"] == bug.expect)
    return {
        "bug": bug.name,
        "description": bug.description,
        "expect": bug.expect,
        "planted": True,
        "caught": caught,
        "caught_after_s": at,
        "run_s": round(wall, 3),
        "violations": report.violation_counts,
        "thread_errors": [e["error"] for e in report.thread_errors],
        "reproduce": report.reproduce,
    }


def run_selftest(
    *,
    budget_s: float = 3.0,
    bugs: list[str] | None = None,
    backend: str | None = None,
    seed: int = 1,
    json_path: str | None = None,
) -> int:
    """Run the planted bugs; print caught/missed with times; 0 only if all were caught."""
    if backend == "all":
        return _run_all(budget_s=budget_s, bugs=bugs, seed=seed, json_path=json_path)
    env_backend = os.environ.get("CONCURRENT_TABLES_BACKEND", "") or active_backend()
    if backend is not None and backend != env_backend:
        # The backend is chosen when the library loads: run in a child with it set.
        argv = [sys.executable, "-m", "stress", "selftest", "--budget", f"{budget_s:g}",
                "--seed", str(seed)]  # fmt: skip
        for b in bugs or ():
            argv += ["--bug", b]
        if json_path:
            argv += ["--json", json_path]
        env = {**os.environ, "CONCURRENT_TABLES_BACKEND": backend}
        return subprocess.call(argv, env=env)
    wanted = backend or env_backend
    active = active_backend()
    if active != wanted:
        print(
            f"stress selftest: lock backend {wanted!r} is not available in this build "
            f"(the library runs {active!r})",
            file=sys.stderr,
        )
        return 2
    known = {b.name: b for b in BUGS}
    unknown = [b for b in bugs or () if b not in known]
    if unknown:
        print(
            f"stress selftest: unknown planted bug {unknown[0]!r}: expected one of "
            f"{', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    chosen = [known[b] for b in bugs] if bugs else list(BUGS)
    print(f"stress selftest: {len(chosen)} planted bugs, lock backend {active}, "
          f"budget {budget_s:g}s each")  # fmt: skip
    results = []
    for bug in chosen:
        r = run_bug(bug, budget_s, seed, active)
        results.append(r)
        if r["caught"]:
            line = f"caught after {r['caught_after_s']:.3f}s as {bug.expect}"
        elif not r["planted"]:
            line = f"MISSED (not planted: {r['why']})"
        else:
            line = f"MISSED in {r['run_s']:.1f}s (expected {bug.expect}); {r['reproduce']}"
            if r["thread_errors"]:
                line += f"\n{'':20} first thread error: {r['thread_errors'][0]}"
        print(f"  {bug.name:18} {line}")
    missed = [r["bug"] for r in results if not r["caught"]]
    print(
        "  result: "
        + ("PASS: every planted bug was caught" if not missed else f"FAIL: missed {missed}")
    )
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump({**environment(), "backend": active, "results": results}, f, indent=2)
    return 0 if not missed else 1
