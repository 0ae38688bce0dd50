"""A native plugin's metrics as a Python mapping (docs/c-abi.md).

`read_metrics(native)` calls `plugin_get_metrics(state, &n)` and copies the `n` entries at once
(the array is plugin memory, valid until the next call): `{name: value}` with the value read
from the union member its `value_type` names (int for U32/S32/U64/S64/I, float for D/F). NULL
with n = 0 is an empty mapping; a missing symbol too. Names are the plugin's own; `PluginHost`
prefixes them with `<plugin>.` as libsinsp does.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

from .._plugin_cdef import has_symbol
from ..errors import PluginError

if TYPE_CHECKING:
    from .loader import NativePlugin

#: value_type -> struct code of the union member (little endian, first bytes of the 8).
_MEMBER: Final = {0: "<I", 1: "<i", 2: "<Q", 3: "<q", 4: "<d", 5: "<f", 6: "<i"}


def read_metrics(native: NativePlugin) -> dict[str, int | float]:
    """The plugin's metrics now, by name."""
    if not native.initialised or not has_symbol(native.lib, "plugin_get_metrics"):
        return {}
    pffi = native.pffi
    n = pffi.new("uint32_t*", 0)
    arr = native.lib.plugin_get_metrics(native.state, n)
    if n[0] == 0:
        return {}
    if arr == pffi.NULL:
        raise PluginError(f"plugin '{native.name}' reported {n[0]} metrics in a NULL array")
    metrics = pffi.cast("ct_metric*", arr)
    out: dict[str, int | float] = {}
    for i in range(n[0]):
        m = metrics[i]
        if m.name == pffi.NULL:
            raise PluginError(f"plugin '{native.name}': metric {i} has no name")
        code = _MEMBER.get(int(m.value_type))
        if code is None:
            raise PluginError(
                f"plugin '{native.name}': metric {i} has unknown value type {m.value_type}"
            )
        raw = struct.pack("<Q", int(m.value))
        out[pffi.string(m.name).decode("utf-8", "replace")] = struct.unpack_from(code, raw)[0]
    return out


__all__ = ["read_metrics"]
