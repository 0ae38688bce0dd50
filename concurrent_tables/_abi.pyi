# Typing stub for the cffi-generated extension module concurrent_tables._abi (built from
# _abi_build.py). cffi objects are dynamic; the bridge code treats them as Any.
from typing import Any

ffi: Any
lib: Any
