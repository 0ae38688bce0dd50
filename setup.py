"""Build hook for the cffi extension; all project metadata lives in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["concurrent_tables/_abi_build.py:ffibuilder"])
