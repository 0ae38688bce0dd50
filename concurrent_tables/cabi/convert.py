"""Keys and values between Python and the ABI's untagged `ss_plugin_state_data` union.

The union is read and written through the member of the key's or field's own state type:
INTn -> sN, UINTn -> uN, STRING -> str, BOOL -> b, TABLE -> table. Integers read from their own
member are always in range; strings cross as UTF-8, NUL-terminated; a NULL string is "".
String values and keys may hold any bytes (libsinsp stores any): Python sees them decoded with
`surrogateescape`, and writing that `str` back gives the same bytes (`value_bytes`).
"""

from __future__ import annotations

from typing import Any, Final

from .._abi import ffi
from ..errors import ConversionError
from ..types import StateType

#: The union member of each state type.
MEMBER: Final[dict[StateType, str]] = {
    StateType.INT8: "s8",
    StateType.INT16: "s16",
    StateType.INT32: "s32",
    StateType.INT64: "s64",
    StateType.UINT8: "u8",
    StateType.UINT16: "u16",
    StateType.UINT32: "u32",
    StateType.UINT64: "u64",
    StateType.STRING: "str",
    StateType.BOOL: "b",
    StateType.TABLE: "table",
}

NULL: Final = ffi.NULL


def c_string(p: Any, what: str) -> str:
    """The Python text of a C string (NULL -> "")."""
    if p == NULL:
        return ""
    raw = ffi.string(p)
    try:
        return str(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConversionError(f"{what} is not valid UTF-8: {raw!r} ({exc.reason})") from None


def value_string(p: Any) -> str:
    """A string value or key from C: any bytes, decoded with surrogateescape (NULL -> "")."""
    if p == NULL:
        return ""
    return str(ffi.string(p).decode("utf-8", "surrogateescape"))


def value_bytes(v: str) -> bytes:
    """The C bytes of a string value or key (inverse of `value_string`)."""
    return v.encode("utf-8", "surrogateescape")


def decode(data: Any, t: StateType, what: str) -> Any:
    """The Python value in union `data` (a pointer), read as type `t`."""
    if data == NULL:
        raise ConversionError(f"{what} is null")
    if t is StateType.STRING:
        return value_string(data.str)
    if t is StateType.BOOL:
        return data.b != 0
    return getattr(data, MEMBER[t])


def encode(out: Any, t: StateType, value: Any) -> None:
    """Store an integer or bool `value` of type `t` into union `out` (strings: see callers)."""
    if t is StateType.BOOL:
        out.b = 1 if value else 0
    else:
        setattr(out, MEMBER[t], value)
