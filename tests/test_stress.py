"""The stress harness, run in-process through its CLI entry function (`stress.cli.main`).

Every registered scenario has a short run (1-2 s) through the plugin host, the default driver
(`HOST_RUNS` names the test that runs it); the real scenarios and the canary also run on the
raw-table threads driver. The `native` scenario compiles the C test plugin with gcc and runs
through the host only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stress.cli import main
from stress.detect import Witness, _cycles
from stress.scenario import SCENARIOS

REAL = ["parse-vs-background", "writers", "churn"]
DRIVERS = ["host", "threads"]

#: Where each registered scenario runs through the host.
HOST_RUNS = {
    "parse-vs-background": "test_real_scenarios_pass, test_detect_on_real_scenario",
    "writers": "test_real_scenarios_pass, test_detect_exercises_the_owner_fast_path",
    "churn": "test_real_scenarios_pass",
    "unsafe-counter": "test_unsafe_counter_is_caught",
    "lock-inversion": "test_detect_reports_inverted_lock_order",
    "deadlock": "test_watchdog_catches_a_real_deadlock",
    "native": "test_native_scenario_passes",
}


def run(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "report.json"
    code = main(["run", "--no-progress", "--seed", "7", "--json", str(out), *args])
    return code, json.loads(out.read_text())


def test_every_scenario_has_a_host_run() -> None:
    assert set(HOST_RUNS) == set(SCENARIOS)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("scenario", REAL)
def test_real_scenarios_pass(tmp_path: Path, scenario: str, driver: str) -> None:
    code, rep = run(tmp_path, "--scenario", scenario, "--duration", "1.2", "--driver", driver)
    assert code == 0, rep["violations"] or rep["thread_errors"]
    assert rep["driver"] == driver
    assert rep["ops"] > 1000
    assert rep["lock_stats"]["acquisitions"] > 0
    assert all(n > 0 for n in rep["ops_by_thread"].values()), rep["ops_by_thread"]
    if scenario == "parse-vs-background":
        summary = rep["scenario_summary"]
        # Async events reached the parser (under the host: AsyncContext.push, the event loop).
        assert summary["async entries verified by the parser"] > 0
        assert summary["misuse probes (all must raise)"] > 0
        if driver == "host":
            assert rep["roles"]["listen-0"] == "listen (listen routine)"
            assert rep["roles"]["async-0"] == "async (async task)"


@pytest.mark.timeout(60)
def test_native_scenario_passes(tmp_path: Path) -> None:
    code, rep = run(tmp_path, "--scenario", "native", "--duration", "1.5")
    assert code == 0, rep["violations"] or rep["thread_errors"]
    assert rep["driver"] == "host"
    ops = rep["ops_by_thread"]
    assert all(n > 0 for n in ops.values()), ops
    assert {"main", "reader-0", "writer-1", "writer-2", "c-pthread-0", "c-pthread-1"} == set(ops)
    assert rep["roles"]["c-pthread-0"].startswith("native (a C pthread")
    assert rep["roles"]["reader-0"] == "listen (listen routine)"
    summary = rep["scenario_summary"]
    assert summary["C increments (c_count)"] > 0
    assert summary["C seqlock reads checked"] > 0
    assert summary["python increments (py_seq)"] > 0
    assert summary["C-side torn reads / undone increments"] == "0 / 0"
    # The pthreads' entry locks are the table's: counted in its statistics.
    assert rep["lock_stats"]["tables"]["rows"]["acquisitions"] > ops["c-pthread-0"]


def test_native_scenario_needs_the_host(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--scenario", "native", "--driver", "threads", "--no-progress"])
    assert code == 2
    assert "runs only with --driver host" in capsys.readouterr().err


def test_native_scenario_without_a_compiler(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CC", "no-such-cc-for-ct-tests")
    code = main(["run", "--scenario", "native", "--duration", "0.5", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot run scenario 'native'" in err
    assert "C compiler not found: 'no-such-cc-for-ct-tests'" in err


@pytest.mark.timeout(20)
@pytest.mark.parametrize("driver", DRIVERS)
def test_unsafe_counter_is_caught(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], driver: str
) -> None:
    code, rep = run(
        tmp_path, "--scenario", "unsafe-counter", "--duration", "1.2", "--driver", driver
    )
    assert code == 1
    assert rep["violation_counts"].get("lost-update", 0) > 0
    assert rep["first_violation_s"] < 1.0
    lost = next(v for v in rep["violations"] if v["kind"] == "lost-update")
    assert lost["details"]["value"] < lost["details"]["completed"]
    assert "caught, as it must be" in capsys.readouterr().out
    assert ("--driver threads" in rep["reproduce"]) == (driver == "threads")


@pytest.mark.timeout(20)
def test_json_report_schema(tmp_path: Path) -> None:
    code, rep = run(tmp_path, "--duration", "1", "--threads", "2")
    assert code == 0
    for key, typ in {
        "scenario": str,
        "driver": str,
        "seed": int,
        "duration_s": float,
        "threads": int,
        "ops": int,
        "ops_per_s": float,
        "violations": list,
        "violation_counts": dict,
        "first_violation_s": type(None),
        "lock_stats": dict,
        "thread_errors": list,
        "passed": bool,
        "reproduce": str,
    }.items():
        assert isinstance(rep[key], typ), key
    assert rep["scenario"] == "parse-vs-background"
    assert rep["driver"] == "host"  # the default
    assert rep["seed"] == 7 and rep["threads"] == 2
    for key in ("acquisitions", "contended", "longest_wait_s", "timeouts", "errors", "tables"):
        assert key in rep["lock_stats"], key
    assert rep["detect"] is None
    assert "--seed 7" in rep["reproduce"]


@pytest.mark.timeout(30)
def test_detect_reports_inverted_lock_order(tmp_path: Path) -> None:
    # The inversion never deadlocks (a hidden gate serialises it), so only --detect sees it.
    code, rep = run(tmp_path, "--scenario", "lock-inversion", "--duration", "1")
    assert code == 0
    code, rep = run(tmp_path, "--scenario", "lock-inversion", "--duration", "1", "--detect")
    assert code == 1
    cycles = {tuple(c["cycle"]) for c in rep["detect"]["lock_order"]["cycles"]}
    assert ("alpha[1]", "alpha[2]", "alpha[1]") in cycles
    assert ("alpha[1]", "beta[1]", "alpha[1]") in cycles
    assert rep["violation_counts"]["lock-order-cycle"] == len(cycles)
    classes = {tuple(c["cycle"]) for c in rep["detect"]["lock_order"]["class_cycles"]}
    assert ("alpha.entry", "beta.entry", "alpha.entry") in classes


@pytest.mark.timeout(30)
def test_detect_on_real_scenario(tmp_path: Path) -> None:
    code, rep = run(tmp_path, "--scenario", "parse-vs-background", "--duration", "1.2", "--detect")
    assert code == 0, rep["violations"] or rep["thread_errors"]
    d = rep["detect"]
    assert d["lock_points"] > 0 and d["yields"] > 0
    assert d["lock_order"]["edges"] > 0  # threads[tid] -> file_descriptors#n[fd]
    assert d["lock_order"]["cycles"] == []
    assert d["lock_order"]["class_cycles"] == []
    assert "threads.entry -> file_descriptors.entry" in d["lock_order"]["class_edges"]
    # The misuse probes ran, and every one raised what it must.
    assert d["errors_raised"].get("ReentrancyError", 0) > 0
    assert d["errors_raised"].get("StaleHandleError", 0) > 0
    assert d["errors_raised"].get("BorrowError", 0) > 0
    # Under the host: a write from the extract phase is denied by the table API, and an async
    # task touching the parser's single-threaded table is denied with the matrix rule.
    assert d["errors_raised"].get("AccessDeniedError", 0) > 0
    assert d["errors_raised"].get("ThreadAccessDeniedError", 0) > 0
    assert rep["switch_interval_s"] == pytest.approx(1e-6)


@pytest.mark.timeout(30)
def test_watchdog_catches_a_real_deadlock(tmp_path: Path) -> None:
    code, rep = run(tmp_path, "--scenario", "deadlock", "--duration", "3", "--stall", "0.5")
    assert code == 1
    dl = next(v for v in rep["violations"] if v["kind"] == "deadlock")
    assert set(dl["details"]["stalled_threads"]) == {"forward", "backward"}
    stacks = "\n".join(dl["details"]["stacks"].values())
    assert "_both" in stacks and "with second.write(1)" in stacks  # where each one waits


def test_cycle_finder() -> None:
    w = Witness("t", ())
    g = {
        "a": {"b": w},
        "b": {"c": w, "a": w},
        "c": {"a": w},
        "d": {"d": w, "a": w},
    }
    assert _cycles(g, self_loops=False) == [["a", "b"], ["a", "b", "c"]]
    assert _cycles(g, self_loops=True) == [["a", "b"], ["a", "b", "c"], ["d"]]
    assert _cycles({"a": {"b": w}, "b": {}}, self_loops=True) == []


def test_list_and_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in [*REAL, "unsafe-counter", "native"]:
        assert name in out
    assert "lock-inversion" not in out  # hidden
    assert {"lock-inversion", "deadlock"} <= set(SCENARIOS)


@pytest.mark.timeout(30)
def test_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    code = main(["bench", "--quick", "--rounds", "1", "--entries", "2000", "--json", str(out)])
    assert code == 0
    rep = json.loads(out.read_text())
    for key in (
        "parse_step_threadsafe_vs_single",
        "parse_step_threadsafe_vs_rwlock_floor",
        "parse_step_threadsafe_vs_dict_lock",
        "contention_total_vs_single",
        "memory_threadsafe_vs_single",
    ):
        assert rep[key] > 0, key
    assert 0 < rep["native_read_ns"] < 1_000_000
    assert len(rep["native_read_ns_per_round"]) == 1
    assert rep["native_read_vs_dict_step"] == rep["native_read_vs_dict_step_per_round"][0] > 0
    assert "native_read_ns" in rep["targets"]
    assert rep["contention"]["main_wait_ns"]["p99"] >= rep["contention"]["main_wait_ns"]["p50"]


@pytest.mark.timeout(30)
def test_detect_exercises_the_owner_fast_path(tmp_path: Path) -> None:
    # The owner's fast path without its cross-thread check: `writers --detect` must see the
    # lost updates (before, --detect turned the fast path off and passed).
    from stress.planted import planted_fast_path

    with planted_fast_path():
        code, rep = run(tmp_path, "--scenario", "writers", "--duration", "1.5", "--detect")
    assert code == 1
    counts = rep["violation_counts"]
    assert counts.get("lost-update", 0) + counts.get("torn-read", 0) > 0, counts
    # And the same run with the library's own fast path passes (the probes trace it).
    code, rep = run(tmp_path, "--scenario", "writers", "--duration", "1", "--detect")
    assert code == 0, rep["violations"]
    assert rep["detect"]["lock_points"] > 0
