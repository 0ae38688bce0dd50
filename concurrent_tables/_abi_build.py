"""cffi API-mode builder for ``concurrent_tables._abi``, the C side of the table bridge.

Build: ``pip install -e .`` (setup.py lists ``cffi_modules``), or, for an in-place development
build, ``python concurrent_tables/_abi_build.py``.

* ``CDEF`` declares, for cffi, the table part of Falco's plugin API 3.12 as our own header
  ``native/ct_plugin_api.h`` defines it in C (how the bridge uses it: ``docs/c-abi.md``), plus the
  bridge's helpers from ``native/ct_bridge.c``.
* ``CDEF_PACKED`` declares the packed 26-byte ``ss_plugin_event`` (a separate ``cdef(packed=True)``;
  ``packed`` applies to every struct of that cdef, so ``ss_plugin_event_input`` gets its own).
* ``CDEF_PYTHON`` declares the ``extern "Python"`` callbacks the Python side implements with
  ``@ffi.def_extern()`` (``concurrent_tables.cabi``): the owner side of every vtable slot for
  Python-owned tables, the init-time table registry (list/get/add_table),
  ``get_owner_last_error``, ``log_fn``, an iterator callback, and the hooks of imported native
  tables (``ct_py_native_table_error``, ``ct_py_native_table_gone``, ``ct_py_native_nested``).
  Table handles, entries, field accessors and owner cookies reach these callbacks as
  ``uint64_t`` ids: C thunks in ``ct_bridge.c`` convert the pointers, so Python never
  dereferences (or ``from_handle``s) a pointer a plugin passed in (``ct_py_native_nested``
  hands the exporter's nested-table pointer back to C, which validates it as ``add_table``
  does).

The C source compiled into the module is ``native/ct_bridge.c`` (dispatchers, static vtables, input
fillers, the import validator); it includes ``native/ct_plugin_api.h``.
"""

from __future__ import annotations

from pathlib import Path

import cffi

NATIVE_DIR = Path(__file__).resolve().parent / "native"
HEADER = NATIVE_DIR / "ct_plugin_api.h"
CORE_API_HEADER = NATIVE_DIR / "ct_core_api.h"
BRIDGE_SOURCE = NATIVE_DIR / "ct_bridge.c"

CDEF = """
#define CT_PLUGIN_API_VERSION_MAJOR 3
#define CT_PLUGIN_API_VERSION_MINOR 12
#define CT_PLUGIN_API_VERSION_PATCH 0

typedef enum ss_plugin_rc {
    SS_PLUGIN_SUCCESS = 0,
    SS_PLUGIN_FAILURE = 1,
    SS_PLUGIN_TIMEOUT = -1,
    SS_PLUGIN_EOF = 2,
    SS_PLUGIN_NOT_SUPPORTED = 3
} ss_plugin_rc;

typedef enum ss_plugin_state_type {
    SS_PLUGIN_ST_INT8 = 1,
    SS_PLUGIN_ST_INT16 = 2,
    SS_PLUGIN_ST_INT32 = 3,
    SS_PLUGIN_ST_INT64 = 4,
    SS_PLUGIN_ST_UINT8 = 5,
    SS_PLUGIN_ST_UINT16 = 6,
    SS_PLUGIN_ST_UINT32 = 7,
    SS_PLUGIN_ST_UINT64 = 8,
    SS_PLUGIN_ST_STRING = 9,
    SS_PLUGIN_ST_TABLE = 10,
    SS_PLUGIN_ST_BOOL = 25
} ss_plugin_state_type;

typedef enum ss_plugin_schema_type {
    SS_PLUGIN_SCHEMA_NONE = 0,
    SS_PLUGIN_SCHEMA_JSON = 1
} ss_plugin_schema_type;

typedef enum ss_plugin_log_severity {
    SS_PLUGIN_LOG_SEV_FATAL = 1,
    SS_PLUGIN_LOG_SEV_CRITICAL = 2,
    SS_PLUGIN_LOG_SEV_ERROR = 3,
    SS_PLUGIN_LOG_SEV_WARNING = 4,
    SS_PLUGIN_LOG_SEV_NOTICE = 5,
    SS_PLUGIN_LOG_SEV_INFO = 6,
    SS_PLUGIN_LOG_SEV_DEBUG = 7,
    SS_PLUGIN_LOG_SEV_TRACE = 8
} ss_plugin_log_severity;

typedef uint32_t ss_plugin_bool;

typedef void ss_plugin_t;
typedef void ss_plugin_owner_t;
typedef void ss_plugin_table_t;
typedef void ss_plugin_table_entry_t;
typedef void ss_plugin_table_field_t;
typedef void ss_plugin_table_iterator_state_t;

typedef union ss_plugin_state_data {
    int8_t s8;
    int16_t s16;
    int32_t s32;
    int64_t s64;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    const char* str;
    ss_plugin_bool b;
    ss_plugin_table_t* table;
} ss_plugin_state_data;

typedef struct ss_plugin_table_info {
    const char* name;
    ss_plugin_state_type key_type;
} ss_plugin_table_info;

typedef struct ss_plugin_table_fieldinfo {
    const char* name;
    ss_plugin_state_type field_type;
    ss_plugin_bool read_only;
} ss_plugin_table_fieldinfo;

typedef void (*ss_plugin_log_fn_t)(ss_plugin_owner_t* o, const char* component, const char* msg,
                                   ss_plugin_log_severity sev);
typedef ss_plugin_bool (*ss_plugin_table_iterator_func_t)(ss_plugin_table_iterator_state_t* s,
                                                           ss_plugin_table_entry_t* e);

typedef const ss_plugin_table_fieldinfo* (*ct_list_table_fields_fn)(ss_plugin_table_t* t,
                                                                   uint32_t* nfields);
typedef ss_plugin_table_field_t* (*ct_get_table_field_fn)(ss_plugin_table_t* t, const char* name,
                                                          ss_plugin_state_type data_type);
typedef ss_plugin_table_field_t* (*ct_add_table_field_fn)(ss_plugin_table_t* t, const char* name,
                                                          ss_plugin_state_type data_type);
typedef const char* (*ct_get_table_name_fn)(ss_plugin_table_t* t);
typedef uint64_t (*ct_get_table_size_fn)(ss_plugin_table_t* t);
typedef ss_plugin_table_entry_t* (*ct_get_table_entry_fn)(ss_plugin_table_t* t,
                                                          const ss_plugin_state_data* key);
typedef ss_plugin_rc (*ct_read_entry_field_fn)(ss_plugin_table_t* t, ss_plugin_table_entry_t* e,
                                               const ss_plugin_table_field_t* f,
                                               ss_plugin_state_data* out);
typedef void (*ct_release_table_entry_fn)(ss_plugin_table_t* t, ss_plugin_table_entry_t* e);
typedef ss_plugin_bool (*ct_iterate_entries_fn)(ss_plugin_table_t* t,
                                                ss_plugin_table_iterator_func_t it,
                                                ss_plugin_table_iterator_state_t* s);
typedef ss_plugin_rc (*ct_clear_table_fn)(ss_plugin_table_t* t);
typedef ss_plugin_rc (*ct_erase_table_entry_fn)(ss_plugin_table_t* t,
                                                const ss_plugin_state_data* key);
typedef ss_plugin_table_entry_t* (*ct_create_table_entry_fn)(ss_plugin_table_t* t);
typedef void (*ct_destroy_table_entry_fn)(ss_plugin_table_t* t, ss_plugin_table_entry_t* e);
typedef ss_plugin_table_entry_t* (*ct_add_table_entry_fn)(ss_plugin_table_t* t,
                                                          const ss_plugin_state_data* key,
                                                          ss_plugin_table_entry_t* entry);
typedef ss_plugin_rc (*ct_write_entry_field_fn)(ss_plugin_table_t* t, ss_plugin_table_entry_t* e,
                                                const ss_plugin_table_field_t* f,
                                                const ss_plugin_state_data* in);

typedef struct ss_plugin_table_fields_vtable_ext {
    ct_list_table_fields_fn list_table_fields;
    ct_get_table_field_fn get_table_field;
    ct_add_table_field_fn add_table_field;
} ss_plugin_table_fields_vtable_ext;

typedef struct ss_plugin_table_fields_vtable {
    ct_list_table_fields_fn list_table_fields;
    ct_get_table_field_fn get_table_field;
    ct_add_table_field_fn add_table_field;
} ss_plugin_table_fields_vtable;

typedef struct ss_plugin_table_reader_vtable_ext {
    ct_get_table_name_fn get_table_name;
    ct_get_table_size_fn get_table_size;
    ct_get_table_entry_fn get_table_entry;
    ct_read_entry_field_fn read_entry_field;
    ct_release_table_entry_fn release_table_entry;
    ct_iterate_entries_fn iterate_entries;
} ss_plugin_table_reader_vtable_ext;

typedef struct ss_plugin_table_reader_vtable {
    ct_get_table_name_fn get_table_name;
    ct_get_table_size_fn get_table_size;
    ct_get_table_entry_fn get_table_entry;
    ct_read_entry_field_fn read_entry_field;
} ss_plugin_table_reader_vtable;

typedef struct ss_plugin_table_writer_vtable_ext {
    ct_clear_table_fn clear_table;
    ct_erase_table_entry_fn erase_table_entry;
    ct_create_table_entry_fn create_table_entry;
    ct_destroy_table_entry_fn destroy_table_entry;
    ct_add_table_entry_fn add_table_entry;
    ct_write_entry_field_fn write_entry_field;
} ss_plugin_table_writer_vtable_ext;

typedef struct ss_plugin_table_writer_vtable {
    ct_clear_table_fn clear_table;
    ct_erase_table_entry_fn erase_table_entry;
    ct_create_table_entry_fn create_table_entry;
    ct_destroy_table_entry_fn destroy_table_entry;
    ct_add_table_entry_fn add_table_entry;
    ct_write_entry_field_fn write_entry_field;
} ss_plugin_table_writer_vtable;

typedef struct ss_plugin_table_input {
    const char* name;
    ss_plugin_state_type key_type;
    ss_plugin_table_t* table;
    ss_plugin_table_reader_vtable reader;
    ss_plugin_table_writer_vtable writer;
    ss_plugin_table_fields_vtable fields;
    ss_plugin_table_reader_vtable_ext* reader_ext;
    ss_plugin_table_writer_vtable_ext* writer_ext;
    ss_plugin_table_fields_vtable_ext* fields_ext;
} ss_plugin_table_input;

typedef ss_plugin_table_info* (*ct_list_tables_fn)(ss_plugin_owner_t* o, uint32_t* ntables);
typedef ss_plugin_table_t* (*ct_get_table_fn)(ss_plugin_owner_t* o, const char* name,
                                              ss_plugin_state_type key_type);
typedef ss_plugin_rc (*ct_add_table_fn)(ss_plugin_owner_t* o, const ss_plugin_table_input* in);
typedef const char* (*ct_get_owner_last_error_fn)(ss_plugin_owner_t* o);

typedef struct ss_plugin_init_tables_input {
    ct_list_tables_fn list_tables;
    ct_get_table_fn get_table;
    ct_add_table_fn add_table;
    ss_plugin_table_fields_vtable fields;
    ss_plugin_table_fields_vtable_ext* fields_ext;
    ss_plugin_table_reader_vtable_ext* reader_ext;
    ss_plugin_table_writer_vtable_ext* writer_ext;
} ss_plugin_init_tables_input;

typedef struct ss_plugin_init_input {
    const char* config;
    ss_plugin_owner_t* owner;
    ct_get_owner_last_error_fn get_owner_last_error;
    const ss_plugin_init_tables_input* tables;
    ss_plugin_log_fn_t log_fn;
} ss_plugin_init_input;

typedef struct ss_plugin_event_parse_input {
    ss_plugin_owner_t* owner;
    ct_get_owner_last_error_fn get_owner_last_error;
    ss_plugin_table_reader_vtable table_reader;
    ss_plugin_table_writer_vtable table_writer;
    ss_plugin_table_reader_vtable_ext* table_reader_ext;
    ss_plugin_table_writer_vtable_ext* table_writer_ext;
} ss_plugin_event_parse_input;

typedef struct ss_plugin_extract_field ss_plugin_extract_field;
typedef struct ss_plugin_extract_value_offsets ss_plugin_extract_value_offsets;

typedef struct ss_plugin_field_extract_input {
    ss_plugin_owner_t* owner;
    ct_get_owner_last_error_fn get_owner_last_error;
    uint32_t num_fields;
    ss_plugin_extract_field* fields;
    ss_plugin_table_reader_vtable table_reader;
    ss_plugin_table_reader_vtable_ext* table_reader_ext;
    ss_plugin_extract_value_offsets* value_offsets;
} ss_plugin_field_extract_input;

typedef struct ss_plugin_routine_vtable ss_plugin_routine_vtable;

typedef struct ss_plugin_capture_listen_input {
    ss_plugin_owner_t* owner;
    ss_plugin_routine_vtable* routine;
    ss_plugin_table_reader_vtable_ext* table_reader_ext;
    ss_plugin_table_writer_vtable_ext* table_writer_ext;
    ct_get_owner_last_error_fn get_owner_last_error;
} ss_plugin_capture_listen_input;

/* ---- bridge helpers (native/ct_bridge.c) ---- */

typedef const char* (*ct_plugin_get_last_error_fn)(ss_plugin_t* s);

typedef struct ct_table_life {
    int gone;
    int inflight;
} ct_table_life;

#define CT_FAMILY_TABLE_FIELDS 32
typedef struct ct_table_family {
    ss_plugin_table_field_t* table_fields[32];
    uint32_t ntable_fields;
    int lock;
} ct_table_family;

typedef struct ct_table_box {
    ss_plugin_table_input input;
    ss_plugin_table_t* orig_table;
    ss_plugin_table_reader_vtable_ext reader_ext;
    ss_plugin_table_writer_vtable_ext writer_ext;
    ss_plugin_table_fields_vtable_ext fields_ext;
    ct_plugin_get_last_error_fn get_last_error;
    ss_plugin_t* plugin;
    void* cookie;
    ct_table_life* life;
    ct_table_family* family;
} ct_table_box;

enum {
    CT_IMPORT_OK = 0,
    CT_IMPORT_NULL_INPUT = 1,
    CT_IMPORT_BAD_KEY_TYPE = 2,
    CT_IMPORT_NULL_NAME = 3,
    CT_IMPORT_MISSING_EXT = 4,
    CT_IMPORT_BAD_READER = 5,
    CT_IMPORT_BAD_WRITER = 6,
    CT_IMPORT_BAD_FIELDS = 7
};

void ct_fill_init_tables_input(ss_plugin_init_tables_input* out);
void ct_fill_init_input(ss_plugin_init_input* out, const char* config, ss_plugin_owner_t* owner,
                        const ss_plugin_init_tables_input* tables);
void ct_fill_parse_input(ss_plugin_event_parse_input* out, ss_plugin_owner_t* owner);
void ct_fill_extract_input(ss_plugin_field_extract_input* out, ss_plugin_owner_t* owner);
void ct_fill_capture_listen_input(ss_plugin_capture_listen_input* out, ss_plugin_owner_t* owner,
                                  ss_plugin_routine_vtable* routine);
void ct_fill_py_table_input(ss_plugin_table_input* out, const char* name,
                            ss_plugin_state_type key_type, ss_plugin_table_t* table);
int ct_import_table_input(ct_table_box* box, const ss_plugin_table_input* src,
                          uint32_t plugin_minor, ct_plugin_get_last_error_fn get_last_error,
                          ss_plugin_t* plugin, void* cookie);
const char* ct_import_error_text(int code);
int ct_refill_box(ct_table_box* box, const ss_plugin_table_input* src, uint32_t plugin_minor,
                  ct_plugin_get_last_error_fn get_last_error, ss_plugin_t* plugin, void* cookie);
int ct_life_retire(ct_table_life* l, uint32_t timeout_ms);
ss_plugin_bool ct_call_iterator(ss_plugin_table_iterator_func_t it,
                                ss_plugin_table_iterator_state_t* s, uint64_t e);
ss_plugin_owner_t* ct_owner_cookie(uint64_t id);
uint64_t ct_bench_read_entry_field(ss_plugin_table_t* t, ss_plugin_table_entry_t* e,
                                   const ss_plugin_table_field_t* f, uint32_t nbatch,
                                   uint32_t batch, double* out_ns);
int ct_is_py_owned(const ss_plugin_table_input* in);
int ct_core_api_init(int enable);
int ct_is_native_box(const ss_plugin_table_input* in);

/* the dispatchers, callable from Python with an ss_plugin_table_input* as the handle */
const ss_plugin_table_fieldinfo* ct_disp_list_table_fields(ss_plugin_table_t* t, uint32_t* nfields);
ss_plugin_table_field_t* ct_disp_get_table_field(ss_plugin_table_t* t, const char* name,
                                                 ss_plugin_state_type data_type);
ss_plugin_table_field_t* ct_disp_add_table_field(ss_plugin_table_t* t, const char* name,
                                                 ss_plugin_state_type data_type);
const char* ct_disp_get_table_name(ss_plugin_table_t* t);
uint64_t ct_disp_get_table_size(ss_plugin_table_t* t);
ss_plugin_table_entry_t* ct_disp_get_table_entry(ss_plugin_table_t* t,
                                                 const ss_plugin_state_data* key);
ss_plugin_rc ct_disp_read_entry_field(ss_plugin_table_t* t, ss_plugin_table_entry_t* e,
                                      const ss_plugin_table_field_t* f, ss_plugin_state_data* out);
void ct_disp_release_table_entry(ss_plugin_table_t* t, ss_plugin_table_entry_t* e);
ss_plugin_bool ct_disp_iterate_entries(ss_plugin_table_t* t, ss_plugin_table_iterator_func_t it,
                                       ss_plugin_table_iterator_state_t* s);
ss_plugin_rc ct_disp_clear_table(ss_plugin_table_t* t);
ss_plugin_rc ct_disp_erase_table_entry(ss_plugin_table_t* t, const ss_plugin_state_data* key);
ss_plugin_table_entry_t* ct_disp_create_table_entry(ss_plugin_table_t* t);
void ct_disp_destroy_table_entry(ss_plugin_table_t* t, ss_plugin_table_entry_t* e);
ss_plugin_table_entry_t* ct_disp_add_table_entry(ss_plugin_table_t* t,
                                                 const ss_plugin_state_data* key,
                                                 ss_plugin_table_entry_t* entry);
ss_plugin_rc ct_disp_write_entry_field(ss_plugin_table_t* t, ss_plugin_table_entry_t* e,
                                       const ss_plugin_table_field_t* f,
                                       const ss_plugin_state_data* in);
"""

CDEF_PACKED = """
typedef struct ss_plugin_event {
    uint64_t ts;
    uint64_t tid;
    uint32_t len;
    uint16_t type;
    uint32_t nparams;
} ss_plugin_event;
"""

# Declared after the packed cdef (it points to ss_plugin_event) but not packed itself.
CDEF_EVENT_INPUT = """
typedef struct ss_plugin_event_input {
    const ss_plugin_event* evt;
    uint64_t evtnum;
    const char* evtsrc;
} ss_plugin_event_input;
"""

CDEF_PYTHON = """
extern "Python" const ss_plugin_table_fieldinfo* ct_py_list_table_fields(uint64_t, uint32_t*);
extern "Python" uint64_t ct_py_get_table_field(uint64_t, const char*, ss_plugin_state_type);
extern "Python" uint64_t ct_py_add_table_field(uint64_t, const char*, ss_plugin_state_type);
extern "Python" const char* ct_py_get_table_name(uint64_t);
extern "Python" uint64_t ct_py_get_table_size(uint64_t);
extern "Python" uint64_t ct_py_get_table_entry(uint64_t, const ss_plugin_state_data*);
extern "Python" ss_plugin_rc ct_py_read_entry_field(uint64_t, uint64_t, uint64_t,
                                                    ss_plugin_state_data*);
extern "Python" void ct_py_release_table_entry(uint64_t, uint64_t);
extern "Python" ss_plugin_bool ct_py_iterate_entries(uint64_t, ss_plugin_table_iterator_func_t,
                                                     ss_plugin_table_iterator_state_t*);
extern "Python" ss_plugin_rc ct_py_clear_table(uint64_t);
extern "Python" ss_plugin_rc ct_py_erase_table_entry(uint64_t, const ss_plugin_state_data*);
extern "Python" uint64_t ct_py_create_table_entry(uint64_t);
extern "Python" void ct_py_destroy_table_entry(uint64_t, uint64_t);
extern "Python" uint64_t ct_py_add_table_entry(uint64_t, const ss_plugin_state_data*, uint64_t);
extern "Python" ss_plugin_rc ct_py_write_entry_field(uint64_t, uint64_t, uint64_t,
                                                     const ss_plugin_state_data*);

extern "Python" ss_plugin_table_info* ct_py_list_tables(uint64_t, uint32_t*);
extern "Python" ss_plugin_table_t* ct_py_get_table(uint64_t, const char*, ss_plugin_state_type);
extern "Python" ss_plugin_rc ct_py_add_table(uint64_t, const ss_plugin_table_input*);
extern "Python" const char* ct_py_get_owner_last_error(uint64_t);
extern "Python" void ct_py_log_fn(uint64_t, const char*, const char*, ss_plugin_log_severity);

extern "Python" ss_plugin_bool ct_py_iterator(ss_plugin_table_iterator_state_t*,
                                              ss_plugin_table_entry_t*);

extern "Python" void ct_py_native_table_error(void*, const char*);
extern "Python" void ct_py_native_table_gone(void*, const char*);
extern "Python" ss_plugin_table_t* ct_py_native_nested(void*, uint64_t, uint64_t, uint64_t);
"""

#: Names of the extern "Python" callbacks the Python side must implement with ffi.def_extern().
PYTHON_CALLBACKS: tuple[str, ...] = (
    "ct_py_list_table_fields",
    "ct_py_get_table_field",
    "ct_py_add_table_field",
    "ct_py_get_table_name",
    "ct_py_get_table_size",
    "ct_py_get_table_entry",
    "ct_py_read_entry_field",
    "ct_py_release_table_entry",
    "ct_py_iterate_entries",
    "ct_py_clear_table",
    "ct_py_erase_table_entry",
    "ct_py_create_table_entry",
    "ct_py_destroy_table_entry",
    "ct_py_add_table_entry",
    "ct_py_write_entry_field",
    "ct_py_list_tables",
    "ct_py_get_table",
    "ct_py_add_table",
    "ct_py_get_owner_last_error",
    "ct_py_log_fn",
    "ct_py_iterator",
    "ct_py_native_table_error",
    "ct_py_native_table_gone",
    "ct_py_native_nested",
)


def make_ffibuilder() -> cffi.FFI:
    builder = cffi.FFI()
    builder.cdef(CDEF)
    builder.cdef(CDEF_PACKED, packed=True)
    builder.cdef(CDEF_EVENT_INPUT)
    builder.cdef(CDEF_PYTHON)
    builder.set_source(
        "concurrent_tables._abi",
        BRIDGE_SOURCE.read_text(encoding="utf-8"),
        include_dirs=[str(NATIVE_DIR)],
        depends=[str(HEADER), str(CORE_API_HEADER), str(BRIDGE_SOURCE)],
        extra_compile_args=["-O2", "-std=gnu11"],
    )
    return builder


ffibuilder = make_ffibuilder()

if __name__ == "__main__":
    # In-place development build: writes concurrent_tables/_abi.*.so next to this file.
    ffibuilder.compile(tmpdir=str(Path(__file__).resolve().parent.parent), verbose=True)
