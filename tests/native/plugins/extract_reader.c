/*
 * extract_reader.c -- an extract-only plugin (no parse, no capture-listen symbols): it reads
 * through the extract input's reader and checks that the host refuses its writes. No config;
 * it uses Falco's threads table (INT64 key, STRING field comm) and adds the dynamic UINT64 field
 * ct_counter. Checks are read with ct_report (ct_checks.h).
 *
 * Its one field, ct.probe (uint64), is the length of the comm it read (no value if none).
 * Built with -DCT_NO_GET_FIELDS it exports extract_fields without get_fields: a broken
 * capability set that the host must refuse at load, as libsinsp does.
 *
 * State machine:
 *   plugin_init            imports threads, gets comm, adds ct_counter, keeps the init writer.
 *   plugin_extract_fields  (also called with no field requests by NativePlugin.extract_fields)
 *                          checks that the legacy reader slots equal the _ext ones, reads comm of
 *                          entry <event tid>, then writes ct_counter and creates an entry through
 *                          the writer kept from init: both must be refused (extract is
 *                          read-only); answers a ct.probe request with the comm's length.
 *   plugin_destroy         frees the state.
 */
#include "ct_checks.h"
#include "ct_plugin_ext.h"

typedef struct plugin_state {
	ct_checks ck;
	ss_plugin_table_t* tbl;
	ss_plugin_table_field_t* f_str;
	ss_plugin_table_field_t* f_counter;
	const ss_plugin_table_writer_vtable_ext* init_writer; /* kept to probe the access matrix */
	uint64_t probe;                                       /* the answer to a ct.probe request */
} plugin_state;

CT_PLUGIN_INFO("ct_extract_reader", "concurrent_tables test plugin: reads during extract, cannot write")

#ifndef CT_NO_GET_FIELDS
CT_EXPORT const char* plugin_get_fields(void)
{
	return "[{\"type\":\"uint64\",\"name\":\"ct.probe\",\"desc\":\"length of the comm read\"}]";
}
#endif

/* Answer the requests (only ct.probe exists): its value once comm was read, else none. */
static void answer(plugin_state* ps, const ss_plugin_field_extract_input* in, int have)
{
	for (uint32_t i = 0; in->fields && i < in->num_fields; i++) {
		ss_plugin_extract_field* f = &in->fields[i];
		f->res_len = 0;
		if (have && f->field_id == 0) {
			f->res.u64 = &ps->probe;
			f->res_len = 1;
		}
	}
}

CT_EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc)
{
	*rc = SS_PLUGIN_FAILURE;
	plugin_state* ps = calloc(1, sizeof(*ps));
	if (!ps) return NULL;
	ps->ck.plugin = "ct_extract_reader";
	if (!in || !ct_tables_complete(in->tables)) {
		ct_set_error("ct_extract_reader needs a complete tables input");
		return ps;
	}
	const ss_plugin_init_tables_input* ti = in->tables;
	ct_phase(&ps->ck, "init", in->owner, in->get_owner_last_error);
	ps->init_writer = ti->writer_ext;
	ps->tbl = ti->get_table(in->owner, "threads", SS_PLUGIN_ST_INT64);
	if (ps->tbl) {
		ps->f_str = ti->fields_ext->get_table_field(ps->tbl, "comm", SS_PLUGIN_ST_STRING);
		ps->f_counter = ti->fields_ext->add_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_UINT64);
	}
	if (!ps->f_str || !ps->f_counter) {
		const char* err = ct_owner_error(&ps->ck);
		ct_set_error("ct_extract_reader: threads table or its fields: %s", err ? err : "");
		return ps;
	}
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

CT_EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t* s, const ss_plugin_event_input* ev,
                                             const ss_plugin_field_extract_input* in)
{
	plugin_state* ps = s;
	ct_checks* ck = &ps->ck;
	ct_phase(ck, "extract", in->owner, in->get_owner_last_error);
	const ss_plugin_table_reader_vtable_ext* r = in->table_reader_ext;
	ct_rec(ck, "extract.input",
	       r != NULL && in->table_reader.read_entry_field == r->read_entry_field &&
	           in->table_reader.get_table_entry == r->get_table_entry,
	       in->num_fields, NULL, 0);
	ck->events++;
	answer(ps, in, 0);
	if (!r) return SS_PLUGIN_SUCCESS;
	ss_plugin_state_data k = ct_key(SS_PLUGIN_ST_INT64, ev && ev->evt ? (int64_t)ev->evt->tid : 0);
	ss_plugin_table_entry_t* e = r->get_table_entry(ps->tbl, &k);
	ct_rec(ck, "extract.get_table_entry", e != NULL, e != NULL, NULL, e == NULL);
	if (!e) return SS_PLUGIN_SUCCESS;
	ss_plugin_state_data out, v;
	memset(&out, 0, sizeof(out));
	ss_plugin_rc rc = r->read_entry_field(ps->tbl, e, ps->f_str, &out);
	ct_rec(ck, "extract.read_entry_field", rc == SS_PLUGIN_SUCCESS && out.str, rc,
	       rc == SS_PLUGIN_SUCCESS ? out.str : NULL, rc != SS_PLUGIN_SUCCESS);
	if (rc == SS_PLUGIN_SUCCESS && out.str) {
		ps->probe = strlen(out.str);
		answer(ps, in, 1);
	}
	memset(&v, 0, sizeof(v));
	v.u64 = 99;
	rc = ps->init_writer->write_entry_field(ps->tbl, e, ps->f_counter, &v);
	ct_rec(ck, "extract.write_entry_field.denied", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	ss_plugin_table_entry_t* d = ps->init_writer->create_table_entry(ps->tbl);
	ct_rec(ck, "extract.create_table_entry.denied", d == NULL, d != NULL, NULL, 1);
	r->release_table_entry(ps->tbl, e);
	return SS_PLUGIN_SUCCESS;
}

CT_EXPORT const char* ct_report(ss_plugin_t* s)
{
	return ct_checks_report(&((plugin_state*)s)->ck);
}
