/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Semantic versions (semver 2.0.0) and version requirements. Versions are
 * parsed strictly. A requirement is reduced to sets of plain comparisons
 * (">=1.2.0 <2.0.0-0") joined by "||", so matching is a loop over
 * comparators. The grammar is in semver.h and doc/images.md.
 */
#include "semver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum semver_op {
	SEMVER_OP_EQ,
	SEMVER_OP_LT,
	SEMVER_OP_LE,
	SEMVER_OP_GT,
	SEMVER_OP_GE,
};

/* One comparison of a version against a bound. */
struct semver_comparator {
	enum semver_op op;
	/* true when the requirement text named this pre-release itself */
	bool names_pre;
	struct semver bound;
};

/* The comparators of one alternative are items [first, first + count). */
struct semver_range {
	size_t first;
	size_t count;
};

struct semver_req {
	struct semver_comparator *items;
	size_t nitems;
	size_t items_cap;
	struct semver_range *ranges;
	size_t nranges;
	size_t ranges_cap;
};

/*
 * A version as written in a requirement, where trailing parts may be
 * missing or wildcards: "1", "1.2", "1.x", "*". nparts counts the leading
 * numeric parts (0 to 3), and the parts after them are 0 in v. pre is set
 * only when nparts is 3.
 */
struct semver_partial {
	int nparts;
	struct semver v;
};

/* Parsing position inside a version or requirement string. */
struct semver_cursor {
	const char *input;	/* whole string, for messages */
	const char *p;		/* next byte to read */
	const char *kind;	/* "version" or "requirement" */
};

static const char *const part_names[] = { "major", "minor", "patch" };

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_ident_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || c == '-';
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int
cursor_fail(struct semver_cursor *cur, struct nem_err *err, const char *what)
{
	return nem_err_set(err, EINVAL, "invalid %s \"%s\": %s at offset %td",
	    cur->kind, cur->input, what, cur->p - cur->input);
}

/* Parses a numeric part: "0" or digits without a leading zero, in range. */
static int
parse_number(struct semver_cursor *cur, const char *part, uint64_t *out,
    struct nem_err *err)
{
	char what[64];
	uint64_t n = 0;

	if (!is_digit(*cur->p)) {
		snprintf(what, sizeof(what), "%s is not a number", part);
		return cursor_fail(cur, err, what);
	}
	if (cur->p[0] == '0' && is_digit(cur->p[1])) {
		snprintf(what, sizeof(what), "%s has a leading zero", part);
		return cursor_fail(cur, err, what);
	}
	while (is_digit(*cur->p)) {
		if (__builtin_mul_overflow(n, 10, &n) ||
		    __builtin_add_overflow(n, (uint64_t)(*cur->p - '0'), &n)) {
			snprintf(what, sizeof(what), "%s is larger than %ju",
			    part, (uintmax_t)UINT64_MAX);
			return cursor_fail(cur, err, what);
		}
		cur->p++;
	}
	*out = n;
	return 0;
}

/*
 * Parses dot-separated identifiers of a pre-release (numeric identifiers
 * without leading zeros) or of build metadata (any digits allowed) into out,
 * which has room for SEMVER_MAX_LEN bytes.
 */
static int
parse_identifiers(struct semver_cursor *cur, bool pre, char *out,
    struct nem_err *err)
{
	const char *start = cur->p;
	const char *what = pre ? "pre-release" : "build metadata";
	char msg[96];
	size_t len;

	for (;;) {
		const char *ident = cur->p;
		bool numeric = true;

		while (is_ident_char(*cur->p)) {
			if (!is_digit(*cur->p))
				numeric = false;
			cur->p++;
		}
		if (cur->p == ident) {
			snprintf(msg, sizeof(msg), "empty %s identifier",
			    what);
			return cursor_fail(cur, err, msg);
		}
		if (pre && numeric && ident[0] == '0' && cur->p - ident > 1) {
			cur->p = ident;
			return cursor_fail(cur, err,
			    "numeric pre-release identifier has a leading zero");
		}
		if (*cur->p != '.')
			break;
		cur->p++;
	}
	len = (size_t)(cur->p - start);
	if (len > SEMVER_MAX_LEN) {
		snprintf(msg, sizeof(msg), "%s longer than %d bytes", what,
		    SEMVER_MAX_LEN);
		return cursor_fail(cur, err, msg);
	}
	memcpy(out, start, len);
	out[len] = '\0';
	return 0;
}

/* Parses "-pre" and "+build" if present. */
static int
parse_suffixes(struct semver_cursor *cur, struct semver *v,
    struct nem_err *err)
{
	v->pre[0] = '\0';
	v->build[0] = '\0';
	if (*cur->p == '-') {
		cur->p++;
		if (parse_identifiers(cur, true, v->pre, err) == -1)
			return -1;
	}
	if (*cur->p == '+') {
		cur->p++;
		if (parse_identifiers(cur, false, v->build, err) == -1)
			return -1;
	}
	return 0;
}

static int
check_length(const char *kind, const char *s, struct nem_err *err)
{
	size_t len;

	if (s == NULL)
		return nem_err_set(err, EINVAL, "missing %s", kind);
	len = strnlen(s, SEMVER_MAX_LEN + 1);
	if (len > SEMVER_MAX_LEN)
		return nem_err_set(err, EINVAL, "invalid %s \"%.32s...\": "
		    "longer than %d bytes", kind, s, SEMVER_MAX_LEN);
	if (len == 0)
		return nem_err_set(err, EINVAL, "invalid %s: empty", kind);
	return 0;
}

int
semver_parse(const char *s, struct semver *out, struct nem_err *err)
{
	struct semver_cursor cur = { s, s, "version" };
	uint64_t *parts[3];

	if (check_length("version", s, err) == -1)
		return -1;
	if (s[0] == 'v' || s[0] == 'V')
		return nem_err_set(err, EINVAL, "invalid version \"%s\": "
		    "remove the leading \"%c\"", s, s[0]);

	parts[0] = &out->major;
	parts[1] = &out->minor;
	parts[2] = &out->patch;
	for (int i = 0; i < 3; i++) {
		if (i > 0) {
			if (*cur.p != '.')
				return cursor_fail(&cur, err, i == 1 ?
				    "expected \".minor.patch\"" :
				    "expected \".patch\"");
			cur.p++;
		}
		if (parse_number(&cur, part_names[i], parts[i], err) == -1)
			return -1;
	}
	if (parse_suffixes(&cur, out, err) == -1)
		return -1;
	if (*cur.p != '\0')
		return cursor_fail(&cur, err, "unexpected character");
	return 0;
}

int
semver_format(const struct semver *v, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size, "%ju.%ju.%ju%s%s%s%s", (uintmax_t)v->major,
	    (uintmax_t)v->minor, (uintmax_t)v->patch, v->pre[0] ? "-" : "",
	    v->pre, v->build[0] ? "+" : "", v->build);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return n;
}

static bool
is_numeric_ident(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/*
 * Compares pre-release strings by semver 2.0.0 rule 11, identifier by
 * identifier from the left. Numeric identifiers compare by value, which
 * without leading zeros is by length and then by digits. Numeric ranks below
 * alphanumeric, alphanumeric compares in ASCII order, and a shorter list
 * ranks below a longer one it prefixes. An empty pre-release (a release)
 * ranks above any pre-release.
 */
static int
compare_pre(const char *a, const char *b)
{
	if (a[0] == '\0' || b[0] == '\0')
		return (a[0] == '\0') - (b[0] == '\0');

	for (;;) {
		size_t alen = strcspn(a, ".");
		size_t blen = strcspn(b, ".");
		bool anum = is_numeric_ident(a, alen);
		bool bnum = is_numeric_ident(b, blen);
		int c;

		if (anum && bnum) {
			if (alen != blen)
				return alen < blen ? -1 : 1;
			c = memcmp(a, b, alen);
		} else if (anum != bnum) {
			c = anum ? -1 : 1;
		} else {
			c = memcmp(a, b, alen < blen ? alen : blen);
			if (c == 0 && alen != blen)
				c = alen < blen ? -1 : 1;
		}
		if (c != 0)
			return c < 0 ? -1 : 1;

		a += alen;
		b += blen;
		if (*a == '\0' || *b == '\0')
			return (*a != '\0') - (*b != '\0');
		a++;
		b++;
	}
}

static int
compare_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

int
semver_cmp(const struct semver *a, const struct semver *b)
{
	int c;

	if ((c = compare_u64(a->major, b->major)) != 0)
		return c;
	if ((c = compare_u64(a->minor, b->minor)) != 0)
		return c;
	if ((c = compare_u64(a->patch, b->patch)) != 0)
		return c;
	return compare_pre(a->pre, b->pre);
}

/* Requirements. */

static int
parse_partial(struct semver_cursor *cur, struct semver_partial *out,
    struct nem_err *err)
{
	uint64_t *parts[3];
	bool wildcard = false;

	memset(out, 0, sizeof(*out));
	parts[0] = &out->v.major;
	parts[1] = &out->v.minor;
	parts[2] = &out->v.patch;
	if (*cur->p == 'v' || *cur->p == 'V')
		return cursor_fail(cur, err, "remove the leading \"v\"");

	for (int i = 0; i < 3; i++) {
		if (i > 0) {
			if (*cur->p != '.')
				break;
			cur->p++;
		}
		if (*cur->p == 'x' || *cur->p == 'X' || *cur->p == '*') {
			cur->p++;
			wildcard = true;
			continue;
		}
		if (wildcard)
			return cursor_fail(cur, err,
			    "only wildcards may follow a wildcard");
		if (parse_number(cur, part_names[i], parts[i], err) == -1)
			return -1;
		out->nparts++;
	}
	if (*cur->p == '-' || *cur->p == '+') {
		if (out->nparts < 3)
			return cursor_fail(cur, err, "a pre-release or build "
			    "needs all of major.minor.patch");
		if (parse_suffixes(cur, &out->v, err) == -1)
			return -1;
	}
	return 0;
}

static int
req_add(struct semver_req *req, enum semver_op op, const struct semver *bound,
    bool names_pre, struct nem_err *err)
{
	struct semver_comparator *item;

	if (req->nitems == req->items_cap) {
		size_t cap = req->items_cap ? req->items_cap * 2 : 4;
		struct semver_comparator *grown;

		grown = reallocarray(req->items, cap, sizeof(*grown));
		if (grown == NULL)
			return nem_err_sys(err, ENOMEM,
			    "cannot grow a version requirement");
		req->items = grown;
		req->items_cap = cap;
	}
	item = &req->items[req->nitems++];
	item->op = op;
	item->names_pre = names_pre && bound->pre[0] != '\0';
	item->bound = *bound;
	item->bound.build[0] = '\0';
	req->ranges[req->nranges - 1].count++;
	return 0;
}

static int
req_open_range(struct semver_req *req, struct nem_err *err)
{
	if (req->nranges == req->ranges_cap) {
		size_t cap = req->ranges_cap ? req->ranges_cap * 2 : 2;
		struct semver_range *grown;

		grown = reallocarray(req->ranges, cap, sizeof(*grown));
		if (grown == NULL)
			return nem_err_sys(err, ENOMEM,
			    "cannot grow a version requirement");
		req->ranges = grown;
		req->ranges_cap = cap;
	}
	req->ranges[req->nranges].first = req->nitems;
	req->ranges[req->nranges].count = 0;
	req->nranges++;
	return 0;
}

/* The missing parts of p filled with zeros, without pre-release. */
static struct semver
partial_floor(const struct semver_partial *p)
{
	struct semver v = p->v;

	v.build[0] = '\0';
	if (p->nparts < 3)
		v.pre[0] = '\0';
	return v;
}

/*
 * Raises part `level` (1 major, 2 minor, 3 patch) of p by one, zeroes the
 * parts after it and adds the pre-release "-0": "1.2" at level 2 gives
 * "1.3.0-0". Because "-0" is the lowest pre-release, "<1.3.0-0" excludes
 * every 1.3.0 pre-release too.
 */
static int
partial_bump(struct semver_cursor *cur, const struct semver_partial *p,
    int level, struct semver *out, struct nem_err *err)
{
	uint64_t *parts[3];

	*out = partial_floor(p);
	parts[0] = &out->major;
	parts[1] = &out->minor;
	parts[2] = &out->patch;
	if (__builtin_add_overflow(*parts[level - 1], 1, parts[level - 1]))
		return cursor_fail(cur, err, "version part too large to raise");
	for (int i = level; i < 3; i++)
		*parts[i] = 0;
	strcpy(out->pre, "0");
	return 0;
}

static int
add_floor(struct semver_req *req, enum semver_op op,
    const struct semver_partial *p, struct nem_err *err)
{
	struct semver v = partial_floor(p);

	return req_add(req, op, &v, true, err);
}

static int
add_bump(struct semver_req *req, struct semver_cursor *cur,
    const struct semver_partial *p, int level, struct nem_err *err)
{
	struct semver v;

	if (partial_bump(cur, p, level, &v, err) == -1)
		return -1;
	return req_add(req, SEMVER_OP_LT, &v, false, err);
}

/* Adds a comparator that no version satisfies ("<0.0.0-0"). */
static int
add_nothing(struct semver_req *req, struct nem_err *err)
{
	struct semver v;

	memset(&v, 0, sizeof(v));
	strcpy(v.pre, "0");
	return req_add(req, SEMVER_OP_LT, &v, false, err);
}

/* Reduces "op partial" (op may be EQ for a bare partial) to comparators. */
static int
add_primitive(struct semver_req *req, struct semver_cursor *cur,
    enum semver_op op, const struct semver_partial *p, struct nem_err *err)
{
	struct semver v;

	if (p->nparts == 3)
		return add_floor(req, op, p, err);

	switch (op) {
	case SEMVER_OP_EQ:
		if (p->nparts == 0)
			return 0;
		if (add_floor(req, SEMVER_OP_GE, p, err) == -1)
			return -1;
		return add_bump(req, cur, p, p->nparts, err);
	case SEMVER_OP_GT:
		/* ">1.2" means above every 1.2.x: ">=1.3.0". */
		if (p->nparts == 0)
			return add_nothing(req, err);
		if (partial_bump(cur, p, p->nparts, &v, err) == -1)
			return -1;
		v.pre[0] = '\0';
		return req_add(req, SEMVER_OP_GE, &v, false, err);
	case SEMVER_OP_GE:
		if (p->nparts == 0)
			return 0;
		return add_floor(req, SEMVER_OP_GE, p, err);
	case SEMVER_OP_LT:
		/* "<1.2" means below every 1.2.x: "<1.2.0-0". */
		if (p->nparts == 0)
			return add_nothing(req, err);
		v = partial_floor(p);
		strcpy(v.pre, "0");
		return req_add(req, SEMVER_OP_LT, &v, false, err);
	case SEMVER_OP_LE:
		if (p->nparts == 0)
			return 0;
		return add_bump(req, cur, p, p->nparts, err);
	}
	return 0;
}

/* "~1.2.3" allows patch changes, "~1" minor changes. */
static int
add_tilde(struct semver_req *req, struct semver_cursor *cur,
    const struct semver_partial *p, struct nem_err *err)
{
	if (p->nparts == 0)
		return 0;
	if (add_floor(req, SEMVER_OP_GE, p, err) == -1)
		return -1;
	return add_bump(req, cur, p, p->nparts == 1 ? 1 : 2, err);
}

/*
 * "^1.2.3" allows changes that keep the leftmost non-zero part given:
 * ^1.2.3 := <2.0.0-0, ^0.2.3 := <0.3.0-0, ^0.0.3 := <0.0.4-0, ^0.0 :=
 * <0.1.0-0, ^0 := <1.0.0-0.
 */
static int
add_caret(struct semver_req *req, struct semver_cursor *cur,
    const struct semver_partial *p, struct nem_err *err)
{
	int level;

	if (p->nparts == 0)
		return 0;
	if (add_floor(req, SEMVER_OP_GE, p, err) == -1)
		return -1;
	if (p->v.major != 0 || p->nparts == 1)
		level = 1;
	else if (p->v.minor != 0 || p->nparts == 2)
		level = 2;
	else
		level = 3;
	return add_bump(req, cur, p, level, err);
}

/* "1.2 - 2.3" := ">=1.2.0 <2.4.0-0", "1.2.3 - 2.3.4" := ">=1.2.3 <=2.3.4". */
static int
add_hyphen(struct semver_req *req, struct semver_cursor *cur,
    const struct semver_partial *lo, const struct semver_partial *hi,
    struct nem_err *err)
{
	if (lo->nparts > 0 && add_floor(req, SEMVER_OP_GE, lo, err) == -1)
		return -1;
	if (hi->nparts == 3)
		return add_floor(req, SEMVER_OP_LE, hi, err);
	if (hi->nparts > 0)
		return add_bump(req, cur, hi, hi->nparts, err);
	return 0;
}

static void
skip_space(struct semver_cursor *cur)
{
	while (is_space(*cur->p))
		cur->p++;
}

static bool
at_range_end(const struct semver_cursor *cur)
{
	return *cur->p == '\0' || (cur->p[0] == '|' && cur->p[1] == '|');
}

static int
parse_operator(struct semver_cursor *cur, enum semver_op *op)
{
	switch (*cur->p) {
	case '=':
		cur->p++;
		*op = SEMVER_OP_EQ;
		return 1;
	case '<':
	case '>':
		*op = *cur->p == '<' ? SEMVER_OP_LT : SEMVER_OP_GT;
		cur->p++;
		if (*cur->p == '=') {
			cur->p++;
			*op = *op == SEMVER_OP_LT ? SEMVER_OP_LE : SEMVER_OP_GE;
		}
		return 1;
	default:
		return 0;
	}
}

/*
 * Parses one comparator set up to "||" or the end: either a hyphen range
 * alone or whitespace-separated primitives, tildes and carets.
 */
static int
parse_range(struct semver_req *req, struct semver_cursor *cur,
    struct nem_err *err)
{
	struct semver_partial p, hi;
	enum semver_op op;
	bool first = true;

	skip_space(cur);
	if (at_range_end(cur))
		return cursor_fail(cur, err, "empty alternative; use \"*\" "
		    "to accept any version");

	while (!at_range_end(cur)) {
		char c = *cur->p;
		int rc;

		if (c == '^' || c == '~') {
			cur->p++;
			if (c == '~' && *cur->p == '>')
				cur->p++;
			if (parse_partial(cur, &p, err) == -1)
				return -1;
			rc = c == '^' ? add_caret(req, cur, &p, err) :
			    add_tilde(req, cur, &p, err);
		} else if (parse_operator(cur, &op)) {
			skip_space(cur);
			if (parse_partial(cur, &p, err) == -1)
				return -1;
			rc = add_primitive(req, cur, op, &p, err);
		} else {
			const char *after;

			if (parse_partial(cur, &p, err) == -1)
				return -1;
			after = cur->p;
			skip_space(cur);
			if (first && cur->p > after && cur->p[0] == '-' &&
			    is_space(cur->p[1])) {
				cur->p++;
				skip_space(cur);
				if (parse_partial(cur, &hi, err) == -1)
					return -1;
				rc = add_hyphen(req, cur, &p, &hi, err);
				skip_space(cur);
				if (rc == 0 && !at_range_end(cur))
					return cursor_fail(cur, err, "a hyphen "
					    "range must be alone in its "
					    "alternative");
				return rc;
			}
			cur->p = after;
			rc = add_primitive(req, cur, SEMVER_OP_EQ, &p, err);
		}
		if (rc == -1)
			return -1;

		if (!at_range_end(cur) && !is_space(*cur->p))
			return cursor_fail(cur, err, "unexpected character");
		skip_space(cur);
		first = false;
	}
	return 0;
}

struct semver_req *
semver_req_parse(const char *s, struct nem_err *err)
{
	struct semver_cursor cur = { s, s, "version requirement" };
	struct semver_req *req;

	if (check_length("version requirement", s, err) == -1)
		return NULL;
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		nem_err_sys(err, ENOMEM, "cannot allocate a version "
		    "requirement");
		return NULL;
	}

	for (;;) {
		if (req_open_range(req, err) == -1 ||
		    parse_range(req, &cur, err) == -1) {
			semver_req_free(req);
			return NULL;
		}
		if (*cur.p == '\0')
			break;
		cur.p += 2;	/* "||" */
	}
	return req;
}

static bool
comparator_match(const struct semver_comparator *c, const struct semver *v)
{
	int order = semver_cmp(v, &c->bound);

	switch (c->op) {
	case SEMVER_OP_EQ:
		return order == 0;
	case SEMVER_OP_LT:
		return order < 0;
	case SEMVER_OP_LE:
		return order <= 0;
	case SEMVER_OP_GT:
		return order > 0;
	case SEMVER_OP_GE:
		return order >= 0;
	}
	return false;
}

static bool
range_match(const struct semver_req *req, const struct semver_range *range,
    const struct semver *v)
{
	bool pre_allowed = v->pre[0] == '\0';

	/* An empty range ("*") has no items, and req->items may be NULL. */
	for (size_t i = 0; i < range->count; i++) {
		const struct semver_comparator *item =
		    &req->items[range->first + i];

		if (!comparator_match(item, v))
			return false;
		if (item->names_pre && item->bound.major == v->major &&
		    item->bound.minor == v->minor &&
		    item->bound.patch == v->patch)
			pre_allowed = true;
	}
	return pre_allowed;
}

bool
semver_req_match(const struct semver_req *req, const struct semver *v)
{
	for (size_t i = 0; i < req->nranges; i++)
		if (range_match(req, &req->ranges[i], v))
			return true;
	return false;
}

void
semver_req_free(struct semver_req *req)
{
	if (req == NULL)
		return;
	free(req->items);
	free(req->ranges);
	free(req);
}
