/*
 * ct_test_plugin.c -- a native parse + capture-listen plugin used by concurrent_tables' tests to drive
 * the host side of the table ABI (API 3.12) from real C code. Written for this project against our own
 * header concurrent_tables/native/ct_plugin_api.h.
 *
 * Build: gcc -shared -fPIC -O2 -Wall -Werror -pthread -I concurrent_tables/native ct_test_plugin.c -o x.so
 * (concurrent_tables/cabi/build.py does this: once per test session, and per `stress run --scenario native`).
 *
 * Config: "key=value;key=value" (all optional):
 *   import=1          import the host table below at init and run the init checks (default 1)
 *   table=threads     host table to import;  key_type=int64 (int64|uint64)
 *   key=1             key of an entry that exists in that table (parse self-test)
 *   str_field=comm  ro_field=cwd  tab_field=file_descriptors  nested_field=fd  nested_type=int64
 *                     fields of that table used by the checks: a writable STRING static field, a
 *                     read-only STRING static field, a TABLE field, and a field of the nested table
 *   export=1          register this plugin's own table "plugin_sample" via add_table (default 1)
 *   selftest=0        run the parse self-test on every parse event (1), on the first one only (once)
 *   count=0           per event, increment dynamic field ct_counter of entry <evt->tid> (like
 *                     the SDK's syscall_parse); an unknown tid makes parse_event fail
 *   counter_table=    start a pthread at capture_open that increments field counter_field
 *   counter_key=0     (UINT64, added if missing) of entry counter_key (created if missing) of
 *   counter_field=ct_counter   table counter_table (key type counter_key_type, int64|uint64),
 *   counter_key_type=uint64    counter_iters times through the capture-listen vtables; stopped
 *   counter_iters=1000         and joined at capture_close
 *   hammer_table=     the `native` stress scenario: at capture_open start hammer_threads pthreads
 *   hammer_threads=2  (1..8) that hammer table hammer_table (UINT64 keys 0..hammer_keys-1, 1..64,
 *   hammer_keys=16    entries made by the host; UINT64 fields c_count, c_x, py_seq, py_a, py_b)
 *                     through the capture-listen vtables until capture_close; see "hammer threads"
 *   event_types=3     comma-separated event types for plugin_get_parse_event_types (empty: none listed)
 *   fail_init=0       make plugin_init fail (returns a state anyway, with an error)
 *   types=0           add a dynamic field of every state type (ct_t_<type>) at init; the parse
 *                     self-test writes each type's extreme values and reads them back
 *   sample_nested=0   give plugin_sample a read-only TABLE field "children": per entry, a child table
 *                     (UINT64 key, field u64_val) reached through its own ss_plugin_table_input
 *   badinput=0        bad-input checks: at init (NULL pointers, unknown state types) and at the start
 *                     of each parse self-test (NULL/garbage entries, accessors, keys, values and
 *                     iterators; the entry and nested handle kept from the previous event, which the
 *                     host must have invalidated; field management outside init: access denied)
 *
 * plugin_extract_fields (run by the host with no field requests) reads str_field of entry <evt->tid>
 * through the extract input's reader, then tries a write through the writer kept from init, which the
 * host must refuse (extract is read-only). Built with -DCT_EXTRACT_ONLY the plugin has no parse and no
 * capture-listen symbols and is named "ct_test_extract".
 *
 * Results: ct_test_report(state) returns a JSON object {"checks":[...],"failed":N,...}; each check is
 * {"phase","name","ok","rc","detail","err"} where err is the host's get_owner_last_error text read
 * right after an expected failure. ct_test_thread_status(state) returns the counter thread's JSON.
 */
#define _GNU_SOURCE
#include "ct_plugin_api.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_EXPORT __attribute__((visibility("default")))

#ifdef CT_EXTRACT_ONLY
/* the parse and capture-listen code below is compiled but not exported in this variant */
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

/* ============================================================================================== */
/* small utilities                                                                                */
/* ============================================================================================== */

typedef struct strbuf {
	char* buf;
	size_t len;
	size_t cap;
} strbuf;

static void sb_reserve(strbuf* sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->cap) return;
	size_t cap = sb->cap ? sb->cap : 256;
	while (cap < sb->len + extra + 1) cap *= 2;
	char* nb = realloc(sb->buf, cap);
	if (!nb) abort();
	sb->buf = nb;
	sb->cap = cap;
}

static void sb_add(strbuf* sb, const char* s)
{
	size_t n = strlen(s);
	sb_reserve(sb, n);
	memcpy(sb->buf + sb->len, s, n + 1);
	sb->len += n;
}

static void sb_printf(strbuf* sb, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf* sb, const char* fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	sb_reserve(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

/* A JSON string literal, or null for NULL. */
static void sb_json(strbuf* sb, const char* s)
{
	if (!s) {
		sb_add(sb, "null");
		return;
	}
	sb_add(sb, "\"");
	for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			char esc[3] = {'\\', (char)*p, 0};
			sb_add(sb, esc);
		} else if (*p < 0x20) {
			sb_printf(sb, "\\u%04x", (unsigned)*p);
		} else {
			char c[2] = {(char)*p, 0};
			sb_add(sb, c);
		}
	}
	sb_add(sb, "\"");
}

static void sb_free(strbuf* sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

/* plugin_get_last_error text: thread-local, so concurrent host threads do not garble each other's. */
static _Thread_local char g_last_error[1024];

static void set_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char* fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g_last_error, sizeof(g_last_error), fmt, ap);
	va_end(ap);
}

static char* xstrdup(const char* s)
{
	char* d = strdup(s ? s : "");
	if (!d) abort();
	return d;
}

/* ============================================================================================== */
/* the exported table "plugin_sample": UINT64 key, static u64_val, dynamic fields of scalar types  */
/* ============================================================================================== */

#define SAMPLE_MAX_FIELDS 16
#define SAMPLE_ENTRY_MAGIC 0x5a4d504c45ULL

struct sample_table;

typedef struct sample_entry {
	uint64_t magic;
	int attached;
	uint64_t key;
	ss_plugin_state_data vals[SAMPLE_MAX_FIELDS]; /* vals[0] is u64_val */
	char* strs[SAMPLE_MAX_FIELDS];                /* owned copies for STRING fields */
	struct sample_table* child;                   /* TABLE field "children" (made on first read) */
	ss_plugin_table_input* child_input;           /* the child's handle (per the handle convention) */
} sample_entry;

typedef struct sample_table {
	pthread_mutex_t mu; /* recursive: iteration callbacks may call back into the table */
	const char* name;
	uint32_t nfields;
	char* field_names[SAMPLE_MAX_FIELDS];
	ss_plugin_state_type field_types[SAMPLE_MAX_FIELDS];
	ss_plugin_table_fieldinfo infos[SAMPLE_MAX_FIELDS];
	sample_entry** entries;
	size_t n;
	size_t cap;
} sample_table;

static void sample_fini(struct sample_table* st);

static void sample_entry_free(sample_entry* e)
{
	if (!e) return;
	for (int i = 0; i < SAMPLE_MAX_FIELDS; i++) free(e->strs[i]);
	if (e->child) {
		sample_fini(e->child);
		free(e->child);
	}
	free(e->child_input);
	e->magic = 0;
	free(e);
}

static void sample_init(sample_table* st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&st->mu, &a);
	pthread_mutexattr_destroy(&a);
	st->name = "plugin_sample";
	st->field_names[0] = xstrdup("u64_val");
	st->field_types[0] = SS_PLUGIN_ST_UINT64;
	st->nfields = 1;
}

/* sample_nested=1: a read-only TABLE field "children"; each entry owns a child table (UINT64 key,
 * field u64_val). Accessor 1 (u64_val) is the same in every child, as the ABI requires. */
static void sample_add_children_field(sample_table* st)
{
	st->field_names[st->nfields] = xstrdup("children");
	st->field_types[st->nfields] = SS_PLUGIN_ST_TABLE;
	st->nfields++;
}

static void sample_fini(sample_table* st)
{
	for (size_t i = 0; i < st->n; i++) sample_entry_free(st->entries[i]);
	free(st->entries);
	for (uint32_t i = 0; i < st->nfields; i++) free(st->field_names[i]);
	pthread_mutex_destroy(&st->mu);
	memset(st, 0, sizeof(*st));
}

static sample_table* ST(ss_plugin_table_t* t)
{
	return (sample_table*)t;
}

/* accessor i+1 <-> field index i; -1 if not one of ours */
static int sample_field_index(sample_table* st, const ss_plugin_table_field_t* f)
{
	uintptr_t v = (uintptr_t)f;
	if (v == 0 || v > st->nfields) return -1;
	return (int)(v - 1);
}

static ss_plugin_table_field_t* sample_accessor(int idx)
{
	return (ss_plugin_table_field_t*)(uintptr_t)(idx + 1);
}

static int sample_valid_entry(const ss_plugin_table_entry_t* e)
{
	return e && ((const sample_entry*)e)->magic == SAMPLE_ENTRY_MAGIC;
}

static long sample_find(sample_table* st, uint64_t key)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->entries[i]->key == key) return (long)i;
	return -1;
}

static const ss_plugin_table_fieldinfo* sample_list_fields(ss_plugin_table_t* t, uint32_t* nfields)
{
	sample_table* st = ST(t);
	pthread_mutex_lock(&st->mu);
	for (uint32_t i = 0; i < st->nfields; i++) {
		st->infos[i].name = st->field_names[i];
		st->infos[i].field_type = st->field_types[i];
		st->infos[i].read_only = st->field_types[i] == SS_PLUGIN_ST_TABLE;
	}
	*nfields = st->nfields;
	pthread_mutex_unlock(&st->mu);
	return st->infos;
}

static int sample_lookup_field(sample_table* st, const char* name)
{
	for (uint32_t i = 0; i < st->nfields; i++)
		if (strcmp(st->field_names[i], name) == 0) return (int)i;
	return -1;
}

static ss_plugin_table_field_t* sample_get_field(ss_plugin_table_t* t, const char* name, ss_plugin_state_type type)
{
	sample_table* st = ST(t);
	ss_plugin_table_field_t* res = NULL;
	pthread_mutex_lock(&st->mu);
	int i = name ? sample_lookup_field(st, name) : -1;
	if (i < 0)
		set_error("undefined field '%s' in table '%s'", name ? name : "(null)", st->name);
	else if (st->field_types[i] != type)
		set_error("field defined with incompatible types: %s", name);
	else
		res = sample_accessor(i);
	pthread_mutex_unlock(&st->mu);
	return res;
}

static ss_plugin_table_field_t* sample_add_field(ss_plugin_table_t* t, const char* name, ss_plugin_state_type type)
{
	sample_table* st = ST(t);
	ss_plugin_table_field_t* res = NULL;
	if (!name) {
		set_error("field name is null");
		return NULL;
	}
	pthread_mutex_lock(&st->mu);
	int i = sample_lookup_field(st, name);
	if (i >= 0) {
		if (st->field_types[i] == type)
			res = sample_accessor(i);
		else
			set_error("field defined with incompatible types: %s", name);
	} else if (type == SS_PLUGIN_ST_TABLE || !((type >= SS_PLUGIN_ST_INT8 && type <= SS_PLUGIN_ST_STRING) ||
	                                          type == SS_PLUGIN_ST_BOOL)) {
		set_error("unsupported field type for %s: %d", name, (int)type);
	} else if (st->nfields >= SAMPLE_MAX_FIELDS) {
		set_error("too many fields in table '%s'", st->name);
	} else {
		i = (int)st->nfields++;
		st->field_names[i] = xstrdup(name);
		st->field_types[i] = type;
		res = sample_accessor(i);
	}
	pthread_mutex_unlock(&st->mu);
	return res;
}

static const char* sample_get_name(ss_plugin_table_t* t)
{
	return ST(t)->name;
}

/* a second, different function: lets the self-test register a table whose legacy copy != _ext */
static const char* sample_get_name_alt(ss_plugin_table_t* t)
{
	return ST(t)->name;
}

static uint64_t sample_get_size(ss_plugin_table_t* t)
{
	sample_table* st = ST(t);
	pthread_mutex_lock(&st->mu);
	uint64_t n = st->n;
	pthread_mutex_unlock(&st->mu);
	return n;
}

static ss_plugin_table_entry_t* sample_get_entry(ss_plugin_table_t* t, const ss_plugin_state_data* key)
{
	sample_table* st = ST(t);
	sample_entry* e = NULL;
	pthread_mutex_lock(&st->mu);
	long i = key ? sample_find(st, key->u64) : -1;
	if (i >= 0)
		e = st->entries[i];
	else
		set_error("unknown entry at key: %" PRIu64, key ? key->u64 : 0);
	pthread_mutex_unlock(&st->mu);
	return e;
}

static void sample_fill_input(ss_plugin_table_input* in, sample_table* st);

/* The child table of an entry (TABLE field "children"), made on first use. */
static ss_plugin_table_input* sample_child(sample_entry* se)
{
	if (!se->child) {
		se->child = malloc(sizeof(*se->child));
		se->child_input = malloc(sizeof(*se->child_input));
		if (!se->child || !se->child_input) abort();
		sample_init(se->child);
		se->child->name = "children";
		sample_fill_input(se->child_input, se->child);
	}
	return se->child_input;
}

static ss_plugin_rc sample_read(ss_plugin_table_t* t, ss_plugin_table_entry_t* e, const ss_plugin_table_field_t* f,
                                ss_plugin_state_data* out)
{
	sample_table* st = ST(t);
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	pthread_mutex_lock(&st->mu);
	int i = sample_field_index(st, f);
	if (!sample_valid_entry(e)) {
		set_error("invalid entry");
	} else if (i < 0) {
		set_error("invalid field accessor");
	} else {
		sample_entry* se = e;
		if (st->field_types[i] == SS_PLUGIN_ST_STRING)
			out->str = se->strs[i] ? se->strs[i] : "";
		else if (st->field_types[i] == SS_PLUGIN_ST_TABLE)
			out->table = sample_child(se);
		else
			*out = se->vals[i];
		rc = SS_PLUGIN_SUCCESS;
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static void sample_release(ss_plugin_table_t* t, ss_plugin_table_entry_t* e)
{
	(void)t;
	(void)e; /* entries stay owned by the table; nothing to do */
}

static ss_plugin_bool sample_iterate(ss_plugin_table_t* t, ss_plugin_table_iterator_func_t it,
                                     ss_plugin_table_iterator_state_t* s)
{
	sample_table* st = ST(t);
	ss_plugin_bool res = 1;
	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < st->n; i++) {
		if (!it(s, st->entries[i])) {
			res = 0;
			break;
		}
	}
	pthread_mutex_unlock(&st->mu);
	return res;
}

static ss_plugin_rc sample_clear(ss_plugin_table_t* t)
{
	sample_table* st = ST(t);
	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < st->n; i++) sample_entry_free(st->entries[i]);
	st->n = 0;
	pthread_mutex_unlock(&st->mu);
	return SS_PLUGIN_SUCCESS;
}

static ss_plugin_rc sample_erase(ss_plugin_table_t* t, const ss_plugin_state_data* key)
{
	sample_table* st = ST(t);
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	pthread_mutex_lock(&st->mu);
	long i = key ? sample_find(st, key->u64) : -1;
	if (i < 0) {
		set_error("unknown entry at key: %" PRIu64, key ? key->u64 : 0);
	} else {
		sample_entry_free(st->entries[i]);
		st->entries[i] = st->entries[st->n - 1];
		st->n--;
		rc = SS_PLUGIN_SUCCESS;
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static ss_plugin_table_entry_t* sample_create(ss_plugin_table_t* t)
{
	(void)t;
	sample_entry* e = calloc(1, sizeof(*e));
	if (!e) {
		set_error("out of memory");
		return NULL;
	}
	e->magic = SAMPLE_ENTRY_MAGIC;
	return e;
}

static void sample_destroy(ss_plugin_table_t* t, ss_plugin_table_entry_t* e)
{
	(void)t;
	if (!sample_valid_entry(e) || ((sample_entry*)e)->attached) {
		set_error("destroy of an entry not created by create_table_entry");
		return;
	}
	sample_entry_free(e);
}

/* Like libs' sample table: the stored entry is a copy, the input entry is freed. */
static ss_plugin_table_entry_t* sample_add(ss_plugin_table_t* t, const ss_plugin_state_data* key,
                                           ss_plugin_table_entry_t* entry)
{
	sample_table* st = ST(t);
	if (!key || !sample_valid_entry(entry) || ((sample_entry*)entry)->attached) {
		set_error("add of an entry not created by create_table_entry");
		return NULL;
	}
	sample_entry* in = entry;
	sample_entry* copy = malloc(sizeof(*copy));
	if (!copy) {
		set_error("out of memory");
		return NULL;
	}
	*copy = *in;
	memset(in->strs, 0, sizeof(in->strs)); /* strings and child table moved to the copy */
	in->child = NULL;
	in->child_input = NULL;
	sample_entry_free(in);
	copy->attached = 1;
	copy->key = key->u64;
	pthread_mutex_lock(&st->mu);
	long i = sample_find(st, key->u64);
	if (i >= 0) {
		sample_entry_free(st->entries[i]);
		st->entries[i] = copy;
	} else {
		if (st->n == st->cap) {
			size_t cap = st->cap ? st->cap * 2 : 8;
			sample_entry** nv = realloc(st->entries, cap * sizeof(*nv));
			if (!nv) abort();
			st->entries = nv;
			st->cap = cap;
		}
		st->entries[st->n++] = copy;
	}
	pthread_mutex_unlock(&st->mu);
	return copy;
}

static ss_plugin_rc sample_write(ss_plugin_table_t* t, ss_plugin_table_entry_t* e, const ss_plugin_table_field_t* f,
                                 const ss_plugin_state_data* in)
{
	sample_table* st = ST(t);
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	pthread_mutex_lock(&st->mu);
	int i = sample_field_index(st, f);
	if (!sample_valid_entry(e)) {
		set_error("invalid entry");
	} else if (i < 0) {
		set_error("invalid field accessor");
	} else if (!in) {
		set_error("null value");
	} else if (st->field_types[i] == SS_PLUGIN_ST_TABLE) {
		set_error("table field %s is read-only", st->field_names[i]);
	} else {
		sample_entry* se = e;
		if (st->field_types[i] == SS_PLUGIN_ST_STRING) {
			char* copy = xstrdup(in->str);
			free(se->strs[i]);
			se->strs[i] = copy;
		} else {
			se->vals[i] = *in;
		}
		rc = SS_PLUGIN_SUCCESS;
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static ss_plugin_table_fields_vtable_ext g_sample_fields = {sample_list_fields, sample_get_field, sample_add_field};
static ss_plugin_table_reader_vtable_ext g_sample_reader = {sample_get_name, sample_get_size, sample_get_entry,
                                                            sample_read,     sample_release,  sample_iterate};
static ss_plugin_table_writer_vtable_ext g_sample_writer = {sample_clear,   sample_erase, sample_create,
                                                            sample_destroy, sample_add,   sample_write};

static void sample_fill_input(ss_plugin_table_input* in, sample_table* st)
{
	memset(in, 0, sizeof(*in));
	in->name = st->name;
	in->key_type = SS_PLUGIN_ST_UINT64;
	in->table = st;
	in->reader.get_table_name = g_sample_reader.get_table_name;
	in->reader.get_table_size = g_sample_reader.get_table_size;
	in->reader.get_table_entry = g_sample_reader.get_table_entry;
	in->reader.read_entry_field = g_sample_reader.read_entry_field;
	in->writer.clear_table = g_sample_writer.clear_table;
	in->writer.erase_table_entry = g_sample_writer.erase_table_entry;
	in->writer.create_table_entry = g_sample_writer.create_table_entry;
	in->writer.destroy_table_entry = g_sample_writer.destroy_table_entry;
	in->writer.add_table_entry = g_sample_writer.add_table_entry;
	in->writer.write_entry_field = g_sample_writer.write_entry_field;
	in->fields.list_table_fields = g_sample_fields.list_table_fields;
	in->fields.get_table_field = g_sample_fields.get_table_field;
	in->fields.add_table_field = g_sample_fields.add_table_field;
	in->reader_ext = &g_sample_reader;
	in->writer_ext = &g_sample_writer;
	in->fields_ext = &g_sample_fields;
}

/* ============================================================================================== */
/* plugin state and configuration                                                                 */
/* ============================================================================================== */

#define MAX_EVENT_TYPES 64

typedef struct config {
	int do_import;
	char table[128];
	ss_plugin_state_type key_type;
	int64_t key;
	char str_field[128];
	char ro_field[128];
	char tab_field[128];
	char nested_field[128];
	ss_plugin_state_type nested_type;
	int do_export;
	int selftest; /* 0 never, 1 every event, 2 once */
	int count;
	char counter_table[128];
	char counter_field[128];
	ss_plugin_state_type counter_key_type;
	uint64_t counter_key;
	uint64_t counter_iters;
	uint16_t event_types[MAX_EVENT_TYPES];
	uint32_t n_event_types;
	int fail_init;
	int types;
	int badinput;
	int sample_nested;
	char hammer_table[128];
	uint32_t hammer_threads;
	uint32_t hammer_keys;
} config;

#define HAMMER_MAX_THREADS 8
#define HAMMER_MAX_KEYS 64

struct plugin_state;

/* One hammer pthread (see "hammer threads" below). */
typedef struct hammer_thread {
	struct plugin_state* ps;
	uint32_t index;
	pthread_t thr;
	atomic_ullong ops; /* entry acquisitions */
} hammer_thread;

typedef struct plugin_state {
	config cfg;
	ss_plugin_owner_t* owner;
	ct_get_owner_last_error_fn owner_err; /* of the current phase */
	ss_plugin_log_fn_t log_fn;
	const char* phase;

	/* imported host table and its accessors (all obtained at init) */
	ss_plugin_table_t* tbl;
	ss_plugin_table_field_t* f_str;
	ss_plugin_table_field_t* f_ro;
	ss_plugin_table_field_t* f_tab;
	ss_plugin_table_field_t* f_counter; /* dynamic UINT64 ct_counter */
	ss_plugin_table_field_t* f_note;    /* dynamic STRING ct_note */
	ss_plugin_table_field_t* f_nested;  /* nested table's nested_field */
	ss_plugin_table_field_t* f_nested_custom; /* dynamic STRING ct_custom on the nested table */
	ss_plugin_table_field_t* f_types[11];     /* types=1: dynamic ct_t_<type>, see g_types */

	/* the init input's vtables (the host's dispatchers), kept to probe the access matrix later */
	const ss_plugin_table_reader_vtable_ext* init_reader;
	const ss_plugin_table_writer_vtable_ext* init_writer;
	const ss_plugin_table_fields_vtable_ext* init_fields;

	/* badinput=1: an entry and a nested handle kept (on purpose) from the previous parse event */
	ss_plugin_table_entry_t* stale_entry;
	ss_plugin_table_t* stale_nested;

	/* our own table, and its host handle */
	sample_table sample;
	ss_plugin_table_input sample_input;
	ss_plugin_table_t* sample_h;
	ss_plugin_table_field_t* f_sample_u64;
	ss_plugin_table_field_t* f_sample_str;

	/* the counter thread */
	ss_plugin_table_t* ctr_tbl;
	ss_plugin_table_field_t* ctr_field;
	ss_plugin_table_reader_vtable_ext ctr_reader; /* copies of the listen input's vtables */
	ss_plugin_table_writer_vtable_ext ctr_writer;
	ct_get_owner_last_error_fn ctr_owner_err;
	pthread_t thr;
	int thr_started;
	atomic_int thr_stop;
	atomic_int thr_done;
	atomic_ullong thr_iterations;
	atomic_ullong thr_failures;
	char thr_error[512];

	/* hammer threads (hammer_table=...) */
	ss_plugin_table_t* hm_tbl;
	ss_plugin_table_field_t* hm_c_count;
	ss_plugin_table_field_t* hm_c_x;
	ss_plugin_table_field_t* hm_py_seq;
	ss_plugin_table_field_t* hm_py_a;
	ss_plugin_table_field_t* hm_py_b;
	ss_plugin_table_reader_vtable_ext hm_reader;
	ss_plugin_table_writer_vtable_ext hm_writer;
	ct_get_owner_last_error_fn hm_owner_err;
	ss_plugin_owner_t* hm_owner;
	hammer_thread hm_threads[HAMMER_MAX_THREADS];
	uint32_t hm_started; /* threads running */
	atomic_int hm_stop;
	atomic_ullong hm_completed[HAMMER_MAX_KEYS]; /* increments of c_count done, per key */
	atomic_ullong hm_calls;       /* vtable calls made */
	atomic_ullong hm_seq_reads;   /* consistent (seq unchanged) reads of a Python record */
	atomic_ullong hm_seq_retries; /* reads where py_seq moved meanwhile (not checked) */
	atomic_ullong hm_torn;
	atomic_ullong hm_lost;
	atomic_ullong hm_failures;
	pthread_mutex_t hm_mu; /* guards the first-problem texts below */
	char hm_torn_first[256];
	char hm_lost_first[256];
	char hm_error[512];
	strbuf hm_report;

	/* results */
	strbuf checks;
	uint32_t nchecks;
	uint32_t nfailed;
	uint64_t nevents;
	uint64_t nselftests;
	strbuf report;
	strbuf thr_report;
} plugin_state;

static int parse_state_type(const char* v, ss_plugin_state_type* out)
{
	static const struct {
		const char* name;
		ss_plugin_state_type t;
	} names[] = {
	    {"int8", SS_PLUGIN_ST_INT8},   {"int16", SS_PLUGIN_ST_INT16},   {"int32", SS_PLUGIN_ST_INT32},
	    {"int64", SS_PLUGIN_ST_INT64}, {"uint8", SS_PLUGIN_ST_UINT8},   {"uint16", SS_PLUGIN_ST_UINT16},
	    {"uint32", SS_PLUGIN_ST_UINT32}, {"uint64", SS_PLUGIN_ST_UINT64}, {"string", SS_PLUGIN_ST_STRING},
	    {"bool", SS_PLUGIN_ST_BOOL},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(v, names[i].name) == 0) {
			*out = names[i].t;
			return 1;
		}
	}
	return 0;
}

static void copy_str(char* dst, size_t n, const char* src)
{
	snprintf(dst, n, "%s", src);
}

/* Returns 0 and sets the error on a malformed config. */
static int parse_config(config* c, const char* text)
{
	memset(c, 0, sizeof(*c));
	c->do_import = 1;
	copy_str(c->table, sizeof(c->table), "threads");
	c->key_type = SS_PLUGIN_ST_INT64;
	c->key = 1;
	copy_str(c->str_field, sizeof(c->str_field), "comm");
	copy_str(c->ro_field, sizeof(c->ro_field), "cwd");
	copy_str(c->tab_field, sizeof(c->tab_field), "file_descriptors");
	copy_str(c->nested_field, sizeof(c->nested_field), "fd");
	c->nested_type = SS_PLUGIN_ST_INT64;
	c->do_export = 1;
	copy_str(c->counter_field, sizeof(c->counter_field), "ct_counter");
	c->counter_key_type = SS_PLUGIN_ST_UINT64;
	c->counter_iters = 1000;
	c->event_types[0] = 3;
	c->n_event_types = 1;
	c->hammer_threads = 2;
	c->hammer_keys = 16;

	char* dup = xstrdup(text);
	int ok = 1;
	char* save = NULL;
	for (char* item = strtok_r(dup, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		while (*item == ' ' || *item == '\n' || *item == '\t') item++;
		if (!*item) continue;
		char* eq = strchr(item, '=');
		if (!eq) {
			set_error("bad config item (no '='): %s", item);
			ok = 0;
			break;
		}
		*eq = 0;
		const char* k = item;
		const char* v = eq + 1;
		if (strcmp(k, "import") == 0) c->do_import = atoi(v);
		else if (strcmp(k, "table") == 0) copy_str(c->table, sizeof(c->table), v);
		else if (strcmp(k, "key") == 0) c->key = strtoll(v, NULL, 0);
		else if (strcmp(k, "str_field") == 0) copy_str(c->str_field, sizeof(c->str_field), v);
		else if (strcmp(k, "ro_field") == 0) copy_str(c->ro_field, sizeof(c->ro_field), v);
		else if (strcmp(k, "tab_field") == 0) copy_str(c->tab_field, sizeof(c->tab_field), v);
		else if (strcmp(k, "nested_field") == 0) copy_str(c->nested_field, sizeof(c->nested_field), v);
		else if (strcmp(k, "export") == 0) c->do_export = atoi(v);
		else if (strcmp(k, "selftest") == 0) c->selftest = strcmp(v, "once") == 0 ? 2 : atoi(v) ? 1 : 0;
		else if (strcmp(k, "count") == 0) c->count = atoi(v);
		else if (strcmp(k, "counter_table") == 0) copy_str(c->counter_table, sizeof(c->counter_table), v);
		else if (strcmp(k, "counter_field") == 0) copy_str(c->counter_field, sizeof(c->counter_field), v);
		else if (strcmp(k, "counter_key") == 0) c->counter_key = strtoull(v, NULL, 0);
		else if (strcmp(k, "counter_iters") == 0) c->counter_iters = strtoull(v, NULL, 0);
		else if (strcmp(k, "fail_init") == 0) c->fail_init = atoi(v);
		else if (strcmp(k, "types") == 0) c->types = atoi(v);
		else if (strcmp(k, "badinput") == 0) c->badinput = atoi(v);
		else if (strcmp(k, "sample_nested") == 0) c->sample_nested = atoi(v);
		else if (strcmp(k, "hammer_table") == 0) copy_str(c->hammer_table, sizeof(c->hammer_table), v);
		else if (strcmp(k, "hammer_threads") == 0) c->hammer_threads = (uint32_t)strtoul(v, NULL, 0);
		else if (strcmp(k, "hammer_keys") == 0) c->hammer_keys = (uint32_t)strtoul(v, NULL, 0);
		else if (strcmp(k, "key_type") == 0 || strcmp(k, "nested_type") == 0 ||
		         strcmp(k, "counter_key_type") == 0) {
			ss_plugin_state_type t;
			if (!parse_state_type(v, &t)) {
				set_error("bad state type for %s: %s", k, v);
				ok = 0;
				break;
			}
			if (k[0] == 'k') c->key_type = t;
			else if (k[0] == 'n') c->nested_type = t;
			else c->counter_key_type = t;
		} else if (strcmp(k, "event_types") == 0) {
			c->n_event_types = 0;
			char* s2 = NULL;
			char* vv = xstrdup(v);
			for (char* tok = strtok_r(vv, ",", &s2); tok && c->n_event_types < MAX_EVENT_TYPES;
			     tok = strtok_r(NULL, ",", &s2))
				c->event_types[c->n_event_types++] = (uint16_t)atoi(tok);
			free(vv);
		} else {
			set_error("unknown config key: %s", k);
			ok = 0;
			break;
		}
	}
	free(dup);
	return ok;
}

/* ============================================================================================== */
/* check recording                                                                                */
/* ============================================================================================== */

static const char* owner_error(plugin_state* ps)
{
	return ps->owner_err ? ps->owner_err(ps->owner) : NULL;
}

/* Record one check. want_err: also record the host's owner error (read now). */
static void rec(plugin_state* ps, const char* name, int ok, int64_t rc, const char* detail, int want_err)
{
	strbuf* sb = &ps->checks;
	if (ps->nchecks) sb_add(sb, ",");
	sb_add(sb, "{\"phase\":");
	sb_json(sb, ps->phase);
	sb_add(sb, ",\"name\":");
	sb_json(sb, name);
	sb_printf(sb, ",\"ok\":%s,\"rc\":%" PRId64 ",\"detail\":", ok ? "true" : "false", rc);
	sb_json(sb, detail);
	sb_add(sb, ",\"err\":");
	sb_json(sb, want_err ? owner_error(ps) : NULL);
	sb_add(sb, "}");
	ps->nchecks++;
	if (!ok) ps->nfailed++;
}

static void recf(plugin_state* ps, const char* name, int ok, int64_t rc, int want_err, const char* fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void recf(plugin_state* ps, const char* name, int ok, int64_t rc, int want_err, const char* fmt, ...)
{
	char detail[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	rec(ps, name, ok, rc, detail, want_err);
}

static void log_msg(plugin_state* ps, ss_plugin_log_severity sev, const char* component, const char* msg)
{
	if (ps->log_fn) ps->log_fn(ps->owner, component, msg, sev);
}

static ss_plugin_state_data key_of(ss_plugin_state_type t, int64_t k)
{
	ss_plugin_state_data d;
	memset(&d, 0, sizeof(d));
	if (t == SS_PLUGIN_ST_UINT64)
		d.u64 = (uint64_t)k;
	else
		d.s64 = k;
	return d;
}

static const char* type_name(ss_plugin_state_type t)
{
	switch (t) {
	case SS_PLUGIN_ST_INT8: return "int8";
	case SS_PLUGIN_ST_INT16: return "int16";
	case SS_PLUGIN_ST_INT32: return "int32";
	case SS_PLUGIN_ST_INT64: return "int64";
	case SS_PLUGIN_ST_UINT8: return "uint8";
	case SS_PLUGIN_ST_UINT16: return "uint16";
	case SS_PLUGIN_ST_UINT32: return "uint32";
	case SS_PLUGIN_ST_UINT64: return "uint64";
	case SS_PLUGIN_ST_STRING: return "string";
	case SS_PLUGIN_ST_TABLE: return "table";
	case SS_PLUGIN_ST_BOOL: return "bool";
	default: return "?";
	}
}

/* ============================================================================================== */
/* init-phase checks                                                                              */
/* ============================================================================================== */

static void init_checks_import(plugin_state* ps, const ss_plugin_init_tables_input* ti)
{
	config* c = &ps->cfg;
	const ss_plugin_table_fields_vtable_ext* fv = ti->fields_ext;
	const ss_plugin_table_reader_vtable_ext* rv = ti->reader_ext;
	const ss_plugin_table_writer_vtable_ext* wv = ti->writer_ext;
	ss_plugin_table_field_t* f;
	strbuf tmp = {0};

	/* registry */
	uint32_t ntables = 0;
	ss_plugin_table_info* infos = ti->list_tables(ps->owner, &ntables);
	int found = 0;
	for (uint32_t i = 0; infos && i < ntables; i++) {
		if (i) sb_add(&tmp, ",");
		sb_printf(&tmp, "%s:%s", infos[i].name, type_name(infos[i].key_type));
		if (strcmp(infos[i].name, c->table) == 0 && infos[i].key_type == c->key_type) found = 1;
	}
	rec(ps, "list_tables", infos != NULL && found, ntables, tmp.buf ? tmp.buf : "", 0);
	tmp.len = 0;

	ps->tbl = ti->get_table(ps->owner, c->table, c->key_type);
	rec(ps, "get_table", ps->tbl != NULL, ps->tbl != NULL, c->table, ps->tbl == NULL);
	ss_plugin_state_type wrong = c->key_type == SS_PLUGIN_ST_INT64 ? SS_PLUGIN_ST_UINT64 : SS_PLUGIN_ST_INT64;
	ss_plugin_table_t* h = ti->get_table(ps->owner, c->table, wrong);
	rec(ps, "get_table.wrong_key_type", h == NULL, h != NULL, type_name(wrong), 1);
	h = ti->get_table(ps->owner, "ct_no_such_table", c->key_type);
	rec(ps, "get_table.unknown_table", h == NULL, h != NULL, "ct_no_such_table", 1);
	h = ti->get_table(ps->owner, c->table, (ss_plugin_state_type)99);
	rec(ps, "get_table.unknown_state_type", h == NULL, h != NULL, "99", 1);
	h = ti->get_table(ps->owner, c->table, SS_PLUGIN_ST_TABLE);
	rec(ps, "get_table.table_key_type", h == NULL, h != NULL, "table", 1);
	if (!ps->tbl) {
		sb_free(&tmp);
		return;
	}

	/* fields */
	uint32_t nf = 0;
	const ss_plugin_table_fieldinfo* fi = fv->list_table_fields(ps->tbl, &nf);
	found = 0;
	for (uint32_t i = 0; fi && i < nf; i++) {
		if (i) sb_add(&tmp, ",");
		sb_printf(&tmp, "%s:%s:%s", fi[i].name, type_name(fi[i].field_type), fi[i].read_only ? "ro" : "rw");
		if (strcmp(fi[i].name, c->str_field) == 0 && fi[i].field_type == SS_PLUGIN_ST_STRING) found = 1;
	}
	rec(ps, "list_table_fields", fi != NULL && found, nf, tmp.buf ? tmp.buf : "", 0);
	tmp.len = 0;

	ps->f_str = fv->get_table_field(ps->tbl, c->str_field, SS_PLUGIN_ST_STRING);
	rec(ps, "get_table_field", ps->f_str != NULL, ps->f_str != NULL, c->str_field, ps->f_str == NULL);
	f = fv->get_table_field(ps->tbl, c->str_field, SS_PLUGIN_ST_UINT64);
	rec(ps, "get_table_field.wrong_type", f == NULL, f != NULL, c->str_field, 1);
	f = fv->get_table_field(ps->tbl, "ct_no_such_field", SS_PLUGIN_ST_UINT64);
	rec(ps, "get_table_field.unknown_field", f == NULL, f != NULL, "ct_no_such_field", 1);
	ps->f_ro = fv->get_table_field(ps->tbl, c->ro_field, SS_PLUGIN_ST_STRING);
	rec(ps, "get_table_field.read_only", ps->f_ro != NULL, ps->f_ro != NULL, c->ro_field, ps->f_ro == NULL);
	ps->f_tab = fv->get_table_field(ps->tbl, c->tab_field, SS_PLUGIN_ST_TABLE);
	rec(ps, "get_table_field.table", ps->f_tab != NULL, ps->f_tab != NULL, c->tab_field, ps->f_tab == NULL);

	ps->f_counter = fv->add_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_UINT64);
	rec(ps, "add_table_field", ps->f_counter != NULL, ps->f_counter != NULL, "ct_counter",
	    ps->f_counter == NULL);
	f = fv->add_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_UINT64);
	rec(ps, "add_table_field.idempotent", f != NULL && f == ps->f_counter, f != NULL, "ct_counter", f == NULL);
	f = fv->add_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_STRING);
	rec(ps, "add_table_field.type_conflict", f == NULL, f != NULL, "ct_counter", 1);
	f = fv->add_table_field(ps->tbl, c->str_field, SS_PLUGIN_ST_STRING);
	rec(ps, "add_table_field.static_name", f == NULL, f != NULL, c->str_field, 1);
	f = fv->add_table_field(ps->tbl, "ct_tablefield", SS_PLUGIN_ST_TABLE);
	rec(ps, "add_table_field.table_type", f == NULL, f != NULL, "ct_tablefield", 1);
	ps->f_note = fv->add_table_field(ps->tbl, "ct_note", SS_PLUGIN_ST_STRING);
	rec(ps, "add_table_field.string", ps->f_note != NULL, ps->f_note != NULL, "ct_note", ps->f_note == NULL);
	f = fv->get_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_UINT64);
	rec(ps, "get_table_field.dynamic", f != NULL, f != NULL, "ct_counter", f == NULL);

	/* nested-field discovery through a detached entry: create -> read TABLE -> fields -> destroy */
	if (ps->f_tab && rv && wv) {
		ss_plugin_table_entry_t* tmpe = wv->create_table_entry(ps->tbl);
		rec(ps, "init.create_table_entry", tmpe != NULL, tmpe != NULL, NULL, tmpe == NULL);
		if (tmpe) {
			ss_plugin_state_data out;
			memset(&out, 0, sizeof(out));
			ss_plugin_rc rc = rv->read_entry_field(ps->tbl, tmpe, ps->f_tab, &out);
			rec(ps, "init.read_nested_table", rc == SS_PLUGIN_SUCCESS && out.table != NULL, rc, c->tab_field,
			    rc != SS_PLUGIN_SUCCESS);
			if (rc == SS_PLUGIN_SUCCESS && out.table) {
				ss_plugin_table_t* nt = out.table;
				const char* nname = rv->get_table_name(nt);
				rec(ps, "init.nested.get_table_name", nname != NULL, nname != NULL, nname, nname == NULL);
				uint64_t nsz = rv->get_table_size(nt);
				recf(ps, "init.nested.get_table_size", nsz == 0, (int64_t)nsz, nsz == (uint64_t)-1, "%" PRIu64,
				     nsz);
				ps->f_nested = fv->get_table_field(nt, c->nested_field, c->nested_type);
				rec(ps, "init.nested.get_table_field", ps->f_nested != NULL, ps->f_nested != NULL,
				    c->nested_field, ps->f_nested == NULL);
				ps->f_nested_custom = fv->add_table_field(nt, "ct_custom", SS_PLUGIN_ST_STRING);
				rec(ps, "init.nested.add_table_field", ps->f_nested_custom != NULL, ps->f_nested_custom != NULL,
				    "ct_custom", ps->f_nested_custom == NULL);
				uint32_t nnf = 0;
				const ss_plugin_table_fieldinfo* nfi = fv->list_table_fields(nt, &nnf);
				int has_custom = 0;
				for (uint32_t i = 0; nfi && i < nnf; i++) {
					if (i) sb_add(&tmp, ",");
					sb_printf(&tmp, "%s:%s:%s", nfi[i].name, type_name(nfi[i].field_type),
					          nfi[i].read_only ? "ro" : "rw");
					if (strcmp(nfi[i].name, "ct_custom") == 0) has_custom = 1;
				}
				rec(ps, "init.nested.list_table_fields", nfi != NULL && has_custom, nnf, tmp.buf ? tmp.buf : "",
				    nfi == NULL);
				tmp.len = 0;
			}
			/* detached entries accept writes and read them back */
			if (ps->f_counter) {
				ss_plugin_state_data v;
				memset(&v, 0, sizeof(v));
				v.u64 = 5;
				rc = wv->write_entry_field(ps->tbl, tmpe, ps->f_counter, &v);
				memset(&out, 0, sizeof(out));
				ss_plugin_rc rc2 = rv->read_entry_field(ps->tbl, tmpe, ps->f_counter, &out);
				recf(ps, "init.detached_write_read", rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS &&
				                                         out.u64 == 5,
				     rc, rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS, "%" PRIu64, out.u64);
			}
			wv->destroy_table_entry(ps->tbl, tmpe);
			rec(ps, "init.destroy_table_entry", 1, 0, NULL, 0);
		}
	}
	sb_free(&tmp);
}

static void init_checks_export(plugin_state* ps, const ss_plugin_init_tables_input* ti)
{
	const ss_plugin_table_fields_vtable_ext* fv = ti->fields_ext;
	sample_fill_input(&ps->sample_input, &ps->sample);
	ss_plugin_rc rc = ti->add_table(ps->owner, &ps->sample_input);
	rec(ps, "add_table", rc == SS_PLUGIN_SUCCESS, rc, "plugin_sample", rc != SS_PLUGIN_SUCCESS);
	rc = ti->add_table(ps->owner, &ps->sample_input);
	rec(ps, "add_table.duplicate", rc == SS_PLUGIN_FAILURE, rc, "plugin_sample", 1);
	rc = ti->add_table(ps->owner, NULL);
	rec(ps, "add_table.null_input", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);

	ss_plugin_table_input bad = ps->sample_input;
	bad.name = NULL;
	rc = ti->add_table(ps->owner, &bad);
	rec(ps, "add_table.null_name", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	bad = ps->sample_input;
	bad.name = "ct_bad_key_type";
	bad.key_type = (ss_plugin_state_type)99;
	rc = ti->add_table(ps->owner, &bad);
	rec(ps, "add_table.bad_key_type", rc == SS_PLUGIN_FAILURE, rc, bad.name, 1);
	bad = ps->sample_input;
	bad.name = "ct_bad_no_ext";
	bad.reader_ext = NULL;
	rc = ti->add_table(ps->owner, &bad);
	rec(ps, "add_table.missing_ext", rc == SS_PLUGIN_FAILURE, rc, bad.name, 1);
	bad = ps->sample_input;
	bad.name = "ct_bad_legacy";
	bad.reader.get_table_name = sample_get_name_alt;
	rc = ti->add_table(ps->owner, &bad);
	rec(ps, "add_table.inconsistent_legacy", rc == SS_PLUGIN_FAILURE, rc, bad.name, 1);

	/* our own table, through the host */
	ps->sample_h = ti->get_table(ps->owner, "plugin_sample", SS_PLUGIN_ST_UINT64);
	rec(ps, "get_table.own_table", ps->sample_h != NULL, ps->sample_h != NULL, "plugin_sample",
	    ps->sample_h == NULL);
	if (!ps->sample_h) return;
	ps->f_sample_u64 = fv->get_table_field(ps->sample_h, "u64_val", SS_PLUGIN_ST_UINT64);
	rec(ps, "own.get_table_field", ps->f_sample_u64 != NULL, ps->f_sample_u64 != NULL, "u64_val",
	    ps->f_sample_u64 == NULL);
	ps->f_sample_str = fv->add_table_field(ps->sample_h, "str_val", SS_PLUGIN_ST_STRING);
	rec(ps, "own.add_table_field", ps->f_sample_str != NULL, ps->f_sample_str != NULL, "str_val",
	    ps->f_sample_str == NULL);
	ss_plugin_table_field_t* f = fv->add_table_field(ps->sample_h, "u64_val", SS_PLUGIN_ST_STRING);
	rec(ps, "own.add_table_field.type_conflict", f == NULL, f != NULL, "u64_val", 1);
	f = fv->get_table_field(ps->sample_h, "ct_nope", SS_PLUGIN_ST_UINT64);
	rec(ps, "own.get_table_field.unknown_field", f == NULL, f != NULL, "ct_nope", 1);
	uint32_t nf = 0;
	const ss_plugin_table_fieldinfo* fi = fv->list_table_fields(ps->sample_h, &nf);
	recf(ps, "own.list_table_fields", fi != NULL && nf == (ps->cfg.sample_nested ? 3u : 2u), nf, fi == NULL, "%s,%s",
	     fi && nf > 0 ? fi[0].name : "", fi && nf > 1 ? fi[1].name : "");
}

/* ---- types=1: every state type ------------------------------------------------------------------ */

typedef struct type_case {
	const char* field;
	ss_plugin_state_type type;
} type_case;

static const type_case g_types[11] = {
    {"ct_t_int8", SS_PLUGIN_ST_INT8},     {"ct_t_int16", SS_PLUGIN_ST_INT16},   {"ct_t_int32", SS_PLUGIN_ST_INT32},
    {"ct_t_int64", SS_PLUGIN_ST_INT64},   {"ct_t_uint8", SS_PLUGIN_ST_UINT8},   {"ct_t_uint16", SS_PLUGIN_ST_UINT16},
    {"ct_t_uint32", SS_PLUGIN_ST_UINT32}, {"ct_t_uint64", SS_PLUGIN_ST_UINT64}, {"ct_t_bool", SS_PLUGIN_ST_BOOL},
    {"ct_t_string", SS_PLUGIN_ST_STRING}, {"ct_t_string2", SS_PLUGIN_ST_STRING},
};

static void init_checks_types(plugin_state* ps, const ss_plugin_init_tables_input* ti)
{
	int ok = 1;
	for (int i = 0; i < 11; i++) {
		ps->f_types[i] = ti->fields_ext->add_table_field(ps->tbl, g_types[i].field, g_types[i].type);
		if (!ps->f_types[i]) ok = 0;
	}
	rec(ps, "types.add_table_field", ok, ok, NULL, !ok);
}

/* Two values per type: the extremes of each integer type, 0/1 for bool (written as 7: must read 1),
 * an empty string and a non-ASCII one. */
static void selftest_types(plugin_state* ps, const ss_plugin_table_reader_vtable_ext* r,
                           const ss_plugin_table_writer_vtable_ext* w, ss_plugin_table_entry_t* e)
{
	static const char* const strs[2] = {"", "h\xc3\xa9llo w\xc3\xb6rld"};
	for (int i = 0; i < 11; i++) {
		ss_plugin_table_field_t* f = ps->f_types[i];
		if (!f) continue;
		char detail[256];
		detail[0] = 0;
		int ok = 1;
		for (int j = 0; j < 2; j++) {
			ss_plugin_state_data v, out;
			memset(&v, 0, sizeof(v));
			switch (g_types[i].type) {
			case SS_PLUGIN_ST_INT8: v.s8 = j ? INT8_MAX : INT8_MIN; break;
			case SS_PLUGIN_ST_INT16: v.s16 = j ? INT16_MAX : INT16_MIN; break;
			case SS_PLUGIN_ST_INT32: v.s32 = j ? INT32_MAX : INT32_MIN; break;
			case SS_PLUGIN_ST_INT64: v.s64 = j ? INT64_MAX : INT64_MIN; break;
			case SS_PLUGIN_ST_UINT8: v.u8 = j ? UINT8_MAX : 0; break;
			case SS_PLUGIN_ST_UINT16: v.u16 = j ? UINT16_MAX : 0; break;
			case SS_PLUGIN_ST_UINT32: v.u32 = j ? UINT32_MAX : 0; break;
			case SS_PLUGIN_ST_UINT64: v.u64 = j ? UINT64_MAX : 0; break;
			case SS_PLUGIN_ST_BOOL: v.b = j ? 7 : 0; break;
			default: v.str = i == 9 ? strs[j] : (j ? NULL : strs[1]); break; /* ct_t_string2: NULL -> "" */
			}
			ss_plugin_rc rc = w->write_entry_field(ps->tbl, e, f, &v);
			memset(&out, 0, sizeof(out));
			ss_plugin_rc rc2 = r->read_entry_field(ps->tbl, e, f, &out);
			if (rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS) {
				ok = 0;
				continue;
			}
			char one[96];
			switch (g_types[i].type) {
			case SS_PLUGIN_ST_INT8: ok &= out.s8 == v.s8; snprintf(one, sizeof(one), "%d", out.s8); break;
			case SS_PLUGIN_ST_INT16: ok &= out.s16 == v.s16; snprintf(one, sizeof(one), "%d", out.s16); break;
			case SS_PLUGIN_ST_INT32: ok &= out.s32 == v.s32; snprintf(one, sizeof(one), "%" PRId32, out.s32); break;
			case SS_PLUGIN_ST_INT64: ok &= out.s64 == v.s64; snprintf(one, sizeof(one), "%" PRId64, out.s64); break;
			case SS_PLUGIN_ST_UINT8: ok &= out.u8 == v.u8; snprintf(one, sizeof(one), "%u", out.u8); break;
			case SS_PLUGIN_ST_UINT16: ok &= out.u16 == v.u16; snprintf(one, sizeof(one), "%u", out.u16); break;
			case SS_PLUGIN_ST_UINT32: ok &= out.u32 == v.u32; snprintf(one, sizeof(one), "%" PRIu32, out.u32); break;
			case SS_PLUGIN_ST_UINT64: ok &= out.u64 == v.u64; snprintf(one, sizeof(one), "%" PRIu64, out.u64); break;
			case SS_PLUGIN_ST_BOOL: ok &= out.b == (j ? 1u : 0u); snprintf(one, sizeof(one), "%u", out.b); break;
			default:
				ok &= out.str != NULL && strcmp(out.str, v.str ? v.str : "") == 0;
				snprintf(one, sizeof(one), "[%s]", out.str ? out.str : "(null)");
				break;
			}
			if (j) strncat(detail, ",", sizeof(detail) - strlen(detail) - 1);
			strncat(detail, one, sizeof(detail) - strlen(detail) - 1);
		}
		char name[64];
		snprintf(name, sizeof(name), "types.%s", g_types[i].field + 5);
		rec(ps, name, ok, ok, detail, !ok);
	}
}

/* ---- badinput=1 ---------------------------------------------------------------------------------- */

static void init_checks_badinput(plugin_state* ps, const ss_plugin_init_tables_input* ti)
{
	const ss_plugin_table_fields_vtable_ext* fv = ti->fields_ext;
	ss_plugin_table_info* infos = ti->list_tables(ps->owner, NULL);
	rec(ps, "bad.list_tables.null_count", infos == NULL, infos != NULL, NULL, 1);
	ss_plugin_table_t* t = ti->get_table(ps->owner, NULL, SS_PLUGIN_ST_INT64);
	rec(ps, "bad.get_table.null_name", t == NULL, t != NULL, NULL, 1);
	if (!ps->tbl) return;
	const ss_plugin_table_fieldinfo* fi = fv->list_table_fields(ps->tbl, NULL);
	rec(ps, "bad.list_table_fields.null_count", fi == NULL, fi != NULL, NULL, 1);
	ss_plugin_table_field_t* f = fv->get_table_field(ps->tbl, NULL, SS_PLUGIN_ST_STRING);
	rec(ps, "bad.get_table_field.null_name", f == NULL, f != NULL, NULL, 1);
	f = fv->add_table_field(ps->tbl, NULL, SS_PLUGIN_ST_UINT64);
	rec(ps, "bad.add_table_field.null_name", f == NULL, f != NULL, NULL, 1);
	f = fv->get_table_field(ps->tbl, ps->cfg.str_field, (ss_plugin_state_type)99);
	rec(ps, "bad.get_table_field.unknown_type", f == NULL, f != NULL, "99", 1);
	f = fv->add_table_field(ps->tbl, "ct_bad_type", (ss_plugin_state_type)99);
	rec(ps, "bad.add_table_field.unknown_type", f == NULL, f != NULL, "99", 1);
}

/* Runs before any other parse check, so that no nested handle was handed out in this event yet. */
static void selftest_badinput(plugin_state* ps, const ss_plugin_table_reader_vtable_ext* r,
                              const ss_plugin_table_writer_vtable_ext* w)
{
	config* c = &ps->cfg;
	ss_plugin_state_data k = key_of(c->key_type, c->key);
	ss_plugin_state_data v, out;
	ss_plugin_rc rc;
	ss_plugin_table_entry_t* garbage_entry = (ss_plugin_table_entry_t*)(uintptr_t)0x7ffe12345ULL;
	ss_plugin_table_field_t* garbage_field = (ss_plugin_table_field_t*)(uintptr_t)0x7ffedeadbeefULL;

	/* handles kept from the previous event: the host invalidated both when that event returned */
	if (ps->stale_nested) {
		uint64_t n = r->get_table_size(ps->stale_nested);
		recf(ps, "bad.stale_nested_handle", n == (uint64_t)-1, (int64_t)n, 1, "%" PRIu64, n);
	}
	if (ps->stale_entry) {
		memset(&out, 0, sizeof(out));
		rc = r->read_entry_field(ps->tbl, ps->stale_entry, ps->f_str, &out);
		rec(ps, "bad.stale_entry", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
		r->release_table_entry(ps->tbl, ps->stale_entry); /* never acquired any more: ignored */
	}

	ss_plugin_table_entry_t* e = r->get_table_entry(ps->tbl, NULL);
	rec(ps, "bad.get_table_entry.null_key", e == NULL, e != NULL, NULL, 1);
	e = r->get_table_entry(ps->tbl, &k);
	rec(ps, "bad.get_table_entry", e != NULL, e != NULL, NULL, e == NULL);
	if (!e) return;

	rc = r->read_entry_field(ps->tbl, e, ps->f_str, NULL);
	rec(ps, "bad.read_entry_field.null_out", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	memset(&out, 0, sizeof(out));
	rc = r->read_entry_field(ps->tbl, garbage_entry, ps->f_str, &out);
	rec(ps, "bad.read_entry_field.garbage_entry", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	rc = r->read_entry_field(ps->tbl, NULL, ps->f_str, &out);
	rec(ps, "bad.read_entry_field.null_entry", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	rc = r->read_entry_field(ps->tbl, e, garbage_field, &out);
	rec(ps, "bad.read_entry_field.garbage_accessor", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	rc = w->write_entry_field(ps->tbl, e, ps->f_counter, NULL);
	rec(ps, "bad.write_entry_field.null_value", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	memset(&v, 0, sizeof(v));
	rc = w->write_entry_field(ps->tbl, garbage_entry, ps->f_counter, &v);
	rec(ps, "bad.write_entry_field.garbage_entry", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	ss_plugin_bool b = r->iterate_entries(ps->tbl, NULL, NULL);
	rec(ps, "bad.iterate_entries.null_iterator", b == 0, b, NULL, 1);
	r->release_table_entry(ps->tbl, garbage_entry);
	r->release_table_entry(ps->tbl, NULL);
	rec(ps, "bad.release_table_entry.garbage", 1, 0, NULL, 0);
	w->destroy_table_entry(ps->tbl, garbage_entry);
	rec(ps, "bad.destroy_table_entry.garbage", 1, 0, NULL, 1);
	ss_plugin_table_entry_t* a = w->add_table_entry(ps->tbl, &k, NULL);
	rec(ps, "bad.add_table_entry.null_entry", a == NULL, a != NULL, NULL, 1);
	rc = w->erase_table_entry(ps->tbl, NULL);
	rec(ps, "bad.erase_table_entry.null_key", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	uint64_t n = r->get_table_size(NULL);
	rec(ps, "bad.get_table_size.null_table", n == (uint64_t)-1, (int64_t)n, NULL, 0);

	/* the access matrix: field management is for init only */
	if (ps->init_fields) {
		ss_plugin_table_field_t* f = ps->init_fields->add_table_field(ps->tbl, "ct_late", SS_PLUGIN_ST_UINT64);
		rec(ps, "access.add_table_field.parse", f == NULL, f != NULL, NULL, 1);
		f = ps->init_fields->get_table_field(ps->tbl, c->str_field, SS_PLUGIN_ST_STRING);
		rec(ps, "access.get_table_field.parse", f == NULL, f != NULL, NULL, 1);
	}
	r->release_table_entry(ps->tbl, e);
}

/* At the end of a parse event: keep an acquired entry (never released) and a nested handle. */
static void keep_stale_handles(plugin_state* ps, const ss_plugin_table_reader_vtable_ext* r)
{
	ss_plugin_state_data k = key_of(ps->cfg.key_type, ps->cfg.key);
	ps->stale_entry = r->get_table_entry(ps->tbl, &k);
	ps->stale_nested = NULL;
	if (ps->stale_entry && ps->f_tab) {
		ss_plugin_state_data out;
		memset(&out, 0, sizeof(out));
		if (r->read_entry_field(ps->tbl, ps->stale_entry, ps->f_tab, &out) == SS_PLUGIN_SUCCESS)
			ps->stale_nested = out.table;
	}
}

static void init_counter(plugin_state* ps, const ss_plugin_init_tables_input* ti)
{
	config* c = &ps->cfg;
	ps->ctr_tbl = ti->get_table(ps->owner, c->counter_table, c->counter_key_type);
	rec(ps, "counter.get_table", ps->ctr_tbl != NULL, ps->ctr_tbl != NULL, c->counter_table,
	    ps->ctr_tbl == NULL);
	if (!ps->ctr_tbl) return;
	ps->ctr_field = ti->fields_ext->get_table_field(ps->ctr_tbl, c->counter_field, SS_PLUGIN_ST_UINT64);
	if (!ps->ctr_field)
		ps->ctr_field = ti->fields_ext->add_table_field(ps->ctr_tbl, c->counter_field, SS_PLUGIN_ST_UINT64);
	rec(ps, "counter.field", ps->ctr_field != NULL, ps->ctr_field != NULL, c->counter_field,
	    ps->ctr_field == NULL);
}

/* ============================================================================================== */
/* parse-phase self-test                                                                          */
/* ============================================================================================== */

typedef struct iter_ctx {
	uint64_t visited;
	uint64_t stop_after; /* 0: never stop */
} iter_ctx;

static ss_plugin_bool count_iter(ss_plugin_table_iterator_state_t* s, ss_plugin_table_entry_t* e)
{
	iter_ctx* ic = s;
	if (!e) return 0;
	ic->visited++;
	return (ic->stop_after && ic->visited >= ic->stop_after) ? 0 : 1;
}

static void selftest_host_table(plugin_state* ps, const ss_plugin_table_reader_vtable_ext* r,
                                const ss_plugin_table_writer_vtable_ext* w)
{
	config* c = &ps->cfg;
	ss_plugin_state_data k = key_of(c->key_type, c->key);
	ss_plugin_state_data v, out;
	ss_plugin_rc rc, rc2;

	const char* name = r->get_table_name(ps->tbl);
	rec(ps, "get_table_name", name && strcmp(name, c->table) == 0, name != NULL, name, name == NULL);
	uint64_t n0 = r->get_table_size(ps->tbl);
	recf(ps, "get_table_size", n0 != (uint64_t)-1, (int64_t)n0, n0 == (uint64_t)-1, "%" PRIu64, n0);

	ss_plugin_table_entry_t* e = r->get_table_entry(ps->tbl, &k);
	recf(ps, "get_table_entry", e != NULL, e != NULL, e == NULL, "%" PRId64, c->key);
	if (!e) return;

	memset(&out, 0, sizeof(out));
	rc = r->read_entry_field(ps->tbl, e, ps->f_str, &out);
	rec(ps, "read_entry_field.string", rc == SS_PLUGIN_SUCCESS && out.str != NULL, rc,
	    rc == SS_PLUGIN_SUCCESS ? out.str : NULL, rc != SS_PLUGIN_SUCCESS);

	memset(&out, 0, sizeof(out));
	rc = r->read_entry_field(ps->tbl, e, ps->f_counter, &out);
	uint64_t before = out.u64;
	recf(ps, "read_entry_field.dynamic", rc == SS_PLUGIN_SUCCESS, rc, rc != SS_PLUGIN_SUCCESS, "%" PRIu64, before);

	memset(&v, 0, sizeof(v));
	v.u64 = before + 1;
	rc = w->write_entry_field(ps->tbl, e, ps->f_counter, &v);
	memset(&out, 0, sizeof(out));
	rc2 = r->read_entry_field(ps->tbl, e, ps->f_counter, &out);
	recf(ps, "write_entry_field.dynamic", rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS && out.u64 == before + 1,
	     rc, rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS, "%" PRIu64, out.u64);

	memset(&v, 0, sizeof(v));
	char note[64];
	snprintf(note, sizeof(note), "ct-note-%" PRIu64, ps->nevents);
	v.str = note;
	rc = w->write_entry_field(ps->tbl, e, ps->f_note, &v);
	memset(note, 'X', sizeof(note) - 1); /* the owner must have copied the string */
	memset(&out, 0, sizeof(out));
	rc2 = r->read_entry_field(ps->tbl, e, ps->f_note, &out);
	char want[64];
	snprintf(want, sizeof(want), "ct-note-%" PRIu64, ps->nevents);
	rec(ps, "write_entry_field.string",
	    rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS && out.str && strcmp(out.str, want) == 0, rc,
	    rc2 == SS_PLUGIN_SUCCESS ? out.str : NULL, rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS);

	memset(&v, 0, sizeof(v));
	v.str = NULL;
	rc = w->write_entry_field(ps->tbl, e, ps->f_note, &v);
	memset(&out, 0, sizeof(out));
	rc2 = r->read_entry_field(ps->tbl, e, ps->f_note, &out);
	rec(ps, "write_entry_field.null_string",
	    rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS && out.str && out.str[0] == 0, rc,
	    rc2 == SS_PLUGIN_SUCCESS ? out.str : NULL, rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS);

	if (ps->f_ro) {
		memset(&v, 0, sizeof(v));
		v.str = "ct-forbidden";
		rc = w->write_entry_field(ps->tbl, e, ps->f_ro, &v);
		rec(ps, "write_entry_field.read_only", rc == SS_PLUGIN_FAILURE, rc, c->ro_field, 1);
	}
	if (ps->f_tab) {
		memset(&v, 0, sizeof(v));
		rc = w->write_entry_field(ps->tbl, e, ps->f_tab, &v);
		rec(ps, "write_entry_field.table", rc == SS_PLUGIN_FAILURE, rc, c->tab_field, 1);

		memset(&out, 0, sizeof(out));
		rc = r->read_entry_field(ps->tbl, e, ps->f_tab, &out);
		rec(ps, "read_entry_field.table", rc == SS_PLUGIN_SUCCESS && out.table != NULL, rc, c->tab_field,
		    rc != SS_PLUGIN_SUCCESS);
		if (rc == SS_PLUGIN_SUCCESS && out.table) {
			ss_plugin_table_t* nt = out.table;
			uint64_t nsz = r->get_table_size(nt);
			recf(ps, "nested.get_table_size", nsz != (uint64_t)-1, (int64_t)nsz, nsz == (uint64_t)-1,
			     "%" PRIu64, nsz);
			iter_ctx ic = {0, 0};
			ss_plugin_bool b = r->iterate_entries(nt, count_iter, &ic);
			recf(ps, "nested.iterate_entries", b == 1 && ic.visited == nsz, b, b != 1, "%" PRIu64, ic.visited);
		}
	}
	if (ps->f_nested) {
		/* an accessor of the nested table used on a parent entry: the project's owner refuses it */
		memset(&out, 0, sizeof(out));
		rc = r->read_entry_field(ps->tbl, e, ps->f_nested, &out);
		rec(ps, "read_entry_field.foreign_accessor", rc == SS_PLUGIN_FAILURE, rc, c->nested_field, 1);
	}
	memset(&out, 0, sizeof(out));
	rc = r->read_entry_field(ps->tbl, e, NULL, &out);
	rec(ps, "read_entry_field.null_accessor", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);

	/* misses */
	int64_t missing = 0x7ffffff0;
	ss_plugin_state_data mk = key_of(c->key_type, missing);
	ss_plugin_table_entry_t* m = r->get_table_entry(ps->tbl, &mk);
	recf(ps, "get_table_entry.missing", m == NULL, m != NULL, 1, "%" PRId64, missing);
	if (m) r->release_table_entry(ps->tbl, m);
	rc = w->erase_table_entry(ps->tbl, &mk);
	recf(ps, "erase_table_entry.missing", rc == SS_PLUGIN_FAILURE, rc, 1, "%" PRId64, missing);

	/* create -> write -> add -> read -> release -> erase */
	int64_t newkey = 0x7ffffff1;
	ss_plugin_state_data nk = key_of(c->key_type, newkey);
	ss_plugin_table_entry_t* d = w->create_table_entry(ps->tbl);
	rec(ps, "create_table_entry", d != NULL, d != NULL, NULL, d == NULL);
	if (d) {
		memset(&v, 0, sizeof(v));
		v.u64 = 7;
		rc = w->write_entry_field(ps->tbl, d, ps->f_counter, &v);
		rec(ps, "write_entry_field.detached", rc == SS_PLUGIN_SUCCESS, rc, NULL, rc != SS_PLUGIN_SUCCESS);
		ss_plugin_table_entry_t* a = w->add_table_entry(ps->tbl, &nk, d);
		recf(ps, "add_table_entry", a != NULL, a != NULL, a == NULL, "%" PRId64, newkey);
		uint64_t n1 = r->get_table_size(ps->tbl);
		recf(ps, "add_table_entry.size", n1 == n0 + 1, (int64_t)n1, 0, "%" PRIu64, n1);
		if (a) {
			memset(&out, 0, sizeof(out));
			rc = r->read_entry_field(ps->tbl, a, ps->f_counter, &out);
			recf(ps, "add_table_entry.read_back", rc == SS_PLUGIN_SUCCESS && out.u64 == 7, rc,
			     rc != SS_PLUGIN_SUCCESS, "%" PRIu64, out.u64);
			r->release_table_entry(ps->tbl, a);
		}
		rc = w->erase_table_entry(ps->tbl, &nk);
		rec(ps, "erase_table_entry", rc == SS_PLUGIN_SUCCESS, rc, NULL, rc != SS_PLUGIN_SUCCESS);
		uint64_t n2 = r->get_table_size(ps->tbl);
		recf(ps, "erase_table_entry.size", n2 == n0, (int64_t)n2, 0, "%" PRIu64, n2);
	}

	/* create -> destroy */
	d = w->create_table_entry(ps->tbl);
	if (d) w->destroy_table_entry(ps->tbl, d);
	rec(ps, "destroy_table_entry", d != NULL, d != NULL, NULL, d == NULL);

	/* foreign entries: an attached entry given to destroy and to add */
	w->destroy_table_entry(ps->tbl, e);
	memset(&out, 0, sizeof(out));
	rc = r->read_entry_field(ps->tbl, e, ps->f_str, &out);
	uint64_t n3 = r->get_table_size(ps->tbl);
	/* err read after the read below would be stale-safe: read it via a separate record first */
	rec(ps, "destroy_table_entry.foreign", rc == SS_PLUGIN_SUCCESS && n3 == n0, rc, NULL, 1);
	ss_plugin_state_data nk2 = key_of(c->key_type, newkey + 1);
	ss_plugin_table_entry_t* a2 = w->add_table_entry(ps->tbl, &nk2, e);
	rec(ps, "add_table_entry.foreign", a2 == NULL, a2 != NULL, NULL, 1);
	if (a2) {
		r->release_table_entry(ps->tbl, a2);
		w->erase_table_entry(ps->tbl, &nk2);
	}

	/* iteration: full, then break-out after one */
	iter_ctx ic = {0, 0};
	ss_plugin_bool b = r->iterate_entries(ps->tbl, count_iter, &ic);
	uint64_t n4 = r->get_table_size(ps->tbl);
	recf(ps, "iterate_entries", b == 1 && ic.visited == n4, b, b != 1, "%" PRIu64, ic.visited);
	iter_ctx ic2 = {0, 1};
	b = r->iterate_entries(ps->tbl, count_iter, &ic2);
	recf(ps, "iterate_entries.break", b == 0 && ic2.visited == 1, b, 0, "%" PRIu64, ic2.visited);

	/* releases: the acquired one, then a stray one (must be a silent no-op) */
	r->release_table_entry(ps->tbl, e);
	rec(ps, "release_table_entry", 1, 0, NULL, 0);
	r->release_table_entry(ps->tbl, e);
	rec(ps, "release_table_entry.stray", 1, 0, NULL, 0);

	/* the same key acquired twice: two handles, two releases */
	ss_plugin_table_entry_t* e1 = r->get_table_entry(ps->tbl, &k);
	ss_plugin_table_entry_t* e2 = r->get_table_entry(ps->tbl, &k);
	rec(ps, "get_table_entry.twice", e1 != NULL && e2 != NULL, (e1 != NULL) + (e2 != NULL), NULL,
	    e1 == NULL || e2 == NULL);
	if (e1) r->release_table_entry(ps->tbl, e1);
	if (e2) r->release_table_entry(ps->tbl, e2);

	/* nested writes, through a detached parent: add, erase, clear */
	if (ps->f_tab && ps->f_nested_custom) {
		ss_plugin_table_entry_t* p = w->create_table_entry(ps->tbl);
		memset(&out, 0, sizeof(out));
		rc = p ? r->read_entry_field(ps->tbl, p, ps->f_tab, &out) : SS_PLUGIN_FAILURE;
		rec(ps, "nested.detached_parent", p && rc == SS_PLUGIN_SUCCESS && out.table, rc, NULL,
		    rc != SS_PLUGIN_SUCCESS);
		if (p && rc == SS_PLUGIN_SUCCESS && out.table) {
			ss_plugin_table_t* nt = out.table;
			int okn = 1;
			for (int64_t i = 0; i < 3; i++) {
				ss_plugin_table_entry_t* ne = w->create_table_entry(nt);
				memset(&v, 0, sizeof(v));
				v.str = "world";
				if (!ne || w->write_entry_field(nt, ne, ps->f_nested_custom, &v) != SS_PLUGIN_SUCCESS) okn = 0;
				ss_plugin_state_data nkey = key_of(c->nested_type, i);
				ss_plugin_table_entry_t* na = ne ? w->add_table_entry(nt, &nkey, ne) : NULL;
				if (!na) okn = 0;
				else r->release_table_entry(nt, na);
			}
			uint64_t ns = r->get_table_size(nt);
			recf(ps, "nested.add_table_entry", okn && ns == 3, (int64_t)ns, !okn, "%" PRIu64, ns);
			ss_plugin_state_data nkey = key_of(c->nested_type, 1);
			rc = w->erase_table_entry(nt, &nkey);
			ns = r->get_table_size(nt);
			recf(ps, "nested.erase_table_entry", rc == SS_PLUGIN_SUCCESS && ns == 2, rc, rc != SS_PLUGIN_SUCCESS,
			     "%" PRIu64, ns);
			rc = w->clear_table(nt);
			ns = r->get_table_size(nt);
			recf(ps, "nested.clear_table", rc == SS_PLUGIN_SUCCESS && ns == 0, rc, rc != SS_PLUGIN_SUCCESS,
			     "%" PRIu64, ns);
		}
		if (p) w->destroy_table_entry(ps->tbl, p);
	}
}

static void selftest_own_table(plugin_state* ps, const ss_plugin_table_reader_vtable_ext* r,
                               const ss_plugin_table_writer_vtable_ext* w)
{
	ss_plugin_table_t* h = ps->sample_h;
	ss_plugin_state_data k, v, out;
	ss_plugin_rc rc;
	memset(&k, 0, sizeof(k));
	k.u64 = 77;

	const char* name = r->get_table_name(h);
	rec(ps, "own.get_table_name", name && strcmp(name, "plugin_sample") == 0, name != NULL, name, name == NULL);
	ss_plugin_table_entry_t* m = r->get_table_entry(h, &k);
	rec(ps, "own.get_table_entry.missing", m == NULL, m != NULL, "77", 1);
	if (m) r->release_table_entry(h, m);

	ss_plugin_table_entry_t* d = w->create_table_entry(h);
	rec(ps, "own.create_table_entry", d != NULL, d != NULL, NULL, d == NULL);
	if (!d) return;
	memset(&v, 0, sizeof(v));
	v.u64 = 11;
	rc = w->write_entry_field(h, d, ps->f_sample_u64, &v);
	memset(&v, 0, sizeof(v));
	v.str = "sample";
	ss_plugin_rc rc2 = w->write_entry_field(h, d, ps->f_sample_str, &v);
	rec(ps, "own.write_entry_field", rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS, rc, NULL,
	    rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS);
	ss_plugin_table_entry_t* a = w->add_table_entry(h, &k, d);
	rec(ps, "own.add_table_entry", a != NULL, a != NULL, NULL, a == NULL);
	if (a) {
		memset(&out, 0, sizeof(out));
		rc = r->read_entry_field(h, a, ps->f_sample_u64, &out);
		uint64_t got = out.u64;
		memset(&out, 0, sizeof(out));
		rc2 = r->read_entry_field(h, a, ps->f_sample_str, &out);
		recf(ps, "own.read_entry_field",
		     rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS && got == 11 && out.str &&
		         strcmp(out.str, "sample") == 0,
		     rc, rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS, "%" PRIu64 ",%s", got,
		     rc2 == SS_PLUGIN_SUCCESS && out.str ? out.str : "(null)");
		r->release_table_entry(h, a);
	}
	uint64_t n = r->get_table_size(h);
	recf(ps, "own.get_table_size", n == 1, (int64_t)n, n == (uint64_t)-1, "%" PRIu64, n);
	iter_ctx ic = {0, 0};
	ss_plugin_bool b = r->iterate_entries(h, count_iter, &ic);
	recf(ps, "own.iterate_entries", b == 1 && ic.visited == n, b, b != 1, "%" PRIu64, ic.visited);
	rc = w->erase_table_entry(h, &k);
	rec(ps, "own.erase_table_entry", rc == SS_PLUGIN_SUCCESS, rc, NULL, rc != SS_PLUGIN_SUCCESS);
	rc = w->erase_table_entry(h, &k);
	rec(ps, "own.erase_table_entry.missing", rc == SS_PLUGIN_FAILURE, rc, "77", 1);
	d = w->create_table_entry(h);
	a = d ? w->add_table_entry(h, &k, d) : NULL;
	if (a) r->release_table_entry(h, a);
	rc = w->clear_table(h);
	n = r->get_table_size(h);
	recf(ps, "own.clear_table", a != NULL && rc == SS_PLUGIN_SUCCESS && n == 0, rc, rc != SS_PLUGIN_SUCCESS,
	     "%" PRIu64, n);
}

/* ============================================================================================== */
/* counter thread (capture_open .. capture_close)                                                 */
/* ============================================================================================== */

static void* counter_thread(void* arg)
{
	plugin_state* ps = arg;
	const config* c = &ps->cfg;
	ss_plugin_state_data k = key_of(c->counter_key_type, (int64_t)c->counter_key);
	for (uint64_t i = 0; i < c->counter_iters && !atomic_load(&ps->thr_stop); i++) {
		ss_plugin_table_entry_t* e = ps->ctr_reader.get_table_entry(ps->ctr_tbl, &k);
		ss_plugin_state_data out, v;
		memset(&out, 0, sizeof(out));
		int ok = e && ps->ctr_reader.read_entry_field(ps->ctr_tbl, e, ps->ctr_field, &out) == SS_PLUGIN_SUCCESS;
		if (ok) {
			memset(&v, 0, sizeof(v));
			v.u64 = out.u64 + 1;
			ok = ps->ctr_writer.write_entry_field(ps->ctr_tbl, e, ps->ctr_field, &v) == SS_PLUGIN_SUCCESS;
		}
		if (e) ps->ctr_reader.release_table_entry(ps->ctr_tbl, e);
		if (ok) {
			atomic_fetch_add(&ps->thr_iterations, 1);
		} else {
			if (atomic_fetch_add(&ps->thr_failures, 1) == 0) {
				const char* err = ps->ctr_owner_err ? ps->ctr_owner_err(ps->owner) : NULL;
				snprintf(ps->thr_error, sizeof(ps->thr_error), "%s", err ? err : "(no owner error)");
			}
		}
	}
	atomic_store(&ps->thr_done, 1);
	return NULL;
}

static void stop_counter_thread(plugin_state* ps)
{
	if (!ps->thr_started) return;
	atomic_store(&ps->thr_stop, 1);
	pthread_join(ps->thr, NULL);
	ps->thr_started = 0;
}

/* ============================================================================================== */
/* hammer threads (capture_open .. capture_close): the `native` stress scenario                   */
/* ============================================================================================== */
/*
 * Each of hammer_threads pthreads loops, through the capture-listen vtables (one entry pin at a
 * time, each read/write call atomic on its own, no lock held between calls -- what the host
 * guarantees for a native entry handle):
 *
 *  1. increment: on its own keys (key % hammer_threads == its index, in turn), read c_count,
 *     write c_count + 1, then write c_x = 3 * (c_count + 1). The thread is the only writer of
 *     c_count and c_x of its keys, so the value it reads must equal the increments it completed
 *     (else: "lost", an update of ours undone by someone). `completed` is bumped after both
 *     writes returned, so a Python reader that loaded it first must see c_count >= it, and
 *     under one read handle c_x is 3 * c_count or 3 * (c_count - 1) (at most one call behind).
 *  2. seqlock read of a Python record (any key): read py_seq, py_a, py_b, py_seq again. Python
 *     writes all three under one write handle and bumps py_seq every time, so if both reads of
 *     py_seq agree no Python write ended in between, and py_a == 3 * py_seq and
 *     py_b == py_seq ^ 0x5555 must hold (else: "torn"). If py_seq moved, the read is retried
 *     later (not checked: four calls are not atomic together).
 */

static void hm_note(plugin_state* ps, char* dst, size_t n, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void hm_note(plugin_state* ps, char* dst, size_t n, const char* fmt, ...)
{
	pthread_mutex_lock(&ps->hm_mu);
	if (!dst[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(dst, n, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&ps->hm_mu);
}

static void hm_fail(plugin_state* ps, const char* what, uint64_t key)
{
	if (atomic_fetch_add(&ps->hm_failures, 1) != 0) return;
	const char* err = ps->hm_owner_err ? ps->hm_owner_err(ps->hm_owner) : NULL;
	hm_note(ps, ps->hm_error, sizeof(ps->hm_error), "%s (key %" PRIu64 "): %s", what, key,
	        err ? err : "(no owner error)");
}

static int hm_read(plugin_state* ps, ss_plugin_table_entry_t* e, ss_plugin_table_field_t* f, uint64_t* out)
{
	ss_plugin_state_data d;
	memset(&d, 0, sizeof(d));
	atomic_fetch_add(&ps->hm_calls, 1);
	if (ps->hm_reader.read_entry_field(ps->hm_tbl, e, f, &d) != SS_PLUGIN_SUCCESS) return 0;
	*out = d.u64;
	return 1;
}

static int hm_write(plugin_state* ps, ss_plugin_table_entry_t* e, ss_plugin_table_field_t* f, uint64_t v)
{
	ss_plugin_state_data d;
	memset(&d, 0, sizeof(d));
	d.u64 = v;
	atomic_fetch_add(&ps->hm_calls, 1);
	return ps->hm_writer.write_entry_field(ps->hm_tbl, e, f, &d) == SS_PLUGIN_SUCCESS;
}

static ss_plugin_table_entry_t* hm_get(plugin_state* ps, hammer_thread* ht, uint64_t k)
{
	ss_plugin_state_data key;
	memset(&key, 0, sizeof(key));
	key.u64 = k;
	atomic_fetch_add(&ps->hm_calls, 1);
	ss_plugin_table_entry_t* e = ps->hm_reader.get_table_entry(ps->hm_tbl, &key);
	if (e) atomic_fetch_add(&ht->ops, 1);
	else hm_fail(ps, "get_table_entry", k);
	return e;
}

static void hm_release(plugin_state* ps, ss_plugin_table_entry_t* e)
{
	atomic_fetch_add(&ps->hm_calls, 1);
	ps->hm_reader.release_table_entry(ps->hm_tbl, e);
}

static uint64_t xorshift64(uint64_t* s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void hm_increment(plugin_state* ps, hammer_thread* ht, uint64_t k)
{
	ss_plugin_table_entry_t* e = hm_get(ps, ht, k);
	if (!e) return;
	uint64_t v, want = atomic_load(&ps->hm_completed[k]);
	if (!hm_read(ps, e, ps->hm_c_count, &v)) {
		hm_fail(ps, "read_entry_field c_count", k);
	} else {
		if (v != want) {
			atomic_fetch_add(&ps->hm_lost, 1);
			hm_note(ps, ps->hm_lost_first, sizeof(ps->hm_lost_first),
			        "key %" PRIu64 ": its only writer read c_count %" PRIu64 " after completing %" PRIu64
			        " increments",
			        k, v, want);
		}
		if (!hm_write(ps, e, ps->hm_c_count, v + 1)) hm_fail(ps, "write_entry_field c_count", k);
		else if (!hm_write(ps, e, ps->hm_c_x, 3 * (v + 1))) hm_fail(ps, "write_entry_field c_x", k);
		else atomic_fetch_add(&ps->hm_completed[k], 1);
	}
	hm_release(ps, e);
}

static void hm_seq_read(plugin_state* ps, hammer_thread* ht, uint64_t k)
{
	ss_plugin_table_entry_t* e = hm_get(ps, ht, k);
	if (!e) return;
	uint64_t s1, a, b, s2;
	if (hm_read(ps, e, ps->hm_py_seq, &s1) && hm_read(ps, e, ps->hm_py_a, &a) &&
	    hm_read(ps, e, ps->hm_py_b, &b) && hm_read(ps, e, ps->hm_py_seq, &s2)) {
		if (s1 != s2) {
			atomic_fetch_add(&ps->hm_seq_retries, 1);
		} else {
			atomic_fetch_add(&ps->hm_seq_reads, 1);
			if (a != 3 * s1 || b != (s1 ^ 0x5555)) {
				atomic_fetch_add(&ps->hm_torn, 1);
				hm_note(ps, ps->hm_torn_first, sizeof(ps->hm_torn_first),
				        "key %" PRIu64 ": py_seq %" PRIu64 " (read twice), py_a %" PRIu64 ", py_b %" PRIu64, k,
				        s1, a, b);
			}
		}
	} else {
		hm_fail(ps, "read_entry_field py_*", k);
	}
	hm_release(ps, e);
}

static void* hammer_main(void* arg)
{
	hammer_thread* ht = arg;
	plugin_state* ps = ht->ps;
	const uint32_t n = ps->cfg.hammer_threads, nkeys = ps->cfg.hammer_keys;
	uint64_t rng = 0x9E3779B97F4A7C15ull ^ (((uint64_t)ht->index + 1) * 0xBF58476D1CE4E5B9ull);
	uint64_t own = ht->index;
	while (!atomic_load(&ps->hm_stop)) {
		hm_increment(ps, ht, own);
		own += n;
		if (own >= nkeys) own = ht->index;
		hm_seq_read(ps, ht, xorshift64(&rng) % nkeys);
	}
	return NULL;
}

/* At init: the table and its five UINT64 fields. Returns 0 with the error set on failure. */
static int init_hammer(plugin_state* ps, const ss_plugin_init_tables_input* ti)
{
	config* c = &ps->cfg;
	if (c->hammer_threads < 1 || c->hammer_threads > HAMMER_MAX_THREADS) {
		set_error("hammer_threads must be 1..%d, got %u", HAMMER_MAX_THREADS, c->hammer_threads);
		return 0;
	}
	if (c->hammer_keys < c->hammer_threads || c->hammer_keys > HAMMER_MAX_KEYS) {
		set_error("hammer_keys must be hammer_threads..%d, got %u", HAMMER_MAX_KEYS, c->hammer_keys);
		return 0;
	}
	ps->hm_tbl = ti->get_table(ps->owner, c->hammer_table, SS_PLUGIN_ST_UINT64);
	if (!ps->hm_tbl) {
		set_error("hammer: no table '%s' with uint64 keys", c->hammer_table);
		return 0;
	}
	struct {
		const char* name;
		ss_plugin_table_field_t** f;
	} fields[] = {
	    {"c_count", &ps->hm_c_count}, {"c_x", &ps->hm_c_x}, {"py_seq", &ps->hm_py_seq},
	    {"py_a", &ps->hm_py_a},       {"py_b", &ps->hm_py_b},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		*fields[i].f = ti->fields_ext->get_table_field(ps->hm_tbl, fields[i].name, SS_PLUGIN_ST_UINT64);
		if (!*fields[i].f) {
			const char* err = owner_error(ps);
			set_error("hammer: uint64 field '%s' of '%s': %s", fields[i].name, c->hammer_table, err ? err : "");
			return 0;
		}
	}
	return 1;
}

static void stop_hammer(plugin_state* ps)
{
	atomic_store(&ps->hm_stop, 1);
	for (uint32_t i = 0; i < ps->hm_started; i++) pthread_join(ps->hm_threads[i].thr, NULL);
	ps->hm_started = 0;
}

static int start_hammer(plugin_state* ps, const ss_plugin_capture_listen_input* in)
{
	ps->hm_reader = *in->table_reader_ext;
	ps->hm_writer = *in->table_writer_ext;
	ps->hm_owner_err = in->get_owner_last_error;
	ps->hm_owner = in->owner;
	atomic_store(&ps->hm_stop, 0);
	for (uint32_t i = 0; i < ps->cfg.hammer_threads; i++) {
		hammer_thread* ht = &ps->hm_threads[i];
		ht->ps = ps;
		ht->index = i;
		if (pthread_create(&ht->thr, NULL, hammer_main, ht) != 0) {
			stop_hammer(ps);
			set_error("pthread_create failed (hammer thread %u)", i);
			return 0;
		}
		ps->hm_started = i + 1;
	}
	return 1;
}

/* ============================================================================================== */
/* exported plugin_* symbols                                                                      */
/* ============================================================================================== */

/* Overridable at build time (-DCT_TEST_API_VERSION='"3.0.0"') to test the host's version check. */
#ifndef CT_TEST_API_VERSION
#define CT_TEST_API_VERSION CT_PLUGIN_API_VERSION_STR
#endif

CT_EXPORT const char* plugin_get_required_api_version(void)
{
	return CT_TEST_API_VERSION;
}

CT_EXPORT const char* plugin_get_name(void)
{
#ifdef CT_EXTRACT_ONLY
	return "ct_test_extract";
#else
	return "ct_test_plugin";
#endif
}

CT_EXPORT const char* plugin_get_version(void)
{
	return "0.1.0";
}

CT_EXPORT const char* plugin_get_description(void)
{
	return "concurrent_tables test plugin: exercises the table ABI from C";
}

CT_EXPORT const char* plugin_get_contact(void)
{
	return "concurrent_tables maintainers";
}

CT_EXPORT const char* plugin_get_last_error(ss_plugin_t* s)
{
	(void)s;
	return g_last_error;
}

CT_EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc)
{
	g_last_error[0] = 0;
	plugin_state* ps = calloc(1, sizeof(*ps));
	if (!ps) {
		*rc = SS_PLUGIN_FAILURE;
		return NULL;
	}
	sample_init(&ps->sample);
	pthread_mutex_init(&ps->hm_mu, NULL);
	ps->phase = "init";
	*rc = SS_PLUGIN_FAILURE;
	if (!in) {
		set_error("null init input");
		return ps;
	}
	ps->owner = in->owner;
	ps->owner_err = in->get_owner_last_error;
	ps->log_fn = in->log_fn;
	if (!parse_config(&ps->cfg, in->config ? in->config : "")) return ps;
	if (ps->cfg.sample_nested) sample_add_children_field(&ps->sample);
	if (ps->cfg.fail_init) {
		set_error("init failure requested by config");
		return ps;
	}
	const ss_plugin_init_tables_input* ti = in->tables;
	if (!ti) {
		set_error("no tables input");
		return ps;
	}
	if (!ti->list_tables || !ti->get_table || !ti->add_table || !ti->fields_ext || !ti->reader_ext ||
	    !ti->writer_ext) {
		set_error("incomplete tables input");
		return ps;
	}
	log_msg(ps, SS_PLUGIN_LOG_SEV_INFO, NULL, "initializing");
	ps->init_reader = ti->reader_ext;
	ps->init_writer = ti->writer_ext;
	ps->init_fields = ti->fields_ext;
	if (ps->cfg.do_import) init_checks_import(ps, ti);
	if (ps->cfg.types && ps->tbl) init_checks_types(ps, ti);
	if (ps->cfg.badinput) init_checks_badinput(ps, ti);
	if (ps->cfg.do_export) init_checks_export(ps, ti);
	if (ps->cfg.counter_table[0]) init_counter(ps, ti);
	if (ps->cfg.hammer_table[0] && !init_hammer(ps, ti)) return ps;
	if (ps->cfg.count && !(ps->tbl && ps->f_counter)) {
		set_error("count=1 needs the imported table and its ct_counter field");
		return ps;
	}
	log_msg(ps, SS_PLUGIN_LOG_SEV_DEBUG, "ct_test", "initialized");
	*rc = SS_PLUGIN_SUCCESS;
	return ps;
}

CT_EXPORT void plugin_destroy(ss_plugin_t* s)
{
	plugin_state* ps = s;
	if (!ps) return;
	stop_counter_thread(ps);
	stop_hammer(ps);
	pthread_mutex_destroy(&ps->hm_mu);
	sample_fini(&ps->sample);
	sb_free(&ps->hm_report);
	sb_free(&ps->checks);
	sb_free(&ps->report);
	sb_free(&ps->thr_report);
	free(ps);
}

CT_EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t* s, const ss_plugin_event_input* ev,
                                             const ss_plugin_field_extract_input* in)
{
	plugin_state* ps = s;
	ps->phase = "extract";
	ps->owner = in->owner;
	ps->owner_err = in->get_owner_last_error;
	const ss_plugin_table_reader_vtable_ext* r = in->table_reader_ext;
	rec(ps, "extract.input", r != NULL && in->table_reader.read_entry_field == r->read_entry_field &&
	                             in->table_reader.get_table_entry == r->get_table_entry,
	    in->num_fields, NULL, 0);
	if (!r || !ps->tbl || !ps->f_str) return SS_PLUGIN_SUCCESS;
	ss_plugin_state_data k = key_of(ps->cfg.key_type, ev && ev->evt ? (int64_t)ev->evt->tid : ps->cfg.key);
	ss_plugin_table_entry_t* e = r->get_table_entry(ps->tbl, &k);
	rec(ps, "extract.get_table_entry", e != NULL, e != NULL, NULL, e == NULL);
	if (!e) return SS_PLUGIN_SUCCESS;
	ss_plugin_state_data out;
	memset(&out, 0, sizeof(out));
	ss_plugin_rc rc = r->read_entry_field(ps->tbl, e, ps->f_str, &out);
	rec(ps, "extract.read_entry_field", rc == SS_PLUGIN_SUCCESS && out.str, rc,
	    rc == SS_PLUGIN_SUCCESS ? out.str : NULL, rc != SS_PLUGIN_SUCCESS);
	if (ps->init_writer && ps->f_counter) {
		ss_plugin_state_data v;
		memset(&v, 0, sizeof(v));
		v.u64 = 99;
		rc = ps->init_writer->write_entry_field(ps->tbl, e, ps->f_counter, &v);
		rec(ps, "extract.write_entry_field.denied", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
		ss_plugin_table_entry_t* d = ps->init_writer->create_table_entry(ps->tbl);
		rec(ps, "extract.create_table_entry.denied", d == NULL, d != NULL, NULL, 1);
	}
	r->release_table_entry(ps->tbl, e);
	return SS_PLUGIN_SUCCESS;
}

#ifndef CT_EXTRACT_ONLY

CT_EXPORT uint16_t* plugin_get_parse_event_types(uint32_t* numtypes, ss_plugin_t* s)
{
	plugin_state* ps = s;
	*numtypes = ps->cfg.n_event_types;
	return ps->cfg.event_types;
}

CT_EXPORT const char* plugin_get_parse_event_sources(void)
{
	return "[\"syscall\"]";
}

CT_EXPORT ss_plugin_rc plugin_parse_event(ss_plugin_t* s, const ss_plugin_event_input* ev,
                                          const ss_plugin_event_parse_input* in)
{
	plugin_state* ps = s;
	ps->phase = "parse";
	ps->owner = in->owner;
	ps->owner_err = in->get_owner_last_error;
	const ss_plugin_table_reader_vtable_ext* r = in->table_reader_ext;
	const ss_plugin_table_writer_vtable_ext* w = in->table_writer_ext;
	ss_plugin_rc res = SS_PLUGIN_SUCCESS;

	int run = ps->cfg.selftest == 1 || (ps->cfg.selftest == 2 && ps->nselftests == 0);
	if (run) {
		rec(ps, "event", ev && ev->evt && ev->evtsrc && strcmp(ev->evtsrc, "syscall") == 0, ev ? ev->evt->type : -1,
		    ev ? ev->evtsrc : NULL, 0);
		if (ps->cfg.badinput && ps->tbl && ps->f_str && ps->f_counter) selftest_badinput(ps, r, w);
		if (ps->tbl && ps->f_str && ps->f_counter && ps->f_note) selftest_host_table(ps, r, w);
		if (ps->cfg.types && ps->tbl) {
			ss_plugin_state_data k = key_of(ps->cfg.key_type, ps->cfg.key);
			ss_plugin_table_entry_t* e = r->get_table_entry(ps->tbl, &k);
			if (e) {
				selftest_types(ps, r, w, e);
				r->release_table_entry(ps->tbl, e);
			}
		}
		if (ps->sample_h && ps->f_sample_u64 && ps->f_sample_str) selftest_own_table(ps, r, w);
		if (ps->cfg.badinput && ps->tbl) keep_stale_handles(ps, r);
		ps->nselftests++;
	}
	if (ps->cfg.count) {
		ss_plugin_state_data k = key_of(ps->cfg.key_type, (int64_t)ev->evt->tid);
		ss_plugin_table_entry_t* e = r->get_table_entry(ps->tbl, &k);
		if (!e) {
			const char* err = owner_error(ps);
			set_error("can't get table entry: %s", err ? err : "");
			res = SS_PLUGIN_FAILURE;
		} else {
			ss_plugin_state_data out, v;
			memset(&out, 0, sizeof(out));
			if (r->read_entry_field(ps->tbl, e, ps->f_counter, &out) != SS_PLUGIN_SUCCESS) {
				const char* err = owner_error(ps);
				set_error("can't read field: %s", err ? err : "");
				res = SS_PLUGIN_FAILURE;
			} else {
				memset(&v, 0, sizeof(v));
				v.u64 = out.u64 + 1;
				if (w->write_entry_field(ps->tbl, e, ps->f_counter, &v) != SS_PLUGIN_SUCCESS) {
					const char* err = owner_error(ps);
					set_error("can't write field: %s", err ? err : "");
					res = SS_PLUGIN_FAILURE;
				}
			}
			r->release_table_entry(ps->tbl, e);
		}
	}
	ps->nevents++;
	return res;
}

CT_EXPORT ss_plugin_rc plugin_capture_open(ss_plugin_t* s, const ss_plugin_capture_listen_input* in)
{
	plugin_state* ps = s;
	ps->phase = "capture_open";
	ps->owner = in->owner;
	ps->owner_err = in->get_owner_last_error;
	rec(ps, "capture_open", in->table_reader_ext && in->table_writer_ext, 0, NULL, 0);
	if (ps->cfg.badinput && ps->init_fields && ps->tbl) {
		ss_plugin_table_field_t* f = ps->init_fields->add_table_field(ps->tbl, "ct_late", SS_PLUGIN_ST_UINT64);
		rec(ps, "access.add_table_field.capture_open", f == NULL, f != NULL, NULL, 1);
	}
	if (ps->hm_tbl && !ps->hm_started && !start_hammer(ps, in)) return SS_PLUGIN_FAILURE;
	if (!ps->ctr_tbl || !ps->ctr_field || ps->thr_started) return SS_PLUGIN_SUCCESS;

	ps->ctr_reader = *in->table_reader_ext;
	ps->ctr_writer = *in->table_writer_ext;
	ps->ctr_owner_err = in->get_owner_last_error;
	/* make sure the counter entry exists */
	ss_plugin_state_data k = key_of(ps->cfg.counter_key_type, (int64_t)ps->cfg.counter_key);
	ss_plugin_table_entry_t* e = ps->ctr_reader.get_table_entry(ps->ctr_tbl, &k);
	if (!e) {
		ss_plugin_table_entry_t* d = ps->ctr_writer.create_table_entry(ps->ctr_tbl);
		e = d ? ps->ctr_writer.add_table_entry(ps->ctr_tbl, &k, d) : NULL;
	}
	rec(ps, "counter.entry", e != NULL, e != NULL, NULL, e == NULL);
	if (!e) {
		set_error("can't get or create the counter entry");
		return SS_PLUGIN_FAILURE;
	}
	ps->ctr_reader.release_table_entry(ps->ctr_tbl, e);
	atomic_store(&ps->thr_stop, 0);
	atomic_store(&ps->thr_done, 0);
	atomic_store(&ps->thr_iterations, 0);
	atomic_store(&ps->thr_failures, 0);
	ps->thr_error[0] = 0;
	if (pthread_create(&ps->thr, NULL, counter_thread, ps) != 0) {
		set_error("pthread_create failed");
		return SS_PLUGIN_FAILURE;
	}
	ps->thr_started = 1;
	return SS_PLUGIN_SUCCESS;
}

CT_EXPORT ss_plugin_rc plugin_capture_close(ss_plugin_t* s, const ss_plugin_capture_listen_input* in)
{
	plugin_state* ps = s;
	ps->phase = "capture_close";
	ps->owner = in->owner;
	ps->owner_err = in->get_owner_last_error;
	stop_counter_thread(ps);
	stop_hammer(ps);
	rec(ps, "capture_close", 1, 0, NULL, 0);
	return SS_PLUGIN_SUCCESS;
}

#endif /* CT_EXTRACT_ONLY */

/* ---- extra exports for the tests ----------------------------------------------------------------- */

/* JSON report of every check so far; valid until the next call or plugin_destroy. */
CT_EXPORT const char* ct_test_report(ss_plugin_t* s)
{
	plugin_state* ps = s;
	ps->report.len = 0;
	sb_add(&ps->report, "{\"plugin\":\"ct_test_plugin\",\"checks\":[");
	if (ps->checks.buf) sb_add(&ps->report, ps->checks.buf);
	sb_printf(&ps->report, "],\"total\":%u,\"failed\":%u,\"events\":%" PRIu64 ",\"selftests\":%" PRIu64 "}",
	          ps->nchecks, ps->nfailed, ps->nevents, ps->nselftests);
	return ps->report.buf;
}

/* JSON status of the counter thread; valid until the next call or plugin_destroy. */
CT_EXPORT const char* ct_test_thread_status(ss_plugin_t* s)
{
	plugin_state* ps = s;
	ps->thr_report.len = 0;
	sb_printf(&ps->thr_report,
	          "{\"started\":%s,\"done\":%s,\"iterations\":%llu,\"failures\":%llu,\"target\":%" PRIu64 ",\"error\":",
	          ps->thr_started ? "true" : "false", atomic_load(&ps->thr_done) ? "true" : "false",
	          (unsigned long long)atomic_load(&ps->thr_iterations),
	          (unsigned long long)atomic_load(&ps->thr_failures), ps->cfg.counter_iters);
	sb_json(&ps->thr_report, ps->thr_error[0] ? ps->thr_error : NULL);
	sb_add(&ps->thr_report, "}");
	return ps->thr_report.buf;
}

/* 1 once the counter thread has finished its iterations (or was stopped). */
CT_EXPORT int ct_test_thread_done(ss_plugin_t* s)
{
	plugin_state* ps = s;
	return atomic_load(&ps->thr_done);
}

/* JSON status of the hammer threads; valid until the next call or plugin_destroy. */
CT_EXPORT const char* ct_test_hammer_status(ss_plugin_t* s)
{
	plugin_state* ps = s;
	strbuf* sb = &ps->hm_report;
	sb->len = 0;
	uint64_t increments = 0;
	for (uint32_t k = 0; k < ps->cfg.hammer_keys && k < HAMMER_MAX_KEYS; k++)
		increments += atomic_load(&ps->hm_completed[k]);
	sb_printf(sb, "{\"threads\":%u,\"keys\":%u,\"running\":%u,\"ops\":[", ps->cfg.hammer_threads,
	          ps->cfg.hammer_keys, ps->hm_started);
	for (uint32_t i = 0; i < ps->cfg.hammer_threads && i < HAMMER_MAX_THREADS; i++)
		sb_printf(sb, "%s%llu", i ? "," : "", (unsigned long long)atomic_load(&ps->hm_threads[i].ops));
	sb_printf(sb,
	          "],\"increments\":%" PRIu64 ",\"calls\":%llu,\"seq_reads\":%llu,\"seq_retries\":%llu,"
	          "\"torn\":%llu,\"lost\":%llu,\"failures\":%llu",
	          increments, (unsigned long long)atomic_load(&ps->hm_calls),
	          (unsigned long long)atomic_load(&ps->hm_seq_reads),
	          (unsigned long long)atomic_load(&ps->hm_seq_retries), (unsigned long long)atomic_load(&ps->hm_torn),
	          (unsigned long long)atomic_load(&ps->hm_lost), (unsigned long long)atomic_load(&ps->hm_failures));
	pthread_mutex_lock(&ps->hm_mu);
	sb_add(sb, ",\"torn_first\":");
	sb_json(sb, ps->hm_torn_first[0] ? ps->hm_torn_first : NULL);
	sb_add(sb, ",\"lost_first\":");
	sb_json(sb, ps->hm_lost_first[0] ? ps->hm_lost_first : NULL);
	sb_add(sb, ",\"error\":");
	sb_json(sb, ps->hm_error[0] ? ps->hm_error : NULL);
	pthread_mutex_unlock(&ps->hm_mu);
	sb_add(sb, "}");
	return sb->buf;
}

/* Increments of c_count completed on `key` by the hammer threads (0 for an unknown key). */
CT_EXPORT uint64_t ct_test_hammer_completed(ss_plugin_t* s, uint64_t key)
{
	plugin_state* ps = s;
	return key < HAMMER_MAX_KEYS ? atomic_load(&ps->hm_completed[key]) : 0;
}

/* Entry acquisitions made so far by hammer thread `thread`. */
CT_EXPORT uint64_t ct_test_hammer_ops(ss_plugin_t* s, uint32_t thread)
{
	plugin_state* ps = s;
	return thread < HAMMER_MAX_THREADS ? atomic_load(&ps->hm_threads[thread].ops) : 0;
}
