/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The desired state of the jail manager: loading the jail descriptions at
 * start, applying a reload or a `jail apply` as a difference against the
 * running records, removing jails, the ordered shutdown, and the read-only
 * queries of the control plane. A description with errors never replaces
 * a valid one: the jail keeps running as before and the errors are logged.
 */
#include "jailmgr_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/log.h>

#include "db.h"
#include "names.h"
#include "store.h"

static void
log_diags(const char *name, const struct cfg_diags *diags)
{
	for (size_t i = 0; i < diags->len; i++) {
		const struct cfg_diag *d = &diags->v[i];

		if (d->line > 0)
			log_errx("jail %s: %s:%u:%u: %s", name, d->file,
			    d->line, d->col, d->msg);
		else
			log_errx("jail %s: %s: %s", name, d->file, d->msg);
	}
}

/*
 * Resolves the images of cfg for the jail name. Returns the resolution,
 * or NULL when there is no store or an image is missing. A missing image
 * is logged, and the jail resolves again when it starts.
 */
static char **
resolve_or_log(struct jm *jm, const char *name, const struct cfg_jail *cfg)
{
	struct nem_err err;
	char **r;

	if (jm_resolve(jm, cfg, &r, &err) == -1) {
		log_errx("%s; jail %s cannot start until the image is in the "
		    "store (`image push`)", err.msg, name);
		return NULL;
	}
	return r;
}

/* Makes cfg the jail's description in use, with its images resolved. */
static void
use_description(struct jm_jail *j, struct cfg_jail *cfg)
{
	char **r = resolve_or_log(j->jm, j->name, cfg);

	jm_resolved_free(j->resolved, j->cfg);
	cfg_jail_free(j->cfg);
	j->cfg = cfg;
	j->resolved = r;
	jm_refs_sync(j);
}

/*
 * Resolves the images of the unchanged description of j again. A jail
 * that runs restarts when they now resolve to other files. cfg is an
 * equal copy of j->cfg and is consumed.
 */
static void
reresolve(struct jm_jail *j, struct cfg_jail *cfg, bool *start)
{
	char **r;

	if (!jm_jail_active(j)) {
		use_description(j, cfg);
		*start = cfg->autostart && j->state == JM_ST_DEFINED;
		return;
	}
	r = resolve_or_log(j->jm, j->name, cfg);
	if (r == NULL || jm_resolved_equal(r, j->resolved, cfg)) {
		jm_resolved_free(r, cfg);
		cfg_jail_free(cfg);
		return;
	}
	log_info("jail %s: its images resolve to other files; restarting",
	    j->name);
	jm_resolved_free(j->pending_resolved, j->pending);
	cfg_jail_free(j->pending);
	j->pending = cfg;
	j->pending_resolved = r;
	jm_refs_sync(j);
	j->start_after_stop = true;
	jm_dispatch(j, JM_EV_STOP);
}

/*
 * Returns the name of an active jail other than name whose description in
 * use claims something that cfg claims too: a service it provides, a
 * persistent volume or a listen port. what describes the claim. Jails
 * whose file in set is valid are left to the set checks, and jails
 * missing from set are on their way out (an allocation waits for their
 * volume). The others, whose file has errors or lost a conflict, are
 * checked by the description they run. Returns NULL when none conflicts.
 */
static const char *
running_conflict(const struct jm *jm, const struct cfg_set *set,
    const char *name, const struct cfg_jail *cfg, char *what, size_t len)
{
	const struct jm_jail *j;

	TAILQ_FOREACH(j, &jm->jails, entry) {
		const struct cfg_jail *o = j->cfg;
		const struct cfg_set_jail *e;

		if (o == NULL || strcmp(j->name, name) == 0 ||
		    !jm_jail_active(j))
			continue;
		e = cfg_set_find(set, j->name);
		if (e == NULL || e->startable)
			continue;
		for (size_t a = 0; a < cfg->nprovides; a++) {
			for (size_t b = 0; b < o->nprovides; b++) {
				if (strcmp(cfg->provides[a].name,
				    o->provides[b].name) != 0)
					continue;
				snprintf(what, len, "service %s",
				    cfg->provides[a].name);
				return j->name;
			}
		}
		for (size_t a = 0; a < cfg->nmounts; a++) {
			const char *v = cfg->mounts[a].volume;

			for (size_t b = 0; v != NULL && b < o->nmounts; b++) {
				if (o->mounts[b].volume == NULL ||
				    strcmp(v, o->mounts[b].volume) != 0)
					continue;
				snprintf(what, len, "volume %s", v);
				return j->name;
			}
		}
		for (size_t a = 0; a < cfg->nlisten; a++) {
			for (size_t b = 0; b < o->nlisten; b++) {
				if (!cfg_listen_overlap(&cfg->listen[a],
				    &o->listen[b]))
					continue;
				snprintf(what, len, "listen address %s port %u",
				    cfg->listen[a].address,
				    (unsigned)cfg->listen[a].port);
				return j->name;
			}
		}
	}
	return NULL;
}

/*
 * Applies one entry of a freshly loaded set to the records. Takes the
 * description out of the set when it is used. Sets *start when the jail
 * should be started once the whole set is applied. With again, an
 * unchanged description has its images resolved again (jail apply).
 */
static void
apply_entry(struct jm *jm, const struct cfg_set *set, struct cfg_set_jail *sj,
    bool again, bool *start)
{
	struct jm_jail *j = jm_jail_find(jm, sj->name);
	struct nem_err err;
	struct cfg_jail *cfg;
	const char *other;
	char what[128];

	*start = false;
	if (!sj->startable) {
		log_diags(sj->name, &sj->diags);
		log_diags(sj->name, &sj->set_diags);
		if (j != NULL) {
			j->valid = false;
			j->remove_after_stop = false;
			log_errx("jail %s: the description %s is invalid; the "
			    "jail keeps its previous description and state "
			    "(%s)", sj->name, sj->path,
			    jm_state_name(j->state));
			return;
		}
		j = jm_jail_new(jm, sj->name, &err);
		if (j == NULL) {
			log_errx("%s", err.msg);
			return;
		}
		log_errx("jail %s: the description %s is invalid; the jail "
		    "is not started until it is fixed", sj->name, sj->path);
		return;
	}

	cfg = sj->jail;
	sj->jail = NULL;
	other = running_conflict(jm, set, sj->name, cfg, what, sizeof(what));
	if (other != NULL) {
		log_errx("jail %s: the description %s claims %s, which the "
		    "running jail %s holds; %s", sj->name, sj->path, what,
		    other, j != NULL ? "the jail keeps its previous "
		    "description and state" : "the jail is not started");
		cfg_jail_free(cfg);
		if (j == NULL)
			j = jm_jail_new(jm, sj->name, &err);
		if (j != NULL) {
			j->valid = false;
			j->remove_after_stop = false;
		}
		return;
	}
	if (j == NULL) {
		j = jm_jail_new(jm, sj->name, &err);
		if (j == NULL) {
			log_errx("%s", err.msg);
			cfg_jail_free(cfg);
			return;
		}
	}
	j->valid = true;

	/*
	 * The description came back while the jail stops for its removal.
	 * The record stays, and an autostart jail starts again with the new
	 * description, as a new jail would.
	 */
	if (j->remove_after_stop) {
		log_info("jail %s: description back while the jail stops; it "
		    "is kept", j->name);
		j->remove_after_stop = false;
		jm_resolved_free(j->pending_resolved, j->pending);
		cfg_jail_free(j->pending);
		j->pending = cfg;
		j->pending_resolved = resolve_or_log(jm, j->name, cfg);
		jm_refs_sync(j);
		j->start_after_stop = cfg->autostart;
		return;
	}
	if (j->cfg == NULL) {
		use_description(j, cfg);
		*start = cfg->autostart && j->state == JM_ST_DEFINED;
		return;
	}
	if (cfg_jail_equal(j->cfg, cfg)) {
		if (again) {
			reresolve(j, cfg, start);
			return;
		}
		cfg_jail_free(cfg);
		return;
	}

	log_info("jail %s: description changed", j->name);
	if (!jm_jail_active(j)) {
		use_description(j, cfg);
		*start = cfg->autostart && j->state == JM_ST_DEFINED;
		return;
	}
	jm_resolved_free(j->pending_resolved, j->pending);
	cfg_jail_free(j->pending);
	j->pending = cfg;
	j->pending_resolved = resolve_or_log(jm, j->name, cfg);
	jm_refs_sync(j);
	j->start_after_stop = true;
	jm_dispatch(j, JM_EV_STOP);
}

/*
 * Applies a whole set: every entry, then the removal of records whose
 * file is gone, then the starts, so that a waiting jail finds every
 * provider.
 */
static void
apply_set(struct jm *jm, struct cfg_set *set)
{
	struct jm_jail *j, *next;
	bool *start;

	start = calloc(set->njails + 1, sizeof(*start));
	if (start == NULL) {
		log_errx("apply jail descriptions: out of memory");
		return;
	}
	for (size_t i = 0; i < set->njails; i++)
		apply_entry(jm, set, &set->jails[i], false, &start[i]);

	for (j = TAILQ_FIRST(&jm->jails); j != NULL &&
	    ((next = TAILQ_NEXT(j, entry)), 1); j = next) {
		if (cfg_set_find(set, j->name) != NULL)
			continue;
		log_info("jail %s: description removed", j->name);
		j->remove_after_stop = true;
		j->start_after_stop = false;
		jm_dispatch(j, JM_EV_STOP);
	}

	for (size_t i = 0; i < set->njails; i++) {
		if (!start[i])
			continue;
		j = jm_jail_find(jm, set->jails[i].name);
		if (j != NULL)
			jm_dispatch(j, JM_EV_START);
	}
	free(start);
}

/* Marks records that a previous daemon left in an active state. */
static void
note_previous_run(struct jm *jm)
{
	sqlite3_stmt *st;
	struct nem_err err;

	if (db_prepare(jm->db, "SELECT name, state, pid FROM jm_jails "
	    "WHERE state NOT IN ('defined', 'stopped', 'failed')", &st,
	    &err) == -1) {
		log_errx("read jail records: %s", err.msg);
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW)
		log_warn("jail %s: was %s with pid %d when the previous daemon "
		    "ended; its tree was recovered and it starts afresh",
		    (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int(st, 2));
	sqlite3_finalize(st);
	if (db_exec(jm->db, "DELETE FROM jm_jails", &err) == -1)
		log_errx("clear jail records: %s", err.msg);
}

/*
 * Forgets the image references of jails whose description file is gone,
 * so image gc can reclaim what only they used. A description with errors
 * still counts: the jail keeps its images until the file is fixed.
 */
static void
prune_refs(struct jm *jm, const struct cfg_set *set)
{
	const char **keep;
	struct nem_err err;

	if (jm->store == NULL)
		return;
	keep = calloc(set->njails + 1, sizeof(*keep));
	if (keep == NULL) {
		log_errx("prune image references: out of memory");
		return;
	}
	for (size_t i = 0; i < set->njails; i++)
		keep[i] = set->jails[i].name;
	if (store_refs_prune(jm->store, keep, set->njails, &err) == -1)
		log_errx("prune image references: %s", err.msg);
	free(keep);
}

int
jm_start(struct jm *jm, struct nem_err *err)
{
	struct cfg_set *set;
	struct nem_err rerr;
	const char **wanted;
	size_t nwanted = 0;

	if (cfg_set_load(jm->host->jails_dir, &set, err) == -1)
		return -1;

	/* Recovery runs before anything starts and keeps the records of
	 * the jails that still have a valid description. Root processes
	 * that outlived the previous daemon hold mounts: end them first. */
	jm_pid_reap_stale(jm);
	wanted = calloc(set->njails + 1, sizeof(*wanted));
	if (wanted == NULL) {
		cfg_set_free(set);
		return nem_err_sys(err, ENOMEM, "start jails");
	}
	for (size_t i = 0; i < set->njails; i++) {
		if (set->jails[i].startable)
			wanted[nwanted++] = set->jails[i].name;
	}
	if (jm->rt.recover != NULL && jm->rt.recover(jm->rt.arg, wanted,
	    nwanted, &rerr) == -1)
		log_errx("recovery: %s; starting anyway", rerr.msg);
	free(wanted);
	if (jm->rt.record == NULL)
		note_previous_run(jm);

	if (jm_hosts_start(jm, err) == -1) {
		cfg_set_free(set);
		return -1;
	}
	prune_refs(jm, set);
	apply_set(jm, set);
	cfg_set_free(set);
	return 0;
}

/*
 * Makes the jails known with a valid description win conflicts in set, so
 * a description added next to them, not theirs, is the one found invalid.
 */
static int
prefer_active(struct jm *jm, struct cfg_set *set, struct nem_err *err)
{
	const struct jm_jail *j;
	const char **names;
	size_t n = 0;
	int rc;

	names = calloc(set->njails + 1, sizeof(*names));
	if (names == NULL)
		return nem_err_sys(err, ENOMEM, "reload");
	TAILQ_FOREACH(j, &jm->jails, entry) {
		if (j->cfg != NULL && j->valid && n < set->njails)
			names[n++] = j->name;
	}
	rc = cfg_set_prefer(set, names, n, err);
	free(names);
	return rc;
}

int
jm_reload(struct jm *jm, struct nem_err *err)
{
	struct cfg_set *set = NULL;

	if (jm->shutting_down)
		return nem_err_set(err, ECANCELED, "reload: the daemon is "
		    "shutting down");
	if (cfg_set_load(jm->host->jails_dir, &set, err) == -1 ||
	    prefer_active(jm, set, err) == -1) {
		cfg_set_free(set);
		nem_err_prefix(err, "reload %s; nothing changed",
		    jm->host->jails_dir);
		return -1;
	}
	apply_set(jm, set);
	cfg_set_free(set);
	return 0;
}

/* Returns true when an active jail other than j requires a service that j
 * provides. */
static bool
has_active_dependent(const struct jm *jm, const struct jm_jail *j)
{
	const struct jm_jail *d;

	if (j->cfg == NULL)
		return false;
	TAILQ_FOREACH(d, &jm->jails, entry) {
		if (d == j || d->cfg == NULL || !jm_jail_active(d))
			continue;
		for (size_t r = 0; r < d->cfg->nrequires; r++) {
			for (size_t p = 0; p < j->cfg->nprovides; p++) {
				if (strcmp(d->cfg->requires[r].name,
				    j->cfg->provides[p].name) == 0)
					return true;
			}
		}
	}
	return false;
}

void
jm_shutdown_step(struct jm *jm)
{
	struct jm_jail *j, *next;
	bool any_active = false;

	if (jm->hosts_stopping)
		return;
	for (j = TAILQ_FIRST(&jm->jails); j != NULL &&
	    ((next = TAILQ_NEXT(j, entry)), 1); j = next) {
		if (!jm_jail_active(j))
			continue;
		any_active = true;
		if (j->state == JM_ST_STOPPING || j->state == JM_ST_FREEING)
			continue;
		if (j->state != JM_ST_WAITING && has_active_dependent(jm, j))
			continue;
		jm_dispatch(j, JM_EV_STOP);
	}
	if (any_active)
		return;
	TAILQ_FOREACH(j, &jm->jails, entry) {
		if (jm_jail_active(j))
			return;
	}
	jm->hosts_stopping = true;
	log_info("every jail is down; stopping the unjailed hosts");
	jm_hosts_stop(jm);
}

void
jm_shutdown(struct jm *jm, jm_done_fn done, void *arg)
{
	if (jm->shutting_down)
		return;
	jm->shutting_down = true;
	jm->shutdown_done = done;
	jm->shutdown_arg = arg;
	log_info("stopping every jail, dependents first");
	jm_shutdown_step(jm);
}

void
jm_counts(const struct jm *jm, size_t *jails, size_t *ready, size_t *failed,
    size_t *hosts)
{
	const struct jm_jail *j;

	*jails = *ready = *failed = 0;
	TAILQ_FOREACH(j, &jm->jails, entry) {
		(*jails)++;
		if (j->state == JM_ST_READY)
			(*ready)++;
		else if (j->state == JM_ST_FAILED)
			(*failed)++;
	}
	*hosts = jm->nhosts;
}

static void
fill_info(const struct jm_jail *j, struct jm_jail_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", j->name);
	info->state = j->state;
	snprintf(info->reason, sizeof(info->reason), "%s", j->reason);
	info->pid = j->pid;
	info->last_status = j->last_status;
	if (j->unit != NULL) {
		struct sup_unit_info ui;

		sup_unit_info(j->unit, &ui);
		info->starts = ui.starts;
	}
	info->restarts = j->fails;
	info->autostart = j->cfg != NULL && j->cfg->autostart;
	info->valid = j->valid;
	info->since = j->since;
	snprintf(info->log_path, sizeof(info->log_path), "%s",
	    logfile_path(j->log));
}

int
jm_jail_list(const struct jm *jm, struct jm_jail_info **out, size_t *count,
    struct nem_err *err)
{
	const struct jm_jail *j;
	size_t n = 0, i = 0;

	*out = NULL;
	*count = 0;
	TAILQ_FOREACH(j, &jm->jails, entry)
		n++;
	if (n == 0)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (*out == NULL)
		return nem_err_sys(err, ENOMEM, "list jails");
	TAILQ_FOREACH(j, &jm->jails, entry)
		fill_info(j, &(*out)[i++]);
	*count = n;
	return 0;
}

int
jm_jail_status(const struct jm *jm, const char *name,
    struct jm_jail_info *info, struct nem_err *err)
{
	const struct jm_jail *j = jm_jail_find(jm, name);

	if (j == NULL)
		return nem_err_set(err, ENOENT, "jail %s not found; `nemctl "
		    "jail ls` lists the jails", name);
	fill_info(j, info);
	return 0;
}

static struct jm_jail *
find_or_fail(const struct jm *jm, const char *name, struct nem_err *err)
{
	struct jm_jail *j = jm_jail_find(jm, name);

	if (j == NULL)
		nem_err_set(err, ENOENT, "jail %s not found; `nemctl jail "
		    "ls` lists the jails", name);
	return j;
}

int
jm_jail_start(struct jm *jm, const char *name, struct nem_err *err)
{
	struct jm_jail *j = find_or_fail(jm, name, err);

	if (j == NULL)
		return -1;
	if (jm->shutting_down)
		return nem_err_set(err, ECANCELED, "jail %s: the daemon is "
		    "shutting down", name);
	if (j->cfg == NULL)
		return nem_err_set(err, EINVAL, "jail %s: its description "
		    "has errors; fix it (nem-rootd check-config lists them) "
		    "and reload", name);
	if (j->state == JM_ST_STOPPING || j->state == JM_ST_FREEING)
		return nem_err_set(err, EBUSY, "jail %s is %s; start it once "
		    "it is stopped", name, jm_state_name(j->state));
	/* A jail that waits for its next try after failures is tried at
	 * once. */
	if (jm_jail_active(j) && !(j->unit != NULL && j->pid == 0 &&
	    (j->state == JM_ST_STARTING || j->state == JM_ST_FAILED)))
		return nem_err_set(err, EALREADY, "jail %s is already %s",
		    name, jm_state_name(j->state));
	jm_dispatch(j, JM_EV_START);
	return 0;
}

int
jm_jail_stop(struct jm *jm, const char *name, jm_done_fn done, void *arg,
    struct nem_err *err)
{
	return jm_jail_stop_timeout(jm, name, 0, done, arg, err);
}

int
jm_jail_stop_timeout(struct jm *jm, const char *name, uint64_t timeout_ms,
    jm_done_fn done, void *arg, struct nem_err *err)
{
	struct jm_jail *j = find_or_fail(jm, name, err);
	struct jm_stop_waiter *w;

	if (j == NULL)
		return -1;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return nem_err_sys(err, ENOMEM, "jail %s: stop", name);
	w->done = done;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&j->waiters, w, entry);
	j->start_after_stop = false;
	/* Read by the stop action that the dispatch runs, if any. */
	j->stop_timeout_ms = timeout_ms;
	jm_dispatch(j, JM_EV_STOP);
	j->stop_timeout_ms = 0;
	return 0;
}

int
jm_jail_restart(struct jm *jm, const char *name, struct nem_err *err)
{
	struct jm_jail *j = find_or_fail(jm, name, err);

	if (j == NULL)
		return -1;
	if (jm->shutting_down)
		return nem_err_set(err, ECANCELED, "jail %s: the daemon is "
		    "shutting down", name);
	if (j->cfg == NULL)
		return nem_err_set(err, EINVAL, "jail %s: its description "
		    "has errors; fix it and reload", name);
	if (!jm_jail_active(j)) {
		jm_dispatch(j, JM_EV_START);
		return 0;
	}
	j->start_after_stop = true;
	jm_dispatch(j, JM_EV_STOP);
	return 0;
}

/* Writes len bytes to path through a temporary file and a rename. */
static int
write_atomic(const char *path, const char *data, size_t len,
    struct nem_err *err)
{
	char *tmp;
	int fd;
	size_t done = 0;

	if (asprintf(&tmp, "%s.tmp", path) == -1)
		return nem_err_sys(err, ENOMEM, "write %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd == -1) {
		nem_err_sys(err, errno, "create %s", tmp);
		free(tmp);
		return -1;
	}
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	free(tmp);
	return 0;

fail:
	nem_err_sys(err, errno, "write %s", tmp);
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

/* Copies every error of from into to. */
static void
copy_diags(struct cfg_diags *to, const struct cfg_diags *from)
{
	for (size_t i = 0; i < from->len; i++)
		cfg_diag_add(to, from->v[i].file, from->v[i].line,
		    from->v[i].col, "%s", from->v[i].msg);
}

/* Frees a NULL-terminated array of names; NULL is allowed. */
static void
names_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/*
 * Returns the names of the valid jails of set other than skip, as a NULL
 * terminated array of copies (free with names_free), or NULL on ENOMEM.
 */
static char **
valid_names(const struct cfg_set *set, const char *skip)
{
	char **v = calloc(set->njails + 1, sizeof(*v));
	size_t n = 0;

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < set->njails; i++) {
		if (!set->jails[i].startable ||
		    strcmp(set->jails[i].name, skip) == 0)
			continue;
		v[n] = strdup(set->jails[i].name);
		if (v[n] == NULL) {
			names_free(v);
			return NULL;
		}
		n++;
	}
	return v;
}

int
jm_jail_apply(struct jm *jm, const char *name, const char *toml, size_t len,
    struct cfg_diags *diags, struct nem_err *err)
{
	struct cfg_set *set = NULL;
	struct cfg_set_jail *sj;
	struct cfg_jail *cfg;
	char label[NAME_MAX_LEN + 16];
	char *path = NULL, **valid = NULL, what[128];
	const char *other;
	bool start = false;
	int rc = -1;

	if (jm->shutting_down)
		return nem_err_set(err, ECANCELED, "jail %s: the daemon is "
		    "shutting down", name);
	if (name_check("jail", name, err) == -1)
		return -1;
	snprintf(label, sizeof(label), "%s.toml", name);
	cfg = cfg_jail_load_buffer(name, label, jm->confdir, toml, len,
	    diags);
	if (cfg == NULL)
		return nem_err_set(err, EINVAL, "jail %s: the description has "
		    "%zu error%s", name, diags->len, diags->len == 1 ? "" : "s");

	/* Check it against the other jails as they are on disk. */
	if (cfg_set_load(jm->host->jails_dir, &set, err) == -1) {
		cfg_jail_free(cfg);
		return -1;
	}
	valid = valid_names(set, name);
	if (valid == NULL) {
		cfg_jail_free(cfg);
		nem_err_sys(err, ENOMEM, "jail %s", name);
		goto out;
	}
	if (cfg_set_put(set, cfg, err) == -1)
		goto out;
	sj = cfg_set_find(set, name);
	if (sj == NULL || !sj->startable) {
		if (sj != NULL)
			copy_diags(diags, &sj->set_diags);
		nem_err_set(err, EINVAL, "jail %s: the description conflicts "
		    "with other jails (%zu error%s)", name, diags->len,
		    diags->len == 1 ? "" : "s");
		goto out;
	}

	/* Reject a claim that a running jail's description already has. */
	other = running_conflict(jm, set, name, sj->jail, what,
	    sizeof(what));
	if (other != NULL) {
		nem_err_set(err, EINVAL, "jail %s: the description claims %s, "
		    "which the running jail %s holds; free it there first",
		    name, what, other);
		goto out;
	}

	/* The newcomer loses a conflict with a jail that was valid. */
	for (size_t i = 0; valid[i] != NULL; i++) {
		const struct cfg_set_jail *was = cfg_set_find(set, valid[i]);

		if (was == NULL || was->startable)
			continue;
		copy_diags(diags, &was->set_diags);
		nem_err_set(err, EINVAL, "jail %s: the description conflicts "
		    "with jail %s, which was valid (%zu error%s)", name,
		    valid[i], diags->len, diags->len == 1 ? "" : "s");
		goto out;
	}

	if (mkdir(jm->host->jails_dir, 0755) == -1 && errno != EEXIST) {
		nem_err_sys(err, errno, "create %s", jm->host->jails_dir);
		goto out;
	}
	if (asprintf(&path, "%s/%s.toml", jm->host->jails_dir, name) == -1) {
		path = NULL;
		nem_err_sys(err, ENOMEM, "jail %s", name);
		goto out;
	}
	if (write_atomic(path, toml, len, err) == -1)
		goto out;
	log_info("jail %s: description written to %s", name, path);
	apply_entry(jm, set, sj, true, &start);
	if (start)
		jm_dispatch(jm_jail_find(jm, name), JM_EV_START);
	rc = 0;

out:
	free(path);
	names_free(valid);
	cfg_set_free(set);
	return rc;
}

int
jm_jail_remove(struct jm *jm, const char *name, struct nem_err *err)
{
	struct jm_jail *j = find_or_fail(jm, name, err);
	char *path;

	if (j == NULL)
		return -1;
	if (asprintf(&path, "%s/%s.toml", jm->host->jails_dir, name) == -1)
		return nem_err_sys(err, ENOMEM, "jail %s", name);
	if (unlink(path) == -1 && errno != ENOENT) {
		nem_err_sys(err, errno, "jail %s: delete %s", name, path);
		free(path);
		return -1;
	}
	log_info("jail %s: description %s deleted", name, path);
	free(path);
	j->remove_after_stop = true;
	j->start_after_stop = false;
	jm_dispatch(j, JM_EV_STOP);
	return 0;
}

struct logfile *
jm_jail_log(const struct jm *jm, const char *name, struct nem_err *err)
{
	struct jm_jail *j = find_or_fail(jm, name, err);

	return j != NULL ? j->log : NULL;
}

bool
jm_volume_in_use(const struct jm *jm, const char *volume, const char **user)
{
	const struct jm_jail *j;

	TAILQ_FOREACH(j, &jm->jails, entry) {
		if (j->cfg == NULL || !jm_jail_active(j))
			continue;
		for (size_t i = 0; i < j->cfg->nmounts; i++) {
			const struct cfg_mount *m = &j->cfg->mounts[i];

			if (m->type == CFG_MOUNT_MD && m->persist &&
			    m->volume != NULL && strcmp(m->volume, volume) == 0) {
				*user = j->name;
				return true;
			}
		}
	}
	return false;
}

int
jm_jail_descriptions(const struct jm *jm, const struct cfg_jail ***out,
    size_t *count, struct nem_err *err)
{
	const struct jm_jail *j;
	size_t n = 0;

	*out = NULL;
	*count = 0;
	TAILQ_FOREACH(j, &jm->jails, entry)
		n++;
	if (n == 0)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (*out == NULL)
		return nem_err_sys(err, ENOMEM, "list jail descriptions");
	TAILQ_FOREACH(j, &jm->jails, entry) {
		if (j->cfg != NULL)
			(*out)[(*count)++] = j->cfg;
	}
	return 0;
}

bool
jm_jail_access(const struct jm *jm, const struct chan *ch,
    const char *service, const struct cfg_access **rights)
{
	const struct jm_jail *j;

	if (ch == NULL || chan_kind(ch) != CHAN_JAIL)
		return false;
	j = chan_owner(ch);
	if (j == NULL || j->cfg == NULL)
		return false;
	for (size_t i = 0; i < j->cfg->naccess; i++) {
		if (strcmp(j->cfg->access[i].service, service) == 0) {
			*rights = &j->cfg->access[i];
			return true;
		}
	}
	return false;
}

struct chan *
jm_service_provider(const struct jm *jm, const char *service,
    const char **provider)
{
	const struct jm_jail *j;

	*provider = NULL;
	TAILQ_FOREACH(j, &jm->jails, entry) {
		if (j->cfg == NULL)
			continue;
		for (size_t i = 0; i < j->cfg->nprovides; i++) {
			if (strcmp(j->cfg->provides[i].name, service) != 0)
				continue;
			*provider = j->name;
			if (j->state == JM_ST_READY && j->chan != NULL)
				return j->chan;
			return NULL;
		}
	}
	return NULL;
}

const struct cfg_jail *
jm_chan_description(const struct chan *ch)
{
	const struct jm_jail *j;

	if (ch == NULL || chan_kind(ch) != CHAN_JAIL)
		return NULL;
	j = chan_owner(ch);
	return j != NULL ? j->cfg : NULL;
}
