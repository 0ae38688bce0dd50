/*
 * sample_table.h -- the table "plugin_sample" that exporter.c registers with add_table, written
 * like libsinsp's sample table: UINT64 key; a static UINT64 field u64_val; a read-only TABLE
 * field "children" (per entry, a child table with UINT64 key and field u64_val, made on first
 * read and reached through its own ss_plugin_table_input); dynamic fields of the scalar types
 * and STRING, added by add_table_field.
 *
 * Accessors are the field's index + 1. Entries carry a magic number, so a garbage entry is
 * refused. add_table_entry stores a copy and frees its input (like libsinsp), so a detached entry
 * is gone once added. One recursive mutex per table: iteration callbacks may call back in.
 * Errors go to ct_set_error (the plugin's plugin_get_last_error).
 */
#ifndef CT_SAMPLE_TABLE_H
#define CT_SAMPLE_TABLE_H

#include "ct_checks.h"

#include <pthread.h>

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
	st->field_names[0] = ct_strdup("u64_val");
	st->field_types[0] = SS_PLUGIN_ST_UINT64;
	st->nfields = 1;
}

/* The read-only TABLE field "children" of the top table; each entry owns a child table (UINT64
 * key, field u64_val). Accessor 1 (u64_val) is the same in every child, as the ABI requires. */
static void sample_add_children_field(sample_table* st)
{
	st->field_names[st->nfields] = ct_strdup("children");
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
		ct_set_error("undefined field '%s' in table '%s'", name ? name : "(null)", st->name);
	else if (st->field_types[i] != type)
		ct_set_error("field defined with incompatible types: %s", name);
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
		ct_set_error("field name is null");
		return NULL;
	}
	pthread_mutex_lock(&st->mu);
	int i = sample_lookup_field(st, name);
	if (i >= 0) {
		if (st->field_types[i] == type)
			res = sample_accessor(i);
		else
			ct_set_error("field defined with incompatible types: %s", name);
	} else if (type == SS_PLUGIN_ST_TABLE || !((type >= SS_PLUGIN_ST_INT8 && type <= SS_PLUGIN_ST_STRING) ||
	                                          type == SS_PLUGIN_ST_BOOL)) {
		ct_set_error("unsupported field type for %s: %d", name, (int)type);
	} else if (st->nfields >= SAMPLE_MAX_FIELDS) {
		ct_set_error("too many fields in table '%s'", st->name);
	} else {
		i = (int)st->nfields++;
		st->field_names[i] = ct_strdup(name);
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

/* a second, different function: lets exporter.c offer a table whose legacy copy != its _ext slot */
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
		ct_set_error("unknown entry at key: %" PRIu64, key ? key->u64 : 0);
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
		ct_set_error("invalid entry");
	} else if (i < 0) {
		ct_set_error("invalid field accessor");
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
		ct_set_error("unknown entry at key: %" PRIu64, key ? key->u64 : 0);
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
		ct_set_error("out of memory");
		return NULL;
	}
	e->magic = SAMPLE_ENTRY_MAGIC;
	return e;
}

static void sample_destroy(ss_plugin_table_t* t, ss_plugin_table_entry_t* e)
{
	(void)t;
	if (!sample_valid_entry(e) || ((sample_entry*)e)->attached) {
		ct_set_error("destroy of an entry not created by create_table_entry");
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
		ct_set_error("add of an entry not created by create_table_entry");
		return NULL;
	}
	sample_entry* in = entry;
	sample_entry* copy = malloc(sizeof(*copy));
	if (!copy) {
		ct_set_error("out of memory");
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
		ct_set_error("invalid entry");
	} else if (i < 0) {
		ct_set_error("invalid field accessor");
	} else if (!in) {
		ct_set_error("null value");
	} else if (st->field_types[i] == SS_PLUGIN_ST_TABLE) {
		ct_set_error("table field %s is read-only", st->field_names[i]);
	} else {
		sample_entry* se = e;
		if (st->field_types[i] == SS_PLUGIN_ST_STRING) {
			char* copy = ct_strdup(in->str);
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


#endif /* CT_SAMPLE_TABLE_H */
