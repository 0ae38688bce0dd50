/*
 * ct_core_api.h - the C API the table core (concurrent_tables._core, ct_core.c) exports to the C
 * bridge (concurrent_tables._abi, ct_bridge.c) through the capsule `_core._C_API`.
 *
 * The bridge hands native plugins ids, never pointers to Python objects: table handles, entry
 * handles (pins) and field accessors. The core keeps its own map of the ids Python registered
 * (`_core._native_ref`, `_native_pin`, `_native_accessor`), so that a native read_entry_field or
 * write_entry_field on a Python-owned table can be served in C, under the GIL, without a Python
 * frame.
 *
 * `read_field` and `write_field` are called WITHOUT the GIL (a plugin's call); they take the GIL
 * themselves, once, if the calling thread is known to Python. They never wait and never raise:
 * they either serve the call (CT_NATIVE_DONE) or decline (CT_NATIVE_SLOW: unknown or stale ids,
 * a foreign pin or accessor, an entry another thread holds or waits for, a confined table used
 * from another thread, a session without the grant, a probe or tracer set, a value that needs
 * Python...), and the caller then takes the full path (the Python callback), which waits, times
 * out or fails with its error text. Every id is looked up in the core's map: a stale or garbage
 * id declines, it is never dereferenced.
 */
#ifndef CT_CORE_API_H
#define CT_CORE_API_H

#include <stdint.h>

#define CT_CORE_API_CAPSULE "concurrent_tables._core._C_API"
#define CT_CORE_API_VERSION 1

enum { CT_NATIVE_SLOW = 0, CT_NATIVE_DONE = 1 };

/* A value read for the bridge: `type` is the field's state type (the ABI's ss_plugin_state_type
 * codes: 1..4 signed, 5..8 unsigned integers, 9 string, 25 bool); the matching member is set. */
typedef struct {
    int type;
    union {
        int64_t i;     /* INT8..INT64 */
        uint64_t u;    /* UINT8..UINT64 */
        const char *s; /* STRING: UTF-8, valid until the next read of this field through this
                          entry handle, or its release */
        uint32_t b;    /* BOOL: 0 or 1 */
    } v;
} ct_native_value;

typedef struct {
    int version; /* CT_CORE_API_VERSION */
    /* Serve read_entry_field(table id, entry id, accessor id) in C, or decline (see above). */
    int (*read_field)(uint64_t table, uint64_t entry, uint64_t field, ct_native_value *out);
    /* Serve write_entry_field of an integer or bool field, or decline. `in` points at the
     * ABI's ss_plugin_state_data (read through the member of the field's type: every member
     * starts at its first byte). */
    int (*write_field)(uint64_t table, uint64_t entry, uint64_t field, const void *in);
} ct_core_api;

#endif /* CT_CORE_API_H */
