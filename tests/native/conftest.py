from __future__ import annotations

from pathlib import Path

import pytest

from .build import BuildResult, compile_test_plugin


@pytest.fixture(scope="session")
def ct_plugin_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The native test plugin, compiled once per session."""
    return compile_test_plugin(tmp_path_factory.mktemp("ct_native"))


@pytest.fixture(scope="session")
def ct_plugin_path(ct_plugin_build: BuildResult) -> Path:
    return ct_plugin_build.path
