/*
 * cap_routine_steps.c -- a parse + capture-listening plugin that drives routines from parse_event
 * with the vtable it kept from capture_open (docs/c-abi.md, "Routines"), and runs a routine that
 * never sleeps.
 *
 * State machine (one step per parsed PPME_SYSCALL_OPEN_E event; other types are not declared):
 *
 *   capture_open(in)  keeps in->routine's functions; subscribes `spin`, a routine that returns
 *                     true at once, every time (it pins a pool worker until the host purges it).
 *   parse step 1      subscribes a second `spin` (handle kept).
 *   parse step 2      unsubscribes it (rc recorded).
 *   parse step 3      subscribes `flagged`, which keeps running while the flag is set.
 *   parse step 4      clears the flag: `flagged` returns false at its next run and ends.
 *   later steps       nothing.
 *   capture_close     nothing: the host purges the first `spin` after it.
 *   destroy           frees the state: no routine may run any more.
 *
 * Counters (cap_steps_*) give the runs of each routine and the unsubscribe result.
 */
#include <stdint.h>

#define CAP_NAME "cap_routine_steps"
#include "cap_common.h"

struct cap_state {
	char lasterr[PLUGIN_MAX_ERRLEN];
	struct ss_plugin_routine_vtable vt;
	ss_plugin_owner_t* owner;
	int step;
	int flag;
	ss_plugin_routine_t* second;
	int unsub_rc;
	uint64_t runs[3]; /* the open-time spin, the parse-time spin, flagged */
	uint16_t types[1];
};

ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc) {
	(void)in;
	struct cap_state* s = calloc(1, sizeof(*s));
	if (!s) return NULL;
	s->step = 1;
	s->flag = 1;
	s->unsub_rc = -100;
	s->types[0] = 2; /* PPME_SYSCALL_OPEN_E */
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t* s) { free(s); }

const char* plugin_get_parse_event_sources(void) { return "[\"syscall\"]"; }

uint16_t* plugin_get_parse_event_types(uint32_t* n, ss_plugin_t* st) {
	*n = 1;
	return ((struct cap_state*)st)->types;
}

static ss_plugin_bool spin(ss_plugin_t* st, ss_plugin_routine_state_t* rs) {
	__atomic_add_fetch((uint64_t*)rs, 1, __ATOMIC_SEQ_CST);
	(void)st;
	return 1;
}

static ss_plugin_bool flagged(ss_plugin_t* st, ss_plugin_routine_state_t* rs) {
	struct cap_state* s = st;
	(void)rs;
	__atomic_add_fetch(&s->runs[2], 1, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&s->flag, __ATOMIC_SEQ_CST) != 0;
}

ss_plugin_rc plugin_parse_event(ss_plugin_t* st, const ss_plugin_event_input* ev, const ss_plugin_event_parse_input* in) {
	struct cap_state* s = st;
	(void)ev;
	(void)in;
	switch (s->step) {
	case 1: s->second = s->vt.subscribe(s->owner, spin, &s->runs[1]); break;
	case 2: s->unsub_rc = s->vt.unsubscribe(s->owner, s->second); break;
	case 3: s->vt.subscribe(s->owner, flagged, NULL); break;
	case 4: __atomic_store_n(&s->flag, 0, __ATOMIC_SEQ_CST); break;
	default: break;
	}
	s->step++;
	return SS_PLUGIN_SUCCESS;
}

ss_plugin_rc plugin_capture_open(ss_plugin_t* st, const ss_plugin_capture_listen_input* in) {
	struct cap_state* s = st;
	s->vt.subscribe = in->routine->subscribe; /* dereferenced unconditionally, as libs' plugin */
	s->vt.unsubscribe = in->routine->unsubscribe;
	s->owner = in->owner;
	s->vt.subscribe(s->owner, spin, &s->runs[0]);
	return SS_PLUGIN_SUCCESS;
}

ss_plugin_rc plugin_capture_close(ss_plugin_t* st, const ss_plugin_capture_listen_input* in) {
	(void)st;
	(void)in;
	return SS_PLUGIN_SUCCESS;
}

uint64_t cap_steps_runs(ss_plugin_t* st, uint32_t k) {
	return k < 3 ? __atomic_load_n(&((struct cap_state*)st)->runs[k], __ATOMIC_SEQ_CST) : 0;
}
int cap_steps_unsub_rc(ss_plugin_t* st) { return ((struct cap_state*)st)->unsub_rc; }
int cap_steps_second_is_null(ss_plugin_t* st) { return ((struct cap_state*)st)->second == NULL; }
