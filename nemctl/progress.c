/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The progress display of "nemctl image push". nemctl passes the image
 * file itself as a descriptor, so the daemon's copy shares the open file
 * description and its file offset. A thread reads that offset with lseek
 * and redraws the bar on standard error while the main thread waits for
 * the reply. Progress replies from the daemon raise the count as well.
 *
 * Limitations:
 * NOTE: the offset shows what the daemon has read, which is ahead of what
 * it has written and hashed by at most its read buffers.
 */
#include "nemctl.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Redraw interval of the bar on a terminal. */
#define PROGRESS_INTERVAL_MS 200

/* Characters of the bar between its brackets. */
#define PROGRESS_BAR_WIDTH 30

struct progress {
	int fd;				/* the image file (not owned) */
	uint64_t total;
	FILE *out;
	bool tty;
	uint64_t start_ms;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;		/* guards the fields below */
	pthread_cond_t wake;
	bool stop;
	uint64_t done;			/* highest count seen so far */
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Formats seconds as "M:SS" or "H:MM:SS". */
static void
format_clock(uint64_t s, char *buf, size_t size)
{
	if (s >= 3600)
		snprintf(buf, size, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
		    s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, size, "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
}

char *
progress_format(char *buf, size_t size, uint64_t done, uint64_t total,
    uint64_t elapsed_ms, int bar_width)
{
	char rate[32], amount[32], left[32] = "-:--";
	uint64_t per_s = 0;
	char bar[256];
	int pct, fill;

	if (total > 0 && done > total)
		done = total;
	if (elapsed_ms > 0)
		per_s = (uint64_t)((double)done * 1000.0 / (double)elapsed_ms);
	table_size(per_s, rate, sizeof(rate));
	if (total == 0) {
		table_size(done, amount, sizeof(amount));
		snprintf(buf, size, "%s  %s/s", amount, rate);
		return buf;
	}

	pct = (int)((double)done * 100.0 / (double)total);
	if (bar_width < 1 || (size_t)bar_width >= sizeof(bar))
		bar_width = PROGRESS_BAR_WIDTH;
	fill = (int)((double)done * bar_width / (double)total);
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(bar_width - fill));
	bar[bar_width] = '\0';
	if (done == total)
		format_clock(0, left, sizeof(left));
	else if (per_s > 0)
		format_clock((total - done + per_s - 1) / per_s, left,
		    sizeof(left));
	snprintf(buf, size, "[%s] %3d%%  %s/s  %s left", bar, pct, rate, left);
	return buf;
}

/* Raises p->done to the file offset; called with p->lock held. */
static void
read_offset(struct progress *p)
{
	off_t off = lseek(p->fd, 0, SEEK_CUR);

	if (off > 0 && (uint64_t)off > p->done)
		p->done = (uint64_t)off;
}

static void
draw(struct progress *p)
{
	char line[256];

	progress_format(line, sizeof(line), p->done, p->total,
	    now_ms() - p->start_ms, PROGRESS_BAR_WIDTH);
	/* \r and "erase to end of line" keep the bar on one line. */
	fprintf(p->out, "\r%s\033[K", line);
	fflush(p->out);
}

static void *
progress_thread(void *arg)
{
	struct progress *p = arg;
	struct timespec until;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		read_offset(p);
		draw(p);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += PROGRESS_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->wake, &p->lock, &until);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct progress *
progress_start(int fd, uint64_t total, FILE *err_out, struct nem_err *err)
{
	struct progress *p = calloc(1, sizeof(*p));
	int rc;

	if (p == NULL) {
		nem_err_sys(err, ENOMEM, "progress display");
		return NULL;
	}
	p->fd = fd;
	p->total = total;
	p->out = err_out;
	p->tty = isatty(fileno(err_out)) == 1;
	p->start_ms = now_ms();
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	if (!p->tty)
		return p;

	rc = pthread_create(&p->thread, NULL, progress_thread, p);
	if (rc != 0) {
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->lock);
		free(p);
		nem_err_sys(err, rc, "start the progress display thread");
		return NULL;
	}
	p->thread_started = true;
	return p;
}

void
progress_report(struct progress *p, uint64_t done)
{
	pthread_mutex_lock(&p->lock);
	if (done > p->done)
		p->done = done;
	pthread_mutex_unlock(&p->lock);
}

void
progress_end(struct progress *p, bool ok)
{
	uint64_t ms;
	char amount[32], rate[32];

	if (p == NULL)
		return;
	if (p->thread_started) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_signal(&p->wake);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}

	ms = now_ms() - p->start_ms;
	if (ok)
		p->done = p->total > p->done ? p->total : p->done;
	if (p->tty) {
		draw(p);
		fputc('\n', p->out);
	} else if (ok) {
		table_size(p->done, amount, sizeof(amount));
		table_size(ms > 0 ? p->done * 1000 / ms : p->done, rate,
		    sizeof(rate));
		fprintf(p->out, "nemctl: sent %s in %" PRIu64 ".%01" PRIu64
		    " s (%s/s)\n", amount, ms / 1000, ms % 1000 / 100, rate);
	}
	fflush(p->out);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
