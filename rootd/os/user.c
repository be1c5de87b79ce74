/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Resolving a jail user from the text of the jail's passwd(5) and group(5)
 * files. The files come from the jail and are hostile input: every field is
 * bounded, numbers are range-checked, and nothing here touches the host's
 * user database. Platform-neutral; the platform code reads the files.
 */
#include "os.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Maximum number of ':' separated fields considered in one line. */
#define FIELDS_MAX 7

/* A line split into fields that point into the caller's buffer. */
struct fields {
	const char *start[FIELDS_MAX];
	size_t len[FIELDS_MAX];
	int count;
};

/* Splits line (len bytes, no newline) at ':' into f. */
static void
split_fields(const char *line, size_t len, struct fields *f)
{
	size_t begin = 0;

	f->count = 0;
	for (size_t i = 0; i <= len && f->count < FIELDS_MAX; i++) {
		if (i == len || line[i] == ':') {
			f->start[f->count] = line + begin;
			f->len[f->count] = i - begin;
			f->count++;
			begin = i + 1;
		}
	}
}

/* Parses a decimal id of 1 to 10 digits below UINT32_MAX. */
static int
parse_id(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	/* (uid_t)-1 means "unchanged" to setresuid: never a user. */
	if (v >= UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static bool
field_is(const struct fields *f, int i, const char *s, size_t slen)
{
	return f->count > i && f->len[i] == slen &&
	    memcmp(f->start[i], s, slen) == 0;
}

/* Returns the start of the line after p, and the length of p's line. */
static const char *
next_line(const char *p, const char *end, size_t *len)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	*len = (size_t)((nl ? nl : end) - p);
	return nl ? nl + 1 : end;
}

static bool
list_contains(const char *list, size_t len, const char *name, size_t nlen)
{
	const char *p = list, *end = list + len;

	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t item = (size_t)((comma ? comma : end) - p);

		if (item == nlen && memcmp(p, name, nlen) == 0)
			return true;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return false;
}

static int
add_group(struct os_user *out, gid_t gid, const char *user,
    struct nem_err *err)
{
	for (size_t i = 0; i < out->ngroups; i++) {
		if (out->groups[i] == gid)
			return 0;
	}
	if (out->ngroups == OS_GROUPS_MAX)
		return nem_err_set(err, E2BIG, "user %s is in more than %d "
		    "groups in the jail's /etc/group", user, OS_GROUPS_MAX);
	out->groups[out->ngroups++] = gid;
	return 0;
}

/* Finds user in passwd; 1 when found, 0 when not, -1 on a bad entry. */
static int
find_passwd(const char *passwd, size_t plen, const char *user, bool by_uid,
    uint32_t uid, struct os_user *out, struct nem_err *err)
{
	const char *p = passwd, *end = passwd + plen;
	size_t ulen = strlen(user);

	while (p < end) {
		struct fields f;
		uint32_t id, gid;
		size_t len;
		const char *line = p;

		p = next_line(p, end, &len);
		split_fields(line, len, &f);
		if (f.count < 3)
			continue;
		if (by_uid) {
			if (parse_id(f.start[2], f.len[2], &id) == -1 ||
			    id != uid)
				continue;
		} else if (!field_is(&f, 0, user, ulen)) {
			continue;
		}
		if (f.count != 7 ||
		    parse_id(f.start[2], f.len[2], &id) == -1 ||
		    parse_id(f.start[3], f.len[3], &gid) == -1)
			return nem_err_set(err, EBADMSG, "the jail's "
			    "/etc/passwd entry of user %s is malformed: it "
			    "needs 7 fields with numeric uid and gid", user);
		if (f.len[5] >= sizeof(out->home) || f.len[5] == 0 ||
		    f.start[5][0] != '/' || memchr(f.start[5], '\0', f.len[5]))
			return nem_err_set(err, EBADMSG, "the jail's "
			    "/etc/passwd entry of user %s has an invalid home "
			    "directory", user);
		out->uid = id;
		out->gid = gid;
		memcpy(out->home, f.start[5], f.len[5]);
		out->home[f.len[5]] = '\0';
		return 1;
	}
	return 0;
}

int
os_user_parse(const char *passwd, size_t plen, const char *group,
    size_t glen, const char *user, struct os_user *out, struct nem_err *err)
{
	const char *p, *end, *name;
	size_t name_len;
	uint32_t uid = 0;
	bool by_uid;
	int found;

	memset(out, 0, sizeof(*out));
	if (user == NULL || user[0] == '\0' || strlen(user) > 255 ||
	    strchr(user, ':') != NULL || strchr(user, ',') != NULL ||
	    strchr(user, '\n') != NULL)
		return nem_err_set(err, EINVAL, "user name %s is invalid",
		    user ? user : "(null)");
	by_uid = parse_id(user, strlen(user), &uid) == 0;

	found = find_passwd(passwd, plen, user, by_uid, uid, out, err);
	if (found == -1)
		return -1;
	if (found == 0 && !by_uid)
		return nem_err_set(err, ENOENT, "user %s not found in the "
		    "jail's /etc/passwd; add it to the image or give a "
		    "numeric uid", user);
	if (found == 0) {
		/* A bare uid without an entry runs with the same gid. */
		out->uid = uid;
		out->gid = uid;
		memcpy(out->home, "/", 2);
	}
	if (add_group(out, out->gid, user, err) == -1)
		return -1;
	if (found == 0)
		return 0;

	/* The members of a group(5) line are user names, not uids. */
	name = user;
	name_len = strlen(user);
	if (by_uid) {
		p = passwd;
		end = passwd + plen;
		while (p < end) {
			struct fields f;
			const char *line = p;
			uint32_t id;
			size_t len;

			p = next_line(p, end, &len);
			split_fields(line, len, &f);
			if (f.count >= 3 &&
			    parse_id(f.start[2], f.len[2], &id) == 0 &&
			    id == uid) {
				name = f.start[0];
				name_len = f.len[0];
				break;
			}
		}
	}

	p = group;
	end = group + glen;
	while (p < end) {
		struct fields f;
		const char *line = p;
		uint32_t gid;
		size_t len;

		p = next_line(p, end, &len);
		split_fields(line, len, &f);
		if (f.count != 4 || parse_id(f.start[2], f.len[2], &gid) == -1)
			continue;
		if (name_len > 0 &&
		    list_contains(f.start[3], f.len[3], name, name_len) &&
		    add_group(out, gid, user, err) == -1)
			return -1;
	}
	return 0;
}
