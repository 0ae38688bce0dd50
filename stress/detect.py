"""--detect: schedule perturbation, a lockdep-style lock-order graph, and error counting.

`Detector.trace` is installed with `concurrent_tables.locking.set_tracer`; the library calls it at
every lock point of a thread-safe table's locked path ("acquire" before waiting, "acquired" once
granted, "release" after letting go). The owner's lock-free fast path does not call the tracer:
`stress.instrument.Probes` reports its handles here with the same events, so tables keep their
fast path under --detect and both paths are traced, perturbed and graphed.

Schedule perturbation. At each lock point, and at each `yield_point()` that scenario code calls
between the field writes of one handle, the thread may `time.sleep(0)` (give up the GIL). The
decision comes from an RNG per thread, seeded from (run seed, thread name): the n-th lock point of
thread "async-0" yields or not the same way in every run with that seed. That replays the yield
decisions, not the OS scheduler, so a failing seed fails again with high probability, not always.

Lock order. Each thread keeps the stack of entry locks it holds. When it asks for lock B while
holding A, the edge A -> B enters a global graph (first witness kept). A cycle in that graph is an
order in which two threads could each hold what the other waits for: a potential deadlock, even
if the run never hit it (lockdep's idea). Locks are identified two ways:

    instance  "table[key]"   one entry lock (nested tables: "name#n[key]", n per instance)
    class     "table.entry"  every entry lock of tables of that name

Cycles of instance locks are violations. Cycles of classes are reported as warnings: they are
real hazards only if the instances can coincide (the same keys), and a class-level self-edge
("threads.entry -> threads.entry") just says that two entries of one table are nested, which is
safe when every thread orders them the same way (the instance graph then has no cycle).
Read and write locks are treated alike: a fair reader-writer lock queues a reader behind a waiting
writer, so read-read orders can deadlock too.
"""

from __future__ import annotations

import random
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from concurrent_tables import Table
from concurrent_tables.errors import (
    AccessDeniedError,
    BorrowError,
    LockTimeoutError,
    ReentrancyError,
    StaleHandleError,
    ThreadAccessDeniedError,
    WrongThreadError,
)

from .scenario import derive_seed

#: The errors --detect counts (every instance constructed, i.e. raised). Each is counted
#: under its own name: ThreadAccessDeniedError (a WrongThreadError from a plugin's thread, under
#: the host) is not also a WrongThreadError or an AccessDeniedError here.
COUNTED_ERRORS: tuple[type[Exception], ...] = (
    StaleHandleError,
    WrongThreadError,
    ThreadAccessDeniedError,
    AccessDeniedError,
    BorrowError,
    ReentrancyError,
    LockTimeoutError,
)

MAX_EDGES = 200_000
MAX_CYCLES = 50


@dataclass
class _ThreadState:
    name: str
    rng: random.Random
    held: list[tuple[str, str]] = field(default_factory=list)  # (instance, class), oldest first
    lock_points: int = 0
    yields: int = 0


@dataclass(frozen=True)
class Witness:
    """Where an edge was first seen: the thread and what it held."""

    thread: str
    held: tuple[str, ...]
    at_s: float = 0.0  # seconds after the detector was made


class Detector:
    """The tracer installed by --detect (see the module docstring)."""

    def __init__(self, seed: int, yield_probability: float = 0.5) -> None:
        self.seed = seed
        self.p = yield_probability
        self._local = threading.local()
        self._lock = threading.Lock()
        self._states: list[_ThreadState] = []
        self._labels: weakref.WeakKeyDictionary[Table[Any, Any], str] = weakref.WeakKeyDictionary()
        self._per_name: Counter[str] = Counter()
        self.edges: dict[str, dict[str, Witness]] = {}
        self.class_edges: dict[str, dict[str, Witness]] = {}
        self.nedges = 0
        self.truncated = False
        self.t0 = time.monotonic()

    # -- per-thread state --------------------------------------------------------------------

    def _state(self) -> _ThreadState:
        try:
            st: _ThreadState = self._local.st
        except AttributeError:
            name = threading.current_thread().name
            st = _ThreadState(name, random.Random(derive_seed(self.seed, "yield", name)))
            self._local.st = st
            with self._lock:
                self._states.append(st)
        return st

    def yield_point(self) -> None:
        """Maybe give up the GIL here (seeded per thread)."""
        st = self._state()
        st.lock_points += 1
        if st.rng.random() < self.p:
            st.yields += 1
            time.sleep(0)

    # -- the tracer --------------------------------------------------------------------------

    def _label(self, table: Table[Any, Any]) -> str:
        label = self._labels.get(table)
        if label is None:
            with self._lock:
                label = self._labels.get(table)
                if label is None:
                    n = self._per_name[table.name]
                    self._per_name[table.name] = n + 1
                    label = table.name if n == 0 else f"{table.name}#{n}"
                    self._labels[table] = label
        return label

    def trace(self, event: str, domain: Any, table: Table[Any, Any], key: Any, write: bool) -> None:
        st = self._state()
        lock = f"{self._label(table)}[{key!r}]"
        cls = f"{table.name}.entry"
        if event == "acquire":
            if st.held:
                self._add_edges(st, lock, cls)
        elif event == "acquired":
            st.held.append((lock, cls))
        else:  # release
            for i in range(len(st.held) - 1, -1, -1):
                if st.held[i][0] == lock:
                    del st.held[i]
                    break
        st.lock_points += 1
        if st.rng.random() < self.p:
            st.yields += 1
            time.sleep(0)

    def _add_edges(self, st: _ThreadState, lock: str, cls: str) -> None:
        held = tuple(h for h, _ in st.held)
        for h, hc in st.held:
            # Asking again for a lock this thread holds is no ordering: a second read shares
            # the first, anything else raises ReentrancyError instead of waiting.
            if h != lock:
                self._edge(self.edges, h, lock, st.name, held)
                self._edge(self.class_edges, hc, cls, st.name, held)

    def _edge(
        self,
        graph: dict[str, dict[str, Witness]],
        a: str,
        b: str,
        thread: str,
        held: tuple[str, ...],
    ) -> None:
        out = graph.get(a)
        if out is not None and b in out:
            return
        with self._lock:
            if self.nedges >= MAX_EDGES:
                self.truncated = True
                return
            out = graph.setdefault(a, {})
            if b not in out:
                out[b] = Witness(thread, held, round(time.monotonic() - self.t0, 4))
                self.nedges += 1

    # -- results -----------------------------------------------------------------------------

    def cycles(self) -> list[dict[str, Any]]:
        """Example cycles of the instance graph (see `_cycles`)."""
        return [_describe(c, self.edges) for c in _cycles(self.edges, self_loops=False)]

    def class_cycles(self) -> list[dict[str, Any]]:
        return [_describe(c, self.class_edges) for c in _cycles(self.class_edges, self_loops=True)]

    def report(self) -> dict[str, Any]:
        with self._lock:
            states = list(self._states)
        return {
            "yield_probability": self.p,
            "lock_points": sum(s.lock_points for s in states),
            "yields": sum(s.yields for s in states),
            "per_thread": {
                s.name: {"lock_points": s.lock_points, "yields": s.yields} for s in states
            },
            "lock_order": {
                "locks": len({*self.edges, *(b for out in self.edges.values() for b in out)}),
                "edges": sum(len(out) for out in self.edges.values()),
                "truncated": self.truncated,
                "cycles": self.cycles(),
                "class_edges": sorted(
                    f"{a} -> {b}" for a, out in self.class_edges.items() for b in out
                ),
                "class_cycles": self.class_cycles(),
            },
        }


def _describe(cycle: list[str], graph: dict[str, dict[str, Witness]]) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
        w = graph[a][b]
        steps.append(
            {"edge": f"{a} -> {b}", "thread": w.thread, "held": list(w.held), "at_s": w.at_s}
        )
    return {
        "cycle": [*cycle, cycle[0]],
        "witnesses": steps,
        "complete_at_s": max(float(s["at_s"]) for s in steps),
    }


def _cycles(graph: dict[str, dict[str, Witness]], *, self_loops: bool) -> list[list[str]]:
    """Example cycles: for each edge inside a strongly connected component, the shortest cycle
    through it (deduplicated; at most MAX_CYCLES). Self-loops count only if `self_loops`."""
    comp_of: dict[str, int] = {}
    for i, comp in enumerate(_sccs(graph)):
        for v in comp:
            comp_of[v] = i
    found: dict[tuple[str, ...], list[str]] = {}
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if a == b:
                cycle = [a] if self_loops else None
            elif comp_of.get(a) == comp_of.get(b):
                path = _shortest_path(graph, b, a, comp_of[a], comp_of)
                cycle = [a, *path[:-1]]
            else:
                cycle = None
            if cycle is None:
                continue
            i = cycle.index(min(cycle))
            norm = tuple(cycle[i:] + cycle[:i])
            if norm not in found:
                found[norm] = list(norm)
                if len(found) >= MAX_CYCLES:
                    return sorted(found.values())
    return sorted(found.values())


def _shortest_path(
    graph: dict[str, dict[str, Witness]], src: str, dst: str, comp: int, comp_of: dict[str, int]
) -> list[str]:
    """The shortest path src -> ... -> dst inside one component (BFS), both ends included."""
    parent: dict[str, str] = {}
    frontier, seen = [src], {src}
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, {})):
                if w in seen or comp_of.get(w) != comp:
                    continue
                parent[w] = v
                if w == dst:
                    path = [w]
                    while path[-1] != src:
                        path.append(parent[path[-1]])
                    return list(reversed(path))
                seen.add(w)
                nxt.append(w)
        frontier = nxt
    raise AssertionError("no path inside a strongly connected component")


def _sccs(graph: dict[str, dict[str, Witness]]) -> list[list[str]]:
    """Strongly connected components (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    sccs: list[list[str]] = []
    counter = 0
    for root in list(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(graph.get(root, {})))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(graph.get(w, {}))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                sccs.append(comp)
    return sccs


@contextmanager
def count_errors() -> Iterator[Counter[str]]:
    """Count every counted error constructed (raised) while the block runs, in any thread."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    saved = []
    for cls in COUNTED_ERRORS:
        own = cls.__dict__.get("__init__")  # None: inherited (AccessDeniedError)
        saved.append((cls, own))

        def init(
            self: Any,
            *a: Any,
            _orig: Any = own,
            _cls: type[Exception] = cls,
            _name: str = cls.__name__,
            **k: Any,
        ) -> None:
            with lock:
                counts[_name] += 1
            if _orig is not None:
                _orig(self, *a, **k)
            else:
                super(_cls, self).__init__(*a, **k)

        cls.__init__ = init  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        for cls, own in saved:
            if own is None:
                del cls.__init__
            else:
                cls.__init__ = own  # type: ignore[method-assign]
