"""`stress run --plugin ...`: the user's own plugins under stress, in a real `PluginHost`.

The host loads, in order: the source (the built-in workload, `stress.workload`, or `--source`),
then every `--plugin` in the order given (so a parse plugin that exports a table comes before
the plugins that import it). Their own background threads (listen routines, async tasks, a
native plugin's pthreads) run as they would under Falco. The host's thread, this one, runs the
event loop until `--duration` or `--events`, extracting every field the extract plugins offer
(or `--extract`), and between events checks the declared invariants (`stress.checks`).

Checks, reported per plugin (`RunReport.plugins`):

    thread errors     any exception escaping a callback, a routine or an async task (an extract
                      that raises a non-library error counts as "no value", as the ABI says)
    deadlock          the watchdog: a thread inside a callback or a background run that made no
                      progress (no handle, no return) for --stall seconds; every thread's stack
    handle-leak       a handle still held when the callback (or background run) that took it
                      returned (stress.instrument)
    resource-warning  a ResourceWarning during the run (unclosed files, sockets, ...)
    lock-order-cycle  --detect: a cycle in the lock-order graph, the owner's fast path included
    invariant         a declared invariant that does not hold (online, and final)
    table-check       after the capture closed: every entry of every exported Python table is
                      readable within 1 s and every value is in its field's range (nested
                      tables included)

plus per-callback times and handle waits (p50 ... max) per plugin.
"""

from __future__ import annotations

import gc
import io
import sys
import threading
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Mapping
from contextlib import closing, nullcontext
from typing import Any

from concurrent_tables import ExtractPlugin, Plugin, PluginHost, SourcePlugin, Table, TablesError
from concurrent_tables.errors import (
    AccessDeniedError,
    BackgroundError,
    ConcurrencyError,
    EntryNotFoundError,
    HandleError,
)
from concurrent_tables.types import StateType, value_problem

from .checks import BoundInvariant, collect, evaluate
from .detect import Detector, count_errors
from .driver import CHECK_EVERY_S, add_measurements, switch_interval, tracing
from .instrument import InjectedInterrupt, Probes, RunAborted
from .interrupt import on_interrupt
from .invariants import ViolationLog
from .loading import LoadError, PluginSpec, import_attr, make_plugins
from .monitor import Monitor
from .report import RunReport, lock_stats
from .scenario import Lane, RunOptions
from .stats import fmt_summary
from .workload import WorkloadSource, encode_plain, encode_scap

#: Kinds a plugin run checks (the summary lists these).
PLUGIN_CHECKS = (
    "invariant",
    "handle-leak",
    "resource-warning",
    "table-check",
    "deadlock",
    "lock-order-cycle",
)
#: An extract callback raising one of these is a bug, not "no value".
BUG_ERRORS: tuple[type[BaseException], ...] = (
    ConcurrencyError,
    HandleError,
    AccessDeniedError,
    AssertionError,
)
#: Entry-lock timeout of the final table check.
TABLE_CHECK_TIMEOUT_S = 1.0


class Loaded:
    """What a plugin run loads before it starts (LoadError if anything is wrong)."""

    def __init__(self, opts: RunOptions) -> None:
        self.plugins: list[Plugin] = []
        self.native: set[str] = set()  # names of the plugins loaded from a PATH.so
        for spec in opts.plugins:
            made = make_plugins(spec)
            self.plugins.extend(made)
            if spec.native:
                self.native.update(p.plugin_name for p in made)
        # Native parse plugins need real syscall events: the workload encodes them when any
        # plugin is native (a function of the flags, so a replay gets the same events).
        self.source = load_source(opts.source, opts.seed, scap=bool(self.native))
        self.companions: list[Any] = []
        for inv in opts.invariants:
            self.companions.append(import_attr(inv))
        names = Counter(p.plugin_name for p in [self.source, *self.plugins])
        dup = [n for n, c in names.items() if c > 1]
        if dup:
            raise LoadError(f"plugin name {dup[0]!r} loaded twice: give each plugin its own `name`")
        self.fields = list(opts.extract) or [
            f for p in self.plugins if isinstance(p, ExtractPlugin) for f in p.fields
        ]


def load_source(spec: PluginSpec | None, seed: int, *, scap: bool = False) -> SourcePlugin:
    if spec is None:
        return WorkloadSource(seed, encode=encode_scap if scap else encode_plain)
    made = make_plugins(spec)  # a PATH.so loads as the host's native source plugin
    if len(made) != 1 or not isinstance(made[0], SourcePlugin):
        raise LoadError(f"{spec.spec}: --source must name one SourcePlugin")
    return made[0]


def run_plugins(opts: RunOptions, loaded: Loaded | None = None) -> RunReport:
    """Run the plugins of `opts` (see the module docstring) and return the report."""
    return PluginRunner(opts, loaded or Loaded(opts)).run()


class PluginRunner:
    def __init__(self, opts: RunOptions, loaded: Loaded) -> None:
        self.opts = opts
        self.loaded = loaded
        self.violations = ViolationLog()
        self.stop = threading.Event()
        self.thread_errors: list[dict[str, Any]] = []
        self.no_value: Counter[str] = Counter()
        self.invariants: list[BoundInvariant] = []
        self.events = 0
        self.warnings: list[warnings.WarningMessage] = []
        self.table_checks: dict[str, Any] = {}
        self.tables: list[Table[Any, Any]] = []  # the exported Python tables, for lock stats

    # -- errors ----------------------------------------------------------------------------------

    def _error(self, thread: str, exc: BaseException, plugin: str = "") -> None:
        self.thread_errors.append(
            {
                "thread": thread,
                "plugin": plugin,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": "".join(traceback.format_exception(exc)),
            }
        )

    def _violation(self, kind: str, **details: Any) -> None:
        self.violations.add(kind, details)
        if kind in self.opts.stop_on:
            self.stop.set()

    # -- invariants ------------------------------------------------------------------------------

    def _collect_invariants(self) -> None:
        by_name = {p.plugin_name: p for p in self.loaded.plugins}
        for p in self.loaded.plugins:
            self.invariants += collect(p, p.plugin_name)
        for cls in self.loaded.companions:
            obj = cls(by_name) if isinstance(cls, type) else cls
            self.invariants += collect(obj, type(obj).__name__)

    def _check_invariants(self, final: bool) -> None:
        for inv in self.invariants:
            if not (final or (inv.online and not inv.violated)):
                continue  # online: reported once; the final check always runs
            try:
                why = evaluate(inv, final)
            except Exception as exc:
                self._error("main", exc, inv.owner)
                self.stop.set()
                continue
            if why is not None:
                self._violation(
                    "invariant",
                    plugin=inv.owner,
                    invariant=inv.text,
                    why=why,
                    final=final,
                )

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> RunReport:
        opts, loaded = self.opts, self.loaded
        detector = Detector(opts.seed, opts.yield_probability) if opts.detect else None
        interval = opts.switch_interval_s
        if interval is None and opts.detect:
            interval = 1e-6
        probes = Probes(
            self.violations,
            detector=detector,
            interrupts=opts.detect and opts.interrupts,
            seed=opts.seed,
            stop=self.stop,
            field_yields=True,
        )
        self.probes = probes
        self.detector = detector
        plugins = [loaded.source, *loaded.plugins]
        for p in plugins:
            probes.wrap_plugin(p)
        host = PluginHost(plugins, stop_timeout=opts.stall_s + 1.0, record=False)
        errors_counted: Counter[str] = Counter()
        hung: list[str] = []
        with (
            on_interrupt(self.stop) as intr,
            switch_interval(interval),
            tracing(detector),
            probes.installed(),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always", ResourceWarning)
            with count_errors() if opts.detect else nullcontext(errors_counted) as counted:
                monitor = Monitor(
                    probes.lanes,
                    self.violations,
                    self.stop,
                    stall_s=opts.stall_s,
                    progress=opts.progress,
                    alive=probes.busy,
                    busy_since=lambda lane: self._busy_since(lane),
                    stream=io.StringIO() if opts.quiet else None,
                )
                probes.state()  # the main thread's lane first
                self.violations.t0 = time.monotonic()
                monitor.start()
                t_start = t_init = time.perf_counter()
                try:
                    host.init()
                    self._collect_invariants()
                    t_start = time.perf_counter()
                    self._loop(host, intr)
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt):
                        intr.count = max(intr.count, 1)
                    elif not self._known(exc):
                        self._error("main", exc, self._culprit(exc))
                elapsed = time.perf_counter() - t_start
                if self.stop.is_set():  # interrupted, stuck, or stopped at a first violation
                    host.stop_timeout = min(host.stop_timeout, 0.5)
                if not intr.interrupted and not self.thread_errors:
                    self._check_invariants(final=True)
                try:
                    self._check_tables(host)
                finally:
                    try:
                        host.destroy()
                    except BaseException as exc:
                        if not self._known(exc):
                            self._error("host", exc)
                hung = [f"{p}: {t.name}" for p, t in probes.tasks if t.running]
                monitor.finish()
                errors_counted = Counter(counted)
            gc.collect()  # unreachable files and sockets warn now
            self.warnings = [w for w in caught if issubclass(w.category, ResourceWarning)]
        self._callback_errors()
        for w in self.warnings:
            self._violation(
                "resource-warning",
                plugin=self._plugin_of_file(w.filename),
                message=str(w.message),
                where=f"{w.filename}:{w.lineno}",
            )
        if detector is not None:
            for cycle in detector.cycles():
                self._violation("lock-order-cycle", **cycle)
        setup = t_start - t_init
        return self._report(detector, probes, monitor, errors_counted, hung, elapsed, setup, intr)

    def _busy_since(self, lane: Lane) -> float | None:
        for st in self.probes.threads:
            if st.lane is lane:
                return st.busy_since
        return None

    def _loop(self, host: PluginHost, intr: Any) -> None:
        opts, stop = self.opts, self.stop
        deadline = time.perf_counter() + opts.duration_s if opts.events is None else None
        limit = opts.events
        results = host.stream(extract=self.loaded.fields)
        next_check = time.perf_counter() + CHECK_EVERY_S
        owner = {f: p.plugin_name for p in self.loaded.plugins if isinstance(p, ExtractPlugin)
                 for f in p.fields}  # fmt: skip
        with closing(results):
            for result in results:
                self.events += 1
                for req, exc in result.errors.items():
                    name = req.split("[", 1)[0]
                    if isinstance(exc, BUG_ERRORS):
                        self._error("main", exc, owner.get(name, ""))
                        stop.set()
                    else:
                        self.no_value[f"{owner.get(name, '?')}: {name}"] += 1
                now = time.perf_counter()
                if now >= next_check:
                    self._check_invariants(final=False)
                    next_check = now + CHECK_EVERY_S
                    if "lock-order-cycle" in opts.stop_on and self.detector is not None:
                        if self.detector.cycles():
                            break  # reported after the run, with the rest
                    if deadline is not None and now >= deadline:
                        break
                if (limit is not None and self.events >= limit) or stop.is_set():
                    break

    def _known(self, exc: BaseException) -> bool:
        """Is `exc` (raised by the host) one a callback already reported?"""
        seen = {id(e) for _, _, _, e in self.probes.errors}
        todo: list[BaseException] = [exc]
        while todo:
            e = todo.pop()
            if id(e) in seen or isinstance(e, InjectedInterrupt | RunAborted):
                return True
            if isinstance(e, BackgroundError):
                return all(self._known(x) for x in e.errors) if e.errors else False
            if e.__cause__ is not None:
                todo.append(e.__cause__)
        return False

    def _culprit(self, exc: BaseException) -> str:
        text = str(exc)
        for p in self.loaded.plugins:
            if f"'{p.plugin_name}'" in text:
                return p.plugin_name
        return ""

    def _callback_errors(self) -> None:
        for plugin, cb, thread, exc in self.probes.errors:
            if isinstance(exc, InjectedInterrupt | RunAborted | KeyboardInterrupt):
                continue
            if cb == "extract" and not isinstance(exc, BUG_ERRORS):
                continue  # "no value": counted by the loop
            self._error(thread, exc, plugin)

    def _plugin_of_file(self, filename: str) -> str:
        for p in self.loaded.plugins:
            mod = sys.modules.get(type(p).__module__)
            if mod is not None and getattr(mod, "__file__", None) == filename:
                return p.plugin_name
        return "(unattributed)"

    # -- final table check -----------------------------------------------------------------------

    def _check_tables(self, host: PluginHost) -> None:
        backends: Mapping[str, Any] = getattr(host.registry, "_tables", {})
        owners = {name: host.registry.owner_of(name) for name in backends}
        for name, backend in list(backends.items()):
            table = getattr(backend, "table", None)
            if not isinstance(table, Table):
                self.table_checks[name] = "not checked (not a Python table)"
                continue
            self.tables.append(table)
            owner = table._domain.owner
            if not table.thread_safe and owner != threading.get_ident():
                self.table_checks[name] = "not checked (owned by another thread)"
                continue
            n = self._check_table(table, owners.get(name) or "", name, 0)
            self.table_checks[name] = f"{n} entries checked"

    def _check_table(self, table: Table[Any, Any], plugin: str, path: str, depth: int) -> int:
        n = 0
        fields = table.list_fields()
        for key in table.keys():
            try:
                h = table.read(key, TABLE_CHECK_TIMEOUT_S)
            except RunAborted:
                self._violation("table-check", plugin=plugin, table=path, key=key,
                                why="entry not readable: its lock is stuck")  # fmt: skip
                continue
            except EntryNotFoundError:
                continue  # erased since the key snapshot
            except TablesError as exc:
                self._violation(
                    "table-check",
                    plugin=plugin,
                    table=path,
                    key=key,
                    why=f"entry not readable: {type(exc).__name__}: {exc}",
                )
                continue
            with h:
                n += 1
                for f in fields:
                    value = h[f.name]
                    if f.type is StateType.TABLE:
                        if depth < 4 and isinstance(value, Table):
                            n += self._check_table(value, plugin, f"{path}[{key!r}].{f.name}",
                                                   depth + 1)  # fmt: skip
                        continue
                    why = value_problem(f.type, value)
                    if why is not None:
                        self._violation(
                            "table-check",
                            plugin=plugin,
                            table=path,
                            key=key,
                            field=f.name,
                            value=repr(value),
                            why=why,
                        )
        return n

    # -- report ----------------------------------------------------------------------------------

    def _report(
        self,
        detector: Detector | None,
        probes: Probes,
        monitor: Monitor,
        counts: Counter[str],
        hung: list[str],
        elapsed: float,
        setup_s: float,
        intr: Any,
    ) -> RunReport:
        opts, loaded = self.opts, self.loaded
        names = [p.plugin_name for p in loaded.plugins]
        checked = [k for k in PLUGIN_CHECKS if opts.detect or k != "lock-order-cycle"]
        summary: dict[str, Any] = {
            "events": self.events,
            "source": loaded.source.plugin_name,
            "fields extracted": ", ".join(loaded.fields) or "none",
        }
        if self.no_value:
            summary["extract: no value"] = dict(self.no_value)
        summary["tables checked at the end"] = self.table_checks or "none exported"
        report = RunReport.build(
            options=opts,
            scenario=None,
            name="plugins: " + ", ".join(names),
            description="user plugins in the plugin host, events from "
            + ("the built-in workload" if opts.source is None else loaded.source.plugin_name),
            driver="host",
            switch_interval_s=sys.getswitchinterval()
            if opts.switch_interval_s is None and not opts.detect
            else (opts.switch_interval_s or 1e-6),
            elapsed_s=elapsed,
            setup_s=setup_s,
            lanes=probes.lanes,
            roles={st.name: self._role(st.name) for st in probes.threads},
            violations=self.violations,
            lock_stats=lock_stats(self.tables) if self.tables else {},
            thread_errors=self.thread_errors,
            hung_threads=hung,
            detect=None
            if detector is None
            else {
                **detector.report(),
                "errors_raised": dict(counts),
                "interrupts_injected": probes.injected,
            },
            checked=checked,
            summary=summary,
        )
        report.interrupted = intr.interrupted
        add_measurements(report, probes, monitor)
        report.plugins = self._per_plugin(report)
        return report

    def _role(self, thread: str) -> str:
        if thread == "main":
            return "host event loop: source -> parse -> extract, invariants"
        for plugin, task in self.probes.tasks:
            if task.name == thread:
                return f"background thread of {plugin}"
        return "other"

    def _per_plugin(self, report: RunReport) -> dict[str, Any]:
        out: dict[str, Any] = {}
        thread_plugin = {t.name: p for p, t in self.probes.tasks}
        for p in self.loaded.plugins:
            name = p.plugin_name
            mine = [
                v
                for v in report.violations
                if v["details"].get("plugin") == name
                or any(
                    thread_plugin.get(t) == name for t in v["details"].get("stalled_threads", ())
                )
            ]
            counts = Counter(v["kind"] for v in mine)
            errors = [e for e in self.thread_errors if e.get("plugin") == name]
            invs = [
                {"invariant": i.text, "checked": i.checked, "violated": i.violated}
                for i in self.invariants
                if i.owner == name
            ]
            calls = report.latency.get("callback_ns", {}).get(name, {})
            waits = report.latency.get("handle_wait_ns", {}).get(name)
            lines = []
            for cb, s in calls.items():
                if s["count"] > 1:  # one-shot callbacks (init, destroy...): in the JSON only
                    lines.append(f"{cb}: {fmt_summary(s)}")
            if waits:
                lines.append(f"handle waits: {fmt_summary(waits)}")
            for i in invs:
                lines.append(
                    f"invariant {i['invariant']!r}: checked {i['checked']}, "
                    f"violated {i['violated']}"
                )
            lines.append(
                "checks: "
                + ", ".join(f"{k} {counts.get(k, 0)}" for k in report.checked)
                + f", thread errors {len(errors)}"
            )
            failed = bool(mine or errors)
            out[name] = {
                "capabilities": str(p.capabilities.name or p.capabilities).replace("|", "+"),
                "native": name in self.loaded.native,
                "result": "INTERRUPTED" if report.interrupted else ("FAIL" if failed else "PASS"),
                "violations": dict(counts),
                "thread_errors": len(errors),
                "invariants": invs,
                "callback_ns": calls,
                "handle_wait_ns": waits,
                "lines": lines,
            }
        for owner in sorted({i.owner for i in self.invariants} - set(out)):
            mine = [v for v in report.violations if v["details"].get("plugin") == owner]
            invs = [
                {"invariant": i.text, "checked": i.checked, "violated": i.violated}
                for i in self.invariants
                if i.owner == owner
            ]
            out[owner] = {
                "capabilities": "invariants",
                "native": False,
                "result": "INTERRUPTED" if report.interrupted else ("FAIL" if mine else "PASS"),
                "violations": dict(Counter(v["kind"] for v in mine)),
                "thread_errors": 0,
                "invariants": invs,
                "callback_ns": {},
                "handle_wait_ns": None,
                "lines": [
                    f"invariant {i['invariant']!r}: checked {i['checked']}, "
                    f"violated {i['violated']}"
                    for i in invs
                ],
            }
        return out
