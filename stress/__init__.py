"""Stress harness, race detector and benchmarks for concurrent_tables and your plugins.

    python -m stress run [--scenario NAME|MODULE:ATTR] [--plugin MODULE:ATTR|PATH.so ...]
                         [--duration S | --events N] [--detect] [--json PATH] [--html PATH] ...
    python -m stress list | selftest | compare A.json B.json | bench

(`ct-stress` is the same command.) Modules: `scenario` (the scenario model and registry),
`scenarios`, `native` (a package: the scenario, its C workload plugin and that plugin's build)
and `canaries` (the scenarios), `api` (table operations for scenario code), `driver` (running
one; the threads driver), `host_driver` (through the plugin host), `plugin_run` (your plugins in
the host), `loading` (MODULE:ATTR and PATH.so), `workload` (the built-in event source), `checks`
(`@invariant`), `instrument` (handle and callback probes), `invariants`, `detect` (--detect),
`selftest` and `planted` (planted bugs), `monitor` (progress, watchdog, throughput), `interrupt`
(Ctrl-C), `stats` (latency histograms), `report`, `html`, `compare`, `bench`, `cli`. See
docs/stress.md.
"""

from . import canaries, native, scenarios
from .api import Api, OwnerApi, TokenApi
from .checks import invariant
from .driver import BaseDriver, Driver, ThreadDriver, make_driver, run
from .host_driver import HostDriver
from .report import RunReport
from .scenario import (
    SCENARIOS,
    Lane,
    RunContext,
    RunOptions,
    Scenario,
    ScenarioUnavailable,
    Worker,
    register,
)

__all__ = [
    "SCENARIOS",
    "Api",
    "BaseDriver",
    "Driver",
    "HostDriver",
    "Lane",
    "OwnerApi",
    "RunContext",
    "RunOptions",
    "RunReport",
    "Scenario",
    "ScenarioUnavailable",
    "ThreadDriver",
    "TokenApi",
    "Worker",
    "canaries",
    "invariant",
    "make_driver",
    "native",
    "register",
    "run",
    "scenarios",
]
