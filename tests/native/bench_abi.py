"""Micro-benchmarks of the bridge's call paths (not a test): python -m tests.native.bench_abi

Prints the cost per call of: Python -> C dispatcher -> Python owner (mock), Python -> a plugin-owned
table via the C dispatcher / via a cdata function pointer, an ABI-mode plugin call, and a native
plugin thread -> dispatcher -> Python owner (the counter thread, 4 callbacks per iteration).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from concurrent_tables._abi import lib

from .build import compile_test_plugin
from .mock_host import MockHost, NativePlugin, NativeTable, Schema, Table, make_threads_table


def per_call(fn: Callable[[], object], n: int = 200_000) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        built = compile_test_plugin(Path(tmp))
        print(f"plugin compile: {built.seconds:.2f} s")
        host = MockHost()
        threads = make_threads_table(host)
        p = NativePlugin(host, str(built.path), "import=0")
        nt = host.tables["plugin_sample"]
        assert isinstance(nt, NativeTable)
        box_in = nt.input
        size_fn = nt.box.reader_ext.get_table_size
        orig = nt.box.orig_table

        rows = [
            ("py -> C dispatcher -> py owner (mock get_table_size)",
             lambda: lib.ct_disp_get_table_size(threads.input)),
            ("py -> C dispatcher -> native table (get_table_size)",
             lambda: lib.ct_disp_get_table_size(box_in)),
            ("py -> cdata fn pointer -> native table (get_table_size)",
             lambda: size_fn(orig)),
            ("py -> ABI-mode dlopen'ed plugin symbol (plugin_get_name)",
             lambda: p.lib.plugin_get_name()),
        ]  # fmt: skip
        for label, fn in rows:
            print(f"{label:60s} {per_call(fn):6.3f} us/call")

        host.add_table(Table(host, Schema("counters", 8), "counters"))
        iters = 100_000
        q = NativePlugin(
            host, str(built.path), f"import=0;export=0;counter_table=counters;counter_iters={iters}"
        )
        start = time.perf_counter()
        q.capture_open()
        while not q.thread_done():
            time.sleep(0.001)
        elapsed = time.perf_counter() - start
        q.capture_close()
        per_cb = elapsed / (iters * 4) * 1e6
        label = "C thread -> C dispatcher -> py owner (mock), per callback"
        print(f"{label:60s} {per_cb:6.3f} us/call")
        q.destroy()
        p.destroy()


if __name__ == "__main__":
    main()
