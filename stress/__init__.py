"""Stress harness and benchmarks for concurrent_tables.

    python -m stress run [--scenario NAME] [--driver host|threads] [--duration S] [--threads N]
                         [--seed N] [--switch-interval S] [--json PATH] [--detect]
    python -m stress list
    python -m stress bench [--json PATH] [--rounds N]

Modules: `scenario` (the scenario model and registry), `scenarios`, `native` (a package: the
scenario, its C workload plugin and that plugin's build) and `canaries` (the scenarios), `api`
(table operations for scenario code: raw tables or tokens), `driver` (running one; the threads
driver), `host_driver` (through the plugin host, the default), `invariants`, `detect`
(--detect), `monitor` (progress and watchdog), `report`, `bench`, `cli`. See docs/stress.md.
"""

from . import canaries, native, scenarios
from .api import Api, OwnerApi, TokenApi
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
    "make_driver",
    "native",
    "register",
    "run",
    "scenarios",
]
