/*
 * cap_table.h -- a tiny plugin-owned table for the capability test plugins: "<name>", UINT64 keys,
 * at most CAP_TABLE_MAX entries, one UINT64 field "value". Registered with add_table at init
 * (legacy and _ext vtables with the same functions), so the host's lifetime rules
 * can be tested on plugins that neither parse nor extract.
 *
 * Entries are slots of a fixed array; a detached entry (create_table_entry) is a heap copy until
 * add_table_entry copies it into a slot. Every failure returns the slot's error value.
 */
#ifndef CAP_TABLE_H
#define CAP_TABLE_H

#include "cap_common.h"

#define CAP_TABLE_MAX 16

struct cap_entry {
	int used;
	uint64_t key;
	uint64_t value;
};

struct cap_table {
	char name[64];
	struct cap_entry e[CAP_TABLE_MAX];
	ss_plugin_table_fieldinfo fields[1];
	ss_plugin_table_reader_vtable_ext reader;
	ss_plugin_table_writer_vtable_ext writer;
	ss_plugin_table_fields_vtable_ext fieldsv;
	ss_plugin_table_input input;
};

static int cap_value_field; /* the accessor: its address */

static const ss_plugin_table_fieldinfo* ct_list_fields(ss_plugin_table_t* t, uint32_t* n) {
	*n = 1;
	return ((struct cap_table*)t)->fields;
}
static ss_plugin_table_field_t* ct_get_field(ss_plugin_table_t* t, const char* name, ss_plugin_state_type ty) {
	(void)t;
	return (name && strcmp(name, "value") == 0 && ty == SS_PLUGIN_ST_UINT64) ? &cap_value_field : NULL;
}
static ss_plugin_table_field_t* ct_add_field(ss_plugin_table_t* t, const char* name, ss_plugin_state_type ty) {
	return ct_get_field(t, name, ty); /* no dynamic fields: only "value" */
}
static const char* ct_name(ss_plugin_table_t* t) { return ((struct cap_table*)t)->name; }
static uint64_t ct_size(ss_plugin_table_t* t) {
	uint64_t n = 0;
	for (int i = 0; i < CAP_TABLE_MAX; i++) n += ((struct cap_table*)t)->e[i].used;
	return n;
}
static struct cap_entry* ct_find(struct cap_table* t, uint64_t key) {
	for (int i = 0; i < CAP_TABLE_MAX; i++)
		if (t->e[i].used && t->e[i].key == key) return &t->e[i];
	return NULL;
}
static ss_plugin_table_entry_t* ct_get_entry(ss_plugin_table_t* t, const ss_plugin_state_data* k) {
	return k ? ct_find(t, k->u64) : NULL;
}
static ss_plugin_rc ct_read(ss_plugin_table_t* t, ss_plugin_table_entry_t* e, const ss_plugin_table_field_t* f,
                            ss_plugin_state_data* out) {
	(void)t;
	if (!e || f != &cap_value_field || !out) return SS_PLUGIN_FAILURE;
	out->u64 = ((struct cap_entry*)e)->value;
	return SS_PLUGIN_SUCCESS;
}
static void ct_release(ss_plugin_table_t* t, ss_plugin_table_entry_t* e) {
	(void)t;
	(void)e;
}
static ss_plugin_bool ct_iterate(ss_plugin_table_t* t, ss_plugin_table_iterator_func_t it,
                                 ss_plugin_table_iterator_state_t* s) {
	struct cap_table* tb = t;
	for (int i = 0; i < CAP_TABLE_MAX; i++)
		if (tb->e[i].used && !it(s, &tb->e[i])) return 0;
	return 1;
}
static ss_plugin_rc ct_clear(ss_plugin_table_t* t) {
	memset(((struct cap_table*)t)->e, 0, sizeof(((struct cap_table*)t)->e));
	return SS_PLUGIN_SUCCESS;
}
static ss_plugin_rc ct_erase(ss_plugin_table_t* t, const ss_plugin_state_data* k) {
	struct cap_entry* e = k ? ct_find(t, k->u64) : NULL;
	if (!e) return SS_PLUGIN_FAILURE;
	e->used = 0;
	return SS_PLUGIN_SUCCESS;
}
static ss_plugin_table_entry_t* ct_create(ss_plugin_table_t* t) {
	(void)t;
	return calloc(1, sizeof(struct cap_entry));
}
static void ct_destroy(ss_plugin_table_t* t, ss_plugin_table_entry_t* e) {
	(void)t;
	free(e);
}
static ss_plugin_table_entry_t* ct_add(ss_plugin_table_t* t, const ss_plugin_state_data* k, ss_plugin_table_entry_t* e) {
	struct cap_table* tb = t;
	if (!k || !e) return NULL;
	struct cap_entry* slot = ct_find(tb, k->u64);
	for (int i = 0; !slot && i < CAP_TABLE_MAX; i++)
		if (!tb->e[i].used) slot = &tb->e[i];
	if (!slot) return NULL;
	slot->used = 1;
	slot->key = k->u64;
	slot->value = ((struct cap_entry*)e)->value;
	free(e);
	return slot;
}
static ss_plugin_rc ct_write(ss_plugin_table_t* t, ss_plugin_table_entry_t* e, const ss_plugin_table_field_t* f,
                             const ss_plugin_state_data* in) {
	(void)t;
	if (!e || f != &cap_value_field || !in) return SS_PLUGIN_FAILURE;
	((struct cap_entry*)e)->value = in->u64;
	return SS_PLUGIN_SUCCESS;
}

/* Fills `t` and registers it through the init input; SS_PLUGIN_FAILURE if the host refuses. */
static ss_plugin_rc cap_table_export(struct cap_table* t, const char* name, const ss_plugin_init_input* in) {
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->fields[0] = (ss_plugin_table_fieldinfo){"value", SS_PLUGIN_ST_UINT64, 0};
	t->reader = (ss_plugin_table_reader_vtable_ext){ct_name, ct_size, ct_get_entry, ct_read, ct_release, ct_iterate};
	t->writer = (ss_plugin_table_writer_vtable_ext){ct_clear, ct_erase, ct_create, ct_destroy, ct_add, ct_write};
	t->fieldsv = (ss_plugin_table_fields_vtable_ext){ct_list_fields, ct_get_field, ct_add_field};
	t->input.name = t->name;
	t->input.key_type = SS_PLUGIN_ST_UINT64;
	t->input.table = t;
	t->input.reader = (ss_plugin_table_reader_vtable){ct_name, ct_size, ct_get_entry, ct_read};
	t->input.writer = (ss_plugin_table_writer_vtable){ct_clear, ct_erase, ct_create, ct_destroy, ct_add, ct_write};
	t->input.fields = (ss_plugin_table_fields_vtable){ct_list_fields, ct_get_field, ct_add_field};
	t->input.reader_ext = &t->reader;
	t->input.writer_ext = &t->writer;
	t->input.fields_ext = &t->fieldsv;
	if (!in || !in->tables || !in->tables->add_table) return SS_PLUGIN_FAILURE;
	return in->tables->add_table(in->owner, &t->input);
}

#endif /* CAP_TABLE_H */
