/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Service brokering and host ports for jails: the host.connect and
 * host.bind handlers of every jail channel. host.connect checks the
 * caller's [access] table, makes a connected socket pair and hands one end
 * to the caller and the other to the providing jail's root process with an
 * svc.accept request that names the caller and its rights. host.bind
 * returns a listening TCP socket bound in the host's network namespace for
 * a [[listen]] entry of the caller's description. nem-rootd never reads
 * the traffic on the sockets it hands out.
 */
#ifndef ROOTD_BROKER_H
#define ROOTD_BROKER_H

#include <stddef.h>

#include <nem/err.h>

struct cfg_jail;
struct cfg_listen;
struct jm;
struct nem_msg;

/* Command ids of the svc service (NEM_SVC_SVC, id 9). */
#define BROKER_SVC_ACCEPT 1	/* incoming connection for a provider */

/*
 * Time in milliseconds a provider has to reply to svc.accept before the
 * caller's host.connect fails with "timed out".
 */
#define BROKER_ACCEPT_TIMEOUT_MS 10000

/*
 * Adds the host.connect and host.bind handlers to every jail channel that
 * jm opens from now on; jm_new calls it. jm must outlive its channels. Returns 0, or -1
 * with err ENOMEM, or EEXIST when another module already handles one of
 * the two commands.
 */
int broker_register(struct jm *jm, struct nem_err *err);

/*
 * Decodes a host.connect body {service: NAME} into service (at least
 * NAME_MAX_LEN + 1 bytes) and checks the name with name_check. Returns 0,
 * or -1 with err EBADMSG (not a well-formed BSON document) or EINVAL
 * (missing, not a string, too long, invalid name).
 */
int broker_decode_connect(const struct nem_msg *msg, char *service,
    size_t size, struct nem_err *err);

/*
 * Decodes a host.bind body, {name} or {address, port}.
 *	msg	the request
 *	want	OUT: name (pointing into name) when a name was given, else
 *		family, addr and port; other fields are zero
 *	name	buffer for the name, size bytes
 *	size	its size
 *	err	the failure
 * Returns 0, or -1 with err EBADMSG or EINVAL (neither form, an address
 * that is no IPv4 or IPv6 literal, a port outside 1 to 65535).
 */
int broker_decode_bind(const struct nem_msg *msg, struct cfg_listen *want,
    char *name, size_t size, struct nem_err *err);

/* Name nem-init has in a jail: its argv[0], which the runtime sets. */
#define BROKER_INIT_PATH "/.nem/init"

/*
 * Builds the command line that runs jail's exec under nem-init at
 * init_path: "-l NAME" for each [[listen]] entry in mode "fds",
 * "-i NAME:MAX" for each entry in mode "inetd", "-c SERVICE" for each
 * [access] entry (implied ones included), then "--" and the exec strings.
 * Returns a NULL-terminated array, malloc'ed like its strings (release it
 * with broker_init_argv_free), or NULL with err ENOMEM.
 */
char **broker_init_argv(const struct cfg_jail *jail, const char *init_path,
    struct nem_err *err);

/* Frees an array from broker_init_argv. NULL is allowed. */
void broker_init_argv_free(char **argv);

#endif
