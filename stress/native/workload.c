/*
 * workload.c -- the native plugin of the stress tool's `native` scenario (stress/native/): its
 * pthreads use a Python-owned table through the capture-listen vtables while Python threads use
 * it too. It ships with the stress package because `python -m stress run --scenario native`
 * compiles it at run time (stress/native/build.py); the tests' plugins live in tests/native/.
 *
 * Config: "threads=N;keys=K" (optional; defaults 2 and 16): N pthreads (1..8) on the table "rows"
 * (UINT64 keys 0..K-1, N <= K <= 64, made by the host, with UINT64 fields c_count, c_x, py_seq,
 * py_a, py_b).
 *
 * State machine:
 *   plugin_init           imports rows and its five fields (a missing one fails init).
 *   plugin_capture_open   copies the listen input's vtables, starts the N pthreads.
 *   plugin_capture_close  stops and joins them; plugin_destroy does the same, then frees.
 *
 * Each pthread loops, one entry pin at a time, each read/write call atomic on its own and no lock
 * held between calls (what the host guarantees for a native entry handle):
 *  1. increment: on its own keys (key % N == its index, in turn) read c_count, write c_count + 1,
 *     then c_x = 3 * (c_count + 1). It is the only writer of c_count and c_x of its keys, so the
 *     value it reads must equal the increments it completed (else "lost": an update of ours was
 *     undone). `completed[key]` is bumped after both writes returned, so a Python reader that
 *     loaded it first must see c_count >= it, and under one read handle c_x is 3 * c_count or
 *     3 * (c_count - 1) (at most one call behind).
 *  2. seqlock read of a Python record (any key): read py_seq, py_a, py_b, py_seq again. Python
 *     writes all three under one write handle and bumps py_seq every time, so if both reads of
 *     py_seq agree no Python write ended in between, and py_a == 3 * py_seq and
 *     py_b == py_seq ^ 0x5555 must hold (else "torn"). If py_seq moved, the read is counted as a
 *     retry and not checked (four calls are not atomic together).
 * A failed vtable call is counted, with the first owner error. ct_workload_status returns the
 * figures as JSON; ct_workload_completed and ct_workload_ops read single counters.
 */
#define _GNU_SOURCE
#include "ct_plugin_api.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_EXPORT __attribute__((visibility("default")))
#define MAX_THREADS 8
#define MAX_KEYS 64

struct plugin_state;

typedef struct worker {
	struct plugin_state* ps;
	uint32_t index;
	pthread_t thr;
	atomic_ullong ops; /* entry acquisitions */
} worker;

typedef struct plugin_state {
	uint32_t nthreads, nkeys;
	ss_plugin_table_t* tbl;
	ss_plugin_table_field_t *c_count, *c_x, *py_seq, *py_a, *py_b;
	ss_plugin_table_reader_vtable_ext reader; /* copies of the listen input's vtables */
	ss_plugin_table_writer_vtable_ext writer;
	ct_get_owner_last_error_fn owner_err;
	ss_plugin_owner_t* owner;
	worker workers[MAX_THREADS];
	uint32_t started; /* pthreads running */
	atomic_int stop;
	atomic_ullong completed[MAX_KEYS]; /* increments of c_count done, per key */
	atomic_ullong calls, seq_reads, seq_retries, torn, lost, failures;
	pthread_mutex_t mu; /* guards the first-problem texts */
	char torn_first[256], lost_first[256], error[512];
	char status[2048];
} plugin_state;

static _Thread_local char g_last_error[512];

static void set_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char* fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g_last_error, sizeof(g_last_error), fmt, ap);
	va_end(ap);
}

/* Keep the first text of a kind (dst empty), under the state's mutex. */
static void note(plugin_state* ps, char* dst, size_t n, const char* fmt, ...) __attribute__((format(printf, 4, 5)));
static void note(plugin_state* ps, char* dst, size_t n, const char* fmt, ...)
{
	pthread_mutex_lock(&ps->mu);
	if (!dst[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(dst, n, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&ps->mu);
}

static void fail(plugin_state* ps, const char* what, uint64_t key)
{
	if (atomic_fetch_add(&ps->failures, 1) != 0) return;
	const char* err = ps->owner_err ? ps->owner_err(ps->owner) : NULL;
	note(ps, ps->error, sizeof(ps->error), "%s (key %" PRIu64 "): %s", what, key, err ? err : "(no owner error)");
}

static int read_u64(plugin_state* ps, ss_plugin_table_entry_t* e, ss_plugin_table_field_t* f, uint64_t* out)
{
	ss_plugin_state_data d;
	memset(&d, 0, sizeof(d));
	atomic_fetch_add(&ps->calls, 1);
	if (ps->reader.read_entry_field(ps->tbl, e, f, &d) != SS_PLUGIN_SUCCESS) return 0;
	*out = d.u64;
	return 1;
}

static int write_u64(plugin_state* ps, ss_plugin_table_entry_t* e, ss_plugin_table_field_t* f, uint64_t v)
{
	ss_plugin_state_data d;
	memset(&d, 0, sizeof(d));
	d.u64 = v;
	atomic_fetch_add(&ps->calls, 1);
	return ps->writer.write_entry_field(ps->tbl, e, f, &d) == SS_PLUGIN_SUCCESS;
}

static ss_plugin_table_entry_t* acquire(plugin_state* ps, worker* w, uint64_t k)
{
	ss_plugin_state_data key;
	memset(&key, 0, sizeof(key));
	key.u64 = k;
	atomic_fetch_add(&ps->calls, 1);
	ss_plugin_table_entry_t* e = ps->reader.get_table_entry(ps->tbl, &key);
	if (e) atomic_fetch_add(&w->ops, 1);
	else fail(ps, "get_table_entry", k);
	return e;
}

static void release(plugin_state* ps, ss_plugin_table_entry_t* e)
{
	atomic_fetch_add(&ps->calls, 1);
	ps->reader.release_table_entry(ps->tbl, e);
}

static void increment(plugin_state* ps, worker* w, uint64_t k)
{
	ss_plugin_table_entry_t* e = acquire(ps, w, k);
	if (!e) return;
	uint64_t v, want = atomic_load(&ps->completed[k]);
	if (!read_u64(ps, e, ps->c_count, &v)) {
		fail(ps, "read_entry_field c_count", k);
	} else {
		if (v != want) {
			atomic_fetch_add(&ps->lost, 1);
			note(ps, ps->lost_first, sizeof(ps->lost_first),
			     "key %" PRIu64 ": its only writer read c_count %" PRIu64 " after completing %" PRIu64
			     " increments",
			     k, v, want);
		}
		if (!write_u64(ps, e, ps->c_count, v + 1)) fail(ps, "write_entry_field c_count", k);
		else if (!write_u64(ps, e, ps->c_x, 3 * (v + 1))) fail(ps, "write_entry_field c_x", k);
		else atomic_fetch_add(&ps->completed[k], 1);
	}
	release(ps, e);
}

static void seq_read(plugin_state* ps, worker* w, uint64_t k)
{
	ss_plugin_table_entry_t* e = acquire(ps, w, k);
	if (!e) return;
	uint64_t s1, a, b, s2;
	if (read_u64(ps, e, ps->py_seq, &s1) && read_u64(ps, e, ps->py_a, &a) && read_u64(ps, e, ps->py_b, &b) &&
	    read_u64(ps, e, ps->py_seq, &s2)) {
		if (s1 != s2) {
			atomic_fetch_add(&ps->seq_retries, 1);
		} else {
			atomic_fetch_add(&ps->seq_reads, 1);
			if (a != 3 * s1 || b != (s1 ^ 0x5555)) {
				atomic_fetch_add(&ps->torn, 1);
				note(ps, ps->torn_first, sizeof(ps->torn_first),
				     "key %" PRIu64 ": py_seq %" PRIu64 " (read twice), py_a %" PRIu64 ", py_b %" PRIu64, k, s1,
				     a, b);
			}
		}
	} else {
		fail(ps, "read_entry_field py_*", k);
	}
	release(ps, e);
}

static void* worker_main(void* arg)
{
	worker* w = arg;
	plugin_state* ps = w->ps;
	uint64_t rng = 0x9E3779B97F4A7C15ull ^ (((uint64_t)w->index + 1) * 0xBF58476D1CE4E5B9ull);
	uint64_t own = w->index;
	while (!atomic_load(&ps->stop)) {
		increment(ps, w, own);
		own += ps->nthreads;
		if (own >= ps->nkeys) own = w->index;
		rng ^= rng << 13; /* xorshift64 */
		rng ^= rng >> 7;
		rng ^= rng << 17;
		seq_read(ps, w, rng % ps->nkeys);
	}
	return NULL;
}

static void stop_workers(plugin_state* ps)
{
	atomic_store(&ps->stop, 1);
	for (uint32_t i = 0; i < ps->started; i++) pthread_join(ps->workers[i].thr, NULL);
	ps->started = 0;
}

/* "threads=N;keys=K", both optional. Returns 0 with the error set on a bad config. */
static int parse_config(plugin_state* ps, const char* text)
{
	ps->nthreads = 2;
	ps->nkeys = 16;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", text ? text : "");
	char* save = NULL;
	for (char* item = strtok_r(buf, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		unsigned v;
		if (sscanf(item, "threads=%u", &v) == 1) ps->nthreads = v;
		else if (sscanf(item, "keys=%u", &v) == 1) ps->nkeys = v;
		else {
			set_error("bad config item: %s (want threads=N;keys=K)", item);
			return 0;
		}
	}
	if (ps->nthreads < 1 || ps->nthreads > MAX_THREADS) {
		set_error("threads must be 1..%d, got %u", MAX_THREADS, ps->nthreads);
		return 0;
	}
	if (ps->nkeys < ps->nthreads || ps->nkeys > MAX_KEYS) {
		set_error("keys must be threads..%d, got %u", MAX_KEYS, ps->nkeys);
		return 0;
	}
	return 1;
}

CT_EXPORT const char* plugin_get_required_api_version(void) { return CT_PLUGIN_API_VERSION_STR; }
CT_EXPORT const char* plugin_get_name(void) { return "ct_stress_workload"; }
CT_EXPORT const char* plugin_get_version(void) { return "0.1.0"; }
CT_EXPORT const char* plugin_get_description(void)
{
	return "concurrent_tables stress workload: pthreads on a Python table";
}
CT_EXPORT const char* plugin_get_contact(void) { return "concurrent_tables maintainers"; }

CT_EXPORT const char* plugin_get_last_error(ss_plugin_t* s)
{
	(void)s;
	return g_last_error;
}

CT_EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc)
{
	*rc = SS_PLUGIN_FAILURE;
	plugin_state* ps = calloc(1, sizeof(*ps));
	if (!ps) return NULL;
	pthread_mutex_init(&ps->mu, NULL);
	if (!in || !parse_config(ps, in->config)) return ps;
	const ss_plugin_init_tables_input* ti = in->tables;
	if (!ti || !ti->get_table || !ti->fields_ext) {
		set_error("no tables input");
		return ps;
	}
	ps->tbl = ti->get_table(in->owner, "rows", SS_PLUGIN_ST_UINT64);
	if (!ps->tbl) {
		set_error("no table 'rows' with uint64 keys");
		return ps;
	}
	struct {
		const char* name;
		ss_plugin_table_field_t** f;
	} fields[] = {{"c_count", &ps->c_count}, {"c_x", &ps->c_x}, {"py_seq", &ps->py_seq},
	              {"py_a", &ps->py_a},       {"py_b", &ps->py_b}};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		*fields[i].f = ti->fields_ext->get_table_field(ps->tbl, fields[i].name, SS_PLUGIN_ST_UINT64);
		if (!*fields[i].f) {
			const char* err = in->get_owner_last_error ? in->get_owner_last_error(in->owner) : NULL;
			set_error("uint64 field '%s' of 'rows': %s", fields[i].name, err ? err : "");
			return ps;
		}
	}
	*rc = SS_PLUGIN_SUCCESS;
	return ps;
}

CT_EXPORT void plugin_destroy(ss_plugin_t* s)
{
	plugin_state* ps = s;
	if (!ps) return;
	stop_workers(ps);
	pthread_mutex_destroy(&ps->mu);
	free(ps);
}

CT_EXPORT ss_plugin_rc plugin_capture_open(ss_plugin_t* s, const ss_plugin_capture_listen_input* in)
{
	plugin_state* ps = s;
	if (ps->started) return SS_PLUGIN_SUCCESS;
	ps->reader = *in->table_reader_ext;
	ps->writer = *in->table_writer_ext;
	ps->owner_err = in->get_owner_last_error;
	ps->owner = in->owner;
	atomic_store(&ps->stop, 0);
	for (uint32_t i = 0; i < ps->nthreads; i++) {
		worker* w = &ps->workers[i];
		w->ps = ps;
		w->index = i;
		if (pthread_create(&w->thr, NULL, worker_main, w) != 0) {
			stop_workers(ps);
			set_error("pthread_create failed (worker %u)", i);
			return SS_PLUGIN_FAILURE;
		}
		ps->started = i + 1;
	}
	return SS_PLUGIN_SUCCESS;
}

CT_EXPORT ss_plugin_rc plugin_capture_close(ss_plugin_t* s, const ss_plugin_capture_listen_input* in)
{
	(void)in;
	stop_workers(s);
	return SS_PLUGIN_SUCCESS;
}

/* Appends a JSON string (or null) to dst; texts here are ours: no control characters. */
static void json_str(char* dst, size_t n, const char* s)
{
	size_t len = strlen(dst);
	if (!s[0]) {
		snprintf(dst + len, n - len, "null");
		return;
	}
	snprintf(dst + len, n - len, "\"");
	for (const char* p = s; *p && (len = strlen(dst)) + 3 < n; p++)
		snprintf(dst + len, n - len, (*p == '"' || *p == '\\') ? "\\%c" : "%c", *p);
	len = strlen(dst);
	snprintf(dst + len, n - len, "\"");
}

/* JSON status of the pthreads; valid until the next call or plugin_destroy. */
CT_EXPORT const char* ct_workload_status(ss_plugin_t* s)
{
	plugin_state* ps = s;
	char* out = ps->status;
	size_t n = sizeof(ps->status), len;
	uint64_t increments = 0;
	for (uint32_t k = 0; k < ps->nkeys; k++) increments += atomic_load(&ps->completed[k]);
	snprintf(out, n, "{\"threads\":%u,\"keys\":%u,\"running\":%u,\"ops\":[", ps->nthreads, ps->nkeys, ps->started);
	for (uint32_t i = 0; i < ps->nthreads; i++) {
		len = strlen(out);
		snprintf(out + len, n - len, "%s%llu", i ? "," : "", (unsigned long long)atomic_load(&ps->workers[i].ops));
	}
	len = strlen(out);
	snprintf(out + len, n - len,
	         "],\"increments\":%" PRIu64 ",\"calls\":%llu,\"seq_reads\":%llu,\"seq_retries\":%llu,"
	         "\"torn\":%llu,\"lost\":%llu,\"failures\":%llu",
	         increments, (unsigned long long)atomic_load(&ps->calls), (unsigned long long)atomic_load(&ps->seq_reads),
	         (unsigned long long)atomic_load(&ps->seq_retries), (unsigned long long)atomic_load(&ps->torn),
	         (unsigned long long)atomic_load(&ps->lost), (unsigned long long)atomic_load(&ps->failures));
	pthread_mutex_lock(&ps->mu);
	const char* names[3] = {"torn_first", "lost_first", "error"};
	const char* texts[3] = {ps->torn_first, ps->lost_first, ps->error};
	for (int i = 0; i < 3; i++) {
		len = strlen(out);
		snprintf(out + len, n - len, ",\"%s\":", names[i]);
		json_str(out, n, texts[i]);
	}
	pthread_mutex_unlock(&ps->mu);
	len = strlen(out);
	snprintf(out + len, n - len, "}");
	return out;
}

/* Increments of c_count completed on `key` by the pthreads (0 for an unknown key). */
CT_EXPORT uint64_t ct_workload_completed(ss_plugin_t* s, uint64_t key)
{
	plugin_state* ps = s;
	return key < MAX_KEYS ? atomic_load(&ps->completed[key]) : 0;
}

/* Entry acquisitions made so far by pthread `thread`. */
CT_EXPORT uint64_t ct_workload_ops(ss_plugin_t* s, uint32_t thread)
{
	plugin_state* ps = s;
	return thread < MAX_THREADS ? atomic_load(&ps->workers[thread].ops) : 0;
}
