from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from concurrent_tables.cabi.loader import NativePlugin
from concurrent_tables.falco import add_thread, threads_table
from concurrent_tables.registry import TableRegistry

from .build import EXTRACT_ONLY, BuildResult, compile_test_plugin
from .helpers import load_plugin


@pytest.fixture(scope="session")
def ct_plugin_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The native test plugin, compiled once per session."""
    return compile_test_plugin(tmp_path_factory.mktemp("ct_native"))


@pytest.fixture(scope="session")
def ct_plugin_path(ct_plugin_build: BuildResult) -> Path:
    return ct_plugin_build.path


@pytest.fixture(scope="session")
def ct_extract_plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extract-only variant of the test plugin."""
    out = tmp_path_factory.mktemp("ct_native_extract")
    return compile_test_plugin(out, EXTRACT_ONLY, "ct_test_extract.so").path


@pytest.fixture(scope="session")
def ct_plugin_version_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test plugin built to require other API versions: {"3.0.0": path, ...}."""
    out = tmp_path_factory.mktemp("ct_native_versions")
    paths = {}
    for v in ("3.0.0", "3.11.7", "3.12.1", "3.13.0", "2.12.0", "bogus"):
        flag = f'-DCT_TEST_API_VERSION="{v}"'
        paths[v] = compile_test_plugin(out, (flag,), f"ct_test_{v}.so").path
    return paths


@pytest.fixture
def directory() -> TableRegistry:
    """A host directory with a Falco-shaped `threads` table holding thread 1 ("init")."""
    threads = threads_table()
    add_thread(threads, 1, pid=1, comm="init", cwd="/")
    return TableRegistry(threads)


LoadFn = Callable[..., NativePlugin]


@pytest.fixture
def load(directory: TableRegistry, ct_plugin_path: Path) -> Iterator[LoadFn]:
    """load(config, path=None, init=True): a test plugin instance, destroyed after the test."""
    made: list[NativePlugin] = []

    def make(config: str = "", path: Path | None = None, *, init: bool = True) -> NativePlugin:
        p = load_plugin(path or ct_plugin_path, directory, config)
        made.append(p)
        if init:
            p.init()
        return p

    yield make
    for p in reversed(made):
        p.destroy()
