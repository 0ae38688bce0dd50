/*
 * bad_input.c -- a parse + capture-listen plugin that feeds the host's table API every bad input
 * it must refuse, and records each refusal and its owner error (ct_checks.h; ct_report). No config;
 * it uses Falco's threads table (INT64 key; STRING field comm; TABLE field file_descriptors) and
 * adds the dynamic UINT64 field ct_counter.
 *
 * State machine:
 *   plugin_init         imports threads and its fields, then: NULL counts and names, unknown
 *                       state types (list_tables, get_table, list/get/add_table_field).
 *   plugin_parse_event  (every event; key = the event's tid) first the handles kept from the
 *                       previous event (an acquired entry and a nested table handle: the host
 *                       invalidated both when that event returned), then NULL and garbage keys,
 *                       entries, accessors, values, outputs and iterators on every slot, then
 *                       field management through the init vtables (denied outside init); at
 *                       the end it keeps an entry and a nested handle for the next event.
 *   plugin_capture_open add_table_field through the init vtables (denied).
 *   plugin_capture_close, plugin_destroy: nothing to undo (the kept handles are the host's).
 */
#include "ct_checks.h"

typedef struct plugin_state {
	ct_checks ck;
	int64_t key; /* the current event's tid */
	ss_plugin_table_t* tbl;
	ss_plugin_table_field_t* f_str;
	ss_plugin_table_field_t* f_tab;
	ss_plugin_table_field_t* f_counter;
	const ss_plugin_table_fields_vtable_ext* init_fields; /* kept to probe the access matrix later */
	ss_plugin_table_entry_t* stale_entry;                 /* kept on purpose from the last event */
	ss_plugin_table_t* stale_nested;
	uint16_t event_types[1];
} plugin_state;

CT_PLUGIN_INFO("ct_bad_input", "concurrent_tables test plugin: every bad input to the table API")

static void init_checks_bad(plugin_state* ps, const ss_plugin_init_tables_input* ti)
{
	ct_checks* ck = &ps->ck;
	const ss_plugin_table_fields_vtable_ext* fv = ti->fields_ext;
	ss_plugin_table_info* infos = ti->list_tables(ps->ck.owner, NULL);
	ct_rec(ck, "bad.list_tables.null_count", infos == NULL, infos != NULL, NULL, 1);
	ss_plugin_table_t* t = ti->get_table(ps->ck.owner, NULL, SS_PLUGIN_ST_INT64);
	ct_rec(ck, "bad.get_table.null_name", t == NULL, t != NULL, NULL, 1);
	const ss_plugin_table_fieldinfo* fi = fv->list_table_fields(ps->tbl, NULL);
	ct_rec(ck, "bad.list_table_fields.null_count", fi == NULL, fi != NULL, NULL, 1);
	ss_plugin_table_field_t* f = fv->get_table_field(ps->tbl, NULL, SS_PLUGIN_ST_STRING);
	ct_rec(ck, "bad.get_table_field.null_name", f == NULL, f != NULL, NULL, 1);
	f = fv->add_table_field(ps->tbl, NULL, SS_PLUGIN_ST_UINT64);
	ct_rec(ck, "bad.add_table_field.null_name", f == NULL, f != NULL, NULL, 1);
	f = fv->get_table_field(ps->tbl, "comm", (ss_plugin_state_type)99);
	ct_rec(ck, "bad.get_table_field.unknown_type", f == NULL, f != NULL, "99", 1);
	f = fv->add_table_field(ps->tbl, "ct_bad_type", (ss_plugin_state_type)99);
	ct_rec(ck, "bad.add_table_field.unknown_type", f == NULL, f != NULL, "99", 1);
}

/* Runs before any other parse check, so that no nested handle was handed out in this event yet. */
static void parse_checks(plugin_state* ps, const ss_plugin_table_reader_vtable_ext* r,
                              const ss_plugin_table_writer_vtable_ext* w)
{
	ct_checks* ck = &ps->ck;
	ss_plugin_state_data k = ct_key(SS_PLUGIN_ST_INT64, ps->key);
	ss_plugin_state_data v, out;
	ss_plugin_rc rc;
	ss_plugin_table_entry_t* garbage_entry = (ss_plugin_table_entry_t*)(uintptr_t)0x7ffe12345ULL;
	ss_plugin_table_field_t* garbage_field = (ss_plugin_table_field_t*)(uintptr_t)0x7ffedeadbeefULL;

	/* handles kept from the previous event: the host invalidated both when that event returned */
	if (ps->stale_nested) {
		uint64_t n = r->get_table_size(ps->stale_nested);
		ct_recf(ck, "bad.stale_nested_handle", n == (uint64_t)-1, (int64_t)n, 1, "%" PRIu64, n);
	}
	if (ps->stale_entry) {
		memset(&out, 0, sizeof(out));
		rc = r->read_entry_field(ps->tbl, ps->stale_entry, ps->f_str, &out);
		ct_rec(ck, "bad.stale_entry", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
		r->release_table_entry(ps->tbl, ps->stale_entry); /* never acquired any more: ignored */
	}

	ss_plugin_table_entry_t* e = r->get_table_entry(ps->tbl, NULL);
	ct_rec(ck, "bad.get_table_entry.null_key", e == NULL, e != NULL, NULL, 1);
	e = r->get_table_entry(ps->tbl, &k);
	ct_rec(ck, "bad.get_table_entry", e != NULL, e != NULL, NULL, e == NULL);
	if (!e) return;

	rc = r->read_entry_field(ps->tbl, e, ps->f_str, NULL);
	ct_rec(ck, "bad.read_entry_field.null_out", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	memset(&out, 0, sizeof(out));
	rc = r->read_entry_field(ps->tbl, garbage_entry, ps->f_str, &out);
	ct_rec(ck, "bad.read_entry_field.garbage_entry", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	rc = r->read_entry_field(ps->tbl, NULL, ps->f_str, &out);
	ct_rec(ck, "bad.read_entry_field.null_entry", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	rc = r->read_entry_field(ps->tbl, e, garbage_field, &out);
	ct_rec(ck, "bad.read_entry_field.garbage_accessor", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	rc = w->write_entry_field(ps->tbl, e, ps->f_counter, NULL);
	ct_rec(ck, "bad.write_entry_field.null_value", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	memset(&v, 0, sizeof(v));
	rc = w->write_entry_field(ps->tbl, garbage_entry, ps->f_counter, &v);
	ct_rec(ck, "bad.write_entry_field.garbage_entry", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	ss_plugin_bool b = r->iterate_entries(ps->tbl, NULL, NULL);
	ct_rec(ck, "bad.iterate_entries.null_iterator", b == 0, b, NULL, 1);
	r->release_table_entry(ps->tbl, garbage_entry);
	r->release_table_entry(ps->tbl, NULL);
	ct_rec(ck, "bad.release_table_entry.garbage", 1, 0, NULL, 0);
	w->destroy_table_entry(ps->tbl, garbage_entry);
	ct_rec(ck, "bad.destroy_table_entry.garbage", 1, 0, NULL, 1);
	ss_plugin_table_entry_t* a = w->add_table_entry(ps->tbl, &k, NULL);
	ct_rec(ck, "bad.add_table_entry.null_entry", a == NULL, a != NULL, NULL, 1);
	rc = w->erase_table_entry(ps->tbl, NULL);
	ct_rec(ck, "bad.erase_table_entry.null_key", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	uint64_t n = r->get_table_size(NULL);
	ct_rec(ck, "bad.get_table_size.null_table", n == (uint64_t)-1, (int64_t)n, NULL, 0);

	/* the access matrix: field management is for init only */
	if (ps->init_fields) {
		ss_plugin_table_field_t* f = ps->init_fields->add_table_field(ps->tbl, "ct_late", SS_PLUGIN_ST_UINT64);
		ct_rec(ck, "access.add_table_field.parse", f == NULL, f != NULL, NULL, 1);
		f = ps->init_fields->get_table_field(ps->tbl, "comm", SS_PLUGIN_ST_STRING);
		ct_rec(ck, "access.get_table_field.parse", f == NULL, f != NULL, NULL, 1);
	}
	r->release_table_entry(ps->tbl, e);
}

/* At the end of a parse event: keep an acquired entry (never released) and a nested handle. */
static void keep_stale_handles(plugin_state* ps, const ss_plugin_table_reader_vtable_ext* r)
{
	ss_plugin_state_data k = ct_key(SS_PLUGIN_ST_INT64, ps->key);
	ps->stale_entry = r->get_table_entry(ps->tbl, &k);
	ps->stale_nested = NULL;
	if (ps->stale_entry && ps->f_tab) {
		ss_plugin_state_data out;
		memset(&out, 0, sizeof(out));
		if (r->read_entry_field(ps->tbl, ps->stale_entry, ps->f_tab, &out) == SS_PLUGIN_SUCCESS)
			ps->stale_nested = out.table;
	}
}


CT_EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc)
{
	*rc = SS_PLUGIN_FAILURE;
	plugin_state* ps = calloc(1, sizeof(*ps));
	if (!ps) return NULL;
	ps->ck.plugin = "ct_bad_input";
	ps->event_types[0] = 3;
	if (!in || !ct_tables_complete(in->tables)) {
		ct_set_error("ct_bad_input needs a complete tables input");
		return ps;
	}
	const ss_plugin_init_tables_input* ti = in->tables;
	ct_phase(&ps->ck, "init", in->owner, in->get_owner_last_error);
	ps->init_fields = ti->fields_ext;
	ps->tbl = ti->get_table(in->owner, "threads", SS_PLUGIN_ST_INT64);
	if (ps->tbl) {
		ps->f_str = ti->fields_ext->get_table_field(ps->tbl, "comm", SS_PLUGIN_ST_STRING);
		ps->f_tab = ti->fields_ext->get_table_field(ps->tbl, "file_descriptors", SS_PLUGIN_ST_TABLE);
		ps->f_counter = ti->fields_ext->add_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_UINT64);
	}
	if (!ps->f_str || !ps->f_tab || !ps->f_counter) {
		const char* err = ct_owner_error(&ps->ck);
		ct_set_error("ct_bad_input: threads table or its fields: %s", err ? err : "");
		return ps;
	}
	init_checks_bad(ps, ti);
	*rc = SS_PLUGIN_SUCCESS;
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
	plugin_state* ps = s;
	*numtypes = 1;
	return ps->event_types;
}

CT_EXPORT const char* plugin_get_parse_event_sources(void)
{
	return "[\"syscall\"]";
}

CT_EXPORT ss_plugin_rc plugin_parse_event(ss_plugin_t* s, const ss_plugin_event_input* ev,
                                          const ss_plugin_event_parse_input* in)
{
	plugin_state* ps = s;
	ct_phase(&ps->ck, "parse", in->owner, in->get_owner_last_error);
	ps->key = ev && ev->evt ? (int64_t)ev->evt->tid : 0;
	parse_checks(ps, in->table_reader_ext, in->table_writer_ext);
	keep_stale_handles(ps, in->table_reader_ext);
	ps->ck.events++;
	return SS_PLUGIN_SUCCESS;
}

CT_EXPORT ss_plugin_rc plugin_capture_open(ss_plugin_t* s, const ss_plugin_capture_listen_input* in)
{
	plugin_state* ps = s;
	ct_checks* ck = &ps->ck;
	ct_phase(&ps->ck, "capture_open", in->owner, in->get_owner_last_error);
	ss_plugin_table_field_t* f = ps->init_fields->add_table_field(ps->tbl, "ct_late", SS_PLUGIN_ST_UINT64);
	ct_rec(ck, "access.add_table_field.capture_open", f == NULL, f != NULL, NULL, 1);
	return SS_PLUGIN_SUCCESS;
}

CT_EXPORT ss_plugin_rc plugin_capture_close(ss_plugin_t* s, const ss_plugin_capture_listen_input* in)
{
	(void)s;
	(void)in;
	return SS_PLUGIN_SUCCESS;
}

CT_EXPORT const char* ct_report(ss_plugin_t* s)
{
	return ct_checks_report(&((plugin_state*)s)->ck);
}
