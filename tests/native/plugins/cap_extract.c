/*
 * cap_extract.c -- an extraction plugin with a field of every value type (docs/c-abi.md).
 *
 * State machine: init -> extract_fields* -> destroy. Results live in the state and are
 * overwritten by the next extract_fields call, so the host must copy them at once.
 *
 * Event types 3 (SYSCALL_OPEN_X) and 322 (plugin events); sources "syscall" and "cap_source".
 * Every request is checked against the field's declared type: a wrong ftype, a wrong flist
 * (libsinsp passes 64 for lists) or a field_id/name mismatch fails with an error naming it.
 * cap.fail always fails, cap.none always succeeds without a value.
 */
#include <stdint.h>

#define CAP_NAME "cap_extract"
#include "cap_common.h"

static const char* FIELDS =
    "["
    "{\"name\":\"cap.evtnum\",\"type\":\"uint64\",\"desc\":\"the event number\"},"
    "{\"name\":\"cap.text\",\"type\":\"string\",\"desc\":\"payload or file name\"},"
    "{\"name\":\"cap.reltime\",\"type\":\"reltime\",\"desc\":\"always 1500 ns\"},"
    "{\"name\":\"cap.abstime\",\"type\":\"abstime\",\"desc\":\"the event ts\"},"
    "{\"name\":\"cap.isplugin\",\"type\":\"bool\",\"desc\":\"a plugin event\"},"
    "{\"name\":\"cap.ipv4\",\"type\":\"ipaddr\",\"desc\":\"192.168.1.2\"},"
    "{\"name\":\"cap.ipv6\",\"type\":\"ipaddr\",\"desc\":\"2001:db8::1\"},"
    "{\"name\":\"cap.net\",\"type\":\"ipnet\",\"desc\":\"10.1.0.0\"},"
    "{\"name\":\"cap.u64list\",\"type\":\"uint64\",\"isList\":true,\"desc\":\"1, 2, 3\"},"
    "{\"name\":\"cap.strlist\",\"type\":\"string\",\"isList\":true,\"desc\":\"a, b, text\"},"
    "{\"name\":\"cap.idx\",\"type\":\"uint64\",\"desc\":\"twice the index\","
    "\"arg\":{\"isRequired\":true,\"isIndex\":true,\"isKey\":false}},"
    "{\"name\":\"cap.key\",\"type\":\"string\",\"desc\":\"key:<arg>\","
    "\"arg\":{\"isRequired\":true,\"isIndex\":false,\"isKey\":true}},"
    "{\"name\":\"cap.both\",\"type\":\"string\",\"desc\":\"what argument came\","
    "\"arg\":{\"isRequired\":false,\"isIndex\":true,\"isKey\":true}},"
    "{\"name\":\"cap.fail\",\"type\":\"uint64\",\"desc\":\"always fails\"},"
    "{\"name\":\"cap.none\",\"type\":\"uint64\",\"desc\":\"never has a value\"},"
    "{\"name\":\"cap.boollist\",\"type\":\"bool\",\"isList\":true,\"desc\":\"true, false\"},"
    "{\"name\":\"cap.iplist\",\"type\":\"ipaddr\",\"isList\":true,\"desc\":\"v4 and v6\"}"
    "]";

enum { F_EVTNUM, F_TEXT, F_RELTIME, F_ABSTIME, F_ISPLUGIN, F_IPV4, F_IPV6, F_NET, F_U64LIST,
       F_STRLIST, F_IDX, F_KEY, F_BOTH, F_FAIL, F_NONE, F_BOOLLIST, F_IPLIST, F_COUNT };

static const struct { uint32_t ftype; int list; const char* name; } SPEC[F_COUNT] = {
    {FTYPE_UINT64, 0, "cap.evtnum"},   {FTYPE_STRING, 0, "cap.text"},
    {FTYPE_RELTIME, 0, "cap.reltime"}, {FTYPE_ABSTIME, 0, "cap.abstime"},
    {FTYPE_BOOL, 0, "cap.isplugin"},   {FTYPE_IPADDR, 0, "cap.ipv4"},
    {FTYPE_IPADDR, 0, "cap.ipv6"},     {FTYPE_IPNET, 0, "cap.net"},
    {FTYPE_UINT64, 1, "cap.u64list"},  {FTYPE_STRING, 1, "cap.strlist"},
    {FTYPE_UINT64, 0, "cap.idx"},      {FTYPE_STRING, 0, "cap.key"},
    {FTYPE_STRING, 0, "cap.both"},     {FTYPE_UINT64, 0, "cap.fail"},
    {FTYPE_UINT64, 0, "cap.none"},     {FTYPE_BOOL, 1, "cap.boollist"},
    {FTYPE_IPADDR, 1, "cap.iplist"},
};

static const uint8_t IPV4[4] = {192, 168, 1, 2};
static const uint8_t NET[4] = {10, 1, 0, 0};
static const uint8_t IPV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

struct cap_state {
	char lasterr[PLUGIN_MAX_ERRLEN];
	uint64_t u64[3];
	ss_plugin_bool b[2];
	ss_plugin_byte_buffer buf[2];
	const char* strs[3];
	char text[256];
	char arg[256];
	uint32_t off_start, off_len;
	uint64_t calls;
};

ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc) {
	struct cap_state* s = calloc(1, sizeof(*s));
	if (!s) return NULL; /* *rc stays FAILURE, as the host pre-set it */
	if (in && in->config && cap_flag(in->config, "fail_init")) {
		cap_error(s, "cap_extract: init failed as configured");
		return s;
	}
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t* s) { free(s); }

const char* plugin_get_fields(void) { return FIELDS; }
const char* plugin_get_extract_event_sources(void) { return "[\"syscall\",\"cap_source\"]"; }

uint16_t* plugin_get_extract_event_types(uint32_t* n, ss_plugin_t* s) {
	static uint16_t types[2] = {3, 322};
	(void)s;
	*n = 2;
	return types;
}

uint64_t cap_extract_calls(ss_plugin_t* st) { return ((struct cap_state*)st)->calls; }

/* The event's text: a plugin event's payload, or an open exit's name; "" otherwise. */
static const char* event_text(struct cap_state* s, const ss_plugin_event* e, uint32_t* start, uint32_t* len) {
	const uint8_t* p = (const uint8_t*)e;
	*start = *len = 0;
	s->text[0] = '\0';
	if (e->type == 322 && e->nparams == 2) {
		uint32_t plen;
		memcpy(&plen, p + 30, 4);
		if (plen > 0 && plen < sizeof(s->text)) {
			memcpy(s->text, p + PLUGIN_EVENT_PAYLOAD_OFFSET, plen);
			s->text[plen - 1] = '\0';
			*start = PLUGIN_EVENT_PAYLOAD_OFFSET;
			*len = (uint32_t)strlen(s->text);
		}
	} else if (e->type == 3 && e->nparams >= 2) {
		uint16_t l0, l1;
		memcpy(&l0, p + 26, 2);
		memcpy(&l1, p + 28, 2);
		uint32_t at = 26 + e->nparams * 2 + l0;
		if (l1 > 0 && l1 < sizeof(s->text) && at + l1 <= e->len) {
			memcpy(s->text, p + at, l1);
			s->text[l1 - 1] = '\0';
			*start = at;
			*len = (uint32_t)strlen(s->text);
		}
	}
	return s->text;
}

static ss_plugin_rc extract_one(struct cap_state* s, const ss_plugin_event_input* ev, ss_plugin_extract_field* f) {
	f->res_len = 0;
	if (f->field_id >= F_COUNT || !f->field || strcmp(f->field, SPEC[f->field_id].name) != 0) {
		cap_error(s, "cap_extract: field id %u does not name '%s'", f->field_id, f->field ? f->field : "(null)");
		return SS_PLUGIN_FAILURE;
	}
	uint32_t want_list = SPEC[f->field_id].list ? 64 : 0;
	if (f->ftype != SPEC[f->field_id].ftype || f->flist != want_list) {
		cap_error(s, "cap_extract: bad request for %s: ftype %u flist %u (want %u, %u)", f->field, f->ftype,
		          f->flist, SPEC[f->field_id].ftype, want_list);
		return SS_PLUGIN_FAILURE;
	}
	uint32_t start, len;
	const ss_plugin_event* e = ev->evt;
	switch (f->field_id) {
	case F_EVTNUM: s->u64[0] = ev->evtnum; f->res.u64 = s->u64; f->res_len = 1; break;
	case F_TEXT:
		s->strs[0] = event_text(s, e, &start, &len);
		s->off_start = start;
		s->off_len = len;
		f->res.str = s->strs;
		f->res_len = 1;
		break;
	case F_RELTIME: s->u64[0] = 1500; f->res.u64 = s->u64; f->res_len = 1; break;
	case F_ABSTIME: s->u64[0] = e->ts; f->res.u64 = s->u64; f->res_len = 1; break;
	case F_ISPLUGIN: s->b[0] = e->type == 322; f->res.boolean = s->b; f->res_len = 1; break;
	case F_IPV4: s->buf[0] = (ss_plugin_byte_buffer){4, IPV4}; f->res.buf = s->buf; f->res_len = 1; break;
	case F_IPV6: s->buf[0] = (ss_plugin_byte_buffer){16, IPV6}; f->res.buf = s->buf; f->res_len = 1; break;
	case F_NET: s->buf[0] = (ss_plugin_byte_buffer){4, NET}; f->res.buf = s->buf; f->res_len = 1; break;
	case F_U64LIST:
		s->u64[0] = 1; s->u64[1] = 2; s->u64[2] = 3;
		f->res.u64 = s->u64;
		f->res_len = 3;
		break;
	case F_STRLIST:
		s->strs[0] = "a"; s->strs[1] = "b"; s->strs[2] = event_text(s, e, &start, &len);
		f->res.str = s->strs;
		f->res_len = 3;
		break;
	case F_IDX:
		if (!f->arg_present) {
			cap_error(s, "cap_extract: cap.idx needs an index");
			return SS_PLUGIN_FAILURE;
		}
		s->u64[0] = f->arg_index * 2;
		f->res.u64 = s->u64;
		f->res_len = 1;
		break;
	case F_KEY:
		if (!f->arg_present || !f->arg_key) {
			cap_error(s, "cap_extract: cap.key needs a key");
			return SS_PLUGIN_FAILURE;
		}
		snprintf(s->arg, sizeof(s->arg), "key:%s", f->arg_key);
		s->strs[0] = s->arg;
		f->res.str = s->strs;
		f->res_len = 1;
		break;
	case F_BOTH:
		if (!f->arg_present) snprintf(s->arg, sizeof(s->arg), "none");
		else if (f->arg_key && f->arg_index != UINT64_MAX)
			snprintf(s->arg, sizeof(s->arg), "index:%llu key:%s", (unsigned long long)f->arg_index, f->arg_key);
		else snprintf(s->arg, sizeof(s->arg), "key:%s", f->arg_key ? f->arg_key : "(null)");
		s->strs[0] = s->arg;
		f->res.str = s->strs;
		f->res_len = 1;
		break;
	case F_FAIL: cap_error(s, "cap_extract: cap.fail always fails"); return SS_PLUGIN_FAILURE;
	case F_NONE: break;
	case F_BOOLLIST: s->b[0] = 1; s->b[1] = 0; f->res.boolean = s->b; f->res_len = 2; break;
	case F_IPLIST:
		s->buf[0] = (ss_plugin_byte_buffer){4, IPV4};
		s->buf[1] = (ss_plugin_byte_buffer){16, IPV6};
		f->res.buf = s->buf;
		f->res_len = 2;
		break;
	}
	return SS_PLUGIN_SUCCESS;
}

ss_plugin_rc plugin_extract_fields(ss_plugin_t* st, const ss_plugin_event_input* ev,
                                   const ss_plugin_field_extract_input* in) {
	struct cap_state* s = st;
	s->calls++;
	for (uint32_t i = 0; i < in->num_fields; i++) {
		if (extract_one(s, ev, &in->fields[i]) != SS_PLUGIN_SUCCESS) return SS_PLUGIN_FAILURE;
	}
	/* Offsets: only for a single cap.text request, as libsinsp asks them. */
	if (in->value_offsets && in->num_fields == 1 && in->fields[0].field_id == F_TEXT && s->off_len) {
		in->value_offsets->start = &s->off_start;
		in->value_offsets->length = &s->off_len;
	}
	return SS_PLUGIN_SUCCESS;
}
