/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The set of all jail descriptions in a jails/ folder: loading every
 * "*.toml" file in name order, replacing one jail (for `jail apply`), and
 * freeing. The checks across jails and the start order are in
 * config_graph.c.
 */
#include "config_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "path.h"

#define TOML_SUFFIX ".toml"

static bool
is_jail_file(const char *name)
{
	size_t len = strlen(name), slen = strlen(TOML_SUFFIX);

	return len >= slen && strcmp(name + len - slen, TOML_SUFFIX) == 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Lists the jail file names of dir, sorted. A missing dir is empty. */
static int
list_jail_files(const char *dir, char ***out, size_t *nout,
    struct nem_err *err)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	*out = NULL;
	*nout = 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT)
		return 0;
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		nem_err_sys(err, errno, "cannot open jail folder %s", dir);
		if (fd != -1)
			close(fd);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!is_jail_file(de->d_name))
			continue;
		if (n == CFG_JAIL_MAX) {
			nem_err_set(err, E2BIG, "jail folder %s has more than "
			    "%d jail files", dir, CFG_JAIL_MAX);
			goto fail;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **v = reallocarray(names, ncap, sizeof(*names));

			if (v == NULL)
				goto oom;
			names = v;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			goto oom;
		n++;
	}
	if (errno != 0) {
		nem_err_sys(err, errno, "cannot read jail folder %s", dir);
		goto fail;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*nout = n;
	return 0;

oom:
	nem_err_sys(err, ENOMEM, "cannot list jail folder %s", dir);
fail:
	free_names(names, n);
	closedir(d);
	return -1;
}

int
cfg_set_load(const char *dir, struct cfg_set **out, struct nem_err *err)
{
	struct cfg_set *set;
	char **names;
	size_t n;

	if (list_jail_files(dir, &names, &n, err) == -1)
		return -1;
	set = calloc(1, sizeof(*set));
	if (set == NULL || (set->dir = strdup(dir)) == NULL ||
	    (n > 0 && (set->jails = calloc(n, sizeof(*set->jails))) == NULL))
		goto oom;

	for (size_t i = 0; i < n; i++) {
		struct cfg_set_jail *e = &set->jails[i];

		e->path = path_join(dir, names[i], err);
		if (e->path == NULL)
			goto fail;
		e->name = strndup(names[i], strlen(names[i]) -
		    strlen(TOML_SUFFIX));
		set->njails++;
		if (e->name == NULL)
			goto oom;
		e->jail = cfg_jail_load(e->path, &e->diags);
	}
	free_names(names, n);
	if (cfg_set_resolve(set, err) == -1) {
		cfg_set_free(set);
		return -1;
	}
	*out = set;
	return 0;

oom:
	nem_err_sys(err, ENOMEM, "cannot load jail folder %s", dir);
fail:
	free_names(names, n);
	cfg_set_free(set);
	return -1;
}

struct cfg_set_jail *
cfg_set_find(const struct cfg_set *set, const char *name)
{
	for (size_t i = 0; i < set->njails; i++)
		if (strcmp(set->jails[i].name, name) == 0)
			return &set->jails[i];
	return NULL;
}

int
cfg_set_put(struct cfg_set *set, struct cfg_jail *jail, struct nem_err *err)
{
	struct cfg_set_jail *e = cfg_set_find(set, jail->name);
	char *name, *path;

	name = strdup(jail->name);
	path = strdup(jail->path ? jail->path : jail->name);
	if (name == NULL || path == NULL) {
		free(name);
		free(path);
		cfg_jail_free(jail);
		return nem_err_sys(err, ENOMEM, "cannot add jail");
	}
	if (e == NULL) {
		struct cfg_set_jail *v;
		size_t at = 0;

		v = reallocarray(set->jails, set->njails + 1, sizeof(*v));
		if (v == NULL) {
			nem_err_sys(err, ENOMEM, "cannot add jail %s", name);
			free(name);
			free(path);
			cfg_jail_free(jail);
			return -1;
		}
		set->jails = v;
		/* Keep the entries sorted by name. */
		while (at < set->njails && strcmp(v[at].name, name) < 0)
			at++;
		memmove(&v[at + 1], &v[at], (set->njails - at) * sizeof(*v));
		set->njails++;
		e = &v[at];
		memset(e, 0, sizeof(*e));
	}
	free(e->name);
	free(e->path);
	cfg_jail_free(e->jail);
	cfg_diags_clear(&e->diags);
	e->name = name;
	e->path = path;
	e->jail = jail;
	return cfg_set_resolve(set, err);
}

int
cfg_set_prefer(struct cfg_set *set, const char *const *names, size_t n,
    struct nem_err *err)
{
	for (size_t i = 0; i < set->njails; i++) {
		set->jails[i].preferred = false;
		for (size_t k = 0; k < n; k++) {
			if (strcmp(set->jails[i].name, names[k]) == 0)
				set->jails[i].preferred = true;
		}
	}
	return cfg_set_resolve(set, err);
}

void
cfg_set_free(struct cfg_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->njails; i++) {
		free(set->jails[i].name);
		free(set->jails[i].path);
		cfg_jail_free(set->jails[i].jail);
		cfg_diags_clear(&set->jails[i].diags);
		cfg_diags_clear(&set->jails[i].set_diags);
	}
	free(set->jails);
	free(set->dir);
	cfg_diags_clear(&set->diags);
	free(set->order);
	free(set);
}
