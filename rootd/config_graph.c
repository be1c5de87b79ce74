/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The dependency graph of a set of jails and its start order. Each
 * required service must have a provider, and requirements must not form a
 * cycle; config_claims.c checks what only one jail may claim. A jail that
 * fails any check, or that requires a service of a jail that cannot
 * start, is not startable. The start order is a
 * topological order of the startable jails, ties broken by name.
 *
 * Limitations: the start order takes O(n^2) time in the number of jails,
 * which CFG_JAIL_MAX bounds. The claims (config_claims.c) are sorted.
 */
#include "config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Working state of one resolve pass. */
struct graph {
	struct cfg_set *set;
	size_t **provider;	/* [jail][requires index] -> jail, or SIZE_MAX */
	unsigned char *color;	/* DFS state for cycle search */
	size_t *stack;		/* DFS path */
	size_t depth;
	struct cfg_claims providers;	/* services by name */
};

#define WHITE 0			/* not visited */
#define GRAY 1			/* on the DFS path */
#define BLACK 2			/* finished */

struct cfg_jail *
cfg_set_valid(const struct cfg_set *set, size_t i)
{
	return set->jails[i].diags.len == 0 && !set->jails[i].diags.oom ?
	    set->jails[i].jail : NULL;
}

void
cfg_set_err(struct cfg_set *set, size_t i, unsigned line, unsigned col,
    const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1) {
		set->jails[i].set_diags.oom = true;
		va_end(ap);
		return;
	}
	va_end(ap);
	cfg_diag_add(&set->jails[i].set_diags, set->jails[i].path, line, col,
	    "%s", msg);
	free(msg);
}

/* Links each requirement to its provider and reports missing ones. */
static void
link_requires(struct graph *g)
{
	struct cfg_set *set = g->set;

	for (size_t i = 0; i < set->njails; i++) {
		const struct cfg_jail *j = cfg_set_valid(set, i);

		for (size_t k = 0; j != NULL && k < j->nrequires; k++) {
			size_t p = cfg_claims_provider(&g->providers,
			    j->requires[k].name);

			g->provider[i][k] = p;
			if (p != SIZE_MAX)
				continue;
			cfg_set_err(set, i, j->requires[k].line,
			    j->requires[k].col, "service '%s' is required but "
			    "no valid jail provides it; add it to 'provides' "
			    "of a jail or remove it from 'requires'",
			    j->requires[k].name);
		}
	}
}

/*
 * Reports the cycle at the top of the DFS stack that closes at jail c:
 * every jail on it gets the message, at its requirement on the next one.
 */
static void
report_cycle(struct graph *g, size_t c)
{
	struct cfg_set *set = g->set;
	size_t start = g->depth, first, len, min;
	char *text = NULL;
	size_t tlen = 0;
	FILE *fp;

	while (start > 0 && g->stack[start - 1] != c)
		start--;
	first = start - 1;
	len = g->depth - first;

	/* Print the cycle from its smallest name, so it reads the same
	 * whichever jail the search started from. */
	min = first;
	for (size_t i = first; i < g->depth; i++)
		if (strcmp(set->jails[g->stack[i]].name,
		    set->jails[g->stack[min]].name) < 0)
			min = i;
	fp = open_memstream(&text, &tlen);
	if (fp == NULL) {
		set->jails[c].set_diags.oom = true;
		return;
	}
	for (size_t n = 0; n <= len; n++)
		fprintf(fp, "%s%s", n ? " -> " : "", set->jails[g->stack[first +
		    (min - first + n) % len]].name);
	fclose(fp);

	for (size_t n = 0; n < len; n++) {
		size_t i = g->stack[first + n];
		size_t next = g->stack[first + (n + 1) % len];
		const struct cfg_jail *j = set->jails[i].jail;

		for (size_t k = 0; k < j->nrequires; k++) {
			if (g->provider[i][k] != next)
				continue;
			cfg_set_err(set, i, j->requires[k].line,
			    j->requires[k].col, "dependency cycle: %s (each "
			    "jail requires a service of the next)", text);
			break;
		}
	}
	free(text);
}

static void
visit(struct graph *g, size_t i)
{
	const struct cfg_jail *j = g->set->jails[i].jail;

	g->color[i] = GRAY;
	g->stack[g->depth++] = i;
	for (size_t k = 0; k < j->nrequires; k++) {
		size_t p = g->provider[i][k];

		if (p == SIZE_MAX)
			continue;
		if (g->color[p] == GRAY)
			report_cycle(g, p);
		else if (g->color[p] == WHITE)
			visit(g, p);
	}
	g->depth--;
	g->color[i] = BLACK;
}

/*
 * Marks jails startable: a valid file, no error across jails, and every
 * provider startable. Jails that lose startability through a provider get
 * an error naming it, so check-config shows why they will not start.
 */
static void
mark_startable(struct graph *g)
{
	struct cfg_set *set = g->set;
	bool changed = true;

	for (size_t i = 0; i < set->njails; i++)
		set->jails[i].startable = cfg_set_valid(set, i) != NULL &&
		    set->jails[i].set_diags.len == 0;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < set->njails; i++) {
			const struct cfg_jail *j = set->jails[i].jail;

			if (!set->jails[i].startable)
				continue;
			for (size_t k = 0; k < j->nrequires; k++) {
				size_t p = g->provider[i][k];

				if (set->jails[p].startable)
					continue;
				cfg_set_err(set, i, j->requires[k].line,
				    j->requires[k].col, "service '%s' is "
				    "provided by jail '%s', which cannot start",
				    j->requires[k].name, set->jails[p].name);
				set->jails[i].startable = false;
				changed = true;
				break;
			}
		}
	}
}

/* Orders startable jails: providers first, ties by name (set order). */
static int
compute_order(struct graph *g, struct nem_err *err)
{
	struct cfg_set *set = g->set;
	bool *placed;
	size_t n = 0;

	free(set->order);
	set->order = NULL;
	set->norder = 0;
	for (size_t i = 0; i < set->njails; i++)
		n += set->jails[i].startable;
	set->order = calloc(n ? n : 1, sizeof(*set->order));
	placed = calloc(set->njails ? set->njails : 1, sizeof(*placed));
	if (set->order == NULL || placed == NULL) {
		free(placed);
		return nem_err_sys(err, ENOMEM, "cannot order jails");
	}

	/* Startable jails form an acyclic graph in which every provider is
	 * startable, so each pass places at least one jail. */
	while (set->norder < n) {
		for (size_t i = 0; i < set->njails; i++) {
			const struct cfg_jail *j = set->jails[i].jail;
			bool ready = set->jails[i].startable && !placed[i];

			for (size_t k = 0; ready && k < j->nrequires; k++)
				ready = placed[g->provider[i][k]];
			if (!ready)
				continue;
			placed[i] = true;
			set->order[set->norder++] = set->jails[i].jail;
			break;
		}
	}
	free(placed);
	return 0;
}

static void
graph_free(struct graph *g)
{
	if (g->provider != NULL)
		for (size_t i = 0; i < g->set->njails; i++)
			free(g->provider[i]);
	free(g->provider);
	free(g->color);
	free(g->stack);
	cfg_claims_free(&g->providers);
}

static int
graph_init(struct graph *g, struct cfg_set *set)
{
	size_t n = set->njails ? set->njails : 1;

	memset(g, 0, sizeof(*g));
	g->set = set;
	g->provider = calloc(n, sizeof(*g->provider));
	g->color = calloc(n, sizeof(*g->color));
	g->stack = calloc(n, sizeof(*g->stack));
	if (g->provider == NULL || g->color == NULL || g->stack == NULL)
		return -1;
	for (size_t i = 0; i < set->njails; i++) {
		const struct cfg_jail *j = cfg_set_valid(set, i);
		size_t k = j && j->nrequires ? j->nrequires : 1;

		g->provider[i] = malloc(k * sizeof(**g->provider));
		if (g->provider[i] == NULL)
			return -1;
	}
	return 0;
}

int
cfg_set_resolve(struct cfg_set *set, struct nem_err *err)
{
	struct graph g;
	int rc;

	for (size_t i = 0; i < set->njails; i++)
		cfg_diags_clear(&set->jails[i].set_diags);
	if (graph_init(&g, set) == -1) {
		graph_free(&g);
		return nem_err_sys(err, ENOMEM, "cannot check jails");
	}

	if (cfg_check_claims(set, &g.providers) == -1) {
		graph_free(&g);
		return nem_err_sys(err, ENOMEM, "cannot check jails");
	}
	link_requires(&g);
	for (size_t i = 0; i < set->njails; i++)
		if (cfg_set_valid(set, i) != NULL && g.color[i] == WHITE)
			visit(&g, i);
	mark_startable(&g);
	rc = compute_order(&g, err);
	graph_free(&g);
	return rc;
}
