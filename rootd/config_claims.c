/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Things that at most one jail of a set may claim: a service to provide,
 * a persistent volume, a device mounted writable, a listen address and
 * port. Claims are collected into arrays and sorted, so every check takes
 * O(n log n) time in the number of claims. A claim of a preferred jail
 * (cfg_set_prefer) wins, then the first in jail name order; each later
 * one gets an error naming the winner.
 */
#include "config_int.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* A claim: a name (or a binary listen address) taken by one jail. */
struct cfg_claim {
	const char *name;	/* service, volume or device; NULL for listen */
	unsigned char addr[20];	/* listen: family, address, port */
	size_t jail;		/* index in the set, sorted by jail name */
	size_t item;		/* index of the provides, mount or listen */
	bool preferred;		/* the jail is preferred */
};

static int
cmp_claims(const void *pa, const void *pb)
{
	const struct cfg_claim *a = pa, *b = pb;
	int c;

	c = a->name ? strcmp(a->name, b->name) :
	    memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c != 0)
		return c;
	if (a->preferred != b->preferred)
		return a->preferred ? -1 : 1;
	if (a->jail != b->jail)
		return a->jail < b->jail ? -1 : 1;
	return a->item < b->item ? -1 : a->item > b->item;
}

/* Returns true when a and b claim the same thing. */
static bool
same(const struct cfg_claim *a, const struct cfg_claim *b)
{
	return a->name ? strcmp(a->name, b->name) == 0 :
	    memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/*
 * Appends a claim, growing the array. Returns 0, or -1 when out of
 * memory.
 */
static int
add(struct cfg_claims *c, size_t *cap, const struct cfg_claim *cl)
{
	if (c->len == *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;
		void *v = reallocarray(c->v, ncap, sizeof(*c->v));

		if (v == NULL)
			return -1;
		c->v = v;
		*cap = ncap;
	}
	c->v[c->len++] = *cl;
	return 0;
}

static void
sort(struct cfg_claims *c)
{
	if (c->len > 1)
		qsort(c->v, c->len, sizeof(struct cfg_claim), cmp_claims);
}

/* Describes the owner of claim first for a message about jail i. */
static void
owner(const struct cfg_set *set, size_t i, const struct cfg_claim *first,
    char *buf, size_t size)
{
	const struct cfg_jail *j = set->jails[first->jail].jail;

	if (first->jail == i)
		snprintf(buf, size, "the [[mount]] at line %u",
		    j->mounts[first->item].line);
	else
		snprintf(buf, size, "jail '%s'", j->name);
}

static void
report_services(struct cfg_set *set, const struct cfg_claims *c)
{
	const struct cfg_claim *v = c->v;

	const struct cfg_claim *first = v;

	for (size_t n = 1; n < c->len; n++) {
		const struct cfg_service_ref *ref;

		if (!same(first, &v[n])) {
			first = &v[n];
			continue;
		}
		ref = &set->jails[v[n].jail].jail->provides[v[n].item];
		cfg_set_err(set, v[n].jail, ref->line, ref->col, "service '%s' "
		    "is also provided by jail '%s'; a service has exactly one "
		    "provider", ref->name, set->jails[first->jail].name);
	}
}

static void
report_volumes(struct cfg_set *set, const struct cfg_claims *c)
{
	const struct cfg_claim *v = c->v;
	char where[96];

	const struct cfg_claim *first = v;

	for (size_t n = 1; n < c->len; n++) {
		const struct cfg_mount *m;

		if (!same(first, &v[n])) {
			first = &v[n];
			continue;
		}
		m = &set->jails[v[n].jail].jail->mounts[v[n].item];
		owner(set, v[n].jail, first, where, sizeof(where));
		cfg_set_err(set, v[n].jail, m->line, m->col, "volume '%s' is "
		    "also used by %s; a volume belongs to one mount", m->volume,
		    where);
	}
}

/*
 * Reports a device mounted by several mounts when one of them is
 * writable: each mount after the first conflicts with the first mount
 * when it is writable itself, or else with the first writable one.
 */
static void
report_devices(struct cfg_set *set, const struct cfg_claims *c)
{
	const struct cfg_claim *v = c->v;
	const struct cfg_claim *first = NULL, *writable = NULL;
	char where[96];

	for (size_t n = 0; n < c->len; n++) {
		const struct cfg_mount *m =
		    &set->jails[v[n].jail].jail->mounts[v[n].item];
		const struct cfg_claim *other;

		if (first == NULL || !same(first, &v[n])) {
			first = &v[n];
			writable = m->readonly ? NULL : &v[n];
			continue;
		}
		other = m->readonly ? writable : first;
		if (!m->readonly && writable == NULL)
			writable = &v[n];
		if (other == NULL)
			continue;
		owner(set, v[n].jail, other, where, sizeof(where));
		cfg_set_err(set, v[n].jail, m->line, m->col, "device %s is also "
		    "mounted by %s; a device mounted writable belongs to one "
		    "mount", m->device, where);
	}
}

/* True when the listen claim key k has the wildcard address. */
static bool
wildcard(const unsigned char *k)
{
	for (size_t i = 1; i < 17; i++) {
		if (k[i] != 0)
			return false;
	}
	return true;
}

bool
cfg_listen_overlap(const struct cfg_listen *a, const struct cfg_listen *b)
{
	static const unsigned char any[16];
	size_t n = a->family == AF_INET6 ? 16 : 4;

	if (a->family != b->family || a->port != b->port)
		return false;
	return memcmp(a->addr, b->addr, n) == 0 ||
	    memcmp(a->addr, any, n) == 0 || memcmp(b->addr, any, n) == 0;
}

/* Returns the listen entry that claim c stands for. */
static const struct cfg_listen *
listen_of(const struct cfg_set *set, const struct cfg_claim *c)
{
	return &set->jails[c->jail].jail->listen[c->item];
}

static void
report_listen(struct cfg_set *set, const struct cfg_claims *c)
{
	const struct cfg_claim *v = c->v;
	const struct cfg_listen *l, *o;

	const struct cfg_claim *first = v;

	for (size_t n = 1; n < c->len; n++) {
		if (!same(first, &v[n])) {
			first = &v[n];
			continue;
		}
		if (first->jail == v[n].jail)
			continue;
		l = listen_of(set, &v[n]);
		cfg_set_err(set, v[n].jail, l->line, l->col, "listen address %s "
		    "port %u is also used by jail '%s'", l->address, l->port,
		    set->jails[first->jail].name);
	}

	/*
	 * A wildcard address overlaps every other address of the port. The
	 * error goes to the jail that is not preferred, else to the jail with
	 * the wildcard, else to the later one.
	 */
	for (size_t n = 0; n < c->len; n++) {
		for (size_t m = n + 1; m < c->len; m++) {
			const struct cfg_claim *w = &v[m], *other = &v[n];

			if (v[n].jail == v[m].jail || same(&v[n], &v[m]) ||
			    !cfg_listen_overlap(listen_of(set, &v[n]),
			    listen_of(set, &v[m])))
				continue;
			if (v[n].preferred != v[m].preferred ?
			    v[m].preferred : !wildcard(w->addr)) {
				w = &v[n];
				other = &v[m];
			}
			l = listen_of(set, w);
			o = listen_of(set, other);
			cfg_set_err(set, w->jail, l->line, l->col, "listen "
			    "address %s port %u overlaps address %s port %u of "
			    "jail '%s'; a wildcard address takes the port on "
			    "every address", l->address, l->port, o->address,
			    o->port, set->jails[other->jail].name);
		}
	}
}

/* Packs family, address and port into a claim key. */
static void
listen_key(const struct cfg_listen *l, unsigned char key[20])
{
	memset(key, 0, 20);
	key[0] = l->family == AF_INET6 ? 6 : 4;
	memcpy(key + 1, l->addr, sizeof(l->addr));
	key[17] = (unsigned char)(l->port >> 8);
	key[18] = (unsigned char)(l->port & 0xff);
}

/* Collects the claims of every valid jail. Returns 0, or -1 on ENOMEM. */
static int
collect(const struct cfg_set *set, struct cfg_claims *services,
    struct cfg_claims *volumes, struct cfg_claims *devices,
    struct cfg_claims *listen)
{
	size_t caps[4] = { 0 };

	for (size_t i = 0; i < set->njails; i++) {
		const struct cfg_jail *j = cfg_set_valid(set, i);
		struct cfg_claim cl = { .jail = i,
			.preferred = set->jails[i].preferred };

		for (size_t k = 0; j != NULL && k < j->nprovides; k++) {
			cl.name = j->provides[k].name;
			cl.item = k;
			if (add(services, &caps[0], &cl) == -1)
				return -1;
		}
		for (size_t k = 0; j != NULL && k < j->nmounts; k++) {
			cl.item = k;
			cl.name = j->mounts[k].volume;
			if (cl.name != NULL && add(volumes, &caps[1], &cl) == -1)
				return -1;
			cl.name = j->mounts[k].device;
			if (cl.name != NULL && add(devices, &caps[2], &cl) == -1)
				return -1;
		}
		cl.name = NULL;
		for (size_t k = 0; j != NULL && k < j->nlisten; k++) {
			cl.item = k;
			listen_key(&j->listen[k], cl.addr);
			if (add(listen, &caps[3], &cl) == -1)
				return -1;
		}
	}
	return 0;
}

int
cfg_check_claims(struct cfg_set *set, struct cfg_claims *providers)
{
	struct cfg_claims volumes = { 0 }, devices = { 0 }, listen = { 0 };
	int rc;

	memset(providers, 0, sizeof(*providers));
	rc = collect(set, providers, &volumes, &devices, &listen);
	if (rc == 0) {
		sort(providers);
		sort(&volumes);
		sort(&devices);
		sort(&listen);
		report_services(set, providers);
		report_volumes(set, &volumes);
		report_devices(set, &devices);
		report_listen(set, &listen);
	}
	free(volumes.v);
	free(devices.v);
	free(listen.v);
	return rc;
}

size_t
cfg_claims_provider(const struct cfg_claims *providers, const char *service)
{
	const struct cfg_claim *v = providers->v;
	size_t lo = 0, hi = providers->len;

	/* Finds the first claim not below service, the one that wins. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid].name, service) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < providers->len && strcmp(v[lo].name, service) == 0)
		return v[lo].jail;
	return SIZE_MAX;
}

void
cfg_claims_free(struct cfg_claims *claims)
{
	free(claims->v);
	memset(claims, 0, sizeof(*claims));
}
