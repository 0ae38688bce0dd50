"""Fixtures of the native tests: each C test plugin of tests/native/plugins/, compiled once per
session (`<name>_so`, e.g. `table_api_so`), a host directory, and `load` for plugin instances."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from concurrent_tables.cabi.loader import NativePlugin
from concurrent_tables.falco import add_thread, threads_table
from concurrent_tables.registry import TableRegistry

from .build import compile_plugin
from .helpers import load_plugin

#: The API versions the exporter is built to require in the version-check tests.
REQUIRED_VERSIONS = ("3.0.0", "3.11.7", "3.12.1", "3.13.0", "2.12.0", "bogus")


@pytest.fixture(scope="session")
def plugins_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One temp folder for every plugin this session builds."""
    return tmp_path_factory.mktemp("ct_plugins")


@pytest.fixture(scope="session")
def table_api_so(plugins_dir: Path) -> Path:
    """table_api.c: every table-API slot on an imported table, checked from C."""
    return compile_plugin("table_api.c", plugins_dir)


@pytest.fixture(scope="session")
def bad_input_so(plugins_dir: Path) -> Path:
    """bad_input.c: every bad input the table API must refuse."""
    return compile_plugin("bad_input.c", plugins_dir)


@pytest.fixture(scope="session")
def state_types_so(plugins_dir: Path) -> Path:
    """state_types.c: every state type written and read back."""
    return compile_plugin("state_types.c", plugins_dir)


@pytest.fixture(scope="session")
def exporter_so(plugins_dir: Path) -> Path:
    """exporter.c: exports plugin_sample with add_table."""
    return compile_plugin("exporter.c", plugins_dir)


@pytest.fixture(scope="session")
def nested_importer_so(plugins_dir: Path) -> Path:
    """nested_importer.c: keeps pointers into plugin_sample, probes them after its destroy."""
    return compile_plugin("nested_importer.c", plugins_dir)


@pytest.fixture(scope="session")
def event_counter_so(plugins_dir: Path) -> Path:
    """event_counter.c: counts events per thread (ct_counter), like the SDK's syscall_parse."""
    return compile_plugin("event_counter.c", plugins_dir)


@pytest.fixture(scope="session")
def extract_reader_so(plugins_dir: Path) -> Path:
    """extract_reader.c: extract-only: reads, and its writes are refused."""
    return compile_plugin("extract_reader.c", plugins_dir)


@pytest.fixture(scope="session")
def counter_thread_so(plugins_dir: Path) -> Path:
    """counter_thread.c: a capture-listen pthread counting in table counters."""
    return compile_plugin("counter_thread.c", plugins_dir)


@pytest.fixture(scope="session")
def exporter_version_sos(plugins_dir: Path) -> dict[str, Path]:
    """exporter.c built to require other API versions: {"3.0.0": path, ...}."""
    return {
        v: compile_plugin("exporter.c", plugins_dir, [f'-DCT_API_VERSION="{v}"'])
        for v in REQUIRED_VERSIONS
    }


@pytest.fixture
def directory() -> TableRegistry:
    """A host directory with a Falco-shaped `threads` table holding thread 1 ("init")."""
    threads = threads_table()
    add_thread(threads, 1, pid=1, comm="init", cwd="/")
    return TableRegistry(threads)


LoadFn = Callable[..., NativePlugin]


@pytest.fixture
def load(directory: TableRegistry) -> Iterator[LoadFn]:
    """load(path, config="", init=True): a plugin instance on `directory`, destroyed after the
    test (in reverse order)."""
    made: list[NativePlugin] = []

    def make(path: Path, config: str = "", *, init: bool = True) -> NativePlugin:
        p = load_plugin(path, directory, config)
        made.append(p)
        if init:
            p.init()
        return p

    yield make
    for p in reversed(made):
        p.destroy()
