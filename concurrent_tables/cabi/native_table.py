"""Tables a native plugin owns (registered with `add_table`), used from Python.

`NativeTable` has the method names of `Table`: `get_field` / `add_field` / `list_fields`,
`read` / `write` / `get_entry` handles with `h[field]` and `h[field] = v`, `create_entry`,
`add_entry`, `erase_entry`, `clear`, `size`/`len`, `iterate` / `items`. Every call goes through
the same C dispatchers the plugins get, so Python sees the table exactly as other plugins do.

- Errors become our typed exceptions (`EntryNotFoundError`, `FieldNotFoundError`, ...) whose
  message is the exporting plugin's `plugin_get_last_error` text; `exc.native_error` holds it.
- A native table's thread-safety is unknown: it is confined to the thread that imported it
  (WrongThreadError elsewhere).
- A handle holds the plugin's entry (acquired, released by `release()` or the `with` block).
  Entries given to `iterate` callbacks are valid only during the callback.
- A TABLE field reads as a `NativeTable` view of the nested table (the plugin's own handle,
  passed through unchanged). Its fields are resolved once per parent field: accessors work on
  every nested table of that field, as the ABI requires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from threading import get_ident
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .. import slots
from .._abi import ffi, lib
from ..errors import (
    AccessDeniedError,
    EntryExistsError,
    EntryNotFoundError,
    FieldDefinitionError,
    FieldNotFoundError,
    FieldTypeMismatchError,
    ForeignEntryError,
    ForeignFieldError,
    InvalidKeyError,
    PluginError,
    ReadOnlyHandleError,
    StaleHandleError,
    TableGoneError,
    TablesError,
    WrongThreadError,
)
from ..fields import Field, FieldInfo, FieldRegistry
from ..schema import EntrySchema
from ..types import StateType, coerce_state_type, default_of, value_problem
from .context import last_error, set_error
from .convert import MEMBER, c_string, value_bytes, value_string
from .externs import extern, ignore_error
from .messages import ADD_TABLE_PREFIX, unknown_type

if TYPE_CHECKING:
    from .session import PluginSession

E = TypeVar("E", bound=TablesError)


class _Opaque(EntrySchema):
    """The (empty) schema behind a native table's field registry: its fields live in C."""


def native_error(cls: type[E], text: str, **attrs: Any) -> E:
    """An instance of `cls` whose message is the plugin's own text (`exc.native_error`)."""
    exc = cls.__new__(cls)
    Exception.__init__(exc, text)
    for k, v in attrs.items():
        setattr(exc, k, v)
    exc.native_error = text  # type: ignore[attr-defined]
    return exc


class NativeFamily:
    """The fields of one native table, or of every nested table under one parent field."""

    __slots__ = ("fields", "name", "nested", "registry")

    def __init__(self, name: str) -> None:
        self.name = name
        self.registry = FieldRegistry(name, _Opaque)  # identity for field-table checks
        self.fields: dict[tuple[str, StateType], NativeField] = {}
        self.nested: dict[str, NativeFamily] = {}

    def nested_family(self, field: str) -> NativeFamily:
        fam = self.nested.get(field)
        if fam is None:
            fam = self.nested[field] = NativeFamily(field)
        return fam


class NativeField(Field):
    """A field of a native table: a `Field` whose accessor is the plugin's pointer."""

    __slots__ = ("accessor", "family")

    def __init__(
        self,
        family: NativeFamily,
        name: str,
        type: StateType,
        accessor: Any,
        *,
        read_only: bool,
    ) -> None:
        # A TABLE field's nested registry is its nested tables' family: slots' write rules
        # (no writes to table fields) hold for native fields as for Python ones.
        nested = family.nested_family(name).registry if type is StateType.TABLE else None
        super().__init__(
            family.registry,
            name,
            type,
            0,
            read_only=read_only,
            default=default_of(type),
            nested=nested,
        )
        self.accessor = accessor
        self.family = family


class NativeTable:
    """A native plugin's table, with `Table`'s method names (see the module docstring)."""

    thread_safe = False

    def __init__(
        self,
        input: Any,
        name: str,
        key_type: StateType,
        *,
        plugin: str,
        family: NativeFamily | None = None,
        errors: Callable[[], str | None] | None = None,
        nested_errors: Callable[[], str | None] | None = None,
        owner_thread: int | None = None,
        box: Any = None,
        keep: Any = None,
    ) -> None:
        self.input = input  # the ss_plugin_table_input* every call dispatches through
        self.name = name
        self.key_type = key_type
        self.plugin = plugin
        self.family = family if family is not None else NativeFamily(name)
        # Where the text of a failed call comes from. Calls through an import box report it
        # through ct_py_native_table_error (the caller's last error); nested tables of a
        # plugin are the plugin's own handles, so their failures are read from the plugin.
        self._errors = errors if errors is not None else last_error
        self._box = box
        if nested_errors is None:
            nested_errors = self._plugin_error if box is not None else self._errors
        self._nested_errors = nested_errors
        self._thread = owner_thread if owner_thread is not None else get_ident()
        self._keep = keep  # memory the input lives in (the import box, our name copy)
        #: Why the table is gone (its plugin destroyed), shared with its nested tables.
        self._life: list[str] = []

    def _plugin_error(self) -> str | None:
        """The exporting plugin's plugin_get_last_error, once its state is known."""
        box = self._box
        if box is None or box.get_last_error == ffi.NULL or box.plugin == ffi.NULL:
            return last_error()
        p = box.get_last_error(box.plugin)
        return None if p == ffi.NULL else c_string(p, "plugin error")

    @property
    def owner_thread(self) -> int:
        return self._thread

    def exporter_ready(self, state: Any) -> None:
        """Set the exporting plugin's state once its plugin_init has returned.

        Until then a failure cannot read the plugin's error text (see `_plugin_error`).
        """
        if self._box is not None:
            self._box.plugin = state

    def __repr__(self) -> str:
        return f"<NativeTable '{self.name}' key={self.key_type.type_name} of '{self.plugin}'>"

    # -- plumbing -------------------------------------------------------------------------------

    def _check_thread(self) -> None:
        if self._life:
            raise TableGoneError(self.name, self.plugin, self._life[0])
        tid = get_ident()
        if tid != self._thread:
            raise WrongThreadError(f"native table '{self.name}'", self._thread, tid)

    @property
    def gone(self) -> str | None:
        """Why the table is gone (its plugin was destroyed), or None while it lives."""
        return self._life[0] if self._life else None

    def retire(self, why: str) -> None:
        """The exporting plugin is being destroyed: every later use is a TableGoneError.

        Python calls fail before reaching C. Native importers keep the import box's handle, so
        its vtables are pointed at stubs that fail (NULL, FAILURE, -1) without touching the
        plugin, and the box forgets the plugin's state; the failure's text names the table.
        """
        if self._life:
            return
        self._life.append(why)
        box = self._box
        if box is not None:
            _disarm_box(box)

    def _failure(self, op: str) -> str:
        text = self._errors()
        return text or f"{op} failed in table '{self.name}' of plugin '{self.plugin}'"

    def _raise(self, cls: type[E], op: str, **attrs: Any) -> E:
        attrs.setdefault("table", self.name)
        return native_error(cls, self._failure(op), plugin=self.plugin, **attrs)

    def _key(self, key: Any) -> tuple[Any, Any]:
        why = value_problem(self.key_type, key)
        if why is not None:
            raise InvalidKeyError(self.name, key, self.key_type.type_name, why)
        k = ffi.new("ss_plugin_state_data*")
        keep = None
        if self.key_type is StateType.STRING:
            keep = ffi.new("char[]", value_bytes(key))
            k.str = keep
        elif self.key_type is StateType.BOOL:
            k.b = 1 if key else 0
        else:
            setattr(k, MEMBER[self.key_type], key)
        return k, keep

    # -- fields ---------------------------------------------------------------------------------

    def list_fields(self) -> list[FieldInfo]:
        """The plugin's field listing: name, type, read-only flag."""
        self._check_thread()
        n = ffi.new("uint32_t*")
        arr = lib.ct_disp_list_table_fields(self.input, n)
        if arr == ffi.NULL:
            raise self._raise(PluginError, "list_table_fields")
        out = []
        for i in range(n[0]):
            info = arr[i]
            try:
                t = StateType(info.field_type)
            except ValueError:
                continue  # a type this library does not know: not usable from Python
            out.append(FieldInfo(c_string(info.name, "field name"), t, bool(info.read_only)))
        return out

    def _info(self, name: str) -> FieldInfo | None:
        for info in self.list_fields():
            if info.name == name:
                return info
        return None

    def _make_field(self, name: str, t: StateType, acc: Any) -> NativeField:
        info = self._info(name)
        f = NativeField(self.family, name, t, acc, read_only=bool(info and info.read_only))
        self.family.fields[(name, t)] = f
        return f

    def get_field(self, name: str, type: Any) -> NativeField:
        """The field `name`, of exactly type `type` (the plugin decides what matches)."""
        self._check_thread()
        t = coerce_state_type(type)
        f = self.family.fields.get((name, t))
        if f is not None:
            return f
        acc = lib.ct_disp_get_table_field(self.input, name.encode(), int(t))
        if acc == ffi.NULL:
            info = self._info(name)
            if info is None:
                raise self._raise(FieldNotFoundError, "get_table_field", field=name)
            raise self._raise(
                FieldTypeMismatchError,
                "get_table_field",
                field=name,
                requested=t.type_name,
                actual=info.type.type_name,
            )
        return self._make_field(name, t, acc)

    def add_field(self, name: str, type: Any) -> NativeField:
        """Add a dynamic field (the plugin decides whether an existing one is returned)."""
        self._check_thread()
        t = coerce_state_type(type)
        acc = lib.ct_disp_add_table_field(self.input, name.encode(), int(t))
        if acc == ffi.NULL:
            raise self._raise(FieldDefinitionError, "add_table_field", field=name)
        f = self.family.fields.get((name, t))
        if f is not None and f.accessor == acc:
            return f
        return self._make_field(name, t, acc)

    def field(self, name: str) -> NativeField:
        """The field `name` whatever its type (looked up in the listing)."""
        info = self._info(name)
        if info is None:
            raise native_error(
                FieldNotFoundError,
                f"undefined field '{name}' in table '{self.name}'",
                table=self.name,
                field=name,
            )
        return self.get_field(name, info.type)

    def _resolve(self, field: Field | str) -> NativeField:
        if isinstance(field, str):
            return self.field(field)
        if not isinstance(field, NativeField) or field.family is not self.family:
            owner = field.registry.table_name if isinstance(field, Field) else "?"
            raise ForeignFieldError(getattr(field, "name", "?"), owner, self.name)
        return field

    # -- entries --------------------------------------------------------------------------------

    def size(self) -> int:
        """The number of entries."""
        self._check_thread()
        n = int(lib.ct_disp_get_table_size(self.input))
        if n == 2**64 - 1:
            raise self._raise(PluginError, "get_table_size")
        return n

    __len__ = size

    def _acquire(self, key: Any) -> Any:
        k, keep = self._key(key)
        e = lib.ct_disp_get_table_entry(self.input, k)
        del keep
        return e

    def get_entry(
        self, key: Any, *, write: bool = False, wrap: Callable[[NativeTable], Any] | None = None
    ) -> NativeEntryHandle:
        """A handle on the entry at `key` (EntryNotFoundError carrying the plugin's text).

        `wrap`: applied to the nested tables its TABLE fields read as.
        """
        self._check_thread()
        e = self._acquire(key)
        if e == ffi.NULL:
            raise self._raise(EntryNotFoundError, "get_table_entry", key=key)
        return NativeEntryHandle(self, key, e, write=write, acquired=True, wrap=wrap)

    def read(self, key: Any) -> NativeEntryHandle:
        """A read handle on the entry at `key`."""
        return self.get_entry(key)

    def write(self, key: Any) -> NativeEntryHandle:
        """A write handle on the entry at `key`."""
        return self.get_entry(key, write=True)

    def __contains__(self, key: object) -> bool:
        self._check_thread()
        e = self._acquire(key)
        if e == ffi.NULL:
            return False
        lib.ct_disp_release_table_entry(self.input, e)
        return True

    def create_entry(
        self, *, wrap: Callable[[NativeTable], Any] | None = None
    ) -> NativeDetachedEntry:
        """A new detached entry, every field at the plugin's default."""
        self._check_thread()
        e = lib.ct_disp_create_table_entry(self.input)
        if e == ffi.NULL:
            raise self._raise(PluginError, "create_table_entry")
        return NativeDetachedEntry(self, None, e, write=True, acquired=False, wrap=wrap)

    def add_entry(self, key: Any, entry: NativeDetachedEntry, *, replace: bool = False) -> bool:
        """Attach `entry` at `key`; True if it replaced an entry (EntryExistsError unless asked)."""
        self._check_thread()
        if not isinstance(entry, NativeDetachedEntry) or entry._table is not self:
            raise ForeignEntryError(
                self.name, "add_entry called on entry not created by create_table_entry"
            )
        if not entry.alive:
            raise StaleHandleError(self.name, "<detached>", entry._how)
        existed = key in self
        if existed and not replace:
            raise EntryExistsError(self.name, key)
        k, keep = self._key(key)
        added = lib.ct_disp_add_table_entry(self.input, k, entry._ptr)
        del keep
        if added == ffi.NULL:
            raise self._raise(PluginError, "add_table_entry", key=key)
        entry._end("attached")
        lib.ct_disp_release_table_entry(self.input, added)
        return existed

    def erase_entry(self, key: Any) -> None:
        """Remove the entry at `key` (EntryNotFoundError carrying the plugin's text)."""
        self._check_thread()
        k, keep = self._key(key)
        rc = lib.ct_disp_erase_table_entry(self.input, k)
        del keep
        if rc != 0:
            raise self._raise(EntryNotFoundError, "erase_table_entry", key=key)

    def clear(self) -> None:
        """Remove every entry."""
        self._check_thread()
        if lib.ct_disp_clear_table(self.input) != 0:
            raise self._raise(PluginError, "clear_table")

    def iterate(
        self,
        callback: Callable[[NativeEntryHandle], bool | None],
        *,
        write: bool = False,
        wrap: Callable[[NativeTable], Any] | None = None,
    ) -> bool:
        """Call `callback(handle)` per entry, in the plugin's order, until it returns False.

        Returns True if every entry was visited. A handle is valid only during its callback;
        an exception in `callback` stops the walk and is raised here.
        """
        self._check_thread()
        raised: list[BaseException] = []

        def visit(e: Any) -> bool:
            h = NativeEntryHandle(self, None, e, write=write, acquired=False, wrap=wrap)
            try:
                return callback(h) is not False
            except BaseException as exc:
                raised.append(exc)
                return False
            finally:
                h._end("released when its iteration callback returned")

        cookie = ffi.new_handle(visit)
        finished = bool(lib.ct_disp_iterate_entries(self.input, lib.ct_py_iterator, cookie))
        if raised:
            raise raised[0]
        return finished

    def items(self, *, write: bool = False) -> Iterator[NativeEntryHandle]:
        """Not available: a plugin's entries are valid only inside its walk (use `iterate`).

        The ABI hands iteration entries to a callback and gives no keys, so they cannot be
        yielded to a loop that runs after the callback returned.
        """
        raise PluginError(
            f"native table '{self.name}' cannot be iterated with items(): its entries are "
            "only valid inside the plugin's walk; use iterate(callback)"
        )


class NativeEntryHandle:
    """A handle on one entry of a native table: `h[field]`, `h[field] = v`, `release()`."""

    __slots__ = ("_acquired", "_how", "_key", "_ptr", "_table", "_tid", "_wrap", "write")

    def __init__(
        self,
        table: NativeTable,
        key: Any,
        ptr: Any,
        *,
        write: bool,
        acquired: bool,
        wrap: Callable[[NativeTable], Any] | None = None,
    ) -> None:
        self._table = table
        self._key = key
        self._ptr = ptr
        self._tid = get_ident()
        self._acquired = acquired
        self._how = ""
        self._wrap = wrap  # what nested tables are shown as (an importer's view, say)
        self.write = write

    @property
    def key(self) -> Any:
        return self._key

    @property
    def table(self) -> NativeTable:
        return self._table

    @property
    def alive(self) -> bool:
        return self._tid != 0

    def _live(self) -> None:
        if self._tid != get_ident():
            if self._tid == 0:
                raise StaleHandleError(self._table.name, self._key, self._how)
            raise WrongThreadError(
                f"handle on entry {self._key!r} of native table '{self._table.name}'",
                self._tid,
                get_ident(),
            )

    def __getitem__(self, field: Field | str) -> Any:
        self._live()
        t = self._table
        f = t._resolve(field)
        out = ffi.new("ss_plugin_state_data*")
        if lib.ct_disp_read_entry_field(t.input, self._ptr, f.accessor, out) != 0:
            raise t._raise(PluginError, "read_entry_field", field=f.name)
        ft = f.type
        if ft is StateType.STRING:
            return value_string(out.str)
        if ft is StateType.BOOL:
            return out.b != 0
        if ft is StateType.TABLE:
            nested = _nested_view(t, f, out.table)
            return nested if self._wrap is None else self._wrap(nested)
        assert ft is not None
        return getattr(out, MEMBER[ft])

    get = __getitem__

    def __setitem__(self, field: Field | str, value: Any) -> None:
        self._live()
        t = self._table
        f = t._resolve(field)
        if not self.write:
            if self._wrap is not None:  # an importer's view: the same words as ImportedTable
                raise AccessDeniedError(
                    f"cannot write field '{f.name}' of entry {self._key!r} in imported table "
                    f"'{t.name}' through a read handle: writes need a write handle, taken "
                    "with a TableWriter (get_entry(writer, key, write=True))"
                )
            raise ReadOnlyHandleError(t.name, self._key, f.name)
        ft = f.type
        assert ft is not None
        slots.check_writable(t.name, f, True)
        slots.check_value(t.name, f, value)
        data = ffi.new("ss_plugin_state_data*")
        keep = None
        if ft is StateType.STRING:
            keep = ffi.new("char[]", value_bytes(value))
            data.str = keep
        elif ft is StateType.BOOL:
            data.b = 1 if value else 0
        else:
            setattr(data, MEMBER[ft], value)
        rc = lib.ct_disp_write_entry_field(t.input, self._ptr, f.accessor, data)
        del keep
        if rc != 0:
            raise t._raise(PluginError, "write_entry_field", field=f.name)

    set = __setitem__

    def _end(self, how: str) -> None:
        self._tid = 0
        self._how = how

    def release(self) -> None:
        """Release the entry (once; later calls do nothing)."""
        if self._tid == 0:
            return
        self._live()
        if self._acquired:
            lib.ct_disp_release_table_entry(self._table.input, self._ptr)
        self._end("released")

    def __enter__(self) -> NativeEntryHandle:
        return self

    def __exit__(self, t: object, v: object, tb: object) -> None:
        self.release()

    def __repr__(self) -> str:
        mode = "write" if self.write else "read"
        state = "" if self.alive else f" ({self._how})"
        return f"<{mode} handle on native {self._table.name}[{self._key!r}]{state}>"


class NativeDetachedEntry(NativeEntryHandle):
    """A new entry of a native table, not yet added: `add_entry` it or `destroy()` it."""

    __slots__ = ()

    def release(self) -> None:
        """Give the entry up: a detached entry never added is destroyed (like `destroy()`).

        A callback scope's clean-up ends the detached entries taken in it this way.
        """
        self.destroy()

    def __exit__(self, t: object, v: object, tb: object) -> None:
        return None

    def destroy(self) -> None:
        """Discard the entry (once)."""
        if self._tid == 0:
            return
        self._live()
        lib.ct_disp_destroy_table_entry(self._table.input, self._ptr)
        self._end("destroyed")


def _dead_stub(kind: str) -> Any:
    """A vtable slot of a retired table: fails with the slot's error value, touching nothing."""
    errors = {
        "ct_list_table_fields_fn": ffi.NULL,
        "ct_get_table_field_fn": ffi.NULL,
        "ct_add_table_field_fn": ffi.NULL,
        "ct_get_table_name_fn": ffi.NULL,
        "ct_get_table_size_fn": 0xFFFF_FFFF_FFFF_FFFF,
        "ct_get_table_entry_fn": ffi.NULL,
        "ct_read_entry_field_fn": 1,
        "ct_release_table_entry_fn": None,
        "ct_iterate_entries_fn": 0,
        "ct_clear_table_fn": 1,
        "ct_erase_table_entry_fn": 1,
        "ct_create_table_entry_fn": ffi.NULL,
        "ct_destroy_table_entry_fn": None,
        "ct_add_table_entry_fn": ffi.NULL,
        "ct_write_entry_field_fn": 1,
    }
    err = errors[kind]

    def stub(*args: Any) -> Any:
        return err

    return ffi.callback(kind, stub) if err is None else ffi.callback(kind, stub, error=err)


#: (vtable member of the box, slot, slot type) for every slot a box dispatches through.
_BOX_SLOTS: Final = (
    ("fields_ext", "list_table_fields", "ct_list_table_fields_fn"),
    ("fields_ext", "get_table_field", "ct_get_table_field_fn"),
    ("fields_ext", "add_table_field", "ct_add_table_field_fn"),
    ("reader_ext", "get_table_name", "ct_get_table_name_fn"),
    ("reader_ext", "get_table_size", "ct_get_table_size_fn"),
    ("reader_ext", "get_table_entry", "ct_get_table_entry_fn"),
    ("reader_ext", "read_entry_field", "ct_read_entry_field_fn"),
    ("reader_ext", "release_table_entry", "ct_release_table_entry_fn"),
    ("reader_ext", "iterate_entries", "ct_iterate_entries_fn"),
    ("writer_ext", "clear_table", "ct_clear_table_fn"),
    ("writer_ext", "erase_table_entry", "ct_erase_table_entry_fn"),
    ("writer_ext", "create_table_entry", "ct_create_table_entry_fn"),
    ("writer_ext", "destroy_table_entry", "ct_destroy_table_entry_fn"),
    ("writer_ext", "add_table_entry", "ct_add_table_entry_fn"),
    ("writer_ext", "write_entry_field", "ct_write_entry_field_fn"),
)
_DEAD_STUBS: dict[str, Any] = {}  # slot type -> callback, made once and kept for the process


def _disarm_box(box: Any) -> None:
    for member, slot, kind in _BOX_SLOTS:
        stub = _DEAD_STUBS.get(kind)
        if stub is None:
            stub = _DEAD_STUBS[kind] = _dead_stub(kind)
        setattr(getattr(box, member), slot, stub)
    box.plugin = ffi.NULL
    box.get_last_error = ffi.NULL


def _nested_view(parent: NativeTable, field: NativeField, ptr: Any) -> NativeTable:
    """A view of the nested table a TABLE field read returned (the plugin's own handle)."""
    inp = ffi.cast("ss_plugin_table_input*", ptr)
    if ptr == ffi.NULL:
        raise native_error(PluginError, f"table field '{field.name}' read as a null table")
    name = c_string(inp.name, "table name") if inp.name != ffi.NULL else field.name
    try:
        kt = StateType(inp.key_type)
    except ValueError:
        raise native_error(PluginError, unknown_type(int(inp.key_type))) from None
    nested = NativeTable(
        inp,
        name,
        kt,
        plugin=parent.plugin,
        family=parent.family.nested_family(field.name),
        errors=parent._nested_errors,
        nested_errors=parent._nested_errors,
        owner_thread=parent.owner_thread,
    )
    nested._life = parent._life  # retired with the table it lives in
    return nested


# -- add_table: a plugin registers its table ------------------------------------------------------


def import_plugin_table(session: PluginSession, inp: Any) -> NativeTable:
    """Validate and copy a plugin's `ss_plugin_table_input` (libsinsp's checks).

    The caller registers the result in the table registry, under the plugin's name.
    """
    from .._abi import lib as _lib

    prefix = ADD_TABLE_PREFIX.format(plugin=session.name)
    box = ffi.new("ct_table_box*")
    holder: list[NativeTable] = []
    cookie = ffi.new_handle(holder)
    code = _lib.ct_import_table_input(
        box, inp, session.api_minor, session.get_last_error_fn, ffi.NULL, cookie
    )
    if code == _lib.CT_IMPORT_BAD_KEY_TYPE:
        raise PluginError(unknown_type(int(inp.key_type)))
    if code != _lib.CT_IMPORT_OK:
        raise PluginError(prefix + ffi.string(_lib.ct_import_error_text(code)).decode())
    name = c_string(inp.name, "table name")
    cname = ffi.new("char[]", name.encode())
    box.input.name = cname  # our copy: the plugin may free its own string
    nt = NativeTable(
        ffi.addressof(box[0], "input"),
        name,
        StateType(int(inp.key_type)),
        plugin=session.name,
        box=box,
        keep=(cname, cookie, holder),
    )
    holder.append(nt)
    return nt


@extern("ct_py_native_table_error", onerror=ignore_error)
def _native_table_error(cookie: Any, msg: Any) -> None:
    if cookie == ffi.NULL:  # a dispatcher's own error (a NULL table handle)
        set_error(c_string(msg, "error text"))
        return
    holder: list[NativeTable] = ffi.from_handle(cookie)
    nt = holder[0] if holder else None
    if nt is not None and nt.gone is not None:
        set_error(f"table '{nt.name}' of plugin '{nt.plugin}' is gone: {nt.gone}")
    elif msg == ffi.NULL:  # the exporter is still in its plugin_init: its error is unreachable
        what = f"table '{nt.name}' of plugin '{nt.plugin}'" if nt is not None else "a table"
        set_error(f"error in {what}")
    else:
        set_error(c_string(msg, "plugin error"))


@extern("ct_py_iterator", error=0)
def _iterator(state: Any, e: Any) -> int:
    fn: Callable[[Any], bool] = ffi.from_handle(state)
    return 1 if fn(e) else 0
