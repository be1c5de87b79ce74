/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Private header of nemctl, the command-line client of nem-rootd's control
 * socket. nemctl.c parses the global options and dispatches to one file per
 * command group (cmd_image.c, cmd_jail.c, cmd_misc.c). call.c sends the
 * requests through libnem's blocking client. args.c, table.c and
 * progress.c contain the parsing and formatting that the unit tests check.
 * nemctl never retries a request on its own: its exit code shows a script
 * whether a retry can help.
 */
#ifndef NEMCTL_H
#define NEMCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <bson/bson.h>

#include <nem/client.h>
#include <nem/err.h>

#include "control.h"

/* Exit codes, as in s6: a script retries only after NEMCTL_EXIT_SYSTEM. */
#define NEMCTL_EXIT_OK 0
#define NEMCTL_EXIT_PROBLEMS 1		/* image verify found bad files */
#define NEMCTL_EXIT_USAGE 100		/* wrong usage, or the daemon rejected
					   the request (invalid, not found,
					   permission denied, ...) */
#define NEMCTL_EXIT_SYSTEM 111		/* system or connection failure */

/* Control socket used without --socket and $NEM_SOCKET. */
#define NEMCTL_DEFAULT_SOCKET "/run/nem/control.sock"

/* Request timeouts in milliseconds. */
#define NEMCTL_TIMEOUT_MS 30000		/* plain requests */
#define NEMCTL_TIMEOUT_LONG_MS 600000	/* image import, verify and gc, which
					   the daemon runs without replying */

/* State of one nemctl run. */
struct nemctl {
	const char *socket;		/* control socket path */
	bool json;			/* --json: JSON documents on stdout */
	struct nem_client *cl;		/* NULL until the first call */
	FILE *out;			/* stdout, or a memory stream in tests */
	bool busy_is_in_use;		/* busy means in use by a jail: exit
					   NEMCTL_EXIT_USAGE, because a retry
					   cannot help until an operator acts */
};

/* ---- args.c: command-line parsing ---- */

/* An option a command accepts. */
struct args_opt {
	const char *name;		/* long name without "--" */
	char short_name;		/* '\0' when there is none */
	bool has_value;			/* takes a value: --name V or --name=V */
};

#define ARGS_MAX_POS 4
#define ARGS_MAX_OPTS 8

/* The parsed arguments of one command. */
struct args {
	const char *pos[ARGS_MAX_POS];	/* positional arguments */
	int npos;
	const char *value[ARGS_MAX_OPTS]; /* value of opts[i], or NULL */
	bool set[ARGS_MAX_OPTS];	/* opts[i] was given */
	bool help;			/* --help or -h */
	bool json;			/* --json after the command */
};

/*
 * Parses argv[0..argc) of one command (without the command words) against
 * the nopts options in opts (at most ARGS_MAX_OPTS) and min_pos to max_pos
 * (at most ARGS_MAX_POS) positional arguments. "--" ends the options.
 * --help and -h stop the parsing and set out->help. Returns 0, or -1 with
 * EINVAL in err naming the unknown option, the missing value or the wrong
 * argument count.
 */
int args_parse(int argc, char **argv, const struct args_opt *opts,
    size_t nopts, int min_pos, int max_pos, struct args *out,
    struct nem_err *err);

/*
 * Parses a duration: a whole number followed by "ms", "s", "m" or "h"
 * ("s" when there is no unit), such as "90s" or "2m", into milliseconds
 * (*ms, at most one day). Returns 0, or -1 with EINVAL (bad syntax or
 * unit) or ERANGE (zero, or over one day).
 */
int args_duration(const char *s, uint32_t *ms, struct nem_err *err);

/*
 * Checks that s is a SHA-256 digest: 64 lower- or upper-case hexadecimal
 * digits. Returns 0, or -1 with EINVAL naming the value.
 */
int args_sha256(const char *s, struct nem_err *err);

/*
 * Checks name with the naming rule of nem-rootd (rootd/names.h), so a name
 * fails locally with the daemon's own message ("invalid jail name ...").
 * kind is "jail", "image", "volume" or "host". Returns 0, or -1 with EINVAL.
 */
int args_name(const char *kind, const char *name, struct nem_err *err);

/*
 * Derives a jail name from a description file path: the base name
 * without its ".toml" suffix, copied into buf (size bytes), then checked
 * with args_name. Returns 0, or -1 with EINVAL (no ".toml" suffix, bad
 * name) or ENAMETOOLONG.
 */
int args_jail_name(const char *path, char *buf, size_t size,
    struct nem_err *err);

/* ---- table.c: human-readable and JSON output ---- */

#define TABLE_MAX_COLS 8

/* An aligned text table built row by row; cells are copied. */
struct table {
	size_t ncols;
	size_t nrows;			/* rows, the heading included */
	size_t cap;
	char **cells;			/* nrows * ncols strings */
	size_t width[TABLE_MAX_COLS];
};

/*
 * Starts a table whose heading row has the ncols (1 to TABLE_MAX_COLS)
 * strings of heads. Returns 0, or -1 with ENOMEM or EINVAL.
 */
int table_init(struct table *t, size_t ncols, const char *const *heads,
    struct nem_err *err);

/*
 * Appends a row of t->ncols strings (a NULL cell prints as "-"). Returns
 * 0, or -1 with ENOMEM.
 */
int table_add(struct table *t, const char *const *cells, struct nem_err *err);

/*
 * Prints the table to out: columns separated by two spaces and padded to
 * their widest cell, the last column unpadded. Control characters in cells
 * print as '?', so a daemon's string cannot move the terminal's cursor.
 */
void table_print(const struct table *t, FILE *out);

/* Frees the cells; t can be initialised again. */
void table_free(struct table *t);

/*
 * Writes s to out with every control byte (below 0x20, and 0x7f) as '?',
 * so a string from the daemon cannot move a terminal's cursor.
 */
void table_put(const char *s, FILE *out);

/*
 * Prints every top-level field of doc as "key  value" lines with the values
 * aligned (strings as they are, numbers in decimal, booleans as yes/no,
 * nested documents as JSON).
 */
void table_print_fields(const bson_t *doc, FILE *out);

/* Prints doc as one line of relaxed extended JSON followed by '\n'. */
void table_print_json(const bson_t *doc, FILE *out);

/*
 * Writes the len bytes of s to out as a JSON string with quotes. Bytes of
 * invalid UTF-8 are written as \u00XX escapes of their Latin-1 meaning.
 */
void table_json_string(const char *s, size_t len, FILE *out);

/*
 * Formats a byte count for people: "512 B", "1.5 KiB", "3.0 GiB".
 */
void table_size(uint64_t bytes, char *buf, size_t size);

/*
 * Formats Unix time t as "YYYY-MM-DD HH:MM:SS" in UTC, or "-" when t is 0
 * or not representable.
 */
void table_time(int64_t t, char *buf, size_t size);

/*
 * Prints the final reply of imghost.add-image as "pushed image NAME VERSION
 * (SIZE, sha256 DIGEST)", leaving out VERSION when the image has none.
 */
void table_print_pushed(const bson_t *reply, FILE *out);

/*
 * Formats the "exit_code" and "signal" fields of doc (a jail or host
 * document) as "exited N", "killed by SIGNAME" or "-" when the process has
 * not exited yet.
 */
void table_exit(const bson_t *doc, char *buf, size_t size);

/* Accessors of a reply document: "" / 0 / false when the field is missing
 * or of another type. path may name a nested field as "jail.state". */
const char *doc_str(const bson_t *doc, const char *path);
int64_t doc_int(const bson_t *doc, const char *path);
bool doc_bool(const bson_t *doc, const char *path);

/* ---- progress.c: the progress of an image upload ---- */

/*
 * Formats one progress line into buf: a bar of bar_width characters, the
 * percentage, the rate and the time left, such as
 * "[#########...........]  45%  12.3 MiB/s  0:05 left". A total of 0
 * prints only the byte count and the rate. elapsed_ms is the time since the
 * start. Returns buf.
 */
char *progress_format(char *buf, size_t size, uint64_t done, uint64_t total,
    uint64_t elapsed_ms, int bar_width);

struct progress;

/*
 * Starts showing the progress of reading fd (total bytes) on err_out. On a
 * terminal a thread redraws a bar five times a second from fd's file
 * offset, which the daemon advances as it reads its copy of the
 * descriptor. Elsewhere nothing prints until progress_end. Returns the progress (end it
 * with progress_end), or NULL with ENOMEM or the error of pthread_create.
 */
struct progress *progress_start(int fd, uint64_t total, FILE *err_out,
    struct nem_err *err);

/* Records done bytes reported by the daemon. Thread-safe. */
void progress_report(struct progress *p, uint64_t done);

/*
 * Stops the thread and prints the final line: on a terminal the full bar
 * followed by a newline, elsewhere "nemctl: sent N bytes in T s (R)". No
 * final line when ok is false. Frees p; NULL is ignored.
 */
void progress_end(struct progress *p, bool ok);

/* ---- call.c: requests to the daemon ---- */

/*
 * Sends service/command with body (NULL for none) and fd (-1 for none) and
 * waits up to timeout_ms for the reply. what names the action in error
 * messages ("jail start web"). On success stores the reply document in
 * *out when out is not NULL (an empty document for an empty reply; free it
 * with bson_destroy). Returns NEMCTL_EXIT_OK, or NEMCTL_EXIT_USAGE or
 * NEMCTL_EXIT_SYSTEM after printing the error to stderr.
 */
int call(struct nemctl *c, uint16_t service, uint16_t command,
    const bson_t *body, int fd, uint32_t timeout_ms, const char *what,
    bson_t *out);

/* Formats one document of a list reply as a row of t. Returns 0 or -1. */
typedef int list_row_fn(struct table *t, const bson_t *doc,
    struct nem_err *err);

/*
 * Sends a list request without a body and prints the array of documents
 * under key in the reply: as JSON with --json, else as a table with the
 * ncols column heads and one row per document, made by row. what names the
 * command in error messages. Returns an exit code.
 */
int list_print(struct nemctl *c, uint16_t service, uint16_t command,
    const char *what, const char *key, const char *const *heads,
    size_t ncols, list_row_fn *row);

/*
 * Like call, for a request whose replies stream: fn gets each CONTINUE
 * reply with arg (return non-zero to cancel). timeout_ms may be
 * NEM_TIMEOUT_NONE for an endless stream: then SIGINT or SIGTERM (Ctrl-C)
 * sends CANCEL for the request, flushes c->out and returns NEMCTL_EXIT_OK.
 */
int call_stream(struct nemctl *c, uint16_t service, uint16_t command,
    const bson_t *body, int fd, uint32_t timeout_ms, const char *what,
    nem_stream_fn *fn, void *arg, bson_t *out);

/*
 * Maps a reply's code to the exit code: NEMCTL_EXIT_SYSTEM for local
 * failures, busy, timed out, unavailable, cancelled and internal errors;
 * NEMCTL_EXIT_USAGE for the others; NEMCTL_EXIT_OK for NEM_OK. call and
 * call_stream map busy to NEMCTL_EXIT_USAGE when c->busy_is_in_use is set.
 */
int call_exit_code(int64_t code, bool local);

/*
 * Prints "nemctl: " and the formatted message to stderr and returns
 * NEMCTL_EXIT_USAGE, for errors found before anything was sent.
 */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "nemctl: MSG" for err to stderr and returns exit. */
int print_err(const struct nem_err *err, int exit);

/* ---- command groups: each returns the exit code ---- */

int cmd_info(struct nemctl *c, int argc, char **argv);
int cmd_image(struct nemctl *c, int argc, char **argv);
int cmd_jail(struct nemctl *c, int argc, char **argv);
int cmd_volume(struct nemctl *c, int argc, char **argv);
int cmd_host(struct nemctl *c, int argc, char **argv);
int cmd_events(struct nemctl *c, int argc, char **argv);

/* One sub-command of a group, such as "rm" of "image". */
struct subcmd {
	const char *name;
	int (*fn)(struct nemctl *c, const struct subcmd *sc, int argc,
	    char **argv);
	const char *usage;		/* "image rm NAME [--version V]" */
	const char *summary;		/* one line for --help */
};

/*
 * Runs the sub-command argv[0] of a group: finds it in the table of n
 * entries and calls it with the remaining arguments. Prints the group's
 * usage for "help", --help and -h (returning NEMCTL_EXIT_OK) and for a
 * missing or unknown sub-command (NEMCTL_EXIT_USAGE). Returns the exit
 * code.
 */
int subcmd_run(struct nemctl *c, const char *group,
    const struct subcmd *cmds, size_t n, int argc, char **argv);

/*
 * Parses a sub-command's arguments with args_parse; prints its usage on
 * --help (returning NEMCTL_EXIT_OK through *exit) or a usage error
 * (NEMCTL_EXIT_USAGE). Returns 0 to go on, or -1 with *exit set.
 */
int subcmd_args(struct nemctl *c, const struct subcmd *sc, int argc,
    char **argv, const struct args_opt *opts, size_t nopts,
    int min_pos, int max_pos, struct args *a, int *exit);

#endif
