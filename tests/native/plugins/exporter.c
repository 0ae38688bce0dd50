/*
 * exporter.c -- a parse plugin that exports its own table "plugin_sample" (sample_table.h) with
 * add_table, and checks the host's add_table and its handle to that table from C. No config.
 *
 * State machine:
 *   plugin_init      add_table(plugin_sample) once, then every refusal add_table owes: a
 *                    duplicate, a NULL input, a NULL name, an unknown key type, a missing _ext
 *                    vtable, a legacy vtable copy that differs from its _ext slot; then
 *                    get_table(plugin_sample) through the host and its fields (good and bad).
 *   plugin_parse_event (first event only: the checks empty the table, and other plugins of the
 *                    host may use it afterwards)  every reader/writer slot on plugin_sample
 *                    through the host: miss, create/write/add/read, size, iterate, erase, clear.
 *   plugin_destroy   frees the table (the host forgets it first).
 * Checks are read with ct_report (ct_checks.h). Built with -DCT_API_VERSION='"x.y.z"' it asks the
 * host for another API version (tests of the version check).
 */
#include "sample_table.h"

typedef struct plugin_state {
	ct_checks ck;
	sample_table sample;
	ss_plugin_table_input input;
	ss_plugin_table_t* h; /* the host's handle to plugin_sample */
	ss_plugin_table_field_t* f_u64;
	ss_plugin_table_field_t* f_str;
	uint16_t event_types[1];
} plugin_state;

CT_PLUGIN_INFO("ct_exporter", "concurrent_tables test plugin: exports plugin_sample with add_table")

static void init_checks(plugin_state* ps, const ss_plugin_init_tables_input* ti)
{
	ct_checks* ck = &ps->ck;
	const ss_plugin_table_fields_vtable_ext* fv = ti->fields_ext;
	sample_fill_input(&ps->input, &ps->sample);
	ss_plugin_rc rc = ti->add_table(ck->owner, &ps->input);
	ct_rec(ck, "add_table", rc == SS_PLUGIN_SUCCESS, rc, "plugin_sample", rc != SS_PLUGIN_SUCCESS);
	rc = ti->add_table(ck->owner, &ps->input);
	ct_rec(ck, "add_table.duplicate", rc == SS_PLUGIN_FAILURE, rc, "plugin_sample", 1);
	rc = ti->add_table(ck->owner, NULL);
	ct_rec(ck, "add_table.null_input", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);

	ss_plugin_table_input bad = ps->input;
	bad.name = NULL;
	rc = ti->add_table(ck->owner, &bad);
	ct_rec(ck, "add_table.null_name", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);
	bad = ps->input;
	bad.name = "ct_bad_key_type";
	bad.key_type = (ss_plugin_state_type)99;
	rc = ti->add_table(ck->owner, &bad);
	ct_rec(ck, "add_table.bad_key_type", rc == SS_PLUGIN_FAILURE, rc, bad.name, 1);
	bad = ps->input;
	bad.name = "ct_bad_no_ext";
	bad.reader_ext = NULL;
	rc = ti->add_table(ck->owner, &bad);
	ct_rec(ck, "add_table.missing_ext", rc == SS_PLUGIN_FAILURE, rc, bad.name, 1);
	bad = ps->input;
	bad.name = "ct_bad_legacy";
	bad.reader.get_table_name = sample_get_name_alt;
	rc = ti->add_table(ck->owner, &bad);
	ct_rec(ck, "add_table.inconsistent_legacy", rc == SS_PLUGIN_FAILURE, rc, bad.name, 1);

	/* our own table, through the host */
	ps->h = ti->get_table(ck->owner, "plugin_sample", SS_PLUGIN_ST_UINT64);
	ct_rec(ck, "get_table.own_table", ps->h != NULL, ps->h != NULL, "plugin_sample", ps->h == NULL);
	if (!ps->h) return;
	ps->f_u64 = fv->get_table_field(ps->h, "u64_val", SS_PLUGIN_ST_UINT64);
	ct_rec(ck, "own.get_table_field", ps->f_u64 != NULL, ps->f_u64 != NULL, "u64_val", ps->f_u64 == NULL);
	ps->f_str = fv->add_table_field(ps->h, "str_val", SS_PLUGIN_ST_STRING);
	ct_rec(ck, "own.add_table_field", ps->f_str != NULL, ps->f_str != NULL, "str_val", ps->f_str == NULL);
	ss_plugin_table_field_t* f = fv->add_table_field(ps->h, "u64_val", SS_PLUGIN_ST_STRING);
	ct_rec(ck, "own.add_table_field.type_conflict", f == NULL, f != NULL, "u64_val", 1);
	f = fv->get_table_field(ps->h, "ct_nope", SS_PLUGIN_ST_UINT64);
	ct_rec(ck, "own.get_table_field.unknown_field", f == NULL, f != NULL, "ct_nope", 1);
	uint32_t nf = 0;
	const ss_plugin_table_fieldinfo* fi = fv->list_table_fields(ps->h, &nf);
	ct_strbuf names = {0};
	for (uint32_t i = 0; fi && i < nf; i++) ct_sb_printf(&names, "%s%s", i ? "," : "", fi[i].name);
	ct_rec(ck, "own.list_table_fields", fi != NULL && nf == 3, nf, names.buf ? names.buf : "", fi == NULL);
	ct_sb_free(&names);
}

typedef struct iter_ctx {
	uint64_t visited;
} iter_ctx;

static ss_plugin_bool count_iter(ss_plugin_table_iterator_state_t* s, ss_plugin_table_entry_t* e)
{
	iter_ctx* ic = s;
	if (!e) return 0;
	ic->visited++;
	return 1;
}

static void parse_checks(plugin_state* ps, const ss_plugin_table_reader_vtable_ext* r,
                         const ss_plugin_table_writer_vtable_ext* w)
{
	ct_checks* ck = &ps->ck;
	ss_plugin_table_t* h = ps->h;
	ss_plugin_state_data k = ct_key(SS_PLUGIN_ST_UINT64, 77), v, out;
	ss_plugin_rc rc, rc2;

	const char* name = r->get_table_name(h);
	ct_rec(ck, "own.get_table_name", name && strcmp(name, "plugin_sample") == 0, name != NULL, name, name == NULL);
	ss_plugin_table_entry_t* m = r->get_table_entry(h, &k);
	ct_rec(ck, "own.get_table_entry.missing", m == NULL, m != NULL, "77", 1);
	if (m) r->release_table_entry(h, m);

	ss_plugin_table_entry_t* d = w->create_table_entry(h);
	ct_rec(ck, "own.create_table_entry", d != NULL, d != NULL, NULL, d == NULL);
	if (!d) return;
	memset(&v, 0, sizeof(v));
	v.u64 = 11;
	rc = w->write_entry_field(h, d, ps->f_u64, &v);
	memset(&v, 0, sizeof(v));
	v.str = "sample";
	rc2 = w->write_entry_field(h, d, ps->f_str, &v);
	ct_rec(ck, "own.write_entry_field", rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS, rc, NULL,
	       rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS);
	ss_plugin_table_entry_t* a = w->add_table_entry(h, &k, d);
	ct_rec(ck, "own.add_table_entry", a != NULL, a != NULL, NULL, a == NULL);
	if (a) {
		memset(&out, 0, sizeof(out));
		rc = r->read_entry_field(h, a, ps->f_u64, &out);
		uint64_t got = out.u64;
		memset(&out, 0, sizeof(out));
		rc2 = r->read_entry_field(h, a, ps->f_str, &out);
		ct_recf(ck, "own.read_entry_field",
		        rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS && got == 11 && out.str &&
		            strcmp(out.str, "sample") == 0,
		        rc, rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS, "%" PRIu64 ",%s", got,
		        rc2 == SS_PLUGIN_SUCCESS && out.str ? out.str : "(null)");
		r->release_table_entry(h, a);
	}
	uint64_t n = r->get_table_size(h);
	ct_recf(ck, "own.get_table_size", n == 1, (int64_t)n, n == (uint64_t)-1, "%" PRIu64, n);
	iter_ctx ic = {0};
	ss_plugin_bool b = r->iterate_entries(h, count_iter, &ic);
	ct_recf(ck, "own.iterate_entries", b == 1 && ic.visited == n, b, b != 1, "%" PRIu64, ic.visited);
	rc = w->erase_table_entry(h, &k);
	ct_rec(ck, "own.erase_table_entry", rc == SS_PLUGIN_SUCCESS, rc, NULL, rc != SS_PLUGIN_SUCCESS);
	rc = w->erase_table_entry(h, &k);
	ct_rec(ck, "own.erase_table_entry.missing", rc == SS_PLUGIN_FAILURE, rc, "77", 1);
	d = w->create_table_entry(h);
	a = d ? w->add_table_entry(h, &k, d) : NULL;
	if (a) r->release_table_entry(h, a);
	rc = w->clear_table(h);
	n = r->get_table_size(h);
	ct_recf(ck, "own.clear_table", a != NULL && rc == SS_PLUGIN_SUCCESS && n == 0, rc, rc != SS_PLUGIN_SUCCESS,
	        "%" PRIu64, n);
}

CT_EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc)
{
	*rc = SS_PLUGIN_FAILURE;
	plugin_state* ps = calloc(1, sizeof(*ps));
	if (!ps) return NULL;
	ps->ck.plugin = "ct_exporter";
	ps->event_types[0] = 3;
	sample_init(&ps->sample);
	sample_add_children_field(&ps->sample);
	if (!in || !ct_tables_complete(in->tables)) {
		ct_set_error("ct_exporter needs a complete tables input");
		return ps;
	}
	ct_phase(&ps->ck, "init", in->owner, in->get_owner_last_error);
	init_checks(ps, in->tables);
	*rc = SS_PLUGIN_SUCCESS;
	return ps;
}

CT_EXPORT void plugin_destroy(ss_plugin_t* s)
{
	plugin_state* ps = s;
	if (!ps) return;
	sample_fini(&ps->sample);
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
	(void)ev;
	plugin_state* ps = s;
	ct_phase(&ps->ck, "parse", in->owner, in->get_owner_last_error);
	if (ps->ck.events == 0 && ps->h && ps->f_u64 && ps->f_str)
		parse_checks(ps, in->table_reader_ext, in->table_writer_ext);
	ps->ck.events++;
	return SS_PLUGIN_SUCCESS;
}

CT_EXPORT const char* ct_report(ss_plugin_t* s)
{
	return ct_checks_report(&((plugin_state*)s)->ck);
}
