/*
 * counter_thread.c -- a capture-listen plugin whose own pthread uses a host table between
 * capture_open and capture_close, as async plugins do.
 *
 * Config: the number of iterations (default 1000). Table "counters" (UINT64 keys), entry 7,
 * dynamic UINT64 field ct_counter (added at init if missing).
 *
 * State machine:
 *   plugin_init           imports counters and gets or adds ct_counter.
 *   plugin_capture_open   on the host's thread: gets or creates entry 7, copies the listen
 *                         input's vtables, starts the pthread. The pthread, <iterations> times:
 *                         get entry 7, read ct_counter, write it + 1, release; a failed call is
 *                         counted, with the first owner error. Then it sets `done`.
 *   plugin_capture_close  stops the pthread (if still running) and joins it.
 *   plugin_destroy        the same, then frees the state.
 * ct_thread_status returns the thread's figures as JSON, ct_thread_done whether it finished.
 */
#include "ct_checks.h"

#include <pthread.h>
#include <stdatomic.h>

#define COUNTER_KEY 7

typedef struct plugin_state {
	uint64_t iterations;
	ss_plugin_owner_t* owner;
	ss_plugin_table_t* tbl;
	ss_plugin_table_field_t* field;
	ss_plugin_table_reader_vtable_ext reader; /* copies of the listen input's vtables */
	ss_plugin_table_writer_vtable_ext writer;
	ct_get_owner_last_error_fn owner_err;
	pthread_t thr;
	int started;
	atomic_int stop;
	atomic_int done;
	atomic_ullong done_iterations;
	atomic_ullong failures;
	char error[512]; /* written once, by the pthread, before `done` */
	ct_strbuf status;
} plugin_state;

CT_PLUGIN_INFO("ct_counter_thread", "concurrent_tables test plugin: a pthread counting in a host table")

static void* counter_main(void* arg)
{
	plugin_state* ps = arg;
	ss_plugin_state_data k = ct_key(SS_PLUGIN_ST_UINT64, COUNTER_KEY), out, v;
	for (uint64_t i = 0; i < ps->iterations && !atomic_load(&ps->stop); i++) {
		ss_plugin_table_entry_t* e = ps->reader.get_table_entry(ps->tbl, &k);
		memset(&out, 0, sizeof(out));
		int ok = e && ps->reader.read_entry_field(ps->tbl, e, ps->field, &out) == SS_PLUGIN_SUCCESS;
		if (ok) {
			memset(&v, 0, sizeof(v));
			v.u64 = out.u64 + 1;
			ok = ps->writer.write_entry_field(ps->tbl, e, ps->field, &v) == SS_PLUGIN_SUCCESS;
		}
		if (e) ps->reader.release_table_entry(ps->tbl, e);
		if (ok) {
			atomic_fetch_add(&ps->done_iterations, 1);
		} else if (atomic_fetch_add(&ps->failures, 1) == 0) {
			const char* err = ps->owner_err ? ps->owner_err(ps->owner) : NULL;
			snprintf(ps->error, sizeof(ps->error), "%s", err ? err : "(no owner error)");
		}
	}
	atomic_store(&ps->done, 1);
	return NULL;
}

static void stop_thread(plugin_state* ps)
{
	if (!ps->started) return;
	atomic_store(&ps->stop, 1);
	pthread_join(ps->thr, NULL);
	ps->started = 0;
}

CT_EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc)
{
	*rc = SS_PLUGIN_FAILURE;
	plugin_state* ps = calloc(1, sizeof(*ps));
	if (!ps) return NULL;
	ps->iterations = 1000;
	if (!in || !ct_tables_complete(in->tables)) {
		ct_set_error("ct_counter_thread needs a complete tables input");
		return ps;
	}
	if (in->config && in->config[0]) ps->iterations = strtoull(in->config, NULL, 10);
	const ss_plugin_init_tables_input* ti = in->tables;
	ps->tbl = ti->get_table(in->owner, "counters", SS_PLUGIN_ST_UINT64);
	if (ps->tbl) {
		ps->field = ti->fields_ext->get_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_UINT64);
		if (!ps->field) ps->field = ti->fields_ext->add_table_field(ps->tbl, "ct_counter", SS_PLUGIN_ST_UINT64);
	}
	if (!ps->field) {
		const char* err = in->get_owner_last_error ? in->get_owner_last_error(in->owner) : NULL;
		ct_set_error("ct_counter_thread: table counters or its field ct_counter: %s", err ? err : "");
		return ps;
	}
	*rc = SS_PLUGIN_SUCCESS;
	return ps;
}

CT_EXPORT void plugin_destroy(ss_plugin_t* s)
{
	plugin_state* ps = s;
	if (!ps) return;
	stop_thread(ps);
	ct_sb_free(&ps->status);
	free(ps);
}

CT_EXPORT ss_plugin_rc plugin_capture_open(ss_plugin_t* s, const ss_plugin_capture_listen_input* in)
{
	plugin_state* ps = s;
	if (ps->started) return SS_PLUGIN_SUCCESS;
	ps->owner = in->owner;
	ps->owner_err = in->get_owner_last_error;
	ps->reader = *in->table_reader_ext;
	ps->writer = *in->table_writer_ext;
	ss_plugin_state_data k = ct_key(SS_PLUGIN_ST_UINT64, COUNTER_KEY);
	ss_plugin_table_entry_t* e = ps->reader.get_table_entry(ps->tbl, &k);
	if (!e) {
		ss_plugin_table_entry_t* d = ps->writer.create_table_entry(ps->tbl);
		e = d ? ps->writer.add_table_entry(ps->tbl, &k, d) : NULL;
	}
	if (!e) {
		const char* err = ps->owner_err ? ps->owner_err(ps->owner) : NULL;
		ct_set_error("can't get or create the counter entry: %s", err ? err : "");
		return SS_PLUGIN_FAILURE;
	}
	ps->reader.release_table_entry(ps->tbl, e);
	atomic_store(&ps->stop, 0);
	atomic_store(&ps->done, 0);
	atomic_store(&ps->done_iterations, 0);
	atomic_store(&ps->failures, 0);
	ps->error[0] = 0;
	if (pthread_create(&ps->thr, NULL, counter_main, ps) != 0) {
		ct_set_error("pthread_create failed");
		return SS_PLUGIN_FAILURE;
	}
	ps->started = 1;
	return SS_PLUGIN_SUCCESS;
}

CT_EXPORT ss_plugin_rc plugin_capture_close(ss_plugin_t* s, const ss_plugin_capture_listen_input* in)
{
	(void)in;
	stop_thread(s);
	return SS_PLUGIN_SUCCESS;
}

/* JSON status of the pthread; valid until the next call or plugin_destroy. */
CT_EXPORT const char* ct_thread_status(ss_plugin_t* s)
{
	plugin_state* ps = s;
	int done = atomic_load(&ps->done); /* loaded first: `error` is complete once done is set */
	ps->status.len = 0;
	ct_sb_printf(&ps->status,
	             "{\"started\":%s,\"done\":%s,\"iterations\":%llu,\"failures\":%llu,\"target\":%" PRIu64
	             ",\"error\":",
	             ps->started ? "true" : "false", done ? "true" : "false",
	             (unsigned long long)atomic_load(&ps->done_iterations),
	             (unsigned long long)atomic_load(&ps->failures), ps->iterations);
	ct_sb_json(&ps->status, done && ps->error[0] ? ps->error : NULL);
	ct_sb_printf(&ps->status, "}");
	return ps->status.buf;
}

/* 1 once the pthread has finished its iterations (or was stopped). */
CT_EXPORT int ct_thread_done(ss_plugin_t* s)
{
	return atomic_load(&((plugin_state*)s)->done);
}
