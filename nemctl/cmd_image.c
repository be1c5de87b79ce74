/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The image commands of nemctl: push, ls, show, rm, verify and gc, on the
 * imghost service. "image push" opens the file itself and passes it as a
 * descriptor with the request, so the daemon reads the file directly and
 * nothing is copied through the socket. The daemon's reads advance the
 * shared file offset, which drives the progress bar.
 */
#include "nemctl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nem/frame.h>
#include <nem/proto.h>

#include "semver.h"

/* Kinds of --version value that the image commands accept. */
enum version_kind {
	VERSION_EXACT,			/* a semver version, or "" for the image
					   without a version */
	VERSION_REQUIREMENT,		/* a semver requirement such as "^1.2" */
};

/* Parses a command's NAME argument and its --version option. */
static int
name_version_args(struct nemctl *c, const struct subcmd *sc, int argc,
    char **argv, int min_pos, int max_pos, enum version_kind kind,
    struct args *a, int *exit)
{
	static const struct args_opt opts[] = { { "version", 'V', true } };
	struct semver_req *req;
	struct semver v;
	struct nem_err err;
	int rc = 0;

	if (subcmd_args(c, sc, argc, argv, opts, 1, min_pos, max_pos, a,
	    exit) == -1)
		return -1;
	if (a->npos > 0 && args_name("image", a->pos[0], &err) == -1) {
		*exit = print_err(&err, NEMCTL_EXIT_USAGE);
		return -1;
	}
	if (!a->set[0])
		return 0;

	if (kind == VERSION_REQUIREMENT) {
		req = semver_req_parse(a->value[0], &err);
		if (req == NULL)
			rc = -1;
		semver_req_free(req);
	} else if (a->value[0][0] != '\0') {
		rc = semver_parse(a->value[0], &v, &err);
	}
	if (rc == -1) {
		nem_err_prefix(&err, "option \"--version\"");
		*exit = print_err(&err, NEMCTL_EXIT_USAGE);
	}
	return rc;
}

/* Builds the image table of the array field key of doc and prints it. */
static int
print_images(struct nemctl *c, const bson_t *doc, const char *key)
{
	static const char *const heads[] = { "NAME", "VERSION", "SIZE",
		"FSTYPE", "CREATED", "SHA256", "STATE" };
	struct table t;
	struct nem_err err;
	bson_iter_t it, arr;
	int rc = NEMCTL_EXIT_OK;

	if (table_init(&t, 7, heads, &err) == -1)
		return print_err(&err, NEMCTL_EXIT_SYSTEM);
	if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &arr)) {
		while (bson_iter_next(&arr) && rc == NEMCTL_EXIT_OK) {
			const uint8_t *data;
			uint32_t len;
			bson_t im;
			char size[32], created[32], sha[13];
			const char *state;

			if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
				continue;
			bson_iter_document(&arr, &len, &data);
			if (!bson_init_static(&im, data, len))
				continue;
			table_size((uint64_t)doc_int(&im, "size"), size,
			    sizeof(size));
			table_time(doc_int(&im, "created"), created,
			    sizeof(created));
			/* The table shows the first 12 hexadecimal digits;
			 * --json shows all 64. */
			snprintf(sha, sizeof(sha), "%s", doc_str(&im, "sha256"));
			state = doc_bool(&im, "bad") ? "bad" :
			    doc_str(&im, "file");
			const char *row[] = { doc_str(&im, "name"),
				doc_str(&im, "version"), size,
				doc_str(&im, "fstype"), created, sha,
				state[0] != '\0' ? state : "ok" };
			if (table_add(&t, row, &err) == -1)
				rc = print_err(&err, NEMCTL_EXIT_SYSTEM);
		}
	}
	table_print(&t, c->out);
	table_free(&t);
	return rc;
}

/* CONTINUE replies of add-image: {done, total} in bytes. */
static int
on_push_progress(struct nem_msg *msg, void *arg)
{
	struct progress *p = arg;
	struct nem_err err;
	bson_t doc;
	int64_t done;

	if (nem_msg_body_bson(msg, &doc, &err) == 0) {
		done = doc_int(&doc, "done");
		if (done > 0)
			progress_report(p, (uint64_t)done);
	}
	return 0;
}

static int
image_push(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	static const struct args_opt opts[] = { { "version", 'V', true },
		{ "sha256", '\0', true } };
	bson_t body = BSON_INITIALIZER, out;
	struct progress *p;
	struct semver v;
	struct nem_err err;
	struct stat st;
	struct args a;
	char sha[65], what[128];
	const char *name, *file;
	int fd, rc;

	if (subcmd_args(c, sc, argc, argv, opts, 2, 2, 2, &a, &rc) == -1)
		goto done;
	name = a.pos[0];
	file = a.pos[1];
	rc = NEMCTL_EXIT_USAGE;
	if (args_name("image", name, &err) == -1) {
		print_err(&err, rc);
		goto done;
	}
	if (a.set[0] && semver_parse(a.value[0], &v, &err) == -1) {
		nem_err_prefix(&err, "option \"--version\"");
		print_err(&err, rc);
		goto done;
	}
	if (a.set[1]) {
		if (args_sha256(a.value[1], &err) == -1) {
			nem_err_prefix(&err, "option \"--sha256\"");
			print_err(&err, rc);
			goto done;
		}
		for (size_t i = 0; i < 64; i++)
			sha[i] = (char)tolower((unsigned char)a.value[1][i]);
		sha[64] = '\0';
	}

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		int e = errno;

		fprintf(stderr, "nemctl: cannot open image file %s: %s\n", file,
		    strerror(e));
		if (fd != -1)
			close(fd);
		rc = e == ENOENT || e == EACCES || e == ENOTDIR ?
		    NEMCTL_EXIT_USAGE : NEMCTL_EXIT_SYSTEM;
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "nemctl: image file %s is not a regular file; "
		    "push a squashfs, erofs or ext4 image file\n", file);
		close(fd);
		goto done;
	}

	BSON_APPEND_UTF8(&body, "name", name);
	if (a.set[0])
		BSON_APPEND_UTF8(&body, "version", a.value[0]);
	if (a.set[1])
		BSON_APPEND_UTF8(&body, "sha256", sha);
	BSON_APPEND_INT64(&body, "size", (int64_t)st.st_size);
	snprintf(what, sizeof(what), "image push %s", name);

	p = progress_start(fd, (uint64_t)st.st_size, stderr, &err);
	if (p == NULL) {
		close(fd);
		rc = print_err(&err, NEMCTL_EXIT_SYSTEM);
		goto done;
	}
	rc = call_stream(c, NEM_SVC_IMGHOST, NEM_IMGHOST_ADD_IMAGE, &body, fd,
	    NEMCTL_TIMEOUT_LONG_MS, what, on_push_progress, p, &out);
	progress_end(p, rc == NEMCTL_EXIT_OK);
	close(fd);
	if (rc != NEMCTL_EXIT_OK)
		goto done;

	if (c->json) {
		table_print_json(&out, c->out);
	} else {
		table_print_pushed(&out, c->out);
	}
	bson_destroy(&out);

done:
	bson_destroy(&body);
	return rc;
}

static int
image_ls(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	struct args a;
	bson_t out;
	int rc;

	if (subcmd_args(c, sc, argc, argv, NULL, 0, 0, 0, &a, &rc) == -1)
		return rc;
	rc = call(c, NEM_SVC_IMGHOST, NEM_IMGHOST_LIST_IMAGES, NULL, -1,
	    NEMCTL_TIMEOUT_MS, "image ls", &out);
	if (rc != NEMCTL_EXIT_OK)
		return rc;
	if (c->json)
		table_print_json(&out, c->out);
	else
		rc = print_images(c, &out, "images");
	bson_destroy(&out);
	return rc;
}

static int
image_show(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	bson_t body = BSON_INITIALIZER, out, im;
	bson_iter_t it;
	const uint8_t *data;
	uint32_t len;
	struct args a;
	char what[128];
	int rc;

	if (name_version_args(c, sc, argc, argv, 1, 1, VERSION_REQUIREMENT,
	    &a, &rc) == -1)
		goto done;
	snprintf(what, sizeof(what), "image show %s", a.pos[0]);
	BSON_APPEND_UTF8(&body, "name", a.pos[0]);
	if (!a.set[0]) {
		rc = call(c, NEM_SVC_IMGHOST, NEM_IMGHOST_LIST_VERSIONS, &body,
		    -1, NEMCTL_TIMEOUT_MS, what, &out);
		if (rc != NEMCTL_EXIT_OK)
			goto done;
		if (c->json)
			table_print_json(&out, c->out);
		else
			rc = print_images(c, &out, "versions");
		bson_destroy(&out);
		goto done;
	}

	BSON_APPEND_UTF8(&body, "version", a.value[0]);
	rc = call(c, NEM_SVC_IMGHOST, NEM_IMGHOST_GET_IMAGE, &body, -1,
	    NEMCTL_TIMEOUT_MS, what, &out);
	if (rc != NEMCTL_EXIT_OK)
		goto done;
	if (c->json)
		table_print_json(&out, c->out);
	else if (bson_iter_init_find(&it, &out, "image") &&
	    BSON_ITER_HOLDS_DOCUMENT(&it)) {
		bson_iter_document(&it, &len, &data);
		if (bson_init_static(&im, data, len))
			table_print_fields(&im, c->out);
	}
	bson_destroy(&out);

done:
	bson_destroy(&body);
	return rc;
}

static int
image_rm(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	bson_t body = BSON_INITIALIZER, out;
	struct args a;
	char what[128];
	int rc;

	if (name_version_args(c, sc, argc, argv, 1, 1, VERSION_EXACT, &a,
	    &rc) == -1)
		goto done;
	snprintf(what, sizeof(what), "image rm %s", a.pos[0]);
	BSON_APPEND_UTF8(&body, "name", a.pos[0]);
	if (a.set[0])
		BSON_APPEND_UTF8(&body, "version", a.value[0]);
	c->busy_is_in_use = true;
	rc = call(c, NEM_SVC_IMGHOST, CONTROL_IMGHOST_REMOVE, &body, -1,
	    NEMCTL_TIMEOUT_MS, what, &out);
	if (rc != NEMCTL_EXIT_OK)
		goto done;
	if (c->json)
		table_print_json(&out, c->out);
	else
		fprintf(c->out, "removed image %s%s%s\n", a.pos[0],
		    a.set[0] ? " " : "", a.set[0] ? a.value[0] : "");
	bson_destroy(&out);

done:
	bson_destroy(&body);
	return rc;
}

/* Prints the findings of a verify or gc reply, then the count line. */
static int
print_findings(struct nemctl *c, const bson_t *doc, const char *count_key,
    const char *count_text)
{
	static const char *const heads[] = { "FINDING", "SHA256", "NAMES",
		"DETAIL" };
	struct table t;
	struct nem_err err;
	bson_iter_t it, arr;
	int rc = NEMCTL_EXIT_OK;

	if (table_init(&t, 4, heads, &err) == -1)
		return print_err(&err, NEMCTL_EXIT_SYSTEM);
	if (bson_iter_init_find(&it, doc, "findings") &&
	    BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &arr)) {
		while (bson_iter_next(&arr) && rc == NEMCTL_EXIT_OK) {
			const uint8_t *data;
			uint32_t len;
			bson_t f;
			char sha[13];

			if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
				continue;
			bson_iter_document(&arr, &len, &data);
			if (!bson_init_static(&f, data, len))
				continue;
			snprintf(sha, sizeof(sha), "%s", doc_str(&f, "sha256"));
			const char *row[] = { doc_str(&f, "finding"),
				sha[0] != '\0' ? sha : "-",
				doc_str(&f, "names")[0] != '\0' ?
				    doc_str(&f, "names") : "-",
				doc_str(&f, "detail")[0] != '\0' ?
				    doc_str(&f, "detail") : "-" };
			if (table_add(&t, row, &err) == -1)
				rc = print_err(&err, NEMCTL_EXIT_SYSTEM);
		}
	}
	if (t.nrows > 1)
		table_print(&t, c->out);
	table_free(&t);
	fprintf(c->out, "%" PRId64 " %s\n", doc_int(doc, count_key),
	    count_text);
	return rc;
}

/* Appends the findings array of part to arr, counting them in *n. */
static void
merge_findings(bson_t *arr, size_t *n, const bson_t *part)
{
	bson_iter_t it, sub;
	char key[24];

	if (!bson_iter_init_find(&it, part, "findings") ||
	    !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &sub))
		return;
	while (bson_iter_next(&sub)) {
		snprintf(key, sizeof(key), "%zu", (*n)++);
		bson_append_value(arr, key, -1, bson_iter_value(&sub));
	}
}

/* Returns the "sha256" field of the image document at it, or NULL. */
static const char *
list_sha256(const bson_iter_t *it)
{
	bson_iter_t sub;

	if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &sub) ||
	    !bson_iter_find(&sub, "sha256") || !BSON_ITER_HOLDS_UTF8(&sub))
		return NULL;
	return bson_iter_utf8(&sub, NULL);
}

/* Tells whether an entry of versions.versions before cur has digest sha. */
static bool
seen_before(const bson_t *versions, const char *sha, const bson_iter_t *cur)
{
	bson_iter_t it, list;
	const char *other;

	if (!bson_iter_init_find(&it, versions, "versions") ||
	    !bson_iter_recurse(&it, &list))
		return false;
	while (bson_iter_next(&list) &&
	    strcmp(bson_iter_key(&list), bson_iter_key(cur)) != 0) {
		other = list_sha256(&list);
		if (other != NULL && strcmp(other, sha) == 0)
			return true;
	}
	return false;
}

/*
 * Verifies every version of one image: the daemon verifies by digest, so
 * the image's versions are listed first and each distinct digest verified.
 * The replies are merged into *merged as {findings: [...], bad: N}.
 */
static int
verify_image(struct nemctl *c, const char *name, bson_t *merged)
{
	bson_t body = BSON_INITIALIZER, versions, arr;
	bson_iter_t it, list;
	char what[128];
	int64_t bad = 0;
	size_t n = 0;
	int rc;

	snprintf(what, sizeof(what), "image verify %s", name);
	BSON_APPEND_UTF8(&body, "name", name);
	rc = call(c, NEM_SVC_IMGHOST, NEM_IMGHOST_LIST_VERSIONS, &body, -1,
	    NEMCTL_TIMEOUT_MS, what, &versions);
	bson_destroy(&body);
	if (rc != NEMCTL_EXIT_OK)
		return rc;

	bson_init(merged);
	BSON_APPEND_ARRAY_BEGIN(merged, "findings", &arr);
	if (bson_iter_init_find(&it, &versions, "versions") &&
	    BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &list)) {
		while (rc == NEMCTL_EXIT_OK && bson_iter_next(&list)) {
			const char *sha = list_sha256(&list);
			bson_t part;

			/* Versions that share a file need one verify. */
			if (sha == NULL || seen_before(&versions, sha, &list))
				continue;
			bson_init(&body);
			BSON_APPEND_UTF8(&body, "sha256", sha);
			rc = call(c, NEM_SVC_IMGHOST, CONTROL_IMGHOST_VERIFY,
			    &body, -1, NEMCTL_TIMEOUT_LONG_MS, what, &part);
			bson_destroy(&body);
			if (rc != NEMCTL_EXIT_OK)
				break;
			merge_findings(&arr, &n, &part);
			bad += doc_int(&part, "bad");
			bson_destroy(&part);
		}
	}
	bson_append_array_end(merged, &arr);
	BSON_APPEND_INT64(merged, "bad", bad);
	bson_destroy(&versions);
	if (rc != NEMCTL_EXIT_OK)
		bson_destroy(merged);
	return rc;
}

static int
image_verify(struct nemctl *c, const struct subcmd *sc, int argc,
    char **argv)
{
	struct args a;
	bson_t out;
	int rc;

	if (name_version_args(c, sc, argc, argv, 0, 1, VERSION_EXACT, &a,
	    &rc) == -1)
		return rc;
	if (a.set[0])
		return usage_error("image verify takes no --version; it "
		    "verifies every version of NAME");
	if (a.npos == 1)
		rc = verify_image(c, a.pos[0], &out);
	else
		rc = call(c, NEM_SVC_IMGHOST, CONTROL_IMGHOST_VERIFY, NULL, -1,
		    NEMCTL_TIMEOUT_LONG_MS, "image verify", &out);
	if (rc != NEMCTL_EXIT_OK)
		return rc;
	if (c->json)
		table_print_json(&out, c->out);
	else
		rc = print_findings(c, &out, "bad", "bad image files");

	/* Bad or missing files are a result, not a failed request. */
	if (rc == NEMCTL_EXIT_OK && doc_int(&out, "bad") > 0)
		rc = NEMCTL_EXIT_PROBLEMS;
	bson_destroy(&out);
	return rc;
}

static int
image_gc(struct nemctl *c, const struct subcmd *sc, int argc, char **argv)
{
	struct args a;
	bson_t out;
	int rc;

	if (subcmd_args(c, sc, argc, argv, NULL, 0, 0, 0, &a, &rc) == -1)
		return rc;
	rc = call(c, NEM_SVC_IMGHOST, CONTROL_IMGHOST_GC, NULL, -1,
	    NEMCTL_TIMEOUT_LONG_MS, "image gc", &out);
	if (rc != NEMCTL_EXIT_OK)
		return rc;
	if (c->json)
		table_print_json(&out, c->out);
	else
		rc = print_findings(c, &out, "removed", "files removed");
	bson_destroy(&out);
	return rc;
}

int
cmd_image(struct nemctl *c, int argc, char **argv)
{
	static const struct subcmd cmds[] = {
		{ "push", image_push,
		    "image push NAME FILE [--version V] [--sha256 HEX]",
		    "import an image file into the store" },
		{ "ls", image_ls, "image ls", "list every stored image" },
		{ "show", image_show, "image show NAME [--version V]",
		    "show an image's versions, or the highest version that "
		    "matches V (such as ^1.2)" },
		{ "rm", image_rm, "image rm NAME [--version V]",
		    "remove an image, or one of its versions" },
		{ "verify", image_verify, "image verify [NAME]",
		    "check stored image files against their digests; exit 1 "
		    "when a file is bad or missing" },
		{ "gc", image_gc, "image gc",
		    "remove image files that no image refers to" },
	};

	return subcmd_run(c, "image", cmds, sizeof(cmds) / sizeof(cmds[0]),
	    argc, argv);
}
