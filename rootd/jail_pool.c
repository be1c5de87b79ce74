/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The allocation workers. Jobs wait in a queue guarded by one mutex. Each
 * worker takes the next job, builds its tree with its own database
 * connection, moves it to the finished list and writes a byte to a pipe.
 * The event loop watches that pipe and hands finished jobs to their
 * callbacks. Workers block every signal, so signals reach the event loop
 * thread only.
 */
#include "jail_pool.h"
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include <nem/log.h>

struct pool_job {
	TAILQ_ENTRY(pool_job) entry;
	struct jail *jail;		/* NULL once a failed build freed it */
	struct nem_err err;
	jail_pool_done_fn done;
	void *arg;
};

TAILQ_HEAD(pool_jobs, pool_job);

struct pool_worker {
	struct jail_pool *pool;
	struct db *db;
	pthread_t thread;
	bool started;
};

struct jail_pool {
	struct jail_runtime *rt;
	struct event *wake;		/* read end of pipe_fd readable */
	int pipe_fd[2];
	struct pool_worker workers[JAIL_POOL_MAX_THREADS];
	unsigned nworkers;
	unsigned pending;		/* event loop thread only */

	pthread_mutex_t lock;		/* guards what follows */
	pthread_cond_t cond;
	struct pool_jobs todo;
	struct pool_jobs finished;
	bool stopping;
};

static void *
worker_main(void *arg)
{
	struct pool_worker *w = arg;
	struct jail_pool *pool = w->pool;
	struct pool_job *job;

	for (;;) {
		pthread_mutex_lock(&pool->lock);
		while (TAILQ_EMPTY(&pool->todo) && !pool->stopping)
			pthread_cond_wait(&pool->cond, &pool->lock);
		job = TAILQ_FIRST(&pool->todo);
		if (job == NULL) {
			pthread_mutex_unlock(&pool->lock);
			return NULL;
		}
		TAILQ_REMOVE(&pool->todo, job, entry);
		pthread_mutex_unlock(&pool->lock);

		/* A failed build frees the jail. */
		if (jail_alloc_build(job->jail, w->db, &job->err) == -1)
			job->jail = NULL;

		pthread_mutex_lock(&pool->lock);
		TAILQ_INSERT_TAIL(&pool->finished, job, entry);
		pthread_mutex_unlock(&pool->lock);

		/* The pipe is non-blocking: when it is full, a wake-up is
		 * already pending and this byte is not needed. */
		if (write(pool->pipe_fd[1], "", 1) == -1 && errno != EAGAIN)
			log_err("allocation workers: cannot wake the event "
			    "loop");
	}
}

/* Takes the finished jobs out of the pool, in the order they ended. */
static void
take_finished(struct jail_pool *pool, struct pool_jobs *out)
{
	TAILQ_INIT(out);
	pthread_mutex_lock(&pool->lock);
	TAILQ_CONCAT(out, &pool->finished, entry);
	pthread_mutex_unlock(&pool->lock);
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct jail_pool *pool = arg;
	struct pool_jobs done;
	struct pool_job *job;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	take_finished(pool, &done);
	while ((job = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, job, entry);
		pool->pending--;
		if (job->jail != NULL)
			jail_adopt(job->jail);
		job->done(job->arg, job->jail, &job->err);
		free(job);
	}
}

struct jail_pool *
jail_pool_new(struct jail_runtime *rt, struct event_base *base,
    const char *state_dir, unsigned nthreads, struct nem_err *err)
{
	struct jail_pool *pool;
	sigset_t all, old;

	if (nthreads < 1 || nthreads > JAIL_POOL_MAX_THREADS) {
		nem_err_set(err, EINVAL, "%u allocation workers requested; use "
		    "1 to %d", nthreads, JAIL_POOL_MAX_THREADS);
		return NULL;
	}
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL) {
		nem_err_sys(err, ENOMEM, "allocation workers");
		return NULL;
	}
	pool->rt = rt;
	pool->pipe_fd[0] = pool->pipe_fd[1] = -1;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	TAILQ_INIT(&pool->todo);
	TAILQ_INIT(&pool->finished);

	if (pipe2(pool->pipe_fd, O_CLOEXEC | O_NONBLOCK) == -1) {
		nem_err_sys(err, errno, "allocation workers: cannot create "
		    "the wake-up pipe");
		goto fail;
	}
	pool->wake = event_new(base, pool->pipe_fd[0], EV_READ | EV_PERSIST,
	    on_wake, pool);
	if (pool->wake == NULL || event_add(pool->wake, NULL) == -1) {
		nem_err_set(err, ENOMEM, "allocation workers: cannot watch "
		    "the wake-up pipe");
		goto fail;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		pool->workers[i].pool = pool;
		pool->workers[i].db = db_open(state_dir, err);
		if (pool->workers[i].db == NULL) {
			nem_err_prefix(err, "allocation worker %u", i);
			goto fail;
		}
	}

	/* The workers inherit a mask that blocks every signal. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < nthreads; i++) {
		int rc = pthread_create(&pool->workers[i].thread, NULL,
		    worker_main, &pool->workers[i]);

		if (rc != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			nem_err_sys(err, rc, "cannot start allocation worker "
			    "%u", i);
			goto fail;
		}
		pool->workers[i].started = true;
		pool->nworkers = i + 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_debug("%u allocation workers started", nthreads);
	return pool;

fail:
	jail_pool_free(pool);
	return NULL;
}

int
jail_pool_alloc(struct jail_pool *pool, const struct cfg_jail *cfg,
    const char *const *resolved, jail_pool_done_fn done, void *arg,
    struct nem_err *err)
{
	struct pool_job *job;
	struct jail *jail;

	job = calloc(1, sizeof(*job));
	if (job == NULL)
		return nem_err_sys(err, ENOMEM, "jail %s: allocation job",
		    cfg->name);
	if (jail_alloc_prepare(pool->rt, cfg, resolved, &jail, err) == -1) {
		free(job);
		return -1;
	}
	job->jail = jail;
	job->done = done;
	job->arg = arg;

	pthread_mutex_lock(&pool->lock);
	TAILQ_INSERT_TAIL(&pool->todo, job, entry);
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	pool->pending++;
	return 0;
}

unsigned
jail_pool_pending(const struct jail_pool *pool)
{
	return pool->pending;
}

void
jail_pool_free(struct jail_pool *pool)
{
	struct pool_jobs left;
	struct pool_job *job;
	struct nem_err err;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nworkers; i++) {
		if (pool->workers[i].started)
			pthread_join(pool->workers[i].thread, NULL);
	}

	/* Free the jobs that ended after the event loop last read the pipe. */
	take_finished(pool, &left);
	while ((job = TAILQ_FIRST(&left)) != NULL) {
		TAILQ_REMOVE(&left, job, entry);
		if (job->jail != NULL) {
			jail_adopt(job->jail);
			if (jail_free(job->jail, &err) == -1)
				log_warn("%s", err.msg);
		}
		free(job);
	}
	for (unsigned i = 0; i < JAIL_POOL_MAX_THREADS; i++)
		db_close(pool->workers[i].db);
	if (pool->wake != NULL)
		event_free(pool->wake);
	if (pool->pipe_fd[0] != -1)
		close(pool->pipe_fd[0]);
	if (pool->pipe_fd[1] != -1)
		close(pool->pipe_fd[1]);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}
