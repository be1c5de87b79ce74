/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helpers shared by the config*.c files and no other module: a per-file
 * validation context that collects errors, and typed getters over TOML
 * tables that report wrong types, bad values and unknown keys with the
 * position where they were written.
 */
#ifndef ROOTD_CONFIG_INT_H
#define ROOTD_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "toml.h"
#include "units.h"

/*
 * Returns a printable, shortened copy of the NUL-terminated string s for
 * quoting in a message (see units_preview()). The copy lives in a
 * compound literal, so it is valid until the end of the enclosing block.
 */
#define CFG_PREVIEW(s) \
	units_preview((s), strlen(s), (char[UNITS_PREVIEW_SIZE]){ 0 })

/* Validation state of one file. */
struct cfg_ctx {
	const char *file;	/* label for messages */
	struct cfg_diags *diags;
	size_t nerr;		/* errors found in this file */
};

/*
 * Appends an error at pos (line 0: none) and counts it. After CFG_DIAG_MAX
 * errors in one file, one note reports that the rest are left out, and later
 * errors are only counted.
 */
void cfg_err(struct cfg_ctx *ctx, struct toml_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Sorts the errors of diags from index first on by line and column, so
 * that they read from the top of the file down. Errors without a position
 * go last; the sort is stable.
 */
void cfg_diags_sort(struct cfg_diags *diags, size_t first);

/* Reports an allocation failure at pos. */
void cfg_oom(struct cfg_ctx *ctx, struct toml_pos pos);

/* Returns "a" or "an" and the name of v's type: "a string", "an array". */
const char *cfg_type_phrase(const struct toml_value *v);

/*
 * Reports key i of table as unknown in where ("[process]", ...), with
 * "did you mean 'x'?" when a name of known (NULL-terminated) is close by
 * edit distance. extra, when not NULL, is appended to the message.
 */
void cfg_unknown_key(struct cfg_ctx *ctx, const struct toml_value *table,
    size_t i, const char *where, const char *const *known, const char *extra);

/* Reports every key of table not in known (NULL-terminated). */
void cfg_check_keys(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *where, const char *const *known);

/*
 * Returns the closest name of known to key (edit distance at most 2, and
 * at most 1 for keys shorter than 5 bytes), or NULL.
 */
const char *cfg_suggest(const char *key, size_t len,
    const char *const *known);

/*
 * Typed getters. Each looks up key in table (which may be NULL) and
 * returns 0 when the key is absent (out untouched), 1 when it was read
 * into out, or -1 after reporting a wrong type or an invalid value.
 * *pos, when pos is not NULL, receives the value's position.
 */
int cfg_get_bool(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, bool *out);
int cfg_get_int(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, int64_t *out, struct toml_pos *pos);
/* A string without NUL bytes, at most CFG_STRING_MAX bytes. */
int cfg_get_str(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, const char **out, struct toml_pos *pos);
/* Checks a string value (an array element, say) like cfg_get_str. */
int cfg_str_value(struct cfg_ctx *ctx, const struct toml_value *v,
    const char *what, const char **out);
/* A name checked with name_check(kind, ...), copied into *out. */
int cfg_get_name(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, const char *kind, char **out, struct toml_pos *pos);
/* A duration; positive requires a value above zero. */
int cfg_get_duration(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, bool positive, uint64_t *out_ms);
/* A size: a string like "64M" or a positive integer byte count. */
int cfg_get_size(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, uint64_t *out);
/* An absolute, normalized path, copied into *out. */
int cfg_get_abs_path(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, char **out, struct toml_pos *pos);
/* An array of at most CFG_ARRAY_MAX elements; *out points into the doc. */
int cfg_get_array(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, const struct toml_value **out);
/* A table (header or inline); *out points into the doc. */
int cfg_get_table(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *key, const struct toml_value **out);

/*
 * Reads exec, env, stop_timeout, restart and the restart_delay keys of
 * table (a [[host]] or [process]) into cmd and policy, with defaults for
 * absent keys. exec is required. Returns 0, or -1 after reporting errors.
 */
int cfg_get_command(struct cfg_ctx *ctx, const struct toml_value *table,
    const char *where, struct cfg_command *cmd);
int cfg_get_policy(struct cfg_ctx *ctx, const struct toml_value *table,
    struct cfg_policy *policy);

/* Keys read by cfg_get_command() and cfg_get_policy(), for key checks. */
#define CFG_COMMAND_KEYS "exec", "env"
#define CFG_POLICY_KEYS "stop_timeout", "restart", "restart_delay", \
	"restart_delay_max", "restart_reset"

void cfg_command_free(struct cfg_command *cmd);

/*
 * Reads the "mount" array of a jail description's root table into jail;
 * confdir resolves relative file sources. Returns 0, or -1 after reporting
 * errors.
 */
int cfg_get_mounts(struct cfg_ctx *ctx, const struct toml_value *root,
    const char *confdir, struct cfg_jail *jail);

/* Frees the strings of one mount, not the mount itself. */
void cfg_mount_free(struct cfg_mount *m);

/* Sorted claims of one kind, defined in config_claims.c. */
struct cfg_claim;
struct cfg_claims {
	struct cfg_claim *v;
	size_t len;
};

/*
 * Reports services, volumes, writable devices and listen addresses that
 * two mounts or jails of set claim, into the set_diags of the later
 * claimant, and fills providers with the service index for
 * cfg_claims_provider(). Returns 0, or -1 when out of memory.
 */
int cfg_check_claims(struct cfg_set *set, struct cfg_claims *providers);

/* Returns the set index of the jail that provides service, or SIZE_MAX. */
size_t cfg_claims_provider(const struct cfg_claims *providers,
    const char *service);

void cfg_claims_free(struct cfg_claims *claims);

/* Returns the jail of set entry i when its file is valid, else NULL. */
struct cfg_jail *cfg_set_valid(const struct cfg_set *set, size_t i);

/* Adds an error found across jails to set entry i, at line and col. */
void cfg_set_err(struct cfg_set *set, size_t i, unsigned line, unsigned col,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Returns the position of the start of the document. */
struct toml_pos cfg_doc_pos(void);

/*
 * Reads the whole file at path, at most CFG_FILE_MAX bytes, into a buffer
 * to free(). Returns 0, or -1 with err filled.
 */
int cfg_read_file(const char *path, char **data, size_t *len,
    struct nem_err *err);

/*
 * Parses data as TOML; a syntax error is reported through ctx. Returns the
 * document to toml_free(), or NULL.
 */
struct toml_doc *cfg_parse(struct cfg_ctx *ctx, const char *data, size_t len);

/* strdup() that reports an allocation failure at pos. */
char *cfg_strdup(struct cfg_ctx *ctx, const char *s, struct toml_pos pos);

#endif
