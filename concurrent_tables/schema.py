"""Entry schemas: Python classes whose annotations declare a table's static fields.

    class FileDescriptor(EntrySchema):
        fd: I64
        name: String

    class Thread(EntrySchema):
        pid: I64
        comm: String
        cwd: ReadOnly[String]                                    # owner-writable only
        file_descriptors: NestedTable[I64, FileDescriptor]       # read-only TABLE field
        scratch: Private[list[int]] = factory(list)              # never exported

Declaration order (base classes first) is the listing order. Public fields may have a default
class value (validated); private fields must have one (`factory(fn)` for a mutable default).
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar, get_args, get_origin, get_type_hints

from .errors import SchemaError
from .types import KEY_TYPES, StateType, coerce_state_type, default_of, value_problem

T = TypeVar("T")
K = TypeVar("K")
S = TypeVar("S")


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


READ_ONLY = _Marker("READ_ONLY")
PRIVATE = _Marker("PRIVATE")

#: A field other plugins may read but not write through the table API.
ReadOnly = Annotated[T, READ_ONLY]
#: A field that is never exported or listed; any Python type; needs a default.
Private = Annotated[T, PRIVATE]


class NestedTable(Generic[K, S]):
    """Annotation for a nested-table field: `NestedTable[I64, FileDescriptor]`.

    The field is always read-only: its value is the entry's own table, created with the entry.
    """


@dataclass(frozen=True)
class factory:
    """A default made fresh for each entry: `scratch: Private[list[int]] = factory(list)`."""

    make: Callable[[], Any]


@dataclass(frozen=True)
class FieldSpec:
    """One static field of a schema, as declared."""

    name: str
    type: StateType | None  # None for private fields
    read_only: bool
    private: bool
    default: Any
    nested_key: StateType | None = None
    nested_schema: builtins.type[EntrySchema] | None = None

    def make_default(self) -> Any:
        if isinstance(self.default, factory):
            return self.default.make()
        return self.default


class EntrySchema:
    """Base class of entry schemas. Subclasses are compiled once into `__fields__`.

    `__fixed_fields__`: if set, tables of this schema refuse dynamic fields with this message.
    """

    __fields__: tuple[FieldSpec, ...] = ()
    __fixed_fields__: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__fields__ = _compile(cls)


def _compile(cls: type[EntrySchema]) -> tuple[FieldSpec, ...]:
    try:
        hints = get_type_hints(cls, include_extras=True)
    except NameError as exc:  # a forward reference to a schema declared later
        raise SchemaError(f"schema {cls.__name__}: unresolved annotation ({exc})") from None
    return tuple(_spec(cls, name, hints[name]) for name in declared_names(cls, object, "__"))


def declared_names(cls: type, base: type, hidden: str) -> list[str]:
    """The names annotated on `cls` and its bases below `base`, base classes' first, in
    declaration order; names starting with `hidden` are skipped."""
    order: list[str] = []
    for klass in reversed(cls.__mro__):
        if klass is base or not issubclass(klass, base):
            continue
        for name in inspect.get_annotations(klass):
            if name not in order and not name.startswith(hidden):
                order.append(name)
    return order


def _spec(cls: type, name: str, hint: Any) -> FieldSpec:
    where = f"schema {cls.__name__}, field '{name}'"
    has_default = hasattr(cls, name)
    default = getattr(cls, name, None)
    markers: list[Any] = []
    base = hint
    if get_origin(hint) is Annotated:
        base, *markers = get_args(hint)
    if PRIVATE in markers:
        if not has_default:
            raise SchemaError(f"{where}: a private field needs a default (use factory(fn))")
        return FieldSpec(name, None, False, True, default)
    read_only = READ_ONLY in markers
    if get_origin(base) is NestedTable or base is NestedTable:
        args = get_args(base)
        if len(args) != 2 or not (isinstance(args[1], type) and issubclass(args[1], EntrySchema)):
            raise SchemaError(f"{where}: write NestedTable[KeyType, EntrySchemaSubclass]")
        key = coerce_state_type(args[0])
        if key not in KEY_TYPES:
            raise SchemaError(f"{where}: {key.type_name} cannot be a key type")
        return FieldSpec(name, StateType.TABLE, True, False, None, key, args[1])
    types = [m for m in markers if isinstance(m, StateType)]
    if len(types) != 1 or types[0] is StateType.TABLE:
        raise SchemaError(
            f"{where}: annotate with I8 … U64, Bool, String, ReadOnly[...], Private[...] "
            f"or NestedTable[...], not {hint!r}"
        )
    st = types[0]
    if has_default:
        why = value_problem(st, default)
        if why:
            raise SchemaError(f"{where}: default {default!r} is invalid: {why}")
    else:
        default = default_of(st)
    return FieldSpec(name, st, read_only, False, default)
