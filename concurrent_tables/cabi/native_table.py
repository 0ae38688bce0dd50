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
- A TABLE field reads as a `NativeTable` view of the nested table. Its fields are resolved once
  per parent field: accessors work on every nested table of that field, as the ABI requires.

Lifetimes. A native importer holds raw pointers into the exporter: the table handle (our import
box), nested-table handles, entries, accessors. So that none of them reaches freed memory once
the exporter is destroyed, every call through a box enters the table's *life* (ct_bridge.c):
`retire` marks it gone and waits for the calls in flight, and every later call fails with the
slot's error value, the owner error naming the gone table, without touching the exporter.
Nested tables are handed out as boxes of ours too (`NestedBoxes`), never as the exporter's own
pointers; retired tables and their boxes are kept for the life of the process.
"""

from __future__ import annotations

import collections
import logging
import threading
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
log = logging.getLogger(__name__)

#: How long `retire` waits for native calls in flight into the exporter (milliseconds).
RETIRE_WAIT_MS: Final = 5000
#: Retired tables: native importers may still hold pointers into their boxes (kept for ever).
_RETIRED: list[NativeTable] = []


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
        #: The boxes of the tables nested in this one (a top table registered by a plugin).
        self._nested_boxes: NestedBoxes | None = None
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

        Python calls fail before reaching C. Native importers keep the box's handle, nested
        handles, entries and accessors: the box's life is marked gone (the calls in flight are
        waited for, without the GIL), so every later call through any of them fails (NULL,
        FAILURE, -1) without touching the plugin, the error text naming the table. The boxes are
        kept for the life of the process.
        """
        if self._life:
            return
        self._life.append(why)
        box = self._box
        if box is not None and box.life != ffi.NULL:
            left = lib.ct_life_retire(box.life, RETIRE_WAIT_MS)
            if left:
                log.warning(
                    "table '%s' of plugin '%s' retired with %d native call(s) still running in it",
                    self.name,
                    self.plugin,
                    left,
                )
            _RETIRED.append(self)

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


def _nested_view(parent: NativeTable, field: NativeField, ptr: Any) -> NativeTable:
    """A view of the nested table a TABLE field read returned (through a box: one of ours)."""
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
    life = ffi.new("ct_table_life*")
    nested = NestedBoxes(box, life, cookie, session.api_minor)
    box.life = life
    box.family = nested.root.c
    nt = NativeTable(
        ffi.addressof(box[0], "input"),
        name,
        StateType(int(inp.key_type)),
        plugin=session.name,
        box=box,
        keep=(cname, cookie, holder, life, nested),
    )
    nt._nested_boxes = nested
    holder.append(nt)
    return nt


class _CFamily:
    """The C side of one kind of table (ct_table_family): which accessors are TABLE fields."""

    __slots__ = ("c", "nested")

    def __init__(self) -> None:
        self.c = ffi.new("ct_table_family*")
        self.nested: dict[int, _CFamily] = {}  # TABLE accessor -> the family nested under it


class NestedBoxes:
    """The boxes that stand for the nested tables of one exported table, at every depth.

    A TABLE field read through a box returns the exporter's nested table; the bridge asks
    `wrap` for a box of ours instead: the same box for the same nested table (keyed by the
    exporter's pointer), sharing the top table's life, so it fails cleanly once the exporter is
    gone. At most `LIMIT` boxes are kept mapped; older ones wait in quarantine (`QUARANTINE`
    of them) before reuse, so a handle kept long after its callback errs or reads another
    nested table of the same exporter, never freed memory.
    """

    LIMIT: Final = 4096
    QUARANTINE: Final = 1024

    def __init__(self, box: Any, life: Any, cookie: Any, api_minor: int) -> None:
        self.box = box  # the top table's box: the exporter's error function and state
        self.life = life
        self.cookie = cookie
        self.api_minor = api_minor
        self.root = _CFamily()
        self._families: dict[int, _CFamily] = {_address(self.root.c): self.root}
        self._boxes: dict[int, list[Any]] = {}  # exporter's nested pointer -> [box, name copy]
        self._quarantine: collections.deque[list[Any]] = collections.deque()
        self._lock = threading.Lock()  # plugin threads may read nested tables concurrently

    def __len__(self) -> int:
        return len(self._boxes)

    def wrap(self, parent_box: int, field: int, nested: int) -> Any:
        """The `ss_plugin_table_input*` of our box for `nested` (read through `parent_box`)."""
        parent = ffi.cast("ct_table_box*", parent_box)
        src = ffi.cast("ss_plugin_table_input*", nested)
        top = self.box
        with self._lock:
            pfam = self._families.get(_address(parent.family))
            if pfam is None:
                raise PluginError("nested table read through an unknown table box")
            fam = pfam.nested.get(field)
            if fam is None:
                fam = pfam.nested[field] = _CFamily()
                self._families[_address(fam.c)] = fam
            slot = self._slot(nested)
            box = slot[0]
            code = lib.ct_refill_box(
                box, src, self.api_minor, top.get_last_error, top.plugin, self.cookie
            )
            if code != lib.CT_IMPORT_OK:
                del self._boxes[nested]
                self._quarantine.append(slot)
                p = lib.ct_import_error_text(code)
                text = ffi.string(p).decode() if p != ffi.NULL else unknown_type(int(src.key_type))
                raise PluginError(f"a TABLE field read returned an invalid nested table: {text}")
            name = c_string(src.name, "table name").encode() if src.name != ffi.NULL else b""
            if slot[1] is None or ffi.string(slot[1]) != name:
                slot[1] = ffi.new("char[]", name)
                box.input.name = slot[1]
            box.life = self.life
            box.family = fam.c
            return ffi.addressof(box[0], "input")

    def _slot(self, nested: int) -> list[Any]:
        slot = self._boxes.get(nested)
        if slot is not None:
            return slot
        if len(self._boxes) >= self.LIMIT:  # the oldest mapping waits in quarantine
            self._quarantine.append(self._boxes.pop(next(iter(self._boxes))))
        if len(self._quarantine) > self.QUARANTINE:
            slot = self._quarantine.popleft()
        else:
            slot = [ffi.new("ct_table_box*"), None]
        self._boxes[nested] = slot
        return slot


def _address(p: Any) -> int:
    return int(ffi.cast("uintptr_t", p))


@extern("ct_py_native_table_error", onerror=ignore_error)
def _native_table_error(cookie: Any, msg: Any) -> None:
    if cookie == ffi.NULL:  # a dispatcher's own error (a NULL table handle)
        set_error(c_string(msg, "error text"))
        return
    holder: list[NativeTable] = ffi.from_handle(cookie)
    nt = holder[0] if holder else None
    if msg == ffi.NULL:  # the exporter is still in its plugin_init: its error is unreachable
        what = f"table '{nt.name}' of plugin '{nt.plugin}'" if nt is not None else "a table"
        set_error(f"error in {what}")
    else:
        set_error(c_string(msg, "plugin error"))


@extern("ct_py_native_table_gone", onerror=ignore_error)
def _native_table_gone(cookie: Any, name: Any) -> None:
    holder: list[NativeTable] = ffi.from_handle(cookie)
    nt = holder[0]
    what = c_string(name, "table name") if name != ffi.NULL else nt.name
    where = "" if what == nt.name else f" (nested in table '{nt.name}')"
    set_error(f"table '{what}'{where} of plugin '{nt.plugin}' is gone: {nt.gone}")


@extern("ct_py_native_nested", error=ffi.NULL)
def _native_nested(cookie: Any, box: int, field: int, nested: int) -> Any:
    holder: list[NativeTable] = ffi.from_handle(cookie)
    boxes = holder[0]._nested_boxes
    if boxes is None:
        raise PluginError(f"table '{holder[0].name}' hands out no nested tables")
    return boxes.wrap(box, field, nested)


@extern("ct_py_iterator", error=0)
def _iterator(state: Any, e: Any) -> int:
    fn: Callable[[Any], bool] = ffi.from_handle(state)
    return 1 if fn(e) else 0
