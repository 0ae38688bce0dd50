"""The `native` scenario: a native plugin's pthreads and Python threads on one Python table.

The workload plugin (`stress/native/workload.c`, compiled with gcc when the run starts: `prepare`)
is loaded into the `PluginHost` with `load_native_plugin`, after the state plugin that made and
exported the thread-safe table `rows` (keys 0..15; UINT64 fields `py_seq`, `py_a`, `py_b`,
`c_count`, `c_x`). At `capture_open` it starts two pthreads that use `rows` through the
capture-listen vtables until `capture_close` joins them.
Meanwhile the host's main thread parses and extracts, a listen routine reads every row and async
tasks write Python records.

What a native entry handle guarantees (docs/c-abi.md): it is a pin, not a lock; each
`read_entry_field` / `write_entry_field` takes the entry's lock for that one call. So the
invariants ask for no more than per-call atomicity, and for fields with a single writer:

- **C fields** (`c_count`, `c_x`): on its own keys (key % 2 == its index) a pthread is the only
  writer. It reads `c_count`, writes `c_count + 1`, then `c_x = 3 * (c_count + 1)`, and only then
  counts the increment as completed (an atomic counter per key, which Python reads through
  `ct_workload_completed`).
  - lost-update, C side: the value it reads must equal the increments it completed (nobody else
    writes the field: a Python write handle on the same row must not undo it);
  - lost-update, Python side: load `completed` first, then read under a read handle: `c_count`
    must be at least that. Final (pthreads joined at capture_close): equal;
  - torn-read, Python side: under one read handle the row cannot change, so `c_count` read twice
    agrees, and `c_x` is `3 * c_count` or `3 * (c_count - 1)` (the pthread's two writes are two
    calls: between them, `c_x` is one call behind; never anything else).
- **Python records** (`py_seq`, `py_a = 3 * py_seq`, `py_b = py_seq ^ 0x5555`): written under
  one write handle by the main thread (parse) and the writer tasks, `py_seq` bumped every time.
  - lost-update: the usual ledger (`CounterLedger`), online and final;
  - torn-read, Python side: the relation under every read handle;
  - torn-read, C side (a seqlock): the pthread reads `py_seq`, `py_a`, `py_b`, `py_seq` in four
    calls. If both `py_seq` agree, no Python write handle ended in between (each bumps it), so
    the three values are one record and the relation must hold; otherwise the read is counted
    as a retry and not checked. C-side violations are counted in C and reported by `check()`.

Any failing vtable call of a pthread (the bridge refusing it) is counted in C, with the first
owner error, and fails the run. Each pthread's entry acquisitions are mirrored into a lane
(`c-pthread-i`, an async task polling `ct_workload_ops` every 20 ms), so they show in ops/s
and the watchdog sees a stuck pthread. The plugin's status is read once more right after its
`capture_close` (a small listen plugin loaded after it), before the host destroys it, for the
final checks.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from concurrent_tables import U64, EntrySchema, ListenPlugin, Plugin
from concurrent_tables.cabi.plugin_adapter import NativePluginAdapter, load_native_plugin
from concurrent_tables.importing.backends import EntryView
from concurrent_tables.plugins.base import CaptureListenInput

from ..api import Api
from ..invariants import CounterLedger
from ..scenario import Lane, Scenario, ScenarioUnavailable, Worker, register
from .build import WORKLOAD_CDEF, CompileError, compile_workload

MAGIC = 0x5555


class Row(EntrySchema):
    py_seq: U64  # Python writers: bumped under every write handle
    py_a: U64  # 3 * py_seq
    py_b: U64  # py_seq ^ 0x5555
    c_count: U64  # written only by the C pthread that owns the key
    c_x: U64  # 3 * c_count, written by that pthread in the next call


class _StatusAtClose(ListenPlugin):
    """Loaded right after the native plugin: its capture_close runs once the pthreads are
    joined, and snapshots their final figures before the host destroys the plugin."""

    name = "stress-native-status"

    def __init__(self, scenario: NativeScenario) -> None:
        self.scenario = scenario

    def capture_close(self, capture: CaptureListenInput) -> None:
        self.scenario.snapshot_final()


@register
class NativeScenario(Scenario):
    name = "native"
    description = (
        "a native plugin's pthreads increment and seqlock-read rows of a Python table through "
        "the C vtables while Python parses, reads and writes them"
    )
    drivers = ("host",)
    min_threads = 2
    nkeys = 16
    c_threads = 2

    # -- building and loading the plugin -----------------------------------------------------

    def prepare(self) -> None:
        out = Path(tempfile.mkdtemp(prefix="ct-stress-native-"))
        try:
            self.plugin_path = compile_workload(out)
        except CompileError as exc:
            shutil.rmtree(out, ignore_errors=True)
            raise ScenarioUnavailable(f"it compiles its C workload at run time: {exc}") from exc
        self.final: dict[str, Any] | None = None
        self._c_reported: dict[str, int] = {}
        self._c_gap: dict[int, int] = {}
        self._failure_reported = False

    def host_plugins(self) -> list[Plugin]:
        config = f"threads={self.c_threads};keys={self.nkeys}"
        try:
            self.plugin: NativePluginAdapter = load_native_plugin(
                str(self.plugin_path), config, extra_cdef=WORKLOAD_CDEF
            )
        finally:  # loaded (or not): the file is no longer needed
            shutil.rmtree(self.plugin_path.parent, ignore_errors=True)
        return [self.plugin, _StatusAtClose(self)]

    # -- the C side's figures -----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The pthreads' JSON status (while the plugin lives)."""
        n = self.plugin.native
        text = n.pffi.string(n.lib.ct_workload_status(n.state)).decode()
        result: dict[str, Any] = json.loads(text)
        return result

    def c_completed(self, key: int) -> int:
        n = self.plugin.native
        return int(n.lib.ct_workload_completed(n.state, key))

    def c_ops(self, thread: int) -> int:
        n = self.plugin.native
        return int(n.lib.ct_workload_ops(n.state, thread))

    def snapshot_final(self) -> None:
        self.final = {
            "status": self.status(),
            "completed": [self.c_completed(k) for k in self.keys],
        }

    # -- tables and workers ---------------------------------------------------------------------

    def setup(self) -> None:
        t = self.table = self.ctx.make_table("rows", U64, Row)
        self.f_seq = t.get_field("py_seq", U64)
        self.f_a = t.get_field("py_a", U64)
        self.f_b = t.get_field("py_b", U64)
        self.f_c = t.get_field("c_count", U64)
        self.f_x = t.get_field("c_x", U64)
        self.keys = list(range(self.nkeys))
        for k in self.keys:
            e = t.create_entry()
            e[self.f_b] = 0 ^ MAGIC
            t.add_entry(k, e)

    def workers(self, n: int) -> list[Worker]:
        out = [Worker("reader-0", "listen", self._reader_step, pause_s=0.002)]
        out += [Worker(f"writer-{i}", "writer", self._writer_step) for i in range(1, n)]
        self.ledger = CounterLedger(self.keys, ["main", *(w.name for w in out[1:])])
        out += [
            Worker(f"c-pthread-{i}", "native", self._mirror(i), pause_s=0.02)
            for i in range(self.c_threads)
        ]
        return out

    def _bump(self, h: EntryView) -> None:
        y = self.ctx.yield_point
        seq = h[self.f_seq] + 1
        h[self.f_seq] = seq
        y()
        h[self.f_a] = 3 * seq
        y()
        h[self.f_b] = seq ^ MAGIC

    def _verify(self, h: EntryView, key: int) -> tuple[int, int]:
        """Check one row under a read handle; returns (py_seq, c_count)."""
        seq, a, b = h[self.f_seq], h[self.f_a], h[self.f_b]
        if a != 3 * seq or b != seq ^ MAGIC:
            self.ctx.violation("torn-read", table="rows", key=key, python_record=[seq, a, b])
        c1 = h[self.f_c]
        self.ctx.yield_point()
        x = h[self.f_x]
        c2 = h[self.f_c]
        if c1 != c2 or x not in (3 * c1, 3 * (c1 - 1)):
            self.ctx.violation(
                "torn-read",
                table="rows",
                key=key,
                c_fields={"c_count": c1, "c_x": x, "c_count again": c2},
                rule="under one read handle c_x is 3*c_count or 3*(c_count-1)",
            )
        return int(seq), int(c1)

    def _reader_step(self, lane: Lane) -> int:
        for k in self.keys:
            with self.table.read(k) as h:
                self._verify(h, k)
        return len(self.keys)

    def _increment(self, api: Api, who: str, key: int) -> int:
        with api.write(api["rows"], key) as h:
            self._bump(h)
        self.ledger.record(who, key)
        return 1

    def _writer_step(self, lane: Lane) -> int:
        return self._increment(self.direct, lane.name, lane.rng.choice(self.keys))

    def _mirror(self, i: int) -> Any:
        last = [0]

        def step(lane: Lane) -> int:
            now = self.c_ops(i)
            delta, last[0] = now - last[0], now
            return delta

        return step

    # -- the main thread ------------------------------------------------------------------------

    def next_event(self, rng: random.Random) -> tuple[str, int]:
        return ("write" if rng.random() < 0.5 else "read", rng.choice(self.keys))

    def parse(self, lane: Lane, event: Any, api: Api) -> int:
        op, key = event
        return self._increment(api, lane.name, key) if op == "write" else 0

    def extract(self, lane: Lane, event: Any, api: Api) -> int:
        op, key = event
        if op != "read":
            return 0
        self._check_key(api, key)
        return 1

    def _check_key(self, api: Api, key: int) -> None:
        done_py = self.ledger.completed(key)
        done_c = self.c_completed(key)  # loaded before the read handle is taken
        with api.read(api["rows"], key) as h:
            seq, c = self._verify(h, key)
        self.ledger.check(self.ctx.violations, "rows", key, seq, done_py, final=False)
        self._check_c(key, c, done_c, final=False)

    def _check_c(self, key: int, value: int, done: int, *, final: bool) -> None:
        """c_count against the increments its pthread completed (loaded before the read)."""
        gap = done - value
        if gap > 0 and (final or gap > self._c_gap.get(key, 0)):
            self._c_gap[key] = gap
            kind = "lost-update"
        elif final and gap < 0:
            kind = "phantom-update"
        else:
            return
        self.ctx.violation(
            kind,
            table="rows",
            field="c_count",
            key=key,
            value=value,
            completed=done,
            by_thread=f"c-pthread-{key % self.c_threads}",
            final=final,
        )

    def _check_c_status(self, status: dict[str, Any]) -> None:
        """Report what the pthreads counted in C: torn seqlock reads, undone increments, and
        failed vtable calls (a thread error: raised)."""
        for what, kind, first in (
            ("torn", "torn-read", "torn_first"),
            ("lost", "lost-update", "lost_first"),
        ):
            n = int(status[what])
            if n > self._c_reported.get(what, 0):
                self._c_reported[what] = n
                self.ctx.violation(
                    kind, table="rows", seen_by="C pthreads", count=n, first=status[first]
                )
        if status["failures"] and not self._failure_reported:
            self._failure_reported = True
            raise RuntimeError(
                f"C pthreads: {status['failures']} vtable calls failed; first: {status['error']}"
            )

    def check(self) -> None:
        for k in self.keys:
            self._check_key(self.direct, k)
        self._check_c_status(self.status())

    def finish(self) -> None:
        if self.final is None:
            raise RuntimeError("the native plugin's capture_close did not run: no final figures")
        self._check_c_status(self.final["status"])
        for k in self.keys:
            with self.table.read(k) as h:
                seq, c = self._verify(h, k)
            self.ledger.check(
                self.ctx.violations, "rows", k, seq, self.ledger.completed(k), final=True
            )
            self._check_c(k, c, self.final["completed"][k], final=True)

    def summary(self) -> dict[str, Any]:
        st = self.final["status"] if self.final else {}
        return {
            "python increments (py_seq)": sum(self.ledger.completed(k) for k in self.keys),
            "C increments (c_count)": st.get("increments"),
            "C vtable calls": st.get("calls"),
            "C seqlock reads checked": st.get("seq_reads"),
            "C seqlock reads retried (py_seq moved)": st.get("seq_retries"),
            "C-side torn reads / undone increments": f"{st.get('torn')} / {st.get('lost')}",
        }
