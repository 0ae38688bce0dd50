/*
 * ct_checks.h -- what every test plugin under tests/native/plugins/ shares: the plugin_get_*
 * metadata symbols, plugin_get_last_error, and the check recorder behind `ct_report`.
 *
 * A plugin calls ct_rec() for each call it makes to the host: its name, whether the result was
 * the expected one, the return code, a detail text and (want_err) the host's
 * get_owner_last_error text read right after the call. ct_report() returns all of them as JSON:
 *   {"plugin":"...","checks":[{"phase","name","ok","rc","detail","err"},...],
 *    "total":N,"failed":N,"events":N}
 * The Python side reads it with tests/native/helpers.py.
 *
 * Everything is `static inline` so that a plugin using only part of it compiles warning-free.
 */
#ifndef CT_CHECKS_H
#define CT_CHECKS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strdup, strtok_r with any -std */
#endif
#include "ct_plugin_api.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_EXPORT __attribute__((visibility("default")))

/* Overridable at build time (-DCT_API_VERSION='"3.0.0"') to test the host's version check. */
#ifndef CT_API_VERSION
#define CT_API_VERSION CT_PLUGIN_API_VERSION_STR
#endif

/* ---- a growable string ------------------------------------------------------------------------ */

typedef struct ct_strbuf {
	char* buf;
	size_t len;
	size_t cap;
} ct_strbuf;

static inline void ct_sb_reserve(ct_strbuf* sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->cap) return;
	size_t cap = sb->cap ? sb->cap : 256;
	while (cap < sb->len + extra + 1) cap *= 2;
	char* nb = realloc(sb->buf, cap);
	if (!nb) abort();
	sb->buf = nb;
	sb->cap = cap;
}

static inline void ct_sb_printf(ct_strbuf* sb, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void ct_sb_printf(ct_strbuf* sb, const char* fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	ct_sb_reserve(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

/* A JSON string literal, or null for NULL. */
static inline void ct_sb_json(ct_strbuf* sb, const char* s)
{
	if (!s) {
		ct_sb_printf(sb, "null");
		return;
	}
	ct_sb_printf(sb, "\"");
	for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
		if (*p == '"' || *p == '\\') ct_sb_printf(sb, "\\%c", *p);
		else if (*p < 0x20) ct_sb_printf(sb, "\\u%04x", (unsigned)*p);
		else ct_sb_printf(sb, "%c", *p);
	}
	ct_sb_printf(sb, "\"");
}

static inline void ct_sb_free(ct_strbuf* sb)
{
	free(sb->buf);
	memset(sb, 0, sizeof(*sb));
}

/* ---- plugin_get_last_error ---------------------------------------------------------------------- */

/* Thread-local, so that host threads calling concurrently do not garble each other's text. */
static _Thread_local char ct_last_error[1024];

static inline void ct_set_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void ct_set_error(const char* fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ct_last_error, sizeof(ct_last_error), fmt, ap);
	va_end(ap);
}

/* The metadata symbols every plugin exports, and plugin_get_last_error. */
#define CT_PLUGIN_INFO(NAME, DESCRIPTION)                                                              \
	CT_EXPORT const char* plugin_get_required_api_version(void) { return CT_API_VERSION; }          \
	CT_EXPORT const char* plugin_get_name(void) { return NAME; }                                     \
	CT_EXPORT const char* plugin_get_version(void) { return "0.1.0"; }                               \
	CT_EXPORT const char* plugin_get_description(void) { return DESCRIPTION; }                       \
	CT_EXPORT const char* plugin_get_contact(void) { return "concurrent_tables maintainers"; }       \
	CT_EXPORT const char* plugin_get_last_error(ss_plugin_t* s)                                      \
	{                                                                                                \
		(void)s;                                                                                     \
		return ct_last_error;                                                                        \
	}

/* ---- the check recorder ------------------------------------------------------------------------- */

typedef struct ct_checks {
	const char* plugin;
	const char* phase;                    /* "init", "parse", "extract", "capture_open", ... */
	ss_plugin_owner_t* owner;             /* of the current phase */
	ct_get_owner_last_error_fn owner_err; /* of the current phase */
	ct_strbuf items;
	uint32_t total;
	uint32_t failed;
	uint64_t events;
	ct_strbuf report;
} ct_checks;

/* Enter a phase: later checks read the owner error through this phase's input. */
static inline void ct_phase(ct_checks* ck, const char* phase, ss_plugin_owner_t* owner,
                            ct_get_owner_last_error_fn owner_err)
{
	ck->phase = phase;
	ck->owner = owner;
	ck->owner_err = owner_err;
}

static inline const char* ct_owner_error(const ct_checks* ck)
{
	return ck->owner_err ? ck->owner_err(ck->owner) : NULL;
}

/* Record one check; want_err: also record the host's owner error, read now. */
static inline void ct_rec(ct_checks* ck, const char* name, int ok, int64_t rc, const char* detail, int want_err)
{
	ct_strbuf* sb = &ck->items;
	ct_sb_printf(sb, "%s{\"phase\":", ck->total ? "," : "");
	ct_sb_json(sb, ck->phase);
	ct_sb_printf(sb, ",\"name\":");
	ct_sb_json(sb, name);
	ct_sb_printf(sb, ",\"ok\":%s,\"rc\":%" PRId64 ",\"detail\":", ok ? "true" : "false", rc);
	ct_sb_json(sb, detail);
	ct_sb_printf(sb, ",\"err\":");
	ct_sb_json(sb, want_err ? ct_owner_error(ck) : NULL);
	ct_sb_printf(sb, "}");
	ck->total++;
	if (!ok) ck->failed++;
}

static inline void ct_recf(ct_checks* ck, const char* name, int ok, int64_t rc, int want_err, const char* fmt, ...)
    __attribute__((format(printf, 6, 7)));
static inline void ct_recf(ct_checks* ck, const char* name, int ok, int64_t rc, int want_err, const char* fmt, ...)
{
	char detail[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	ct_rec(ck, name, ok, rc, detail, want_err);
}

/* The JSON report; valid until the next call or ct_checks_free. */
static inline const char* ct_checks_report(ct_checks* ck)
{
	ck->report.len = 0;
	ct_sb_printf(&ck->report, "{\"plugin\":");
	ct_sb_json(&ck->report, ck->plugin);
	ct_sb_printf(&ck->report, ",\"checks\":[%s],\"total\":%u,\"failed\":%u,\"events\":%" PRIu64 "}",
	             ck->items.buf ? ck->items.buf : "", ck->total, ck->failed, ck->events);
	return ck->report.buf;
}

static inline void ct_checks_free(ct_checks* ck)
{
	ct_sb_free(&ck->items);
	ct_sb_free(&ck->report);
}

/* ---- small helpers ------------------------------------------------------------------------------ */

static inline ss_plugin_state_data ct_key(ss_plugin_state_type t, int64_t k)
{
	ss_plugin_state_data d;
	memset(&d, 0, sizeof(d));
	if (t == SS_PLUGIN_ST_UINT64) d.u64 = (uint64_t)k;
	else d.s64 = k;
	return d;
}

static inline const char* ct_type_name(ss_plugin_state_type t)
{
	switch (t) {
	case SS_PLUGIN_ST_INT8: return "int8";
	case SS_PLUGIN_ST_INT16: return "int16";
	case SS_PLUGIN_ST_INT32: return "int32";
	case SS_PLUGIN_ST_INT64: return "int64";
	case SS_PLUGIN_ST_UINT8: return "uint8";
	case SS_PLUGIN_ST_UINT16: return "uint16";
	case SS_PLUGIN_ST_UINT32: return "uint32";
	case SS_PLUGIN_ST_UINT64: return "uint64";
	case SS_PLUGIN_ST_STRING: return "string";
	case SS_PLUGIN_ST_TABLE: return "table";
	case SS_PLUGIN_ST_BOOL: return "bool";
	default: return "?";
	}
}

/* strdup that never returns NULL (NULL copies as ""). */
static inline char* ct_strdup(const char* s)
{
	char* d = strdup(s ? s : "");
	if (!d) abort();
	return d;
}

/* An init tables input with every slot set (the plugins refuse an incomplete one). */
static inline int ct_tables_complete(const ss_plugin_init_tables_input* ti)
{
	return ti && ti->list_tables && ti->get_table && ti->add_table && ti->fields_ext && ti->reader_ext &&
	       ti->writer_ext;
}

#endif /* CT_CHECKS_H */
