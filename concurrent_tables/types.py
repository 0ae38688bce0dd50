"""State types: the ABI's type codes, Python annotations for them, and value validation."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any, Final

from .errors import StateTypeError


class StateType(IntEnum):
    """The ABI's `ss_plugin_state_type` codes (the gaps match libs' internal type ids)."""

    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    STRING = 9
    TABLE = 10
    BOOL = 25

    @property
    def type_name(self) -> str:
        """The name libsinsp uses in messages: int8 … uint64, string, table, bool."""
        return _NAMES[self]

    @property
    def is_integer(self) -> bool:
        return self in INT_RANGES


_NAMES: Final = {
    StateType.INT8: "int8",
    StateType.INT16: "int16",
    StateType.INT32: "int32",
    StateType.INT64: "int64",
    StateType.UINT8: "uint8",
    StateType.UINT16: "uint16",
    StateType.UINT32: "uint32",
    StateType.UINT64: "uint64",
    StateType.STRING: "string",
    StateType.TABLE: "table",
    StateType.BOOL: "bool",
}

INT_RANGES: Final[dict[StateType, tuple[int, int]]] = {
    StateType.INT8: (-(2**7), 2**7 - 1),
    StateType.INT16: (-(2**15), 2**15 - 1),
    StateType.INT32: (-(2**31), 2**31 - 1),
    StateType.INT64: (-(2**63), 2**63 - 1),
    StateType.UINT8: (0, 2**8 - 1),
    StateType.UINT16: (0, 2**16 - 1),
    StateType.UINT32: (0, 2**32 - 1),
    StateType.UINT64: (0, 2**64 - 1),
}

#: Types a field may have (TABLE only as a static nested-table field).
FIELD_TYPES: Final = frozenset(StateType)
#: Types a key may have: every scalar, never TABLE.
KEY_TYPES: Final = frozenset(StateType) - {StateType.TABLE}

# Annotations for entry schemas: `pid: I64`, `comm: String`.
I8 = Annotated[int, StateType.INT8]
I16 = Annotated[int, StateType.INT16]
I32 = Annotated[int, StateType.INT32]
I64 = Annotated[int, StateType.INT64]
U8 = Annotated[int, StateType.UINT8]
U16 = Annotated[int, StateType.UINT16]
U32 = Annotated[int, StateType.UINT32]
U64 = Annotated[int, StateType.UINT64]
Bool = Annotated[bool, StateType.BOOL]
String = Annotated[str, StateType.STRING]


def default_of(t: StateType) -> Any:
    """The value a never-written field reads as: 0, False or ""."""
    if t is StateType.STRING:
        return ""
    if t is StateType.BOOL:
        return False
    return 0


def value_problem(t: StateType, value: Any) -> str | None:
    """Why `value` cannot be stored in a field or key of type `t`, or None if it can."""
    if t is StateType.STRING:
        if type(value) is not str and not isinstance(value, str):
            return f"expected str, got {type(value).__name__}"
        if "\0" in value:
            return "string contains a NUL byte"
        try:
            # surrogateescape: bytes that are not UTF-8 read from C come back as they were.
            value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            return f"string is not encodable as UTF-8 ({exc.reason})"
        return None
    if t is StateType.BOOL:
        return None if isinstance(value, bool) else f"expected bool, got {type(value).__name__}"
    bounds = INT_RANGES.get(t)
    if bounds is None:
        return f"type {t.type_name} holds no scalar value"
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected int, got {type(value).__name__}"
    lo, hi = bounds
    if not lo <= value <= hi:
        return f"out of range for {t.type_name} [{lo}, {hi}]"
    return None


def coerce_state_type(t: Any) -> StateType:
    """Accept a StateType, its int code, or one of the I8 … String annotations."""
    if isinstance(t, StateType):
        return t
    meta = getattr(t, "__metadata__", None)
    if meta:
        for m in meta:
            if isinstance(m, StateType):
                return m
    if isinstance(t, int) and not isinstance(t, bool):
        try:
            return StateType(t)
        except ValueError:
            pass
    raise StateTypeError(t)
