/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Definitions shared by the image store's source files (store.c,
 * store_import.c, store_check.c). Not for other modules: use store.h.
 */
#ifndef ROOTD_STORE_INT_H
#define ROOTD_STORE_INT_H

#include <limits.h>
#include <sys/stat.h>

#include "store.h"

#define STORE_DIGEST_LEN 32	/* bytes of a SHA-256 digest */

/* A file whose content matched its digest, and the stat seen at the check. */
struct store_verified {
	char sha256[STORE_SHA256_HEX_LEN + 1];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec ctime;
};

struct store {
	struct db *db;
	char images_dir[PATH_MAX];	/* <state_dir>/images, for messages */
	int sha256_dir_fd;		/* images/sha256 */
	int tmp_dir_fd;			/* images/tmp */
	struct store_verified *verified;	/* checked in this process */
	size_t nverified;
	size_t verified_cap;
};

/*
 * Columns of struct store_image, selected from images i JOIN image_files f
 * USING (sha256).
 */
#define STORE_IMAGE_COLUMNS "i.name, i.version, i.sha256, f.size, " \
	"f.fstype, i.created, f.bad, i.rowid"

/* Fills out (file_state STORE_FILE_OK) from a STORE_IMAGE_COLUMNS row. */
void store_read_image_row(sqlite3_stmt *stmt, struct store_image *out);

/* Calls store_test_hook, if set, with step. */
void store_step(const char *step);

/* Returns true when s is exactly 64 lower-case hex digits. */
bool store_is_sha256_hex(const char *s);

/*
 * Copies a hex digest given by a client (either case) to out in lower case.
 * Returns 0, or -1 with EINVAL naming `what`.
 */
int store_sha256_normalize(const char *what, const char *in,
    char out[STORE_SHA256_HEX_LEN + 1], struct nem_err *err);

/* Formats a binary digest as lower-case hex. */
void store_sha256_hex(const unsigned char digest[STORE_DIGEST_LEN],
    char out[STORE_SHA256_HEX_LEN + 1]);

/*
 * Hashes fd from offset 0 to end of file with pread, leaving the file
 * offset alone. Returns 0 with the digest and the byte count, or -1 with
 * err set.
 */
int store_hash_fd(int fd, unsigned char digest[STORE_DIGEST_LEN],
    uint64_t *size, struct nem_err *err);

/*
 * Writes the names and versions that use sha256 ("base 1.0.0, tools") to
 * buf, or "(no name)" when none does. Never fails: a database error leaves
 * "(unknown)".
 */
void store_names_of(struct store *store, const char *sha256, char *buf,
    size_t size);

/* Sets or clears the bad flag of a file's row. Failure is only logged. */
void store_mark_bad(struct store *store, const char *sha256, bool bad);

/* Records that the file behind st matched sha256. */
void store_remember_verified(struct store *store, const char *sha256,
    const struct stat *st);

/* Drops what store_remember_verified recorded for sha256. */
void store_forget_verified(struct store *store, const char *sha256);

/* fsyncs a directory descriptor. Returns 0, or -1 with err set. */
int store_sync_dir(struct store *store, int dir_fd, const char *dir_name,
    struct nem_err *err);

#endif
