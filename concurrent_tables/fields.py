"""Fields: typed column descriptors, and the registry that owns a table's fields.

A `Field` is resolved once (by name and type) and then used on any entry of its table, and on
every nested instance that shares its registry. An entry stores its values in a list: static
fields take the first slots in declaration order, dynamic fields the slots after them in the order
they were added. A dynamic slot past the end of an entry's list reads as the type's default, so
adding a field never touches existing entries.
"""

from __future__ import annotations

import threading
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic

from .errors import FieldDefinitionError, FieldNotFoundError, FieldTypeMismatchError
from .types import INT_RANGES, StateType, coerce_state_type, default_of

if TYPE_CHECKING:
    from .schema import EntrySchema, FieldSpec

#: A field's Python value type: int, bool, str, a nested table, or a private field's type.
#: Type checkers see a default (PEP 696), so a bare `Field` means `Field[Any]`.
if TYPE_CHECKING:
    from typing_extensions import TypeVar

    T = TypeVar("T", default=Any)
else:
    T = typing.TypeVar("T")


_ONE_DIGIT: Final = 2**30 - 1


@dataclass(frozen=True)
class FieldInfo:
    """A listing record: what `list_fields` returns (the ABI's `ss_plugin_table_fieldinfo`)."""

    name: str
    type: StateType
    read_only: bool


class Field(Generic[T]):
    """A column descriptor bound to one field registry (one table, or one nested-table family).

    Generic in its value type: `table.get_field("pid", I64)` is a `Field[int]`, so `h[pid]` is
    an `int` to a type checker.
    """

    __slots__ = (
        "default",
        "dynamic",
        "fast_hi",
        "fast_lo",
        "fast_read_registry",
        "fast_write_registry",
        "hi",
        "index",
        "lo",
        "name",
        "nested",
        "private",
        "read_only",
        "registry",
        "type",
    )

    def __init__(
        self,
        registry: FieldRegistry,
        name: str,
        type: StateType | None,
        index: int,
        *,
        read_only: bool = False,
        private: bool = False,
        dynamic: bool = False,
        default: Any = None,
        nested: FieldRegistry | None = None,
    ) -> None:
        self.registry = registry
        self.name = name
        self.type = type
        self.index = index
        self.read_only = read_only
        self.private = private
        self.dynamic = dynamic
        self.default = default
        self.nested = nested
        # Integer bounds inline so that the write check is two comparisons.
        self.lo, self.hi = INT_RANGES.get(type, (0, -1)) if type is not None else (0, -1)
        # The handles' fast paths test one identity each (`f.fast_read_registry is
        # handle._registry`): it is the field's registry where a handle may return the stored
        # value as is (every field but a nested table, made on first use and shown through an
        # importer's view), and store a checked int or str as is (public, writable, int or
        # string fields); None elsewhere, which sends the access to the full rule.
        # The write fast path's bounds: the type's, cut to what CPython compares fastest (one
        # 30-bit digit); a value past them takes the full check.
        self.fast_lo, self.fast_hi = max(self.lo, -_ONE_DIGIT), min(self.hi, _ONE_DIGIT)
        self.fast_read_registry = registry if nested is None else None
        plain = self.lo <= self.hi or type is StateType.STRING  # an int or string field
        self.fast_write_registry = registry if plain and not (read_only or private) else None

    @property
    def info(self) -> FieldInfo:
        assert self.type is not None, "private fields are not listed"
        return FieldInfo(self.name, self.type, self.read_only)

    def __repr__(self) -> str:
        kind = "private" if self.private else (self.type.type_name if self.type else "?")
        flags = " read-only" if self.read_only else ""
        return f"<Field {self.registry.table_name}.{self.name}: {kind}{flags}>"


class FieldRegistry:
    """The fields of one table, or of every nested table under one parent field.

    Reads (`get`, `listing`) take no lock: the name maps are replaced, never mutated, so a
    reader sees the old or the new map whole. `add` serialises on `_lock`, a leaf lock.
    """

    def __init__(self, table_name: str, schema: type[EntrySchema]) -> None:
        self.table_name = table_name
        self.schema = schema
        self._lock = threading.Lock()
        statics: dict[str, Field] = {}
        self.specs: tuple[FieldSpec, ...] = schema.__fields__
        for i, spec in enumerate(self.specs):
            nested = None
            if spec.type is StateType.TABLE:
                assert spec.nested_schema is not None
                nested = FieldRegistry(spec.name, spec.nested_schema)
            statics[spec.name] = Field(
                self,
                spec.name,
                spec.type,
                i,
                read_only=spec.read_only,
                private=spec.private,
                default=spec.default,
                nested=nested,
            )
        self.static: dict[str, Field] = statics
        self.dynamic: dict[str, Field] = {}
        self.nstatic = len(self.specs)
        self._defaults: list[Any] = [None] * self.nstatic  # by slot index
        self._listing: tuple[FieldInfo, ...] = tuple(
            f.info for f in statics.values() if not f.private
        )

    # -- entries ----------------------------------------------------------------------------------

    def new_values(self) -> list[Any]:
        """Fresh values for a new entry: static defaults; nested tables are made on first use."""
        return [spec.make_default() for spec in self.specs]

    def dynamic_defaults(self, start: int, stop: int) -> list[Any]:
        """Defaults of slots start..stop inclusive, to grow an entry up to a dynamic slot."""
        return self._defaults[start : stop + 1]

    # -- resolution -------------------------------------------------------------------------------

    def get(self, name: str, type: Any) -> Field:
        """The field `name`, which must have exactly type `type`."""
        want = coerce_state_type(type)
        f = self.static.get(name)
        if f is not None and not f.private:
            if f.type is not want:
                raise FieldTypeMismatchError(
                    self.table_name, name, want.type_name, _tn(f.type), static=True
                )
            return f
        f = self.dynamic.get(name)
        if f is None:
            raise FieldNotFoundError(self.table_name, name)
        if f.type is not want:
            raise FieldTypeMismatchError(
                self.table_name, name, want.type_name, _tn(f.type), static=False
            )
        return f

    def lookup(self, name: str) -> Field:
        """The field `name` whatever its type (owner side; private fields included)."""
        f = self.static.get(name) or self.dynamic.get(name)
        if f is None:
            raise FieldNotFoundError(self.table_name, name)
        return f

    def add(self, name: str, type: Any) -> Field:
        """Add a dynamic field, or return the existing one of the same name and type."""
        want = coerce_state_type(type)
        fixed = getattr(self.schema, "__fixed_fields__", None)
        if fixed:  # e.g. libsinsp's list adapters (args, env, cgroups)
            raise FieldDefinitionError(self.table_name, str(name), fixed)
        if not isinstance(name, str) or not name or "\0" in name:
            raise FieldDefinitionError(self.table_name, str(name), f"invalid field name {name!r}")
        if want is StateType.TABLE:
            raise FieldDefinitionError(
                self.table_name, name, f"can't add dynamic field of type table: {name}"
            )
        if name in self.static:
            raise FieldDefinitionError(
                self.table_name, name, f"can't add dynamic field already defined as static: {name}"
            )
        with self._lock:
            f = self.dynamic.get(name)
            if f is not None:
                if f.type is not want:
                    raise FieldDefinitionError(
                        self.table_name,
                        name,
                        "multiple definitions of dynamic field with different types in struct: "
                        f"{name}, prevtype={_tn(f.type)}, newtype={want.type_name}",
                    )
                return f
            f = Field(
                self,
                name,
                want,
                self.nstatic + len(self.dynamic),
                dynamic=True,
                default=default_of(want),
            )
            self._defaults.append(f.default)
            # Publish by replacement: lock-free readers see the old or the new map whole.
            self.dynamic = {**self.dynamic, name: f}
            self._listing = (*self._listing, f.info)
            return f

    def listing(self) -> tuple[FieldInfo, ...]:
        """Static public fields in declaration order, then dynamic fields in the order added."""
        return self._listing


def _tn(t: StateType | None) -> str:
    return t.type_name if t is not None else "private"
