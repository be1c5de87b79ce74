/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The nem-rootd executable. It parses the command line, loads the host
 * configuration and wires the modules together in order: PID 1 duties or
 * subreaper, directories, instance lock, supervisor, control socket and
 * unjailed hosts. It then runs the event loop in the foreground until a
 * stop signal and stops everything in reverse order. It never daemonizes,
 * because the init system or a terminal keeps it in the foreground.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/log.h>

#include "config.h"
#include "ctlsock.h"
#include "lockfile.h"
#include "pid1.h"
#include "supervise.h"

#define USAGE								\
	"usage: nem-rootd [-v] [-n] [-c CONFIG]\n"			\
	"       nem-rootd check-config [-c CONFIG]\n"			\
	"  -c, --config CONFIG  host configuration file (default "	\
	CFG_DEFAULT_CONFIG ")\n"					\
	"  -n, --check          check the configuration and exit\n"	\
	"  -v, --verbose        log debug messages\n"			\
	"  -h, --help           show this help\n"

/* Exit status of a usage error, as check-config uses it. */
#define EXIT_USAGE 2

/* An unjailed daemon from a [[host]] entry. */
struct host {
	struct rootd *rootd;
	const struct cfg_host_entry *entry;
	char **env;		/* "NAME=value" strings, NULL-terminated */
	int channel;		/* rootd's end of the NEM channel, or -1 */
	struct sup_unit *unit;
};

/* The daemon: everything main wires together. */
struct rootd {
	const char *config_path;
	bool verbose;
	bool init;			/* PID 1 */
	struct cfg_host *cfg;
	struct event_base *base;
	struct sup *sup;
	struct ctl_listener *ctl;
	int lock_fd;
	struct host *hosts;
	size_t nhosts;
	struct event *signals[5];
	size_t nsignals;
	bool stopping;
	enum pid1_action action;	/* what PID 1 does at the end */
};

/*
 * Makes sure descriptors 0-2 are open, so that no file opened later gets
 * one of those numbers and receives stray output. open() returns the
 * lowest free number, which is the missing one.
 */
static void
ensure_stdio(void)
{
	/* These stay open across exec on purpose: they are the standard
	 * descriptors, and spawned programs get theirs explicitly. */
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) == -1)
			/* Early boot may lack /dev: keep the number taken. */
			(void)open("/", O_RDONLY | O_DIRECTORY);
	}
}

/* Creates dir with mode when it is missing; it must then be a directory. */
static int
make_dir(const char *what, const char *dir, mode_t mode, struct nem_err *err)
{
	struct stat st;

	if (mkdir(dir, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return nem_err_sys(err, errno, "cannot create the %s %s; "
		    "create its parent directory first", what, dir);
	if (lstat(dir, &st) == -1)
		return nem_err_sys(err, errno, "cannot inspect the %s %s",
		    what, dir);
	if (!S_ISDIR(st.st_mode))
		return nem_err_set(err, ENOTDIR, "the %s %s is not a "
		    "directory; move it away or choose another path", what,
		    dir);
	return 0;
}

static pid_t
host_start(void *arg, struct nem_err *err)
{
	struct host *h = arg;
	struct sup_exec spec = {
		.argv = (const char *const *)h->entry->cmd.exec,
		.env = (const char *const *)h->env,
		.stdio = { -1, STDOUT_FILENO, STDERR_FILENO },
	};
	int pair[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1)
		return nem_err_sys(err, errno, "cannot create the NEM channel");
	spec.channel = pair[1];
	pid = sup_spawn_exec(&spec, err);
	close(pair[1]);
	if (pid == -1) {
		close(pair[0]);
		return -1;
	}
	/* TODO: hand pair[0] to the control plane once it speaks NEM to
	 * hosts; until then rootd keeps the channel open and silent. */
	h->channel = pair[0];
	return pid;
}

static void
host_exited(void *arg, pid_t pid, int status)
{
	struct host *h = arg;

	if (h->channel != -1)
		close(h->channel);
	h->channel = -1;
}

static const struct sup_unit_ops host_ops = {
	.start = host_start,
	.exited = host_exited,
};

/* Builds the "NAME=value" array of a host's environment. */
static char **
host_env(const struct cfg_command *cmd, struct nem_err *err)
{
	char **env = calloc(cmd->nenv + 1, sizeof(*env));

	if (env == NULL) {
		nem_err_sys(err, ENOMEM, "cannot build an environment");
		return NULL;
	}
	for (size_t i = 0; i < cmd->nenv; i++) {
		if (asprintf(&env[i], "%s=%s", cmd->env[i].name,
		    cmd->env[i].value) == -1) {
			env[i] = NULL;
			for (size_t j = 0; j < i; j++)
				free(env[j]);
			free(env);
			nem_err_sys(err, ENOMEM, "cannot build an environment");
			return NULL;
		}
	}
	return env;
}

static void
policy_from_cfg(const struct cfg_policy *in, struct sup_policy *out)
{
	switch (in->restart) {
	case CFG_RESTART_ALWAYS:
		out->restart = SUP_RESTART_ALWAYS;
		break;
	case CFG_RESTART_ON_FAILURE:
		out->restart = SUP_RESTART_ON_FAILURE;
		break;
	case CFG_RESTART_NEVER:
	default:
		out->restart = SUP_RESTART_NEVER;
		break;
	}
	out->restart_delay_ms = in->restart_delay_ms;
	out->restart_delay_max_ms = in->restart_delay_max_ms;
	out->restart_reset_ms = in->restart_reset_ms;
	out->stop_timeout_ms = in->stop_timeout_ms;
}

/* Adds and starts a unit per [[host]] entry, in the order written. */
static int
start_hosts(struct rootd *rd, struct nem_err *err)
{
	rd->hosts = calloc(rd->cfg->nhosts, sizeof(*rd->hosts));
	if (rd->hosts == NULL && rd->cfg->nhosts > 0)
		return nem_err_sys(err, ENOMEM, "cannot allocate the hosts");
	for (size_t i = 0; i < rd->cfg->nhosts; i++) {
		struct host *h = &rd->hosts[i];
		struct sup_policy policy;
		struct nem_err start_err;

		h->rootd = rd;
		h->entry = &rd->cfg->hosts[i];
		h->channel = -1;
		h->env = host_env(&h->entry->cmd, err);
		if (h->env == NULL)
			return -1;
		rd->nhosts++;
		policy_from_cfg(&h->entry->policy, &policy);
		h->unit = sup_unit_add(rd->sup, h->entry->name, &policy,
		    &host_ops, h, err);
		if (h->unit == NULL)
			return -1;
		/* A failed start is logged and retried by its policy. */
		(void)sup_unit_start(h->unit, &start_err);
	}
	return 0;
}

static void
free_hosts(struct rootd *rd)
{
	for (size_t i = 0; i < rd->nhosts; i++) {
		struct host *h = &rd->hosts[i];

		for (size_t j = 0; h->env != NULL && h->env[j] != NULL; j++)
			free(h->env[j]);
		free(h->env);
		if (h->channel != -1)
			close(h->channel);
	}
	free(rd->hosts);
	rd->hosts = NULL;
	rd->nhosts = 0;
}

static void
on_control(void *arg, int fd, const struct ctl_peer *peer)
{
	/* TODO: hand the connection to the control plane once it exists;
	 * until then a client sees the connection closed. */
	log_debug("control: no control plane yet; closing the connection "
	    "from pid %d", (int)peer->pid);
	close(fd);
}

static void
on_stopped(void *arg)
{
	struct rootd *rd = arg;

	event_base_loopbreak(rd->base);
}

static void
begin_stop(struct rootd *rd, int sig)
{
	if (rd->stopping) {
		log_info("received SIG%s; the shutdown is already running",
		    sigabbrev_np(sig));
		return;
	}
	rd->stopping = true;
	if (rd->init) {
		(void)pid1_action_from_signal(sig, &rd->action);
		log_info("received SIG%s: stopping everything, then %s",
		    sigabbrev_np(sig), pid1_action_name(rd->action));
	} else
		log_info("received SIG%s: stopping everything",
		    sigabbrev_np(sig));
	sup_shutdown(rd->sup, on_stopped, rd);
}

/*
 * Re-reads the host configuration. A file with errors is rejected as a
 * whole and the running configuration stays.
 * TODO: apply changed [[host]] entries and jail descriptions; only the log
 * level takes effect now.
 */
static void
reload(struct rootd *rd)
{
	struct cfg_diags diags = { 0 };
	struct cfg_host *fresh;

	log_info("received SIGHUP: reloading %s", rd->config_path);
	fresh = cfg_host_load(rd->config_path, &diags);
	if (fresh == NULL) {
		for (size_t i = 0; i < diags.len; i++)
			log_errx("%s:%u:%u: %s", diags.v[i].file,
			    diags.v[i].line, diags.v[i].col, diags.v[i].msg);
		log_errx("reload rejected: %s has %zu errors; the running "
		    "configuration stays", rd->config_path, diags.len);
		cfg_diags_clear(&diags);
		return;
	}
	log_init(fresh->log_dest, rd->verbose ? LOG_LEVEL_DEBUG :
	    fresh->log_level);
	log_info("reloaded %s: log level applied; restart nem-rootd for "
	    "changes to [[host]] entries and directories", rd->config_path);
	cfg_host_free(fresh);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct rootd *rd = arg;

	if (sig == SIGHUP)
		reload(rd);
	else
		begin_stop(rd, (int)sig);
}

static int
watch_signals(struct rootd *rd, struct nem_err *err)
{
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	const size_t count = rd->init ? 4 : 3;

	for (size_t i = 0; i < count; i++) {
		struct event *ev = evsignal_new(rd->base, sigs[i], on_signal,
		    rd);

		if (ev == NULL || evsignal_add(ev, NULL) == -1) {
			if (ev != NULL)
				event_free(ev);
			return nem_err_set(err, EIO, "cannot watch SIG%s",
			    sigabbrev_np(sigs[i]));
		}
		rd->signals[rd->nsignals++] = ev;
	}
	signal(SIGPIPE, SIG_IGN);
	/* SIGUSR1 halts PID 1; elsewhere it must not end the daemon. The
	 * spawn paths reset every disposition, so children do not inherit
	 * these. */
	if (!rd->init)
		signal(SIGUSR1, SIG_IGN);
	return 0;
}

/*
 * Ends the daemon on an error during start. PID 1 must not exit, because
 * the kernel panics when init exits, so it halts the system instead and
 * the console keeps the message.
 */
static void __attribute__((noreturn))
die(const struct rootd *rd, const char *msg)
{
	if (!rd->init)
		fatalx("%s", msg);
	log_errx("%s; halting the system", msg);
	for (;;)
		pid1_finish(PID1_HALT);
}

/* Brings everything up in order; an error ends the process (see die). */
static void
start(struct rootd *rd)
{
	struct nem_err err;

	if (rd->init) {
		if (pid1_mount_early("/", &err) == -1)
			log_errx("%s; continuing without it", err.msg);
		if (rd->cfg->hostname != NULL &&
		    pid1_set_hostname(rd->cfg->hostname, &err) == -1)
			log_errx("%s", err.msg);
	} else if (pid1_become_reaper(&err) == -1) {
		log_warn("%s; orphaned descendants will not be reaped here",
		    err.msg);
	}

	if (make_dir("state directory", rd->cfg->state_dir, 0700, &err) == -1 ||
	    make_dir("run directory", rd->cfg->run_dir, 0700, &err) == -1)
		die(rd, err.msg);
	rd->lock_fd = lockfile_take(rd->cfg->run_dir, &err);
	if (rd->lock_fd == -1)
		die(rd, err.msg);

	rd->base = event_base_new();
	if (rd->base == NULL)
		die(rd, "cannot create the event loop");
	rd->sup = sup_new(rd->base, &err);
	if (rd->sup == NULL || watch_signals(rd, &err) == -1)
		die(rd, err.msg);
	rd->ctl = ctl_listen(rd->base, rd->cfg->control_socket, on_control,
	    rd, &err);
	if (rd->ctl == NULL)
		die(rd, err.msg);
	if (start_hosts(rd, &err) == -1)
		die(rd, err.msg);
	log_info("version %s running as pid %d%s with %zu hosts",
	    NEM_ROOTD_VERSION, (int)getpid(), rd->init ? " (init)" : "",
	    rd->nhosts);
}

/* Frees what start made, in reverse order. */
static void
stop(struct rootd *rd)
{
	ctl_close(rd->ctl);
	sup_free(rd->sup);
	free_hosts(rd);
	for (size_t i = 0; i < rd->nsignals; i++)
		event_free(rd->signals[i]);
	event_base_free(rd->base);
	lockfile_release(rd->lock_fd);
	log_info("stopped");
	cfg_host_free(rd->cfg);
}

static int
parse_args(int argc, char **argv, struct rootd *rd, bool *check)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:nvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			rd->config_path = optarg;
			break;
		case 'n':
			*check = true;
			break;
		case 'v':
			rd->verbose = true;
			break;
		case 'h':
			fputs(USAGE, stdout);
			exit(0);
		default:
			fputs(USAGE, stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nem-rootd: unexpected argument \"%s\"\n%s",
		    argv[optind], USAGE);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct rootd rd = {
		.config_path = CFG_DEFAULT_CONFIG,
		.lock_fd = -1,
		.action = PID1_POWEROFF,
	};
	struct cfg_diags diags = { 0 };
	bool check = false;

	ensure_stdio();
	if (argc >= 2 && strcmp(argv[1], "check-config") == 0)
		return check_config_main(argc - 1, argv + 1);
	if (parse_args(argc, argv, &rd, &check) == -1)
		return EXIT_USAGE;
	if (check) {
		char *check_argv[] = { "check-config", "-c",
			(char *)rd.config_path, NULL };

		return check_config_main(3, check_argv);
	}

	log_role("nem-rootd");
	log_init(LOG_DEST_STDERR, rd.verbose ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_INFO);
	if (geteuid() != 0) {
		fprintf(stderr, "nem-rootd: must run as root (uid 0); it "
		    "mounts file systems and creates namespaces. Start it "
		    "from the init system or with sudo\n");
		return 1;
	}
	rd.init = pid1_is_init();

	rd.cfg = cfg_host_load(rd.config_path, &diags);
	if (rd.cfg == NULL) {
		cfg_diags_print(&diags, stderr);
		cfg_diags_clear(&diags);
		fprintf(stderr, "nem-rootd: %s is invalid; fix the errors "
		    "above (nem-rootd check-config -c %s checks it)\n",
		    rd.config_path, rd.config_path);
		if (!rd.init)
			return 1;

		/* PID 1 must come up: use the built-in defaults. */
		rd.cfg = cfg_host_load_buffer("built-in defaults", "", 0,
		    &diags);
		if (rd.cfg == NULL)
			die(&rd, "the built-in default configuration is "
			    "invalid");
	}
	log_init(rd.cfg->log_dest, rd.verbose ? LOG_LEVEL_DEBUG :
	    rd.cfg->log_level);

	start(&rd);
	if (event_base_dispatch(rd.base) == -1)
		log_errx("the event loop failed; stopping");
	if (!rd.stopping) {
		/* The loop ended without a stop signal: stop all the same. */
		rd.stopping = true;
		sup_shutdown(rd.sup, on_stopped, &rd);
		event_base_dispatch(rd.base);
	}
	stop(&rd);

	if (rd.init)
		pid1_finish(rd.action);
	return 0;
}
