/*
 * cap_common.h -- what every capability test plugin (cap_*.c) shares: the required symbols
 * (docs/c-abi.md), the last-error buffer and a tiny "key=value" config reader.
 *
 * A plugin defines CAP_NAME, includes this header, and keeps its last error text at the start
 * of its state (`char lasterr[PLUGIN_MAX_ERRLEN]` as the first member).
 */
#ifndef CAP_COMMON_H
#define CAP_COMMON_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_plugin_ext.h"

#ifndef CAP_API_VERSION
#define CAP_API_VERSION "3.12.0"
#endif

const char* plugin_get_required_api_version(void) { return CAP_API_VERSION; }
const char* plugin_get_version(void) { return "0.1.0"; }
const char* plugin_get_name(void) { return CAP_NAME; }
const char* plugin_get_description(void) { return "concurrent_tables capability test plugin " CAP_NAME; }
const char* plugin_get_contact(void) { return "concurrent_tables tests"; }

/* The plugin-owned last error: the first member of every cap_state. */
static void cap_error(void* s, const char* fmt, ...) __attribute__((format(printf, 2, 3), unused));
static void cap_error(void* s, const char* fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf((char*)s, PLUGIN_MAX_ERRLEN, fmt, ap);
	va_end(ap);
}

const char* plugin_get_last_error(ss_plugin_t* s) { return s ? (const char*)s : "no state"; }

/* The integer after "key=" in a config or params string, or `dflt` if absent. */
__attribute__((unused)) static long cap_option(const char* text, const char* key, long dflt) {
	if (!text) return dflt;
	size_t n = strlen(key);
	for (const char* p = text; (p = strstr(p, key)) != NULL; p += n) {
		if ((p == text || p[-1] == ' ' || p[-1] == ',') && p[n] == '=') return strtol(p + n + 1, NULL, 10);
	}
	return dflt;
}

/* Whether the word `flag` appears (space/comma separated) in `text`. */
__attribute__((unused)) static int cap_flag(const char* text, const char* flag) {
	if (!text) return 0;
	size_t n = strlen(flag);
	for (const char* p = text; (p = strstr(p, flag)) != NULL; p += n) {
		int starts = p == text || p[-1] == ' ' || p[-1] == ',';
		int ends = p[n] == '\0' || p[n] == ' ' || p[n] == ',';
		if (starts && ends) return 1;
	}
	return 0;
}

#endif /* CAP_COMMON_H */
