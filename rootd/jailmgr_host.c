/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unjailed hosts ([[host]] entries of rootd.toml, such as nem-routerd):
 * supervised like jails, with their own NEM channel on fd 3 and their
 * output in <run_dir>/hosts/<name>.log, but without a tree to build. They
 * start before the jails and stop after them. Each gets exactly fds 0-3
 * (sup_spawn_exec closes every other descriptor), so neither the control
 * socket, the database nor any jail's channel reaches them.
 */
#include "jailmgr_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nem/log.h>

#include "names.h"

static void
emit_host(struct jm_host *h)
{
	struct sup_unit_info info;

	sup_unit_info(h->unit, &info);
	jm_emit(h->jm, "host", h->entry->name, sup_state_name(info.state), "");
}

void
jm_host_ready(struct jm_host *h)
{
	if (h == NULL)
		return;
	h->ready = true;
	log_info("host %s: ready", h->entry->name);
	jm_emit(h->jm, "host", h->entry->name, "ready", "");
}

static void
on_host_chan_close(struct chan *ch, const struct nem_err *why, void *arg)
{
	struct jm_host *h = arg;
	struct sup_unit_info info;

	sup_unit_info(h->unit, &info);
	if (info.state != SUP_ST_RUNNING || info.pid <= 0)
		return;

	/* info.pid is a running child not reaped yet: safe to signal. */
	log_warn("host %s: channel closed while pid %d runs; sending "
	    "SIGTERM, the restart policy decides what follows",
	    h->entry->name, (int)info.pid);
	if (kill(info.pid, SIGTERM) == -1)
		log_err("host %s: SIGTERM to pid %d", h->entry->name,
		    (int)info.pid);
}

static pid_t
host_unit_start(void *arg, struct nem_err *err)
{
	struct jm_host *h = arg;
	struct jm *jm = h->jm;
	struct sup_exec spec = {
		.argv = (const char *const *)h->entry->cmd.exec,
		.env = (const char *const *)h->env,
	};
	int child_fd;
	pid_t pid;

	chan_free(h->chan);
	h->ready = false;
	h->chan = chan_open(jm->base, CHAN_HOST, h->entry->name, jm->handlers,
	    jm->nhandlers, &child_fd, err);
	if (h->chan == NULL)
		return -1;
	chan_set_owner(h->chan, h);
	chan_set_close_cb(h->chan, on_host_chan_close, h);

	spec.stdio[0] = jm->devnull;
	spec.stdio[1] = spec.stdio[2] = logfile_fd(h->log);
	spec.channel = child_fd;
	pid = sup_spawn_exec(&spec, err);
	close(child_fd);
	if (pid == -1) {
		logfile_note(h->log, "rootd: start failed: %s", err->msg);
		chan_free(h->chan);
		h->chan = NULL;
		return -1;
	}
	logfile_note(h->log, "rootd: started pid %d", (int)pid);
	jm_pid_remember(jm, logfile_path(h->log), pid);
	jm_emit(jm, "host", h->entry->name, "running", "");
	return pid;
}

static int
host_unit_stop(void *arg, pid_t pid)
{
	struct jm_host *h = arg;
	struct nem_err err;

	if (h->chan == NULL || chan_request_stop(h->chan, &err) == -1)
		return -1;
	return 0;
}

static void
host_unit_exited(void *arg, pid_t pid, int status)
{
	struct jm_host *h = arg;

	if (WIFEXITED(status))
		logfile_note(h->log, "rootd: pid %d exited with status %d",
		    (int)pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		logfile_note(h->log, "rootd: pid %d killed by signal %d",
		    (int)pid, WTERMSIG(status));
	h->ready = false;
	jm_pid_forget(h->jm, logfile_path(h->log));
	jm_emit(h->jm, "host", h->entry->name, "exited", "");
}

static const struct sup_unit_ops host_unit_ops = {
	.start = host_unit_start,
	.stop = host_unit_stop,
	.exited = host_unit_exited,
};

/* Builds the environment: the entry's variables, then NEM_FD=3. */
static char **
host_env(const struct cfg_command *cmd, struct nem_err *err)
{
	char **env = calloc(cmd->nenv + 2, sizeof(*env));

	if (env == NULL)
		goto oom;
	for (size_t i = 0; i < cmd->nenv; i++) {
		if (asprintf(&env[i], "%s=%s", cmd->env[i].name,
		    cmd->env[i].value) == -1) {
			env[i] = NULL;
			goto oom;
		}
	}
	env[cmd->nenv] = strdup("NEM_FD=3");
	if (env[cmd->nenv] == NULL)
		goto oom;
	return env;

oom:
	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		free(env[i]);
	free(env);
	nem_err_sys(err, ENOMEM, "build a host environment");
	return NULL;
}

int
jm_hosts_start(struct jm *jm, struct nem_err *err)
{
	char *dir;

	if (jm->host->nhosts == 0)
		return 0;
	jm->hosts = calloc(jm->host->nhosts, sizeof(*jm->hosts));
	if (jm->hosts == NULL)
		return nem_err_sys(err, ENOMEM, "allocate the hosts");
	if (asprintf(&dir, "%s/hosts", jm->host->run_dir) == -1)
		return nem_err_sys(err, ENOMEM, "allocate the hosts");

	for (size_t i = 0; i < jm->host->nhosts; i++) {
		struct jm_host *h = &jm->hosts[i];
		struct sup_policy policy;
		struct nem_err herr;
		char file[NAME_MAX_LEN + 8];

		h->jm = jm;
		h->entry = &jm->host->hosts[i];
		jm->nhosts++;
		snprintf(file, sizeof(file), "%s.log", h->entry->name);
		h->env = host_env(&h->entry->cmd, &herr);
		if (h->env == NULL ||
		    jm_open_log(jm, dir, file, &h->log, &herr) == -1) {
			log_errx("host %s: %s; it is not started",
			    h->entry->name, herr.msg);
			continue;
		}
		jm_policy_from_cfg(&h->entry->policy, &policy);
		h->unit = sup_unit_add(jm->sup, h->entry->name, &policy,
		    &host_unit_ops, h, &herr);
		if (h->unit == NULL) {
			log_errx("host %s: %s; it is not started",
			    h->entry->name, herr.msg);
			continue;
		}
		/* A failed start is logged and retried by its policy. */
		if (sup_unit_start(h->unit, &herr) == -1)
			log_errx("host %s: %s", h->entry->name, herr.msg);
	}
	free(dir);
	return 0;
}

static void
on_host_down(void *arg)
{
	struct jm_host *h = arg;
	struct jm *jm = h->jm;
	struct nem_err err;

	emit_host(h);
	if (h->restart_pending && !jm->shutting_down) {
		h->restart_pending = false;
		if (sup_unit_start(h->unit, &err) == -1)
			log_errx("host %s: %s", h->entry->name, err.msg);
		return;
	}
	if (!jm->hosts_stopping)
		return;
	if (++jm->hosts_down < jm->nhosts)
		return;
	log_info("every unjailed host is down");
	if (jm->shutdown_done != NULL)
		jm->shutdown_done(jm->shutdown_arg);
}

void
jm_hosts_stop(struct jm *jm)
{
	size_t n = jm->nhosts;

	jm->hosts_down = 0;
	if (n == 0) {
		if (jm->shutdown_done != NULL)
			jm->shutdown_done(jm->shutdown_arg);
		return;
	}

	/* Reverse configuration order; each calls on_host_down once down. */
	for (size_t i = n; i-- > 0;) {
		struct jm_host *h = &jm->hosts[i];
		struct nem_err err;

		h->restart_pending = false;
		if (h->unit == NULL) {
			on_host_down(h);
			continue;
		}
		if (sup_unit_stop(h->unit, on_host_down, h, &err) == -1) {
			/* A stop already runs (jm_host_restart): its
			 * completion is not counted, so count it here. */
			log_debug("host %s: %s", h->entry->name, err.msg);
			on_host_down(h);
		}
	}
}

void
jm_hosts_free(struct jm *jm)
{
	for (size_t i = 0; i < jm->nhosts; i++) {
		struct jm_host *h = &jm->hosts[i];

		if (h->unit != NULL)
			(void)sup_unit_remove(h->unit, NULL);
		chan_free(h->chan);
		logfile_free(h->log);
		for (size_t k = 0; h->env != NULL && h->env[k] != NULL; k++)
			free(h->env[k]);
		free(h->env);
	}
	free(jm->hosts);
	jm->hosts = NULL;
	jm->nhosts = 0;
}

static struct jm_host *
find_host(const struct jm *jm, const char *name, struct nem_err *err)
{
	for (size_t i = 0; i < jm->nhosts; i++) {
		if (strcmp(jm->hosts[i].entry->name, name) == 0)
			return &jm->hosts[i];
	}
	nem_err_set(err, ENOENT, "host %s not found; `nemctl host ls` "
	    "lists the unjailed hosts", name);
	return NULL;
}

int
jm_host_list(const struct jm *jm, struct jm_host_info **out, size_t *count,
    struct nem_err *err)
{
	*out = NULL;
	*count = 0;
	if (jm->nhosts == 0)
		return 0;
	*out = calloc(jm->nhosts, sizeof(**out));
	if (*out == NULL)
		return nem_err_sys(err, ENOMEM, "list hosts");
	for (size_t i = 0; i < jm->nhosts; i++) {
		const struct jm_host *h = &jm->hosts[i];
		struct jm_host_info *hi = &(*out)[i];
		struct sup_unit_info ui = { .state = SUP_ST_DOWN,
			.last_status = -1 };

		if (h->unit != NULL)
			sup_unit_info(h->unit, &ui);
		snprintf(hi->name, sizeof(hi->name), "%s", h->entry->name);
		hi->state = h->ready && ui.state == SUP_ST_RUNNING ? "ready" :
		    sup_state_name(ui.state);
		hi->pid = ui.pid;
		hi->last_status = ui.last_status;
		hi->starts = ui.starts;
		if (h->log != NULL)
			snprintf(hi->log_path, sizeof(hi->log_path), "%s",
			    logfile_path(h->log));
	}
	*count = jm->nhosts;
	return 0;
}

int
jm_host_restart(struct jm *jm, const char *name, struct nem_err *err)
{
	struct jm_host *h = find_host(jm, name, err);

	if (h == NULL)
		return -1;
	if (jm->shutting_down)
		return nem_err_set(err, ECANCELED, "host %s: the daemon is "
		    "shutting down", name);
	if (h->unit == NULL)
		return nem_err_set(err, EINVAL, "host %s could not be set up "
		    "at start; see the daemon's log", name);
	if (h->restart_pending)
		return nem_err_set(err, EBUSY, "host %s: a restart is already "
		    "running", name);
	h->restart_pending = true;
	if (sup_unit_stop(h->unit, on_host_down, h, err) == -1) {
		h->restart_pending = false;
		return nem_err_set(err, EBUSY, "host %s: a stop is already "
		    "running", name);
	}
	return 0;
}

struct logfile *
jm_host_log(const struct jm *jm, const char *name, struct nem_err *err)
{
	struct jm_host *h = find_host(jm, name, err);

	if (h != NULL && h->log == NULL) {
		nem_err_set(err, ENOENT, "host %s has no log file", name);
		return NULL;
	}
	return h != NULL ? h->log : NULL;
}
