/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The nem-rootd executable end to end, run as root. A second instance on
 * the same run directory is rejected with the first one's pid, and a
 * non-root user is rejected. SIGTERM stops the [[host]] daemons in reverse
 * order and exits 0. As PID 1 of a new PID namespace, the daemon sets the
 * host name, reaps orphans and ends the namespace through reboot(2). Every
 * daemon runs on a mkdtemp folder with its own configuration.
 *
 * Environment: NEM_ROOTD is the path of the nem-rootd executable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct fixture {
	char dir[64];		/* mkdtemp folder */
	char config[128];	/* dir/rootd.toml */
	char log[128];		/* dir/rootd.log: the daemon's stderr */
	pid_t pids[4];		/* children to end in teardown, or 0 */
	pid_t init;		/* nem-rootd as PID 1, a child of pids[0] */
};

static const char *rootd_path;

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/nem-supd-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->config, sizeof(f->config), "%s/rootd.toml", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/rootd.log", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	/* While pids[0] is not reaped, it has not reaped init either, so
	 * the pid still belongs to our init. Killing it ends the namespace. */
	if (f->init > 0 && f->pids[0] > 0)
		kill(f->init, SIGKILL);
	for (size_t i = 0; i < 4; i++) {
		if (f->pids[i] > 0) {
			kill(f->pids[i], SIGKILL);
			waitpid(f->pids[i], NULL, 0);
		}
	}
	/* Only files and folders of the test live there; nothing mounted. */
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "sup_daemon: cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

static void
write_config(const struct fixture *f, const char *extra)
{
	FILE *fp = fopen(f->config, "we");

	assert_non_null(fp);
	fprintf(fp, "state_dir = \"%s/state\"\nrun_dir = \"%s/run\"\n%s",
	    f->dir, f->dir, extra);
	assert_int_equal(fclose(fp), 0);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads the whole log into buf (NUL-terminated). */
static void
read_log(const struct fixture *f, char *buf, size_t size)
{
	int fd = open(f->log, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	buf[0] = '\0';
	if (fd == -1)
		return;
	while (len + 1 < size &&
	    (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
}

/* Waits up to ms for needle to appear in the log. */
static bool
wait_for_log(const struct fixture *f, const char *needle, uint64_t ms)
{
	static char buf[1 << 16];
	uint64_t end = mono_ms() + ms;

	do {
		read_log(f, buf, sizeof(buf));
		if (strstr(buf, needle) != NULL)
			return true;
		usleep(20000);
	} while (mono_ms() < end);
	return false;
}

/*
 * Runs nem-rootd -c config with stdout and stderr appended to the log. As
 * root it runs in a private mount namespace, so the mounts it makes under
 * its run directory end with it and never reach the host.
 */
static void __attribute__((noreturn))
exec_rootd(const struct fixture *f)
{
	int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

	if (fd == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
		_exit(120);
	if (geteuid() == 0 && (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1))
		_exit(124);
	execl(rootd_path, "nem-rootd", "-c", f->config, (char *)NULL);
	_exit(121);
}

static pid_t
spawn_rootd(const struct fixture *f)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		exec_rootd(f);
	return pid;
}

static int
wait_exit(pid_t pid, uint64_t ms)
{
	uint64_t end = mono_ms() + ms;
	int status;

	do {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(20000);
	} while (mono_ms() < end);
	return -1;
}

/* Returns the offset of needle in hay, or -1. */
static long
offset_of(const char *hay, const char *needle)
{
	const char *p = strstr(hay, needle);

	return p != NULL ? (long)(p - hay) : -1;
}

static const char hosts_toml[] =
	"[[host]]\nname = \"first\"\n"
	"exec = [\"/bin/busybox\", \"sleep\", \"1000\"]\n"
	"restart = \"always\"\nstop_timeout = \"1s\"\n"
	"[[host]]\nname = \"second\"\n"
	"exec = [\"/bin/busybox\", \"sleep\", \"1000\"]\n"
	"restart = \"always\"\nstop_timeout = \"1s\"\n"
	"[[host]]\nname = \"third\"\n"
	"exec = [\"/bin/busybox\", \"sleep\", \"1000\"]\n"
	"restart = \"always\"\nstop_timeout = \"1s\"\n";

static void
second_instance_rejected(void **state)
{
	struct fixture *f = *state;
	char want[96], path[160];
	static char log[1 << 16];
	struct stat st;
	pid_t first, second;
	int status;

	write_config(f, hosts_toml);
	first = spawn_rootd(f);
	f->pids[0] = first;
	assert_true(wait_for_log(f, "with 3 hosts", 10000));

	second = spawn_rootd(f);
	f->pids[1] = second;
	status = wait_exit(second, 10000);
	f->pids[1] = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	snprintf(want, sizeof(want), "another nem-rootd (pid %d) holds",
	    (int)first);
	assert_true(wait_for_log(f, want, 1000));

	/* The first one still serves: its socket is in place. */
	snprintf(path, sizeof(path), "%s/run/control.sock", f->dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));

	/* SIGTERM: hosts stop in reverse order, exit 0, socket removed. */
	assert_int_equal(kill(first, SIGTERM), 0);
	status = wait_exit(first, 15000);
	f->pids[0] = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(lstat(path, &st), -1);
	read_log(f, log, sizeof(log));
	assert_true(offset_of(log, "third: stopping") >= 0);
	assert_true(offset_of(log, "third: stopping") <
	    offset_of(log, "second: stopping"));
	assert_true(offset_of(log, "second: stopping") <
	    offset_of(log, "first: stopping"));
	assert_true(offset_of(log, "every unit is stopped") >
	    offset_of(log, "first: stopped"));
}

/* Descriptors 0-2 closed at exec are reopened on /dev/null first. */
static void
closed_stdio_reopened(void **state)
{
	struct fixture *f = *state;
	char link[64], target[64];
	ssize_t n;
	pid_t pid;
	int status;

	write_config(f, "");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		/* Only stderr stays, on the log; 0 and 1 are closed. */
		if (fd == -1 || dup2(fd, 2) == -1)
			_exit(120);
		if (unshare(CLONE_NEWNS) == -1 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
			_exit(124);
		close(fd);
		close(0);
		close(1);
		execl(rootd_path, "nem-rootd", "-c", f->config, (char *)NULL);
		_exit(121);
	}
	f->pids[0] = pid;
	assert_true(wait_for_log(f, "with 0 hosts", 10000));
	for (int fd = 0; fd < 2; fd++) {
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, fd);
		n = readlink(link, target, sizeof(target) - 1);
		assert_true(n > 0);
		target[n] = '\0';
		assert_string_equal(target, "/dev/null");
	}

	assert_int_equal(kill(pid, SIGTERM), 0);
	status = wait_exit(pid, 10000);
	f->pids[0] = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
non_root_rejected(void **state)
{
	struct fixture *f = *state;
	static char log[4096];
	pid_t pid;
	int status;

	write_config(f, "");
	/* The child must be able to write its log after setuid. */
	assert_int_equal(chmod(f->dir, 0777), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) == -1 || setuid(65534) == -1)
			_exit(122);
		exec_rootd(f);
	}
	f->pids[0] = pid;
	status = wait_exit(pid, 10000);
	f->pids[0] = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	read_log(f, log, sizeof(log));
	assert_non_null(strstr(log, "must run as root (uid 0)"));
}

static void
check_option_validates(void **state)
{
	struct fixture *f = *state;
	pid_t pid;
	int status;

	write_config(f, "log_level = \"loud\"\n");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		execl(rootd_path, "nem-rootd", "-n", "-c", f->config,
		    (char *)NULL);
		_exit(121);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
}

/* Counts zombies whose parent is ppid, from the host's /proc. */
static int
count_zombies_of(pid_t ppid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int zombies = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char path[300], buf[512], *paren;
		int parent = 0;
		char st = '?';
		FILE *fp;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fp = fopen(path, "re");
		if (fp == NULL)
			continue;
		if (fgets(buf, sizeof(buf), fp) != NULL &&
		    (paren = strrchr(buf, ')')) != NULL &&
		    sscanf(paren + 1, " %c %d", &st, &parent) == 2 &&
		    st == 'Z' && parent == ppid)
			zombies++;
		fclose(fp);
	}
	closedir(d);
	return zombies;
}

/*
 * Starts nem-rootd as PID 1 of new PID, mount and UTS namespaces. Returns
 * the pid of the middle process; *init gets nem-rootd's pid as seen here,
 * and the middle process writes init's wait status to status_fd.
 */
static pid_t
spawn_rootd_as_pid1(const struct fixture *f, pid_t *init, int status_fd)
{
	int pidpipe[2];
	pid_t mid;

	assert_int_equal(pipe2(pidpipe, O_CLOEXEC), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		pid_t child;
		int st = -1;

		if (unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS) == -1)
			_exit(1);
		child = fork();
		if (child == 0) {
			if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE,
			    NULL) == -1)
				_exit(123);
			exec_rootd(f);
		}
		(void)!write(pidpipe[1], &child, sizeof(child));
		while (child > 0 && waitpid(child, &st, 0) == -1 &&
		    errno == EINTR)
			;
		(void)!write(status_fd, &st, sizeof(st));
		_exit(0);
	}
	close(pidpipe[1]);
	assert_int_equal(read(pidpipe[0], init, sizeof(*init)),
	    sizeof(*init));
	close(pidpipe[0]);
	assert_true(*init > 0);
	return mid;
}

static void
run_pid1_case(struct fixture *f, int sig, int want_signal,
    const char *action)
{
	char extra[2048], hostname_file[128], want[64];
	static char log[1 << 16];
	int statuspipe[2], status = -1;
	pid_t mid, init;
	FILE *fp;

	snprintf(hostname_file, sizeof(hostname_file), "%s/hostname", f->dir);
	snprintf(extra, sizeof(extra),
	    "hostname = \"nem-pid1-test\"\n%s"
	    "[[host]]\nname = \"orphans\"\n"
	    "exec = [\"/bin/busybox\", \"sh\", \"-c\", \"hostname > %s; "
	    "i=0; while [ $i -lt 50 ]; do (/bin/busybox true &); "
	    "i=$((i+1)); done; exec /bin/busybox sleep 1000\"]\n"
	    "stop_timeout = \"1s\"\n",
	    hosts_toml, hostname_file);
	write_config(f, extra);
	unlink(f->log);

	assert_int_equal(pipe2(statuspipe, O_CLOEXEC), 0);
	mid = spawn_rootd_as_pid1(f, &init, statuspipe[1]);
	f->pids[0] = mid;
	f->init = init;
	close(statuspipe[1]);
	assert_true(wait_for_log(f, "(init) with 4 hosts", 10000));
	assert_true(wait_for_log(f, "orphans: started", 5000));

	/* The orphan maker runs its loop; its grandchildren get reaped. */
	sleep(2);
	assert_int_equal(count_zombies_of(init), 0);
	fp = fopen(hostname_file, "re");
	assert_non_null(fp);
	assert_non_null(fgets(extra, sizeof(extra), fp));
	fclose(fp);
	assert_string_equal(extra, "nem-pid1-test\n");

	assert_int_equal(kill(init, sig), 0);
	assert_int_equal(read(statuspipe[0], &status, sizeof(status)),
	    sizeof(status));
	close(statuspipe[0]);
	assert_int_equal(waitpid(mid, NULL, 0), mid);
	f->pids[0] = 0;

	/* Kernel rule: reboot(2) in a child PID namespace kills its init
	 * with SIGHUP for a restart and SIGINT for power-off and halt. */
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), want_signal);

	read_log(f, log, sizeof(log));
	snprintf(want, sizeof(want), "then %s", action);
	assert_non_null(strstr(log, want));
	assert_true(offset_of(log, "orphans: stopping") <
	    offset_of(log, "third: stopping"));
	assert_true(offset_of(log, "third: stopping") <
	    offset_of(log, "second: stopping"));
	assert_true(offset_of(log, "second: stopping") <
	    offset_of(log, "first: stopping"));
	assert_true(offset_of(log, "every unit is stopped") <
	    offset_of(log, "calling reboot(2)"));
}

static void
pid1_sigterm_powers_off(void **state)
{
	run_pid1_case(*state, SIGTERM, SIGINT, "power-off");
}

static void
pid1_sigint_reboots(void **state)
{
	run_pid1_case(*state, SIGINT, SIGHUP, "reboot");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(second_instance_rejected,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(closed_stdio_reopened, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(non_root_rejected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(check_option_validates, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(pid1_sigterm_powers_off, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(pid1_sigint_reboots, setup,
		    teardown),
	};

	rootd_path = getenv("NEM_ROOTD");
	if (geteuid() != 0 || rootd_path == NULL) {
		fprintf(stderr, "sup_daemon: needs root and NEM_ROOTD (path "
		    "of nem-rootd); skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
