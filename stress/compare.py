"""`python -m stress compare A.json B.json [--threshold F]`: two reports side by side.

Works on `stress run --json` reports and on `stress bench --json` results. For each figure both
files have, it prints A, B and B/A, and whether B is worse than A by more than the threshold
(a fraction: 0.1 = 10%). Which way is worse depends on the figure:

    run     ops_per_s (higher is better); handle waits and callback times, p50/p99/p99.9/max
            per plugin or thread (lower); violations and thread errors (lower; any increase
            from 0 is a regression)
    bench   every ratio and ns figure of the results (lower is better), except
            `contention_total_vs_single` (higher), as the bench targets say

Exit 1 if any figure regressed, 2 if a file cannot be read or the two are not of one kind.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

#: Bench figures where higher is better (from the bench's targets: ">=").
HIGHER_IS_BETTER = {"contention_total_vs_single", "ops_per_s"}
#: Latency percentiles compared (from stats.Histogram.summary).
LATENCY_KEYS = ("p50", "p99", "p99.9", "max")


def _kind(report: dict[str, Any]) -> str:
    if "ops_per_s" in report and "violation_counts" in report:
        return "run"
    if "parse_step_ns" in report or "targets" in report:
        return "bench"
    return "unknown"


def figures(report: dict[str, Any]) -> Iterator[tuple[str, float, bool]]:
    """(name, value, higher_is_better) of every comparable figure of a report."""
    if _kind(report) == "run":
        yield "ops_per_s", float(report["ops_per_s"]), True
        yield "violations", float(sum(report.get("violation_counts", {}).values())), False
        yield "thread_errors", float(len(report.get("thread_errors", []))), False
        lat = report.get("latency", {})
        for who, s in sorted(lat.get("handle_wait_ns", {}).items()):
            for k in LATENCY_KEYS:
                yield f"handle wait {who} {k} (ns)", float(s[k]), False
        for plugin, cbs in sorted(lat.get("callback_ns", {}).items()):
            for cb, s in sorted(cbs.items()):
                if s.get("count", 0) > 1:
                    for k in ("p50", "p99"):
                        yield f"callback {plugin}.{cb} {k} (ns)", float(s[k]), False
        return
    for k, v in report.items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            yield k, float(v), k in HIGHER_IS_BETTER


def compare(
    a: dict[str, Any], b: dict[str, Any], threshold: float
) -> tuple[list[tuple[str, float, float, str, str]], list[str]]:
    """Rows (figure, A, B, ratio text, verdict) and the names of the regressed figures."""
    fa = {n: (v, hi) for n, v, hi in figures(a)}
    rows: list[tuple[str, float, float, str, str]] = []
    regressed: list[str] = []
    for name, vb, _ in figures(b):
        if name not in fa:
            continue
        va, higher = fa[name]
        ratio = vb / va if va else (1.0 if vb == va else float("inf"))
        worse = ratio < 1 - threshold if higher else ratio > 1 + threshold
        if va == 0 and vb > 0 and not higher:
            worse = True  # a count that was zero: any is a regression
        verdict = "REGRESSED" if worse else ("better" if ratio != 1 and not worse and (
            ratio > 1 if higher else ratio < 1) else "")  # fmt: skip
        if worse:
            regressed.append(name)
        rtext = "inf" if ratio == float("inf") else f"{ratio:.3f}"
        rows.append((name, va, vb, rtext, verdict))
    return rows, regressed


def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def compare_files(path_a: str, path_b: str, *, threshold: float = 0.1) -> int:
    try:
        a, b = _load(path_a), _load(path_b)
    except (OSError, ValueError) as exc:
        print(f"stress compare: cannot read a report: {exc}", file=sys.stderr)
        return 2
    ka, kb = _kind(a), _kind(b)
    if ka != kb or ka == "unknown":
        print(
            f"stress compare: {path_a} is a {ka} report and {path_b} a {kb} report: "
            "compare two run reports or two bench results",
            file=sys.stderr,
        )
        return 2
    rows, regressed = compare(a, b, threshold)
    width = max([len(r[0]) for r in rows] + [6])
    print(f"stress compare ({ka} reports): A = {path_a}, B = {path_b}, "
          f"threshold {threshold:.0%}")  # fmt: skip
    print(f"  {'figure':<{width}} {'A':>14} {'B':>14} {'B/A':>8}")
    for name, va, vb, ratio, verdict in rows:
        print(f"  {name:<{width}} {va:>14,.3f} {vb:>14,.3f} {ratio:>8} {verdict}")
    if regressed:
        print(f"  result: REGRESSION in {len(regressed)} figure(s): {', '.join(regressed)}")
        return 1
    print("  result: no regression")
    return 0
