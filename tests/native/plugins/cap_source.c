/*
 * cap_source.c -- a source plugin for the host's tests (docs/c-abi.md).
 *
 * State machine (one open instance at a time, as under libsinsp):
 *
 *   init -> [open -> next_batch* -> close]* -> destroy
 *
 *   open(params)     params "n=N batch=B timeout_at=K fail_at=K eof_with_events bad_id fail_open";
 *                    fail_open: rc FAILURE, NULL instance, error text set.
 *   next_batch       emitted == timeout_at (once): TIMEOUT, 0 events;
 *                    emitted == fail_at: FAILURE, 0 events, error text set;
 *                    emitted == n: EOF, 0 events;
 *                    else up to B events; with eof_with_events the batch that reaches n comes with
 *                    EOF (a deferred code: the host delivers them first).
 *   close(inst)      frees the instance; counted (cap_source_closes).
 *
 * Events: with an id (default build) PPME_PLUGINEVENT_E, payload "hello world #i\0", plugin id 0
 * (bad_id: 12345), ts = tid = UINT64_MAX; built with -DCAP_SYSCALL_SOURCE, no id/source and
 * PPME_SYSCALL_OPEN_X events (fd i+3, name "/tmp/cap_i", tid 100+i, ts 1000+i). Each batch slot
 * reuses one buffer, as SDK plugins do, so the host must copy.
 */
#include <stdint.h>

#define CAP_NAME "cap_source"
#define CAP_MAX_BATCH 8

#include "cap_common.h"

struct cap_state {
	char lasterr[PLUGIN_MAX_ERRLEN];
	int opened;
	uint64_t closes;
	char text[256];
};

struct cap_instance {
	long n, batch, timeout_at, fail_at, emitted;
	int timed_out, eof_with_events, bad_id;
	uint8_t bufs[CAP_MAX_BATCH][256];
	ss_plugin_event* ptrs[CAP_MAX_BATCH];
};

ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc) {
	struct cap_state* s = calloc(1, sizeof(*s));
	if (!s) {
		*rc = SS_PLUGIN_FAILURE;
		return NULL;
	}
	if (in && in->config && cap_flag(in->config, "fail_init")) {
		cap_error(s, "cap_source: init failed as configured");
		*rc = SS_PLUGIN_FAILURE;
		return s;
	}
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t* s) { free(s); }

#ifndef CAP_SYSCALL_SOURCE
uint32_t plugin_get_id(void) { return 999; }
const char* plugin_get_event_source(void) { return "cap_source"; }
#endif

const char* plugin_list_open_params(ss_plugin_t* s, ss_plugin_rc* rc) {
	(void)s;
	*rc = SS_PLUGIN_SUCCESS;
	return "[{\"value\":\"n=3\",\"desc\":\"three events\"},"
	       "{\"value\":\"n=10 batch=4\",\"desc\":\"ten events, four per batch\"}]";
}

ss_instance_t* plugin_open(ss_plugin_t* st, const char* params, ss_plugin_rc* rc) {
	struct cap_state* s = st;
	if (params == NULL) {
		cap_error(s, "cap_source: open params are NULL");
		*rc = SS_PLUGIN_FAILURE;
		return NULL;
	}
	if (cap_flag(params, "fail_open")) {
		cap_error(s, "cap_source: cannot open '%s'", params);
		*rc = SS_PLUGIN_FAILURE;
		return NULL;
	}
	if (s->opened) {
		cap_error(s, "cap_source: already open");
		*rc = SS_PLUGIN_FAILURE;
		return NULL;
	}
	struct cap_instance* i = calloc(1, sizeof(*i));
	if (!i) {
		cap_error(s, "cap_source: out of memory");
		*rc = SS_PLUGIN_FAILURE;
		return NULL;
	}
	i->n = cap_option(params, "n", 3);
	i->batch = cap_option(params, "batch", 1);
	if (i->batch < 1 || i->batch > CAP_MAX_BATCH) i->batch = 1;
	i->timeout_at = cap_option(params, "timeout_at", -1);
	i->fail_at = cap_option(params, "fail_at", -1);
	i->eof_with_events = cap_flag(params, "eof_with_events");
	i->bad_id = cap_flag(params, "bad_id");
	for (int k = 0; k < CAP_MAX_BATCH; k++) i->ptrs[k] = (ss_plugin_event*)i->bufs[k];
	s->opened = 1;
	*rc = SS_PLUGIN_SUCCESS;
	return i;
}

void plugin_close(ss_plugin_t* st, ss_instance_t* inst) {
	struct cap_state* s = st;
	free(inst);
	s->opened = 0;
	s->closes++;
}

uint64_t cap_source_closes(ss_plugin_t* st) { return ((struct cap_state*)st)->closes; }

static void put(uint8_t** p, const void* v, size_t n) {
	memcpy(*p, v, n);
	*p += n;
}

static void fill_event(struct cap_instance* i, uint8_t* buf, long k) {
	ss_plugin_event h;
	uint8_t* p = buf + sizeof(h);
#ifndef CAP_SYSCALL_SOURCE
	char payload[64];
	uint32_t plen = (uint32_t)snprintf(payload, sizeof(payload), "hello world #%ld", k) + 1;
	uint32_t lens[2] = {4, plen};
	uint32_t id = i->bad_id ? 12345 : 0;
	put(&p, lens, sizeof(lens));
	put(&p, &id, 4);
	put(&p, payload, plen);
	h.ts = UINT64_MAX;
	h.tid = UINT64_MAX;
	h.type = 322;
	h.nparams = 2;
#else
	(void)i;
	char name[64];
	uint16_t nlen = (uint16_t)(snprintf(name, sizeof(name), "/tmp/cap_%ld", k) + 1);
	uint16_t lens[6] = {8, nlen, 4, 4, 4, 8};
	int64_t fd = k + 3;
	uint32_t flags = 1, mode = 0, dev = 0;
	uint64_t ino = (uint64_t)k;
	put(&p, lens, sizeof(lens));
	put(&p, &fd, 8);
	put(&p, name, nlen);
	put(&p, &flags, 4);
	put(&p, &mode, 4);
	put(&p, &dev, 4);
	put(&p, &ino, 8);
	h.ts = 1000 + (uint64_t)k;
	h.tid = 100 + (uint64_t)k;
	h.type = 3;
	h.nparams = 6;
#endif
	h.len = (uint32_t)(p - buf);
	memcpy(buf, &h, sizeof(h));
}

ss_plugin_rc plugin_next_batch(ss_plugin_t* st, ss_instance_t* inst, uint32_t* nevts, ss_plugin_event*** evts) {
	struct cap_state* s = st;
	struct cap_instance* i = inst;
	*nevts = 0;
	*evts = NULL;
	if (i->emitted == i->timeout_at && !i->timed_out) {
		i->timed_out = 1;
		return SS_PLUGIN_TIMEOUT;
	}
	if (i->emitted == i->fail_at) {
		cap_error(s, "cap_source: failed at event %ld as configured", i->emitted);
		return SS_PLUGIN_FAILURE;
	}
	if (i->emitted >= i->n) return SS_PLUGIN_EOF;
	long count = i->n - i->emitted < i->batch ? i->n - i->emitted : i->batch;
	for (long k = 0; k < count; k++) fill_event(i, i->bufs[k], i->emitted + k);
	i->emitted += count;
	*nevts = (uint32_t)count;
	*evts = i->ptrs;
	if (i->eof_with_events && i->emitted >= i->n) return SS_PLUGIN_EOF;
	return SS_PLUGIN_SUCCESS;
}

const char* plugin_get_progress(ss_plugin_t* st, ss_instance_t* inst, uint32_t* pct) {
	struct cap_state* s = st;
	struct cap_instance* i = inst;
	*pct = i->n > 0 ? (uint32_t)(i->emitted * 10000 / i->n) : 10000;
	snprintf(s->text, sizeof(s->text), "%ld/%ld events", i->emitted, i->n);
	return s->text;
}

const char* plugin_event_to_string(ss_plugin_t* st, const ss_plugin_event_input* in) {
	struct cap_state* s = st;
	const uint8_t* e = (const uint8_t*)in->evt;
	if (in->evt->type != 322) {
		snprintf(s->text, sizeof(s->text), "cap_source: event type %u", in->evt->type);
		return s->text;
	}
	uint32_t plen;
	memcpy(&plen, e + 30, 4);
	snprintf(s->text, sizeof(s->text), "cap_source: %.*s", (int)(plen ? plen - 1 : 0),
	         (const char*)e + PLUGIN_EVENT_PAYLOAD_OFFSET);
	return s->text;
}
