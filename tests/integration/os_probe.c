/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A static program run as a jail's root process by the os_* integration
 * tests. It prints what it can see, one fact per line, so the test can
 * check the jail from the inside. The lines are "fd N TARGET" for each open
 * descriptor and "escape N ..." for each attempt to leave the jail through
 * a descriptor above 3, then cwd, hostname, uid, gid, namespaces and
 * mounts. It writes
 * "hello" to fd 3 when that is a socket. Built without sanitizers, because
 * it runs in a tree that holds no shared libraries.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void
on_term(int sig)
{
	(void)sig;
	_exit(42);
}

static void
print_link(const char *label, const char *path)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	target[n > 0 ? n : 0] = '\0';
	printf("%s %s\n", label, n > 0 ? target : "?");
}

static void
list_fds(int *fds, int *nfds)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	*nfds = 0;
	if (d == NULL) {
		printf("error opendir /proc/self/fd\n");
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char path[64], label[32];
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		snprintf(label, sizeof(label), "fd %d", fd);
		print_link(label, path);
		if (*nfds < 256)
			fds[(*nfds)++] = fd;
	}
	closedir(d);
}

/* Tries to leave the jail through fd: fchdir, then a relative open. */
static void
try_escape(int fd)
{
	char buf[128];
	ssize_t n;
	int h;

	if (fchdir(fd) == -1) {
		printf("escape %d fchdir-failed\n", fd);
		return;
	}
	h = open("../../../../etc/hostname", O_RDONLY | O_CLOEXEC);
	if (h == -1) {
		printf("escape %d open-failed\n", fd);
		return;
	}
	n = read(h, buf, sizeof(buf) - 1);
	close(h);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	printf("escape %d read %s\n", fd, buf);
}

static void
print_file(const char *label, const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		printf("%s unreadable\n", label);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		printf("%s %s", label, line);
	fclose(f);
}

int
main(int argc, char **argv)
{
	static const char *ns[] = { "mnt", "pid", "uts", "ipc", "net" };
	int fds[256], nfds, type = 0;
	socklen_t len = sizeof(type);
	char host[128];

	if (argc > 1 && strcmp(argv[1], "exit") == 0)
		return argc > 2 ? atoi(argv[2]) : 0;
	if (argc > 1 && strcmp(argv[1], "sleep") == 0) {
		signal(SIGTERM, on_term);
		for (;;)
			pause();
		return 0;
	}

	print_link("cwd", "/proc/self/cwd");
	list_fds(fds, &nfds);
	printf("nfds %d\n", nfds);
	if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) == 0) {
		printf("fd3 socket type %d\n", type);
		(void)!write(3, "hello", 5);
	}
	for (int i = 0; i < nfds; i++) {
		if (fds[i] > 3)
			try_escape(fds[i]);
	}
	gethostname(host, sizeof(host));
	printf("hostname %s\n", host);
	printf("pid %d\n", (int)getpid());
	printf("uid %d\n", (int)getuid());
	printf("gid %d\n", (int)getgid());
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		char path[64], label[32];

		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
		snprintf(label, sizeof(label), "ns %s", ns[i]);
		print_link(label, path);
	}
	print_file("mount", "/proc/self/mounts");
	fflush(stdout);
	return 0;
}
