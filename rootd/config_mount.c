/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The [[mount]] entries of a jail description. Each mount type accepts its
 * own keys; a key of another type is reported as not applying to this one,
 * so a misplaced key is never silently ignored. The mount rules checked
 * here are lexical: the runtime still resolves targets inside the jail
 * root without following symlinks.
 */
#include "config_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "path.h"
#include "semver.h"
#include "units.h"

#define SHA256_HEX_LEN 64
#define FSTYPE_MAX 32

/* The keys each mount type accepts besides "type" and "dest". */
static const char *const image_keys[] = { "image", "version", "sha256",
	NULL };
static const char *const md_keys[] = { "size", "persist", "volume", NULL };
static const char *const shared_keys[] = { "share", "readonly", NULL };
static const char *const disk_keys[] = { "device", "fstype", "readonly",
	NULL };
static const char *const file_keys[] = { "source", "mode", NULL };
static const char *const tmpfs_keys[] = { "size", NULL };

static const struct {
	const char *name;
	const char *const *keys;
} mount_types[] = {
	[CFG_MOUNT_IMAGE] = { "image", image_keys },
	[CFG_MOUNT_MD] = { "md", md_keys },
	[CFG_MOUNT_SHARED] = { "shared", shared_keys },
	[CFG_MOUNT_DISK] = { "disk", disk_keys },
	[CFG_MOUNT_FILE] = { "file", file_keys },
	[CFG_MOUNT_TMPFS] = { "tmpfs", tmpfs_keys },
};
#define MOUNT_TYPE_COUNT (sizeof(mount_types) / sizeof(mount_types[0]))

static const char *const all_mount_keys[] = { "type", "dest", "image",
	"version", "sha256", "size", "persist", "volume", "share", "readonly",
	"device", "fstype", "source", "mode", NULL };

/* Top-level keys: a mount key with one of these names was misplaced. */
static const char *const top_level_keys[] = { "autostart", "process",
	"isolation", "mount", "services", "access", "listen", NULL };

#define MISPLACED_HINT "; a key written after a [[mount]] header belongs " \
	"to that mount, so move it above the first table header or under " \
	"its own table"

const char *
cfg_mount_type_name(enum cfg_mount_type type)
{
	if ((size_t)type >= MOUNT_TYPE_COUNT)
		return "unknown";
	return mount_types[type].name;
}

static bool
in_list(const char *key, size_t len, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strlen(list[i]) == len && memcmp(list[i], key, len) == 0)
			return true;
	return false;
}

/*
 * Reports keys that no mount type accepts, and, when the type is known
 * (type_ok), keys that belong to other types.
 */
static void
check_mount_keys(struct cfg_ctx *ctx, const struct toml_value *t,
    bool type_ok, enum cfg_mount_type type)
{
	const char *known[8] = { "type", "dest" };
	size_t nknown = 2;

	if (type_ok)
		for (size_t i = 0; mount_types[type].keys[i] != NULL; i++)
			known[nknown++] = mount_types[type].keys[i];
	known[nknown] = NULL;

	for (size_t i = 0; i < toml_table_len(t); i++) {
		size_t len;
		const char *key = toml_table_key(t, i, &len);

		if (in_list(key, len, known))
			continue;
		if (in_list(key, len, all_mount_keys)) {
			if (type_ok)
				cfg_err(ctx, toml_table_key_pos(t, i), "key "
				    "'%s' does not apply to a mount of type %s",
				    key, mount_types[type].name);
			continue;
		}
		if (cfg_suggest(key, len, known) == NULL &&
		    cfg_suggest(key, len, all_mount_keys) != NULL) {
			cfg_unknown_key(ctx, t, i, "[[mount]]", all_mount_keys,
			    NULL);
			continue;
		}
		cfg_unknown_key(ctx, t, i, "[[mount]]", known,
		    in_list(key, len, top_level_keys) ? MISPLACED_HINT : NULL);
	}
}

static int
get_type(struct cfg_ctx *ctx, const struct toml_value *t,
    enum cfg_mount_type *type)
{
	struct toml_pos pos;
	const char *s;
	int rc;

	rc = cfg_get_str(ctx, t, "type", &s, &pos);
	if (rc == 0) {
		cfg_err(ctx, toml_value_pos(t), "missing key 'type' in "
		    "[[mount]]: use image, md, shared, disk, file or tmpfs");
		return -1;
	}
	if (rc == -1)
		return -1;
	for (size_t i = 0; i < MOUNT_TYPE_COUNT; i++) {
		if (strcmp(s, mount_types[i].name) == 0) {
			*type = (enum cfg_mount_type)i;
			return 0;
		}
	}
	cfg_err(ctx, pos, "invalid mount type \"%s\": use image, md, shared, "
	    "disk, file or tmpfs", CFG_PREVIEW(s));
	return -1;
}

/* Reports a key that a mount of this type needs. */
static int
missing(struct cfg_ctx *ctx, const struct toml_value *t, const char *key,
    const char *type, const char *example)
{
	cfg_err(ctx, toml_value_pos(t), "missing key '%s' in [[mount]] of "
	    "type %s, such as %s", key, type, example);
	return -1;
}

static int
get_image(struct cfg_ctx *ctx, const struct toml_value *t,
    struct cfg_mount *m)
{
	struct toml_pos pos;
	struct nem_err err;
	const char *s;
	int rc, result = 0;

	rc = cfg_get_name(ctx, t, "image", "image", &m->image, NULL);
	if (rc == 0)
		result = missing(ctx, t, "image", "image", "image = \"base\"");
	else if (rc == -1)
		result = -1;

	rc = cfg_get_str(ctx, t, "version", &s, &pos);
	if (rc == 1) {
		struct semver_req *req = semver_req_parse(s, &err);

		if (req == NULL) {
			cfg_err(ctx, pos, "%s", err.msg);
			result = -1;
		} else {
			semver_req_free(req);
			m->version = cfg_strdup(ctx, s, pos);
		}
	} else if (rc == -1) {
		result = -1;
	}

	rc = cfg_get_str(ctx, t, "sha256", &s, &pos);
	if (rc == 1) {
		size_t len = strlen(s);

		if (len != SHA256_HEX_LEN ||
		    strspn(s, "0123456789abcdef") != len) {
			cfg_err(ctx, pos, "invalid sha256 \"%s\": must be %d "
			    "lowercase hexadecimal digits", CFG_PREVIEW(s),
			    SHA256_HEX_LEN);
			result = -1;
		} else {
			m->sha256 = cfg_strdup(ctx, s, pos);
		}
	} else if (rc == -1) {
		result = -1;
	}
	return result;
}

static int
get_md(struct cfg_ctx *ctx, const struct toml_value *t, struct cfg_mount *m)
{
	const struct toml_value *persist, *volume;
	int rc, result = 0;

	rc = cfg_get_size(ctx, t, "size", &m->size);
	if (rc == 0) {
		result = missing(ctx, t, "size", "md", "size = \"256M\"");
	} else if (rc == -1) {
		result = -1;
	} else if (m->size < CFG_MD_SIZE_MIN || m->size > CFG_MD_SIZE_MAX ||
	    m->size % CFG_MD_SIZE_STEP != 0) {
		const struct toml_value *v = toml_table_get(t, "size");
		const char *text;

		if (toml_get_string(v, &text, NULL) == 0)
			cfg_err(ctx, toml_value_pos(v), "invalid md size "
			    "\"%s\": use whole megabytes from 8M to 16T, such "
			    "as \"256M\"", CFG_PREVIEW(text));
		else
			cfg_err(ctx, toml_value_pos(v), "invalid md size %"
			    PRIu64 " bytes: use whole megabytes from 8M to "
			    "16T, such as \"256M\"", m->size);
		result = -1;
	}

	if (cfg_get_bool(ctx, t, "persist", &m->persist) == -1)
		return -1;
	rc = cfg_get_name(ctx, t, "volume", "volume", &m->volume, NULL);
	if (rc == -1)
		return -1;

	persist = toml_table_get(t, "persist");
	volume = toml_table_get(t, "volume");
	if (m->persist && volume == NULL) {
		cfg_err(ctx, toml_value_pos(persist), "persist = true needs "
		    "volume = NAME, the name the data is kept under");
		result = -1;
	}
	if (!m->persist && volume != NULL) {
		cfg_err(ctx, toml_value_pos(volume), "'volume' applies only "
		    "with persist = true; add persist = true to keep the data, "
		    "or remove 'volume'");
		result = -1;
	}
	return result;
}

static int
get_shared(struct cfg_ctx *ctx, const struct toml_value *t,
    struct cfg_mount *m)
{
	int rc, result = 0;

	rc = cfg_get_name(ctx, t, "share", "share", &m->share, NULL);
	if (rc == 0)
		result = missing(ctx, t, "share", "shared",
		    "share = \"uploads\"");
	else if (rc == -1)
		result = -1;
	if (cfg_get_bool(ctx, t, "readonly", &m->readonly) == -1)
		result = -1;
	return result;
}

static bool
fstype_ok(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len <= FSTYPE_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._") == len;
}

static int
get_disk(struct cfg_ctx *ctx, const struct toml_value *t,
    struct cfg_mount *m)
{
	struct toml_pos pos;
	const char *s;
	int rc, result = 0;

	rc = cfg_get_abs_path(ctx, t, "device", &m->device, &pos);
	if (rc == 0)
		result = missing(ctx, t, "device", "disk",
		    "device = \"/dev/vdb1\"");
	else if (rc == -1)
		result = -1;
	else if (!path_is_below(m->device, "/dev")) {
		cfg_err(ctx, pos, "invalid device \"%s\": not below /dev",
		    CFG_PREVIEW(m->device));
		result = -1;
	}

	rc = cfg_get_str(ctx, t, "fstype", &s, &pos);
	if (rc == 0) {
		s = CFG_DEFAULT_FSTYPE;
	} else if (rc == -1) {
		return -1;
	} else if (!fstype_ok(s)) {
		cfg_err(ctx, pos, "invalid fstype \"%s\": use a file system "
		    "name such as \"ext4\" or \"xfs\" (1 to %d lowercase "
		    "letters, digits, '.' or '_')", CFG_PREVIEW(s), FSTYPE_MAX);
		return -1;
	}
	m->fstype = cfg_strdup(ctx, s, pos);
	if (cfg_get_bool(ctx, t, "readonly", &m->readonly) == -1)
		result = -1;
	return result;
}

/* Parses 3 or 4 octal digits, such as "644" or "0644". */
static int
parse_mode(const char *s, unsigned *mode)
{
	size_t len = strlen(s);
	unsigned v = 0;

	if (len < 3 || len > 4 || strspn(s, "01234567") != len)
		return -1;
	for (size_t i = 0; i < len; i++)
		v = v * 8 + (unsigned)(s[i] - '0');
	*mode = v;
	return 0;
}

static int
get_file(struct cfg_ctx *ctx, const struct toml_value *t, const char *confdir,
    struct cfg_mount *m)
{
	struct toml_pos pos;
	struct nem_err err;
	const char *s;
	int rc, result = 0;

	rc = cfg_get_str(ctx, t, "source", &s, &pos);
	if (rc == 0) {
		result = missing(ctx, t, "source", "file",
		    "source = \"files/resolv.conf\"");
	} else if (rc == -1) {
		result = -1;
	} else if (path_check_any("source", s, strlen(s), &err) == -1) {
		cfg_err(ctx, pos, "%s", err.msg);
		result = -1;
	} else {
		m->source = cfg_strdup(ctx, s, pos);
		m->source_path = path_join(confdir, s, &err);
		if (m->source_path == NULL) {
			cfg_err(ctx, pos, "%s", err.msg);
			result = -1;
		}
	}

	rc = cfg_get_str(ctx, t, "mode", &s, &pos);
	if (rc == 1) {
		if (parse_mode(s, &m->mode) == -1) {
			cfg_err(ctx, pos, "invalid mode \"%s\": use 3 or 4 "
			    "octal digits such as \"0644\"", CFG_PREVIEW(s));
			result = -1;
		} else {
			m->has_mode = true;
		}
	} else if (rc == -1) {
		result = -1;
	}
	return result;
}

/* Reads one [[mount]] table into m. Returns 0, or -1 after reporting. */
static int
get_mount(struct cfg_ctx *ctx, const struct toml_value *t, const char *confdir,
    struct cfg_mount *m)
{
	enum cfg_mount_type type = CFG_MOUNT_IMAGE;
	bool type_ok;
	int rc, result = 0;

	m->line = toml_value_pos(t).line;
	m->col = toml_value_pos(t).col;
	type_ok = get_type(ctx, t, &type) == 0;
	check_mount_keys(ctx, t, type_ok, type);
	m->type = type;

	rc = cfg_get_abs_path(ctx, t, "dest", &m->dest, NULL);
	if (rc == 0)
		result = missing(ctx, t, "dest", type_ok ? mount_types[type].name
		    : "any", "dest = \"/srv/data\"");
	else if (rc == -1)
		result = -1;
	if (!type_ok)
		return -1;

	switch (type) {
	case CFG_MOUNT_IMAGE:
		rc = get_image(ctx, t, m);
		break;
	case CFG_MOUNT_MD:
		rc = get_md(ctx, t, m);
		break;
	case CFG_MOUNT_SHARED:
		rc = get_shared(ctx, t, m);
		break;
	case CFG_MOUNT_DISK:
		rc = get_disk(ctx, t, m);
		break;
	case CFG_MOUNT_FILE:
		rc = get_file(ctx, t, confdir, m);
		break;
	case CFG_MOUNT_TMPFS:
		rc = cfg_get_size(ctx, t, "size", &m->size);
		if (rc == 0)
			rc = missing(ctx, t, "size", "tmpfs", "size = \"64M\"");
		break;
	}
	return rc == -1 ? -1 : result;
}

/* Checks the rules between mounts: root first, no destination twice. */
static int
check_mount_list(struct cfg_ctx *ctx, const struct cfg_mount *mounts,
    size_t n)
{
	int result = 0;

	if (mounts[0].dest != NULL && strcmp(mounts[0].dest, "/") != 0) {
		cfg_err(ctx, (struct toml_pos){ mounts[0].line, mounts[0].col },
		    "the first [[mount]] must have dest = \"/\" (the jail's "
		    "root), not \"%s\"", CFG_PREVIEW(mounts[0].dest));
		result = -1;
	}
	/* NOTE: quadratic in the mount count, which CFG_MOUNT_MAX bounds. */
	for (size_t i = 1; i < n; i++) {
		if (mounts[i].dest == NULL)
			continue;
		for (size_t j = 0; j < i; j++) {
			if (mounts[j].dest == NULL ||
			    strcmp(mounts[i].dest, mounts[j].dest) != 0)
				continue;
			cfg_err(ctx, (struct toml_pos){ mounts[i].line,
			    mounts[i].col }, "dest \"%s\" is already used by "
			    "the [[mount]] at line %u",
			    CFG_PREVIEW(mounts[i].dest), mounts[j].line);
			result = -1;
			break;
		}
	}
	return result;
}

int
cfg_get_mounts(struct cfg_ctx *ctx, const struct toml_value *root,
    const char *confdir, struct cfg_jail *jail)
{
	const struct toml_value *arr = toml_table_get(root, "mount");
	int result = 0;
	size_t n;

	if (arr == NULL) {
		cfg_err(ctx, cfg_doc_pos(), "missing [[mount]]: a jail needs "
		    "at least a root mount, such as [[mount]] type = \"image\" "
		    "dest = \"/\" image = \"base\"");
		return -1;
	}
	if (toml_type(arr) != TOML_ARRAY) {
		cfg_err(ctx, toml_value_pos(arr), "'mount' must be an array of "
		    "tables written as [[mount]], not %s", cfg_type_phrase(arr));
		return -1;
	}
	n = toml_array_len(arr);
	if (n == 0) {
		cfg_err(ctx, toml_value_pos(arr), "'mount' must not be empty: "
		    "a jail needs at least a root mount with dest = \"/\"");
		return -1;
	}
	if (n > CFG_MOUNT_MAX) {
		cfg_err(ctx, toml_value_pos(toml_array_get(arr, CFG_MOUNT_MAX)),
		    "too many [[mount]] entries: %zu, the maximum is %d", n,
		    CFG_MOUNT_MAX);
		n = CFG_MOUNT_MAX;
		result = -1;
	}

	jail->mounts = calloc(n, sizeof(*jail->mounts));
	if (jail->mounts == NULL) {
		cfg_oom(ctx, toml_value_pos(arr));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *t = toml_array_get(arr, i);

		jail->nmounts++;
		if (toml_type(t) != TOML_TABLE) {
			cfg_err(ctx, toml_value_pos(t), "mount[%zu] must be a "
			    "table, not %s", i, cfg_type_phrase(t));
			result = -1;
			continue;
		}
		if (get_mount(ctx, t, confdir, &jail->mounts[i]) == -1)
			result = -1;
	}
	if (check_mount_list(ctx, jail->mounts, jail->nmounts) == -1)
		result = -1;
	return result;
}

void
cfg_mount_free(struct cfg_mount *m)
{
	free(m->dest);
	free(m->image);
	free(m->version);
	free(m->sha256);
	free(m->volume);
	free(m->share);
	free(m->device);
	free(m->fstype);
	free(m->source);
	free(m->source_path);
}
