"""The run report: JSON (`--json PATH`) and the human summary printed on stdout."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from concurrent_tables import Table

from .invariants import ViolationLog
from .scenario import Lane, RunOptions, Scenario
from .stats import fmt_summary

TIMELINE_LABEL = "0.25 s"

#: What a scenario checks unless it says otherwise (`Scenario.checks`).
CHECKED_KINDS = (
    "lost-update",
    "torn-read",
    "visibility",
    "lost-entry",
    "wrong-entry",
    "iteration-order",
    "missing-check",
    "deadlock",
)


def lock_stats(tables: Sequence[Table[Any, Any]]) -> dict[str, Any]:
    """Totals over the distinct lock domains of `tables`, plus each table's own counters.

    A nested table shares its parent's domain, so its locks are counted in the parent's figures.
    """
    per_table: dict[str, Any] = {}
    totals = {
        "acquisitions": 0,
        "contended": 0,
        "longest_wait_s": 0.0,
        "timeouts": 0,
        "errors": 0,
        "locks_in_use": 0,
    }
    seen: set[int] = set()
    for t in tables:
        st = dataclasses.asdict(t.statistics())
        per_table[t.name] = st
        dom = id(t._domain)
        if dom in seen:
            continue
        seen.add(dom)
        for k in totals:
            if k == "longest_wait_s":
                totals[k] = max(totals[k], st[k])
            else:
                totals[k] += st[k]
    acq = totals["acquisitions"]
    return {
        **totals,
        "contended_ratio": (totals["contended"] / acq) if acq else 0.0,
        "tables": per_table,
    }


SCHEMA_VERSION = 2


def library_version() -> str:
    """concurrent_tables' version (its `__version__`, else the installed distribution's)."""
    import concurrent_tables

    v = getattr(concurrent_tables, "__version__", None)
    if isinstance(v, str):
        return v
    try:
        from importlib.metadata import version

        return version("concurrent_tables")
    except Exception:
        return "unknown"


def environment() -> dict[str, Any]:
    """Where a report was made: versions, time, machine (the JSON's header)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "library_version": library_version(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count() or 0,
            "hostname": platform.node(),
        },
        "backend": os.environ.get("CONCURRENT_TABLES_BACKEND", "python"),
    }


def reproduce_argv(options: RunOptions, driver: str) -> list[str]:
    """Every flag that decides what a run does: a replay needs nothing else."""
    argv = ["python", "-m", "stress", "run"]
    if options.plugins:
        for spec in options.plugins:
            argv += spec.argv("--plugin")
        if options.source is not None:
            argv += options.source.argv("--source")
        for inv in options.invariants:
            argv += ["--invariants", inv]
        for f in options.extract:
            argv += ["--extract", f]
    else:
        argv += ["--scenario", options.scenario]
        if driver != "host":
            argv += ["--driver", driver]
        argv += ["--threads", str(options.threads)]
    argv += ["--seed", str(options.seed)]
    if options.events is not None:
        argv += ["--events", str(options.events)]
    else:
        argv += ["--duration", f"{options.duration_s:g}"]
    if options.switch_interval_s is not None:
        argv += ["--switch-interval", f"{options.switch_interval_s:g}"]
    if options.detect:
        argv.append("--detect")
        argv += ["--yield-probability", f"{options.yield_probability:g}"]
        if not options.interrupts:
            argv.append("--no-interrupts")
    if not options.fast_path:
        argv.append("--no-fast-path")
    if options.latency and not options.plugins:
        argv.append("--latency")
    if options.stall_s != 10.0:
        argv += ["--stall", f"{options.stall_s:g}"]
    return argv


@dataclass
class RunReport:
    scenario: str
    description: str
    driver: str
    seed: int
    duration_s: float
    requested_duration_s: float
    setup_s: float
    threads: int
    roles: dict[str, str]
    switch_interval_s: float
    detect_enabled: bool
    ops: int
    ops_per_s: float
    ops_by_thread: dict[str, int]
    violations: list[dict[str, Any]]
    violation_counts: dict[str, int]
    first_violation_s: float | None
    lock_stats: dict[str, Any]
    thread_errors: list[dict[str, Any]]
    hung_threads: list[str]
    detect: dict[str, Any] | None
    expect_violation: str | None
    scenario_summary: dict[str, Any]
    reproduce: str
    python: str
    #: The invariant kinds this run checked (the summary lists these, and only these).
    checked: list[str] = field(default_factory=list)
    interrupted: bool = False
    #: Handle waits and callback times: {"handle_wait_ns": {who: summary},
    #: "callback_ns": {plugin: {callback: summary}}} (summaries: stats.Histogram.summary).
    latency: dict[str, Any] = field(default_factory=dict)
    #: Histogram bars of every handle wait: [[upper bound ns, count], ...].
    wait_histogram: list[list[int]] = field(default_factory=list)
    #: [[seconds since start, ops/s], ...] every 0.25 s.
    throughput: list[list[float]] = field(default_factory=list)
    handles_by_thread: dict[str, int] = field(default_factory=dict)
    #: Plugin runs: one entry per loaded plugin (see stress.plugin_run).
    plugins: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=environment)

    @property
    def passed(self) -> bool:
        return (
            not self.interrupted
            and not self.violation_counts
            and not self.thread_errors
            and not self.hung_threads
        )

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 0 if self.passed else 1

    @classmethod
    def build(
        cls,
        *,
        options: RunOptions,
        scenario: Scenario | None,
        driver: str,
        switch_interval_s: float,
        elapsed_s: float,
        setup_s: float,
        lanes: Sequence[Lane],
        roles: dict[str, str],
        violations: ViolationLog,
        lock_stats: dict[str, Any],
        thread_errors: list[dict[str, Any]],
        hung_threads: list[str],
        detect: dict[str, Any] | None,
        checked: Sequence[str] = (),
        description: str = "",
        name: str = "",
        summary: dict[str, Any] | None = None,
    ) -> RunReport:
        ops = sum(lane.ops for lane in lanes)
        return cls(
            scenario=name or options.scenario,
            description=scenario.description if scenario is not None else description,
            driver=driver,
            seed=options.seed,
            duration_s=round(elapsed_s, 4),
            requested_duration_s=options.duration_s,
            setup_s=round(setup_s, 4),
            threads=len(lanes) - 1,
            roles=roles,
            switch_interval_s=switch_interval_s,
            detect_enabled=options.detect,
            ops=ops,
            ops_per_s=round(ops / elapsed_s, 1) if elapsed_s > 0 else 0.0,
            ops_by_thread={lane.name: lane.ops for lane in lanes},
            violations=[v.as_json() for v in violations.kept],
            violation_counts=dict(violations.counts),
            first_violation_s=None if violations.first_s is None else round(violations.first_s, 4),
            lock_stats=lock_stats,
            thread_errors=thread_errors,
            hung_threads=hung_threads,
            detect=detect,
            expect_violation=scenario.expect_violation if scenario is not None else None,
            scenario_summary=(scenario.summary() if scenario is not None else summary or {}),
            reproduce=shlex.join(reproduce_argv(options, driver)),
            python=f"{platform.python_implementation()} {platform.python_version()}",
            checked=list(checked),
        )

    def as_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        env = d.pop("env")
        out = {**env, **d}  # the header first: schema_version, versions, timestamp, machine
        out["python"] = env["python"]
        out["passed"] = self.passed
        out["exit_code"] = self.exit_code
        out["result"] = self.verdict
        return out

    def write_json(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.as_json(), f, indent=2, sort_keys=False, default=str)
            f.write("\n")

    @property
    def verdict(self) -> str:
        if self.interrupted:
            return "INTERRUPTED"
        return "PASS" if self.passed else "FAIL"

    def summary(self) -> str:
        ls = self.lock_stats
        out = []
        if self.interrupted:
            out.append("stress run: INTERRUPTED (Ctrl-C): partial report")
        out += [
            f"stress run: {self.scenario} - {self.description}",
            f"  driver {self.driver}, seed {self.seed}, {self.threads} background threads, "
            f"{self.duration_s:.2f}s (setup {self.setup_s:.2f}s), "
            f"switch interval {self.switch_interval_s:g}s, "
            f"detect {'on' if self.detect_enabled else 'off'}",
            f"  ops {self.ops:,} ({self.ops_per_s:,.0f}/s): "
            + ", ".join(f"{n} {c:,}" for n, c in self.ops_by_thread.items()),
        ]
        if ls:
            out.append(
                f"  locks: {ls['acquisitions']:,} acquisitions, {ls['contended']:,} contended "
                f"({100 * ls['contended_ratio']:.1f}%), longest wait "
                f"{1e3 * ls['longest_wait_s']:.2f} ms, {ls['timeouts']} timeouts, "
                f"{ls['errors']} reentrancy/borrow errors"
                + ("" if self.plugins else " (expected: raised by the misuse probes)")
            )
        if self.throughput:
            rates = [r for _, r in self.throughput]
            out.append(
                f"  throughput over time (ops/s per {TIMELINE_LABEL}): min {min(rates):,.0f}, "
                f"median {sorted(rates)[len(rates) // 2]:,.0f}, max {max(rates):,.0f}"
            )
        waits = self.latency.get("handle_wait_ns", {})
        for who, s in waits.items():
            out.append(f"  handle waits [{who}]: {fmt_summary(s)}")
        if not self.plugins:  # plugin runs list them per plugin, below
            for plugin, cbs in self.latency.get("callback_ns", {}).items():
                for cb, s in cbs.items():
                    out.append(f"  callback time [{plugin}.{cb}]: {fmt_summary(s)}")
        kinds = [*self.checked, *(k for k in self.violation_counts if k not in self.checked)]
        out.append(
            "  invariants checked: "
            + ", ".join(f"{k} {self.violation_counts.get(k, 0)}" for k in kinds)
        )
        if self.first_violation_s is not None:
            out.append(f"  first violation after {self.first_violation_s:.3f}s")
        for k, v in self.scenario_summary.items():
            out.append(f"  {k}: {v}")
        for name, p in self.plugins.items():
            out.append(f"  plugin {name} ({p['capabilities']}): {p['result']}")
            for line in p["lines"]:
                out.append(f"      {line}")
        if self.detect is not None:
            lo = self.detect["lock_order"]
            errs = self.detect.get("errors_raised") or {}
            out.append(
                f"  detect: {self.detect['lock_points']:,} lock points, "
                f"{self.detect['yields']:,} yields, "
                f"{self.detect.get('interrupts_injected', 0):,} interrupts injected; lock order: "
                f"{lo['locks']:,} locks, {lo['edges']:,} edges, {len(lo['cycles'])} cycles, "
                f"{len(lo['class_cycles'])} class-level cycles"
            )
            label = (
                "errors raised"
                if self.plugins
                else ("errors raised (expected: the misuse probes' must-raise checks)")
            )
            out.append(
                f"  {label}: " + (", ".join(f"{k} {v}" for k, v in sorted(errs.items())) or "none")
            )
            for c in lo["cycles"]:
                out.append("  LOCK-ORDER CYCLE: " + " -> ".join(c["cycle"]))
                for w in c["witnesses"]:
                    out.append(f"      {w['edge']}  (thread {w['thread']}, holding {w['held']})")
            for c in lo["class_cycles"]:
                out.append("  class-level cycle (warning): " + " -> ".join(c["cycle"]))
        for v in self.violations[:10]:
            if v["kind"] in ("lock-order-cycle",):
                continue
            details = {k: val for k, val in v["details"].items() if k != "stacks"}
            out.append(f"  VIOLATION {v['kind']} in {v['thread']}: {details}")
        if len(self.violations) > 10:
            out.append(f"  ... {len(self.violations) - 10} more in the JSON report")
        for e in self.thread_errors:
            out.append(f"  THREAD ERROR in {e['thread']}: {e['error']}")
            out.append("    " + e["traceback"].rstrip().replace("\n", "\n    "))
        if self.hung_threads:
            out.append(f"  HUNG THREADS (not joined): {', '.join(self.hung_threads)}")
        verdict = self.verdict
        if self.expect_violation and not self.interrupted:
            seen = self.expect_violation in self.violation_counts
            verdict += (
                f" (canary: expects {self.expect_violation}; "
                f"{'caught, as it must be' if seen else 'NOT caught'})"
            )
        out.append(f"  result: {verdict}")
        if not self.passed:
            out.append(f"  reproduce: {self.reproduce}")
        return "\n".join(out)
