"""The routine vtable handed to native capture-listen plugins, backed by a `RoutinePool`.

libsinsp always passes a vtable (the `routines` test plugin dereferences it): with no pool,
`subscribe` returns NULL and `unsubscribe` FAILURE (docs/c-abi.md). With a pool, each
subscribed `fn(plugin_state, cookie)` runs on a pool thread (cffi releases the GIL during the
call) until it returns 0 or is unsubscribed; an unknown handle is a FAILURE. Handles are the
pool's ids cast to pointers. The vtable and its callbacks live as long as the plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._abi import ffi as abi_ffi
from ..plugins.routines import RoutinePool

if TYPE_CHECKING:
    from .loader import NativePlugin

SUCCESS = 0
FAILURE = 1


class RoutineVtable:
    """One plugin's `ss_plugin_routine_vtable`, bound to a pool set per capture."""

    def __init__(self, native: NativePlugin) -> None:
        self.native = native
        self.pool: RoutinePool | None = None
        self.handles: set[int] = set()
        pffi = native.pffi
        self._subscribe = pffi.callback(
            "void*(void*, uint32_t(*)(void*, void*), void*)", self._on_subscribe, error=pffi.NULL
        )
        self._unsubscribe = pffi.callback("int(void*, void*)", self._on_unsubscribe, error=FAILURE)
        self.vtable = pffi.new("ct_routine_vtable*")
        self.vtable.subscribe = self._subscribe
        self.vtable.unsubscribe = self._unsubscribe
        native._listen.routine = abi_ffi.cast(
            "ss_plugin_routine_vtable*", int(pffi.cast("uintptr_t", self.vtable))
        )

    def _on_subscribe(self, owner: Any, fn: Any, cookie: Any) -> Any:
        pffi = self.native.pffi
        try:
            pool = self.pool
            if pool is None or fn == pffi.NULL:
                return pffi.NULL
            state = self.native.state

            def step() -> bool:
                return bool(fn(state, cookie))

            h = pool.subscribe(step, plugin=self.native.name)
            self.handles.add(h)
            return pffi.cast("void*", h)
        except Exception:  # a closed pool (the host is stopping): no routine, as without one
            return pffi.NULL

    def _on_unsubscribe(self, owner: Any, handle: Any) -> int:
        try:
            pool = self.pool
            h = int(self.native.pffi.cast("uintptr_t", handle))
            if pool is None or h not in self.handles:
                return FAILURE
            self.handles.discard(h)
            return SUCCESS if pool.unsubscribe(h) else FAILURE
        except Exception:  # no Python exception crosses into the plugin
            return FAILURE

    def purge(self, timeout: float = 5.0) -> bool:
        """Remove this plugin's routines and wait for running ones (after capture_close)."""
        pool = self.pool
        self.handles.clear()
        return True if pool is None else pool.purge(self.native.name, timeout)


__all__ = ["RoutineVtable"]
