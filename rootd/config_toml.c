/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Typed access to TOML values for the configuration loaders: each getter
 * checks the type, the range and the content of one key, and reports what
 * is wrong at the position where the value was written. Also reads files
 * and turns TOML syntax errors into configuration errors.
 */
#include "config_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names.h"
#include "path.h"
#include "units.h"

/* Maximum key length for which a "did you mean" suggestion is computed. */
#define SUGGEST_KEY_MAX 64

struct toml_pos
cfg_doc_pos(void)
{
	return (struct toml_pos){ 1, 1 };
}

const char *
cfg_type_phrase(const struct toml_value *v)
{
	switch (toml_type(v)) {
	case TOML_STRING:
		return "a string";
	case TOML_INTEGER:
		return "an integer";
	case TOML_FLOAT:
		return "a float";
	case TOML_BOOL:
		return "a boolean";
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		return "a date or time";
	case TOML_ARRAY:
		return "an array";
	case TOML_TABLE:
		return "a table";
	}
	return "a value";
}

char *
cfg_strdup(struct cfg_ctx *ctx, const char *s, struct toml_pos pos)
{
	char *copy = strdup(s);

	if (copy == NULL)
		cfg_oom(ctx, pos);
	return copy;
}

/* Levenshtein distance between a (alen bytes) and b. */
static size_t
edit_distance(const char *a, size_t alen, const char *b)
{
	size_t row[SUGGEST_KEY_MAX + 1];
	size_t blen = strlen(b);

	if (blen > SUGGEST_KEY_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= blen; j++)
		row[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[blen];
}

const char *
cfg_suggest(const char *key, size_t len, const char *const *known)
{
	size_t limit = len < 5 ? 1 : 2;
	const char *best = NULL;
	size_t best_dist = SIZE_MAX;

	if (len > SUGGEST_KEY_MAX)
		return NULL;
	for (size_t i = 0; known[i] != NULL; i++) {
		size_t d = edit_distance(key, len, known[i]);

		if (d <= limit && d < best_dist) {
			best = known[i];
			best_dist = d;
		}
	}
	return best;
}

void
cfg_unknown_key(struct cfg_ctx *ctx, const struct toml_value *table,
    size_t i, const char *where, const char *const *known, const char *extra)
{
	char p[UNITS_PREVIEW_SIZE];
	const char *key, *hint;
	size_t len;

	key = toml_table_key(table, i, &len);
	hint = cfg_suggest(key, len, known);
	units_preview(key, len, p);
	cfg_err(ctx, toml_table_key_pos(table, i),
	    "unknown key '%s' in %s%s%s%s%s", p, where,
	    hint ? " (did you mean '" : "", hint ? hint : "",
	    hint ? "'?)" : "", extra ? extra : "");
}

static bool
is_known(const char *key, size_t len, const char *const *known)
{
	for (size_t i = 0; known[i] != NULL; i++)
		if (strlen(known[i]) == len && memcmp(known[i], key, len) == 0)
			return true;
	return false;
}

void
cfg_check_keys(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *where, const char *const *known)
{
	size_t n = toml_table_len(table);

	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *key = toml_table_key(table, i, &len);

		if (!is_known(key, len, known))
			cfg_unknown_key(ctx, table, i, where, known, NULL);
	}
}

/* Looks key up; returns NULL when table is NULL or has no such key. */
static const struct toml_value *
lookup(const struct toml_value *table, const char *key)
{
	return table ? toml_table_get(table, key) : NULL;
}

static int
wrong_type(struct cfg_ctx *ctx, const struct toml_value *v, const char *key,
    const char *expected)
{
	cfg_err(ctx, toml_value_pos(v), "'%s' must be %s, not %s", key,
	    expected, cfg_type_phrase(v));
	return -1;
}

int
cfg_get_bool(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, bool *out)
{
	const struct toml_value *v = lookup(table, key);

	if (v == NULL)
		return 0;
	if (toml_get_bool(v, out) == -1)
		return wrong_type(ctx, v, key, "a boolean (true or false)");
	return 1;
}

int
cfg_get_int(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, int64_t *out, struct toml_pos *pos)
{
	const struct toml_value *v = lookup(table, key);

	if (v == NULL)
		return 0;
	if (pos != NULL)
		*pos = toml_value_pos(v);
	if (toml_get_int(v, out) == -1)
		return wrong_type(ctx, v, key, "an integer");
	return 1;
}

int
cfg_str_value(struct cfg_ctx *ctx, const struct toml_value *v,
    const char *what, const char **out)
{
	const char *s;
	size_t len;

	if (toml_get_string(v, &s, &len) == -1)
		return wrong_type(ctx, v, what, "a string");
	if (len > CFG_STRING_MAX) {
		cfg_err(ctx, toml_value_pos(v), "'%s' is %zu bytes long, the "
		    "maximum is %d", what, len, CFG_STRING_MAX);
		return -1;
	}
	if (strlen(s) != len) {
		cfg_err(ctx, toml_value_pos(v), "'%s' contains a NUL byte "
		    "(\\u0000), which no path, name or argument may contain",
		    what);
		return -1;
	}
	*out = s;
	return 1;
}

int
cfg_get_str(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, const char **out, struct toml_pos *pos)
{
	const struct toml_value *v = lookup(table, key);

	if (v == NULL)
		return 0;
	if (pos != NULL)
		*pos = toml_value_pos(v);
	return cfg_str_value(ctx, v, key, out);
}

int
cfg_get_name(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, const char *kind, char **out, struct toml_pos *pos)
{
	const struct toml_value *v = lookup(table, key);
	struct nem_err err;
	const char *s;
	size_t len;

	if (v == NULL)
		return 0;
	if (pos != NULL)
		*pos = toml_value_pos(v);
	if (toml_get_string(v, &s, &len) == -1)
		return wrong_type(ctx, v, key, "a string");
	if (name_check_len(kind, s, len, &err) == -1) {
		cfg_err(ctx, toml_value_pos(v), "%s", err.msg);
		return -1;
	}
	*out = cfg_strdup(ctx, s, toml_value_pos(v));
	return *out ? 1 : -1;
}

int
cfg_get_duration(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, bool positive, uint64_t *out_ms)
{
	const struct toml_value *v = lookup(table, key);
	struct nem_err err;
	const char *s;
	uint64_t ms;
	size_t len;

	if (v == NULL)
		return 0;
	if (toml_get_string(v, &s, &len) == -1)
		return wrong_type(ctx, v, key, "a string with a unit such as "
		    "\"10s\"");
	if (units_parse_duration(s, len, &ms, &err) == -1) {
		cfg_err(ctx, toml_value_pos(v), "'%s': %s", key, err.msg);
		return -1;
	}
	if (positive && ms == 0) {
		cfg_err(ctx, toml_value_pos(v), "'%s' must be larger than "
		    "zero", key);
		return -1;
	}
	*out_ms = ms;
	return 1;
}

int
cfg_get_size(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, uint64_t *out)
{
	const struct toml_value *v = lookup(table, key);
	struct nem_err err;
	const char *s;
	int64_t n;
	size_t len;
	int rc;

	if (v == NULL)
		return 0;
	if (toml_get_string(v, &s, &len) == 0)
		rc = units_parse_size(s, len, out, &err);
	else if (toml_get_int(v, &n) == 0)
		rc = units_check_size_int(n, out, &err);
	else if (toml_type(v) == TOML_FLOAT)
		rc = nem_err_set(&err, EINVAL, "invalid size: fractional "
		    "values are not allowed; use a whole number of bytes or "
		    "a string such as \"1536M\"");
	else
		return wrong_type(ctx, v, key, "a string such as \"64M\" or "
		    "an integer number of bytes");
	if (rc == -1) {
		cfg_err(ctx, toml_value_pos(v), "'%s': %s", key, err.msg);
		return -1;
	}
	return 1;
}

int
cfg_get_abs_path(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, char **out, struct toml_pos *pos)
{
	const struct toml_value *v = lookup(table, key);
	struct nem_err err;
	const char *s;
	size_t len;

	if (v == NULL)
		return 0;
	if (pos != NULL)
		*pos = toml_value_pos(v);
	if (toml_get_string(v, &s, &len) == -1)
		return wrong_type(ctx, v, key, "a string");
	if (path_check_abs(key, s, len, &err) == -1) {
		cfg_err(ctx, toml_value_pos(v), "%s", err.msg);
		return -1;
	}
	*out = cfg_strdup(ctx, s, toml_value_pos(v));
	return *out ? 1 : -1;
}

int
cfg_get_array(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, const struct toml_value **out)
{
	const struct toml_value *v = lookup(table, key);

	if (v == NULL)
		return 0;
	if (toml_type(v) != TOML_ARRAY)
		return wrong_type(ctx, v, key, "an array");
	if (toml_array_len(v) > CFG_ARRAY_MAX) {
		cfg_err(ctx, toml_value_pos(v), "'%s' has %zu elements, the "
		    "maximum is %d", key, toml_array_len(v), CFG_ARRAY_MAX);
		return -1;
	}
	*out = v;
	return 1;
}

int
cfg_get_table(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, const struct toml_value **out)
{
	const struct toml_value *v = lookup(table, key);

	if (v == NULL)
		return 0;
	if (toml_type(v) != TOML_TABLE)
		return wrong_type(ctx, v, key, "a table");
	*out = v;
	return 1;
}

int
cfg_read_file(const char *path, char **data, size_t *len, struct nem_err *err)
{
	struct stat st;
	size_t off = 0;
	char *buf;
	int fd;

	/* O_NONBLOCK keeps a FIFO from blocking the open; it is rejected below
	 * as not a regular file. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return nem_err_sys(err, errno, "cannot open");
	if (fstat(fd, &st) == -1) {
		nem_err_sys(err, errno, "cannot stat");
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		nem_err_set(err, EINVAL, "not a regular file");
		goto fail;
	}
	if (st.st_size > CFG_FILE_MAX) {
		nem_err_set(err, EFBIG, "file is %lld bytes, the maximum is %d",
		    (long long)st.st_size, CFG_FILE_MAX);
		goto fail;
	}
	/* One spare byte detects a file that grew while it was read. */
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		nem_err_sys(err, ENOMEM, "cannot read");
		goto fail;
	}
	for (;;) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size + 1 - off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			nem_err_sys(err, errno, "cannot read");
			free(buf);
			goto fail;
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > (size_t)st.st_size) {
			nem_err_set(err, EAGAIN, "file changed while it was "
			    "read; try again");
			free(buf);
			goto fail;
		}
	}
	close(fd);
	*data = buf;
	*len = off;
	return 0;

fail:
	close(fd);
	return -1;
}

struct toml_doc *
cfg_parse(struct cfg_ctx *ctx, const char *data, size_t len)
{
	struct toml_doc *doc;
	struct toml_err terr;

	memset(&terr, 0, sizeof(terr));
	doc = toml_parse(data, len, &terr);
	if (doc == NULL) {
		char prefix[32];
		const char *msg = terr.msg;
		int n;

		/* The parser's message starts with "line:col: ", which the
		 * diagnostic prints already. */
		n = snprintf(prefix, sizeof(prefix), "%u:%u: ", terr.pos.line,
		    terr.pos.col);
		if (n > 0 && strncmp(msg, prefix, (size_t)n) == 0)
			msg += n;
		if (terr.pos.line == 0)
			terr.pos = cfg_doc_pos();
		cfg_err(ctx, terr.pos, "%s", msg);
	}
	return doc;
}

/* Environment variable names: letters, digits and '_', no leading digit. */
static bool
env_name_ok(const char *s, size_t len)
{
	if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static int
get_env(struct cfg_ctx *ctx, const struct toml_value *table,
    struct cfg_command *cmd)
{
	const struct toml_value *env = NULL;
	size_t n;
	int rc;

	rc = cfg_get_table(ctx, table, "env", &env);
	if (rc <= 0)
		return rc;
	n = toml_table_len(env);
	if (n > CFG_ENV_MAX) {
		cfg_err(ctx, toml_value_pos(env), "'env' has %zu variables, the "
		    "maximum is %d", n, CFG_ENV_MAX);
		return -1;
	}
	cmd->env = calloc(n ? n : 1, sizeof(*cmd->env));
	if (cmd->env == NULL) {
		cfg_oom(ctx, toml_value_pos(env));
		return -1;
	}
	rc = 1;
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *v = toml_table_value(env, i);
		char p[UNITS_PREVIEW_SIZE];
		const char *key, *value;
		size_t klen;

		key = toml_table_key(env, i, &klen);
		if (!env_name_ok(key, klen)) {
			cfg_err(ctx, toml_table_key_pos(env, i), "invalid "
			    "environment variable name '%s': use letters, "
			    "digits and '_', not starting with a digit",
			    units_preview(key, klen, p));
			rc = -1;
			continue;
		}
		if (cfg_str_value(ctx, v, key, &value) == -1) {
			rc = -1;
			continue;
		}
		if (rc == -1)
			continue;
		cmd->env[cmd->nenv].name = cfg_strdup(ctx, key,
		    toml_value_pos(v));
		cmd->env[cmd->nenv].value = cfg_strdup(ctx, value,
		    toml_value_pos(v));
		cmd->nenv++;
		if (cmd->env[cmd->nenv - 1].name == NULL ||
		    cmd->env[cmd->nenv - 1].value == NULL)
			rc = -1;
	}
	return rc;
}

int
cfg_get_command(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *where, struct cfg_command *cmd)
{
	const struct toml_value *exec = NULL;
	struct nem_err err;
	int rc, result = 0;
	size_t n;

	if (get_env(ctx, table, cmd) == -1)
		result = -1;

	rc = cfg_get_array(ctx, table, "exec", &exec);
	if (rc == 0) {
		cfg_err(ctx, toml_value_pos(table), "missing key 'exec' in %s: "
		    "give the program's absolute path and its arguments, such "
		    "as exec = [\"/bin/web\", \"--port\", \"8080\"]", where);
		return -1;
	}
	if (rc == -1)
		return -1;
	n = toml_array_len(exec);
	if (n == 0) {
		cfg_err(ctx, toml_value_pos(exec), "'exec' must not be empty: "
		    "give the program's absolute path first");
		return -1;
	}
	cmd->exec = calloc(n + 1, sizeof(*cmd->exec));
	if (cmd->exec == NULL) {
		cfg_oom(ctx, toml_value_pos(exec));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *v = toml_array_get(exec, i);
		char what[32];
		const char *s;

		snprintf(what, sizeof(what), "exec[%zu]", i);
		if (cfg_str_value(ctx, v, what, &s) == -1) {
			result = -1;
			continue;
		}
		if (i == 0 && path_check_abs("program path exec[0]", s,
		    strlen(s), &err) == -1) {
			cfg_err(ctx, toml_value_pos(v), "%s", err.msg);
			result = -1;
			continue;
		}
		if (result == -1)
			continue;
		cmd->exec[cmd->nexec] = cfg_strdup(ctx, s, toml_value_pos(v));
		if (cmd->exec[cmd->nexec++] == NULL)
			result = -1;
	}
	return result;
}

static int
get_restart(struct cfg_ctx *ctx, const struct toml_value *table,
    enum cfg_restart *out)
{
	static const char *const names[] = { "never", "on-failure", "always",
		NULL };
	struct toml_pos pos;
	const char *s;
	int rc;

	rc = cfg_get_str(ctx, table, "restart", &s, &pos);
	if (rc <= 0)
		return rc;
	for (int i = 0; names[i] != NULL; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum cfg_restart)i;
			return 1;
		}
	}
	cfg_err(ctx, pos, "invalid restart policy \"%s\": use \"never\", "
	    "\"on-failure\" or \"always\"", CFG_PREVIEW(s));
	return -1;
}

/*
 * Rejects a restart delay written below CFG_RESTART_DELAY_MIN_MS. present is
 * the result of cfg_get_duration: 1 when the key was written.
 */
static int
check_delay_min(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, int present, uint64_t ms)
{
	char value[32], min[32];

	if (present != 1 || ms >= CFG_RESTART_DELAY_MIN_MS)
		return 0;
	cfg_err(ctx, toml_value_pos(toml_table_get(table, key)),
	    "%s (%s) is below the minimum of %s; use at least %s so that a "
	    "failing process cannot restart in a tight loop", key,
	    units_format_duration(ms, value, sizeof(value)),
	    units_format_duration(CFG_RESTART_DELAY_MIN_MS, min, sizeof(min)),
	    min);
	return -1;
}

int
cfg_get_policy(struct cfg_ctx *ctx, const struct toml_value *table,
    struct cfg_policy *policy)
{
	int result = 0, rc, delay_rc, max_rc, delay_min_rc, max_min_rc;

	*policy = (struct cfg_policy){
		.restart = CFG_RESTART_ON_FAILURE,
		.stop_timeout_ms = CFG_DEFAULT_STOP_TIMEOUT_MS,
		.restart_delay_ms = CFG_DEFAULT_RESTART_DELAY_MS,
		.restart_delay_max_ms = CFG_DEFAULT_RESTART_DELAY_MAX_MS,
		.restart_reset_ms = CFG_DEFAULT_RESTART_RESET_MS,
	};
	if (get_restart(ctx, table, &policy->restart) == -1)
		result = -1;
	rc = cfg_get_duration(ctx, table, "stop_timeout", true,
	    &policy->stop_timeout_ms);
	if (rc == -1) {
		result = -1;
	} else if (rc == 1 && policy->stop_timeout_ms > CFG_STOP_TIMEOUT_MAX_MS) {
		char value[32];

		cfg_err(ctx, toml_value_pos(toml_table_get(table,
		    "stop_timeout")), "stop_timeout (%s) is above the maximum "
		    "of 1h; a longer wait would keep a stop or the daemon's "
		    "shutdown hanging", units_format_duration(
		    policy->stop_timeout_ms, value, sizeof(value)));
		result = -1;
	}
	delay_rc = cfg_get_duration(ctx, table, "restart_delay", true,
	    &policy->restart_delay_ms);
	max_rc = cfg_get_duration(ctx, table, "restart_delay_max", true,
	    &policy->restart_delay_max_ms);
	if (cfg_get_duration(ctx, table, "restart_reset", true,
	    &policy->restart_reset_ms) == -1)
		result = -1;
	if (delay_rc == -1 || max_rc == -1)
		return -1;

	delay_min_rc = check_delay_min(ctx, table, "restart_delay", delay_rc,
	    policy->restart_delay_ms);
	max_min_rc = check_delay_min(ctx, table, "restart_delay_max", max_rc,
	    policy->restart_delay_max_ms);
	if (delay_min_rc == -1 || max_min_rc == -1)
		return -1;

	if (policy->restart_delay_ms > policy->restart_delay_max_ms) {
		const char *key = delay_rc ? "restart_delay" :
		    "restart_delay_max";
		char a[32], b[32];

		cfg_err(ctx, toml_value_pos(toml_table_get(table, key)),
		    "restart_delay (%s) is larger than restart_delay_max (%s); "
		    "raise restart_delay_max or lower restart_delay",
		    units_format_duration(policy->restart_delay_ms, a,
		    sizeof(a)), units_format_duration(
		    policy->restart_delay_max_ms, b, sizeof(b)));
		result = -1;
	}
	return result;
}

void
cfg_command_free(struct cfg_command *cmd)
{
	for (size_t i = 0; i < cmd->nexec; i++)
		free(cmd->exec[i]);
	free(cmd->exec);
	for (size_t i = 0; i < cmd->nenv; i++) {
		free(cmd->env[i].name);
		free(cmd->env[i].value);
	}
	free(cmd->env);
	memset(cmd, 0, sizeof(*cmd));
}
