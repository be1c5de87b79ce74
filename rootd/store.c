/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The image store's catalogue: opening and recovering the store directory,
 * lookup by name, version requirement and digest pin, listing, removal and
 * the jail references that block removal. Importing is in store_import.c,
 * verification, gc and store_open_image in store_check.c.
 *
 * Ordering rule that recovery relies on: a stored file is renamed into
 * images/sha256 before its row is committed, and its row is deleted before
 * the file is unlinked. So after a crash the only inconsistency possible is
 * a file without a row, which store_open deletes.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nem/log.h>

void (*store_test_hook)(const char *step);

void
store_step(const char *step)
{
	if (store_test_hook != NULL)
		store_test_hook(step);
}

bool
store_is_sha256_hex(const char *s)
{
	size_t i;

	for (i = 0; i < STORE_SHA256_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

int
store_sha256_normalize(const char *what, const char *in,
    char out[STORE_SHA256_HEX_LEN + 1], struct nem_err *err)
{
	size_t len = strnlen(in, STORE_SHA256_HEX_LEN + 1);

	if (len != STORE_SHA256_HEX_LEN)
		return nem_err_set(err, EINVAL, "invalid %s \"%.80s\": a "
		    "SHA-256 has %d hex digits", what, in,
		    STORE_SHA256_HEX_LEN);
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return nem_err_set(err, EINVAL, "invalid %s \"%s\": "
			    "byte %zu is not a hex digit", what, in, i);
		out[i] = c;
	}
	out[len] = '\0';
	return 0;
}

void
store_sha256_hex(const unsigned char digest[STORE_DIGEST_LEN],
    char out[STORE_SHA256_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < STORE_DIGEST_LEN; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0xf];
	}
	out[STORE_SHA256_HEX_LEN] = '\0';
}

int
store_sync_dir(struct store *store, int dir_fd, const char *dir_name,
    struct nem_err *err)
{
	if (fsync(dir_fd) == -1)
		return nem_err_sys(err, errno, "image store: fsync %s/%s",
		    store->images_dir, dir_name);
	return 0;
}

void
store_names_of(struct store *store, const char *sha256, char *buf,
    size_t size)
{
	sqlite3_stmt *stmt;
	size_t used = 0;
	int rc;

	snprintf(buf, size, "(unknown)");
	if (db_prepare(store->db, "SELECT name, version FROM images "
	    "WHERE sha256 = ? ORDER BY name, created", &stmt, NULL) == -1)
		return;
	sqlite3_bind_text(stmt, 1, sha256, -1, SQLITE_STATIC);
	buf[0] = '\0';
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && used < size) {
		const char *name = (const char *)sqlite3_column_text(stmt, 0);
		const char *version =
		    (const char *)sqlite3_column_text(stmt, 1);
		int n;

		n = snprintf(buf + used, size - used, "%s%s%s%s",
		    used > 0 ? ", " : "", name, version[0] ? " " : "",
		    version);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		snprintf(buf, size, "(unknown)");
	else if (buf[0] == '\0')
		snprintf(buf, size, "(no name)");
	sqlite3_finalize(stmt);
}

void
store_mark_bad(struct store *store, const char *sha256, bool bad)
{
	struct nem_err err;
	sqlite3_stmt *stmt;
	int rc;

	if (db_prepare(store->db, "UPDATE image_files SET bad = ? "
	    "WHERE sha256 = ?", &stmt, &err) == -1) {
		log_warn("image store: %s: %s", sha256, err.msg);
		return;
	}
	sqlite3_bind_int(stmt, 1, bad);
	sqlite3_bind_text(stmt, 2, sha256, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		db_fail(store->db, rc, bad ? "mark image file bad" :
		    "mark image file good", &err);
		log_warn("image store: %s: %s", sha256, err.msg);
	}
	sqlite3_finalize(stmt);
}

void
store_remember_verified(struct store *store, const char *sha256,
    const struct stat *st)
{
	struct store_verified *entry = NULL;

	for (size_t i = 0; i < store->nverified; i++)
		if (strcmp(store->verified[i].sha256, sha256) == 0)
			entry = &store->verified[i];
	if (entry == NULL) {
		if (store->nverified == store->verified_cap) {
			size_t cap = store->verified_cap ?
			    store->verified_cap * 2 : 16;
			struct store_verified *grown;

			grown = reallocarray(store->verified, cap,
			    sizeof(*grown));
			if (grown == NULL)
				return;	/* the file is hashed again next time */
			store->verified = grown;
			store->verified_cap = cap;
		}
		entry = &store->verified[store->nverified++];
	}
	memcpy(entry->sha256, sha256, sizeof(entry->sha256));
	entry->dev = st->st_dev;
	entry->ino = st->st_ino;
	entry->size = st->st_size;
	entry->ctime = st->st_ctim;
}

void
store_forget_verified(struct store *store, const char *sha256)
{
	for (size_t i = 0; i < store->nverified; i++) {
		if (strcmp(store->verified[i].sha256, sha256) != 0)
			continue;
		store->verified[i] = store->verified[--store->nverified];
		return;
	}
}

/* Opens dir_name below parent_fd, creating it with mode when missing. */
static int
open_subdir(struct store *store, int parent_fd, const char *parent_name,
    const char *dir_name, mode_t mode, int *out, struct nem_err *err)
{
	int fd;

	if (mkdirat(parent_fd, dir_name, mode) == -1 && errno != EEXIST)
		return nem_err_sys(err, errno, "image store: create %s/%s",
		    parent_name, dir_name);
	fd = openat(parent_fd, dir_name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return nem_err_sys(err, errno, "image store: open %s/%s",
		    parent_name, dir_name);
	*out = fd;
	return 0;
}

/* Returns 1 when image_files has a row for sha256, 0 if not, -1 on error. */
static int
file_row_exists(struct store *store, const char *sha256, struct nem_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (db_prepare(store->db, "SELECT 1 FROM image_files "
	    "WHERE sha256 = ?", &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, sha256, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_fail(store->db, rc, "look up image file", err);
}

/*
 * Deletes every entry of images/tmp (imports that did not finish) and every
 * digest-named file in images/sha256 without a row (a crash between rename
 * and commit of an import, or between commit and unlink of a removal).
 */
static int
recover(struct store *store, struct nem_err *err)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	fd = openat(store->tmp_dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return nem_err_sys(err, errno, "image store: read %s/tmp",
		    store->images_dir);
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(store->tmp_dir_fd, de->d_name, 0) == -1)
			log_warn("image store: %s/tmp/%s: cannot remove the "
			    "file of an unfinished import: %s",
			    store->images_dir, de->d_name, strerror(errno));
		else
			log_info("image store: %s/tmp/%s: removed the file of "
			    "an unfinished import", store->images_dir,
			    de->d_name);
	}
	closedir(dir);

	fd = openat(store->sha256_dir_fd, ".",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return nem_err_sys(err, errno, "image store: read %s/sha256",
		    store->images_dir);
	}
	while ((de = readdir(dir)) != NULL) {
		int exists;

		if (!store_is_sha256_hex(de->d_name))
			continue;	/* reported by store_gc */
		exists = file_row_exists(store, de->d_name, err);
		if (exists == -1) {
			closedir(dir);
			return -1;
		}
		if (exists)
			continue;
		if (unlinkat(store->sha256_dir_fd, de->d_name, 0) == -1)
			log_warn("image store: %s/sha256/%s: cannot remove a "
			    "file without an image row: %s",
			    store->images_dir, de->d_name, strerror(errno));
		else
			log_info("image store: %s/sha256/%s: removed a file "
			    "without an image row (interrupted import or "
			    "removal)", store->images_dir, de->d_name);
	}
	closedir(dir);
	return 0;
}

/* Opens the store's folders without recovering leftovers. */
static struct store *
open_store(struct db *db, const char *state_dir, struct nem_err *err)
{
	struct store *store;
	int state_fd = -1, images_fd = -1;

	store = calloc(1, sizeof(*store));
	if (store == NULL) {
		nem_err_sys(err, ENOMEM, "image store");
		return NULL;
	}
	store->db = db;
	store->sha256_dir_fd = -1;
	store->tmp_dir_fd = -1;
	if ((size_t)snprintf(store->images_dir, sizeof(store->images_dir),
	    "%s/images", state_dir) >= sizeof(store->images_dir)) {
		nem_err_set(err, ENAMETOOLONG, "image store: state directory "
		    "path %s is too long", state_dir);
		goto fail;
	}

	state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (state_fd == -1) {
		nem_err_sys(err, errno, "image store: open state directory %s",
		    state_dir);
		goto fail;
	}
	if (open_subdir(store, state_fd, state_dir, "images", 0755,
	    &images_fd, err) == -1 ||
	    open_subdir(store, images_fd, store->images_dir, "sha256", 0755,
	    &store->sha256_dir_fd, err) == -1 ||
	    open_subdir(store, images_fd, store->images_dir, "tmp", 0700,
	    &store->tmp_dir_fd, err) == -1)
		goto fail;
	close(images_fd);
	close(state_fd);
	return store;

fail:
	if (images_fd != -1)
		close(images_fd);
	if (state_fd != -1)
		close(state_fd);
	store_close(store);
	return NULL;
}

struct store *
store_open(struct db *db, const char *state_dir, struct nem_err *err)
{
	struct store *store = open_store(db, state_dir, err);

	if (store != NULL && recover(store, err) == -1) {
		store_close(store);
		return NULL;
	}
	return store;
}

struct store *
store_attach(struct db *db, const char *state_dir, struct nem_err *err)
{
	return open_store(db, state_dir, err);
}

void
store_close(struct store *store)
{
	if (store == NULL)
		return;
	if (store->sha256_dir_fd != -1)
		close(store->sha256_dir_fd);
	if (store->tmp_dir_fd != -1)
		close(store->tmp_dir_fd);
	free(store->verified);
	free(store);
}

/* Lookup and listing. */

void
store_read_image_row(sqlite3_stmt *stmt, struct store_image *out)
{
	const char *text;

	memset(out, 0, sizeof(*out));
	text = (const char *)sqlite3_column_text(stmt, 0);
	snprintf(out->name, sizeof(out->name), "%s", text ? text : "");
	text = (const char *)sqlite3_column_text(stmt, 1);
	snprintf(out->version, sizeof(out->version), "%s", text ? text : "");
	text = (const char *)sqlite3_column_text(stmt, 2);
	snprintf(out->sha256, sizeof(out->sha256), "%s", text ? text : "");
	out->size = (uint64_t)sqlite3_column_int64(stmt, 3);
	text = (const char *)sqlite3_column_text(stmt, 4);
	snprintf(out->fstype, sizeof(out->fstype), "%s", text ? text : "");
	out->created = sqlite3_column_int64(stmt, 5);
	out->bad = sqlite3_column_int(stmt, 6) != 0;
	out->sequence = sqlite3_column_int64(stmt, 7);
}

/* Runs a prepared SELECT of STORE_IMAGE_COLUMNS into a malloc'ed array. */
static int
collect_images(struct store *store, sqlite3_stmt *stmt,
    struct store_image **out, size_t *count, struct nem_err *err)
{
	struct store_image *images = NULL;
	size_t n = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == cap) {
			struct store_image *grown;

			cap = cap ? cap * 2 : 8;
			grown = reallocarray(images, cap, sizeof(*grown));
			if (grown == NULL) {
				free(images);
				return nem_err_sys(err, ENOMEM,
				    "image store: list images");
			}
			images = grown;
		}
		store_read_image_row(stmt, &images[n++]);
	}
	if (rc != SQLITE_DONE) {
		free(images);
		return db_fail(store->db, rc, "read images", err);
	}
	*out = images;
	*count = n;
	return 0;
}

/*
 * Orders images by rank, lowest first: no version below any version, then
 * semver precedence, then the older import first (by time, then by row
 * order), then version text and name. Used with qsort, so it must be a total order.
 */
static int
compare_rank(const void *pa, const void *pb)
{
	const struct store_image *a = pa, *b = pb;
	struct semver va, vb;
	int c;

	if ((a->version[0] != '\0') != (b->version[0] != '\0'))
		return a->version[0] != '\0' ? 1 : -1;
	if (a->version[0] != '\0' &&
	    semver_parse(a->version, &va, NULL) == 0 &&
	    semver_parse(b->version, &vb, NULL) == 0 &&
	    (c = semver_cmp(&va, &vb)) != 0)
		return c;
	if (a->created != b->created)
		return a->created < b->created ? -1 : 1;
	if (a->sequence != b->sequence)
		return a->sequence < b->sequence ? -1 : 1;
	if ((c = strcmp(a->version, b->version)) != 0)
		return c;
	return strcmp(a->name, b->name);
}

/* Lists "1.0.0, 1.2.3" (or with digests) of images[0..n) into buf. */
static void
format_available(const struct store_image *images, size_t n,
    bool with_digest, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++) {
		const struct store_image *image = &images[i];
		int len;

		len = snprintf(buf + used, size - used, "%s%s%s%.12s%s",
		    used > 0 ? ", " : "",
		    image->version[0] ? image->version : "(no version)",
		    with_digest ? " (sha256 " : "",
		    with_digest ? image->sha256 : "",
		    with_digest ? "...)" : "");
		if (len < 0)
			break;
		used += (size_t)len;
	}
}

/* Keeps the images for which keep() is true, in order. */
static size_t
filter_images(struct store_image *images, size_t n,
    bool (*keep)(const struct store_image *, const void *), const void *arg)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++)
		if (keep(&images[i], arg))
			images[kept++] = images[i];
	return kept;
}

static bool
matches_requirement(const struct store_image *image, const void *arg)
{
	struct semver v;

	if (image->version[0] == '\0' ||
	    semver_parse(image->version, &v, NULL) == -1)
		return false;
	return semver_req_match(arg, &v);
}

static bool
matches_digest(const struct store_image *image, const void *arg)
{
	return strcmp(image->sha256, arg) == 0;
}

/*
 * Narrows candidates[0..*n) (sorted lowest rank first for the messages) by
 * requirement and pin; fails naming what exists when nothing is left.
 */
static int
select_image(const char *label, const char *requirement,
    const struct semver_req *req, const char *pin,
    struct store_image *candidates, size_t n, struct store_image *out,
    struct nem_err *err)
{
	char available[NEM_ERR_MSG_MAX];
	size_t all = n;

	format_available(candidates, all, pin != NULL, available,
	    sizeof(available));
	if (req != NULL) {
		n = filter_images(candidates, n, matches_requirement, req);
		if (n == 0)
			return nem_err_set(err, ENOENT, "image %s: no version "
			    "matches %s; available: %s", label, requirement,
			    available);
	}
	if (pin != NULL) {
		n = filter_images(candidates, n, matches_digest, pin);
		if (n == 0)
			return nem_err_set(err, ENOENT, "image %s: no %s"
			    "version has the pinned sha256 %s; available: %s",
			    label, req != NULL ? "matching " : "", pin,
			    available);
	}
	*out = candidates[n - 1];
	return 0;
}

int
store_lookup(struct store *store, const char *name, const char *requirement,
    const char *sha256_pin, struct store_image *out, struct nem_err *err)
{
	char pin[STORE_SHA256_HEX_LEN + 1];
	struct semver_req *req = NULL;
	struct store_image *candidates = NULL;
	sqlite3_stmt *stmt;
	size_t n = 0;
	int rc;

	if (name == NULL && sha256_pin == NULL)
		return nem_err_set(err, EINVAL, "image lookup: give a name, "
		    "a sha256 or both");
	if (name != NULL && name_check("image", name, err) == -1)
		return -1;
	if (sha256_pin != NULL && store_sha256_normalize("sha256 pin",
	    sha256_pin, pin, err) == -1)
		return -1;
	if (requirement != NULL) {
		req = semver_req_parse(requirement, err);
		if (req == NULL) {
			nem_err_prefix(err, "image %s", name ? name : pin);
			return -1;
		}
	}

	if (db_prepare(store->db, name != NULL ?
	    "SELECT " STORE_IMAGE_COLUMNS " FROM images i JOIN image_files f "
	    "USING (sha256) WHERE i.name = ?" :
	    "SELECT " STORE_IMAGE_COLUMNS " FROM images i JOIN image_files f "
	    "USING (sha256) WHERE i.sha256 = ?", &stmt, err) == -1)
		goto fail;
	sqlite3_bind_text(stmt, 1, name != NULL ? name : pin, -1,
	    SQLITE_STATIC);
	rc = collect_images(store, stmt, &candidates, &n, err);
	sqlite3_finalize(stmt);
	if (rc == -1)
		goto fail;
	if (n == 0) {
		if (name != NULL)
			nem_err_set(err, ENOENT, "image %s not found; import "
			    "it first", name);
		else
			nem_err_set(err, ENOENT, "no image has sha256 %s; "
			    "import it first", pin);
		goto fail;
	}

	/* Lowest rank first, so the best candidate is the last one. */
	qsort(candidates, n, sizeof(*candidates), compare_rank);
	if (select_image(name != NULL ? name : pin, requirement, req,
	    sha256_pin != NULL ? pin : NULL, candidates, n, out, err) == -1)
		goto fail;

	free(candidates);
	semver_req_free(req);
	return 0;

fail:
	free(candidates);
	semver_req_free(req);
	return -1;
}

static int
compare_for_list(const void *pa, const void *pb)
{
	const struct store_image *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	if (c != 0)
		return c;
	return compare_rank(pa, pb);
}

int
store_list(struct store *store, struct store_image **out, size_t *count,
    struct nem_err *err)
{
	struct store_image *images;
	sqlite3_stmt *stmt;
	size_t n;
	int rc;

	if (db_prepare(store->db, "SELECT " STORE_IMAGE_COLUMNS " FROM images i "
	    "JOIN image_files f USING (sha256)", &stmt, err) == -1)
		return -1;
	rc = collect_images(store, stmt, &images, &n, err);
	sqlite3_finalize(stmt);
	if (rc == -1)
		return -1;
	if (n > 0)
		qsort(images, n, sizeof(*images), compare_for_list);

	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (fstatat(store->sha256_dir_fd, images[i].sha256, &st,
		    AT_SYMLINK_NOFOLLOW) == -1)
			images[i].file_state = STORE_FILE_MISSING;
		else if (!S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size != images[i].size)
			images[i].file_state = STORE_FILE_CHANGED;
		else
			images[i].file_state = STORE_FILE_OK;
	}
	*out = images;
	*count = n;
	return 0;
}

/* Removal and references. */

/*
 * Fails with EBUSY when a jail uses sha256, naming the jails. Returns 0
 * when none does.
 */
static int
check_unused(struct store *store, const struct store_image *image,
    struct nem_err *err)
{
	char jails[NEM_ERR_MSG_MAX / 2];
	sqlite3_stmt *stmt;
	size_t used = 0;
	bool shared;
	int rc;

	if (db_prepare(store->db, "SELECT jail FROM image_refs "
	    "WHERE sha256 = ? ORDER BY jail", &stmt, err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, image->sha256, -1, SQLITE_STATIC);
	jails[0] = '\0';
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW &&
	    used < sizeof(jails)) {
		int n = snprintf(jails + used, sizeof(jails) - used, "%s%s",
		    used > 0 ? ", " : "", sqlite3_column_text(stmt, 0));

		if (n < 0)
			break;
		used += (size_t)n;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_fail(store->db, rc, "read image references", err);
	if (used == 0)
		return 0;

	/* References record files, not names, so name the sharing in the error. */
	if (db_prepare(store->db, "SELECT count(*) FROM images WHERE "
	    "sha256 = ?1 AND NOT (name = ?2 AND version = ?3)", &stmt,
	    err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, image->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, image->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, image->version, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	shared = rc == SQLITE_ROW && sqlite3_column_int64(stmt, 0) > 0;
	sqlite3_finalize(stmt);
	if (shared)
		return nem_err_set(err, EBUSY, "image %s%s%s shares its file "
		    "with other image names, and jails %s use that file; "
		    "image rm refuses any name of a file in use, so stop or "
		    "remove those jails first", image->name,
		    image->version[0] ? " " : "", image->version, jails);
	return nem_err_set(err, EBUSY, "image %s%s%s is in use by jails: %s; "
	    "remove it from their descriptions first", image->name,
	    image->version[0] ? " " : "", image->version, jails);
}

/* Runs one statement with up to two text parameters; expects no rows. */
static int
run_statement(struct store *store, const char *sql, const char *a,
    const char *b, const char *what, struct nem_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (db_prepare(store->db, sql, &stmt, err) == -1)
		return -1;
	if (a != NULL)
		sqlite3_bind_text(stmt, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(stmt, 2, b, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return db_fail(store->db, rc, what, err);
	return 0;
}

/*
 * Deletes the row of image, and the row of its file when no other name uses
 * it, in one transaction. Sets *unlink_file when the file must go.
 */
static int
delete_rows(struct store *store, const struct store_image *image,
    bool *unlink_file, struct nem_err *err)
{
	int others;

	if (db_begin(store->db, err) == -1)
		return -1;
	if (check_unused(store, image, err) == -1 ||
	    run_statement(store, "DELETE FROM images WHERE name = ? AND "
	    "version = ?", image->name, image->version, "delete image row",
	    err) == -1)
		goto fail;

	others = 0;
	{
		sqlite3_stmt *stmt;
		int rc;

		if (db_prepare(store->db, "SELECT count(*) FROM images "
		    "WHERE sha256 = ?", &stmt, err) == -1)
			goto fail;
		sqlite3_bind_text(stmt, 1, image->sha256, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			others = sqlite3_column_int(stmt, 0);
		sqlite3_finalize(stmt);
		if (rc != SQLITE_ROW) {
			db_fail(store->db, rc, "count image names", err);
			goto fail;
		}
	}
	*unlink_file = others == 0;
	if (*unlink_file && run_statement(store, "DELETE FROM image_files "
	    "WHERE sha256 = ?", image->sha256, NULL,
	    "delete image file row", err) == -1)
		goto fail;
	return db_commit(store->db, err);

fail:
	db_rollback(store->db);
	return -1;
}

/* Finds the single image to remove for name and version (NULL: the only). */
static int
find_for_removal(struct store *store, const char *name, const char *version,
    struct store_image *out, struct nem_err *err)
{
	struct store_image *images;
	sqlite3_stmt *stmt;
	char available[NEM_ERR_MSG_MAX / 2];
	size_t n;
	int rc;

	if (db_prepare(store->db, "SELECT " STORE_IMAGE_COLUMNS " FROM images i "
	    "JOIN image_files f USING (sha256) WHERE i.name = ?", &stmt,
	    err) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	rc = collect_images(store, stmt, &images, &n, err);
	sqlite3_finalize(stmt);
	if (rc == -1)
		return -1;
	if (n == 0)
		return nem_err_set(err, ENOENT, "image %s not found", name);
	qsort(images, n, sizeof(*images), compare_rank);

	if (version == NULL) {
		if (n > 1) {
			format_available(images, n, false, available,
			    sizeof(available));
			free(images);
			return nem_err_set(err, EINVAL, "image %s has %zu "
			    "versions (%s); name the version to remove", name,
			    n, available);
		}
		*out = images[0];
		free(images);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(images[i].version, version) == 0) {
			*out = images[i];
			free(images);
			return 0;
		}
	}
	format_available(images, n, false, available, sizeof(available));
	free(images);
	return nem_err_set(err, ENOENT, "image %s has no version \"%s\"; "
	    "available: %s", name, version, available);
}

int
store_remove(struct store *store, const char *name, const char *version,
    struct nem_err *err)
{
	struct store_image image;
	struct nem_err local_err, sync_err;
	bool unlink_file = false;
	int rc;

	if (name_check("image", name, err) == -1)
		return -1;
	if (find_for_removal(store, name, version, &image, err) == -1)
		return -1;

	/*
	 * Deleting rows needs room in the WAL. On a full disk, give the
	 * database its reserve back and try once more: removal is how an
	 * operator frees space, so it must not fail for lack of it.
	 */
	rc = delete_rows(store, &image, &unlink_file, &local_err);
	if (rc == -1 && local_err.code == ENOSPC &&
	    db_reserve_release(store->db))
		rc = delete_rows(store, &image, &unlink_file, &local_err);
	if (rc == -1) {
		if (err != NULL)
			*err = local_err;
		nem_err_prefix(err, "remove image %s", name);
		return -1;
	}
	store_step("remove-committed");

	if (unlink_file) {
		store_forget_verified(store, image.sha256);
		if (unlinkat(store->sha256_dir_fd, image.sha256, 0) == -1 &&
		    errno != ENOENT)
			log_warn("image store: %s/sha256/%s: cannot remove "
			    "the file of image %s: %s; store_gc retries",
			    store->images_dir, image.sha256, name,
			    strerror(errno));
		else if (store_sync_dir(store, store->sha256_dir_fd, "sha256",
		    &sync_err) == -1)
			log_warn("%s", sync_err.msg);
		store_step("remove-unlinked");
	}
	log_info("image store: %s%s%s: removed", name,
	    image.version[0] ? " " : "", image.version);
	db_reserve_restore(store->db);
	return 0;
}

int
store_refs_set(struct store *store, const char *jail,
    const char *const *sha256, size_t count, struct nem_err *err)
{
	char digest[STORE_SHA256_HEX_LEN + 1];

	if (name_check("jail", jail, err) == -1)
		return -1;
	if (db_begin(store->db, err) == -1)
		return -1;
	if (run_statement(store, "DELETE FROM image_refs WHERE jail = ?",
	    jail, NULL, "delete image references", err) == -1)
		goto fail;
	for (size_t i = 0; i < count; i++) {
		int exists;

		if (store_sha256_normalize("image sha256", sha256[i], digest,
		    err) == -1)
			goto fail;
		exists = file_row_exists(store, digest, err);
		if (exists == -1)
			goto fail;
		if (!exists) {
			nem_err_set(err, ENOENT, "no image has sha256 %s; "
			    "import it before applying the jail", digest);
			goto fail;
		}
		if (run_statement(store, "INSERT OR IGNORE INTO image_refs "
		    "(jail, sha256) VALUES (?, ?)", jail, digest,
		    "insert image reference", err) == -1)
			goto fail;
	}
	if (db_commit(store->db, err) == -1)
		goto fail;
	return 0;

fail:
	db_rollback(store->db);
	nem_err_prefix(err, "jail %s: record images", jail);
	return -1;
}

int
store_refs_prune(struct store *store, const char *const *keep, size_t nkeep,
    struct nem_err *err)
{
	sqlite3_stmt *stmt;
	char **gone = NULL, **grown;
	size_t ngone = 0, cap = 0;
	int rc, ret = 0;

	if (db_prepare(store->db, "SELECT DISTINCT jail FROM image_refs",
	    &stmt, err) == -1)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *jail = (const char *)sqlite3_column_text(stmt, 0);
		bool kept = jail == NULL;

		for (size_t i = 0; i < nkeep && !kept; i++)
			kept = strcmp(keep[i], jail) == 0;
		if (kept)
			continue;
		if (ngone == cap) {
			cap = cap ? cap * 2 : 8;
			grown = reallocarray(gone, cap, sizeof(*gone));
			if (grown == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			gone = grown;
		}
		gone[ngone] = strdup(jail);
		if (gone[ngone] == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		ngone++;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		ret = db_fail(store->db, rc, "read image references", err);

	for (size_t i = 0; i < ngone; i++) {
		if (ret == 0 && run_statement(store, "DELETE FROM image_refs "
		    "WHERE jail = ?", gone[i], NULL, "delete image references",
		    err) == -1)
			ret = -1;
		else if (ret == 0)
			log_info("jail %s: its description is gone; the images "
			    "it used are no longer kept for it", gone[i]);
		free(gone[i]);
	}
	free(gone);
	return ret;
}

int
store_refs_clear(struct store *store, const char *jail, struct nem_err *err)
{
	if (name_check("jail", jail, err) == -1)
		return -1;
	if (run_statement(store, "DELETE FROM image_refs WHERE jail = ?",
	    jail, NULL, "delete image references", err) == -1) {
		nem_err_prefix(err, "jail %s: forget images", jail);
		return -1;
	}
	return 0;
}
