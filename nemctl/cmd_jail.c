/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The jail commands of nemctl: ls, status, start, stop, restart, apply,
 * rm and logs, each one request of the jail service. "jail apply" sends a
 * description file's text; nemctl validates it first with the
 * daemon's own checks and lists every error, and the daemon checks it
 * again before it applies it.
 */
#include "nemctl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nem/frame.h>
#include <nem/proto.h>

#include "config.h"
#include "names.h"

/* How long "jail stop" waits for the jail to be down without --timeout. */
#define JAIL_STOP_WAIT_MS 120000

/*
 * How much longer than its --timeout "jail stop" waits, so the daemon's
 * timed-out reply arrives before nemctl gives up on its own.
 */
#define JAIL_STOP_SLACK_MS 5000

/* Largest description file "jail apply" sends: the body also carries the
 * name and BSON framing, and must stay under the protocol's body maximum. */
#define JAIL_APPLY_MAX (NEM_BODY_MAX - 4096)

/* Parses a command whose one argument is a jail name. */
static const char *
jail_name_arg(struct nemctl *c, const struct subcmd *sc, int argc,
    char **argv, const struct args_opt *opts, size_t nopts, struct args *a,
    int *exit)
{
	struct nem_err err;

	if (subcmd_args(c, sc, argc, argv, opts, nopts, 1, 1, a, exit) == -1)
		return NULL;
	if (args_name("jail", a->pos[0], &err) == -1) {
		*exit = print_err(&err, NEMCTL_EXIT_USAGE);
		return NULL;
	}
	return a->pos[0];
}

/*
 * Sends {name} to command, with "timeout_ms" when stop_ms is not 0, and
 * prints done (or the JSON reply). nemctl waits up to timeout_ms.
 */
static int
jail_action(struct nemctl *c, uint16_t command, const char *verb,
    const char *name, uint32_t stop_ms, uint32_t timeout_ms,
    const char *done)
{
	bson_t body = BSON_INITIALIZER, out;
	char what[128];
	int rc;

	snprintf(what, sizeof(what), "jail %s %s", verb, name);
	BSON_APPEND_UTF8(&body, "name", name);
	if (stop_ms != 0)
		BSON_APPEND_INT64(&body, "timeout_ms", stop_ms);
	rc = call(c, NEM_SVC_JAIL, command, &body, -1, timeout_ms, what, &out);
	bson_destroy(&body);
	if (rc != NEMCTL_EXIT_OK)
		return rc;
	if (c->json)
		table_print_json(&out, c->out);
	else
		fprintf(c->out, "jail %s %s\n", name, done);
	bson_destroy(&out);
	return rc;
}

/* Maximum reason length in a jail ls row; jail status shows it whole. */
#define LS_REASON_MAX 72

/* Adds the jail document j as a row of t. */
static int
add_jail_row(struct table *t, const bson_t *j, struct nem_err *err)
{
	char pid[24], starts[24], failures[24], since[32];
	char reason[LS_REASON_MAX + 4];
	const char *full = doc_str(j, "reason");

	snprintf(pid, sizeof(pid), "%" PRId64, doc_int(j, "pid"));
	snprintf(starts, sizeof(starts), "%" PRId64, doc_int(j, "starts"));
	snprintf(failures, sizeof(failures), "%" PRId64,
	    doc_int(j, "failures"));
	table_time(doc_int(j, "since"), since, sizeof(since));
	if (strlen(full) > LS_REASON_MAX)
		snprintf(reason, sizeof(reason), "%.*s...", LS_REASON_MAX - 3,
		    full);
	else
		snprintf(reason, sizeof(reason), "%s", full[0] ? full : "-");

	const char *row[] = { doc_str(j, "name"), doc_str(j, "state"),
		doc_int(j, "pid") > 0 ? pid : "-", starts, failures, since,
		reason };
	return table_add(t, row, err);
}

static int
jail_ls(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	static const char *const heads[] = { "NAME", "STATE", "PID", "STARTS",
		"FAILURES", "SINCE", "REASON" };
	struct args a;
	int rc;

	if (subcmd_args(c, sc, argc, argv, NULL, 0, 0, 0, &a, &rc) == -1)
		return rc;
	return list_print(c, NEM_SVC_JAIL, CONTROL_JAIL_LIST, "jail ls",
	    "jails", heads, 7, add_jail_row);
}

/*
 * Prints a jail document as "key  value" lines, with its exit_code and
 * signal fields shown as one last_exit line such as "killed by SIGKILL",
 * its since field as a UTC time and a pid of 0 as "-".
 */
static void
print_jail_fields(const bson_t *jail, FILE *out)
{
	bson_t shown;
	char last_exit[48], since[32];

	table_exit(jail, last_exit, sizeof(last_exit));
	table_time(doc_int(jail, "since"), since, sizeof(since));
	bson_init(&shown);
	bson_copy_to_excluding_noinit(jail, &shown, "exit_code", "signal",
	    "since", "pid", NULL);
	if (doc_int(jail, "pid") > 0)
		BSON_APPEND_INT64(&shown, "pid", doc_int(jail, "pid"));
	else
		BSON_APPEND_UTF8(&shown, "pid", "-");
	BSON_APPEND_UTF8(&shown, "since", since);
	BSON_APPEND_UTF8(&shown, "last_exit", last_exit);
	table_print_fields(&shown, out);
	bson_destroy(&shown);
}

static int
jail_status(struct nemctl *c, const struct subcmd *sc, int argc,
    char **argv)
{
	bson_t body = BSON_INITIALIZER, out, j;
	bson_iter_t it;
	const uint8_t *data;
	uint32_t len;
	struct args a;
	const char *name;
	char what[128];
	int rc;

	if ((name = jail_name_arg(c, sc, argc, argv, NULL, 0, &a, &rc)) == NULL)
		return rc;
	snprintf(what, sizeof(what), "jail status %s", name);
	BSON_APPEND_UTF8(&body, "name", name);
	rc = call(c, NEM_SVC_JAIL, CONTROL_JAIL_STATUS, &body, -1,
	    NEMCTL_TIMEOUT_MS, what, &out);
	bson_destroy(&body);
	if (rc != NEMCTL_EXIT_OK)
		return rc;
	if (c->json)
		table_print_json(&out, c->out);
	else if (bson_iter_init_find(&it, &out, "jail") &&
	    BSON_ITER_HOLDS_DOCUMENT(&it)) {
		bson_iter_document(&it, &len, &data);
		if (bson_init_static(&j, data, len))
			print_jail_fields(&j, c->out);
	}
	bson_destroy(&out);
	return rc;
}

static int
jail_start(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	struct args a;
	const char *name;
	int rc;

	if ((name = jail_name_arg(c, sc, argc, argv, NULL, 0, &a, &rc)) == NULL)
		return rc;
	return jail_action(c, CONTROL_JAIL_START, "start", name, 0,
	    NEMCTL_TIMEOUT_MS, "starting");
}

static int
jail_stop(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	static const struct args_opt opts[] = { { "timeout", 't', true } };
	struct nem_err err;
	struct args a;
	const char *name;
	uint32_t stop_ms = 0, wait_ms = JAIL_STOP_WAIT_MS;
	int rc;

	if ((name = jail_name_arg(c, sc, argc, argv, opts, 1, &a, &rc)) == NULL)
		return rc;
	if (a.set[0]) {
		if (args_duration(a.value[0], &stop_ms, &err) == -1) {
			nem_err_prefix(&err, "option \"--timeout\"");
			return print_err(&err, NEMCTL_EXIT_USAGE);
		}
		/* At most one day plus the slack: no overflow. */
		wait_ms = stop_ms + JAIL_STOP_SLACK_MS;
	}
	return jail_action(c, CONTROL_JAIL_STOP, "stop", name, stop_ms,
	    wait_ms, "stopped");
}

static int
jail_restart(struct nemctl *c, const struct subcmd *sc, int argc,
    char **argv)
{
	struct args a;
	const char *name;
	int rc;

	if ((name = jail_name_arg(c, sc, argc, argv, NULL, 0, &a, &rc)) == NULL)
		return rc;
	return jail_action(c, CONTROL_JAIL_RESTART, "restart", name, 0,
	    NEMCTL_TIMEOUT_MS, "restarting");
}

static int
jail_rm(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	struct args a;
	const char *name;
	int rc;

	if ((name = jail_name_arg(c, sc, argc, argv, NULL, 0, &a, &rc)) == NULL)
		return rc;
	return jail_action(c, CONTROL_JAIL_REMOVE, "rm", name, 0,
	    NEMCTL_TIMEOUT_MS, "removed");
}

/*
 * Reads the description file path into a NUL-terminated malloc'd buffer.
 * Returns it, or NULL after printing why (*exit set).
 */
static char *
read_description(const char *path, int *exit)
{
	struct stat st;
	char *text = NULL;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		int e = errno;

		fprintf(stderr, "nemctl: cannot read jail description %s: %s\n",
		    path, strerror(e));
		*exit = e == ENOENT || e == EACCES || e == ENOTDIR ?
		    NEMCTL_EXIT_USAGE : NEMCTL_EXIT_SYSTEM;
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > JAIL_APPLY_MAX) {
		fprintf(stderr, "nemctl: jail description %s must be a regular "
		    "file of at most %d bytes\n", path, JAIL_APPLY_MAX);
		*exit = NEMCTL_EXIT_USAGE;
		goto fail;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		fprintf(stderr, "nemctl: out of memory reading %s\n", path);
		*exit = NEMCTL_EXIT_SYSTEM;
		goto fail;
	}
	/* The size is a bound only: a file that grows is cut off there, and
	 * one that shrinks ends early. */
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);

		if (n == 0)
			break;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "nemctl: cannot read jail description "
			    "%s: %s\n", path, strerror(errno));
			*exit = NEMCTL_EXIT_SYSTEM;
			goto fail;
		}
		got += (size_t)n;
	}
	text[got] = '\0';
	if (memchr(text, '\0', got) != NULL || !bson_utf8_validate(text, got,
	    false)) {
		fprintf(stderr, "nemctl: jail description %s is not UTF-8 text; "
		    "TOML files must be\n", path);
		*exit = NEMCTL_EXIT_USAGE;
		goto fail;
	}
	close(fd);
	return text;

fail:
	if (fd != -1)
		close(fd);
	free(text);
	return NULL;
}

/*
 * Checks the description locally with the daemon's own validation, so
 * every error is listed (a reply's reason holds only the first 255 bytes).
 * Relative file mount sources resolve against "/" here; the daemon
 * resolves them against its configuration folder when it applies the file.
 * Returns 0, or NEMCTL_EXIT_USAGE after printing the errors.
 */
static int
check_description(const char *name, const char *path, const char *text)
{
	struct cfg_diags diags = { 0 };
	struct cfg_jail *jail;

	jail = cfg_jail_load_buffer(name, path, "/", text, strlen(text),
	    &diags);
	if (jail != NULL) {
		cfg_jail_free(jail);
		cfg_diags_clear(&diags);
		return 0;
	}
	fprintf(stderr, "nemctl: jail apply %s: the description is invalid; "
	    "nothing was sent:\n", name);
	cfg_diags_print(&diags, stderr);
	cfg_diags_clear(&diags);
	return NEMCTL_EXIT_USAGE;
}

static int
jail_apply(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	bson_t body = BSON_INITIALIZER, out;
	struct nem_err err;
	struct args a;
	char name[NAME_MAX_LEN + 1], what[128];
	char *text;
	int rc;

	if (subcmd_args(c, sc, argc, argv, NULL, 0, 1, 1, &a, &rc) == -1)
		return rc;
	if (args_jail_name(a.pos[0], name, sizeof(name), &err) == -1)
		return print_err(&err, NEMCTL_EXIT_USAGE);
	if ((text = read_description(a.pos[0], &rc)) == NULL)
		return rc;
	if ((rc = check_description(name, a.pos[0], text)) != 0) {
		free(text);
		return rc;
	}

	snprintf(what, sizeof(what), "jail apply %s", name);
	BSON_APPEND_UTF8(&body, "name", name);
	BSON_APPEND_UTF8(&body, "toml", text);
	free(text);
	rc = call(c, NEM_SVC_JAIL, CONTROL_JAIL_APPLY, &body, -1,
	    NEMCTL_TIMEOUT_MS, what, &out);
	bson_destroy(&body);
	if (rc != NEMCTL_EXIT_OK)
		return rc;
	if (c->json)
		table_print_json(&out, c->out);
	else
		fprintf(c->out, "jail %s applied\n", name);
	bson_destroy(&out);
	return rc;
}

/* Writes one chunk of log data: raw, or as a JSON line {"data": "..."}. */
static int
on_log_chunk(struct nem_msg *msg, void *arg)
{
	struct nemctl *c = arg;
	struct nem_err err;
	bson_iter_t it;
	const uint8_t *data;
	uint32_t len;
	bson_subtype_t subtype;
	bson_t doc;

	if (nem_msg_body_bson(msg, &doc, &err) == -1 ||
	    !bson_iter_init_find(&it, &doc, "data") ||
	    !BSON_ITER_HOLDS_BINARY(&it)) {
		fprintf(stderr, "nemctl: jail logs: skipping a reply without "
		    "log data\n");
		return 0;
	}
	bson_iter_binary(&it, &subtype, &len, &data);
	if (c->json) {
		fputs("{\"data\":", c->out);
		table_json_string((const char *)data, len, c->out);
		fputs("}\n", c->out);
	} else {
		fwrite(data, 1, len, c->out);
	}
	/* A closed pipe (nemctl jail logs -f web | head) cancels the
	 * request instead of following forever. */
	return fflush(c->out) == EOF ? -1 : 0;
}

static int
jail_logs(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	static const struct args_opt opts[] = { { "follow", 'f', false } };
	bson_t body = BSON_INITIALIZER;
	struct args a;
	const char *name;
	char what[128];
	int rc;

	if ((name = jail_name_arg(c, sc, argc, argv, opts, 1, &a, &rc)) == NULL)
		return rc;
	snprintf(what, sizeof(what), "jail logs %s", name);
	BSON_APPEND_UTF8(&body, "name", name);
	if (a.set[0])
		BSON_APPEND_BOOL(&body, "follow", true);
	rc = call_stream(c, NEM_SVC_JAIL, CONTROL_JAIL_LOGS, &body, -1,
	    a.set[0] ? NEM_TIMEOUT_NONE : NEMCTL_TIMEOUT_MS, what,
	    on_log_chunk, c, NULL);
	bson_destroy(&body);
	return rc;
}

int
cmd_jail(struct nemctl *c, int argc, char **argv)
{
	static const struct subcmd cmds[] = {
		{ "ls", jail_ls, "jail ls", "list the jails and their states" },
		{ "status", jail_status, "jail status NAME",
		    "show one jail's state, process and log file" },
		{ "start", jail_start, "jail start NAME", "start a jail" },
		{ "stop", jail_stop, "jail stop NAME [--timeout D]",
		    "stop a jail and wait until it is down; the daemon gives "
		    "up waiting after D (such as 30s or 2m) and reports a "
		    "timeout" },
		{ "restart", jail_restart, "jail restart NAME",
		    "stop a jail and start it again" },
		{ "apply", jail_apply, "jail apply FILE",
		    "add or replace the jail described by FILE (NAME.toml)" },
		{ "rm", jail_rm, "jail rm NAME",
		    "stop a jail and remove its description" },
		{ "logs", jail_logs, "jail logs NAME [-f]",
		    "print a jail's log; -f keeps following it" },
	};

	return subcmd_run(c, "jail", cmds, sizeof(cmds) / sizeof(cmds[0]),
	    argc, argv);
}
