/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The nem-rootd executable. It parses the command line, loads the host
 * configuration and wires the modules together in order: PID 1 duties or
 * subreaper, directories, instance lock, state database, image store, jail
 * runtime, supervisor, jail manager, control plane and control socket. It
 * then runs the event loop in the foreground until a stop signal or a
 * daemon.stop request and stops everything in reverse order. It never
 * daemonizes, because the init system or a terminal keeps it in the
 * foreground.
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
#include "control.h"
#include "ctlsock.h"
#include "db.h"
#include "jail.h"
#include "jail_pool.h"
#include "jailmgr.h"
#include "lockfile.h"
#include "os/os.h"
#include "pid1.h"
#include "store.h"
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

/* The daemon: everything main wires together. */
struct rootd {
	const char *config_path;
	bool verbose;
	bool init;			/* PID 1 */
	struct cfg_host *cfg;
	int lock_fd;
	struct db *db;
	struct store *store;
	struct jail_runtime *runtime;
	struct jm_runtime jm_runtime;
	struct jail_pool *pool;		/* allocation workers */
	struct event_base *base;
	struct sup *sup;
	struct jm *jm;
	struct control *control;
	struct ctl_listener *ctl;
	struct event *signals[4];
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

static void
on_stopped(void *arg)
{
	struct rootd *rd = arg;

	event_base_loopbreak(rd->base);
}

/* The jails and hosts are down; stop any unit that is left. */
static void
on_jails_stopped(void *arg)
{
	struct rootd *rd = arg;

	sup_shutdown(rd->sup, on_stopped, rd);
}

/* Starts the ordered stop: jails, then hosts, then the loop ends. */
static void
begin_stop(struct rootd *rd, const char *why, enum pid1_action action)
{
	if (rd->stopping) {
		/* A second request hurries the shutdown under way. */
		log_warn("%s during the shutdown: hurrying it, every process "
		    "still running gets SIGKILL", why);
		sup_hurry(rd->sup);
		return;
	}
	rd->stopping = true;
	rd->action = action;
	if (rd->init)
		log_info("%s: stopping everything, then %s", why,
		    pid1_action_name(action));
	else
		log_info("%s: stopping everything", why);
	/* Hosts are stopped after the jails; none may restart meanwhile. */
	sup_hold_restarts(rd->sup);
	jm_shutdown(rd->jm, on_jails_stopped, rd);
}

/* Runs daemon.stop from the control socket like SIGTERM. */
static void
on_daemon_stop(void *arg)
{
	begin_stop(arg, "daemon.stop requested", PID1_POWEROFF);
}

/*
 * Re-reads the host configuration and the jail descriptions. A host
 * configuration with errors is rejected as a whole and the running one
 * stays. Jails are reloaded as a difference by the jail manager.
 * TODO: apply changed [[host]] entries and directories; of the host
 * configuration only the log level takes effect now.
 */
static void
reload(struct rootd *rd)
{
	struct cfg_diags diags = { 0 };
	struct cfg_host *fresh;
	struct nem_err err;

	log_info("received SIGHUP: reloading %s", rd->config_path);
	fresh = cfg_host_load(rd->config_path, &diags);
	if (fresh == NULL) {
		for (size_t i = 0; i < diags.len; i++)
			log_errx("%s:%u:%u: %s", diags.v[i].file,
			    diags.v[i].line, diags.v[i].col, diags.v[i].msg);
		log_errx("reload rejected: %s has %zu error%s; the running "
		    "configuration stays", rd->config_path, diags.len,
		    diags.len == 1 ? "" : "s");
		cfg_diags_clear(&diags);
	} else {
		log_init(fresh->log_dest, rd->verbose ? LOG_LEVEL_DEBUG :
		    fresh->log_level);
		log_info("reloaded %s: log level applied; restart nem-rootd "
		    "for changes to [[host]] entries and directories",
		    rd->config_path);
		cfg_host_free(fresh);
	}
	if (jm_reload(rd->jm, &err) == -1)
		log_errx("reload of the jail descriptions failed: %s",
		    err.msg);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct rootd *rd = arg;
	enum pid1_action action = PID1_POWEROFF;
	char why[32];

	if (sig == SIGHUP) {
		reload(rd);
		return;
	}
	(void)pid1_action_from_signal((int)sig, &action);
	snprintf(why, sizeof(why), "received SIG%s", sigabbrev_np((int)sig));
	begin_stop(rd, why, action);
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

/* Opens the state database, the image store and the jail runtime. */
static void
open_state(struct rootd *rd)
{
	const struct jail_paths paths = {
		.run_dir = rd->cfg->run_dir,
		.state_dir = rd->cfg->state_dir,
		.init_path = rd->cfg->init_path,
	};
	struct nem_err err;

	rd->db = db_open(rd->cfg->state_dir, &err);
	if (rd->db == NULL)
		die(rd, err.msg);
	rd->store = store_open(rd->db, rd->cfg->state_dir, &err);
	if (rd->store == NULL)
		die(rd, err.msg);
	rd->runtime = jail_runtime_open(&paths, rd->store, rd->db, &err);
	if (rd->runtime == NULL)
		die(rd, err.msg);
}

/* Returns the number of allocation workers: one per CPU, 2 to 8. */
static unsigned
alloc_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 2)
		return 2;
	return n > 8 ? 8 : (unsigned)n;
}

/* Creates the supervisor, the jail manager and the control plane. */
static void
open_services(struct rootd *rd)
{
	struct jm_params jp = { 0 };
	struct control_params cp = { 0 };
	struct nem_err err;

	rd->base = event_base_new();
	if (rd->base == NULL)
		die(rd, "cannot create the event loop");
	rd->sup = sup_new(rd->base, &err);
	if (rd->sup == NULL || watch_signals(rd, &err) == -1)
		die(rd, err.msg);

	rd->pool = jail_pool_new(rd->runtime, rd->base, rd->cfg->state_dir,
	    alloc_workers(), &err);
	if (rd->pool == NULL)
		die(rd, err.msg);
	jm_runtime_from_jail(rd->runtime, rd->pool, &rd->jm_runtime);
	jp.base = rd->base;
	jp.sup = rd->sup;
	jp.db = rd->db;
	jp.store = rd->store;
	jp.host = rd->cfg;
	jp.runtime = &rd->jm_runtime;
	jp.version = NEM_ROOTD_VERSION;
	rd->jm = jm_new(&jp, &err);
	if (rd->jm == NULL)
		die(rd, err.msg);

	cp.base = rd->base;
	cp.jm = rd->jm;
	cp.store = rd->store;
	cp.runtime = rd->runtime;
	cp.state_dir = rd->cfg->state_dir;
	cp.version = NEM_ROOTD_VERSION;
	cp.stop = on_daemon_stop;
	cp.stop_arg = rd;
	rd->control = control_new(&cp, &err);
	if (rd->control == NULL)
		die(rd, err.msg);
}

/* Brings everything up in order; an error ends the process (see die). */
static void
start(struct rootd *rd)
{
	size_t jails, ready, failed, hosts;
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

	open_state(rd);
	open_services(rd);
	rd->ctl = ctl_listen(rd->base, rd->cfg->control_socket,
	    control_accept, rd->control, &err);
	if (rd->ctl == NULL)
		die(rd, err.msg);

	/* Single jails and hosts that fail are logged and retried there. */
	if (jm_start(rd->jm, &err) == -1)
		log_errx("%s; no jail is started", err.msg);
	jm_counts(rd->jm, &jails, &ready, &failed, &hosts);
	log_info("version %s running as pid %d%s with %zu hosts and %zu "
	    "jails", NEM_ROOTD_VERSION, (int)getpid(),
	    rd->init ? " (init)" : "", hosts, jails);
}

/*
 * Unmounts <run_dir>/<name>, which the jail runtime made a private mount
 * (bind-mounting the folder onto itself when it was no mount point), and
 * whatever is still mounted below it. A folder on another file system
 * than run_dir is a mount the administrator made, and stays.
 */
static void
unmount_run_folder(const struct rootd *rd, const char *name)
{
	char path[PATH_MAX];
	struct stat run_st, st;
	struct nem_err err;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", rd->cfg->run_dir,
	    name) >= sizeof(path))
		return;
	if (stat(rd->cfg->run_dir, &run_st) == -1 || lstat(path, &st) == -1 ||
	    !S_ISDIR(st.st_mode) || st.st_dev != run_st.st_dev)
		return;
	if (os_unmount_under(path, &err) == -1)
		log_errx("%s; unmount it by hand", err.msg);
}

/* Frees what start made, in reverse order. */
static void
stop(struct rootd *rd)
{
	ctl_close(rd->ctl);
	control_free(rd->control);
	jail_pool_free(rd->pool);
	jm_free(rd->jm);
	sup_free(rd->sup);
	for (size_t i = 0; i < rd->nsignals; i++)
		event_free(rd->signals[i]);
	event_base_free(rd->base);
	jail_runtime_close(rd->runtime);
	unmount_run_folder(rd, "jails");
	unmount_run_folder(rd, "images");
	store_close(rd->store);
	db_close(rd->db);
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
		if (access(rd.config_path, R_OK) == -1)
			fprintf(stderr, "nem-rootd: cannot read the "
			    "configuration %s; create it (rootd.toml(5)) or "
			    "name another with -c\n", rd.config_path);
		else
			fprintf(stderr, "nem-rootd: %s is invalid; fix the "
			    "errors above (nem-rootd check-config -c %s checks "
			    "it)\n", rd.config_path, rd.config_path);
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
		/* The loop ended without a stop request: stop all the same. */
		begin_stop(&rd, "the event loop ended", PID1_POWEROFF);
		event_base_dispatch(rd.base);
	}
	stop(&rd);

	if (rd.init)
		pid1_finish(rd.action);
	return 0;
}
