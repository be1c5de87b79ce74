/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The image store: immutable file system images (squashfs, erofs, ext2/3/4;
 * ufs on FreeBSD) that jails mount read-only. Files live under
 * <state_dir>/images/sha256/<hex>, mode 0444, one file per distinct
 * content. The state database maps names and optional semver versions to
 * those files and records which jails use which file. The SHA-256 guards
 * integrity: a name, not a hash, identifies an image to an operator.
 *
 * A store handle is used by one thread at a time. Layout, lookup grammar
 * and recovery rules are described in doc/images.md.
 */
#ifndef ROOTD_STORE_H
#define ROOTD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nem/err.h>

#include "db.h"
#include "names.h"
#include "semver.h"

#define STORE_SHA256_HEX_LEN 64	/* lower-case hex digits of a SHA-256 */
#define STORE_FSTYPE_MAX 16	/* room for "squashfs", "erofs", "ext4" */

struct store;

/* State of a stored file against its row, as far as stat can tell. */
enum store_file_state {
	STORE_FILE_OK,		/* present with the recorded size */
	STORE_FILE_MISSING,	/* images/sha256/<hex> does not exist */
	STORE_FILE_CHANGED,	/* not a regular file, or another size */
};

/* One image: a name and version pointing at a stored file. */
struct store_image {
	char name[NAME_MAX_LEN + 1];
	char version[SEMVER_MAX_LEN + 1];	/* "" when the image has none */
	char sha256[STORE_SHA256_HEX_LEN + 1];
	uint64_t size;				/* bytes */
	char fstype[STORE_FSTYPE_MAX];		/* "squashfs", "erofs", "ext4" */
	int64_t created;			/* import time, Unix seconds */
	int64_t sequence;	/* row insertion order, breaks ties */
	bool bad;		/* the file failed verification */
	enum store_file_state file_state;	/* set by store_list only */
};

/*
 * Opens the store under state_dir, using db (which must stay open until
 * store_close). Creates images/sha256 and images/tmp when missing, deletes
 * what an interrupted import or removal left behind (every file in
 * images/tmp, and files in images/sha256 that have no row), and logs each
 * deletion. Returns a handle, or NULL with err set (errno codes from the
 * file system, ENOMEM).
 */
struct store *store_open(struct db *db, const char *state_dir,
    struct nem_err *err);

/*
 * Opens a second handle on a store that another handle opened already,
 * for another thread with its own connection db: like store_open, but
 * nothing is deleted, since that handle's imports may be writing.
 * Returns a handle, or NULL with err set.
 */
struct store *store_attach(struct db *db, const char *state_dir,
    struct nem_err *err);

/* Closes the store, not the database. NULL is allowed. */
void store_close(struct store *store);

/*
 * Import progress: done bytes copied so far, total the expected size or 0
 * when unknown. Called from the importing thread, at least once per
 * STORE_PROGRESS_STEP bytes and once at the end.
 */
typedef void (*store_progress_fn)(void *arg, uint64_t done, uint64_t total);

#define STORE_PROGRESS_STEP (8 * 1024 * 1024)

/* An import request: the image's identity and the progress callback. */
struct store_import_req {
	const char *name;	/* checked by name_check */
	const char *version;	/* semver version, or NULL or "" for none */
	const char *sha256;	/* expected hex digest, or NULL */
	uint64_t total;		/* expected size in bytes, or 0 if unknown */
	store_progress_fn progress;	/* may be NULL */
	void *progress_arg;
};

/*
 * Imports an image read from fd until end of file. fd may be a regular
 * file, a pipe or a socket, and a non-blocking one is waited on with poll
 * for at most STORE_IMPORT_IDLE_MS per read. Copies and hashes in one pass
 * into images/tmp, syncs, checks the digest and size against req, renames
 * the file into images/sha256 and commits its rows. Re-importing the same
 * bytes under the same name and version changes nothing but replaces the
 * stored file, which repairs a bad or missing one.
 *
 * Returns 0 and fills *out (when not NULL), or -1 with err set and nothing
 * left behind:
 *   EINVAL   invalid name, version or digest, or not a known file system
 *   EEXIST   the name and version exist with other content
 *   EBADMSG  the content does not match req->sha256
 *   EPIPE    the input ended before req->total bytes
 *   EFBIG    the input is longer than req->total
 *   ETIMEDOUT no input for STORE_IMPORT_IDLE_MS
 *   ENOSPC   the disk is full
 *   other errno codes from reading, writing or the database.
 * fd stays open and owned by the caller.
 */
int store_import(struct store *store, int fd,
    const struct store_import_req *req, struct store_image *out,
    struct nem_err *err);

#define STORE_IMPORT_IDLE_MS 60000

/*
 * Finds the image that a jail mount requests.
 *   name         image name, or NULL to find any image by sha256_pin alone
 *   requirement  semver requirement (semver.h), or NULL for any
 *   sha256_pin   hex digest the result must have, or NULL
 *   out          OUT: the image found
 * Among the images that qualify it picks the highest version (an image
 * without a version ranks below any with one) and among equal versions the
 * newest. Returns 0, or -1 with err set: ENOENT with a message naming what
 * was asked and what exists ("image base: no version matches ^2.0;
 * available: 1.0.0, 1.2.3"), EINVAL for an invalid argument. An image
 * marked bad is still returned, with bad set.
 */
int store_lookup(struct store *store, const char *name,
    const char *requirement, const char *sha256_pin, struct store_image *out,
    struct nem_err *err);

/*
 * Lists every image, ordered by name and then version precedence, with
 * file_state set from a stat of its file. Writes nothing, so it works on a
 * full disk. *out is an array of *count entries to free(); it is NULL when
 * the count is 0. Returns 0, or -1 with err set.
 */
int store_list(struct store *store, struct store_image **out, size_t *count,
    struct nem_err *err);

/*
 * Removes an image name. version NULL removes the name's only version (and
 * fails with EINVAL when it has several), "" removes the row without a
 * version. Deletes the stored file once no other name uses it. Returns 0,
 * or -1 with err set: ENOENT when there is no such image, EBUSY when a jail
 * uses it (the message names the jails), database errors.
 */
int store_remove(struct store *store, const char *name, const char *version,
    struct nem_err *err);

/*
 * Replaces the set of image files that jail uses by sha256[0..count), for
 * example when the jail's description is applied. Every digest must be in
 * the store. Returns 0, or -1 with err set (EINVAL, ENOENT, database
 * errors); on failure the previous set is kept.
 */
int store_refs_set(struct store *store, const char *jail,
    const char *const *sha256, size_t count, struct nem_err *err);

/* Forgets every image the jail uses. Returns 0, or -1 with err set. */
int store_refs_clear(struct store *store, const char *jail,
    struct nem_err *err);

/*
 * Forgets the images of every jail not named in keep[0..nkeep), for
 * example the jails whose description was deleted while the daemon was
 * down. Returns 0, or -1 with err set (database errors, ENOMEM).
 */
int store_refs_prune(struct store *store, const char *const *keep,
    size_t nkeep, struct nem_err *err);

/* Kinds of findings of store_verify and store_gc. */
enum store_finding {
	STORE_FINDING_OK,	/* verify: the file matches its digest */
	STORE_FINDING_MISSING,	/* verify: the file is gone; marked bad */
	STORE_FINDING_MISMATCH,	/* verify: other bytes or size; marked bad */
	STORE_FINDING_STRAY,	/* gc: a file no row knows, removed */
	STORE_FINDING_UNUSED,	/* gc: a file no image name uses, removed */
	STORE_FINDING_KEPT,	/* gc: a stray entry that could not be removed */
};

/* One finding. Strings are valid only during the callback. */
struct store_report {
	enum store_finding finding;
	const char *sha256;	/* digest, or the file name for strays */
	const char *names;	/* "base 1.0.0, tools", "" when none */
	const char *detail;	/* human-readable explanation */
};

typedef void (*store_report_fn)(void *arg, const struct store_report *report);

/*
 * Re-hashes the file of sha256, or of every image when sha256 is NULL, and
 * reports each through report (may be NULL). Missing and mismatching files
 * are marked bad; a file that matches again is marked good. Returns the
 * number of bad files found (0 when all match), or -1 with err set (ENOENT
 * when sha256 is not in the store, database errors).
 */
int store_verify(struct store *store, const char *sha256,
    store_report_fn report, void *arg, struct nem_err *err);

/*
 * Removes files that no image name uses, stray entries in images/sha256
 * (names that are not a known digest) and leftovers in images/tmp, and
 * reports each. Returns the number of entries removed, or -1 with err set.
 */
int store_gc(struct store *store, store_report_fn report, void *arg,
    struct nem_err *err);

/*
 * Opens the file of sha256 for attaching: *fd is O_RDONLY | O_CLOEXEC and
 * owned by the caller. Before returning it, hashes the content through that
 * same descriptor: the first time the file is opened in this process,
 * whenever its inode, size or ctime differ from the last check, and while
 * its ctime is under 3 seconds old. Returns 0, or -1 with err set:
 * ENOENT when sha256 is not in the store, EBADMSG (an integrity error
 * naming the image) when the file is missing, has another size or other
 * bytes, or is marked bad. A file that fails the check is marked bad.
 *
 * NOTE: the check cannot stop root from writing to the file after it, and
 * a changed ctime triggers a new check only at the next call.
 */
int store_open_image(struct store *store, const char *sha256, int *fd,
    struct nem_err *err);

/*
 * Test hook, NULL by default: when set, it is called with the name of each
 * step of an import or removal ("import-tmp-created", "import-written",
 * "import-synced", "import-renamed", "import-dir-synced",
 * "import-committed", "remove-committed", "remove-unlinked"), so a test
 * can kill the process there and check recovery. It is also called with
 * "check-hash" before a stored file is hashed.
 */
extern void (*store_test_hook)(const char *step);

#endif
