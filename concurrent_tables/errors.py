"""The exception hierarchy: one base class, one subclass per kind of misuse.

Every message names the table, field, key or value involved. Where libsinsp (Falco's host) has a
message for the same situation, ours says the same thing, so a native plugin sees familiar text.
Every operation that raises leaves the table exactly as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .roles import ThreadRole


class TablesError(Exception):
    """Base class of every error raised by concurrent_tables."""


# -- definitions: schemas, state types, tables, typed imports ------------------------------------


class SchemaError(TablesError, TypeError):
    """An entry schema class that does not declare valid fields (raised at class creation)."""


class StateTypeError(TablesError, TypeError):
    """A value that names no state type (an annotation, a StateType, or its ABI code)."""

    def __init__(self, value: Any) -> None:
        super().__init__(f"can't convert plugin state type to typeinfo: {value!r}")
        self.value = value


class TableDefinitionError(TablesError, ValueError):
    """A `Table(...)` whose name, key type or schema is invalid."""

    def __init__(self, table: Any, message: str) -> None:
        super().__init__(f"table {table!r}: {message}")
        self.table = table


class ImportDeclarationError(TablesError, TypeError):
    """An import class whose members are not valid declarations."""


class ConversionError(TablesError, ValueError):
    """A key or value from C that cannot become a Python value (NULL pointer, bad UTF-8)."""


# -- registry -------------------------------------------------------------------------------------


class TableNotFoundError(TablesError, LookupError):
    """No table is registered under this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"table not found: '{name}'")
        self.name = name


class TableExistsError(TablesError):
    """A table is already registered under this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"table added to registry multiple times: {name}")
        self.name = name


class KeyTypeMismatchError(TablesError, TypeError):
    """A table was imported with a key type other than its own."""

    def __init__(self, table: str, requested: str, actual: str) -> None:
        super().__init__(
            "table in registry accessed with wrong key type: "
            f"table='{table}', requested='{requested}', actual='{actual}'"
        )
        self.table, self.requested, self.actual = table, requested, actual


class TableGoneError(TablesError):
    """A table used after the plugin that exported it was destroyed or failed its init."""

    def __init__(self, table: str, plugin: str, why: str) -> None:
        super().__init__(f"table '{table}' of plugin '{plugin}' is gone: {why}")
        self.table, self.plugin = table, plugin


# -- keys, values ---------------------------------------------------------------------------------


class InvalidKeyError(TablesError, TypeError):
    """A key of the wrong Python type or out of the key type's range."""

    def __init__(self, table: str, key: Any, key_type: str, why: str) -> None:
        super().__init__(f"invalid key {key!r} for table '{table}' (key type {key_type}): {why}")
        self.table, self.key, self.key_type = table, key, key_type


class InvalidValueError(TablesError, ValueError):
    """A value that the field's type cannot hold: wrong type, out of range, NUL in a string."""

    def __init__(self, table: str, field: str, value: Any, field_type: str, why: str) -> None:
        super().__init__(
            f"invalid value {value!r} for field '{field}' ({field_type}) of table '{table}': {why}"
        )
        self.table, self.field, self.value, self.field_type = table, field, value, field_type


# -- fields ---------------------------------------------------------------------------------------


class FieldError(TablesError):
    """Base class of field resolution and definition errors."""


class FieldNotFoundError(FieldError, LookupError):
    """No field of this name exists in the table."""

    def __init__(self, table: str, field: str) -> None:
        super().__init__(f"undefined field '{field}' in table '{table}'")
        self.table, self.field = table, field


class FieldTypeMismatchError(FieldError, TypeError):
    """A field exists under this name, with another type."""

    def __init__(
        self, table: str, field: str, requested: str, actual: str, *, static: bool = True
    ) -> None:
        kind = "static" if static else "dynamic"
        super().__init__(
            f"incompatible data types for {kind} field: {field} "
            f"(table '{table}', requested {requested}, actual {actual})"
        )
        self.table, self.field, self.requested, self.actual = table, field, requested, actual


class FieldDefinitionError(FieldError):
    """A dynamic field that cannot be added (static name, other type, table type, fixed table)."""

    def __init__(self, table: str, field: str, message: str) -> None:
        super().__init__(f"{message} (table '{table}')")
        self.table, self.field = table, field


class ReadOnlyFieldError(FieldError):
    """A write through the table API to a read-only or table-typed field."""

    def __init__(self, table: str, field: str, message: str | None = None) -> None:
        text = message or f"attempt to write to read-only static struct field: {field}"
        super().__init__(f"{text} (table '{table}')")
        self.table, self.field = table, field


class FieldArgumentError(FieldError, TypeError):
    """Something other than a `Field` or a field name used to name a field."""

    def __init__(self, table: str, value: Any) -> None:
        super().__init__(
            f"table '{table}': expected a Field or a field name, got {type(value).__name__} "
            f"{value!r}"
        )
        self.table, self.value = table, value


class ForeignFieldError(FieldError):
    """A field used on an entry of a table it was not resolved on."""

    def __init__(self, field: str, field_table: str, entry_table: str) -> None:
        super().__init__(
            f"field '{field}' comes from table '{field_table}', not from table '{entry_table}'"
        )
        self.field, self.field_table, self.entry_table = field, field_table, entry_table


# -- entries --------------------------------------------------------------------------------------


class EntryNotFoundError(TablesError, LookupError):
    """No entry at this key."""

    def __init__(self, table: str, key: Any) -> None:
        super().__init__(f"get_entry found no element at given key: {key!r} (table '{table}')")
        self.table, self.key = table, key


class EntryExistsError(TablesError):
    """add_entry without replace=True at a key that already holds an entry."""

    def __init__(self, table: str, key: Any) -> None:
        super().__init__(
            f"an entry already exists at key {key!r} in table '{table}' "
            "(pass replace=True to replace it)"
        )
        self.table, self.key = table, key


class ForeignEntryError(TablesError):
    """An entry passed to a table that did not create it, or already attached or destroyed."""

    def __init__(self, table: str, message: str) -> None:
        super().__init__(f"{message} (table '{table}')")
        self.table = table


# -- handles and locks ----------------------------------------------------------------------------


class HandleError(TablesError):
    """Misuse of an entry handle."""


class StaleHandleError(HandleError):
    """A handle used after its scope ended (released, attached or destroyed)."""

    def __init__(self, table: str, key: Any, how: str = "released") -> None:
        super().__init__(f"stale handle: entry {key!r} of table '{table}' was already {how}")
        self.table, self.key = table, key


class ReadOnlyHandleError(HandleError):
    """A write through a read handle."""

    def __init__(self, table: str, key: Any, field: str) -> None:
        super().__init__(
            f"cannot write field '{field}' of entry {key!r} in table '{table}' through a read "
            "handle; acquire it with write=True"
        )
        self.table, self.key, self.field = table, key, field


class ConcurrencyError(TablesError):
    """Base class of errors raised instead of a deadlock or a race."""


class WrongThreadError(ConcurrencyError):
    """A thread-confined object (handle, imported or single-threaded table) used elsewhere."""

    def __init__(self, what: str, owner: int | None, caller: int) -> None:
        super().__init__(
            f"{what} was created in thread id {owner} and used in thread id {caller}; "
            "it can only be used in the thread that created it"
        )
        self.owner, self.caller = owner, caller


class ReentrancyError(ConcurrencyError):
    """A lock request that would deadlock this thread against itself (re-entry, upgrade, erase)."""

    def __init__(self, table: str, key: Any, message: str) -> None:
        super().__init__(f"{message}: entry {key!r} of table '{table}'")
        self.table, self.key = table, key


class BorrowError(ConcurrencyError):
    """A conflicting borrow on a single-threaded table, raised instead of blocking."""

    def __init__(self, table: str, key: Any, message: str) -> None:
        super().__init__(f"{message}: entry {key!r} of table '{table}'")
        self.table, self.key = table, key


class InvalidTimeoutError(ConcurrencyError, ValueError):
    """A `timeout=` that is not None, TABLE_TIMEOUT or a non-negative number of seconds."""

    def __init__(self, table: str, timeout: Any) -> None:
        super().__init__(
            f"table '{table}': invalid timeout {timeout!r}: use seconds >= 0 (math.inf or None "
            "to wait for ever)"
        )
        self.table, self.timeout = table, timeout


class LockTimeoutError(ConcurrencyError, TimeoutError):
    """An entry lock was not acquired within the timeout."""

    def __init__(self, table: str, key: Any, mode: str, timeout: float) -> None:
        super().__init__(
            f"timed out after {timeout:g}s acquiring a {mode} handle on entry {key!r} "
            f"of table '{table}'"
        )
        self.table, self.key, self.mode, self.timeout = table, key, mode, timeout


# -- access control -------------------------------------------------------------------------------


class AccessDeniedError(TablesError, PermissionError):
    """An operation outside what the plugin's capability and phase allow, or a dead token."""


class PluginError(TablesError):
    """A plugin failed (init, parse, a background thread) or a native plugin reported an error."""


class TaskUsageError(PluginError, ValueError):
    """A background task misused: a negative interval, or started twice."""

    def __init__(self, task: str, message: str) -> None:
        super().__init__(f"background task '{task}': {message}")
        self.task = task


class BackgroundError(PluginError):
    """Errors collected from background work (routines, async tasks), reported at stop."""

    def __init__(self, what: str, errors: list[BaseException]) -> None:
        lines = "; ".join(f"{type(e).__name__}: {e}" for e in errors)
        super().__init__(f"{what} failed with {len(errors)} error(s): {lines}")
        self.errors = list(errors)


class ThreadAccessDeniedError(AccessDeniedError, WrongThreadError):
    """A thread-confined object used from a plugin's routine or async thread."""

    def __init__(self, what: str, owner: int | None, caller: int, role: ThreadRole) -> None:
        # WrongThreadError's own __init__ builds another message: set its fields by hand.
        Exception.__init__(
            self,
            f"access denied: {what} used from {role} (thread id {caller}); it belongs to "
            f"thread id {owner}. Rule: {role.rule}",
        )
        self.owner, self.caller, self.role = owner, caller, role
