/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The smaller command groups of nemctl: info (daemon.info), volume ls|rm,
 * host ls|restart (the hostproc service) and events (the event service,
 * printed line by line until the daemon closes the stream or nemctl is
 * interrupted).
 */
#include "nemctl.h"

#include <inttypes.h>
#include <string.h>

#include <nem/frame.h>
#include <nem/proto.h>

/* Parses the arguments of a command that takes none; see subcmd_args. */
static int
no_args(struct nemctl *c, const struct subcmd *sc, int argc, char **argv,
    int *exit)
{
	struct args a;

	return subcmd_args(c, sc, argc, argv, NULL, 0, 0, 0, &a, exit);
}

/* Parses a command whose one argument is a name of kind. */
static const char *
name_arg(struct nemctl *c, const struct subcmd *sc, const char *kind,
    int argc, char **argv, int *exit)
{
	struct args a;
	struct nem_err err;

	if (subcmd_args(c, sc, argc, argv, NULL, 0, 1, 1, &a, exit) == -1)
		return NULL;
	if (args_name(kind, a.pos[0], &err) == -1) {
		*exit = print_err(&err, NEMCTL_EXIT_USAGE);
		return NULL;
	}
	return a.pos[0];
}

/* Calls a command whose request is {name} and whose reply is empty. */
static int
call_named(struct nemctl *c, uint16_t svc, uint16_t cmd, const char *name,
    uint32_t timeout_ms, const char *what, const char *done)
{
	bson_t body = BSON_INITIALIZER, out;
	int rc;

	BSON_APPEND_UTF8(&body, "name", name);
	rc = call(c, svc, cmd, &body, -1, timeout_ms, what, &out);
	bson_destroy(&body);
	if (rc != NEMCTL_EXIT_OK)
		return rc;
	if (c->json)
		table_print_json(&out, c->out);
	else
		fprintf(c->out, "%s\n", done);
	bson_destroy(&out);
	return rc;
}

/* info */

int
cmd_info(struct nemctl *c, int argc, char **argv)
{
	static const struct subcmd sc = { "info", NULL, "info",
		"show the daemon's name, version, pid, uptime and counts" };
	bson_t out;
	int rc;

	if (no_args(c, &sc, argc, argv, &rc) == -1)
		return rc;
	rc = call(c, NEM_SVC_DAEMON, NEM_DAEMON_INFO, NULL, -1,
	    NEMCTL_TIMEOUT_MS, "info", &out);
	if (rc != NEMCTL_EXIT_OK)
		return rc;
	if (c->json)
		table_print_json(&out, c->out);
	else
		table_print_fields(&out, c->out);
	bson_destroy(&out);
	return rc;
}

/* volume */

/* Adds the volume document v as a row of t. */
static int
add_volume_row(struct table *t, const bson_t *v, struct nem_err *err)
{
	char size[32], alloc[32];

	table_size((uint64_t)doc_int(v, "size"), size, sizeof(size));
	table_size((uint64_t)doc_int(v, "allocated"), alloc, sizeof(alloc));
	const char *row[] = { doc_str(v, "name"), size, alloc,
		doc_bool(v, "in_use") ? "yes" : "no",
		doc_str(v, "used_by")[0] != '\0' ? doc_str(v, "used_by") : "-" };
	return table_add(t, row, err);
}

static int
volume_ls(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	static const char *const heads[] = { "NAME", "SIZE", "ALLOCATED",
		"IN-USE", "USED-BY" };
	int rc;

	if (no_args(c, sc, argc, argv, &rc) == -1)
		return rc;
	return list_print(c, NEM_SVC_VOLUME, CONTROL_VOLUME_LIST, "volume ls",
	    "volumes", heads, 5, add_volume_row);
}

static int
volume_rm(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	const char *name;
	char what[128], done[128];
	int rc;

	if ((name = name_arg(c, sc, "volume", argc, argv, &rc)) == NULL)
		return rc;
	snprintf(what, sizeof(what), "volume rm %s", name);
	snprintf(done, sizeof(done), "removed volume %s", name);
	c->busy_is_in_use = true;
	return call_named(c, NEM_SVC_VOLUME, CONTROL_VOLUME_REMOVE, name,
	    NEMCTL_TIMEOUT_MS, what, done);
}

int
cmd_volume(struct nemctl *c, int argc, char **argv)
{
	static const struct subcmd cmds[] = {
		{ "ls", volume_ls, "volume ls",
		    "list the persistent volumes and who uses them" },
		{ "rm", volume_rm, "volume rm NAME",
		    "remove a volume that no jail uses or describes" },
	};

	return subcmd_run(c, "volume", cmds, sizeof(cmds) / sizeof(cmds[0]),
	    argc, argv);
}

/* host */

/* Adds the unjailed host document h as a row of t. */
static int
add_host_row(struct table *t, const bson_t *h, struct nem_err *err)
{
	char pid[24], starts[24], status[48];

	snprintf(pid, sizeof(pid), "%" PRId64, doc_int(h, "pid"));
	snprintf(starts, sizeof(starts), "%" PRId64, doc_int(h, "starts"));
	table_exit(h, status, sizeof(status));
	const char *row[] = { doc_str(h, "name"), doc_str(h, "state"),
		doc_int(h, "pid") > 0 ? pid : "-", starts, status };
	return table_add(t, row, err);
}

static int
host_ls(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	static const char *const heads[] = { "NAME", "STATE", "PID", "STARTS",
		"LAST-EXIT" };
	int rc;

	if (no_args(c, sc, argc, argv, &rc) == -1)
		return rc;
	return list_print(c, NEM_SVC_HOSTPROC, CONTROL_HOSTPROC_LIST,
	    "host ls", "hosts", heads, 5, add_host_row);
}

static int
host_restart(struct nemctl *c, const struct subcmd *sc, int argc,
    char **argv)
{
	const char *name;
	char what[128], done[128];
	int rc;

	if ((name = name_arg(c, sc, "host", argc, argv, &rc)) == NULL)
		return rc;
	snprintf(what, sizeof(what), "host restart %s", name);
	snprintf(done, sizeof(done), "restarting host %s", name);
	return call_named(c, NEM_SVC_HOSTPROC, CONTROL_HOSTPROC_RESTART, name,
	    NEMCTL_TIMEOUT_MS, what, done);
}

int
cmd_host(struct nemctl *c, int argc, char **argv)
{
	static const struct subcmd cmds[] = {
		{ "ls", host_ls, "host ls",
		    "list the unjailed hosts that nem-rootd supervises" },
		{ "restart", host_restart, "host restart NAME",
		    "restart an unjailed host" },
	};

	return subcmd_run(c, "host", cmds, sizeof(cmds) / sizeof(cmds[0]),
	    argc, argv);
}

/* events */

static int
on_event(struct nem_msg *msg, void *arg)
{
	struct nemctl *c = arg;
	struct nem_err err;
	char when[32];
	bson_t doc;

	if (nem_msg_body_bson(msg, &doc, &err) == -1) {
		fprintf(stderr, "nemctl: events: skipping an event that is not "
		    "a valid document: %s\n", err.msg);
		return 0;
	}
	if (c->json) {
		table_print_json(&doc, c->out);
	} else {
		const char *reason = doc_str(&doc, "reason");

		table_time(doc_int(&doc, "time"), when, sizeof(when));
		fprintf(c->out, "%s  ", when);
		table_put(doc_str(&doc, "kind"), c->out);
		fputc(' ', c->out);
		table_put(doc_str(&doc, "name"), c->out);
		fputc(' ', c->out);
		table_put(doc_str(&doc, "state"), c->out);
		if (reason[0] != '\0') {
			fputs(": ", c->out);
			table_put(reason, c->out);
		}
		fputc('\n', c->out);
	}
	/* Each event is flushed at once, so a reader of a pipe gets it as it
	 * happens. A closed pipe cancels the subscription. */
	return fflush(c->out) == EOF ? -1 : 0;
}

int
cmd_events(struct nemctl *c, int argc, char **argv)
{
	static const struct subcmd sc = { "events", NULL, "events",
		"print jail and host state changes as they happen" };
	int rc;

	if (no_args(c, &sc, argc, argv, &rc) == -1)
		return rc;
	return call_stream(c, NEM_SVC_EVENT, CONTROL_EVENT_SUBSCRIBE, NULL, -1,
	    NEM_TIMEOUT_NONE, "events", on_event, c, NULL);
}
