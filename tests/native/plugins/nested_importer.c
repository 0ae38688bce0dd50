/*
 * nested_importer.c -- a parse plugin that imports "plugin_sample" (exported by exporter.c, which
 * must be initialised first) and keeps, against the ABI's advice, every pointer it got: the table
 * handle, a field accessor, an entry, a nested-table handle (a "children" TABLE field's value) and
 * that nested table's accessor and entry. After the exporter is destroyed, ct_probe_gone() calls
 * every slot through them: each must fail with its error value, the owner error naming the gone
 * table, and nothing may touch the exporter's freed memory (under ASan or valgrind that would
 * show; without, a crash or garbage is likely).
 *
 * State machine:
 *   plugin_init         get_table(plugin_sample); accessors u64_val and children (TABLE); nested
 *                       field discovery through a detached entry (create -> read children ->
 *                       get_table_field(u64_val) on the nested handle -> destroy), as SDKs do.
 *   plugin_parse_event  (first event) adds entry 5 with u64_val 55, reads its children table,
 *                       adds child 9 (u64_val 99) to it; keeps the handle of entry 5 (not
 *                       released), the nested handle and the child's handle; checks reads back.
 *   ct_probe_gone       (called by the test, outside any callback, after the exporter's destroy)
 *                       every reader/writer/fields slot through the kept pointers.
 *   plugin_destroy      frees the state (touches none of the kept pointers).
 */
#include "ct_checks.h"

typedef struct plugin_state {
	ct_checks ck;
	const ss_plugin_table_fields_vtable_ext* fields; /* the init input's: static dispatchers */
	const ss_plugin_table_reader_vtable_ext* reader;
	const ss_plugin_table_writer_vtable_ext* writer;
	ss_plugin_table_t* sample;
	ss_plugin_table_field_t* f_u64;
	ss_plugin_table_field_t* f_children;
	ss_plugin_table_field_t* f_child_u64;
	ss_plugin_table_entry_t* entry;       /* entry 5 of plugin_sample, never released */
	ss_plugin_table_t* nested;            /* its children table */
	ss_plugin_table_entry_t* child;       /* child 9 of that table */
	uint16_t event_types[1];
} plugin_state;

CT_PLUGIN_INFO("ct_nested_importer", "concurrent_tables test plugin: keeps pointers into another plugin's table")

CT_EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc)
{
	*rc = SS_PLUGIN_FAILURE;
	plugin_state* ps = calloc(1, sizeof(*ps));
	if (!ps) return NULL;
	ps->ck.plugin = "ct_nested_importer";
	ps->event_types[0] = 3;
	if (!in || !ct_tables_complete(in->tables)) {
		ct_set_error("ct_nested_importer needs a complete tables input");
		return ps;
	}
	const ss_plugin_init_tables_input* ti = in->tables;
	ct_checks* ck = &ps->ck;
	ct_phase(ck, "init", in->owner, in->get_owner_last_error);
	ps->fields = ti->fields_ext;
	ps->reader = ti->reader_ext;
	ps->writer = ti->writer_ext;
	ps->sample = ti->get_table(in->owner, "plugin_sample", SS_PLUGIN_ST_UINT64);
	ct_rec(ck, "get_table", ps->sample != NULL, ps->sample != NULL, NULL, ps->sample == NULL);
	if (!ps->sample) {
		ct_set_error("ct_nested_importer: no plugin_sample (load exporter.c first)");
		return ps;
	}
	ps->f_u64 = ps->fields->get_table_field(ps->sample, "u64_val", SS_PLUGIN_ST_UINT64);
	ps->f_children = ps->fields->get_table_field(ps->sample, "children", SS_PLUGIN_ST_TABLE);
	ct_rec(ck, "get_table_field", ps->f_u64 && ps->f_children, 0, NULL, !ps->f_u64 || !ps->f_children);
	if (!ps->f_u64 || !ps->f_children) return ps;

	/* nested field discovery through a detached entry */
	ss_plugin_table_entry_t* tmp = ps->writer->create_table_entry(ps->sample);
	ss_plugin_state_data out;
	memset(&out, 0, sizeof(out));
	ss_plugin_rc r = tmp ? ps->reader->read_entry_field(ps->sample, tmp, ps->f_children, &out) : SS_PLUGIN_FAILURE;
	ct_rec(ck, "discover.read_children", r == SS_PLUGIN_SUCCESS && out.table, r, NULL, r != SS_PLUGIN_SUCCESS);
	if (r == SS_PLUGIN_SUCCESS && out.table) {
		const char* n = ps->reader->get_table_name(out.table);
		ct_rec(ck, "discover.nested_name", n && strcmp(n, "children") == 0, 0, n, n == NULL);
		ps->f_child_u64 = ps->fields->get_table_field(out.table, "u64_val", SS_PLUGIN_ST_UINT64);
		ct_rec(ck, "discover.nested_field", ps->f_child_u64 != NULL, 0, NULL, ps->f_child_u64 == NULL);
	}
	if (tmp) ps->writer->destroy_table_entry(ps->sample, tmp);
	*rc = ps->f_child_u64 ? SS_PLUGIN_SUCCESS : SS_PLUGIN_FAILURE;
	if (!ps->f_child_u64) ct_set_error("ct_nested_importer: nested field discovery failed");
	return ps;
}

CT_EXPORT void plugin_destroy(ss_plugin_t* s)
{
	plugin_state* ps = s;
	if (!ps) return;
	ct_checks_free(&ps->ck);
	free(ps);
}

CT_EXPORT uint16_t* plugin_get_parse_event_types(uint32_t* numtypes, ss_plugin_t* s)
{
	*numtypes = 1;
	return ((plugin_state*)s)->event_types;
}

CT_EXPORT const char* plugin_get_parse_event_sources(void)
{
	return "[\"syscall\"]";
}

static void parse_once(plugin_state* ps, const ss_plugin_event_parse_input* in)
{
	ct_checks* ck = &ps->ck;
	const ss_plugin_table_reader_vtable_ext* r = in->table_reader_ext;
	const ss_plugin_table_writer_vtable_ext* w = in->table_writer_ext;
	ss_plugin_state_data k = ct_key(SS_PLUGIN_ST_UINT64, 5), v, out;
	ss_plugin_table_entry_t* d = w->create_table_entry(ps->sample);
	memset(&v, 0, sizeof(v));
	v.u64 = 55;
	if (d) w->write_entry_field(ps->sample, d, ps->f_u64, &v);
	ps->entry = d ? w->add_table_entry(ps->sample, &k, d) : NULL;
	ct_rec(ck, "add_entry", ps->entry != NULL, 0, NULL, ps->entry == NULL);
	if (!ps->entry) return;
	memset(&out, 0, sizeof(out));
	ss_plugin_rc rc = r->read_entry_field(ps->sample, ps->entry, ps->f_children, &out);
	ps->nested = rc == SS_PLUGIN_SUCCESS ? out.table : NULL;
	ct_rec(ck, "read_children", ps->nested != NULL, rc, NULL, ps->nested == NULL);
	if (!ps->nested) return;
	ss_plugin_state_data ck9 = ct_key(SS_PLUGIN_ST_UINT64, 9);
	d = w->create_table_entry(ps->nested);
	v.u64 = 99;
	if (d) w->write_entry_field(ps->nested, d, ps->f_child_u64, &v);
	ps->child = d ? w->add_table_entry(ps->nested, &ck9, d) : NULL;
	memset(&out, 0, sizeof(out));
	rc = ps->child ? r->read_entry_field(ps->nested, ps->child, ps->f_child_u64, &out) : SS_PLUGIN_FAILURE;
	ct_recf(ck, "nested.read_back", rc == SS_PLUGIN_SUCCESS && out.u64 == 99, rc, rc != SS_PLUGIN_SUCCESS,
	        "%" PRIu64, out.u64);
	uint64_t n = r->get_table_size(ps->nested);
	ct_recf(ck, "nested.size", n == 1, (int64_t)n, n != 1, "%" PRIu64, n);
}

CT_EXPORT ss_plugin_rc plugin_parse_event(ss_plugin_t* s, const ss_plugin_event_input* ev,
                                          const ss_plugin_event_parse_input* in)
{
	(void)ev;
	plugin_state* ps = s;
	ct_phase(&ps->ck, "parse", in->owner, in->get_owner_last_error);
	if (ps->ck.events++ == 0) parse_once(ps, in);
	return SS_PLUGIN_SUCCESS;
}

static ss_plugin_bool count_entry(ss_plugin_table_iterator_state_t* s, ss_plugin_table_entry_t* e)
{
	(void)e;
	(*(int*)s)++;
	return 1;
}

/* Every slot through one kept table handle `t`, with entry `e` and accessor `f` of it. */
static void probe_table(plugin_state* ps, const char* which, ss_plugin_table_t* t, ss_plugin_table_entry_t* e,
                        ss_plugin_table_field_t* f)
{
	ct_checks* ck = &ps->ck;
	const ss_plugin_table_reader_vtable_ext* r = ps->reader;
	const ss_plugin_table_writer_vtable_ext* w = ps->writer;
	const ss_plugin_table_fields_vtable_ext* fv = ps->fields;
	char name[96];
	ss_plugin_state_data k = ct_key(SS_PLUGIN_ST_UINT64, 5), out, v;
	int visited = 0;
	uint32_t nf = 7;
#define PROBE(slot, failed)                                     \
	do {                                                        \
		snprintf(name, sizeof(name), "%s.%s", which, slot);     \
		ct_rec(ck, name, (failed), 0, NULL, 1);                 \
	} while (0)
	PROBE("get_table_name", r->get_table_name(t) == NULL);
	PROBE("get_table_size", r->get_table_size(t) == (uint64_t)-1);
	PROBE("get_table_entry", r->get_table_entry(t, &k) == NULL);
	memset(&out, 0, sizeof(out));
	PROBE("read_entry_field", r->read_entry_field(t, e, f, &out) == SS_PLUGIN_FAILURE && out.u64 == 0);
	PROBE("iterate_entries", r->iterate_entries(t, count_entry, &visited) == 0 && visited == 0);
	memset(&v, 0, sizeof(v));
	v.u64 = 1;
	PROBE("write_entry_field", w->write_entry_field(t, e, f, &v) == SS_PLUGIN_FAILURE);
	PROBE("create_table_entry", w->create_table_entry(t) == NULL);
	PROBE("add_table_entry", w->add_table_entry(t, &k, e) == NULL);
	PROBE("erase_table_entry", w->erase_table_entry(t, &k) == SS_PLUGIN_FAILURE);
	PROBE("clear_table", w->clear_table(t) == SS_PLUGIN_FAILURE);
	PROBE("list_table_fields", fv->list_table_fields(t, &nf) == NULL && nf == 0);
	PROBE("get_table_field", fv->get_table_field(t, "u64_val", SS_PLUGIN_ST_UINT64) == NULL);
	PROBE("add_table_field", fv->add_table_field(t, "late", SS_PLUGIN_ST_UINT64) == NULL);
	r->release_table_entry(t, e);  /* void: must be a silent no-op */
	w->destroy_table_entry(t, e);  /* void: must not free anything of the exporter */
	PROBE("release_destroy", 1);
#undef PROBE
}

CT_EXPORT void ct_probe_gone(ss_plugin_t* s, ss_plugin_owner_t* owner, ct_get_owner_last_error_fn owner_err)
{
	plugin_state* ps = s;
	ct_phase(&ps->ck, "gone", owner, owner_err);
	if (!ps->entry || !ps->nested || !ps->child) {
		ct_rec(&ps->ck, "kept_pointers", 0, 0, NULL, 0);
		return;
	}
	probe_table(ps, "top", ps->sample, ps->entry, ps->f_u64);
	probe_table(ps, "nested", ps->nested, ps->child, ps->f_child_u64);
	/* a TABLE field read through the gone top table: no nested table comes out */
	ss_plugin_state_data out;
	memset(&out, 0, sizeof(out));
	ss_plugin_rc rc = ps->reader->read_entry_field(ps->sample, ps->entry, ps->f_children, &out);
	ct_rec(&ps->ck, "top.read_children", rc == SS_PLUGIN_FAILURE && out.table == NULL, rc, NULL, 1);
}

CT_EXPORT const char* ct_report(ss_plugin_t* s)
{
	return ct_checks_report(&((plugin_state*)s)->ck);
}
