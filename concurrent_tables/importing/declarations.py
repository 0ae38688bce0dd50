"""Declarative typed import: declare the fields you use once, resolve and type-check them at init.

    class FdImport(TableImport):
        fd: Imported[I64]
        fd_type: Imported[U8] = api_name("type")        # member name != API name

    class ThreadImport(TableImport):
        comm: Imported[String]
        num_events: Custom[U64]                          # added to the foreign table
        file_descriptors: ImportedNested[I64, FdImport]  # nested table, own import class

    threads = ThreadImport.import_table(tables, "threads", I64)     # in init
    ...
    with threads.table.get_entry(reader, tid) as h:                # in a callback
        threads.comm.get(h)
        with threads.file_descriptors.get_by_key(h, reader, 16) as fd:
            threads.file_descriptors.fields.fd_type.get(fd)

Resolution happens once, in `import_table` / `bind`: `Imported` members with `get_field`,
`Custom` members with `add_field` (idempotent: plugins declaring the same custom field share
it), `ImportedNested` members by checking the nested key type and resolving the nested class's
members from the parent field's shared registry, without creating any entry. Any missing field,
type mismatch or key mismatch raises then, at init, never per event.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import (
    Any,
    ClassVar,
    Generic,
    Protocol,
    Self,
    TypeVar,
    cast,
    get_args,
    get_origin,
    get_type_hints,
)

from ..errors import ImportDeclarationError, TablesError
from ..fields import Field
from ..plugins.tokens import TableReader, TablesInput, TableWriter
from ..schema import declared_names
from ..types import StateType, coerce_state_type
from .backends import EntryView
from .table import ImportedTable, NestedFields

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V", bound="TableImport")


class Imported(Generic[T]):
    """A field looked up on the foreign table at import: `comm: Imported[String]`.

    After import, the member is this accessor: `get(h)` reads, `set(h, v)` writes through a
    write handle (read-only fields are refused by the table API).
    """

    __slots__ = ("field",)
    custom: ClassVar[bool] = False

    def __init__(self, field: Field) -> None:
        self.field = field

    @property
    def name(self) -> str:
        """The API name of the field."""
        return self.field.name

    @property
    def read_only(self) -> bool:
        return self.field.read_only

    def get(self, h: EntryView) -> T:
        """The field's value in entry `h`."""
        return cast(T, h[self.field])

    def set(self, h: EntryView, value: T) -> None:
        """Write the field in entry `h` (a write handle or a detached entry)."""
        h[self.field] = value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.field!r}>"


class Custom(Imported[T]):
    """A dynamic field added to the foreign table at import: `num_events: Custom[U64]`."""

    __slots__ = ()
    custom = True


class ImportedNested(Generic[K, V]):
    """A nested-table field: `file_descriptors: ImportedNested[I64, FdImport]`.

    After import: `get(h)` is the nested table of entry `h` (an imported view), `fields` the
    nested import class's resolved accessors, `get_by_key(h, token, key)` a nested entry.
    """

    __slots__ = ("field", "fields", "key_type")

    def __init__(self, field: Field, key_type: StateType, fields: V) -> None:
        self.field = field
        self.key_type = key_type
        self.fields: V = fields

    @property
    def name(self) -> str:
        return self.field.name

    def get(self, h: EntryView) -> ImportedTable:
        """The nested table held by entry `h`."""
        return cast(ImportedTable, h[self.field])

    def get_by_key(
        self, h: EntryView, token: TableReader | TableWriter, key: K, *, write: bool = False
    ) -> EntryView:
        """A handle on entry `key` of `h`'s nested table (EntryNotFoundError if none)."""
        return self.get(h).get_entry(token, key, write=write)

    def __repr__(self) -> str:
        return f"<ImportedNested {self.field!r} key={self.key_type.type_name}>"


@dataclass(frozen=True)
class _ApiName:
    name: str


def api_name(name: str) -> Any:
    """Default value naming the API field of a member: `fd_type: Imported[U8] = api_name("type")`.

    Typed Any so that it fits any member annotation.
    """
    return _ApiName(name)


@dataclass(frozen=True)
class _Member:
    attr: str
    api: str
    kind: type[Any]  # Imported, Custom or ImportedNested
    state: StateType  # field type, or the nested key type
    nested: type[TableImport] | None = None


class _FieldSource(Protocol):
    def get_field(self, name: str, type: Any) -> Field: ...
    def add_field(self, name: str, type: Any) -> Field: ...
    def get_nested(self, name: str, key_type: Any) -> NestedFields: ...


class TableImport:
    """Base class of import declarations; see the module docstring."""

    _members: ClassVar[tuple[_Member, ...] | None] = None
    _localns: ClassVar[dict[str, Any]] = {}
    _table: ImportedTable | None
    _nested: NestedFields | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._members = None
        # String annotations of a class defined in a function name that function's locals
        # (e.g. a nested import class declared just before): keep them to resolve later.
        frame = sys._getframe(1)
        cls._localns = dict(frame.f_locals) if frame.f_locals is not frame.f_globals else {}
        try:
            cls._compiled()
        except NameError:
            pass  # a forward reference: compiled at first import instead

    @classmethod
    def _compiled(cls) -> tuple[_Member, ...]:
        members = cls.__dict__.get("_members")
        if members is None:
            members = cls._members = _compile(cls)
        return members

    @classmethod
    def _members_now(cls) -> tuple[_Member, ...]:
        """The compiled members; a name still unresolved at import is a declaration error."""
        try:
            return cls._compiled()
        except NameError as exc:
            raise ImportDeclarationError(
                f"import class {cls.__name__}: unresolved annotation ({exc})"
            ) from None

    # -- import -----------------------------------------------------------------------------------

    @classmethod
    def import_table(cls, tables: TablesInput, name: str, key_type: Any) -> Self:
        """Import table `name` through `tables` and resolve every member (init only)."""
        return cls.bind(tables.get_table(name, key_type))

    @classmethod
    def bind(cls, table: ImportedTable) -> Self:
        """Resolve every member on an already imported table."""
        self = cls._resolve(table)
        self._table, self._nested = table, None
        return self

    @classmethod
    def _bind_nested(cls, nested: NestedFields) -> Self:
        self = cls._resolve(nested)
        self._table, self._nested = None, nested
        return self

    @classmethod
    def _resolve(cls, source: _FieldSource) -> Self:
        self = cls.__new__(cls)
        for m in cls._members_now():
            try:
                accessor: object
                if m.kind is ImportedNested:
                    assert m.nested is not None
                    nested = source.get_nested(m.api, m.state)
                    accessor = ImportedNested(
                        nested.field, nested.key_type, m.nested._bind_nested(nested)
                    )
                elif m.kind is Custom:
                    accessor = Custom(source.add_field(m.api, m.state))
                else:
                    accessor = Imported(source.get_field(m.api, m.state))
            except TablesError as exc:
                exc.add_note(f"while importing {cls.__name__}.{m.attr}")
                raise
            setattr(self, m.attr, accessor)
        return self

    @property
    def table(self) -> ImportedTable:
        """The imported table (a nested import class has none: use the parent accessor)."""
        if self._table is None:
            raise TablesError(
                f"{type(self).__name__} describes nested tables: reach one with the "
                "parent's accessor, e.g. parent.member.get(handle)"
            )
        return self._table

    def __repr__(self) -> str:
        where = self._table if self._table is not None else self._nested
        return f"<{type(self).__name__} of {where!r}>"


def _compile(cls: type[TableImport]) -> tuple[_Member, ...]:
    hints = get_type_hints(cls, localns=cls._localns, include_extras=True)
    names = declared_names(cls, TableImport, "_")
    return tuple(_member(cls, attr, hints[attr]) for attr in names)


def _member(cls: type[TableImport], attr: str, hint: Any) -> _Member:
    where = f"import class {cls.__name__}, member '{attr}'"
    default = cls.__dict__.get(attr)
    api = attr
    if isinstance(default, _ApiName):
        api = default.name
        delattr(cls, attr)  # the resolved accessor is set on the instance
    elif attr in cls.__dict__:
        raise ImportDeclarationError(f"{where}: the only allowed default is api_name('...')")
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Imported, Custom) and len(args) == 1:
        t = _state_type(where, args[0])
        if t is StateType.TABLE:
            raise ImportDeclarationError(
                f"{where}: use ImportedNested[KeyType, ImportClass] for tables"
            )
        return _Member(attr, api, cast(type[Any], origin), t)
    if origin is ImportedNested and len(args) == 2:
        key = _state_type(where, args[0])
        spec = args[1]
        if not (isinstance(spec, type) and issubclass(spec, TableImport)):
            raise ImportDeclarationError(
                f"{where}: write ImportedNested[KeyType, TableImportSubclass]"
            )
        return _Member(attr, api, ImportedNested, key, spec)
    raise ImportDeclarationError(
        f"{where}: annotate with Imported[T], Custom[T] or ImportedNested[K, ImportClass], "
        f"not {hint!r}"
    )


def _state_type(where: str, t: Any) -> StateType:
    try:
        return coerce_state_type(t)
    except TypeError:
        raise ImportDeclarationError(
            f"{where}: {t!r} is not a state type (I8 … U64, Bool, String)"
        ) from None
