/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Loading the host configuration, rootd.toml: where state, run files and
 * the control socket live, how the daemon logs, the host name, and the
 * [[host]] entries for daemons that run outside any jail. Every key has a
 * default, so an empty file is a valid configuration.
 */
#include "config_int.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "names.h"
#include "path.h"
#include "units.h"

#define HOSTNAME_MAX 64
#define HOSTNAME_LABEL_MAX 63

static const char *const host_keys[] = { "state_dir", "run_dir",
	"control_socket", "log_level", "log", "hostname", "init_path", "host",
	NULL };
static const char *const entry_keys[] = { "name", CFG_COMMAND_KEYS,
	CFG_POLICY_KEYS, NULL };

/* Host names as RFC 1123 labels of letters, digits and '-', joined by '.'. */
static bool
hostname_ok(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > HOSTNAME_LABEL_MAX)
			return false;
	}
	return true;
}

static int
get_log(struct cfg_ctx *ctx, const struct toml_value *root,
    struct cfg_host *host)
{
	struct toml_pos pos;
	const char *s;
	int rc, result = 0;

	host->log_level = LOG_LEVEL_INFO;
	rc = cfg_get_str(ctx, root, "log_level", &s, &pos);
	if (rc == -1) {
		result = -1;
	} else if (rc == 1 && log_level_parse(s, &host->log_level) == -1) {
		cfg_err(ctx, pos, "invalid log_level \"%s\": use \"error\", "
		    "\"warn\", \"info\" or \"debug\"", CFG_PREVIEW(s));
		result = -1;
	}

	host->log_dest = LOG_DEST_STDERR;
	rc = cfg_get_str(ctx, root, "log", &s, &pos);
	if (rc == -1) {
		result = -1;
	} else if (rc == 1 && strcmp(s, "syslog") == 0) {
		host->log_dest = LOG_DEST_SYSLOG;
	} else if (rc == 1 && strcmp(s, "stderr") != 0) {
		cfg_err(ctx, pos, "invalid log \"%s\": use \"stderr\" or "
		    "\"syslog\"", CFG_PREVIEW(s));
		result = -1;
	}
	return result;
}

static int
get_paths(struct cfg_ctx *ctx, const struct toml_value *root,
    struct cfg_host *host)
{
	struct toml_pos pos = cfg_doc_pos();
	struct nem_err err;
	int rc, result = 0;

	rc = cfg_get_abs_path(ctx, root, "state_dir", &host->state_dir, NULL);
	if (rc == 0)
		host->state_dir = cfg_strdup(ctx, CFG_DEFAULT_STATE_DIR, pos);
	else if (rc == -1)
		result = -1;

	rc = cfg_get_abs_path(ctx, root, "run_dir", &host->run_dir, NULL);
	if (rc == 0)
		host->run_dir = cfg_strdup(ctx, CFG_DEFAULT_RUN_DIR, pos);
	else if (rc == -1)
		return -1;

	rc = cfg_get_abs_path(ctx, root, "control_socket",
	    &host->control_socket, &pos);
	if (rc == -1)
		return -1;
	if (rc == 0) {
		if (host->run_dir == NULL)
			return -1;
		host->control_socket = path_join(host->run_dir,
		    CFG_CONTROL_SOCKET_NAME, &err);
		if (host->control_socket == NULL) {
			cfg_err(ctx, pos, "%s", err.msg);
			return -1;
		}
	}
	if (strlen(host->control_socket) >=
	    sizeof(((struct sockaddr_un *)0)->sun_path)) {
		cfg_err(ctx, pos, "control socket path \"%s\" is %zu bytes, the "
		    "maximum for a unix socket is %zu; set a shorter "
		    "control_socket or run_dir",
		    CFG_PREVIEW(host->control_socket),
		    strlen(host->control_socket),
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		result = -1;
	}
	return result;
}

static int
get_entry(struct cfg_ctx *ctx, const struct toml_value *t,
    struct cfg_host_entry *e)
{
	int rc, result = 0;

	cfg_check_keys(ctx, t, "[[host]]", entry_keys);
	rc = cfg_get_name(ctx, t, "name", "host", &e->name, NULL);
	if (rc == 0) {
		cfg_err(ctx, toml_value_pos(t), "missing key 'name' in "
		    "[[host]], such as name = \"routerd\"");
		result = -1;
	} else if (rc == -1) {
		result = -1;
	}
	if (cfg_get_command(ctx, t, "[[host]]", &e->cmd) == -1)
		result = -1;
	if (cfg_get_policy(ctx, t, &e->policy) == -1)
		result = -1;
	return result;
}

static int
get_entries(struct cfg_ctx *ctx, const struct toml_value *root,
    struct cfg_host *host)
{
	const struct toml_value *arr = toml_table_get(root, "host");
	int result = 0;
	size_t n;

	if (arr == NULL)
		return 0;
	if (toml_type(arr) != TOML_ARRAY) {
		cfg_err(ctx, toml_value_pos(arr), "'host' must be an array of "
		    "tables written as [[host]], not %s", cfg_type_phrase(arr));
		return -1;
	}
	n = toml_array_len(arr);
	if (n > CFG_HOST_MAX) {
		cfg_err(ctx, toml_value_pos(arr), "too many [[host]] entries: "
		    "%zu, the maximum is %d", n, CFG_HOST_MAX);
		return -1;
	}
	host->hosts = calloc(n ? n : 1, sizeof(*host->hosts));
	if (host->hosts == NULL) {
		cfg_oom(ctx, toml_value_pos(arr));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *t = toml_array_get(arr, i);
		struct cfg_host_entry *e = &host->hosts[i];

		host->nhosts++;
		if (toml_type(t) != TOML_TABLE) {
			cfg_err(ctx, toml_value_pos(t), "host[%zu] must be a "
			    "table, not %s", i, cfg_type_phrase(t));
			result = -1;
			continue;
		}
		if (get_entry(ctx, t, e) == -1)
			result = -1;
		for (size_t j = 0; e->name != NULL && j < i; j++) {
			if (host->hosts[j].name != NULL &&
			    strcmp(host->hosts[j].name, e->name) == 0) {
				cfg_err(ctx, toml_value_pos(t), "host name '%s' "
				    "is used by two [[host]] entries", e->name);
				result = -1;
				break;
			}
		}
	}
	return result;
}

static char *
jails_dir_of(const char *path)
{
	char *copy = strdup(path), *dir = NULL;

	if (copy == NULL)
		return NULL;
	/* dirname() may modify its argument, so it works on copy. */
	if (asprintf(&dir, "%s/%s", dirname(copy), CFG_JAILS_DIR_NAME) == -1)
		dir = NULL;
	free(copy);
	return dir;
}

struct cfg_host *
cfg_host_load_buffer(const char *label, const char *data, size_t len,
    struct cfg_diags *diags)
{
	struct cfg_ctx ctx = { .file = label, .diags = diags };
	size_t first = diags->len;
	const struct toml_value *root;
	struct cfg_host *host;
	struct toml_doc *doc;
	struct toml_pos pos;
	const char *s;
	int rc;

	doc = cfg_parse(&ctx, data, len);
	if (doc == NULL)
		return NULL;
	root = toml_root(doc);
	host = calloc(1, sizeof(*host));
	if (host == NULL) {
		cfg_oom(&ctx, cfg_doc_pos());
		toml_free(doc);
		return NULL;
	}
	host->path = cfg_strdup(&ctx, label, cfg_doc_pos());
	host->jails_dir = jails_dir_of(label);
	if (host->jails_dir == NULL)
		cfg_oom(&ctx, cfg_doc_pos());

	cfg_check_keys(&ctx, root, "the host configuration", host_keys);
	get_paths(&ctx, root, host);
	get_log(&ctx, root, host);
	rc = cfg_get_str(&ctx, root, "hostname", &s, &pos);
	if (rc == 1 && !hostname_ok(s))
		cfg_err(&ctx, pos, "invalid hostname \"%s\": use labels of "
		    "letters, digits and '-' joined by '.', at most %d bytes",
		    CFG_PREVIEW(s),
		    HOSTNAME_MAX);
	else if (rc == 1)
		host->hostname = cfg_strdup(&ctx, s, pos);
	cfg_get_abs_path(&ctx, root, "init_path", &host->init_path, NULL);
	get_entries(&ctx, root, host);

	toml_free(doc);
	cfg_diags_sort(diags, first);
	if (ctx.nerr > 0) {
		cfg_host_free(host);
		return NULL;
	}
	return host;
}

struct cfg_host *
cfg_host_load(const char *path, struct cfg_diags *diags)
{
	struct cfg_host *host;
	struct nem_err err;
	char *data;
	size_t len;

	if (cfg_read_file(path, &data, &len, &err) == -1) {
		cfg_diag_add(diags, path, 0, 0, "%s", err.msg);
		return NULL;
	}
	host = cfg_host_load_buffer(path, data, len, diags);
	free(data);
	return host;
}

void
cfg_host_free(struct cfg_host *host)
{
	if (host == NULL)
		return;
	free(host->path);
	free(host->jails_dir);
	free(host->state_dir);
	free(host->run_dir);
	free(host->control_socket);
	free(host->hostname);
	free(host->init_path);
	for (size_t i = 0; i < host->nhosts; i++) {
		free(host->hosts[i].name);
		cfg_command_free(&host->hosts[i].cmd);
	}
	free(host->hosts);
	free(host);
}

const char *
cfg_restart_name(enum cfg_restart restart)
{
	switch (restart) {
	case CFG_RESTART_NEVER:
		return "never";
	case CFG_RESTART_ON_FAILURE:
		return "on-failure";
	case CFG_RESTART_ALWAYS:
		return "always";
	}
	return "unknown";
}
