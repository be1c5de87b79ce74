/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The host configuration (rootd.toml) and the jail descriptions (one TOML
 * file per jail in jails/ beside it), parsed into plain structs. Loading
 * validates a whole file and collects every error with file, line and
 * column; a file with any error yields no struct, so nothing is half
 * applied. The set functions check all jails together (services, volumes,
 * listen ports, dependency cycles) and compute the start order.
 *
 * Limitations: at most CFG_DIAG_MAX errors are kept per file; a jail has at
 * most CFG_MOUNT_MAX mounts; strings are at most CFG_STRING_MAX bytes.
 */
#ifndef ROOTD_CONFIG_H
#define ROOTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <nem/err.h>
#include <nem/log.h>

/*
 * Platform defaults, chosen here and nowhere else. FreeBSD keeps local
 * configuration under /usr/local/etc and daemon state under /var/db.
 */
#if defined(__FreeBSD__)
#define CFG_DEFAULT_CONFIG "/usr/local/etc/nem/rootd.toml"
#define CFG_DEFAULT_STATE_DIR "/var/db/nem"
#else
#define CFG_DEFAULT_CONFIG "/etc/nem/rootd.toml"
#define CFG_DEFAULT_STATE_DIR "/var/lib/nem"
#endif
#define CFG_DEFAULT_RUN_DIR "/run/nem"
#define CFG_CONTROL_SOCKET_NAME "control.sock"	/* inside run_dir */
#define CFG_JAILS_DIR_NAME "jails"	/* beside the host configuration */

/* Supervision defaults, in milliseconds, for jails and unjailed hosts. */
#define CFG_DEFAULT_STOP_TIMEOUT_MS 10000
/*
 * Largest stop_timeout: one hour. A stop waits at most twice this long
 * (before SIGTERM, then before SIGKILL), so a typo cannot leave a jail
 * that never stops or a daemon whose shutdown never ends.
 */
#define CFG_STOP_TIMEOUT_MAX_MS 3600000
/* md image sizes: whole MiB from 8 MiB (the smallest useful ext4) to 16 TiB. */
#define CFG_MD_SIZE_MIN (8ULL << 20)
#define CFG_MD_SIZE_MAX (16ULL << 40)
#define CFG_MD_SIZE_STEP (1ULL << 20)
#define CFG_DEFAULT_RESTART_DELAY_MS 100
/*
 * Smallest accepted restart_delay and restart_delay_max: a crashing process
 * is restarted at most ten times a second, so a restart loop cannot spin.
 */
#define CFG_RESTART_DELAY_MIN_MS 100
#define CFG_DEFAULT_RESTART_DELAY_MAX_MS 30000
#define CFG_DEFAULT_RESTART_RESET_MS 60000

#define CFG_DEFAULT_LISTEN_ADDRESS "127.0.0.1"
#define CFG_DEFAULT_MAX_CONNECTIONS 16
#define CFG_MAX_CONNECTIONS_LIMIT 1024
#define CFG_DEFAULT_FSTYPE "ext4"

/* Limits that bound memory and time for any input. */
#define CFG_DIAG_MAX 100	/* errors kept per file; one more says so */
#define CFG_MOUNT_MAX 256	/* [[mount]] entries per jail */
#define CFG_LISTEN_MAX 64	/* [[listen]] entries per jail */
#define CFG_HOST_MAX 64		/* [[host]] entries per host configuration */
#define CFG_ARRAY_MAX 256	/* elements of exec, provides, requires, ... */
#define CFG_ENV_MAX 256		/* variables per env table */
#define CFG_STRING_MAX 32768	/* bytes in any string value */
#define CFG_FILE_MAX (4 * 1024 * 1024)	/* bytes in a configuration file */
#define CFG_RIGHT_MAX 63	/* bytes in an access right */
#define CFG_JAIL_MAX 4096	/* jail files in jails/ */

/* One error: where it is and what is wrong. line and col are 1-based. */
struct cfg_diag {
	char *file;		/* path or label of the file */
	unsigned line;		/* 0 when the error has no position */
	unsigned col;
	char *msg;		/* one line, no final newline */
};

/* A growable list of errors. Zero-initialize before first use. */
struct cfg_diags {
	struct cfg_diag *v;
	size_t len;
	size_t cap;
	bool oom;		/* an error could not be stored */
};

enum cfg_restart {
	CFG_RESTART_NEVER,
	CFG_RESTART_ON_FAILURE,
	CFG_RESTART_ALWAYS,
};

/* Stop and restart settings of a process, durations in milliseconds. */
struct cfg_policy {
	enum cfg_restart restart;
	uint64_t stop_timeout_ms;	/* stop request to SIGKILL */
	uint64_t restart_delay_ms;	/* first backoff, doubled per failure */
	uint64_t restart_delay_max_ms;	/* backoff cap */
	uint64_t restart_reset_ms;	/* uptime that resets the backoff */
};

/* An environment variable. */
struct cfg_env {
	char *name;
	char *value;
};

/* A program to run: argv (exec[0] an absolute path) and environment. */
struct cfg_command {
	char **exec;		/* nexec strings, then NULL */
	size_t nexec;
	struct cfg_env *env;	/* in the order written */
	size_t nenv;
};

/* An unjailed daemon from a [[host]] entry. */
struct cfg_host_entry {
	char *name;
	struct cfg_command cmd;
	struct cfg_policy policy;
};

/* The host configuration. */
struct cfg_host {
	char *path;		/* file it was read from */
	char *jails_dir;	/* <dir of path>/jails */
	char *state_dir;
	char *run_dir;
	char *control_socket;
	enum log_level log_level;
	enum log_dest log_dest;
	char *hostname;		/* NULL when not set */
	char *init_path;	/* nem-init on the host; NULL: built-in path */
	struct cfg_host_entry *hosts;
	size_t nhosts;
};

enum cfg_mount_type {
	CFG_MOUNT_IMAGE,	/* read-only image from the store */
	CFG_MOUNT_MD,		/* fixed-size r/w image, optionally kept */
	CFG_MOUNT_SHARED,	/* r/w directory from the shared pool */
	CFG_MOUNT_DISK,		/* a block device */
	CFG_MOUNT_FILE,		/* one host file copied into the jail */
	CFG_MOUNT_TMPFS,
};

/* A [[mount]] entry. Fields that the type does not use are 0 or NULL. */
struct cfg_mount {
	enum cfg_mount_type type;
	char *dest;		/* absolute, normalized, inside the jail */
	unsigned line;		/* position of the entry, for messages */
	unsigned col;
	/* image */
	char *image;		/* image name */
	char *version;		/* semver requirement, NULL for any */
	char *sha256;		/* 64 lowercase hex digits, NULL for no pin */
	/* md and tmpfs */
	uint64_t size;		/* bytes */
	bool persist;		/* md: keep as volume across restarts */
	char *volume;		/* md: volume name when persist */
	/* shared */
	char *share;
	/* shared and disk */
	bool readonly;
	/* disk */
	char *device;		/* absolute path below /dev */
	char *fstype;		/* "ext4" unless given */
	/* file */
	char *source;		/* as written */
	char *source_path;	/* absolute: resolved against the config dir */
	bool has_mode;
	unsigned mode;		/* permission bits, 0 to 07777 */
};

/* Bits of cfg_jail.isolation. */
#define CFG_ISO_JAIL		0x1	/* own mount, PID, UTS and IPC spaces */
#define CFG_ISO_NETWORK		0x2	/* own network with loopback only */
#define CFG_ISO_EXPOSE_NETWORK	0x4	/* shares the host network */

enum cfg_listen_mode {
	CFG_LISTEN_FDS,		/* sockets handed down as LISTEN_FDS */
	CFG_LISTEN_INETD,	/* one process per connection on stdin/out */
};

/* A [[listen]] entry: a host socket handed to the jail. */
struct cfg_listen {
	char *name;
	char *address;		/* IPv4 or IPv6 literal, as written */
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* binary address, network byte order */
	uint16_t port;
	enum cfg_listen_mode mode;
	unsigned max_connections;	/* inetd only, else 0 */
	unsigned line;
	unsigned col;
};

/* A service this jail may reach, with the rights granted. */
struct cfg_access {
	char *service;
	char **rights;		/* nrights strings */
	size_t nrights;
	bool implied;		/* added for a required service, no [access] */
};

/* A service name with the position where it was written. */
struct cfg_service_ref {
	char *name;
	unsigned line;
	unsigned col;
};

/* A jail description. */
struct cfg_jail {
	char *name;		/* the file stem */
	char *path;		/* file or label it was read from */
	bool autostart;
	struct cfg_command cmd;	/* [process] exec and env */
	char *user;
	char *workdir;
	bool init;
	struct cfg_policy policy;
	unsigned isolation;	/* CFG_ISO_* bits */
	struct cfg_mount *mounts;	/* in the order written */
	size_t nmounts;
	struct cfg_service_ref *provides;
	size_t nprovides;
	struct cfg_service_ref *requires;
	size_t nrequires;
	struct cfg_access *access;	/* [access] in order, then implied */
	size_t naccess;
	struct cfg_listen *listen;
	size_t nlisten;
};

/* One jail file of a set, valid or not. */
struct cfg_set_jail {
	char *name;		/* file stem */
	char *path;
	struct cfg_jail *jail;	/* NULL when the file has errors */
	struct cfg_diags diags;	/* errors of the file itself */
	struct cfg_diags set_diags;	/* errors found across jails */
	bool startable;		/* no error of either kind */
	bool preferred;		/* wins a conflict: see cfg_set_prefer */
};

/* All jail descriptions of a folder, checked together. */
struct cfg_set {
	char *dir;
	struct cfg_set_jail *jails;	/* sorted by name */
	size_t njails;
	struct cfg_diags diags;	/* errors not tied to one jail file */
	struct cfg_jail **order;	/* startable jails, start order */
	size_t norder;
};

/*
 * Appends an error. file is copied; line 0 means no position. fmt is a
 * printf format. Never fails: when memory runs out, diags->oom is set.
 */
void cfg_diag_add(struct cfg_diags *diags, const char *file, unsigned line,
    unsigned col, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Writes each error as "file:line:column: message" ("file: message" when
 * it has no position), one per line, to fp.
 */
void cfg_diags_print(const struct cfg_diags *diags, FILE *fp);

/* Frees the errors and resets diags to empty. */
void cfg_diags_clear(struct cfg_diags *diags);

/*
 * Reads and validates the host configuration at path (usually
 * CFG_DEFAULT_CONFIG or the -c argument). Every error is appended to
 * diags. Returns the configuration to free with cfg_host_free(), or NULL
 * when there was any error (a missing file is an error too).
 */
struct cfg_host *cfg_host_load(const char *path, struct cfg_diags *diags);

/*
 * Validates a host configuration held in memory; label names it in
 * messages and its folder locates jails/. Returns as cfg_host_load().
 */
struct cfg_host *cfg_host_load_buffer(const char *label, const char *data,
    size_t len, struct cfg_diags *diags);

/* Frees a host configuration. NULL is allowed. */
void cfg_host_free(struct cfg_host *host);

/*
 * Reads and validates one jail description. The jail name is the file
 * name without its ".toml" suffix and must pass name_check(). Relative
 * file mount sources are resolved against the configuration folder: the
 * folder above the one that contains path, because jail files live in
 * <configuration folder>/jails/. Every error is appended to diags.
 * Returns the jail to free with cfg_jail_free(), or NULL when there was
 * any error.
 */
struct cfg_jail *cfg_jail_load(const char *path, struct cfg_diags *diags);

/*
 * Validates a jail description held in memory, such as one sent with a
 * `jail apply` request. Arguments:
 *   name     the jail name (checked with name_check)
 *   label    names the input in messages, e.g. "web.toml"
 *   confdir  absolute folder that relative file mount sources resolve
 *            against, usually the host configuration's folder
 *   data     len bytes of TOML, not necessarily NUL-terminated
 *   diags    OUT: every error is appended here
 * Returns as cfg_jail_load().
 */
struct cfg_jail *cfg_jail_load_buffer(const char *name, const char *label,
    const char *confdir, const char *data, size_t len,
    struct cfg_diags *diags);

/* Frees a jail description. NULL is allowed. */
void cfg_jail_free(struct cfg_jail *jail);

/*
 * Returns true when a and b describe the same jail: same name and same
 * values for every key, whatever the spelling, position or file path.
 * A reload restarts exactly the jails for which this is false.
 */
bool cfg_jail_equal(const struct cfg_jail *a, const struct cfg_jail *b);

/* Returns the TOML spelling of a restart policy or a mount type. */
const char *cfg_restart_name(enum cfg_restart restart);
const char *cfg_mount_type_name(enum cfg_mount_type type);

/*
 * Loads every "*.toml" file of the folder dir (other names are ignored)
 * as one set, checks the jails against each other and computes the start
 * order (cfg_set_resolve()). A missing folder is an empty set. Returns 0
 * and stores a set to free with cfg_set_free() in *out, or -1 with err
 * filled when dir cannot be read or memory runs out. A set may contain
 * jails with errors: check each cfg_set_jail.startable.
 */
int cfg_set_load(const char *dir, struct cfg_set **out, struct nem_err *err);

/*
 * Puts jail (owned by the set from now on, even on failure) into set under
 * its name, replacing and freeing a jail of the same name, then calls
 * cfg_set_resolve(). For `jail apply`: afterwards the entry's set_diags
 * report whether the new description conflicts with the others. Returns 0,
 * or -1 with ENOMEM in err.
 */
int cfg_set_put(struct cfg_set *set, struct cfg_jail *jail,
    struct nem_err *err);

/*
 * Returns true when listen entries a and b would take the same port: one
 * family and port, and equal addresses or a wildcard address on either
 * side. IPv6 sockets are bound IPv6 only, so "::" leaves IPv4 free.
 */
bool cfg_listen_overlap(const struct cfg_listen *a,
    const struct cfg_listen *b);

/*
 * Marks the jails named in names[0..n) as preferred and checks the set
 * again: a conflict between a preferred jail and another (a service, a
 * volume, a device or a listen address) is reported on the other, so a
 * running jail keeps its claims against a description added next to it.
 * Returns 0, or -1 with err (ENOMEM).
 */
int cfg_set_prefer(struct cfg_set *set, const char *const *names, size_t n,
    struct nem_err *err);

/*
 * Recomputes the checks across jails (services provided twice or by
 * no jail, dependency cycles, volumes, devices and listen addresses used
 * twice) into each entry's set_diags, the startable flags, and the start
 * order: a jail comes after every jail providing a service it requires,
 * and ties are broken by name. Returns 0, or -1 with ENOMEM in err.
 */
int cfg_set_resolve(struct cfg_set *set, struct nem_err *err);

/* Returns the entry named name, or NULL. */
struct cfg_set_jail *cfg_set_find(const struct cfg_set *set,
    const char *name);

/* Frees a set with its jails. NULL is allowed. */
void cfg_set_free(struct cfg_set *set);

/*
 * Runs `nem-rootd check-config [-c PATH]`: validates the host
 * configuration and every jail description beside it, prints each error
 * to stderr and "ok: N jails" to stdout on success. argv[0] is the
 * subcommand name. Returns the exit status: 0 when valid, 1 on any
 * configuration error, 2 on a usage error.
 */
int check_config_main(int argc, char **argv);

#endif
