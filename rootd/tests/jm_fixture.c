/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The shared jail-manager fixture (jm_fixture.h).
 */
#include "jm_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <event2/event.h>

#include "config.h"
#include "db.h"
#include "supervise.h"

struct fx *
fx_open(const char *prefix, const char *host_extra)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct cfg_diags diags = { 0 };
	struct nem_err err;
	char conf[256], *text;

	assert_non_null(fx);
	assert_true(strlen(prefix) < sizeof(fx->dir));
	strcpy(fx->dir, prefix);
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->jails, sizeof(fx->jails), "%s/jails", fx->dir);
	assert_int_equal(mkdir(fx->jails, 0755), 0);
	snprintf(conf, sizeof(conf), "%s/rootd.toml", fx->dir);
	assert_true(asprintf(&text, "state_dir = \"%s/state\"\n"
	    "run_dir = \"%s/run\"\n%s", fx->dir, fx->dir, host_extra) > 0);
	fx->host = cfg_host_load_buffer(conf, text, strlen(text), &diags);
	free(text);
	if (fx->host == NULL)
		cfg_diags_print(&diags, stderr);
	assert_non_null(fx->host);
	assert_int_equal(mkdir(fx->host->state_dir, 0700), 0);
	assert_int_equal(mkdir(fx->host->run_dir, 0700), 0);

	fx->base = event_base_new();
	assert_non_null(fx->base);
	fx->sup = sup_new(fx->base, &err);
	assert_non_null(fx->sup);
	fx->db = db_open(fx->host->state_dir, &err);
	assert_non_null(fx->db);
	return fx;
}

static void
on_event(void *arg, const struct jm_event *ev)
{
	struct fx *fx = arg;
	size_t used = strlen(fx->events);

	snprintf(fx->events + used, sizeof(fx->events) - used, "%s:%s ",
	    ev->name, ev->state);
}

void
fx_start_jm(struct fx *fx, const struct jm_runtime *rt)
{
	struct jm_params p = { 0 };
	struct nem_err err;

	p.base = fx->base;
	p.sup = fx->sup;
	p.db = fx->db;
	p.host = fx->host;
	p.runtime = rt;
	p.version = "test";
	fx->jm = jm_new(&p, &err);
	if (fx->jm == NULL)
		fprintf(stderr, "jm_new: %s\n", err.msg);
	assert_non_null(fx->jm);
	assert_non_null(jm_watch(fx->jm, on_event, fx, &err));
}

void
fx_on_shut(void *arg)
{
	struct fx *fx = arg;

	fx->shut = true;
}

bool
is_shut(struct fx *fx, const void *arg)
{
	(void)arg;
	return fx->shut;
}

bool
run_until(struct fx *fx, fx_cond cond, const void *arg, int ms)
{
	struct timeval tick = { 0, 20000 };

	for (int waited = 0; waited < ms; waited += 20) {
		if (cond(fx, arg))
			return true;
		event_base_loopexit(fx->base, &tick);
		event_base_dispatch(fx->base);
	}
	return cond(fx, arg);
}

void
fx_close(struct fx *fx)
{
	char cmd[128];

	if (fx->jm != NULL) {
		jm_shutdown(fx->jm, fx_on_shut, fx);
		assert_true(run_until(fx, is_shut, NULL, 20000));
		jm_free(fx->jm);
	}
	sup_free(fx->sup);
	db_close(fx->db);
	event_base_free(fx->base);
	cfg_host_free(fx->host);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
}

struct want {
	const char *name;
	enum jm_state state;
};

static bool
in_state(struct fx *fx, const void *arg)
{
	const struct want *w = arg;
	struct jm_jail_info info;

	if (jm_jail_status(fx->jm, w->name, &info, NULL) == -1)
		return false;
	return info.state == w->state;
}

void
wait_state(struct fx *fx, const char *name, enum jm_state state, int ms)
{
	struct want w = { name, state };
	struct jm_jail_info info;

	if (run_until(fx, in_state, &w, ms))
		return;
	if (jm_jail_status(fx->jm, name, &info, NULL) == 0)
		fail_msg("jail %s is %s (%s), expected %s", name,
		    jm_state_name(info.state), info.reason,
		    jm_state_name(state));
	fail_msg("jail %s not found, expected %s", name, jm_state_name(state));
}

void
write_jail(struct fx *fx, const char *name, const char *fmt, ...)
{
	char path[256];
	va_list ap;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s.toml", fx->jails, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	assert_int_equal(fclose(fp), 0);
}
