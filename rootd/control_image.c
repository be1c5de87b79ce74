/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The imghost service of the control plane: list-images, list-versions,
 * add-image (the image file passed as a descriptor, progress streamed as
 * CONTINUE replies), get-image, remove, verify and gc, all on the image
 * store.
 *
 * add-image runs the import in a worker thread with its own database
 * connection and store handle, one import at a time. The thread sends its
 * progress to the event loop through a pipe, so the daemon keeps serving
 * while an image is copied and hashed.
 *
 * Limitations:
 * NOTE: verify and gc run on the event loop thread, so the daemon serves
 * no other request until they finish (seconds for large images).
 */
#include "control_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/log.h>
#include <nem/proto.h>

#include "db.h"
#include "store.h"

static const char *
file_state_name(enum store_file_state s)
{
	switch (s) {
	case STORE_FILE_OK:
		return "ok";
	case STORE_FILE_MISSING:
		return "missing";
	case STORE_FILE_CHANGED:
		return "changed";
	}
	return "unknown";
}

static void
append_image(bson_t *doc, const char *key, const struct store_image *im,
    bool with_file_state)
{
	bson_t sub;

	BSON_APPEND_DOCUMENT_BEGIN(doc, key, &sub);
	BSON_APPEND_UTF8(&sub, "name", im->name);
	BSON_APPEND_UTF8(&sub, "version", im->version);
	BSON_APPEND_UTF8(&sub, "sha256", im->sha256);
	BSON_APPEND_INT64(&sub, "size", (int64_t)im->size);
	BSON_APPEND_UTF8(&sub, "fstype", im->fstype);
	BSON_APPEND_INT64(&sub, "created", im->created);
	BSON_APPEND_BOOL(&sub, "bad", im->bad);
	if (with_file_state)
		BSON_APPEND_UTF8(&sub, "file", file_state_name(im->file_state));
	bson_append_document_end(doc, &sub);
}

/* Fails t when the store is not available; returns true then. */
static bool
no_store(struct control *ctl, struct nem_txn *t)
{
	if (ctl->p.store != NULL)
		return false;
	nem_txn_fail(t, NEM_E_UNAVAILABLE, "the image store is not open; "
	    "see the daemon's log", NULL);
	return true;
}

static void
on_list_images(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct store_image *v;
	struct nem_err err;
	size_t n;
	bson_t doc = BSON_INITIALIZER, arr;
	char key[24];

	if (control_parse(t, msg, &req) == -1 || no_store(ctl, t))
		return;
	if (store_list(ctl->p.store, &v, &n, &err) == -1) {
		control_fail(t, &err);
		return;
	}
	BSON_APPEND_ARRAY_BEGIN(&doc, "images", &arr);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%zu", i);
		append_image(&arr, key, &v[i], true);
	}
	bson_append_array_end(&doc, &arr);
	control_reply(t, &doc, false);
	bson_destroy(&doc);
	free(v);
}

static void
on_list_versions(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct store_image *v;
	struct nem_err err;
	const char *name;
	size_t n, k = 0;
	bson_t doc = BSON_INITIALIZER, arr;
	char key[24];

	if (control_parse(t, msg, &req) == -1 ||
	    control_get_str(t, &req, "name", true, "image", &name) == -1 ||
	    no_store(ctl, t))
		return;
	if (store_list(ctl->p.store, &v, &n, &err) == -1) {
		control_fail(t, &err);
		return;
	}
	BSON_APPEND_UTF8(&doc, "name", name);
	BSON_APPEND_ARRAY_BEGIN(&doc, "versions", &arr);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, name) != 0)
			continue;
		snprintf(key, sizeof(key), "%zu", k++);
		append_image(&arr, key, &v[i], true);
	}
	bson_append_array_end(&doc, &arr);
	free(v);
	if (k == 0) {
		bson_destroy(&doc);
		nem_txn_fail(t, NEM_E_NOT_FOUND, "no image has this name; "
		    "imghost.list-images shows the images", NULL);
		return;
	}
	control_reply(t, &doc, false);
	bson_destroy(&doc);
}

/* Sends one CONTINUE reply with the import's progress. */
static void
reply_progress(struct nem_txn *t, uint64_t done, uint64_t total)
{
	bson_t doc = BSON_INITIALIZER;

	BSON_APPEND_INT64(&doc, "done", (int64_t)done);
	BSON_APPEND_INT64(&doc, "total", (int64_t)total);
	control_reply(t, &doc, true);
	bson_destroy(&doc);
}

/* Progress of an import on the event loop thread. */
static void
on_progress(void *arg, uint64_t done, uint64_t total)
{
	reply_progress(arg, done, total);
}

/* Sends the final reply of an import. */
static void
reply_imported(struct nem_txn *t, int rc, const struct store_image *im,
    const struct nem_err *err)
{
	bson_t doc = BSON_INITIALIZER;

	if (rc == -1) {
		log_errx("control: import failed: %s", err->msg);
		control_fail(t, err);
		return;
	}
	log_info("control: imported image %s %s sha256 %s (%" PRIu64
	    " bytes)", im->name, im->version, im->sha256, im->size);
	append_image(&doc, "image", im, false);
	BSON_APPEND_UTF8(&doc, "sha256", im->sha256);
	control_reply(t, &doc, false);
	bson_destroy(&doc);
}

/*
 * A message from the import thread to the event loop, written to the pipe
 * in one write(2) of fewer than PIPE_BUF bytes, so it arrives whole.
 */
struct import_msg {
	uint64_t done;
	uint64_t total;
	uint8_t final;		/* 1: the import returned; see job->rc */
};

/* An add-image import running in a worker thread. */
struct import_job {
	struct control *ctl;
	struct nem_txn *t;		/* NULL once the client cancelled */
	int fd;				/* the image file, owned */
	int pipe[2];			/* thread -> event loop */
	struct event *ev;
	pthread_t thread;
	bool started;
	bool finished;			/* the final message was read */
	char name[NAME_MAX_LEN + 1];
	char version[SEMVER_MAX_LEN + 1];
	char sha256[STORE_SHA256_HEX_LEN + 1];
	bool has_version;
	bool has_sha256;
	uint64_t total;
	/* Written by the thread before its final message. */
	int rc;
	struct nem_err err;
	struct store_image im;
};

static void
post(struct import_job *job, uint64_t done, uint64_t total, uint8_t final)
{
	struct import_msg m = { .done = done, .total = total, .final = final };
	ssize_t n;

	do {
		n = write(job->pipe[1], &m, sizeof(m));
	} while (n == -1 && errno == EINTR);
}

static void
on_thread_progress(void *arg, uint64_t done, uint64_t total)
{
	post(arg, done, total, 0);
}

static void *
import_thread(void *arg)
{
	struct import_job *job = arg;
	struct store_import_req ir = {
		.name = job->name,
		.version = job->has_version ? job->version : NULL,
		.sha256 = job->has_sha256 ? job->sha256 : NULL,
		.total = job->total,
		.progress = on_thread_progress,
		.progress_arg = job,
	};
	struct db *db;
	struct store *store = NULL;

	/* The event loop's handles belong to its thread: open our own. */
	job->rc = -1;
	db = db_open(job->ctl->p.state_dir, &job->err);
	if (db != NULL)
		store = store_open(db, job->ctl->p.state_dir, &job->err);
	if (store != NULL)
		job->rc = store_import(store, job->fd, &ir, &job->im,
		    &job->err);
	store_close(store);
	db_close(db);
	post(job, 0, 0, 1);
	return NULL;
}

static void
job_free(struct import_job *job)
{
	if (job->started)
		pthread_join(job->thread, NULL);
	if (job->ev != NULL)
		event_free(job->ev);
	if (job->pipe[0] != -1)
		close(job->pipe[0]);
	if (job->pipe[1] != -1)
		close(job->pipe[1]);
	if (job->fd != -1)
		close(job->fd);
	if (job->ctl->import == job)
		job->ctl->import = NULL;
	free(job);
}

static void
on_import_readable(evutil_socket_t fd, short what, void *arg)
{
	struct import_job *job = arg;
	struct import_msg m;
	ssize_t n;

	for (;;) {
		n = read(job->pipe[0], &m, sizeof(m));
		if (n == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(m))
			return;
		if (!m.final) {
			if (job->t != NULL)
				reply_progress(job->t, m.done, m.total);
			continue;
		}
		job->finished = true;
		pthread_join(job->thread, NULL);
		job->started = false;
		if (job->t != NULL) {
			nem_txn_on_cancel(job->t, NULL, NULL);
			reply_imported(job->t, job->rc, &job->im, &job->err);
		}
		job_free(job);
		return;
	}
}

static void
on_import_cancel(struct nem_txn *t, int64_t code, void *arg)
{
	struct import_job *job = arg;

	/* The import cannot be interrupted; it finishes unobserved. */
	log_info("control: client left during the import of %s; the import "
	    "continues", job->name);
	job->t = NULL;
}

/*
 * Starts the import of fd (owned from here on) in a worker thread. Returns
 * 0, or -1 with err (and fd closed).
 */
static int
start_import(struct control *ctl, struct nem_txn *t, int fd,
    const struct store_import_req *ir, struct nem_err *err)
{
	struct import_job *job = calloc(1, sizeof(*job));
	int rc;

	if (job == NULL) {
		close(fd);
		return nem_err_sys(err, ENOMEM, "import %s", ir->name);
	}
	job->ctl = ctl;
	job->t = t;
	job->fd = fd;
	job->pipe[0] = job->pipe[1] = -1;
	snprintf(job->name, sizeof(job->name), "%s", ir->name);
	if (ir->version != NULL) {
		job->has_version = true;
		snprintf(job->version, sizeof(job->version), "%s",
		    ir->version);
	}
	if (ir->sha256 != NULL) {
		job->has_sha256 = true;
		snprintf(job->sha256, sizeof(job->sha256), "%s", ir->sha256);
	}
	job->total = ir->total;
	if (strlen(ir->name) >= sizeof(job->name) || (ir->version != NULL &&
	    strlen(ir->version) >= sizeof(job->version)) ||
	    (ir->sha256 != NULL && strlen(ir->sha256) >= sizeof(job->sha256))) {
		job_free(job);
		return nem_err_set(err, EINVAL, "import %.64s: the name, "
		    "version or sha256 is too long", ir->name);
	}
	if (pipe2(job->pipe, O_CLOEXEC) == -1 ||
	    fcntl(job->pipe[0], F_SETFL, O_NONBLOCK) == -1) {
		nem_err_sys(err, errno, "import %s: create pipe", ir->name);
		job_free(job);
		return -1;
	}
	job->ev = event_new(ctl->p.base, job->pipe[0], EV_READ | EV_PERSIST,
	    on_import_readable, job);
	if (job->ev == NULL || event_add(job->ev, NULL) == -1) {
		job_free(job);
		return nem_err_set(err, ENOMEM, "import %s: add the pipe to "
		    "the event loop failed", ir->name);
	}
	rc = pthread_create(&job->thread, NULL, import_thread, job);
	if (rc != 0) {
		job_free(job);
		return nem_err_sys(err, rc, "import %s: start thread",
		    ir->name);
	}
	job->started = true;
	ctl->import = job;
	nem_txn_on_cancel(t, on_import_cancel, job);
	return 0;
}

static void verify_shutdown(struct control *ctl);

void
control_image_shutdown(struct control *ctl)
{
	struct import_job *job = ctl->import;

	verify_shutdown(ctl);
	if (job == NULL)
		return;
	log_info("control: waiting for the import of %s to finish",
	    job->name);
	if (job->t != NULL)
		nem_txn_on_cancel(job->t, NULL, NULL);
	job->t = NULL;
	job_free(job);
}

static void
on_add_image(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct store_import_req ir = { 0 };
	struct store_image im;
	struct nem_err err;
	int fd, rc;

	if (control_parse(t, msg, &req) == -1 ||
	    control_get_str(t, &req, "name", true, "image", &ir.name) == -1 ||
	    control_get_str(t, &req, "version", false, NULL,
	    &ir.version) == -1 ||
	    control_get_str(t, &req, "sha256", false, NULL, &ir.sha256) == -1 ||
	    control_get_u64(t, &req, "size", &ir.total) == -1 ||
	    no_store(ctl, t))
		return;
	if (ctl->import != NULL) {
		nem_txn_fail(t, NEM_E_BUSY, "another image import is running; "
		    "retry when it has finished", NULL);
		return;
	}
	fd = nem_msg_take_fd(msg);
	if (fd == -1) {
		nem_txn_fail(t, NEM_E_INVALID, "add-image needs the image file "
		    "passed as a descriptor with the request", NULL);
		return;
	}
	log_info("control: importing image %s%s%s", ir.name,
	    ir.version != NULL ? " " : "", ir.version != NULL ? ir.version : "");

	if (ctl->p.state_dir != NULL) {
		if (start_import(ctl, t, fd, &ir, &err) == -1)
			control_fail(t, &err);
		return;
	}
	ir.progress = on_progress;
	ir.progress_arg = t;
	rc = store_import(ctl->p.store, fd, &ir, &im, &err);
	close(fd);
	reply_imported(t, rc, &im, &err);
}

static void
on_get_image(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct store_image im;
	struct nem_err err;
	const char *name, *version, *sha256;
	bson_t doc = BSON_INITIALIZER;

	if (control_parse(t, msg, &req) == -1 ||
	    control_get_str(t, &req, "name", false, "image", &name) == -1 ||
	    control_get_str(t, &req, "version", false, NULL, &version) == -1 ||
	    control_get_str(t, &req, "sha256", false, NULL, &sha256) == -1 ||
	    no_store(ctl, t))
		return;
	if (name == NULL && sha256 == NULL) {
		nem_txn_fail(t, NEM_E_INVALID, "field \"name\" or \"sha256\" is "
		    "required", NULL);
		return;
	}
	if (store_lookup(ctl->p.store, name, version, sha256, &im,
	    &err) == -1) {
		control_fail(t, &err);
		return;
	}
	append_image(&doc, "image", &im, false);
	control_reply(t, &doc, false);
	bson_destroy(&doc);
}

static void
on_remove(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct nem_err err;
	const char *name, *version;

	if (control_parse(t, msg, &req) == -1 ||
	    control_get_str(t, &req, "name", true, "image", &name) == -1 ||
	    control_get_str(t, &req, "version", false, NULL, &version) == -1 ||
	    no_store(ctl, t))
		return;
	if (store_remove(ctl->p.store, name, version, &err) == -1) {
		control_fail(t, &err);
		return;
	}
	log_info("control: removed image %s%s%s", name,
	    version != NULL ? " " : "", version != NULL ? version : "");
	control_reply_ok(t);
}

static const char *
finding_name(enum store_finding f)
{
	switch (f) {
	case STORE_FINDING_OK:
		return "ok";
	case STORE_FINDING_MISSING:
		return "missing";
	case STORE_FINDING_MISMATCH:
		return "mismatch";
	case STORE_FINDING_STRAY:
		return "stray";
	case STORE_FINDING_UNUSED:
		return "unused";
	case STORE_FINDING_KEPT:
		return "kept";
	}
	return "unknown";
}

/* Collects findings into an array document. */
struct findings {
	bson_t arr;
	size_t n;
};

static void
on_report(void *arg, const struct store_report *r)
{
	struct findings *f = arg;
	bson_t sub;
	char key[24];

	snprintf(key, sizeof(key), "%zu", f->n++);
	BSON_APPEND_DOCUMENT_BEGIN(&f->arr, key, &sub);
	BSON_APPEND_UTF8(&sub, "finding", finding_name(r->finding));
	BSON_APPEND_UTF8(&sub, "sha256", r->sha256);
	BSON_APPEND_UTF8(&sub, "names", r->names);
	BSON_APPEND_UTF8(&sub, "detail", r->detail);
	bson_append_document_end(&f->arr, &sub);
}

static void
on_verify_or_gc(struct nem_txn *t, struct nem_msg *msg, void *arg, bool gc)
{
	struct control *ctl = arg;
	struct control_req req;
	struct nem_err err;
	struct findings f = { .n = 0 };
	const char *sha256 = NULL;
	bson_t doc = BSON_INITIALIZER;
	int n;

	if (control_parse(t, msg, &req) == -1 ||
	    (!gc && control_get_str(t, &req, "sha256", false, NULL,
	    &sha256) == -1) || no_store(ctl, t)) {
		bson_destroy(&doc);
		return;
	}

	/* gc deletes leftovers in images/tmp, where an import writes, and
	 * files that a running verify would then report missing. */
	if (gc && (ctl->import != NULL || ctl->verify != NULL)) {
		bson_destroy(&doc);
		nem_txn_fail(t, NEM_E_BUSY, ctl->import != NULL ? "an image "
		    "import is running; retry gc when it has finished" :
		    "an image verify is running; retry gc when it has "
		    "finished", NULL);
		return;
	}
	BSON_APPEND_ARRAY_BEGIN(&doc, "findings", &f.arr);
	n = gc ? store_gc(ctl->p.store, on_report, &f, &err) :
	    store_verify(ctl->p.store, sha256, on_report, &f, &err);
	bson_append_array_end(&doc, &f.arr);
	if (n == -1) {
		bson_destroy(&doc);
		control_fail(t, &err);
		return;
	}
	BSON_APPEND_INT64(&doc, gc ? "removed" : "bad", n);
	control_reply(t, &doc, false);
	bson_destroy(&doc);
}

/*
 * An image verify running in a worker thread, since it reads and hashes
 * every stored file. The thread has its own database connection and store
 * handle, builds the reply document and writes one byte when done.
 */
struct verify_job {
	struct control *ctl;
	struct nem_txn *t;		/* NULL once the client left */
	int pipe[2];			/* thread -> event loop */
	struct event *ev;
	pthread_t thread;
	bool started;
	char sha256[STORE_SHA256_HEX_LEN + 1];
	bool has_sha256;
	/* Written by the thread before its byte. */
	bson_t doc;
	int bad;			/* store_verify's result */
	struct nem_err err;
};

static void *
verify_thread(void *arg)
{
	struct verify_job *job = arg;
	struct findings f = { .n = 0 };
	struct store *store = NULL;
	struct db *db;

	job->bad = -1;
	db = db_open(job->ctl->p.state_dir, &job->err);
	if (db != NULL)
		store = store_attach(db, job->ctl->p.state_dir, &job->err);
	if (store != NULL) {
		BSON_APPEND_ARRAY_BEGIN(&job->doc, "findings", &f.arr);
		job->bad = store_verify(store, job->has_sha256 ? job->sha256 :
		    NULL, on_report, &f, &job->err);
		bson_append_array_end(&job->doc, &f.arr);
	}
	store_close(store);
	db_close(db);
	if (write(job->pipe[1], "", 1) == -1)
		log_err("control: verify: cannot wake the event loop");
	return NULL;
}

static void
verify_free(struct verify_job *job)
{
	if (job->started)
		pthread_join(job->thread, NULL);
	if (job->ev != NULL)
		event_free(job->ev);
	if (job->pipe[0] != -1)
		close(job->pipe[0]);
	if (job->pipe[1] != -1)
		close(job->pipe[1]);
	bson_destroy(&job->doc);
	if (job->ctl->verify == job)
		job->ctl->verify = NULL;
	free(job);
}

static void
on_verify_done(evutil_socket_t fd, short what, void *arg)
{
	struct verify_job *job = arg;
	char byte;

	if (read(fd, &byte, 1) != 1)
		return;
	pthread_join(job->thread, NULL);
	job->started = false;
	if (job->bad == -1)
		log_warn("control: image verify failed: %s", job->err.msg);
	if (job->t != NULL) {
		nem_txn_on_cancel(job->t, NULL, NULL);
		if (job->bad == -1) {
			control_fail(job->t, &job->err);
		} else {
			BSON_APPEND_INT64(&job->doc, "bad", job->bad);
			control_reply(job->t, &job->doc, false);
		}
	}
	verify_free(job);
}

/* Waits for a running verify, whose client gets no reply, and frees it. */
static void
verify_shutdown(struct control *ctl)
{
	struct verify_job *job = ctl->verify;

	if (job == NULL)
		return;
	log_info("control: waiting for the image verify to finish");
	if (job->t != NULL)
		nem_txn_on_cancel(job->t, NULL, NULL);
	job->t = NULL;
	verify_free(job);
}

static void
on_verify_cancel(struct nem_txn *t, int64_t code, void *arg)
{
	struct verify_job *job = arg;

	log_info("control: client left during an image verify; it finishes "
	    "unobserved");
	job->t = NULL;
}

/* Starts a verify of sha256 (NULL: every file) in a worker thread. */
static int
start_verify(struct control *ctl, struct nem_txn *t, const char *sha256,
    struct nem_err *err)
{
	struct verify_job *job;
	int rc;

	job = calloc(1, sizeof(*job));
	if (job == NULL)
		return nem_err_sys(err, ENOMEM, "verify: job");
	job->ctl = ctl;
	job->t = t;
	job->pipe[0] = job->pipe[1] = -1;
	bson_init(&job->doc);
	if (sha256 != NULL) {
		job->has_sha256 = true;
		snprintf(job->sha256, sizeof(job->sha256), "%.64s", sha256);
	}
	if (pipe2(job->pipe, O_CLOEXEC) == -1) {
		nem_err_sys(err, errno, "verify: create a pipe");
		verify_free(job);
		return -1;
	}
	job->ev = event_new(ctl->p.base, job->pipe[0], EV_READ | EV_PERSIST,
	    on_verify_done, job);
	if (job->ev == NULL || event_add(job->ev, NULL) == -1) {
		nem_err_set(err, ENOMEM, "verify: watch the pipe");
		verify_free(job);
		return -1;
	}
	rc = pthread_create(&job->thread, NULL, verify_thread, job);
	if (rc != 0) {
		verify_free(job);
		return nem_err_sys(err, rc, "verify: start a thread");
	}
	job->started = true;
	ctl->verify = job;
	nem_txn_on_cancel(t, on_verify_cancel, job);
	return 0;
}

static void
on_verify(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct nem_err err;
	const char *sha256 = NULL;

	/* Without a state folder for a second connection, it runs here. */
	if (ctl->p.state_dir == NULL) {
		on_verify_or_gc(t, msg, arg, false);
		return;
	}
	if (control_parse(t, msg, &req) == -1 ||
	    control_get_str(t, &req, "sha256", false, NULL, &sha256) == -1 ||
	    no_store(ctl, t))
		return;
	if (ctl->verify != NULL) {
		nem_txn_fail(t, NEM_E_BUSY, "another image verify is running; "
		    "retry when it has finished", NULL);
		return;
	}
	if (start_verify(ctl, t, sha256, &err) == -1)
		control_fail(t, &err);
}

static void
on_gc(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	on_verify_or_gc(t, msg, arg, true);
}

int
control_image_register(struct control *ctl, struct nem_err *err)
{
	static const struct {
		uint16_t cmd;
		nem_handler_fn *fn;
	} cmds[] = {
		{ NEM_IMGHOST_LIST_IMAGES, on_list_images },
		{ NEM_IMGHOST_LIST_VERSIONS, on_list_versions },
		{ NEM_IMGHOST_ADD_IMAGE, on_add_image },
		{ NEM_IMGHOST_GET_IMAGE, on_get_image },
		{ CONTROL_IMGHOST_REMOVE, on_remove },
		{ CONTROL_IMGHOST_VERIFY, on_verify },
		{ CONTROL_IMGHOST_GC, on_gc },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (nem_mux_add(ctl->mux, NEM_SVC_IMGHOST, cmds[i].cmd,
		    cmds[i].fn, ctl, err) == -1)
			return -1;
	}
	return 0;
}
