"""Command line: `python -m stress` (or `ct-stress`); the entry function is `main(argv)`.

    run        a scenario (`--scenario NAME|MODULE:ATTR`) or your plugins (`--plugin ...`)
    list       the scenarios
    selftest   the detector against planted bugs (stress.selftest)
    compare    two JSON reports side by side (stress.compare)
    bench      benchmarks (stress.bench)

Every flag is checked before anything runs; a bad one exits 2 with a message naming it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import canaries, native, scenarios  # noqa: F401 - importing registers the scenarios
from .loading import LoadError, PluginSpec, check_spec, import_attr
from .report import environment
from .scenario import SCENARIOS, RunOptions, Scenario, ScenarioUnavailable

PROG = "python -m stress"


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _pos_float(text: str) -> float:
    v = _number(text, "a number of seconds, such as 5 or 0.5")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return v


def _pos_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return v


def _prob(text: str) -> float:
    v = _number(text, "a probability between 0 and 1")
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return v


def _ratio(text: str) -> float:
    v = _number(text, "a fraction, such as 0.1 for 10%")
    if not 0.0 <= v:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return v


def _spec(text: str) -> str:
    try:
        return check_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _writable(path: str) -> str | None:
    """Why `path` cannot be written, or None."""
    p = Path(path)
    if p.is_dir():
        return "is a directory"
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        return f"folder {str(parent)!r} does not exist"
    if p.exists() and not os.access(p, os.W_OK):
        return "is not writable"
    if not p.exists() and not os.access(parent, os.W_OK):
        return f"folder {str(parent)!r} is not writable"
    return None


class _PluginAction(argparse.Action):
    """--plugin / --source: a PluginSpec; `--config` after it applies to it."""

    def __call__(self, parser: Any, ns: Any, value: Any, option: str | None = None) -> None:
        spec = PluginSpec(value)
        if self.dest == "source":
            ns.source = spec
            ns.last_native = ("source", 0)
        else:
            ns.plugin = [*(ns.plugin or []), spec]
            ns.last_native = ("plugin", len(ns.plugin) - 1)


class _ConfigAction(argparse.Action):
    def __call__(self, parser: Any, ns: Any, value: Any, option: str | None = None) -> None:
        last = getattr(ns, "last_native", None)
        if last is None:
            parser.error("--config must follow the --plugin PATH.so (or --source) it configures")
            return
        kind, i = last
        if kind == "source":
            ns.source = PluginSpec(ns.source.spec, value)
        else:
            ns.plugin[i] = PluginSpec(ns.plugin[i].spec, value)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ct-stress" if Path(sys.argv[0]).name == "ct-stress" else PROG,
        description="Stress, race-detect and benchmark concurrent_tables and your plugins.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser(
        "run",
        help="run a scenario, or your plugins, and check their invariants",
        description="Run a scenario (--scenario) or your own plugins (--plugin) under stress.",
    )
    what = r.add_argument_group("what to run")
    what.add_argument(
        "--scenario",
        default=None,
        type=str,
        metavar="NAME|MODULE:ATTR",
        help="a scenario (see `list`), or your Scenario class; default parse-vs-background",
    )
    what.add_argument(
        "--plugin",
        action=_PluginAction,
        type=_spec,
        default=None,
        metavar="MODULE:ATTR|PATH.so",
        help="a plugin class or factory, or a native plugin; repeat to load several, in order",
    )
    what.add_argument(
        "--config",
        action=_ConfigAction,
        metavar="TEXT",
        help="init config of the native plugin (or --source) named just before",
    )
    what.add_argument(
        "--source",
        action=_PluginAction,
        type=_spec,
        default=None,
        metavar="MODULE:ATTR|PATH.so",
        help="your source plugin, Python or native (default: the built-in process/fd workload)",
    )
    what.add_argument(
        "--invariants",
        action="append",
        type=_spec,
        default=[],
        metavar="MODULE:ATTR",
        help="a class of @invariant methods, made with the loaded plugins by name; repeatable",
    )
    what.add_argument(
        "--extract",
        action="append",
        default=[],
        metavar="FIELD",
        help="a field to extract per event (default: every field the extract plugins offer)",
    )
    r.add_argument(
        "--driver",
        default=None,
        choices=("host", "threads"),
        help="scenarios: host (default, the plugin host) or threads (raw tables)",
    )
    r.add_argument("--duration", type=_pos_float, default=None, metavar="S", help="seconds (5)")
    r.add_argument(
        "--events",
        type=_pos_int,
        default=None,
        metavar="N",
        help="plugin runs: stop after N events",
    )
    r.add_argument(
        "--threads",
        type=_pos_int,
        default=None,
        metavar="N",
        help="scenarios: background threads (3)",
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
    r.add_argument("--html", default=None, metavar="PATH", help="write an HTML report here")
    r.add_argument(
        "--detect",
        action="store_true",
        help="perturb schedules, trace every lock (fast path included), inject interrupts, "
        "build the lock-order graph",
    )
    r.add_argument(
        "--no-interrupts",
        dest="interrupts",
        action="store_false",
        help="--detect without interrupting the main thread's lock waits",
    )
    r.add_argument(
        "--no-fast-path",
        dest="fast_path",
        action="store_false",
        help="scenarios: tables without the owner's lock-free fast path",
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
    r.add_argument(
        "--latency",
        action="store_true",
        help="scenarios: measure handle waits and callback times (on with --detect and for "
        "plugin runs; costs a few us per handle)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress line on stderr")

    sub.add_parser("list", help="list the scenarios")

    s = sub.add_parser("selftest", help="check that the detector catches planted bugs")
    s.add_argument(
        "--budget",
        type=_pos_float,
        default=3.0,
        metavar="S",
        help="seconds each planted bug may take to be caught (3)",
    )
    s.add_argument(
        "--bug", action="append", default=[], metavar="NAME", help="only this planted bug"
    )
    s.add_argument(
        "--backend",
        default=None,
        metavar="NAME",
        help="lock backend to test: c, python or all (default: the one the library runs)",
    )
    s.add_argument("--seed", type=int, default=1, metavar="N", help="seed (1)")
    s.add_argument("--json", default=None, metavar="PATH", help="write the JSON results here")

    c = sub.add_parser("compare", help="compare two JSON reports (run or bench)")
    c.add_argument("a", metavar="A.json")
    c.add_argument("b", metavar="B.json")
    c.add_argument(
        "--threshold",
        type=_ratio,
        default=0.1,
        metavar="F",
        help="a figure worse by more than this fraction is a regression (0.1)",
    )

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


def scenario_class(spec: str) -> type[Scenario]:
    """A scenario by registered name, or the Scenario subclass MODULE:ATTR names."""
    if ":" not in spec:
        cls = SCENARIOS.get(spec)
        if cls is None:
            listed = ", ".join(n for n, c in sorted(SCENARIOS.items()) if not c.hidden)
            raise LoadError(f"unknown scenario {spec!r}: expected one of {listed}, or MODULE:ATTR")
        return cls
    obj = import_attr(spec)
    if not (isinstance(obj, type) and issubclass(obj, Scenario)):
        raise LoadError(f"{spec}: expected a stress.Scenario subclass, got {obj!r}")
    if not getattr(obj, "name", None):
        obj.name = spec
    return obj


def _fail(msg: str) -> int:
    print(f"{PROG} run: {msg}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
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
    if args.command == "compare":
        from .compare import compare_files

        code: int = compare_files(args.a, args.b, threshold=args.threshold)
        return code
    if args.command == "selftest":
        from .selftest import run_selftest

        if args.json and (why := _writable(args.json)):
            print(f"{PROG} selftest: --json {args.json}: {why}", file=sys.stderr)
            return 2
        return run_selftest(
            budget_s=args.budget,
            bugs=args.bug,
            backend=args.backend,
            seed=args.seed,
            json_path=args.json,
        )
    return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    for flag, path in (("--json", args.json), ("--html", args.html)):
        if path and (why := _writable(path)):
            return _fail(f"{flag} {path}: {why}")
    plugins: list[PluginSpec] = args.plugin or []
    if args.scenario is not None and plugins:
        return _fail("--scenario and --plugin do not go together: a run is one or the other")
    if not plugins:
        for flag, given in (
            ("--source", args.source is not None),
            ("--invariants", bool(args.invariants)),
            ("--extract", bool(args.extract)),
            ("--events", args.events is not None),
        ):
            if given:
                return _fail(f"{flag} applies to plugin runs (--plugin) only")
    else:
        for flag, given in (
            ("--driver", args.driver is not None),
            ("--threads", args.threads is not None),
            ("--no-fast-path", not args.fast_path),
            ("--latency", args.latency),
        ):
            if given:
                return _fail(
                    f"{flag} applies to scenario runs only (plugins bring their own threads "
                    "and tables, and are always measured)"
                )
    if args.events is not None and args.duration is not None:
        return _fail("give --duration or --events, not both")
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    opts = RunOptions(
        scenario=args.scenario or "parse-vs-background",
        driver=args.driver or "host",
        duration_s=args.duration if args.duration is not None else 5.0,
        threads=args.threads if args.threads is not None else 3,
        seed=seed,
        switch_interval_s=args.switch_interval,
        detect=args.detect,
        stall_s=args.stall,
        json_path=args.json,
        progress=not args.no_progress,
        yield_probability=args.yield_probability,
        interrupts=args.interrupts,
        latency=args.latency,
        fast_path=args.fast_path,
        events=args.events,
        plugins=plugins,
        source=args.source,
        invariants=list(args.invariants),
        extract=list(args.extract),
    )
    try:
        if plugins:
            from .plugin_run import Loaded, run_plugins

            loaded = Loaded(opts)
            report = run_plugins(opts, loaded)
        else:
            from .driver import run

            cls = scenario_class(opts.scenario)
            if opts.threads < cls.min_threads:
                return _fail(
                    f"scenario {opts.scenario!r} needs --threads {cls.min_threads} or more "
                    f"(got {opts.threads})"
                )
            report = run(opts, scenario_cls=cls)
    except LoadError as exc:
        return _fail(str(exc))
    except ScenarioUnavailable as exc:
        return _fail(f"cannot run scenario {opts.scenario!r}: {exc}")
    except KeyboardInterrupt:
        print(f"{PROG} run: INTERRUPTED before the run started", file=sys.stderr)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump({**environment(), "interrupted": True, "result": "INTERRUPTED"}, f)
        return 130
    print(report.summary())
    sys.stdout.flush()
    if args.json:
        report.write_json(args.json)
    if args.html:
        from .html import write_html

        write_html(report, args.html)
    return report.exit_code
