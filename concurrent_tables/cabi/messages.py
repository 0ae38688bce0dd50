"""The owner-error texts a native plugin sees, in libsinsp's wording.

Our exceptions already use libsinsp's phrases, then add where it happened in parentheses:
`attempt to write to read-only static struct field: cwd (table 'threads')`. A native plugin gets
the phrase alone, exactly as libsinsp would word it (docs/c-abi.md, "Errors"), because plugins
and their tests compare these texts. Errors libsinsp has no phrase for keep our full message.
"""

from __future__ import annotations

from ..errors import (
    EntryNotFoundError,
    FieldDefinitionError,
    FieldTypeMismatchError,
    ForeignEntryError,
    ReadOnlyFieldError,
    StateTypeError,
)
from ..types import StateType

#: libsinsp's texts for situations the core has no exception for.
NO_ENTRY = "get_entry found no element at given key"
ERASE_MISSING = "table entry not found"
DESTROY_FOREIGN = "destroy_table_entry called on entry not created by create_table_entry"
ADD_FOREIGN = "add_entry called on entry not created by create_table_entry"
FIXED_FIELDS = "can't add dynamic fields to stl_container_table_adapter"
ADD_TABLE_PREFIX = "failure in adding state table defined by plugin '{plugin}': "


def unknown_type(value: int) -> str:
    return f"can't convert plugin state type to typeinfo: {value}"


def known_type(value: int) -> StateType:
    """The StateType of an ABI code; StateTypeError (libsinsp's text) for unknown codes."""
    try:
        return StateType(value)
    except ValueError:
        raise StateTypeError(value) from None


_SUFFIXED = (FieldTypeMismatchError, FieldDefinitionError, ReadOnlyFieldError, ForeignEntryError)


def owner_text(exc: BaseException) -> str:
    """The text a native plugin reads through get_owner_last_error for `exc`."""
    if isinstance(exc, EntryNotFoundError):
        return NO_ENTRY
    text = str(exc)
    if isinstance(exc, _SUFFIXED):
        cut = text.rfind(" (table '")
        if cut > 0:
            return text[:cut]
    if not text:
        return type(exc).__name__
    return text
