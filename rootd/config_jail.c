/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Loading one jail description: the top-level keys, [process], isolation,
 * [services], [access] and [[listen]] (mounts are in config_mount.c). Every
 * key is checked and every error reported; a description with any error
 * yields no jail, so the daemon never runs half of one.
 */
#include "config_int.h"

#include <arpa/inet.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "names.h"
#include "path.h"
#include "units.h"

#define TOML_SUFFIX ".toml"
#define USER_MAX 32

static const char *const top_keys[] = { "autostart", "process",
	"isolation", "mount", "services", "access", "listen", NULL };
static const char *const process_keys[] = { CFG_COMMAND_KEYS, "user",
	"workdir", "init", CFG_POLICY_KEYS, NULL };
static const char *const services_keys[] = { "provides", "requires", NULL };
static const char *const listen_keys[] = { "name", "address", "port",
	"mode", "max_connections", NULL };

/*
 * User names as POSIX portable file names, not starting with '-', or a
 * numeric user id.
 */
static bool
user_ok(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len <= USER_MAX && s[0] != '-' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == len;
}

static int
get_process(struct cfg_ctx *ctx, const struct toml_value *root,
    struct cfg_jail *jail)
{
	const struct toml_value *t = NULL;
	struct toml_pos pos;
	const char *user = "root";
	int rc, result = 0;

	rc = cfg_get_table(ctx, root, "process", &t);
	if (rc == 0) {
		cfg_err(ctx, cfg_doc_pos(), "missing table [process]: a jail "
		    "needs a root process, such as [process] exec = "
		    "[\"/bin/web\"]");
		return -1;
	}
	if (rc == -1)
		return -1;
	cfg_check_keys(ctx, t, "[process]", process_keys);

	if (cfg_get_command(ctx, t, "[process]", &jail->cmd) == -1)
		result = -1;
	if (cfg_get_policy(ctx, t, &jail->policy) == -1)
		result = -1;
	if (cfg_get_bool(ctx, t, "init", &jail->init) == -1)
		result = -1;

	rc = cfg_get_str(ctx, t, "user", &user, &pos);
	if (rc == -1) {
		result = -1;
	} else if (rc == 1 && !user_ok(user)) {
		cfg_err(ctx, pos, "invalid user \"%s\": use a user name of the "
		    "jail's /etc/passwd or a numeric id (1 to %d letters, "
		    "digits, '.', '_' or '-', not starting with '-')",
		    CFG_PREVIEW(user), USER_MAX);
		result = -1;
	} else {
		jail->user = cfg_strdup(ctx, user, pos);
	}

	rc = cfg_get_abs_path(ctx, t, "workdir", &jail->workdir, NULL);
	if (rc == -1)
		result = -1;
	else if (rc == 0)
		jail->workdir = cfg_strdup(ctx, "/", cfg_doc_pos());
	return result;
}

static int
get_isolation(struct cfg_ctx *ctx, const struct toml_value *root,
    struct cfg_jail *jail)
{
	static const char *const names[] = { "jail", "network",
		"expose_network", NULL };
	const struct toml_value *arr = NULL;
	unsigned bits = 0;
	int rc, result = 0;

	rc = cfg_get_array(ctx, root, "isolation", &arr);
	if (rc == 0) {
		jail->isolation = CFG_ISO_JAIL | CFG_ISO_NETWORK;
		return 0;
	}
	if (rc == -1)
		return -1;

	for (size_t i = 0; i < toml_array_len(arr); i++) {
		const struct toml_value *v = toml_array_get(arr, i);
		const char *s;
		unsigned bit = 0;

		if (cfg_str_value(ctx, v, "isolation", &s) == -1) {
			result = -1;
			continue;
		}
		for (unsigned k = 0; names[k] != NULL; k++)
			if (strcmp(s, names[k]) == 0)
				bit = 1u << k;
		if (bit == 0) {
			cfg_err(ctx, toml_value_pos(v), "invalid isolation "
			    "\"%s\": use \"jail\", \"network\" or "
			    "\"expose_network\"", CFG_PREVIEW(s));
			result = -1;
		} else if (bits & bit) {
			cfg_err(ctx, toml_value_pos(v), "isolation \"%s\" is "
			    "given twice", s);
			result = -1;
		}
		bits |= bit;
	}
	if (result == -1)
		return -1;

	if (!(bits & CFG_ISO_JAIL)) {
		cfg_err(ctx, toml_value_pos(arr), "isolation must contain "
		    "\"jail\": every jail gets its own mount, process, host "
		    "name and IPC spaces");
		result = -1;
	}
	if ((bits & CFG_ISO_NETWORK) && (bits & CFG_ISO_EXPOSE_NETWORK)) {
		cfg_err(ctx, toml_value_pos(arr), "isolation \"expose_network\" "
		    "shares the host network and cannot be combined with "
		    "\"network\"");
		result = -1;
	} else if (!(bits & (CFG_ISO_NETWORK | CFG_ISO_EXPOSE_NETWORK))) {
		cfg_err(ctx, toml_value_pos(arr), "isolation must contain "
		    "\"network\" (own network with loopback only) or "
		    "\"expose_network\" (the host network)");
		result = -1;
	}
	jail->isolation = bits;
	return result;
}

static bool
service_listed(const struct cfg_service_ref *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0)
			return true;
	return false;
}

/* Reads an array of service names, rejecting duplicates. */
static int
get_service_list(struct cfg_ctx *ctx, const struct toml_value *t,
    const char *key, struct cfg_service_ref **out, size_t *nout)
{
	const struct toml_value *arr = NULL;
	int rc, result = 0;
	size_t n;

	rc = cfg_get_array(ctx, t, key, &arr);
	if (rc <= 0)
		return rc;
	n = toml_array_len(arr);
	*out = calloc(n ? n : 1, sizeof(**out));
	if (*out == NULL) {
		cfg_oom(ctx, toml_value_pos(arr));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *v = toml_array_get(arr, i);
		struct toml_pos pos = toml_value_pos(v);
		struct nem_err err;
		const char *s;
		size_t len;

		if (toml_get_string(v, &s, &len) == -1) {
			cfg_err(ctx, pos, "'%s' must contain service names as "
			    "strings, not %s", key, cfg_type_phrase(v));
			result = -1;
			continue;
		}
		if (name_check_len("service", s, len, &err) == -1) {
			cfg_err(ctx, pos, "%s", err.msg);
			result = -1;
			continue;
		}
		if (service_listed(*out, *nout, s)) {
			cfg_err(ctx, pos, "service '%s' is listed twice in "
			    "'%s'", s, key);
			result = -1;
			continue;
		}
		(*out)[*nout].name = cfg_strdup(ctx, s, pos);
		(*out)[*nout].line = pos.line;
		(*out)[*nout].col = pos.col;
		if ((*out)[(*nout)++].name == NULL)
			result = -1;
	}
	return result;
}

static int
get_services(struct cfg_ctx *ctx, const struct toml_value *root,
    struct cfg_jail *jail)
{
	const struct toml_value *t = NULL;
	int rc, result = 0;

	rc = cfg_get_table(ctx, root, "services", &t);
	if (rc <= 0)
		return rc;
	cfg_check_keys(ctx, t, "[services]", services_keys);
	if (get_service_list(ctx, t, "provides", &jail->provides,
	    &jail->nprovides) == -1)
		result = -1;
	if (get_service_list(ctx, t, "requires", &jail->requires,
	    &jail->nrequires) == -1)
		result = -1;

	for (size_t i = 0; i < jail->nrequires; i++) {
		for (size_t j = 0; j < jail->nprovides; j++) {
			if (strcmp(jail->requires[i].name,
			    jail->provides[j].name) != 0)
				continue;
			cfg_err(ctx, (struct toml_pos){ jail->requires[i].line,
			    jail->requires[i].col }, "the jail requires "
			    "service '%s', which it provides itself",
			    jail->requires[i].name);
			result = -1;
		}
	}
	return result;
}

/* Rights: 1 to CFG_RIGHT_MAX bytes of [a-z0-9_.-]. */
static bool
right_ok(const char *s, size_t len)
{
	return len > 0 && len <= CFG_RIGHT_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == len;
}

static bool
right_listed(const struct cfg_access *a, const char *right)
{
	for (size_t i = 0; i < a->nrights; i++)
		if (strcmp(a->rights[i], right) == 0)
			return true;
	return false;
}

static int
get_rights(struct cfg_ctx *ctx, const struct toml_value *arr,
    const char *service, struct cfg_access *a)
{
	size_t n = toml_array_len(arr);
	int result = 0;

	if (n > CFG_ARRAY_MAX) {
		cfg_err(ctx, toml_value_pos(arr), "access to '%s' lists %zu "
		    "rights, the maximum is %d", service, n, CFG_ARRAY_MAX);
		return -1;
	}
	a->rights = calloc(n ? n : 1, sizeof(*a->rights));
	if (a->rights == NULL) {
		cfg_oom(ctx, toml_value_pos(arr));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *v = toml_array_get(arr, i);
		struct toml_pos pos = toml_value_pos(v);
		const char *s;
		size_t len;

		if (toml_get_string(v, &s, &len) == -1) {
			cfg_err(ctx, pos, "rights for '%s' must be strings, not "
			    "%s", service, cfg_type_phrase(v));
			result = -1;
			continue;
		}
		if (!right_ok(s, len)) {
			cfg_err(ctx, pos, "invalid right \"%s\" for '%s': use 1 "
			    "to %d lowercase letters, digits, '_', '.' or '-'",
			    units_preview(s, len,
			    (char[UNITS_PREVIEW_SIZE]){ 0 }), service,
			    CFG_RIGHT_MAX);
			result = -1;
			continue;
		}
		if (right_listed(a, s)) {
			cfg_err(ctx, pos, "right \"%s\" for '%s' is given twice",
			    s, service);
			result = -1;
			continue;
		}
		a->rights[a->nrights] = cfg_strdup(ctx, s, pos);
		if (a->rights[a->nrights++] == NULL)
			result = -1;
	}
	return result;
}

/*
 * Reads [access], then grants every required service that [access] does
 * not name with no rights: requiring a service implies being allowed to
 * connect to it.
 */
static int
get_access(struct cfg_ctx *ctx, const struct toml_value *root,
    struct cfg_jail *jail)
{
	const struct toml_value *t = NULL;
	size_t n = 0, total;
	int rc, result = 0;

	rc = cfg_get_table(ctx, root, "access", &t);
	if (rc == -1)
		return -1;
	if (rc == 1)
		n = toml_table_len(t);
	if (n > CFG_ARRAY_MAX) {
		cfg_err(ctx, toml_value_pos(t), "[access] names %zu services, "
		    "the maximum is %d", n, CFG_ARRAY_MAX);
		return -1;
	}
	total = n + jail->nrequires;
	jail->access = calloc(total ? total : 1, sizeof(*jail->access));
	if (jail->access == NULL) {
		cfg_oom(ctx, cfg_doc_pos());
		return -1;
	}

	for (size_t i = 0; i < n; i++) {
		const struct toml_value *v = toml_table_value(t, i);
		struct cfg_access *a = &jail->access[jail->naccess];
		struct toml_pos kpos = toml_table_key_pos(t, i);
		struct nem_err err;
		const char *key;
		size_t klen;

		key = toml_table_key(t, i, &klen);
		if (name_check_len("service", key, klen, &err) == -1) {
			cfg_err(ctx, kpos, "%s", err.msg);
			result = -1;
			continue;
		}
		if (toml_type(v) != TOML_ARRAY) {
			cfg_err(ctx, toml_value_pos(v), "access to '%s' must be "
			    "an array of rights such as [\"read\"], not %s",
			    key, cfg_type_phrase(v));
			result = -1;
			continue;
		}
		a->service = cfg_strdup(ctx, key, kpos);
		jail->naccess++;
		if (a->service == NULL || get_rights(ctx, v, key, a) == -1)
			result = -1;
	}

	for (size_t i = 0; i < jail->nrequires; i++) {
		const char *name = jail->requires[i].name;
		bool found = false;

		for (size_t j = 0; j < jail->naccess && !found; j++)
			found = strcmp(jail->access[j].service, name) == 0;
		if (found)
			continue;
		jail->access[jail->naccess].service = cfg_strdup(ctx, name,
		    cfg_doc_pos());
		jail->access[jail->naccess].rights = calloc(1, sizeof(char *));
		jail->access[jail->naccess].implied = true;
		if (jail->access[jail->naccess++].rights == NULL)
			result = -1;
	}
	return result;
}

static int
get_listen_one(struct cfg_ctx *ctx, const struct toml_value *t,
    struct cfg_listen *l)
{
	struct toml_pos pos = toml_value_pos(t);
	const char *addr = CFG_DEFAULT_LISTEN_ADDRESS, *mode;
	int64_t n;
	int rc, result = 0;

	l->line = pos.line;
	l->col = pos.col;
	cfg_check_keys(ctx, t, "[[listen]]", listen_keys);

	rc = cfg_get_name(ctx, t, "name", "listen", &l->name, NULL);
	if (rc == 0) {
		cfg_err(ctx, pos, "missing key 'name' in [[listen]], such as "
		    "name = \"http\"");
		result = -1;
	} else if (rc == -1) {
		result = -1;
	}

	rc = cfg_get_str(ctx, t, "address", &addr, &pos);
	if (rc == -1) {
		result = -1;
	} else if (inet_pton(AF_INET, addr, l->addr) == 1) {
		l->family = AF_INET;
	} else if (inet_pton(AF_INET6, addr, l->addr) == 1) {
		l->family = AF_INET6;

		/* Listen sockets are IPv6 only: a mapped address never binds. */
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)l->addr)) {
			cfg_err(ctx, pos, "address \"%s\" is an IPv4 address "
			    "in IPv6 form; write it as IPv4, such as "
			    "\"127.0.0.1\"", CFG_PREVIEW(addr));
			result = -1;
		}
	} else {
		cfg_err(ctx, pos, "invalid address \"%s\": use an IPv4 or IPv6 "
		    "address such as \"127.0.0.1\" or \"::1\"",
		    CFG_PREVIEW(addr));
		result = -1;
	}
	if (rc != -1)
		l->address = cfg_strdup(ctx, addr, pos);

	rc = cfg_get_int(ctx, t, "port", &n, &pos);
	if (rc == 0) {
		cfg_err(ctx, toml_value_pos(t), "missing key 'port' in "
		    "[[listen]], such as port = 8080");
		result = -1;
	} else if (rc == -1) {
		result = -1;
	} else if (n < 1 || n > 65535) {
		cfg_err(ctx, pos, "invalid port %lld: use 1 to 65535",
		    (long long)n);
		result = -1;
	} else {
		l->port = (uint16_t)n;
	}

	rc = cfg_get_str(ctx, t, "mode", &mode, &pos);
	if (rc == -1) {
		result = -1;
	} else if (rc == 0 || strcmp(mode, "fds") == 0) {
		l->mode = CFG_LISTEN_FDS;
	} else if (strcmp(mode, "inetd") == 0) {
		l->mode = CFG_LISTEN_INETD;
		l->max_connections = CFG_DEFAULT_MAX_CONNECTIONS;
	} else {
		cfg_err(ctx, pos, "invalid listen mode \"%s\": use \"fds\" "
		    "(sockets passed as LISTEN_FDS) or \"inetd\" (one process "
		    "per connection)", CFG_PREVIEW(mode));
		return -1;
	}

	rc = cfg_get_int(ctx, t, "max_connections", &n, &pos);
	if (rc == -1) {
		result = -1;
	} else if (rc == 1 && l->mode != CFG_LISTEN_INETD) {
		cfg_err(ctx, pos, "'max_connections' applies only with mode = "
		    "\"inetd\"");
		result = -1;
	} else if (rc == 1 && (n < 1 || n > CFG_MAX_CONNECTIONS_LIMIT)) {
		cfg_err(ctx, pos, "invalid max_connections %lld: use 1 to %d",
		    (long long)n, CFG_MAX_CONNECTIONS_LIMIT);
		result = -1;
	} else if (rc == 1) {
		l->max_connections = (unsigned)n;
	}
	return result;
}

static int
get_listen(struct cfg_ctx *ctx, const struct toml_value *root,
    struct cfg_jail *jail)
{
	const struct toml_value *arr = toml_table_get(root, "listen");
	int result = 0;
	size_t n;

	if (arr == NULL)
		return 0;
	if (toml_type(arr) != TOML_ARRAY) {
		cfg_err(ctx, toml_value_pos(arr), "'listen' must be an array of "
		    "tables written as [[listen]], not %s",
		    cfg_type_phrase(arr));
		return -1;
	}
	n = toml_array_len(arr);
	if (n > CFG_LISTEN_MAX) {
		cfg_err(ctx, toml_value_pos(arr), "too many [[listen]] entries: "
		    "%zu, the maximum is %d", n, CFG_LISTEN_MAX);
		return -1;
	}
	jail->listen = calloc(n ? n : 1, sizeof(*jail->listen));
	if (jail->listen == NULL) {
		cfg_oom(ctx, toml_value_pos(arr));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *t = toml_array_get(arr, i);
		struct cfg_listen *l = &jail->listen[i];

		jail->nlisten++;
		if (toml_type(t) != TOML_TABLE) {
			cfg_err(ctx, toml_value_pos(t), "listen[%zu] must be a "
			    "table, not %s", i, cfg_type_phrase(t));
			result = -1;
			continue;
		}
		if (get_listen_one(ctx, t, l) == -1)
			result = -1;
		for (size_t j = 0; j < i; j++) {
			const struct cfg_listen *o = &jail->listen[j];

			if (o->name != NULL && l->name != NULL &&
			    strcmp(o->name, l->name) == 0) {
				cfg_err(ctx,
				    (struct toml_pos){ l->line, l->col },
				    "listen name '%s' is already used at line "
				    "%u", l->name, o->line);
				result = -1;
			} else if (l->family != 0 && l->port != 0 &&
			    o->family == l->family && o->port == l->port &&
			    memcmp(o->addr, l->addr, sizeof(l->addr)) == 0) {
				cfg_err(ctx,
				    (struct toml_pos){ l->line, l->col },
				    "address %s port %u is already used at line "
				    "%u", l->address, l->port, o->line);
				result = -1;
			}
		}
	}
	return result;
}

/* Validates a parsed document into a jail; NULL when there were errors. */
static struct cfg_jail *
jail_from_root(struct cfg_ctx *ctx, const struct toml_value *root,
    const char *name, const char *confdir)
{
	struct cfg_jail *jail;

	jail = calloc(1, sizeof(*jail));
	if (jail == NULL) {
		cfg_oom(ctx, cfg_doc_pos());
		return NULL;
	}
	jail->name = cfg_strdup(ctx, name, cfg_doc_pos());
	jail->path = cfg_strdup(ctx, ctx->file, cfg_doc_pos());

	cfg_check_keys(ctx, root, "the jail description", top_keys);
	cfg_get_bool(ctx, root, "autostart", &jail->autostart);
	get_process(ctx, root, jail);
	get_isolation(ctx, root, jail);
	cfg_get_mounts(ctx, root, confdir, jail);
	get_services(ctx, root, jail);
	get_access(ctx, root, jail);
	get_listen(ctx, root, jail);

	if (ctx->nerr > 0) {
		cfg_jail_free(jail);
		return NULL;
	}
	return jail;
}

struct cfg_jail *
cfg_jail_load_buffer(const char *name, const char *label,
    const char *confdir, const char *data, size_t len,
    struct cfg_diags *diags)
{
	struct cfg_ctx ctx = { .file = label, .diags = diags };
	size_t first = diags->len;
	struct cfg_jail *jail;
	struct toml_doc *doc;
	struct nem_err err;
	bool bad_name;

	/* A bad name is reported first; the content is still checked, so
	 * one run shows every error. */
	bad_name = name_check("jail", name, &err) == -1;
	if (bad_name) {
		cfg_diag_add(diags, label, 0, 0, "%s; the jail name is the "
		    "file name without \".toml\"", err.msg);
		first = diags->len;
	}
	doc = cfg_parse(&ctx, data, len);
	if (doc == NULL)
		return NULL;
	jail = jail_from_root(&ctx, toml_root(doc), name, confdir);
	toml_free(doc);
	cfg_diags_sort(diags, first);
	if (bad_name) {
		cfg_jail_free(jail);
		return NULL;
	}
	return jail;
}

/*
 * Splits a jail file path into the jail name (file stem) and the
 * configuration folder (the folder above the file's folder, since jail
 * files live in <configuration folder>/jails/). Returns 0, or -1 after
 * adding an error.
 */
static int
split_jail_path(const char *path, char **name, char **confdir,
    struct cfg_diags *diags)
{
	char *copy, *base, *dir, *abs;
	size_t len;

	copy = strdup(path);
	if (copy == NULL)
		goto oom;
	base = strrchr(copy, '/');
	base = base ? base + 1 : copy;
	len = strlen(base);
	if (len < strlen(TOML_SUFFIX) ||
	    strcmp(base + len - strlen(TOML_SUFFIX), TOML_SUFFIX) != 0) {
		cfg_diag_add(diags, path, 0, 0, "a jail description's file "
		    "name must end in \".toml\"");
		free(copy);
		return -1;
	}
	*name = strndup(base, len - strlen(TOML_SUFFIX));

	/* dirname() may modify its argument, so it works on copy. */
	dir = dirname(dirname(copy));
	abs = realpath(dir, NULL);
	*confdir = abs ? abs : strdup(dir);
	free(copy);
	if (*name == NULL || *confdir == NULL) {
		free(*name);
		free(*confdir);
		goto oom;
	}
	return 0;

oom:
	cfg_diag_add(diags, path, 0, 0, "out of memory");
	return -1;
}

struct cfg_jail *
cfg_jail_load(const char *path, struct cfg_diags *diags)
{
	char *name = NULL, *confdir = NULL, *data;
	struct cfg_jail *jail = NULL;
	struct nem_err err;
	size_t len;

	if (split_jail_path(path, &name, &confdir, diags) == -1)
		return NULL;
	if (cfg_read_file(path, &data, &len, &err) == -1) {
		cfg_diag_add(diags, path, 0, 0, "%s", err.msg);
	} else {
		jail = cfg_jail_load_buffer(name, path, confdir, data, len,
		    diags);
		free(data);
	}
	free(name);
	free(confdir);
	return jail;
}

void
cfg_jail_free(struct cfg_jail *jail)
{
	if (jail == NULL)
		return;
	free(jail->name);
	free(jail->path);
	cfg_command_free(&jail->cmd);
	free(jail->user);
	free(jail->workdir);
	for (size_t i = 0; i < jail->nmounts; i++)
		cfg_mount_free(&jail->mounts[i]);
	free(jail->mounts);
	for (size_t i = 0; i < jail->nprovides; i++)
		free(jail->provides[i].name);
	free(jail->provides);
	for (size_t i = 0; i < jail->nrequires; i++)
		free(jail->requires[i].name);
	free(jail->requires);
	for (size_t i = 0; i < jail->naccess; i++) {
		free(jail->access[i].service);
		for (size_t j = 0; j < jail->access[i].nrights; j++)
			free(jail->access[i].rights[j]);
		free(jail->access[i].rights);
	}
	free(jail->access);
	for (size_t i = 0; i < jail->nlisten; i++) {
		free(jail->listen[i].name);
		free(jail->listen[i].address);
	}
	free(jail->listen);
	free(jail);
}
