"""The native test plugin's build, for the tests: see `concurrent_tables.cabi.build`.

The C source ships with the package (concurrent_tables/native/ct_test_plugin.c) so that the
stress harness's `native` scenario builds it too. The fixtures in conftest.py build each variant
once per test session, into a temp folder.
"""

from __future__ import annotations

from concurrent_tables.cabi.build import (
    CFLAGS,
    EXTRACT_ONLY,
    INCLUDE_DIR,
    PLUGIN_SOURCE,
    BuildResult,
    CompileError,
    compile_test_plugin,
    compiler,
)

__all__ = [
    "CFLAGS",
    "EXTRACT_ONLY",
    "INCLUDE_DIR",
    "PLUGIN_SOURCE",
    "BuildResult",
    "CompileError",
    "compile_test_plugin",
    "compiler",
]
