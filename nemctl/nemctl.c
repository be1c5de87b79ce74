/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nemctl: the command-line client of nem-rootd. This file parses the
 * global options (--socket, --json), picks the control socket (option,
 * then $NEM_SOCKET, then the default path) and runs one command group.
 * nemctl changes nothing by itself: every action is a request to the
 * daemon, which checks it again.
 */
#include "nemctl.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <nem/log.h>

static const char usage_text[] =
    "usage: nemctl [--socket PATH] [--json] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  info                          show the daemon's version and counts\n"
    "  image push NAME FILE [--version V] [--sha256 HEX]\n"
    "  image ls | show NAME [--version V] | rm NAME [--version V]\n"
    "  image verify [NAME] | gc\n"
    "  jail ls | status NAME | start NAME | stop NAME [--timeout D]\n"
    "  jail restart NAME | apply FILE | rm NAME | logs NAME [-f]\n"
    "  volume ls | rm NAME\n"
    "  host ls | restart NAME\n"
    "  events                        print jail and host state changes\n"
    "\n"
    "options:\n"
    "  --socket PATH   control socket (default: $NEM_SOCKET, else "
    NEMCTL_DEFAULT_SOCKET ")\n"
    "  --json          print JSON for scripts instead of tables\n"
    "  --help          show this help; \"nemctl COMMAND --help\" shows a "
    "command's\n"
    "\n"
    "exit codes: 0 success, 100 wrong usage or a request the daemon "
    "rejected,\n"
    "111 system or connection failure; see nemctl(8).\n";

static const struct {
	const char *name;
	int (*fn)(struct nemctl *c, int argc, char **argv);
} groups[] = {
	{ "info", cmd_info },
	{ "image", cmd_image },
	{ "jail", cmd_jail },
	{ "volume", cmd_volume },
	{ "host", cmd_host },
	{ "events", cmd_events },
};

static void
print_subcmd_usage(FILE *out, const char *group, const struct subcmd *cmds,
    size_t n)
{
	fprintf(out, "usage: nemctl [--socket PATH] [--json] %s COMMAND\n\n"
	    "commands:\n", group);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-44s %s\n", cmds[i].usage, cmds[i].summary);
}

int
subcmd_run(struct nemctl *c, const char *group, const struct subcmd *cmds,
    size_t n, int argc, char **argv)
{
	if (argc == 0) {
		fprintf(stderr, "nemctl: %s: missing command\n", group);
		print_subcmd_usage(stderr, group, cmds, n);
		return NEMCTL_EXIT_USAGE;
	}
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
	    strcmp(argv[0], "help") == 0) {
		print_subcmd_usage(stdout, group, cmds, n);
		return NEMCTL_EXIT_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[0], cmds[i].name) == 0)
			return cmds[i].fn(c, &cmds[i], argc - 1, argv + 1);
	}
	fprintf(stderr, "nemctl: %s: unknown command \"%s\"\n", group,
	    argv[0]);
	print_subcmd_usage(stderr, group, cmds, n);
	return NEMCTL_EXIT_USAGE;
}

int
subcmd_args(struct nemctl *c, const struct subcmd *sc, int argc,
    char **argv, const struct args_opt *opts, size_t nopts, int min_pos,
    int max_pos, struct args *a, int *exit)
{
	struct nem_err err;

	if (args_parse(argc, argv, opts, nopts, min_pos, max_pos, a,
	    &err) == -1) {
		fprintf(stderr, "nemctl: %s\nusage: nemctl %s\n", err.msg,
		    sc->usage);
		*exit = NEMCTL_EXIT_USAGE;
		return -1;
	}
	if (a->help) {
		printf("usage: nemctl %s\n%s\n", sc->usage, sc->summary);
		*exit = NEMCTL_EXIT_OK;
		return -1;
	}
	if (a->json)
		c->json = true;
	return 0;
}

int
main(int argc, char **argv)
{
	struct nemctl c = { .out = stdout };
	const char *env = getenv("NEM_SOCKET");
	int i, rc;

	log_init(LOG_DEST_STDERR, LOG_LEVEL_WARN);
	log_role("nemctl");
	/* A closed pipe (nemctl ... | head) must end nemctl with EPIPE on
	 * write, not kill it in the middle of a request. */
	signal(SIGPIPE, SIG_IGN);

	c.socket = env != NULL && env[0] != '\0' ? env : NEMCTL_DEFAULT_SOCKET;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			c.json = true;
		} else if (strcmp(argv[i], "--socket") == 0) {
			if (i + 1 == argc)
				return usage_error("option \"--socket\" needs "
				    "a path");
			c.socket = argv[++i];
		} else if (strncmp(argv[i], "--socket=", 9) == 0) {
			c.socket = argv[i] + 9;
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return NEMCTL_EXIT_OK;
		} else {
			fprintf(stderr, "nemctl: unknown option \"%s\"\n%s",
			    argv[i], usage_text);
			return NEMCTL_EXIT_USAGE;
		}
	}
	if (c.socket[0] == '\0')
		return usage_error("the socket path is empty");
	if (i == argc) {
		fprintf(stderr, "nemctl: missing command\n%s", usage_text);
		return NEMCTL_EXIT_USAGE;
	}

	rc = -1;
	for (size_t k = 0; k < sizeof(groups) / sizeof(groups[0]); k++) {
		if (strcmp(argv[i], groups[k].name) == 0) {
			rc = groups[k].fn(&c, argc - i - 1, argv + i + 1);
			break;
		}
	}
	if (rc == -1) {
		fprintf(stderr, "nemctl: unknown command \"%s\"\n%s", argv[i],
		    usage_text);
		rc = NEMCTL_EXIT_USAGE;
	}
	nem_client_free(c.cl);

	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("nemctl: write the output");
		if (rc == NEMCTL_EXIT_OK)
			rc = NEMCTL_EXIT_SYSTEM;
	}
	return rc;
}
