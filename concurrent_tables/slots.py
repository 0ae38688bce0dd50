"""One entry slot: read it, check a write to it, store into it. The only copy of these rules.

An entry is a list of values indexed by `Field.index` (fields.py): static fields first, dynamic
fields after them; a dynamic slot past the end of the list reads as the field's default. Every
handle (the owner's, the importer's, and the C bridge's native entry handles) goes through
these functions; Python handles inline only the single list operation of the common case and
come here for everything else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .errors import InvalidValueError, ReadOnlyFieldError
from .fields import Field, FieldRegistry
from .types import value_problem

if TYPE_CHECKING:
    from .table import Table

#: libsinsp's refusal of a write to a nested-table field (owner and API alike).
TABLE_WRITE: Final = "writing to table fields is currently not supported"


def read(table: Table[Any, Any], values: list[Any], field: Field) -> Any:
    """The value in `field`'s slot: its default past the end, a nested table made on first use."""
    try:
        v = values[field.index]
    except IndexError:  # a dynamic field this entry never stored
        return field.default
    if v is None and field.nested is not None:
        return table.nested_table(values, field)
    return v


def check_writable(table: str, field: Field, api: bool) -> None:
    """Refuse a write to a nested-table field, and to a read-only field through the table API.

    libsinsp's order: table fields first, then read-only static fields. The owner may write its
    own read-only fields (`api=False`).
    """
    if field.nested is not None:
        raise ReadOnlyFieldError(table, field.name, TABLE_WRITE)
    if api and field.read_only:
        raise ReadOnlyFieldError(table, field.name)


def check_value(table: str, field: Field, value: Any) -> None:
    """Refuse a value that does not fit `field`'s type (private fields take anything)."""
    if field.private:
        return
    assert field.type is not None
    why = value_problem(field.type, value)
    if why is not None:
        raise InvalidValueError(table, field.name, value, field.type.type_name, why)


def store(registry: FieldRegistry, values: list[Any], field: Field, value: Any) -> None:
    """Store an already checked `value` in `field`'s slot, growing the list for a dynamic field."""
    i = field.index
    if i >= len(values):
        values.extend(registry.dynamic_defaults(len(values), i))
    values[i] = value
