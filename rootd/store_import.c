/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Importing an image into the store. The calling thread reads the input
 * and hashes it with OpenSSL's EVP SHA-256 while a writer thread writes the
 * previous buffers to images/tmp/<random>. The writer uses O_DIRECT where
 * the file system allows it, so the data goes to the disk without filling
 * the page cache, and otherwise starts writeback early with
 * sync_file_range. Either way the final fsync has little left to wait for,
 * and the import takes about as long as hashing or writing alone, whichever
 * is slower. The file is then synced, checked, renamed into images/sha256
 * and committed, in the order that store.c describes for crash recovery.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <nem/log.h>

/*
 * Bytes per pipeline buffer. With O_DIRECT, large requests keep the device
 * busy while the next buffer is hashed. Through the page cache, a buffer
 * small enough to stay in the CPU cache between hashing and copying is
 * faster. Measured with bench/import on a 1 GiB file: 4 MiB buffers took
 * the on-disk import from 1.37 to 0.92 times openssl dgst's time, while on
 * tmpfs they were slower than 1 MiB ones (1.53 against 1.33 times).
 */
#define IMPORT_BUF_SIZE_DIRECT (4 * 1024 * 1024)
#define IMPORT_BUF_SIZE_CACHED (1024 * 1024)
#define IMPORT_BUF_COUNT 8		/* buffers in flight */
#define IMPORT_WRITEBACK_STEP (8 * 1024 * 1024)	/* sync_file_range unit */
/*
 * Alignment of O_DIRECT buffers, offsets and lengths. 4 KiB suits devices
 * with 512-byte and with 4 KiB logical blocks.
 */
#define IMPORT_DIRECT_ALIGN 4096

/*
 * Superblock magics, all little-endian on disk. The header of the input
 * (the first HEADER_BYTES) is kept to match them.
 *   squashfs  "hsqs" (0x73717368) at offset 0
 *   erofs     0xE0F5E1E2 at offset 1024
 *   ext2/3/4  0xEF53 at offset 1024 + 56 (s_magic of the ext2 superblock)
 *   ufs2      0x19540119 at offset 65536 + 1372 (fs_magic of struct fs)
 */
struct fs_magic {
	const char *fstype;	/* file system type passed to mount */
	size_t offset;
	size_t len;
	unsigned char bytes[4];
	bool supported;		/* mountable on this platform */
};

#ifdef __FreeBSD__
#define UFS_SUPPORTED true
#else
#define UFS_SUPPORTED false
#endif

static const struct fs_magic fs_magics[] = {
	{ "squashfs", 0, 4, { 'h', 's', 'q', 's' }, true },
	{ "erofs", 1024, 4, { 0xe2, 0xe1, 0xf5, 0xe0 }, true },
	/* Linux's ext4 driver mounts ext2 and ext3 too. */
	{ "ext4", 1024 + 56, 2, { 0x53, 0xef }, true },
	{ "ufs", 65536 + 1372, 4, { 0x19, 0x01, 0x54, 0x19 }, UFS_SUPPORTED },
};

#define HEADER_BYTES (65536 + 1372 + 4)

/*
 * Buffers handed from the reading thread to the writer thread. Slots
 * [tail, tail + queued) hold data to write, in order.
 */
struct pipeline {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned char *buf[IMPORT_BUF_COUNT];
	size_t len[IMPORT_BUF_COUNT];
	size_t head;		/* next slot the reader fills */
	size_t tail;		/* next slot the writer writes */
	size_t queued;
	bool input_done;	/* no more slots will be queued */
	int write_errno;	/* first write failure, 0 if none */
	int out_fd;
	bool direct;		/* out_fd has O_DIRECT set */
	size_t buf_size;	/* bytes per buffer, by write mode */
	uint64_t written;	/* bytes written so far */
};

/* State of one import. */
struct import {
	struct store *store;
	const struct store_import_req *req;
	char label[NAME_MAX_LEN + SEMVER_MAX_LEN + 2];	/* "base 1.0.0" */
	char version[SEMVER_MAX_LEN + 1];
	char expected[STORE_SHA256_HEX_LEN + 1];	/* "" if not given */
	char tmp_name[64];
	int tmp_fd;
	unsigned char header[HEADER_BYTES];
	size_t header_len;
	uint64_t size;
	char sha256[STORE_SHA256_HEX_LEN + 1];
	const char *fstype;
};

/* Clears O_DIRECT on the output, so that any length and offset work. */
static void
leave_direct(struct pipeline *p)
{
	int flags = fcntl(p->out_fd, F_GETFL);

	if (flags != -1)
		(void)fcntl(p->out_fd, F_SETFL, flags & ~O_DIRECT);
	p->direct = false;
}

/*
 * Writes all of data. In O_DIRECT mode only whole aligned blocks go out
 * directly. The unaligned tail of the input, or a file system that rejects
 * a direct write with EINVAL, switches to buffered writes for the rest.
 * Returns 0 or an errno value.
 */
static int
write_all(struct pipeline *p, const unsigned char *data, size_t len)
{
	while (len > 0) {
		size_t chunk = len;
		ssize_t n;

		if (p->direct) {
			chunk = len & ~(size_t)(IMPORT_DIRECT_ALIGN - 1);
			if (chunk == 0) {
				leave_direct(p);
				chunk = len;
			}
		}
		n = write(p->out_fd, data, chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EINVAL && p->direct) {
			leave_direct(p);
			continue;
		}
		if (n == -1)
			return errno;
		if (p->direct && (size_t)n % IMPORT_DIRECT_ALIGN != 0)
			leave_direct(p);	/* the next offset is unaligned */
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *
writer_main(void *arg)
{
	struct pipeline *p = arg;
	uint64_t writeback_from = 0;

	for (;;) {
		size_t slot;
		int code;

		pthread_mutex_lock(&p->lock);
		while (p->queued == 0 && !p->input_done)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->queued == 0) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		slot = p->tail;
		pthread_mutex_unlock(&p->lock);

		code = write_all(p, p->buf[slot], p->len[slot]);
		if (code != 0) {
			pthread_mutex_lock(&p->lock);
			p->write_errno = code;
			pthread_cond_broadcast(&p->cond);
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->written += p->len[slot];

		/* Start writeback now so that the final fsync waits less. */
		if (!p->direct &&
		    p->written - writeback_from >= IMPORT_WRITEBACK_STEP) {
			(void)sync_file_range(p->out_fd, (off64_t)writeback_from,
			    (off64_t)(p->written - writeback_from),
			    SYNC_FILE_RANGE_WRITE);
			writeback_from = p->written;
		}

		pthread_mutex_lock(&p->lock);
		p->tail = (p->tail + 1) % IMPORT_BUF_COUNT;
		p->queued--;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

/*
 * Reads from fd until buf is full or end of input. Waits with poll when fd
 * is non-blocking. Returns the byte count (0 at end of input), or -1 with
 * err set.
 */
static ssize_t
read_chunk(struct import *im, int fd, unsigned char *buf, size_t size,
    struct nem_err *err)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n == 0)
			break;
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int ready = poll(&pfd, 1, STORE_IMPORT_IDLE_MS);

			if (ready == 0)
				return nem_err_set(err, ETIMEDOUT, "import "
				    "image %s: no input for %d ms after %ju "
				    "bytes", im->label, STORE_IMPORT_IDLE_MS,
				    (uintmax_t)(im->size + got));
			if (ready == -1 && errno != EINTR)
				return nem_err_sys(err, errno, "import image "
				    "%s: poll the input", im->label);
			continue;
		}
		return nem_err_sys(err, errno, "import image %s: read the "
		    "input after %ju bytes", im->label,
		    (uintmax_t)(im->size + got));
	}
	return (ssize_t)got;
}

static int
write_failed(struct import *im, int code, struct nem_err *err)
{
	if (code == ENOSPC || code == EDQUOT)
		return nem_err_set(err, code, "import image %s: no space left "
		    "on device for %s/tmp/%s after %ju bytes; free space on "
		    "that file system and import again", im->label,
		    im->store->images_dir, im->tmp_name,
		    (uintmax_t)im->size);
	return nem_err_sys(err, code, "import image %s: write %s/tmp/%s",
	    im->label, im->store->images_dir, im->tmp_name);
}

/* Keeps the first HEADER_BYTES of the input for fs type detection. */
static void
keep_header(struct import *im, const unsigned char *data, size_t len)
{
	if (im->header_len < HEADER_BYTES) {
		size_t take = HEADER_BYTES - im->header_len;

		if (take > len)
			take = len;
		memcpy(im->header + im->header_len, data, take);
		im->header_len += take;
	}
}

static void
report_progress(struct import *im, uint64_t *next_report)
{
	if (im->req->progress == NULL || im->size < *next_report)
		return;
	im->req->progress(im->req->progress_arg, im->size, im->req->total);
	*next_report = im->size + STORE_PROGRESS_STEP;
}

/* Reads, hashes and queues input buffers until end of input or error. */
static int
feed_pipeline(struct import *im, int in_fd, struct pipeline *p,
    EVP_MD_CTX *md, struct nem_err *err)
{
	uint64_t next_report = STORE_PROGRESS_STEP;

	for (;;) {
		unsigned char *buf;
		size_t slot;
		ssize_t n;
		int write_errno;

		pthread_mutex_lock(&p->lock);
		while (p->queued == IMPORT_BUF_COUNT && p->write_errno == 0)
			pthread_cond_wait(&p->cond, &p->lock);
		slot = p->head;
		write_errno = p->write_errno;
		pthread_mutex_unlock(&p->lock);
		if (write_errno != 0)
			return 0;	/* reported by the caller */

		buf = p->buf[slot];
		n = read_chunk(im, in_fd, buf, p->buf_size, err);
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		if (im->req->total > 0 && im->size + (uint64_t)n >
		    im->req->total)
			return nem_err_set(err, EFBIG, "import image %s: the "
			    "input is longer than the announced %ju bytes",
			    im->label, (uintmax_t)im->req->total);

		keep_header(im, buf, (size_t)n);
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1)
			return nem_err_set(err, EIO, "import image %s: "
			    "SHA-256 update failed", im->label);
		im->size += (uint64_t)n;

		pthread_mutex_lock(&p->lock);
		p->len[slot] = (size_t)n;
		p->head = (p->head + 1) % IMPORT_BUF_COUNT;
		p->queued++;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);

		report_progress(im, &next_report);
	}
}

/*
 * Copies in_fd to im->tmp_fd and hashes it. The writer thread runs with
 * every signal blocked so that signals reach the daemon's own handling.
 */
static int
copy_and_hash(struct import *im, int in_fd, struct nem_err *err)
{
	unsigned char digest[STORE_DIGEST_LEN];
	struct pipeline p;
	pthread_t writer;
	sigset_t all, old;
	EVP_MD_CTX *md;
	int rc = -1, thread_rc, flags;

	memset(&p, 0, sizeof(p));
	p.out_fd = im->tmp_fd;
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	md = EVP_MD_CTX_new();

	/* O_DIRECT is optional: tmpfs, for one, may reject it. */
	flags = fcntl(p.out_fd, F_GETFL);
	if (flags != -1 && fcntl(p.out_fd, F_SETFL, flags | O_DIRECT) == 0)
		p.direct = true;
	p.buf_size = p.direct ? IMPORT_BUF_SIZE_DIRECT : IMPORT_BUF_SIZE_CACHED;

	p.buf[0] = aligned_alloc(IMPORT_DIRECT_ALIGN,
	    p.buf_size * IMPORT_BUF_COUNT);
	if (md == NULL || p.buf[0] == NULL) {
		nem_err_sys(err, ENOMEM, "import image %s: allocate buffers",
		    im->label);
		goto out;
	}
	for (size_t i = 1; i < IMPORT_BUF_COUNT; i++)
		p.buf[i] = p.buf[0] + i * p.buf_size;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		nem_err_set(err, EIO, "import image %s: SHA-256 init failed",
		    im->label);
		goto out;
	}
	(void)posix_fadvise(in_fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	thread_rc = pthread_create(&writer, NULL, writer_main, &p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (thread_rc != 0) {
		nem_err_sys(err, thread_rc, "import image %s: start the "
		    "writer thread", im->label);
		goto out;
	}

	rc = feed_pipeline(im, in_fd, &p, md, err);

	/* The writer drains what is queued (at most 32 MiB), then exits. */
	pthread_mutex_lock(&p.lock);
	p.input_done = true;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	pthread_join(writer, NULL);

	if (rc == 0 && p.write_errno != 0)
		rc = write_failed(im, p.write_errno, err);
	if (rc == 0) {
		if (EVP_DigestFinal_ex(md, digest, NULL) != 1) {
			rc = nem_err_set(err, EIO, "import image %s: SHA-256 "
			    "final failed", im->label);
		} else {
			store_sha256_hex(digest, im->sha256);
			if (im->req->progress != NULL)
				im->req->progress(im->req->progress_arg,
				    im->size, im->req->total);
		}
	}

out:
	EVP_MD_CTX_free(md);
	free(p.buf[0]);
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
	return rc;
}

static int
detect_fstype(struct import *im, struct nem_err *err)
{
	for (size_t i = 0; i < sizeof(fs_magics) / sizeof(fs_magics[0]); i++) {
		const struct fs_magic *m = &fs_magics[i];

		if (im->header_len < m->offset + m->len ||
		    memcmp(im->header + m->offset, m->bytes, m->len) != 0)
			continue;
		if (!m->supported)
			return nem_err_set(err, EINVAL, "import image %s: a "
			    "%s image, which this platform cannot mount",
			    im->label, m->fstype);
		im->fstype = m->fstype;
		return 0;
	}
	return nem_err_set(err, EINVAL, "import image %s: not a squashfs, "
	    "erofs or ext2/3/4 image (no known superblock magic in %ju "
	    "bytes); build it with mksquashfs, mkfs.erofs or mke2fs",
	    im->label, (uintmax_t)im->size);
}

/* Returns the digest stored for the name and version, or "" if none. */
static int
existing_digest(struct import *im, char out[STORE_SHA256_HEX_LEN + 1],
    struct nem_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	out[0] = '\0';
	if (db_prepare(im->store->db, "SELECT sha256 FROM images "
	    "WHERE name = ? AND version = ?", &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, im->req->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, im->version, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		snprintf(out, STORE_SHA256_HEX_LEN + 1, "%s",
		    (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(im->store->db, rc, "look up image", err);
	return 0;
}

/* Reads the committed row of the imported name and version into out. */
static int
read_image(struct import *im, struct store_image *out, struct nem_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (db_prepare(im->store->db, "SELECT " STORE_IMAGE_COLUMNS
	    " FROM images i JOIN image_files f USING (sha256) "
	    "WHERE i.name = ? AND i.version = ?", &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, im->req->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, im->version, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		store_read_image_row(stmt, out);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW)
		return db_fail(im->store->db, rc, "read the imported image",
		    err);
	return 0;
}

static int
reject_conflict(struct import *im, const char *stored, const char *new,
    struct nem_err *err)
{
	return nem_err_set(err, EEXIST, "import image %s: it exists with "
	    "sha256 %s, the new content has %s; images never change, so "
	    "import the new content under another version or name",
	    im->label, stored, new);
}

static int
bind_and_step(struct store *store, const char *sql, struct import *im,
    const char *what, struct nem_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (db_prepare(store->db, sql, &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, sqlite3_bind_parameter_index(stmt, ":sha256"),
	    im->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, sqlite3_bind_parameter_index(stmt, ":size"),
	    (sqlite3_int64)im->size);
	sqlite3_bind_text(stmt, sqlite3_bind_parameter_index(stmt, ":fstype"),
	    im->fstype, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt,
	    sqlite3_bind_parameter_index(stmt, ":created"),
	    (sqlite3_int64)time(NULL));
	sqlite3_bind_text(stmt, sqlite3_bind_parameter_index(stmt, ":name"),
	    im->req->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, sqlite3_bind_parameter_index(stmt, ":version"),
	    im->version, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return db_fail(store->db, rc, what, err);
	return 0;
}

/*
 * Moves the synced temporary file to images/sha256/<hex> and commits its
 * rows in one write transaction, so no other import can add a conflicting
 * row in between.
 */
static int
publish(struct import *im, struct nem_err *err)
{
	struct store *store = im->store;
	char stored[STORE_SHA256_HEX_LEN + 1];
	int had_file_row;

	if (db_begin(store->db, err) == -1)
		return -1;
	if (existing_digest(im, stored, err) == -1)
		goto fail;
	if (stored[0] != '\0' && strcmp(stored, im->sha256) != 0) {
		reject_conflict(im, stored, im->sha256, err);
		goto fail;
	}
	{
		sqlite3_stmt *stmt;

		if (db_prepare(store->db, "SELECT 1 FROM image_files WHERE "
		    "sha256 = ?", &stmt, err) == -1)
			goto fail;
		sqlite3_bind_text(stmt, 1, im->sha256, -1, SQLITE_STATIC);
		had_file_row = sqlite3_step(stmt) == SQLITE_ROW;
		sqlite3_finalize(stmt);
	}

	/*
	 * Replace the stored file even when one exists: the new bytes are
	 * known to match, the old ones may have been damaged since.
	 */
	if (renameat(store->tmp_dir_fd, im->tmp_name, store->sha256_dir_fd,
	    im->sha256) == -1) {
		nem_err_sys(err, errno, "import image %s: rename %s/tmp/%s to "
		    "%s/sha256/%s", im->label, store->images_dir, im->tmp_name,
		    store->images_dir, im->sha256);
		goto fail;
	}
	im->tmp_name[0] = '\0';
	store_forget_verified(store, im->sha256);
	store_step("import-renamed");
	if (store_sync_dir(store, store->sha256_dir_fd, "sha256", err) == -1)
		goto fail_published;
	store_step("import-dir-synced");

	if (bind_and_step(store, "INSERT INTO image_files (sha256, size, "
	    "fstype, created, bad) VALUES (:sha256, :size, :fstype, "
	    ":created, 0) ON CONFLICT (sha256) DO UPDATE SET bad = 0",
	    im, "insert image file row", err) == -1 ||
	    bind_and_step(store, "INSERT OR IGNORE INTO images (name, "
	    "version, sha256, created) VALUES (:name, :version, :sha256, "
	    ":created)", im, "insert image row", err) == -1 ||
	    db_commit(store->db, err) == -1)
		goto fail_published;
	store_step("import-committed");
	return 0;

fail_published:
	db_rollback(store->db);
	/* A new file that no committed row names must not stay visible. */
	if (!had_file_row &&
	    unlinkat(store->sha256_dir_fd, im->sha256, 0) == -1)
		log_warn("image store: %s/sha256/%s: cannot remove after a "
		    "failed import: %s; the next store open removes it",
		    store->images_dir, im->sha256, strerror(errno));
	nem_err_prefix(err, "import image %s", im->label);
	return -1;

fail:
	db_rollback(store->db);
	nem_err_prefix(err, "import image %s", im->label);
	return -1;
}

static int
create_tmp(struct import *im, struct nem_err *err)
{
	unsigned char random[16];
	char hex[2 * sizeof(random) + 1];

	if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random))
		return nem_err_sys(err, errno, "import image %s: getrandom",
		    im->label);
	for (size_t i = 0; i < sizeof(random); i++)
		snprintf(hex + 2 * i, 3, "%02x", random[i]);
	snprintf(im->tmp_name, sizeof(im->tmp_name), "import-%s", hex);

	im->tmp_fd = openat(im->store->tmp_dir_fd, im->tmp_name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (im->tmp_fd == -1) {
		int code = errno;

		im->tmp_name[0] = '\0';
		if (code == ENOSPC)
			return write_failed(im, code, err);
		return nem_err_sys(err, code, "import image %s: create a file "
		    "in %s/tmp", im->label, im->store->images_dir);
	}

	/* With a known size, a full disk shows before any copying. */
	if (im->req->total > 0) {
		int rc = posix_fallocate(im->tmp_fd, 0,
		    (off_t)im->req->total);

		if (rc == ENOSPC || rc == EDQUOT)
			return write_failed(im, rc, err);
	}
	store_step("import-tmp-created");
	return 0;
}

/* Checks the request and fills im's label, version and expected digest. */
static int
check_request(struct import *im, const struct store_import_req *req,
    struct nem_err *err)
{
	struct semver v;

	if (name_check("image", req->name, err) == -1)
		return -1;
	if (req->version != NULL && req->version[0] != '\0') {
		if (semver_parse(req->version, &v, err) == -1) {
			nem_err_prefix(err, "image %s", req->name);
			return -1;
		}
		snprintf(im->version, sizeof(im->version), "%s",
		    req->version);
	}
	snprintf(im->label, sizeof(im->label), "%s%s%s", req->name,
	    im->version[0] ? " " : "", im->version);
	if (req->sha256 != NULL && store_sha256_normalize("sha256",
	    req->sha256, im->expected, err) == -1) {
		nem_err_prefix(err, "image %s", im->label);
		return -1;
	}
	return 0;
}

int
store_import(struct store *store, int fd, const struct store_import_req *req,
    struct store_image *out, struct nem_err *err)
{
	char stored[STORE_SHA256_HEX_LEN + 1];
	struct import *im;
	int rc = -1;

	/* The header buffer makes this too large for the stack. */
	im = calloc(1, sizeof(*im));
	if (im == NULL)
		return nem_err_sys(err, ENOMEM, "import image");
	im->store = store;
	im->req = req;
	im->tmp_fd = -1;
	if (check_request(im, req, err) == -1)
		goto out;

	/* Fail before copying when the digest shows a conflict already. */
	if (im->expected[0] != '\0') {
		if (existing_digest(im, stored, err) == -1)
			goto out;
		if (stored[0] != '\0' && strcmp(stored, im->expected) != 0) {
			reject_conflict(im, stored, im->expected, err);
			goto out;
		}
	}

	if (create_tmp(im, err) == -1 || copy_and_hash(im, fd, err) == -1)
		goto out;
	store_step("import-written");
	if (req->total > 0 && im->size != req->total) {
		nem_err_set(err, EPIPE, "import image %s: the input ended "
		    "after %ju of %ju bytes", im->label, (uintmax_t)im->size,
		    (uintmax_t)req->total);
		goto out;
	}
	if (im->expected[0] != '\0' && strcmp(im->expected, im->sha256) != 0) {
		nem_err_set(err, EBADMSG, "import image %s: the content has "
		    "sha256 %s, not the expected %s; the transfer was damaged "
		    "or the digest is wrong", im->label, im->sha256,
		    im->expected);
		goto out;
	}
	if (detect_fstype(im, err) == -1)
		goto out;
	if (fchmod(im->tmp_fd, 0444) == -1 || fsync(im->tmp_fd) == -1) {
		if (errno == ENOSPC || errno == EDQUOT)
			write_failed(im, errno, err);
		else
			nem_err_sys(err, errno, "import image %s: sync %s/tmp/%s",
			    im->label, store->images_dir, im->tmp_name);
		goto out;
	}
	store_step("import-synced");

	if (publish(im, err) == -1)
		goto out;
	log_info("image store: %s: imported sha256 %s (%ju bytes, %s)",
	    im->label, im->sha256, (uintmax_t)im->size, im->fstype);
	rc = 0;
	if (out != NULL)
		rc = read_image(im, out, err);

out:
	if (im->tmp_fd != -1)
		close(im->tmp_fd);
	if (im->tmp_name[0] != '\0')
		(void)unlinkat(store->tmp_dir_fd, im->tmp_name, 0);
	free(im);
	return rc;
}
