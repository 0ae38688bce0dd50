/*
 * table_api.c -- a parse plugin that calls every table-API slot of the host from C on an imported
 * table, with good inputs and with the refusals the reference catalogues, and records each
 * result and the owner error read right after it (ct_checks.h; read with ct_report).
 *
 * Config: the name of the table to import (empty: "threads"). Its key type is the one list_tables
 * reports. It must have a writable STRING field "comm", a read-only STRING field "cwd" and a
 * TABLE field "file_descriptors" whose nested table has INT64 keys and an INT64 field "fd"
 * (Falco's threads table has them). The plugin adds the dynamic fields ct_counter (UINT64) and
 * ct_note (STRING), and ct_custom (STRING) on the nested table.
 *
 * State machine:
 *   plugin_init         list_tables, get_table (good, wrong key type, unknown table, unknown
 *                       state type, TABLE key type), list/get/add_table_field (good, wrong type,
 *                       unknown, read-only, TABLE, idempotent re-add, type conflict, static name,
 *                       TABLE type), and nested-field discovery through a detached entry.
 *   plugin_parse_event  (every event; key = the event's tid) every reader and writer slot on that
 *                       entry: reads, writes (dynamic, string, NULL string, read-only, TABLE),
 *                       nested table size and iteration, foreign and NULL accessors, misses,
 *                       create/write/add/read/erase, destroy, foreign entries, iteration with
 *                       early stop, stray releases, double acquisition, nested add/erase/clear.
 *   plugin_destroy      frees the state.
 */
#include "ct_checks.h"

typedef struct plugin_state {
	ct_checks ck;
	char table[128];
	ss_plugin_state_type key_type;
	int64_t key; /* the current event's tid */
	ss_plugin_log_fn_t log_fn;
	ss_plugin_table_t* tbl;
	ss_plugin_table_field_t* f_str;
	ss_plugin_table_field_t* f_ro;
	ss_plugin_table_field_t* f_tab;
	ss_plugin_table_field_t* f_counter;
	ss_plugin_table_field_t* f_note;
	ss_plugin_table_field_t* f_nested;
	ss_plugin_table_field_t* f_nested_custom;
	uint16_t event_types[1];
} plugin_state;

CT_PLUGIN_INFO("ct_table_api", "concurrent_tables test plugin: every table-API slot, checked from C")

static void init_checks(plugin_state* ps, const ss_plugin_init_tables_input* ti)
{
	ct_checks* ck = &ps->ck;
	const ss_plugin_table_fields_vtable_ext* fv = ti->fields_ext;
	const ss_plugin_table_reader_vtable_ext* rv = ti->reader_ext;
	const ss_plugin_table_writer_vtable_ext* wv = ti->writer_ext;
	ss_plugin_table_field_t* f;
	ct_strbuf tmp = {0};

	/* registry */
	ps->key_type = SS_PLUGIN_ST_INT64;
	uint32_t ntables = 0;
	ss_plugin_table_info* infos = ti->list_tables(ps->ck.owner, &ntables);
	int found = 0;
	for (uint32_t i = 0; infos && i < ntables; i++) {
		if (i) ct_sb_printf(&tmp, ",");
		ct_sb_printf(&tmp, "%s:%s", infos[i].name, ct_type_name(infos[i].key_type));
		if (strcmp(infos[i].name, ps->table) == 0) {
			ps->key_type = infos[i].key_type; /* the key type the table really has */
			found = 1;
		}
	}
	ct_rec(ck, "list_tables", infos != NULL && found, ntables, tmp.buf ? tmp.buf : "", 0);
	tmp.len = 0;

	ps->tbl = ti->get_table(ps->ck.owner, ps->table, ps->key_type);
	ct_rec(ck, "get_table", ps->tbl != NULL, ps->tbl != NULL, ps->table, ps->tbl == NULL);
	ss_plugin_state_type wrong = ps->key_type == SS_PLUGIN_ST_INT64 ? SS_PLUGIN_ST_UINT64 : SS_PLUGIN_ST_INT64;
	ss_plugin_table_t* h = ti->get_table(ps->ck.owner, ps->table, wrong);
	ct_rec(ck, "get_table.wrong_key_type", h == NULL, h != NULL, ct_type_name(wrong), 1);
	h = ti->get_table(ps->ck.owner, "ct_no_such_table", ps->key_type);
	ct_rec(ck, "get_table.unknown_table", h == NULL, h != NULL, "ct_no_such_table", 1);
	h = ti->get_table(ps->ck.owner, ps->table, (ss_plugin_state_type)99);
	ct_rec(ck, "get_table.unknown_state_type", h == NULL, h != NULL, "99", 1);
	h = ti->get_table(ps->ck.owner, ps->table, SS_PLUGIN_ST_TABLE);
	ct_rec(ck, "get_table.table_key_type", h == NULL, h != NULL, "table", 1);
	if (!ps->tbl) {
		ct_sb_free(&tmp);
		return;
	}

	/* fields */
	uint32_t nf = 0;
	const ss_plugin_table_fieldinfo* fi = fv->list_table_fields(ps->tbl, &nf);
	found = 0;
	for (uint32_t i = 0; fi && i < nf; i++) {
		if (i) ct_sb_printf(&tmp, ",");
		ct_sb_printf(&tmp, "%s:%s:%s", fi[i].name, ct_type_name(fi[i].field_type), fi[i].read_only ? "ro" : "rw");
		if (strcmp(fi[i].name, "comm") == 0 && fi[i].field_type == SS_PLUGIN_ST_STRING) found = 1;
	}
	ct_rec(ck, "list_table_fields", fi != NULL && found, nf, tmp.buf ? tmp.buf : "", 0);
	tmp.len = 0;

	ps->f_str = fv->get_table_field(ps->tbl, "comm", SS_PLUGIN_ST_STRING);
	ct_rec(ck, "get_table_field", ps->f_str != NULL, ps->f_str != NULL, "comm", ps->f_str == NULL);
	f = fv->get_table_field(ps->tbl, "comm", SS_PLUGIN_ST_UINT64);
	ct_rec(ck, "get_table_field.wrong_type", f == NULL, f != NULL, "comm", 1);
	f = fv->get_table_field(ps->tbl, "ct_no_such_field", SS_PLUGIN_ST_UINT64);
	ct_rec(ck, "get_table_field.unknown_field", f == NULL, f != NULL, "ct_no_such_field", 1);
	ps->f_ro = fv->get_table_field(ps->tbl, "cwd", SS_PLUGIN_ST_STRING);
	ct_rec(ck, "get_table_field.read_only", ps->f_ro != NULL, ps->f_ro != NULL, "cwd", ps->f_ro == NULL);
	ps->f_tab = fv->get_table_field(ps->tbl, "file_descriptors", SS_PLUGIN_ST_TABLE);
	ct_rec(ck, "get_table_field.table", ps->f_tab != NULL, ps->f_tab != NULL, "file_descriptors", ps->f_tab == NULL);

	ps->f_counter = fv->add_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_UINT64);
	ct_rec(ck, "add_table_field", ps->f_counter != NULL, ps->f_counter != NULL, "ct_counter",
	       ps->f_counter == NULL);
	f = fv->add_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_UINT64);
	ct_rec(ck, "add_table_field.idempotent", f != NULL && f == ps->f_counter, f != NULL, "ct_counter", f == NULL);
	f = fv->add_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_STRING);
	ct_rec(ck, "add_table_field.type_conflict", f == NULL, f != NULL, "ct_counter", 1);
	f = fv->add_table_field(ps->tbl, "comm", SS_PLUGIN_ST_STRING);
	ct_rec(ck, "add_table_field.static_name", f == NULL, f != NULL, "comm", 1);
	f = fv->add_table_field(ps->tbl, "ct_tablefield", SS_PLUGIN_ST_TABLE);
	ct_rec(ck, "add_table_field.table_type", f == NULL, f != NULL, "ct_tablefield", 1);
	ps->f_note = fv->add_table_field(ps->tbl, "ct_note", SS_PLUGIN_ST_STRING);
	ct_rec(ck, "add_table_field.string", ps->f_note != NULL, ps->f_note != NULL, "ct_note", ps->f_note == NULL);
	f = fv->get_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_UINT64);
	ct_rec(ck, "get_table_field.dynamic", f != NULL, f != NULL, "ct_counter", f == NULL);

	/* nested-field discovery through a detached entry: create -> read TABLE -> fields -> destroy */
	if (ps->f_tab && rv && wv) {
		ss_plugin_table_entry_t* tmpe = wv->create_table_entry(ps->tbl);
		ct_rec(ck, "init.create_table_entry", tmpe != NULL, tmpe != NULL, NULL, tmpe == NULL);
		if (tmpe) {
			ss_plugin_state_data out;
			memset(&out, 0, sizeof(out));
			ss_plugin_rc rc = rv->read_entry_field(ps->tbl, tmpe, ps->f_tab, &out);
			ct_rec(ck, "init.read_nested_table", rc == SS_PLUGIN_SUCCESS && out.table != NULL, rc, "file_descriptors",
			       rc != SS_PLUGIN_SUCCESS);
			if (rc == SS_PLUGIN_SUCCESS && out.table) {
				ss_plugin_table_t* nt = out.table;
				const char* nname = rv->get_table_name(nt);
				ct_rec(ck, "init.nested.get_table_name", nname != NULL, nname != NULL, nname, nname == NULL);
				uint64_t nsz = rv->get_table_size(nt);
				ct_recf(ck, "init.nested.get_table_size", nsz == 0, (int64_t)nsz, nsz == (uint64_t)-1, "%" PRIu64,
				        nsz);
				ps->f_nested = fv->get_table_field(nt, "fd", SS_PLUGIN_ST_INT64);
				ct_rec(ck, "init.nested.get_table_field", ps->f_nested != NULL, ps->f_nested != NULL,
				       "fd", ps->f_nested == NULL);
				ps->f_nested_custom = fv->add_table_field(nt, "ct_custom", SS_PLUGIN_ST_STRING);
				ct_rec(ck, "init.nested.add_table_field", ps->f_nested_custom != NULL, ps->f_nested_custom != NULL,
				       "ct_custom", ps->f_nested_custom == NULL);
				uint32_t nnf = 0;
				const ss_plugin_table_fieldinfo* nfi = fv->list_table_fields(nt, &nnf);
				int has_custom = 0;
				for (uint32_t i = 0; nfi && i < nnf; i++) {
					if (i) ct_sb_printf(&tmp, ",");
					ct_sb_printf(&tmp, "%s:%s:%s", nfi[i].name, ct_type_name(nfi[i].field_type),
					          nfi[i].read_only ? "ro" : "rw");
					if (strcmp(nfi[i].name, "ct_custom") == 0) has_custom = 1;
				}
				ct_rec(ck, "init.nested.list_table_fields", nfi != NULL && has_custom, nnf, tmp.buf ? tmp.buf : "",
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
				ct_recf(ck, "init.detached_write_read", rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS &&
				                                            out.u64 == 5,
				        rc, rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS, "%" PRIu64, out.u64);
			}
			wv->destroy_table_entry(ps->tbl, tmpe);
			ct_rec(ck, "init.destroy_table_entry", 1, 0, NULL, 0);
		}
	}
	ct_sb_free(&tmp);
}

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

static void parse_checks(plugin_state* ps, const ss_plugin_table_reader_vtable_ext* r,
                                const ss_plugin_table_writer_vtable_ext* w)
{
	ct_checks* ck = &ps->ck;
	ss_plugin_state_data k = ct_key(ps->key_type, ps->key);
	ss_plugin_state_data v, out;
	ss_plugin_rc rc, rc2;

	const char* name = r->get_table_name(ps->tbl);
	ct_rec(ck, "get_table_name", name && strcmp(name, ps->table) == 0, name != NULL, name, name == NULL);
	uint64_t n0 = r->get_table_size(ps->tbl);
	ct_recf(ck, "get_table_size", n0 != (uint64_t)-1, (int64_t)n0, n0 == (uint64_t)-1, "%" PRIu64, n0);

	ss_plugin_table_entry_t* e = r->get_table_entry(ps->tbl, &k);
	ct_recf(ck, "get_table_entry", e != NULL, e != NULL, e == NULL, "%" PRId64, ps->key);
	if (!e) return;

	memset(&out, 0, sizeof(out));
	rc = r->read_entry_field(ps->tbl, e, ps->f_str, &out);
	ct_rec(ck, "read_entry_field.string", rc == SS_PLUGIN_SUCCESS && out.str != NULL, rc,
	       rc == SS_PLUGIN_SUCCESS ? out.str : NULL, rc != SS_PLUGIN_SUCCESS);

	memset(&out, 0, sizeof(out));
	rc = r->read_entry_field(ps->tbl, e, ps->f_counter, &out);
	uint64_t before = out.u64;
	ct_recf(ck, "read_entry_field.dynamic", rc == SS_PLUGIN_SUCCESS, rc, rc != SS_PLUGIN_SUCCESS, "%" PRIu64, before);

	memset(&v, 0, sizeof(v));
	v.u64 = before + 1;
	rc = w->write_entry_field(ps->tbl, e, ps->f_counter, &v);
	memset(&out, 0, sizeof(out));
	rc2 = r->read_entry_field(ps->tbl, e, ps->f_counter, &out);
	ct_recf(ck, "write_entry_field.dynamic",
	        rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS && out.u64 == before + 1,
	        rc, rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS, "%" PRIu64, out.u64);

	memset(&v, 0, sizeof(v));
	char note[64];
	snprintf(note, sizeof(note), "ct-note-%" PRIu64, ps->ck.events);
	v.str = note;
	rc = w->write_entry_field(ps->tbl, e, ps->f_note, &v);
	memset(note, 'X', sizeof(note) - 1); /* the owner must have copied the string */
	memset(&out, 0, sizeof(out));
	rc2 = r->read_entry_field(ps->tbl, e, ps->f_note, &out);
	char want[64];
	snprintf(want, sizeof(want), "ct-note-%" PRIu64, ps->ck.events);
	ct_rec(ck, "write_entry_field.string",
	       rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS && out.str && strcmp(out.str, want) == 0, rc,
	       rc2 == SS_PLUGIN_SUCCESS ? out.str : NULL, rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS);

	memset(&v, 0, sizeof(v));
	v.str = NULL;
	rc = w->write_entry_field(ps->tbl, e, ps->f_note, &v);
	memset(&out, 0, sizeof(out));
	rc2 = r->read_entry_field(ps->tbl, e, ps->f_note, &out);
	ct_rec(ck, "write_entry_field.null_string",
	       rc == SS_PLUGIN_SUCCESS && rc2 == SS_PLUGIN_SUCCESS && out.str && out.str[0] == 0, rc,
	       rc2 == SS_PLUGIN_SUCCESS ? out.str : NULL, rc != SS_PLUGIN_SUCCESS || rc2 != SS_PLUGIN_SUCCESS);

	if (ps->f_ro) {
		memset(&v, 0, sizeof(v));
		v.str = "ct-forbidden";
		rc = w->write_entry_field(ps->tbl, e, ps->f_ro, &v);
		ct_rec(ck, "write_entry_field.read_only", rc == SS_PLUGIN_FAILURE, rc, "cwd", 1);
	}
	if (ps->f_tab) {
		memset(&v, 0, sizeof(v));
		rc = w->write_entry_field(ps->tbl, e, ps->f_tab, &v);
		ct_rec(ck, "write_entry_field.table", rc == SS_PLUGIN_FAILURE, rc, "file_descriptors", 1);

		memset(&out, 0, sizeof(out));
		rc = r->read_entry_field(ps->tbl, e, ps->f_tab, &out);
		ct_rec(ck, "read_entry_field.table", rc == SS_PLUGIN_SUCCESS && out.table != NULL, rc, "file_descriptors",
		       rc != SS_PLUGIN_SUCCESS);
		if (rc == SS_PLUGIN_SUCCESS && out.table) {
			ss_plugin_table_t* nt = out.table;
			uint64_t nsz = r->get_table_size(nt);
			ct_recf(ck, "nested.get_table_size", nsz != (uint64_t)-1, (int64_t)nsz, nsz == (uint64_t)-1,
			        "%" PRIu64, nsz);
			iter_ctx ic = {0, 0};
			ss_plugin_bool b = r->iterate_entries(nt, count_iter, &ic);
			ct_recf(ck, "nested.iterate_entries", b == 1 && ic.visited == nsz, b, b != 1, "%" PRIu64, ic.visited);
		}
	}
	if (ps->f_nested) {
		/* an accessor of the nested table used on a parent entry: the project's owner refuses it */
		memset(&out, 0, sizeof(out));
		rc = r->read_entry_field(ps->tbl, e, ps->f_nested, &out);
		ct_rec(ck, "read_entry_field.foreign_accessor", rc == SS_PLUGIN_FAILURE, rc, "fd", 1);
	}
	memset(&out, 0, sizeof(out));
	rc = r->read_entry_field(ps->tbl, e, NULL, &out);
	ct_rec(ck, "read_entry_field.null_accessor", rc == SS_PLUGIN_FAILURE, rc, NULL, 1);

	/* misses */
	int64_t missing = 0x7ffffff0;
	ss_plugin_state_data mk = ct_key(ps->key_type, missing);
	ss_plugin_table_entry_t* m = r->get_table_entry(ps->tbl, &mk);
	ct_recf(ck, "get_table_entry.missing", m == NULL, m != NULL, 1, "%" PRId64, missing);
	if (m) r->release_table_entry(ps->tbl, m);
	rc = w->erase_table_entry(ps->tbl, &mk);
	ct_recf(ck, "erase_table_entry.missing", rc == SS_PLUGIN_FAILURE, rc, 1, "%" PRId64, missing);

	/* create -> write -> add -> read -> release -> erase */
	int64_t newkey = 0x7ffffff1;
	ss_plugin_state_data nk = ct_key(ps->key_type, newkey);
	ss_plugin_table_entry_t* d = w->create_table_entry(ps->tbl);
	ct_rec(ck, "create_table_entry", d != NULL, d != NULL, NULL, d == NULL);
	if (d) {
		memset(&v, 0, sizeof(v));
		v.u64 = 7;
		rc = w->write_entry_field(ps->tbl, d, ps->f_counter, &v);
		ct_rec(ck, "write_entry_field.detached", rc == SS_PLUGIN_SUCCESS, rc, NULL, rc != SS_PLUGIN_SUCCESS);
		ss_plugin_table_entry_t* a = w->add_table_entry(ps->tbl, &nk, d);
		ct_recf(ck, "add_table_entry", a != NULL, a != NULL, a == NULL, "%" PRId64, newkey);
		uint64_t n1 = r->get_table_size(ps->tbl);
		ct_recf(ck, "add_table_entry.size", n1 == n0 + 1, (int64_t)n1, 0, "%" PRIu64, n1);
		if (a) {
			memset(&out, 0, sizeof(out));
			rc = r->read_entry_field(ps->tbl, a, ps->f_counter, &out);
			ct_recf(ck, "add_table_entry.read_back", rc == SS_PLUGIN_SUCCESS && out.u64 == 7, rc,
			        rc != SS_PLUGIN_SUCCESS, "%" PRIu64, out.u64);
			r->release_table_entry(ps->tbl, a);
		}
		rc = w->erase_table_entry(ps->tbl, &nk);
		ct_rec(ck, "erase_table_entry", rc == SS_PLUGIN_SUCCESS, rc, NULL, rc != SS_PLUGIN_SUCCESS);
		uint64_t n2 = r->get_table_size(ps->tbl);
		ct_recf(ck, "erase_table_entry.size", n2 == n0, (int64_t)n2, 0, "%" PRIu64, n2);
	}

	/* create -> destroy */
	d = w->create_table_entry(ps->tbl);
	if (d) w->destroy_table_entry(ps->tbl, d);
	ct_rec(ck, "destroy_table_entry", d != NULL, d != NULL, NULL, d == NULL);

	/* foreign entries: an attached entry given to destroy and to add */
	w->destroy_table_entry(ps->tbl, e);
	memset(&out, 0, sizeof(out));
	rc = r->read_entry_field(ps->tbl, e, ps->f_str, &out);
	uint64_t n3 = r->get_table_size(ps->tbl);
	/* err read after the read below would be stale-safe: read it via a separate record first */
	ct_rec(ck, "destroy_table_entry.foreign", rc == SS_PLUGIN_SUCCESS && n3 == n0, rc, NULL, 1);
	ss_plugin_state_data nk2 = ct_key(ps->key_type, newkey + 1);
	ss_plugin_table_entry_t* a2 = w->add_table_entry(ps->tbl, &nk2, e);
	ct_rec(ck, "add_table_entry.foreign", a2 == NULL, a2 != NULL, NULL, 1);
	if (a2) {
		r->release_table_entry(ps->tbl, a2);
		w->erase_table_entry(ps->tbl, &nk2);
	}

	/* iteration: full, then break-out after one */
	iter_ctx ic = {0, 0};
	ss_plugin_bool b = r->iterate_entries(ps->tbl, count_iter, &ic);
	uint64_t n4 = r->get_table_size(ps->tbl);
	ct_recf(ck, "iterate_entries", b == 1 && ic.visited == n4, b, b != 1, "%" PRIu64, ic.visited);
	iter_ctx ic2 = {0, 1};
	b = r->iterate_entries(ps->tbl, count_iter, &ic2);
	ct_recf(ck, "iterate_entries.break", b == 0 && ic2.visited == 1, b, 0, "%" PRIu64, ic2.visited);

	/* releases: the acquired one, then a stray one (must be a silent no-op) */
	r->release_table_entry(ps->tbl, e);
	ct_rec(ck, "release_table_entry", 1, 0, NULL, 0);
	r->release_table_entry(ps->tbl, e);
	ct_rec(ck, "release_table_entry.stray", 1, 0, NULL, 0);

	/* the same key acquired twice: two handles, two releases */
	ss_plugin_table_entry_t* e1 = r->get_table_entry(ps->tbl, &k);
	ss_plugin_table_entry_t* e2 = r->get_table_entry(ps->tbl, &k);
	ct_rec(ck, "get_table_entry.twice", e1 != NULL && e2 != NULL, (e1 != NULL) + (e2 != NULL), NULL,
	       e1 == NULL || e2 == NULL);
	if (e1) r->release_table_entry(ps->tbl, e1);
	if (e2) r->release_table_entry(ps->tbl, e2);

	/* nested writes, through a detached parent: add, erase, clear */
	if (ps->f_tab && ps->f_nested_custom) {
		ss_plugin_table_entry_t* p = w->create_table_entry(ps->tbl);
		memset(&out, 0, sizeof(out));
		rc = p ? r->read_entry_field(ps->tbl, p, ps->f_tab, &out) : SS_PLUGIN_FAILURE;
		ct_rec(ck, "nested.detached_parent", p && rc == SS_PLUGIN_SUCCESS && out.table, rc, NULL,
		       rc != SS_PLUGIN_SUCCESS);
		if (p && rc == SS_PLUGIN_SUCCESS && out.table) {
			ss_plugin_table_t* nt = out.table;
			int okn = 1;
			for (int64_t i = 0; i < 3; i++) {
				ss_plugin_table_entry_t* ne = w->create_table_entry(nt);
				memset(&v, 0, sizeof(v));
				v.str = "world";
				if (!ne || w->write_entry_field(nt, ne, ps->f_nested_custom, &v) != SS_PLUGIN_SUCCESS) okn = 0;
				ss_plugin_state_data nkey = ct_key(SS_PLUGIN_ST_INT64, i);
				ss_plugin_table_entry_t* na = ne ? w->add_table_entry(nt, &nkey, ne) : NULL;
				if (!na) okn = 0;
				else r->release_table_entry(nt, na);
			}
			uint64_t ns = r->get_table_size(nt);
			ct_recf(ck, "nested.add_table_entry", okn && ns == 3, (int64_t)ns, !okn, "%" PRIu64, ns);
			ss_plugin_state_data nkey = ct_key(SS_PLUGIN_ST_INT64, 1);
			rc = w->erase_table_entry(nt, &nkey);
			ns = r->get_table_size(nt);
			ct_recf(ck, "nested.erase_table_entry", rc == SS_PLUGIN_SUCCESS && ns == 2, rc, rc != SS_PLUGIN_SUCCESS,
			        "%" PRIu64, ns);
			rc = w->clear_table(nt);
			ns = r->get_table_size(nt);
			ct_recf(ck, "nested.clear_table", rc == SS_PLUGIN_SUCCESS && ns == 0, rc, rc != SS_PLUGIN_SUCCESS,
			        "%" PRIu64, ns);
		}
		if (p) w->destroy_table_entry(ps->tbl, p);
	}
}

CT_EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc)
{
	*rc = SS_PLUGIN_FAILURE;
	plugin_state* ps = calloc(1, sizeof(*ps));
	if (!ps) return NULL;
	ps->ck.plugin = "ct_table_api";
	ps->event_types[0] = 3;
	if (!in || !ct_tables_complete(in->tables)) {
		ct_set_error("ct_table_api needs a complete tables input");
		return ps;
	}
	snprintf(ps->table, sizeof(ps->table), "%s", in->config && in->config[0] ? in->config : "threads");
	ct_phase(&ps->ck, "init", in->owner, in->get_owner_last_error);
	ps->log_fn = in->log_fn;
	if (ps->log_fn) ps->log_fn(in->owner, NULL, "initializing", SS_PLUGIN_LOG_SEV_INFO);
	init_checks(ps, in->tables);
	if (ps->log_fn) ps->log_fn(in->owner, "ct_table_api", "initialized", SS_PLUGIN_LOG_SEV_DEBUG);
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
	ct_checks* ck = &ps->ck;
	ct_phase(&ps->ck, "parse", in->owner, in->get_owner_last_error);
	ct_rec(ck, "event", ev && ev->evt && ev->evtsrc && strcmp(ev->evtsrc, "syscall") == 0,
	          ev && ev->evt ? ev->evt->type : -1, ev ? ev->evtsrc : NULL, 0);
	ps->key = ev && ev->evt ? (int64_t)ev->evt->tid : 0;
	if (ps->tbl && ps->f_str && ps->f_counter && ps->f_note)
		parse_checks(ps, in->table_reader_ext, in->table_writer_ext);
	ps->ck.events++;
	return SS_PLUGIN_SUCCESS;
}

CT_EXPORT const char* ct_report(ss_plugin_t* s)
{
	return ct_checks_report(&((plugin_state*)s)->ck);
}
