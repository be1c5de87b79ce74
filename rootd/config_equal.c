/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Comparison of two jail descriptions by value, for configuration reloads:
 * a jail whose description changed in any key is restarted, one that was
 * only reformatted or moved is left running. Positions, file paths and
 * the spelling of file sources do not count; resolved values do.
 */
#include "config_int.h"

#include <string.h>

/* Compares two strings of which either may be NULL. */
static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
command_eq(const struct cfg_command *a, const struct cfg_command *b)
{
	if (a->nexec != b->nexec || a->nenv != b->nenv)
		return false;
	for (size_t i = 0; i < a->nexec; i++)
		if (!str_eq(a->exec[i], b->exec[i]))
			return false;
	for (size_t i = 0; i < a->nenv; i++)
		if (!str_eq(a->env[i].name, b->env[i].name) ||
		    !str_eq(a->env[i].value, b->env[i].value))
			return false;
	return true;
}

static bool
policy_eq(const struct cfg_policy *a, const struct cfg_policy *b)
{
	return a->restart == b->restart &&
	    a->stop_timeout_ms == b->stop_timeout_ms &&
	    a->restart_delay_ms == b->restart_delay_ms &&
	    a->restart_delay_max_ms == b->restart_delay_max_ms &&
	    a->restart_reset_ms == b->restart_reset_ms;
}

static bool
mount_eq(const struct cfg_mount *a, const struct cfg_mount *b)
{
	return a->type == b->type && str_eq(a->dest, b->dest) &&
	    str_eq(a->image, b->image) && str_eq(a->version, b->version) &&
	    str_eq(a->sha256, b->sha256) && a->size == b->size &&
	    a->persist == b->persist && str_eq(a->volume, b->volume) &&
	    str_eq(a->share, b->share) && a->readonly == b->readonly &&
	    str_eq(a->device, b->device) && str_eq(a->fstype, b->fstype) &&
	    str_eq(a->source_path, b->source_path) &&
	    a->has_mode == b->has_mode && a->mode == b->mode;
}

static bool
services_eq(const struct cfg_service_ref *a, size_t na,
    const struct cfg_service_ref *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i].name, b[i].name))
			return false;
	return true;
}

static bool
access_eq(const struct cfg_access *a, const struct cfg_access *b)
{
	if (!str_eq(a->service, b->service) || a->nrights != b->nrights)
		return false;
	for (size_t i = 0; i < a->nrights; i++)
		if (!str_eq(a->rights[i], b->rights[i]))
			return false;
	return true;
}

static bool
listen_eq(const struct cfg_listen *a, const struct cfg_listen *b)
{
	return str_eq(a->name, b->name) && a->family == b->family &&
	    memcmp(a->addr, b->addr, sizeof(a->addr)) == 0 &&
	    a->port == b->port && a->mode == b->mode &&
	    a->max_connections == b->max_connections;
}

bool
cfg_jail_equal(const struct cfg_jail *a, const struct cfg_jail *b)
{
	if (!str_eq(a->name, b->name) || a->autostart != b->autostart ||
	    !command_eq(&a->cmd, &b->cmd) || !str_eq(a->user, b->user) ||
	    !str_eq(a->workdir, b->workdir) || a->init != b->init ||
	    !policy_eq(&a->policy, &b->policy) ||
	    a->isolation != b->isolation)
		return false;

	if (a->nmounts != b->nmounts || a->naccess != b->naccess ||
	    a->nlisten != b->nlisten)
		return false;
	for (size_t i = 0; i < a->nmounts; i++)
		if (!mount_eq(&a->mounts[i], &b->mounts[i]))
			return false;
	for (size_t i = 0; i < a->naccess; i++)
		if (!access_eq(&a->access[i], &b->access[i]))
			return false;
	for (size_t i = 0; i < a->nlisten; i++)
		if (!listen_eq(&a->listen[i], &b->listen[i]))
			return false;

	return services_eq(a->provides, a->nprovides, b->provides,
	    b->nprovides) && services_eq(a->requires, a->nrequires,
	    b->requires, b->nrequires);
}
