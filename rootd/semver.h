/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Semantic versions (semver 2.0.0) and version requirements, used to pick
 * an image version for a jail mount. Parsing is strict: no leading zeros,
 * no leading "v", every part in range.
 */
#ifndef ROOTD_SEMVER_H
#define ROOTD_SEMVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nem/err.h>

#define SEMVER_MAX_LEN 255	/* longest version or requirement string */

/* A parsed version. pre and build point into storage owned by the struct. */
struct semver {
	uint64_t major, minor, patch;
	char pre[SEMVER_MAX_LEN + 1];	/* pre-release, "" when none */
	char build[SEMVER_MAX_LEN + 1];	/* build metadata, "" when none */
};

struct semver_req;

/*
 * Parses a version such as "1.2.3", "1.0.0-rc.1" or "2.0.0+build.5" into
 * *out. Returns 0, or -1 with EINVAL and a message naming the bad part.
 */
int semver_parse(const char *s, struct semver *out, struct nem_err *err);

/*
 * Formats v as "major.minor.patch[-pre][+build]" into buf of size bytes.
 * Returns the length, or -1 when it does not fit.
 */
int semver_format(const struct semver *v, char *buf, size_t size);

/*
 * Compares two versions by semver 2.0.0 precedence (build metadata ignored).
 * Returns <0, 0 or >0.
 */
int semver_cmp(const struct semver *a, const struct semver *b);

/*
 * Parses a requirement: comparison sets (">=1.2.0 <2.0.0"), alternatives
 * joined by "||", caret ("^1.2"), tilde ("~1.2.3"), hyphen ranges
 * ("1.2 - 1.4"), wildcards ("1.x", "1.2.*", "*") and exact versions
 * ("1.2.3" or "=1.2.3"). Returns a requirement to free with semver_req_free,
 * or NULL with EINVAL (or ENOMEM) in err.
 *
 * Grammar (ws is spaces or tabs):
 *   requirement := range ( ws* "||" ws* range )*
 *   range       := partial ws+ "-" ws+ partial      (hyphen range, alone)
 *                | item ( ws+ item )*
 *   item        := op? ws* partial | "^" partial | "~" partial | "~>" partial
 *   op          := "=" | "<" | "<=" | ">" | ">="
 *   partial     := xr ( "." xr ( "." xr pre? build? )? )?
 *   xr          := "x" | "X" | "*" | number       (no number after a wildcard)
 * Meaning, with missing parts filled in by the rules of npm's node-semver:
 *   1.2.3 = =1.2.3     exactly 1.2.3 (build metadata ignored)
 *   1.2 = 1.2.x        >=1.2.0 <1.3.0-0        * = x = any release
 *   ^1.2.3             >=1.2.3 <2.0.0-0        ^0.2.3 >=0.2.3 <0.3.0-0
 *   ^0.0.3             >=0.0.3 <0.0.4-0        ^0.0 >=0.0.0 <0.1.0-0
 *   ~1.2.3             >=1.2.3 <1.3.0-0        ~1 >=1.0.0 <2.0.0-0
 *   >1.2               >=1.3.0                 <=1.2 <1.3.0-0
 *   1.2 - 2.3          >=1.2.0 <2.4.0-0        1.2.3 - 2.3.4 >=1.2.3 <=2.3.4
 * An empty requirement or alternative is invalid; "*" accepts any release.
 */
struct semver_req *semver_req_parse(const char *s, struct nem_err *err);

/*
 * Returns true when v satisfies req. A pre-release version matches only a
 * comparator that names a pre-release of the same major.minor.patch.
 */
bool semver_req_match(const struct semver_req *req, const struct semver *v);

/* Frees a requirement. NULL is allowed. */
void semver_req_free(struct semver_req *req);

#endif
