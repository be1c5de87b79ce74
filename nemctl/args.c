/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Command-line parsing of nemctl: options and positional arguments of one
 * command, durations, digests and names. Everything here is checked before
 * nemctl connects, so a typo fails at once with exit code 100 and the same
 * message the daemon would send for the same value.
 */
#include "nemctl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* Maximum duration: one day in milliseconds. */
#define ARGS_DURATION_MAX_MS (24u * 3600u * 1000u)

static int
find_opt(const struct args_opt *opts, size_t nopts, const char *name,
    size_t len, char short_name)
{
	for (size_t i = 0; i < nopts; i++) {
		if (short_name != '\0') {
			if (opts[i].short_name == short_name)
				return (int)i;
			continue;
		}
		if (strlen(opts[i].name) == len &&
		    strncmp(opts[i].name, name, len) == 0)
			return (int)i;
	}
	return -1;
}

/* Parses the option argv[*i] and advances *i past a separate value. */
static int
parse_opt(int argc, char **argv, int *i, const struct args_opt *opts,
    size_t nopts, struct args *out, struct nem_err *err)
{
	const char *arg = argv[*i];
	const char *name, *eq, *value = NULL;
	size_t len;
	int k;

	if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
		out->help = true;
		return 0;
	}
	if (strcmp(arg, "--json") == 0) {
		out->json = true;
		return 0;
	}

	if (arg[1] == '-') {
		name = arg + 2;
		eq = strchr(name, '=');
		len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		if (eq != NULL)
			value = eq + 1;
		k = find_opt(opts, nopts, name, len, '\0');
		if (k == -1)
			return nem_err_set(err, EINVAL, "unknown option "
			    "\"--%.*s\"", (int)len, name);
	} else {
		if (arg[2] != '\0')
			return nem_err_set(err, EINVAL, "unknown option "
			    "\"%s\"; write each short option separately", arg);
		k = find_opt(opts, nopts, NULL, 0, arg[1]);
		if (k == -1)
			return nem_err_set(err, EINVAL, "unknown option "
			    "\"%s\"", arg);
	}

	if (!opts[k].has_value) {
		if (value != NULL)
			return nem_err_set(err, EINVAL, "option \"--%s\" takes "
			    "no value", opts[k].name);
		out->set[k] = true;
		return 0;
	}
	if (value == NULL) {
		if (*i + 1 >= argc)
			return nem_err_set(err, EINVAL, "option \"--%s\" needs "
			    "a value", opts[k].name);
		value = argv[++*i];
	}
	if (out->set[k])
		return nem_err_set(err, EINVAL, "option \"--%s\" is given "
		    "twice", opts[k].name);
	out->set[k] = true;
	out->value[k] = value;
	return 0;
}

int
args_parse(int argc, char **argv, const struct args_opt *opts,
    size_t nopts, int min_pos, int max_pos, struct args *out,
    struct nem_err *err)
{
	bool options_done = false;

	memset(out, 0, sizeof(*out));
	if (nopts > ARGS_MAX_OPTS || max_pos > ARGS_MAX_POS ||
	    min_pos > max_pos)
		return nem_err_set(err, EINVAL, "command table: %zu options "
		    "and %d to %d arguments", nopts, min_pos, max_pos);

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (!options_done && strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		if (!options_done && arg[0] == '-' && arg[1] != '\0') {
			if (parse_opt(argc, argv, &i, opts, nopts, out,
			    err) == -1)
				return -1;
			if (out->help)
				return 0;
			continue;
		}
		if (out->npos == max_pos)
			return nem_err_set(err, EINVAL, "unexpected argument "
			    "\"%s\"", arg);
		out->pos[out->npos++] = arg;
	}
	if (out->npos < min_pos)
		return nem_err_set(err, EINVAL, "missing argument; %d "
		    "expected, %d given", min_pos, out->npos);
	return 0;
}

int
args_duration(const char *s, uint32_t *ms, struct nem_err *err)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 }, { "", 1000 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 },
	};
	uint64_t n, total;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return nem_err_set(err, EINVAL, "duration \"%s\" is invalid; "
		    "write a whole number and a unit, such as 30s or 2m", s);
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return nem_err_set(err, ERANGE, "duration \"%s\" is over the "
		    "maximum of 24h", s);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (__builtin_mul_overflow(n, units[i].ms, &total) ||
		    total > ARGS_DURATION_MAX_MS)
			return nem_err_set(err, ERANGE, "duration \"%s\" is "
			    "over the maximum of 24h", s);
		if (total == 0)
			return nem_err_set(err, ERANGE, "duration \"%s\" is "
			    "zero; give at least 1ms", s);
		*ms = (uint32_t)total;
		return 0;
	}
	return nem_err_set(err, EINVAL, "duration \"%s\" has an unknown "
	    "unit; use ms, s, m or h", s);
}

int
args_sha256(const char *s, struct nem_err *err)
{
	size_t len = strlen(s);

	if (len != 64 || strspn(s, "0123456789abcdefABCDEF") != len)
		return nem_err_set(err, EINVAL, "sha256 \"%s\" is invalid; "
		    "it must be 64 hexadecimal digits", s);
	return 0;
}

int
args_name(const char *kind, const char *name, struct nem_err *err)
{
	return name_check(kind, name, err);
}

int
args_jail_name(const char *path, char *buf, size_t size,
    struct nem_err *err)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base != NULL ? base + 1 : path;
	len = strlen(base);
	if (len <= 5 || strcmp(base + len - 5, ".toml") != 0)
		return nem_err_set(err, EINVAL, "jail description \"%s\" must "
		    "be named NAME.toml; the jail's name comes from the file "
		    "name", path);
	len -= 5;
	if (len >= size)
		return nem_err_set(err, ENAMETOOLONG, "jail description "
		    "\"%s\": the name is over %zu bytes", path, size - 1);
	memcpy(buf, base, len);
	buf[len] = '\0';
	return args_name("jail", buf, err);
}
