/*
 * cap_metrics.c -- a parse plugin that reports metrics of every value type (docs/c-abi.md).
 *
 * State machine: init -> (parse_event | get_metrics)* -> destroy. parse_event counts events
 * (evt_count). get_metrics returns a state-owned array of 7 metrics, one per value type, rebuilt
 * on each call; with config "empty" it returns NULL and n = 0 (as SDK stubs do).
 * Built with -DCAP_SCHEMA it declares a JSON init schema (the host then turns an empty config
 * into "{}"); cap_metrics_config returns the config plugin_init received.
 */
#include <stdint.h>

#define CAP_NAME "cap_metrics"
#include "cap_common.h"

struct cap_state {
	char lasterr[PLUGIN_MAX_ERRLEN];
	int empty;
	char config[256];
	uint64_t evt_count;
	ss_plugin_metric metrics[7];
};

ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc) {
	struct cap_state* s = calloc(1, sizeof(*s));
	if (!s) return NULL;
	s->empty = cap_flag(in ? in->config : NULL, "empty");
	snprintf(s->config, sizeof(s->config), "%s", in && in->config ? in->config : "(null)");
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t* s) { free(s); }

ss_plugin_rc plugin_parse_event(ss_plugin_t* st, const ss_plugin_event_input* ev, const ss_plugin_event_parse_input* in) {
	struct cap_state* s = st;
	(void)ev;
	(void)in;
	s->evt_count++;
	return SS_PLUGIN_SUCCESS;
}

static void metric(ss_plugin_metric* m, const char* name, ss_plugin_metric_type t, ss_plugin_metric_value_type vt) {
	m->name = name;
	m->type = t;
	m->value_type = vt;
}

ss_plugin_metric* plugin_get_metrics(ss_plugin_t* st, uint32_t* n) {
	struct cap_state* s = st;
	if (s->empty) {
		*n = 0;
		return NULL;
	}
	ss_plugin_metric* m = s->metrics;
	memset(m, 0, sizeof(s->metrics));
	metric(&m[0], "evt_count", SS_PLUGIN_METRIC_TYPE_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_U64);
	m[0].value.u64 = s->evt_count;
	metric(&m[1], "dummy_metric", SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_U32);
	m[1].value.u32 = 123456789;
	metric(&m[2], "s32", SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_S32);
	m[2].value.s32 = -7;
	metric(&m[3], "s64", SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_S64);
	m[3].value.s64 = -5000000000LL;
	metric(&m[4], "ratio", SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_D);
	m[4].value.d = 0.25;
	metric(&m[5], "ratio_f", SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_F);
	m[5].value.f = 1.5f;
	metric(&m[6], "plain_int", SS_PLUGIN_METRIC_TYPE_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_I);
	m[6].value.i = -3;
	*n = 7;
	return m;
}

const char* cap_metrics_config(ss_plugin_t* s) { return ((struct cap_state*)s)->config; }

/* set_config: stores the new config; one containing "bad" is refused. */
ss_plugin_rc plugin_set_config(ss_plugin_t* st, const ss_plugin_set_config_input* in) {
	struct cap_state* s = st;
	if (!in || !in->config || strstr(in->config, "bad")) {
		cap_error(s, "cap_metrics: config refused");
		return SS_PLUGIN_FAILURE;
	}
	snprintf(s->config, sizeof(s->config), "%s", in->config);
	return SS_PLUGIN_SUCCESS;
}

#ifdef CAP_SCHEMA
const char* plugin_get_init_schema(ss_plugin_schema_type* t) {
	*t = SS_PLUGIN_SCHEMA_JSON;
	return "{\"type\":\"object\",\"properties\":{\"empty\":{\"type\":\"boolean\"}}}";
}
#endif
