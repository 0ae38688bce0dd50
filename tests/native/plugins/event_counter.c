/*
 * event_counter.c -- a parse plugin like the Falco SDK's syscall_parse example: for each event it
 * increments the dynamic UINT64 field ct_counter of entry <event tid> of Falco's threads table.
 *
 * Config: "event_types=T1,T2,..." (optional): the event types it asks for (default 3; an empty
 * list asks for every type). Any other key fails plugin_init ("unknown config key: <key>").
 *
 * State machine:
 *   plugin_init         parses the config (before touching tables), imports threads (INT64
 *                       keys) and adds ct_counter; a missing table fails init with the owner
 *                       error. A failed init still returns its state, with the error set.
 *   plugin_parse_event  get entry, read, write + 1, release; an unknown tid fails the event
 *                       ("can't get table entry: <owner error>").
 *   plugin_destroy      frees the state.
 */
#include "ct_checks.h"

#define MAX_EVENT_TYPES 64

typedef struct plugin_state {
	ss_plugin_owner_t* owner;
	ct_get_owner_last_error_fn owner_err; /* of the current phase */
	ss_plugin_table_t* tbl;
	ss_plugin_table_field_t* f_counter;
	uint16_t event_types[MAX_EVENT_TYPES];
	uint32_t n_event_types;
} plugin_state;

CT_PLUGIN_INFO("ct_event_counter", "concurrent_tables test plugin: counts events per thread")

static const char* owner_error(const plugin_state* ps)
{
	const char* err = ps->owner_err ? ps->owner_err(ps->owner) : NULL;
	return err ? err : "";
}

/* Returns 0 with the error set on a malformed config. */
static int parse_config(plugin_state* ps, const char* text)
{
	ps->event_types[0] = 3;
	ps->n_event_types = 1;
	if (!text || !text[0]) return 1;
	const char* eq = strchr(text, '=');
	if (!eq || (size_t)(eq - text) != strlen("event_types") || strncmp(text, "event_types", (size_t)(eq - text))) {
		ct_set_error("unknown config key: %.*s", eq ? (int)(eq - text) : (int)strlen(text), text);
		return 0;
	}
	ps->n_event_types = 0;
	for (const char* p = eq + 1; *p && ps->n_event_types < MAX_EVENT_TYPES;) {
		char* end = NULL;
		unsigned long t = strtoul(p, &end, 10);
		if (end == p || t > UINT16_MAX || (*end && *end != ',')) {
			ct_set_error("bad event type list: %s", eq + 1);
			return 0;
		}
		ps->event_types[ps->n_event_types++] = (uint16_t)t;
		p = *end ? end + 1 : end;
	}
	return 1;
}

CT_EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc)
{
	*rc = SS_PLUGIN_FAILURE;
	plugin_state* ps = calloc(1, sizeof(*ps));
	if (!ps) return NULL;
	if (!in) {
		ct_set_error("null init input");
		return ps;
	}
	ps->owner = in->owner;
	ps->owner_err = in->get_owner_last_error;
	if (!parse_config(ps, in->config)) return ps;
	if (!ct_tables_complete(in->tables)) {
		ct_set_error("ct_event_counter needs a complete tables input");
		return ps;
	}
	ps->tbl = in->tables->get_table(in->owner, "threads", SS_PLUGIN_ST_INT64);
	if (!ps->tbl) {
		ct_set_error("no table 'threads' with int64 keys: %s", owner_error(ps));
		return ps;
	}
	ps->f_counter = in->tables->fields_ext->add_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_UINT64);
	if (!ps->f_counter) {
		ct_set_error("can't add field ct_counter: %s", owner_error(ps));
		return ps;
	}
	*rc = SS_PLUGIN_SUCCESS;
	return ps;
}

CT_EXPORT void plugin_destroy(ss_plugin_t* s)
{
	free(s);
}

CT_EXPORT uint16_t* plugin_get_parse_event_types(uint32_t* numtypes, ss_plugin_t* s)
{
	plugin_state* ps = s;
	*numtypes = ps->n_event_types;
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
	ps->owner = in->owner;
	ps->owner_err = in->get_owner_last_error;
	const ss_plugin_table_reader_vtable_ext* r = in->table_reader_ext;
	ss_plugin_state_data k = ct_key(SS_PLUGIN_ST_INT64, (int64_t)ev->evt->tid), out, v;
	ss_plugin_table_entry_t* e = r->get_table_entry(ps->tbl, &k);
	if (!e) {
		ct_set_error("can't get table entry: %s", owner_error(ps));
		return SS_PLUGIN_FAILURE;
	}
	ss_plugin_rc res = SS_PLUGIN_FAILURE;
	memset(&out, 0, sizeof(out));
	if (r->read_entry_field(ps->tbl, e, ps->f_counter, &out) != SS_PLUGIN_SUCCESS) {
		ct_set_error("can't read field: %s", owner_error(ps));
	} else {
		memset(&v, 0, sizeof(v));
		v.u64 = out.u64 + 1;
		if (in->table_writer_ext->write_entry_field(ps->tbl, e, ps->f_counter, &v) != SS_PLUGIN_SUCCESS)
			ct_set_error("can't write field: %s", owner_error(ps));
		else
			res = SS_PLUGIN_SUCCESS;
	}
	r->release_table_entry(ps->tbl, e);
	return res;
}
