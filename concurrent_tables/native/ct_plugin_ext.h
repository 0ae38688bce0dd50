/*
 * ct_plugin_ext.h -- concurrent_tables' own C declarations of the non-table part of the Falco plugin
 * API 3.12: sourcing, field extraction, async events, routines and metrics.
 *
 * Written for this project from Falco's public plugin API documentation. It completes the types
 * that ct_plugin_api.h leaves opaque (ss_plugin_extract_field, ss_plugin_extract_value_offsets,
 * ss_plugin_routine_vtable) and pins every size and offset the reference gives (x86-64 LP64).
 * Used by the capability test plugins (tests/native/plugins/cap_*.c).
 */
#ifndef CT_PLUGIN_EXT_H
#define CT_PLUGIN_EXT_H

#include "ct_plugin_api.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PLUGIN_MAX_ERRLEN 1024
#define PLUGIN_EVENT_PAYLOAD_OFFSET 38

/* Capability-side types. */
typedef void ss_instance_t;              /* an open source instance */
typedef void ss_plugin_routine_t;        /* a routine handle returned by subscribe */
typedef void ss_plugin_routine_state_t;  /* the routine's cookie */

typedef enum ss_plugin_field_type {
	FTYPE_UINT64 = 8,
	FTYPE_STRING = 9,
	FTYPE_RELTIME = 20,
	FTYPE_ABSTIME = 21,
	FTYPE_BOOL = 25,
	FTYPE_IPADDR = 40,
	FTYPE_IPNET = 41,
} ss_plugin_field_type;

typedef struct ss_plugin_byte_buffer {
	uint32_t len;
	const void* ptr;
} ss_plugin_byte_buffer;

/* ---- extraction ---- */

typedef union ss_plugin_extract_value {
	const char** str;
	uint64_t* u64;
	uint32_t* u32;
	ss_plugin_bool* boolean;
	ss_plugin_byte_buffer* buf;
} ss_plugin_extract_value;

struct ss_plugin_extract_field {
	ss_plugin_extract_value res; /* by the plugin: res_len values */
	uint64_t res_len;            /* by the plugin: 0 = no value */
	uint32_t field_id;           /* index in get_fields */
	const char* field;
	const char* arg_key;
	uint64_t arg_index;
	ss_plugin_bool arg_present;
	uint32_t ftype;
	ss_plugin_bool flist;
};

struct ss_plugin_extract_value_offsets {
	uint32_t* start;
	uint32_t* length;
};

/* ---- async events ---- */

typedef ss_plugin_rc (*ss_plugin_async_event_handler_t)(ss_plugin_owner_t* o, const ss_plugin_event* evt,
                                                        char* err);

/* ---- routines ---- */

typedef ss_plugin_bool (*ss_plugin_routine_fn_t)(ss_plugin_t* s, ss_plugin_routine_state_t* rs);

struct ss_plugin_routine_vtable {
	ss_plugin_routine_t* (*subscribe)(ss_plugin_owner_t* o, ss_plugin_routine_fn_t f,
	                                  ss_plugin_routine_state_t* rs);
	ss_plugin_rc (*unsubscribe)(ss_plugin_owner_t* o, ss_plugin_routine_t* h);
};

/* ---- metrics ---- */

typedef enum ss_plugin_metric_type {
	SS_PLUGIN_METRIC_TYPE_MONOTONIC = 0,
	SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC = 1,
} ss_plugin_metric_type;

typedef enum ss_plugin_metric_value_type {
	SS_PLUGIN_METRIC_VALUE_TYPE_U32 = 0,
	SS_PLUGIN_METRIC_VALUE_TYPE_S32 = 1,
	SS_PLUGIN_METRIC_VALUE_TYPE_U64 = 2,
	SS_PLUGIN_METRIC_VALUE_TYPE_S64 = 3,
	SS_PLUGIN_METRIC_VALUE_TYPE_D = 4,
	SS_PLUGIN_METRIC_VALUE_TYPE_F = 5,
	SS_PLUGIN_METRIC_VALUE_TYPE_I = 6,
} ss_plugin_metric_value_type;

typedef union ss_plugin_metric_value {
	uint32_t u32;
	int32_t s32;
	uint64_t u64;
	int64_t s64;
	double d;
	float f;
	int i;
} ss_plugin_metric_value;

typedef struct ss_plugin_metric {
	const char* name;
	ss_plugin_metric_type type;
	ss_plugin_metric_value value;
	ss_plugin_metric_value_type value_type;
} ss_plugin_metric;

typedef struct ss_plugin_set_config_input {
	const char* config;
} ss_plugin_set_config_input;

/* ---- layout pins (x86-64 LP64) ---- */

#if defined(__x86_64__) || defined(__aarch64__)
#define CT_EXT_CHECK(cond, what) _Static_assert(cond, what)
#ifdef __cplusplus
#undef CT_EXT_CHECK
#define CT_EXT_CHECK(cond, what) static_assert(cond, what)
#endif
CT_EXT_CHECK(sizeof(ss_plugin_byte_buffer) == 16, "byte_buffer size");
CT_EXT_CHECK(offsetof(ss_plugin_byte_buffer, ptr) == 8, "byte_buffer.ptr");
CT_EXT_CHECK(sizeof(struct ss_plugin_extract_field) == 64, "extract_field size");
CT_EXT_CHECK(offsetof(struct ss_plugin_extract_field, field_id) == 16, "extract_field.field_id");
CT_EXT_CHECK(offsetof(struct ss_plugin_extract_field, field) == 24, "extract_field.field");
CT_EXT_CHECK(offsetof(struct ss_plugin_extract_field, arg_index) == 40, "extract_field.arg_index");
CT_EXT_CHECK(offsetof(struct ss_plugin_extract_field, arg_present) == 48, "extract_field.arg_present");
CT_EXT_CHECK(offsetof(struct ss_plugin_extract_field, ftype) == 52, "extract_field.ftype");
CT_EXT_CHECK(offsetof(struct ss_plugin_extract_field, flist) == 56, "extract_field.flist");
CT_EXT_CHECK(sizeof(struct ss_plugin_extract_value_offsets) == 16, "value_offsets size");
CT_EXT_CHECK(sizeof(struct ss_plugin_routine_vtable) == 16, "routine_vtable size");
CT_EXT_CHECK(sizeof(ss_plugin_metric) == 32, "metric size");
CT_EXT_CHECK(offsetof(ss_plugin_metric, value) == 16, "metric.value");
CT_EXT_CHECK(offsetof(ss_plugin_metric, value_type) == 24, "metric.value_type");
CT_EXT_CHECK(sizeof(ss_plugin_set_config_input) == 8, "set_config_input size");
#undef CT_EXT_CHECK
#endif

#ifdef __cplusplus
}
#endif

#endif /* CT_PLUGIN_EXT_H */
