/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Integrity of stored images: hashing a stored file, store_verify,
 * store_gc and store_open_image, which hands out a descriptor only for bytes
 * that were hashed through that same descriptor. A file that fails a check
 * is marked bad and stays so until a matching import or verify.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <nem/log.h>

#define HASH_BUF_SIZE (1024 * 1024)

/* Files changed this recently are not trusted on ctime alone. */
#define STORE_RACY_SECONDS 2

int
store_hash_fd(int fd, unsigned char digest[STORE_DIGEST_LEN], uint64_t *size,
    struct nem_err *err)
{
	unsigned char *buf;
	EVP_MD_CTX *md;
	uint64_t off = 0;
	int rc = -1;

	buf = malloc(HASH_BUF_SIZE);
	md = EVP_MD_CTX_new();
	if (buf == NULL || md == NULL) {
		nem_err_sys(err, ENOMEM, "allocate a hash buffer");
		goto out;
	}
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		nem_err_set(err, EIO, "SHA-256 init failed");
		goto out;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t n = pread(fd, buf, HASH_BUF_SIZE, (off_t)off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			nem_err_sys(err, errno, "read at offset %ju",
			    (uintmax_t)off);
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
			nem_err_set(err, EIO, "SHA-256 update failed");
			goto out;
		}
		off += (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(md, digest, NULL) != 1) {
		nem_err_set(err, EIO, "SHA-256 final failed");
		goto out;
	}
	*size = off;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

/* Formats a finding's explanation, cut to NEM_ERR_MSG_MAX bytes. */
static void __attribute__((format(printf, 2, 3)))
set_detail(char detail[NEM_ERR_MSG_MAX], const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, NEM_ERR_MSG_MAX, fmt, ap);
	va_end(ap);
}

/* Result of checking one stored file. */
struct file_check {
	enum store_finding finding;
	char detail[NEM_ERR_MSG_MAX];
	struct stat st;		/* of the file, when it could be opened */
};

/* Reads the size and bad flag of a file row. Returns 1, 0 (no row), -1. */
static int
read_file_row(struct store *store, const char *sha256, uint64_t *size,
    bool *bad, struct nem_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (db_prepare(store->db, "SELECT size, bad FROM image_files "
	    "WHERE sha256 = ?", &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, sha256, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*size = (uint64_t)sqlite3_column_int64(stmt, 0);
		*bad = sqlite3_column_int(stmt, 1) != 0;
	}
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_fail(store->db, rc, "read image file row", err);
}

/*
 * Returns true when st's ctime is too recent to prove that no write follows
 * in the same clock tick: the kernel stamps ctime from a coarse clock, so a
 * write right after the check could leave ctime unchanged. Such files are
 * hashed again at their next use.
 */
static bool
ctime_is_racy(const struct stat *st)
{
	struct timespec now;

	if (clock_gettime(CLOCK_REALTIME, &now) == -1)
		return true;
	return st->st_ctim.tv_sec >= now.tv_sec - STORE_RACY_SECONDS;
}

/*
 * Opens images/sha256/<sha256> and, unless a check in this process already
 * saw the same inode, size and ctime, hashes it through the descriptor.
 * Returns the open descriptor with check->finding STORE_FINDING_OK, or -1
 * with the finding and detail set (MISSING or MISMATCH), or -1 with
 * finding OK and err set for an I/O failure unrelated to the content.
 */
static int
check_file(struct store *store, const char *sha256, uint64_t expected_size,
    bool use_cache, struct file_check *check, struct nem_err *err)
{
	unsigned char digest[STORE_DIGEST_LEN];
	char actual[STORE_SHA256_HEX_LEN + 1];
	struct stat after;
	uint64_t size;
	int fd;

	check->finding = STORE_FINDING_OK;
	check->detail[0] = '\0';
	fd = openat(store->sha256_dir_fd, sha256,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT || errno == ELOOP) {
			check->finding = STORE_FINDING_MISSING;
			set_detail(check->detail, "%s/"
			    "sha256/%s is %s", store->images_dir, sha256,
			    errno == ENOENT ? "missing" : "a symbolic link");
			return -1;
		}
		return nem_err_sys(err, errno, "open %s/sha256/%s",
		    store->images_dir, sha256);
	}
	if (fstat(fd, &check->st) == -1) {
		nem_err_sys(err, errno, "fstat %s/sha256/%s",
		    store->images_dir, sha256);
		close(fd);
		return -1;
	}
	if (!S_ISREG(check->st.st_mode) ||
	    (uint64_t)check->st.st_size != expected_size) {
		check->finding = STORE_FINDING_MISMATCH;
		set_detail(check->detail, "%s/sha256/%s "
		    "has %jd bytes, the image has %ju", store->images_dir,
		    sha256, (intmax_t)check->st.st_size,
		    (uintmax_t)expected_size);
		close(fd);
		return -1;
	}

	if (use_cache) {
		for (size_t i = 0; i < store->nverified; i++) {
			const struct store_verified *v = &store->verified[i];

			if (strcmp(v->sha256, sha256) == 0 &&
			    v->dev == check->st.st_dev &&
			    v->ino == check->st.st_ino &&
			    v->size == check->st.st_size &&
			    v->ctime.tv_sec == check->st.st_ctim.tv_sec &&
			    v->ctime.tv_nsec == check->st.st_ctim.tv_nsec)
				return fd;
		}
	}

	store_step("check-hash");
	if (store_hash_fd(fd, digest, &size, err) == -1) {
		nem_err_prefix(err, "hash %s/sha256/%s", store->images_dir,
		    sha256);
		close(fd);
		return -1;
	}
	store_sha256_hex(digest, actual);
	if (strcmp(actual, sha256) != 0 || size != expected_size) {
		check->finding = STORE_FINDING_MISMATCH;
		set_detail(check->detail, "%s/sha256/%s "
		    "has sha256 %s", store->images_dir, sha256, actual);
		close(fd);
		return -1;
	}

	/* A write during hashing would leave the checked bytes stale. */
	if (fstat(fd, &after) == -1 ||
	    after.st_ctim.tv_sec != check->st.st_ctim.tv_sec ||
	    after.st_ctim.tv_nsec != check->st.st_ctim.tv_nsec ||
	    after.st_size != check->st.st_size) {
		check->finding = STORE_FINDING_MISMATCH;
		set_detail(check->detail, "%s/sha256/%s "
		    "changed while it was hashed", store->images_dir, sha256);
		close(fd);
		return -1;
	}
	if (!ctime_is_racy(&check->st))
		store_remember_verified(store, sha256, &check->st);
	return fd;
}

static void
report(store_report_fn fn, void *arg, enum store_finding finding,
    const char *sha256, const char *names, const char *detail)
{
	struct store_report r = { finding, sha256, names, detail };

	if (fn != NULL)
		fn(arg, &r);
}

int
store_open_image(struct store *store, const char *sha256, int *fd,
    struct nem_err *err)
{
	char digest[STORE_SHA256_HEX_LEN + 1];
	char names[NEM_ERR_MSG_MAX / 2];
	struct file_check check;
	uint64_t size;
	bool bad;
	int rc;

	if (store_sha256_normalize("image sha256", sha256, digest, err) == -1)
		return -1;
	rc = read_file_row(store, digest, &size, &bad, err);
	if (rc == -1)
		return -1;
	if (rc == 0)
		return nem_err_set(err, ENOENT, "no image has sha256 %s; "
		    "import it first", digest);
	if (bad) {
		store_names_of(store, digest, names, sizeof(names));
		return nem_err_set(err, EBADMSG, "image %s (sha256 %s) is "
		    "marked bad because its file failed verification; import "
		    "the image again to repair it", names, digest);
	}

	rc = check_file(store, digest, size, true, &check, err);
	if (rc != -1) {
		*fd = rc;
		return 0;
	}
	if (check.finding == STORE_FINDING_OK)
		return -1;	/* an I/O error, err is set */

	store_mark_bad(store, digest, true);
	store_names_of(store, digest, names, sizeof(names));
	log_errx("image store: %s: integrity check failed: %s", names,
	    check.detail);
	return nem_err_set(err, EBADMSG, "image %s (sha256 %s) failed its "
	    "integrity check: %s; import the image again to repair it",
	    names, digest, check.detail);
}

/* Verifies one file row. Returns 1 when bad, 0 when good, -1 on error. */
static int
verify_one(struct store *store, const char *sha256, uint64_t size,
    bool was_bad, store_report_fn fn, void *arg, struct nem_err *err)
{
	char names[NEM_ERR_MSG_MAX / 2];
	struct file_check check;
	int fd;

	store_names_of(store, sha256, names, sizeof(names));
	fd = check_file(store, sha256, size, false, &check, err);
	if (fd != -1) {
		close(fd);
		if (was_bad) {
			store_mark_bad(store, sha256, false);
			log_info("image store: %s: file matches again, no "
			    "longer marked bad", names);
		}
		report(fn, arg, STORE_FINDING_OK, sha256, names,
		    "the file matches its sha256");
		return 0;
	}
	if (check.finding == STORE_FINDING_OK) {
		nem_err_prefix(err, "verify image %s", names);
		return -1;
	}
	store_forget_verified(store, sha256);
	if (!was_bad)
		store_mark_bad(store, sha256, true);
	log_errx("image store: %s: verification failed: %s", names,
	    check.detail);
	report(fn, arg, check.finding, sha256, names, check.detail);
	return 1;
}

int
store_verify(struct store *store, const char *sha256, store_report_fn fn,
    void *arg, struct nem_err *err)
{
	char digest[STORE_SHA256_HEX_LEN + 1];
	char (*digests)[STORE_SHA256_HEX_LEN + 1] = NULL;
	uint64_t *sizes = NULL;
	bool *bad = NULL;
	sqlite3_stmt *stmt;
	size_t n = 0, cap = 0;
	int rc, problems = 0;

	if (sha256 != NULL && store_sha256_normalize("image sha256", sha256,
	    digest, err) == -1)
		return -1;

	/* Read the rows first: verify_one writes while checking. */
	if (db_prepare(store->db, sha256 != NULL ?
	    "SELECT sha256, size, bad FROM image_files WHERE sha256 = ?" :
	    "SELECT sha256, size, bad FROM image_files ORDER BY sha256",
	    &stmt, err) == -1)
		return -1;
	if (sha256 != NULL)
		sqlite3_bind_text(stmt, 1, digest, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == cap) {
			size_t new_cap = cap ? cap * 2 : 16;
			void *d = reallocarray(digests, new_cap,
			    sizeof(*digests));
			void *s = d ? reallocarray(sizes, new_cap,
			    sizeof(*sizes)) : NULL;
			void *b = s ? reallocarray(bad, new_cap,
			    sizeof(*bad)) : NULL;

			if (d != NULL)
				digests = d;
			if (s != NULL)
				sizes = s;
			if (b == NULL) {
				sqlite3_finalize(stmt);
				problems = nem_err_sys(err, ENOMEM,
				    "verify images");
				goto out;
			}
			bad = b;
			cap = new_cap;
		}
		snprintf(digests[n], sizeof(digests[n]), "%s",
		    (const char *)sqlite3_column_text(stmt, 0));
		sizes[n] = (uint64_t)sqlite3_column_int64(stmt, 1);
		bad[n] = sqlite3_column_int(stmt, 2) != 0;
		n++;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		problems = db_fail(store->db, rc, "read image file rows", err);
		goto out;
	}
	if (sha256 != NULL && n == 0) {
		problems = nem_err_set(err, ENOENT, "verify: no image has "
		    "sha256 %s", digest);
		goto out;
	}

	for (size_t i = 0; i < n; i++) {
		rc = verify_one(store, digests[i], sizes[i], bad[i], fn, arg,
		    err);
		if (rc == -1) {
			problems = -1;
			goto out;
		}
		problems += rc;
	}
out:
	free(digests);
	free(sizes);
	free(bad);
	return problems;
}

/*
 * Deletes file rows that no image name or jail uses, commits, and then
 * unlinks their files (rows go before files, as in store_remove).
 */
static int
gc_unused_rows(struct store *store, store_report_fn fn, void *arg,
    struct nem_err *err)
{
	char (*digests)[STORE_SHA256_HEX_LEN + 1] = NULL;
	sqlite3_stmt *stmt;
	size_t n = 0, cap = 0;
	int rc;

	if (db_begin(store->db, err) == -1)
		return -1;
	if (db_prepare(store->db, "DELETE FROM image_files WHERE sha256 NOT "
	    "IN (SELECT sha256 FROM images) AND sha256 NOT IN (SELECT sha256 "
	    "FROM image_refs) RETURNING sha256", &stmt, err) == -1) {
		db_rollback(store->db);
		return -1;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == cap) {
			size_t new_cap = cap ? cap * 2 : 16;
			void *grown = reallocarray(digests, new_cap,
			    sizeof(*digests));

			if (grown == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			digests = grown;
			cap = new_cap;
		}
		snprintf(digests[n++], sizeof(digests[0]), "%s",
		    (const char *)sqlite3_column_text(stmt, 0));
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		db_fail(store->db, rc, "delete unused image files", err);
		db_rollback(store->db);
		free(digests);
		return -1;
	}
	if (db_commit(store->db, err) == -1) {
		free(digests);
		return -1;
	}

	for (size_t i = 0; i < n; i++) {
		store_forget_verified(store, digests[i]);
		if (unlinkat(store->sha256_dir_fd, digests[i], 0) == -1 &&
		    errno != ENOENT)
			log_warn("image store: %s/sha256/%s: cannot remove an "
			    "unused file: %s", store->images_dir, digests[i],
			    strerror(errno));
		report(fn, arg, STORE_FINDING_UNUSED, digests[i], "",
		    "no image name uses this file; removed");
	}
	free(digests);
	return (int)n;
}

/* Removes entries of dir_fd that are not a digest with a file row. */
static int
gc_directory(struct store *store, int dir_fd, const char *dir_name,
    bool keep_known, store_report_fn fn, void *arg, struct nem_err *err)
{
	char detail[NEM_ERR_MSG_MAX];
	struct dirent *de;
	DIR *dir;
	int fd, removed = 0;

	fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return nem_err_sys(err, errno, "image store: read %s/%s",
		    store->images_dir, dir_name);
	}
	while ((de = readdir(dir)) != NULL) {
		uint64_t size;
		bool bad;
		int known = 0;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (keep_known && store_is_sha256_hex(de->d_name)) {
			known = read_file_row(store, de->d_name, &size, &bad,
			    err);
			if (known == -1) {
				closedir(dir);
				return -1;
			}
		}
		if (known)
			continue;
		if (unlinkat(dir_fd, de->d_name, 0) == -1) {
			set_detail(detail, "%s/%s/%s: no image "
			    "row; not removed: %s", store->images_dir,
			    dir_name, de->d_name, strerror(errno));
			report(fn, arg, STORE_FINDING_KEPT, de->d_name, "",
			    detail);
			continue;
		}
		set_detail(detail, "%s/%s/%s: no image row; "
		    "removed", store->images_dir, dir_name, de->d_name);
		log_info("image store: %s", detail);
		report(fn, arg, STORE_FINDING_STRAY, de->d_name, "", detail);
		removed++;
	}
	closedir(dir);
	return removed;
}

int
store_gc(struct store *store, store_report_fn fn, void *arg,
    struct nem_err *err)
{
	int unused, strays, leftovers;

	unused = gc_unused_rows(store, fn, arg, err);
	if (unused == -1)
		return -1;
	strays = gc_directory(store, store->sha256_dir_fd, "sha256", true, fn,
	    arg, err);
	if (strays == -1)
		return -1;
	leftovers = gc_directory(store, store->tmp_dir_fd, "tmp", false, fn,
	    arg, err);
	if (leftovers == -1)
		return -1;
	if (unused + strays + leftovers > 0 &&
	    store_sync_dir(store, store->sha256_dir_fd, "sha256", err) == -1)
		return -1;
	return unused + strays + leftovers;
}
