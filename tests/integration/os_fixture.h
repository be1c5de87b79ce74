/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Shared setup of the os_* root integration tests: a private run folder
 * made with mkdtemp and a squashfs image with busybox and the probe. The
 * helpers build a jail tree through os.h and tear everything down, also
 * after a failed assertion.
 */
#ifndef OS_FIXTURE_H
#define OS_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "os/os.h"

struct fixture {
	char dir[64];			/* the test's run folder */
	char image[PATH_MAX];		/* squashfs with busybox and probe */
	char cache[PATH_MAX];		/* md template cache */
	char pool[PATH_MAX];		/* shared pool directory */
	char conf[PATH_MAX];		/* host file copied into jails */
	char disk_image[PATH_MAX];	/* ext4 image attached as a disk */
	int image_fd;			/* open image, read-only */
	int root_fds[8];		/* jail root fds open, or -1 */
	pid_t helper;			/* helper process to kill, or 0 */
};

/* A jail tree built by fixture_build_jail. */
struct jail_tree {
	char root_path[PATH_MAX];
	char md_path[PATH_MAX];
	struct os_root root;
	struct os_disk disks[4];
	size_t ndisks;
};

/* Which mounts fixture_build_jail makes besides the image at "/". */
#define TREE_MD 0x01u		/* 8M md image at /var/db */
#define TREE_POOL 0x02u		/* bind of the pool at /pool */
#define TREE_DISK 0x04u		/* ext4 loop disk at /data */
#define TREE_TMPFS 0x08u	/* 16M tmpfs at /tmp */
#define TREE_FILE 0x10u		/* copy of conf at /tmp/app.conf */
#define TREE_DEV 0x20u		/* minimal /dev */
#define TREE_ALL 0x3fu

/*
 * Creates the run folder, the squashfs image and the pool. Skips the test
 * (exit 77) when not root. Returns 0 or fails the test.
 */
int fixture_setup(void **state);

/* Unmounts, detaches and removes everything under the run folder. */
int fixture_teardown(void **state);

/* Builds jail tree name under the run folder with the mounts in mask. */
int fixture_build_jail(struct fixture *f, const char *name, unsigned mask,
    struct jail_tree *t, struct nem_err *err);

/* Unmounts tree t, detaches its disks and removes its md image. */
void fixture_free_jail(struct fixture *f, struct jail_tree *t);

/* Runs argv and returns its exit status, or -1. */
int fixture_run(char *const argv[]);

/* Counts the entries of /proc/self/fd. */
int fixture_count_fds(void);

/* Counts loop devices whose backing file is under dir. */
size_t fixture_count_loops(const char *dir);

/* Counts mounts at or under dir. */
size_t fixture_count_mounts(const char *dir);

/* Reads the file path into buf (NUL-terminated); returns its length. */
size_t fixture_read(const char *path, char *buf, size_t size);

/*
 * Spawns the probe in tree t with args (NULL-terminated, after the probe
 * path), stdout into out_path, channel as fd 3 (or -1) and workdir wd.
 * Waits for it. Returns its wait status, or -1 with err set.
 */
int fixture_probe(struct fixture *f, struct jail_tree *t,
    const char *const *args, const char *out_path, int channel,
    const char *wd, struct nem_err *err);

#endif
