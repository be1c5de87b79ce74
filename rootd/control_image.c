/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The imghost service of the control plane: list-images, list-versions,
 * add-image (the image file passed as a descriptor, progress streamed as
 * CONTINUE replies), get-image, remove, verify and gc, all on the image
 * store.
 *
 * Limitations:
 * NOTE: add-image, verify and gc run on the event loop thread, so the
 * daemon serves no other request until they finish; with large images that
 * is seconds, and CONTINUE progress replies leave only once the import
 * returns.
 */
#include "control_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nem/log.h>
#include <nem/proto.h>

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
	    control_get_str(t, &req, "name", true, true, &name) == -1 ||
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

/* Progress of an add-image: one CONTINUE reply per store callback. */
static void
on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct nem_txn *t = arg;
	bson_t doc = BSON_INITIALIZER;

	BSON_APPEND_INT64(&doc, "done", (int64_t)done);
	BSON_APPEND_INT64(&doc, "total", (int64_t)total);
	control_reply(t, &doc, true);
	bson_destroy(&doc);
}

static void
on_add_image(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	struct control *ctl = arg;
	struct control_req req;
	struct store_import_req ir = { 0 };
	struct store_image im;
	struct nem_err err;
	bson_t doc = BSON_INITIALIZER;
	int fd;

	if (control_parse(t, msg, &req) == -1 ||
	    control_get_str(t, &req, "name", true, true, &ir.name) == -1 ||
	    control_get_str(t, &req, "version", false, false,
	    &ir.version) == -1 ||
	    control_get_str(t, &req, "sha256", false, false, &ir.sha256) == -1 ||
	    control_get_u64(t, &req, "size", &ir.total) == -1 ||
	    no_store(ctl, t))
		return;
	fd = nem_msg_take_fd(msg);
	if (fd == -1) {
		nem_txn_fail(t, NEM_E_INVALID, "add-image needs the image file "
		    "passed as a descriptor with the request", NULL);
		return;
	}
	ir.progress = on_progress;
	ir.progress_arg = t;
	log_info("control: importing image %s%s%s", ir.name,
	    ir.version != NULL ? " " : "", ir.version != NULL ? ir.version : "");
	if (store_import(ctl->p.store, fd, &ir, &im, &err) == -1) {
		close(fd);
		log_errx("control: import of image %s failed: %s", ir.name,
		    err.msg);
		control_fail(t, &err);
		return;
	}
	close(fd);
	log_info("control: imported image %s %s sha256 %s (%" PRIu64
	    " bytes)", im.name, im.version, im.sha256, im.size);
	append_image(&doc, "image", &im, false);
	BSON_APPEND_UTF8(&doc, "sha256", im.sha256);
	control_reply(t, &doc, false);
	bson_destroy(&doc);
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
	    control_get_str(t, &req, "name", false, true, &name) == -1 ||
	    control_get_str(t, &req, "version", false, false, &version) == -1 ||
	    control_get_str(t, &req, "sha256", false, false, &sha256) == -1 ||
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
	    control_get_str(t, &req, "name", true, true, &name) == -1 ||
	    control_get_str(t, &req, "version", false, false, &version) == -1 ||
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
	    (!gc && control_get_str(t, &req, "sha256", false, false,
	    &sha256) == -1) || no_store(ctl, t)) {
		bson_destroy(&doc);
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

static void
on_verify(struct nem_txn *t, struct nem_msg *msg, void *arg)
{
	on_verify_or_gc(t, msg, arg, false);
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
