"""Build hooks: the cffi bridge, and the table core (a CPython extension); metadata lives in
pyproject.toml."""

from setuptools import Extension, setup

# The table core in C (concurrent_tables._core). The pure-Python core stays as the reference
# and fallback (CONCURRENT_TABLES_BACKEND=python); tests/core compiles this file again with
# -Werror, so a warning fails CI without breaking an install on another compiler.
core = Extension(
    "concurrent_tables._core",
    sources=["concurrent_tables/native/ct_core.c"],
    depends=["concurrent_tables/native/ct_core_api.h"],
    extra_compile_args=["-Wall", "-Wextra"],
)

setup(cffi_modules=["concurrent_tables/_abi_build.py:ffibuilder"], ext_modules=[core])
