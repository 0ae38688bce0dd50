/*
 * cap_async.c -- an async event injector (docs/c-abi.md).
 *
 * State machine:
 *
 *   init(config) -> stopped
 *   stopped --set_async_event_handler(h != NULL)--> running: `threads` producer threads start; each
 *       sends `count` PPME_ASYNCEVENT_E events named "cap_tick" with data "t<k>#<i>" through h
 *       (count=0: until stopped, pacing itself), tid `tid` (default UINT64_MAX), ts UINT64_MAX,
 *       or with `ts=T` (and `ts_step=S`, default 0) event i gets ts T + S*i (S may be negative).
 *       With `bad`, thread 0 first sends a malformed event (2 params) and one named "nope".
 *   running --set_async_event_handler(NULL)--> stopped: producers told to stop and joined before
 *       returning (the host must hold no lock they need).
 *   running --set_async_event_handler(h)--> FAILURE (reset first).
 *   destroy: stops and joins too.
 *
 * init with "export": registers table "cap_async_table" (cap_table.h) and tries to import "threads"
 * (an async-only plugin may export, not import: cap_async_imported reports what get_table gave).
 * dump_state(h) pushes two "cap_other" events synchronously. Counters (cap_async_sent/_failed,
 * cap_async_last_error) record what the handler returned.
 */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#define CAP_NAME "cap_async"
#define CAP_MAX_THREADS 8
#include "cap_table.h"

#ifndef CAP_ASYNC_SOURCES
#define CAP_ASYNC_SOURCES ""
#endif

struct cap_state {
	char lasterr[PLUGIN_MAX_ERRLEN];
	ss_plugin_owner_t* owner;
	ss_plugin_async_event_handler_t handler;
	pthread_t threads[CAP_MAX_THREADS];
	int nthreads, running, stop, bad;
	long count;
	uint64_t tid;
	long ts, ts_step; /* ts < 0: UINT64_MAX */
	uint64_t sent, failed;
	pthread_mutex_t errlock;
	char handler_err[PLUGIN_MAX_ERRLEN];
	struct cap_table table;
	int imported;
};

struct producer {
	struct cap_state* s;
	int k;
};

const char* plugin_get_async_events(void) { return "[\"cap_tick\",\"cap_other\"]"; }
const char* plugin_get_async_event_sources(void) { return CAP_ASYNC_SOURCES; }

ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc) {
	struct cap_state* s = calloc(1, sizeof(*s));
	if (!s) return NULL;
	const char* cfg = in ? in->config : NULL;
	s->count = cap_option(cfg, "count", 5);
	s->nthreads = (int)cap_option(cfg, "threads", 1);
	if (s->nthreads < 1 || s->nthreads > CAP_MAX_THREADS) s->nthreads = 1;
	long tid = cap_option(cfg, "tid", -1);
	s->tid = tid < 0 ? UINT64_MAX : (uint64_t)tid;
	s->bad = cap_flag(cfg, "bad");
	s->ts = cap_option(cfg, "ts", -1);
	s->ts_step = cap_option(cfg, "ts_step", 0);
	pthread_mutex_init(&s->errlock, NULL);
	if (cap_flag(cfg, "export")) {
		if (cap_table_export(&s->table, "cap_async_table", in) != SS_PLUGIN_SUCCESS) {
			cap_error(s, "cap_async: add_table failed");
			return s;
		}
		s->imported = in->tables->get_table(in->owner, "threads", SS_PLUGIN_ST_INT64) != NULL;
	}
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

/* Builds one async event into buf (>= 256 bytes) and sends it; nparams 2 makes it malformed. */
static void send_event(struct cap_state* s, ss_plugin_async_event_handler_t h, ss_plugin_owner_t* owner,
                       const char* name, const char* data, uint32_t nparams, uint64_t ts) {
	uint8_t buf[256];
	char err[PLUGIN_MAX_ERRLEN];
	ss_plugin_event hdr = {ts, s->tid, 0, 402, nparams};
	uint32_t zero = 0;
	uint32_t lens[3] = {4, (uint32_t)strlen(name) + 1, (uint32_t)strlen(data)};
	uint8_t* p = buf + sizeof(hdr);
	memcpy(p, lens, 4 * nparams);
	p += 4 * nparams;
	memcpy(p, &zero, 4);
	p += 4;
	memcpy(p, name, lens[1]);
	p += lens[1];
	if (nparams == 3) {
		memcpy(p, data, lens[2]);
		p += lens[2];
	}
	hdr.len = (uint32_t)(p - buf);
	memcpy(buf, &hdr, sizeof(hdr));
	err[0] = '\0';
	if (h(owner, (const ss_plugin_event*)buf, err) == SS_PLUGIN_SUCCESS) {
		__atomic_add_fetch(&s->sent, 1, __ATOMIC_SEQ_CST);
	} else {
		__atomic_add_fetch(&s->failed, 1, __ATOMIC_SEQ_CST);
		pthread_mutex_lock(&s->errlock);
		snprintf(s->handler_err, sizeof(s->handler_err), "%s", err);
		pthread_mutex_unlock(&s->errlock);
	}
}

static void* produce(void* arg) {
	struct producer* pr = arg;
	struct cap_state* s = pr->s;
	char data[64];
	if (s->bad && pr->k == 0) {
		send_event(s, s->handler, s->owner, "cap_tick", "", 2, UINT64_MAX);
		send_event(s, s->handler, s->owner, "nope", "", 3, UINT64_MAX);
	}
	for (long i = 0; (s->count == 0 || i < s->count) && !__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST); i++) {
		snprintf(data, sizeof(data), "t%d#%ld", pr->k, i);
		uint64_t ts = s->ts < 0 ? UINT64_MAX : (uint64_t)(s->ts + s->ts_step * i);
		send_event(s, s->handler, s->owner, "cap_tick", data, 3, ts);
		if (s->count == 0) usleep(500);
	}
	free(pr);
	return NULL;
}

static void stop_producers(struct cap_state* s) {
	if (!s->running) return;
	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	for (int k = 0; k < s->nthreads; k++) pthread_join(s->threads[k], NULL);
	s->running = 0;
	s->handler = NULL;
}

ss_plugin_rc plugin_set_async_event_handler(ss_plugin_t* st, ss_plugin_owner_t* owner,
                                            const ss_plugin_async_event_handler_t h) {
	struct cap_state* s = st;
	if (h == NULL) {
		stop_producers(s);
		return SS_PLUGIN_SUCCESS;
	}
	if (s->running) {
		cap_error(s, "cap_async: handler already set");
		return SS_PLUGIN_FAILURE;
	}
	s->owner = owner;
	s->handler = h;
	s->stop = 0;
	s->running = 1;
	for (int k = 0; k < s->nthreads; k++) {
		struct producer* pr = malloc(sizeof(*pr));
		if (!pr) abort();
		pr->s = s;
		pr->k = k;
		if (pthread_create(&s->threads[k], NULL, produce, pr) != 0) abort();
	}
	return SS_PLUGIN_SUCCESS;
}

ss_plugin_rc plugin_dump_state(ss_plugin_t* st, ss_plugin_owner_t* owner, const ss_plugin_async_event_handler_t h) {
	struct cap_state* s = st;
	send_event(s, h, owner, "cap_other", "dump#0", 3, UINT64_MAX);
	send_event(s, h, owner, "cap_other", "dump#1", 3, UINT64_MAX);
	return SS_PLUGIN_SUCCESS;
}

void plugin_destroy(ss_plugin_t* st) {
	struct cap_state* s = st;
	stop_producers(s);
	pthread_mutex_destroy(&s->errlock);
	free(s);
}

uint64_t cap_async_sent(ss_plugin_t* s) { return __atomic_load_n(&((struct cap_state*)s)->sent, __ATOMIC_SEQ_CST); }
uint64_t cap_async_failed(ss_plugin_t* s) { return __atomic_load_n(&((struct cap_state*)s)->failed, __ATOMIC_SEQ_CST); }
const char* cap_async_last_error(ss_plugin_t* st) {
	struct cap_state* s = st;
	return s->handler_err;
}
int cap_async_imported(ss_plugin_t* s) { return ((struct cap_state*)s)->imported; }
