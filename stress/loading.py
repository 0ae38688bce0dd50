"""Loading what the user names on the command line: `MODULE:ATTR` objects and `PATH.so` plugins.

    MODULE:ATTR    MODULE is a dotted module name (importable from the current directory too)
                   or a path to a .py file; ATTR a class, a factory function or an object.
    PATH.so        a native plugin, loaded with `concurrent_tables.load_native_plugin` and its
                   `--config` string.

Every failure raises `LoadError` with a message naming the spec, before anything runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from concurrent_tables import Plugin


class LoadError(Exception):
    """A plugin, source, scenario or invariant spec that cannot be loaded (the message says why)."""


@dataclass(frozen=True)
class PluginSpec:
    """One `--plugin` (or `--source`) argument and the `--config` given after it."""

    spec: str
    config: str | None = None

    @property
    def native(self) -> bool:
        return self.spec.endswith(".so") and ":" not in self.spec

    def argv(self, flag: str) -> list[str]:
        out = [flag, self.spec]
        if self.config is not None:
            out += ["--config", self.config]
        return out


def check_spec(spec: str) -> str:
    """Syntax only (for argparse): MODULE:ATTR or PATH.so."""
    if spec.endswith(".so") and ":" not in spec:
        return spec
    mod, sep, attr = spec.partition(":")
    if not sep or not mod or not attr:
        raise ValueError(f"expected MODULE:ATTR or PATH.so, got {spec!r}")
    return spec


def import_attr(spec: str) -> Any:
    """The object `spec` (MODULE:ATTR) names."""
    check_spec(spec)
    mod_name, _, attr = spec.rpartition(":")
    try:
        if mod_name.endswith(".py") or os.sep in mod_name:
            path = Path(mod_name)
            if not path.is_file():
                raise LoadError(f"{spec}: no such file {mod_name!r}")
            name = f"_stress_user_{path.stem}"
            module = sys.modules.get(name)
            if module is None:
                loader_spec = importlib.util.spec_from_file_location(name, path)
                if loader_spec is None or loader_spec.loader is None:
                    raise LoadError(f"{spec}: cannot import {mod_name!r}")
                module = importlib.util.module_from_spec(loader_spec)
                sys.modules[name] = module
                loader_spec.loader.exec_module(module)
        else:
            if "" not in sys.path and os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())  # `ct-stress` does not add it; -m does
            module = importlib.import_module(mod_name)
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"{spec}: cannot import {mod_name!r}: {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise LoadError(f"{spec}: module {mod_name!r} has no attribute {attr!r}") from None
    return obj


def make_plugins(spec: PluginSpec, *, fields: tuple[str, ...] = ()) -> list[Plugin]:
    """The plugin(s) a `--plugin` spec names: a class (instantiated with no arguments), a
    factory (called with no arguments; it may return one plugin or a list), or a plugin."""
    if spec.native:
        return [load_native(spec)]
    if spec.config is not None:
        raise LoadError(f"{spec.spec}: --config applies to native plugins (PATH.so) only")
    obj = import_attr(spec.spec)
    try:
        made = obj() if callable(obj) and not isinstance(obj, Plugin) else obj
    except Exception as exc:
        raise LoadError(
            f"{spec.spec}: creating the plugin failed: {type(exc).__name__}: {exc}"
        ) from exc
    plugins = list(made) if isinstance(made, list | tuple) else [made]
    for p in plugins:
        if not isinstance(p, Plugin):
            raise LoadError(
                f"{spec.spec}: expected a concurrent_tables Plugin (class, factory or "
                f"instance), got {type(p).__name__}"
            )
        if not p.capabilities:
            raise LoadError(f"{spec.spec}: plugin {p.plugin_name!r} implements no capability")
    return plugins


def load_native(spec: PluginSpec) -> Plugin:
    path = Path(spec.spec)
    if not path.is_file():
        raise LoadError(f"{spec.spec}: no such native plugin file")
    from concurrent_tables import load_native_plugin

    try:
        return load_native_plugin(str(path.resolve()), spec.config or "")
    except Exception as exc:
        raise LoadError(f"{spec.spec}: loading the native plugin failed: {exc}") from exc
