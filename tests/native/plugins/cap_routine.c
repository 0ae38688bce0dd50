/*
 * cap_routine.c -- a capture-listening plugin that subscribes routines (docs/c-abi.md).
 *
 * State machine:
 *
 *   init(config "routines=R limit=N unsubscribe_on_close export fail_after_export")
 *                     export: registers table "cap_routine_table" (cap_table.h) with add_table;
 *                     fail_after_export: then fails init (the host must unregister the table)
 *   capture_open(in)  in->routine NULL -> FAILURE; else subscribes R routines, routine k with cookie
 *                     &counts[k]; a NULL handle (host without a pool) is counted, not fatal.
 *   routine k         counts[k]++; returns 1 (keep running) until counts[k] reaches N
 *                     (N = 0: forever, sleeping 200 us per run); a routine called with another
 *                     pointer than the plugin state returns 0 at once without writing.
 *   capture_close     unsubscribe of a bogus handle (expects FAILURE); with unsubscribe_on_close,
 *                     unsubscribes every handle it holds (their rc are recorded).
 *   destroy           frees the state: the host must have purged every routine before.
 */
#include <stdint.h>
#include <unistd.h>

#define CAP_NAME "cap_routine"
#define CAP_MAX_ROUTINES 8
#include "cap_table.h"

struct cap_state {
	char lasterr[PLUGIN_MAX_ERRLEN];
	struct ss_plugin_routine_vtable vt;
	ss_plugin_owner_t* owner;
	int nroutines, unsubscribe_on_close;
	long limit;
	ss_plugin_routine_t* handles[CAP_MAX_ROUTINES];
	uint64_t counts[CAP_MAX_ROUTINES];
	uint64_t null_handles, unsub_ok, unsub_failed, running;
	int bogus_rc;
	struct cap_table table;
};

ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc) {
	struct cap_state* s = calloc(1, sizeof(*s));
	if (!s) return NULL;
	const char* cfg = in ? in->config : NULL;
	s->nroutines = (int)cap_option(cfg, "routines", 1);
	if (s->nroutines < 0 || s->nroutines > CAP_MAX_ROUTINES) s->nroutines = 1;
	s->limit = cap_option(cfg, "limit", 0);
	s->unsubscribe_on_close = cap_flag(cfg, "unsubscribe_on_close");
	s->bogus_rc = -100;
	if (cap_flag(cfg, "export") || cap_flag(cfg, "fail_after_export")) {
		if (cap_table_export(&s->table, "cap_routine_table", in) != SS_PLUGIN_SUCCESS) {
			cap_error(s, "cap_routine: add_table failed");
			return s;
		}
	}
	if (cap_flag(cfg, "fail_after_export")) {
		cap_error(s, "cap_routine: init failed after exporting its table");
		return s;
	}
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t* s) { free(s); }

static ss_plugin_bool routine(ss_plugin_t* st, ss_plugin_routine_state_t* rs) {
	struct cap_state* s = st;
	uint64_t* count = rs;
	if (count < s->counts || count >= s->counts + CAP_MAX_ROUTINES) {
		/* The host passed something else than the plugin state: stop, touching nothing. */
		return 0;
	}
	__atomic_add_fetch(&s->running, 1, __ATOMIC_SEQ_CST);
	uint64_t n = __atomic_add_fetch(count, 1, __ATOMIC_SEQ_CST);
	if (s->limit == 0) usleep(200);
	__atomic_sub_fetch(&s->running, 1, __ATOMIC_SEQ_CST);
	return s->limit == 0 || n < (uint64_t)s->limit;
}

ss_plugin_rc plugin_capture_open(ss_plugin_t* st, const ss_plugin_capture_listen_input* in) {
	struct cap_state* s = st;
	if (in->routine == NULL) {
		cap_error(s, "cap_routine: routine vtable is NULL");
		return SS_PLUGIN_FAILURE;
	}
	s->vt = *in->routine; /* plugins keep the function pointers past the call */
	s->owner = in->owner;
	for (int k = 0; k < s->nroutines; k++) {
		s->handles[k] = s->vt.subscribe(s->owner, routine, &s->counts[k]);
		if (s->handles[k] == NULL) s->null_handles++;
	}
	return SS_PLUGIN_SUCCESS;
}

ss_plugin_rc plugin_capture_close(ss_plugin_t* st, const ss_plugin_capture_listen_input* in) {
	struct cap_state* s = st;
	(void)in;
	s->bogus_rc = s->vt.unsubscribe(s->owner, (ss_plugin_routine_t*)&s->bogus_rc);
	if (s->unsubscribe_on_close) {
		for (int k = 0; k < s->nroutines; k++) {
			if (!s->handles[k]) continue;
			if (s->vt.unsubscribe(s->owner, s->handles[k]) == SS_PLUGIN_SUCCESS) s->unsub_ok++;
			else s->unsub_failed++;
			s->handles[k] = NULL;
		}
	}
	return SS_PLUGIN_SUCCESS;
}

uint64_t cap_routine_count(ss_plugin_t* st, uint32_t k) {
	struct cap_state* s = st;
	return k < CAP_MAX_ROUTINES ? __atomic_load_n(&s->counts[k], __ATOMIC_SEQ_CST) : 0;
}
uint64_t cap_routine_null_handles(ss_plugin_t* st) { return ((struct cap_state*)st)->null_handles; }
uint64_t cap_routine_unsub_ok(ss_plugin_t* st) { return ((struct cap_state*)st)->unsub_ok; }
uint64_t cap_routine_unsub_failed(ss_plugin_t* st) { return ((struct cap_state*)st)->unsub_failed; }
int cap_routine_bogus_rc(ss_plugin_t* st) { return ((struct cap_state*)st)->bogus_rc; }
uint64_t cap_routine_running(ss_plugin_t* st) {
	return __atomic_load_n(&((struct cap_state*)st)->running, __ATOMIC_SEQ_CST);
}
