/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Tests of the control socket's listening side, run as root. The socket is
 * mode 0600 in a root-owned 0700 directory even with umask 0, and it is
 * never abstract. A non-root peer is closed even after the modes were
 * opened up by hand, and its first request gets a permission error. A
 * stale socket is replaced, while a symbolic link, a
 * regular file or a live socket at the path is rejected and left untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/client.h>
#include <nem/log.h>
#include <nem/proto.h>

#include "ctlsock.h"

struct fixture {
	char top[64];		/* mkdtemp folder */
	char dir[96];		/* top/ctl: the socket's folder */
	char path[128];		/* dir/control.sock */
	char decoy[128];	/* top/decoy */
	struct event_base *base;
	pid_t child;		/* a child still to end and reap, or 0 */

	int accepted;		/* connections handed to the callback */
	struct ctl_peer last_peer;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strcpy(f->top, "/tmp/nem-ctlsock-XXXXXX");
	if (mkdtemp(f->top) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/ctl", f->top);
	snprintf(f->path, sizeof(f->path), "%s/control.sock", f->dir);
	snprintf(f->decoy, sizeof(f->decoy), "%s/decoy", f->top);
	f->base = event_base_new();
	if (f->base == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	unlink(f->path);
	rmdir(f->path);
	rmdir(f->dir);
	unlink(f->dir);
	unlink(f->decoy);
	rmdir(f->top);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void
on_conn(void *arg, int fd, const struct ctl_peer *peer)
{
	struct fixture *f = arg;

	f->accepted++;
	f->last_peer = *peer;
	close(fd);
}

static void
run_loop_ms(struct event_base *base, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	strcpy(sun.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Binds a socket at path and leaves it listening or closes it (stale). */
static int
make_socket_file(const char *path, bool keep_listening)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sun.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 1), 0);
	if (keep_listening)
		return fd;
	close(fd);
	return -1;
}

static void
socket_private_from_start(void **state)
{
	struct fixture *f = *state;
	struct ctl_listener *l;
	struct nem_err err;
	struct stat st;
	mode_t old = umask(0);

	l = ctl_listen(f->base, f->path, on_conn, f, &err);
	umask(old);
	assert_non_null(l);

	assert_int_equal(lstat(f->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, 0);

	ctl_close(l);
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

/*
 * Finds every unix socket of this process in /proc/net/unix by inode and
 * checks that none is abstract; returns how many of ours carry path.
 */
static int
count_own_sockets_at(const char *path)
{
	char line[512], link[64], fdpath[300];
	unsigned long inodes[256];
	size_t n = 0;
	int found = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	FILE *fp;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL && n < 256) {
		ssize_t len;
		unsigned long ino;

		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%s",
		    de->d_name);
		len = readlink(fdpath, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) == 1)
			inodes[n++] = ino;
	}
	closedir(d);

	fp = fopen("/proc/net/unix", "re");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned long ino;
		char name[300] = "";
		int fields = sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %299s",
		    &ino, name);

		if (fields < 1)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (inodes[i] != ino)
				continue;
			assert_true(name[0] != '@');
			if (strcmp(name, path) == 0)
				found++;
		}
	}
	fclose(fp);
	return found;
}

static void
socket_never_abstract(void **state)
{
	struct fixture *f = *state;
	struct ctl_listener *l;
	struct nem_err err;

	l = ctl_listen(f->base, f->path, on_conn, f, &err);
	assert_non_null(l);
	assert_int_equal(count_own_sockets_at(f->path), 1);
	ctl_close(l);

	assert_null(ctl_listen(f->base, "control.sock", on_conn, f, &err));
	assert_int_equal(err.code, EINVAL);
	assert_null(ctl_listen(f->base, "", on_conn, f, &err));
	assert_int_equal(err.code, EINVAL);
}

static void
non_root_peer_rejected(void **state)
{
	struct fixture *f = *state;
	struct ctl_listener *l;
	struct nem_err err;
	int status = -1, fd;
	pid_t pid;

	l = ctl_listen(f->base, f->path, on_conn, f, &err);
	assert_non_null(l);

	/* Open everything up by hand, as a careless operator might. */
	assert_int_equal(chmod(f->top, 0755), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(chmod(f->path, 0666), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		int cfd;

		if (setgid(65534) == -1 || setuid(65534) == -1)
			_exit(10);
		cfd = connect_to(f->path);
		if (cfd == -1)
			_exit(11);
		/* The daemon closes the connection: EOF, not a hang. */
		alarm(5);
		if (read(cfd, &c, 1) != 0)
			_exit(12);
		_exit(0);
	}
	f->child = pid;
	for (int i = 0; i < 100; i++) {
		run_loop_ms(f->base, 50);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			f->child = 0;
			break;
		}
	}
	assert_int_equal(f->child, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(f->accepted, 0);

	/* A root peer is handed to the callback with its credentials. */
	fd = connect_to(f->path);
	assert_true(fd >= 0);
	run_loop_ms(f->base, 100);
	assert_int_equal(f->accepted, 1);
	assert_int_equal(f->last_peer.uid, 0);
	assert_int_equal(f->last_peer.pid, getpid());
	close(fd);
	ctl_close(l);
}

/*
 * Runs in a child as uid 65534: sends daemon.info and checks that the reply
 * is a permission error that gives the reason. Returns the exit status.
 */
static int
call_as_nobody(const char *path)
{
	struct nem_request rq = NEM_REQUEST_INIT(NEM_SVC_DAEMON,
	    NEM_DAEMON_INFO);
	struct nem_reply reply;
	struct nem_client *cl;
	struct nem_err err;

	if (setgid(65534) == -1 || setuid(65534) == -1)
		return 10;
	alarm(5);
	cl = nem_client_connect(path, NULL, &err);
	if (cl == NULL)
		return 11;
	nem_reply_init(&reply);
	if (nem_client_call(cl, &rq, &reply, &err) == 0)
		return 12;
	if (reply.local || reply.code != NEM_E_PERMISSION)
		return 13;
	if (strstr(reply.reason, "permission denied: only root") == NULL ||
	    strstr(reply.reason, "uid 65534") == NULL)
		return 14;
	nem_reply_clear(&reply);
	nem_client_free(cl);
	return 0;
}

static void
non_root_peer_gets_reason(void **state)
{
	struct fixture *f = *state;
	struct ctl_listener *l;
	struct nem_err err;
	int status = -1;
	pid_t pid;

	l = ctl_listen(f->base, f->path, on_conn, f, &err);
	assert_non_null(l);
	assert_int_equal(chmod(f->top, 0755), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(chmod(f->path, 0666), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(call_as_nobody(f->path));
	f->child = pid;
	for (int i = 0; i < 100; i++) {
		run_loop_ms(f->base, 50);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			f->child = 0;
			break;
		}
	}
	assert_int_equal(f->child, 0);
	assert_true(WIFEXITED(status));
	/* 11: no connection, 12: served, 13: other code, 14: other reason. */
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(f->accepted, 0);
	ctl_close(l);
}

static void
stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	struct ctl_listener *l;
	struct nem_err err;
	int live, fd;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	make_socket_file(f->path, false);
	l = ctl_listen(f->base, f->path, on_conn, f, &err);
	assert_non_null(l);
	fd = connect_to(f->path);
	assert_true(fd >= 0);
	run_loop_ms(f->base, 100);
	assert_int_equal(f->accepted, 1);
	close(fd);
	ctl_close(l);

	/* A socket that a process listens on is not taken over. */
	live = make_socket_file(f->path, true);
	assert_null(ctl_listen(f->base, f->path, on_conn, f, &err));
	assert_int_equal(err.code, EADDRINUSE);
	assert_non_null(strstr(err.msg, "another nem-rootd"));
	close(live);
}

static void
symlink_at_path_refused(void **state)
{
	struct fixture *f = *state;
	struct nem_err err;
	struct stat st;
	char target[128];
	ssize_t n;
	int fd;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	fd = open(f->decoy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "decoy\n", 6), 6);
	close(fd);
	assert_int_equal(symlink(f->decoy, f->path), 0);

	assert_null(ctl_listen(f->base, f->path, on_conn, f, &err));
	assert_int_equal(err.code, EEXIST);
	assert_non_null(strstr(err.msg, "is a symbolic link, not a socket"));

	/* The link and its target are untouched. */
	n = readlink(f->path, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, f->decoy);
	assert_int_equal(lstat(f->decoy, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 6);
	assert_int_equal(st.st_mode & 07777, 0644);
	unlink(f->path);

	/* A regular file is rejected the same way. */
	fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(ctl_listen(f->base, f->path, on_conn, f, &err));
	assert_int_equal(err.code, EEXIST);
	assert_non_null(strstr(err.msg, "is a regular file"));
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

static void
open_directory_refused(void **state)
{
	struct fixture *f = *state;
	struct nem_err err;
	char longpath[200];

	assert_int_equal(mkdir(f->dir, 0755), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_null(ctl_listen(f->base, f->path, on_conn, f, &err));
	assert_int_equal(err.code, EPERM);
	assert_non_null(strstr(err.msg, "mode 0755"));
	assert_non_null(strstr(err.msg, "chmod 0700"));

	/* A symbolic link in place of the directory is rejected too. */
	assert_int_equal(rmdir(f->dir), 0);
	assert_int_equal(symlink(f->top, f->dir), 0);
	assert_null(ctl_listen(f->base, f->path, on_conn, f, &err));
	assert_int_equal(err.code, EPERM);
	assert_non_null(strstr(err.msg, "symbolic link"));

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_null(ctl_listen(f->base, longpath, on_conn, f, &err));
	assert_int_equal(err.code, ENAMETOOLONG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(socket_private_from_start,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(socket_never_abstract, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(non_root_peer_rejected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(non_root_peer_gets_reason,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(stale_socket_replaced, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(symlink_at_path_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(open_directory_refused, setup,
		    teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_ctlsock: needs root (peer uid checks, "
		    "chown); skipped\n");
		return 77;
	}
	log_init(LOG_DEST_STDERR, LOG_LEVEL_DEBUG);
	log_role("test_ctlsock");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
