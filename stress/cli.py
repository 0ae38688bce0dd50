"""Command line: `python -m stress run | list | bench` (entry function: `main(argv)`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import canaries, native, scenarios  # noqa: F401 - importing registers the scenarios
from .scenario import SCENARIOS, RunOptions, ScenarioUnavailable


def _pos_float(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def _pos_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return v


def _prob(text: str) -> float:
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return v


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stress",
        description="Stress harness and benchmarks for concurrent_tables.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a scenario and check its invariants")
    r.add_argument(
        "--scenario",
        default="parse-vs-background",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help="scenario to run (see `python -m stress list`); default parse-vs-background",
    )
    r.add_argument(
        "--driver",
        default="host",
        choices=("host", "threads"),
        help="host: through the plugin host (default); threads: raw tables, plain threads",
    )
    r.add_argument("--duration", type=_pos_float, default=5.0, metavar="S", help="seconds (5)")
    r.add_argument(
        "--threads", type=_pos_int, default=3, metavar="N", help="background threads (3)"
    )
    r.add_argument("--seed", type=int, default=None, metavar="N", help="seed (default: random)")
    r.add_argument(
        "--switch-interval",
        type=_pos_float,
        default=None,
        metavar="S",
        help="sys.setswitchinterval for the run (default: the scenario's, 1e-6 with --detect)",
    )
    r.add_argument("--json", default=None, metavar="PATH", help="write the JSON report here")
    r.add_argument(
        "--detect",
        action="store_true",
        help="perturb schedules, trace every lock, build the lock-order graph",
    )
    r.add_argument(
        "--stall",
        type=_pos_float,
        default=10.0,
        metavar="S",
        help="watchdog: a thread without progress this long is deadlocked (10)",
    )
    r.add_argument(
        "--yield-probability",
        type=_prob,
        default=0.5,
        metavar="P",
        help="--detect: chance of time.sleep(0) at each lock point (0.5)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress line on stderr")

    sub.add_parser("list", help="list the scenarios")

    b = sub.add_parser("bench", help="benchmarks (ratios against baselines, medians)")
    b.add_argument("--json", default=None, metavar="PATH", help="write the JSON results here")
    b.add_argument("--rounds", type=_pos_int, default=7, metavar="N", help="rounds (7)")
    b.add_argument(
        "--entries",
        type=_pos_int,
        default=1_000_000,
        metavar="N",
        help="entries for the memory benchmark (1,000,000)",
    )
    b.add_argument(
        "--quick", action="store_true", help="short loops (a smoke test, not a measurement)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "list":
        for name, cls in sorted(SCENARIOS.items()):
            if cls.hidden:
                continue
            tag = f" [canary: must report {cls.expect_violation}]" if cls.expect_violation else ""
            print(f"{name:22} {cls.description}{tag}")
        return 0
    if args.command == "bench":
        from .bench import run_bench

        return run_bench(
            rounds=args.rounds, entries=args.entries, json_path=args.json, quick=args.quick
        )
    from .driver import run

    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    opts = RunOptions(
        scenario=args.scenario,
        driver=args.driver,
        duration_s=args.duration,
        threads=args.threads,
        seed=seed,
        switch_interval_s=args.switch_interval,
        detect=args.detect,
        stall_s=args.stall,
        json_path=args.json,
        progress=not args.no_progress,
        yield_probability=args.yield_probability,
    )
    try:
        report = run(opts)
    except ScenarioUnavailable as exc:
        print(f"stress run: cannot run scenario {args.scenario!r}: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    sys.stdout.flush()
    if args.json:
        report.write_json(args.json)
    return report.exit_code
