/*
 * state_types.c -- a parse plugin that round-trips every state type through the host's
 * write_entry_field / read_entry_field. No config; it uses Falco's threads table (INT64 key).
 *
 * State machine:
 *   plugin_init         adds one dynamic field per state type to threads: ct_t_<type> for the
 *                       eight integer types, bool and string, and a second string ct_t_string2.
 *   plugin_parse_event  (every event; entry = the event's tid) writes two values to each field
 *                       and reads each back: the extremes of each integer type, 0 then 7 for bool
 *                       (must read 1), "" and a non-ASCII string, and a NULL string (must read
 *                       ""). One check per field, "types.<type>", its detail the values read.
 *   plugin_destroy      frees the state.
 */
#include "ct_checks.h"

typedef struct plugin_state {
	ct_checks ck;
	ss_plugin_table_t* tbl;
	ss_plugin_table_field_t* f_types[11]; /* see g_types */
	uint16_t event_types[1];
} plugin_state;

CT_PLUGIN_INFO("ct_state_types", "concurrent_tables test plugin: every state type, written and read")

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

static void init_checks(plugin_state* ps, const ss_plugin_init_tables_input* ti)
{
	ct_checks* ck = &ps->ck;
	int ok = 1;
	for (int i = 0; i < 11; i++) {
		ps->f_types[i] = ti->fields_ext->add_table_field(ps->tbl, g_types[i].field, g_types[i].type);
		if (!ps->f_types[i]) ok = 0;
	}
	ct_rec(ck, "types.add_table_field", ok, ok, NULL, !ok);
}

/* Two values per type: the extremes of each integer type, 0/1 for bool (written as 7: must read 1),
 * an empty string and a non-ASCII one. */
static void parse_checks(plugin_state* ps, const ss_plugin_table_reader_vtable_ext* r,
                           const ss_plugin_table_writer_vtable_ext* w, ss_plugin_table_entry_t* e)
{
	ct_checks* ck = &ps->ck;
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
		ct_rec(ck, name, ok, ok, detail, !ok);
	}
}

CT_EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc)
{
	*rc = SS_PLUGIN_FAILURE;
	plugin_state* ps = calloc(1, sizeof(*ps));
	if (!ps) return NULL;
	ps->ck.plugin = "ct_state_types";
	ps->event_types[0] = 3;
	if (!in || !ct_tables_complete(in->tables)) {
		ct_set_error("ct_state_types needs a complete tables input");
		return ps;
	}
	ct_phase(&ps->ck, "init", in->owner, in->get_owner_last_error);
	ps->tbl = in->tables->get_table(in->owner, "threads", SS_PLUGIN_ST_INT64);
	if (!ps->tbl) {
		const char* err = ct_owner_error(&ps->ck);
		ct_set_error("ct_state_types: no threads table: %s", err ? err : "");
		return ps;
	}
	init_checks(ps, in->tables);
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
	const ss_plugin_table_reader_vtable_ext* r = in->table_reader_ext;
	ss_plugin_state_data k = ct_key(SS_PLUGIN_ST_INT64, ev && ev->evt ? (int64_t)ev->evt->tid : 0);
	ss_plugin_table_entry_t* e = r->get_table_entry(ps->tbl, &k);
	ct_rec(ck, "types.get_table_entry", e != NULL, e != NULL, NULL, e == NULL);
	if (e) {
		parse_checks(ps, r, in->table_writer_ext, e);
		r->release_table_entry(ps->tbl, e);
	}
	ps->ck.events++;
	return SS_PLUGIN_SUCCESS;
}

CT_EXPORT const char* ct_report(ss_plugin_t* s)
{
	return ct_checks_report(&((plugin_state*)s)->ck);
}
