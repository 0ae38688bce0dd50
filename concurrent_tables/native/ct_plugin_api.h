/*
 * ct_plugin_api.h -- concurrent_tables' own C declarations of the state-table part of the Falco plugin
 * API 3.12 (plus the few non-table pieces a parse/listen plugin needs).
 *
 * Written for this project from Falco's public plugin API documentation; docs/c-abi.md says how
 * the bridge uses it. It mirrors the binary layout of the upstream ABI (x86-64 Linux: 8-byte
 * pointers, 4-byte enums, natural alignment) but is not the upstream header. Static assertions at
 * the bottom pin the documented sizes and offsets. The ct_*_fn typedefs are ours (upstream spells the slot types inline).
 *
 * Used by: the cffi bridge (concurrent_tables/_abi_build.py + ct_bridge.c), the C test plugins in
 * tests/native/plugins/ and the stress workload stress/native/workload.c.
 */
#ifndef CT_PLUGIN_API_H
#define CT_PLUGIN_API_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CT_PLUGIN_API_VERSION_MAJOR 3
#define CT_PLUGIN_API_VERSION_MINOR 12
#define CT_PLUGIN_API_VERSION_PATCH 0
#define CT_PLUGIN_API_VERSION_STR "3.12.0"

/* ---- basic types ------------------------------------------------------------------------------ */

/* Return codes. Table functions only ever use SUCCESS and FAILURE. */
typedef enum ss_plugin_rc {
	SS_PLUGIN_SUCCESS = 0,
	SS_PLUGIN_FAILURE = 1,
	SS_PLUGIN_TIMEOUT = -1,
	SS_PLUGIN_EOF = 2,
	SS_PLUGIN_NOT_SUPPORTED = 3,
} ss_plugin_rc;

/* Value/key types. The numbering has gaps on purpose (libs' internal type ids). */
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
	SS_PLUGIN_ST_TABLE = 10, /* API 3.5+ */
	SS_PLUGIN_ST_BOOL = 25,
} ss_plugin_state_type;

typedef enum ss_plugin_schema_type {
	SS_PLUGIN_SCHEMA_NONE = 0,
	SS_PLUGIN_SCHEMA_JSON = 1,
} ss_plugin_schema_type;

typedef enum ss_plugin_log_severity {
	SS_PLUGIN_LOG_SEV_FATAL = 1,
	SS_PLUGIN_LOG_SEV_CRITICAL = 2,
	SS_PLUGIN_LOG_SEV_ERROR = 3,
	SS_PLUGIN_LOG_SEV_WARNING = 4,
	SS_PLUGIN_LOG_SEV_NOTICE = 5,
	SS_PLUGIN_LOG_SEV_INFO = 6,
	SS_PLUGIN_LOG_SEV_DEBUG = 7,
	SS_PLUGIN_LOG_SEV_TRACE = 8,
} ss_plugin_log_severity;

/* A 4-byte boolean; always write exactly 0 or 1. */
typedef uint32_t ss_plugin_bool;

/* Opaque handles: only ever used through pointers. */
typedef void ss_plugin_t;                       /* plugin state returned by plugin_init */
typedef void ss_plugin_owner_t;                 /* host cookie handed back to host callbacks */
typedef void ss_plugin_table_t;                 /* table handle: in practice an ss_plugin_table_input* */
typedef void ss_plugin_table_entry_t;           /* entry handle: any non-NULL value */
typedef void ss_plugin_table_field_t;           /* field accessor: any non-NULL value, never dereference */
typedef void ss_plugin_table_iterator_state_t;  /* the iterating caller's cookie */

/* The untagged 8-byte value/key carrier; interpreted by the field's or key's own type. */
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
	ss_plugin_table_t* table; /* API 3.5+ */
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

/* Return 1 to continue, 0 to break out. */
typedef ss_plugin_bool (*ss_plugin_table_iterator_func_t)(ss_plugin_table_iterator_state_t* s,
                                                           ss_plugin_table_entry_t* e);

/* ---- vtable slot signatures ------------------------------------------------------------------- */

typedef const ss_plugin_table_fieldinfo* (*ct_list_table_fields_fn)(ss_plugin_table_t* t, uint32_t* nfields);
typedef ss_plugin_table_field_t* (*ct_get_table_field_fn)(ss_plugin_table_t* t, const char* name,
                                                          ss_plugin_state_type data_type);
typedef ss_plugin_table_field_t* (*ct_add_table_field_fn)(ss_plugin_table_t* t, const char* name,
                                                          ss_plugin_state_type data_type);

typedef const char* (*ct_get_table_name_fn)(ss_plugin_table_t* t);
typedef uint64_t (*ct_get_table_size_fn)(ss_plugin_table_t* t);
typedef ss_plugin_table_entry_t* (*ct_get_table_entry_fn)(ss_plugin_table_t* t, const ss_plugin_state_data* key);
typedef ss_plugin_rc (*ct_read_entry_field_fn)(ss_plugin_table_t* t, ss_plugin_table_entry_t* e,
                                               const ss_plugin_table_field_t* f, ss_plugin_state_data* out);
typedef void (*ct_release_table_entry_fn)(ss_plugin_table_t* t, ss_plugin_table_entry_t* e);
typedef ss_plugin_bool (*ct_iterate_entries_fn)(ss_plugin_table_t* t, ss_plugin_table_iterator_func_t it,
                                                ss_plugin_table_iterator_state_t* s);

typedef ss_plugin_rc (*ct_clear_table_fn)(ss_plugin_table_t* t);
typedef ss_plugin_rc (*ct_erase_table_entry_fn)(ss_plugin_table_t* t, const ss_plugin_state_data* key);
typedef ss_plugin_table_entry_t* (*ct_create_table_entry_fn)(ss_plugin_table_t* t);
typedef void (*ct_destroy_table_entry_fn)(ss_plugin_table_t* t, ss_plugin_table_entry_t* e);
typedef ss_plugin_table_entry_t* (*ct_add_table_entry_fn)(ss_plugin_table_t* t, const ss_plugin_state_data* key,
                                                          ss_plugin_table_entry_t* entry);
typedef ss_plugin_rc (*ct_write_entry_field_fn)(ss_plugin_table_t* t, ss_plugin_table_entry_t* e,
                                                const ss_plugin_table_field_t* f, const ss_plugin_state_data* in);

/* ---- the three vtables: current (_ext, pointed to) and legacy 3.0 (embedded by value) ---------- */

typedef struct ss_plugin_table_fields_vtable_ext {
	ct_list_table_fields_fn list_table_fields;
	ct_get_table_field_fn get_table_field;
	ct_add_table_field_fn add_table_field;
} ss_plugin_table_fields_vtable_ext;

typedef struct ss_plugin_table_fields_vtable { /* legacy: same slots as the _ext form */
	ct_list_table_fields_fn list_table_fields;
	ct_get_table_field_fn get_table_field;
	ct_add_table_field_fn add_table_field;
} ss_plugin_table_fields_vtable;

typedef struct ss_plugin_table_reader_vtable_ext {
	ct_get_table_name_fn get_table_name;
	ct_get_table_size_fn get_table_size;
	ct_get_table_entry_fn get_table_entry;
	ct_read_entry_field_fn read_entry_field;
	ct_release_table_entry_fn release_table_entry; /* 3.1 */
	ct_iterate_entries_fn iterate_entries;         /* 3.1 */
} ss_plugin_table_reader_vtable_ext;

typedef struct ss_plugin_table_reader_vtable { /* legacy: the first four reader slots */
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

typedef struct ss_plugin_table_writer_vtable { /* legacy: same slots as the _ext form */
	ct_clear_table_fn clear_table;
	ct_erase_table_entry_fn erase_table_entry;
	ct_create_table_entry_fn create_table_entry;
	ct_destroy_table_entry_fn destroy_table_entry;
	ct_add_table_entry_fn add_table_entry;
	ct_write_entry_field_fn write_entry_field;
} ss_plugin_table_writer_vtable;

/* ---- one table as registered with add_table (and every table handle, see the handle convention) -- */

typedef struct ss_plugin_table_input {
	const char* name;
	ss_plugin_state_type key_type;
	ss_plugin_table_t* table; /* the owner's own handle, passed as `t` to every slot */
	ss_plugin_table_reader_vtable reader;
	ss_plugin_table_writer_vtable writer;
	ss_plugin_table_fields_vtable fields;
	ss_plugin_table_reader_vtable_ext* reader_ext; /* 3.1 */
	ss_plugin_table_writer_vtable_ext* writer_ext; /* 3.1 */
	ss_plugin_table_fields_vtable_ext* fields_ext; /* 3.1 */
} ss_plugin_table_input;

/* ---- the `tables` member of the init input ------------------------------------------------------ */

typedef ss_plugin_table_info* (*ct_list_tables_fn)(ss_plugin_owner_t* o, uint32_t* ntables);
typedef ss_plugin_table_t* (*ct_get_table_fn)(ss_plugin_owner_t* o, const char* name, ss_plugin_state_type key_type);
typedef ss_plugin_rc (*ct_add_table_fn)(ss_plugin_owner_t* o, const ss_plugin_table_input* in);
typedef const char* (*ct_get_owner_last_error_fn)(ss_plugin_owner_t* o);

typedef struct ss_plugin_init_tables_input {
	ct_list_tables_fn list_tables;
	ct_get_table_fn get_table;
	ct_add_table_fn add_table;
	ss_plugin_table_fields_vtable fields;          /* legacy */
	ss_plugin_table_fields_vtable_ext* fields_ext; /* 3.1 */
	ss_plugin_table_reader_vtable_ext* reader_ext; /* 3.5 */
	ss_plugin_table_writer_vtable_ext* writer_ext; /* 3.5 */
} ss_plugin_init_tables_input;

/* ---- per-callback inputs ------------------------------------------------------------------------ */

typedef struct ss_plugin_init_input {
	const char* config;
	ss_plugin_owner_t* owner;
	ct_get_owner_last_error_fn get_owner_last_error;
	const ss_plugin_init_tables_input* tables;
	ss_plugin_log_fn_t log_fn; /* 3.3 */
} ss_plugin_init_input;

typedef struct ss_plugin_event_parse_input {
	ss_plugin_owner_t* owner;
	ct_get_owner_last_error_fn get_owner_last_error;
	ss_plugin_table_reader_vtable table_reader;       /* legacy */
	ss_plugin_table_writer_vtable table_writer;       /* legacy */
	ss_plugin_table_reader_vtable_ext* table_reader_ext; /* 3.1 */
	ss_plugin_table_writer_vtable_ext* table_writer_ext; /* 3.1 */
} ss_plugin_event_parse_input;

/* Field-extraction request records: not needed by the table bridge, kept opaque. */
typedef struct ss_plugin_extract_field ss_plugin_extract_field;
typedef struct ss_plugin_extract_value_offsets ss_plugin_extract_value_offsets;

typedef struct ss_plugin_field_extract_input {
	ss_plugin_owner_t* owner;
	ct_get_owner_last_error_fn get_owner_last_error;
	uint32_t num_fields;
	ss_plugin_extract_field* fields;
	ss_plugin_table_reader_vtable table_reader;       /* legacy */
	ss_plugin_table_reader_vtable_ext* table_reader_ext; /* 3.1 */
	ss_plugin_extract_value_offsets* value_offsets;   /* 3.11 */
} ss_plugin_field_extract_input;

/* Thread-pool routines (3.7): not table related, kept opaque. */
typedef struct ss_plugin_routine_vtable ss_plugin_routine_vtable;

typedef struct ss_plugin_capture_listen_input {
	ss_plugin_owner_t* owner;
	ss_plugin_routine_vtable* routine;
	ss_plugin_table_reader_vtable_ext* table_reader_ext;
	ss_plugin_table_writer_vtable_ext* table_writer_ext;
	ct_get_owner_last_error_fn get_owner_last_error; /* 3.9 */
} ss_plugin_capture_listen_input;

/* ---- events --------------------------------------------------------------------------------------- */

#pragma pack(push, 1)
typedef struct ss_plugin_event {
	uint64_t ts;
	uint64_t tid;
	uint32_t len;     /* whole event, header included */
	uint16_t type;
	uint32_t nparams; /* followed by nparams lengths, then the parameter bytes */
} ss_plugin_event;
#pragma pack(pop)

typedef struct ss_plugin_event_input {
	const ss_plugin_event* evt;
	uint64_t evtnum;
	const char* evtsrc;
} ss_plugin_event_input;

/* ---- layout pins (x86-64 LP64) ------------------------------------------------------------------ */

#if defined(__x86_64__) || defined(__aarch64__)
#define CT_ABI_CHECK(cond, what) _Static_assert(cond, what)
#ifdef __cplusplus
#undef CT_ABI_CHECK
#define CT_ABI_CHECK(cond, what) static_assert(cond, what)
#endif
CT_ABI_CHECK(sizeof(ss_plugin_state_data) == 8, "ss_plugin_state_data size");
CT_ABI_CHECK(sizeof(ss_plugin_table_info) == 16, "ss_plugin_table_info size");
CT_ABI_CHECK(sizeof(ss_plugin_table_fieldinfo) == 16, "ss_plugin_table_fieldinfo size");
CT_ABI_CHECK(offsetof(ss_plugin_table_fieldinfo, read_only) == 12, "fieldinfo.read_only");
CT_ABI_CHECK(sizeof(ss_plugin_table_fields_vtable_ext) == 24, "fields_vtable_ext size");
CT_ABI_CHECK(sizeof(ss_plugin_table_fields_vtable) == 24, "fields_vtable size");
CT_ABI_CHECK(sizeof(ss_plugin_table_reader_vtable_ext) == 48, "reader_vtable_ext size");
CT_ABI_CHECK(sizeof(ss_plugin_table_reader_vtable) == 32, "reader_vtable size");
CT_ABI_CHECK(sizeof(ss_plugin_table_writer_vtable_ext) == 48, "writer_vtable_ext size");
CT_ABI_CHECK(sizeof(ss_plugin_table_writer_vtable) == 48, "writer_vtable size");
CT_ABI_CHECK(sizeof(ss_plugin_table_input) == 152, "ss_plugin_table_input size");
CT_ABI_CHECK(offsetof(ss_plugin_table_input, reader) == 24, "table_input.reader");
CT_ABI_CHECK(offsetof(ss_plugin_table_input, writer) == 56, "table_input.writer");
CT_ABI_CHECK(offsetof(ss_plugin_table_input, fields) == 104, "table_input.fields");
CT_ABI_CHECK(offsetof(ss_plugin_table_input, fields_ext) == 144, "table_input.fields_ext");
CT_ABI_CHECK(sizeof(ss_plugin_init_tables_input) == 72, "ss_plugin_init_tables_input size");
CT_ABI_CHECK(offsetof(ss_plugin_init_tables_input, fields_ext) == 48, "init_tables.fields_ext");
CT_ABI_CHECK(sizeof(ss_plugin_init_input) == 40, "ss_plugin_init_input size");
CT_ABI_CHECK(sizeof(ss_plugin_event_parse_input) == 112, "ss_plugin_event_parse_input size");
CT_ABI_CHECK(offsetof(ss_plugin_event_parse_input, table_reader_ext) == 96, "parse.table_reader_ext");
CT_ABI_CHECK(sizeof(ss_plugin_field_extract_input) == 80, "ss_plugin_field_extract_input size");
CT_ABI_CHECK(offsetof(ss_plugin_field_extract_input, table_reader) == 32, "extract.table_reader");
CT_ABI_CHECK(offsetof(ss_plugin_field_extract_input, value_offsets) == 72, "extract.value_offsets");
CT_ABI_CHECK(sizeof(ss_plugin_capture_listen_input) == 40, "ss_plugin_capture_listen_input size");
CT_ABI_CHECK(offsetof(ss_plugin_capture_listen_input, get_owner_last_error) == 32, "listen.get_owner_last_error");
CT_ABI_CHECK(sizeof(ss_plugin_event) == 26, "ss_plugin_event size");
CT_ABI_CHECK(offsetof(ss_plugin_event, nparams) == 22, "ss_plugin_event.nparams");
CT_ABI_CHECK(sizeof(ss_plugin_event_input) == 24, "ss_plugin_event_input size");
#undef CT_ABI_CHECK
#endif

#ifdef __cplusplus
}
#endif

#endif /* CT_PLUGIN_API_H */
