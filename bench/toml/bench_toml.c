/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Measures toml_parse() on a generated configuration of about 1 MiB: host
 * settings, [[host]] entries and jail-like tables with [[mount]] arrays,
 * strings, integers, floats, booleans, dates, arrays and inline tables.
 * Prints the median time of several runs and the throughput in MB/s
 * (10^6 bytes per second).
 *
 * usage: bench_toml [-s SIZE_BYTES] [-n RUNS] [-o FILE]
 * -o writes the generated document to FILE for inspection.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "toml.h"

struct text {
	char *buf;
	size_t len, cap;
};

static void
text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			fprintf(stderr, "bench_toml: formatting failed\n");
			exit(1);
		}
		if ((size_t)n < t->cap - t->len)
			break;
		t->cap = t->cap * 2 + (size_t)n;
		t->buf = realloc(t->buf, t->cap);
		if (t->buf == NULL) {
			fprintf(stderr, "bench_toml: out of memory\n");
			exit(1);
		}
	}
	t->len += (size_t)n;
}

/* Writes one jail-like section; i makes names and numbers differ. */
static void
write_jail(struct text *t, unsigned i)
{
	text_printf(t, "\n[jail.web%u]\n", i);
	text_printf(t, "autostart = %s\n", i % 3 ? "true" : "false");
	text_printf(t, "description = \"Web front end %u, serving "
	    "\\\"static\\\" files and the API\\n\"\n", i);
	text_printf(t, "created = 2026-%02u-%02uT%02u:%02u:00Z\n",
	    i % 12 + 1, i % 28 + 1, i % 24, i % 60);
	text_printf(t, "weight = %u.%03u\n", i % 10, i % 1000);
	text_printf(t, "limits = { memory = %u, cpu = 0.5, pids = 0x%x }\n",
	    (i % 64 + 1) * 1048576, 128 + i % 512);
	text_printf(t, "\n[jail.web%u.process]\n", i);
	text_printf(t, "exec = [\"/bin/web\", \"--port\", \"%u\", "
	    "'--root=C:\\srv\\www'] # literal backslashes\n", 8000 + i % 1000);
	text_printf(t, "env.LANG = \"C.UTF-8\"\nenv.TZ = 'UTC'\n");
	text_printf(t, "stop_timeout = \"10s\"\nrestart = \"on-failure\"\n");
	text_printf(t, "isolation = [ \"jail\",\n  \"network\", ]\n");
	text_printf(t, "\n[[jail.web%u.mount]]\ntype = \"image\"\n"
	    "dest = \"/\"\nimage = \"base\"\nversion = \"^1.%u\"\n"
	    "sha256 = \"%064x\"\n", i, i % 10, i);
	text_printf(t, "\n[[jail.web%u.mount]]\ntype = \"md\"\n"
	    "dest = \"/var/db\"\nsize = \"%uM\"\npersist = true\n"
	    "volume = \"web%u-db\"\n", i, 64 << (i % 4), i);
	text_printf(t, "\n[[jail.web%u.mount]]\ntype = \"tmpfs\"\n"
	    "dest = \"/tmp\"\nsize = 67_108_864\n", i);
	text_printf(t, "\n[jail.web%u.services]\nprovides = [\"web%u\"]\n"
	    "requires = [\"db\", \"cache%u\"]\n", i, i, i % 8);
	text_printf(t, "\n[jail.web%u.access]\ndb = [\"read\", \"write\"]\n"
	    "\"cache%u\" = [\"read\"]\n", i, i % 8);
}

/* Generates a configuration of at least size bytes. */
static struct text
generate(size_t size)
{
	struct text t = { NULL, 0, 4096 };
	unsigned i = 0;

	t.buf = malloc(t.cap);
	if (t.buf == NULL) {
		fprintf(stderr, "bench_toml: out of memory\n");
		exit(1);
	}
	text_printf(&t, "# Generated benchmark configuration\n"
	    "state_dir = \"/var/lib/nem\"\nrun_dir = '/run/nem'\n"
	    "log_level = \"info\"\nupdated = 2026-12-04\n");
	for (unsigned h = 0; h < 16; h++)
		text_printf(&t, "\n[[host]]\nname = \"routerd%u\"\n"
		    "exec = [\"/usr/sbin/nem-routerd\", \"-f\"]\n"
		    "backoff = { min = 0.1, max = 30.0 }\n", h);
	while (t.len < size)
		write_jail(&t, i++);
	return t;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Parses a positive number option; exits with a message when invalid. */
static unsigned long
parse_number(const char *opt, const char *arg)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v == 0) {
		fprintf(stderr, "bench_toml: invalid %s value \"%s\": expected "
		    "a positive integer\n", opt, arg);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	size_t size = 1024 * 1024;
	unsigned long runs = 21;
	const char *dump = NULL;
	struct toml_err err;
	struct text t;
	double *times, median;
	int c;

	while ((c = getopt(argc, argv, "s:n:o:")) != -1) {
		switch (c) {
		case 's':
			size = parse_number("-s", optarg);
			break;
		case 'n':
			runs = parse_number("-n", optarg);
			break;
		case 'o':
			dump = optarg;
			break;
		default:
			fprintf(stderr, "usage: bench_toml [-s SIZE_BYTES] "
			    "[-n RUNS] [-o FILE]\n");
			return 2;
		}
	}

	t = generate(size);
	if (dump != NULL) {
		FILE *f = fopen(dump, "we");

		if (f == NULL || fwrite(t.buf, 1, t.len, f) != t.len ||
		    fclose(f) != 0) {
			fprintf(stderr, "bench_toml: writing %s failed: %s\n",
			    dump, strerror(errno));
			return 1;
		}
	}

	times = calloc(runs, sizeof(*times));
	if (times == NULL) {
		fprintf(stderr, "bench_toml: out of memory\n");
		return 1;
	}
	for (unsigned long r = 0; r < runs; r++) {
		double start = now_seconds();
		struct toml_doc *doc = toml_parse(t.buf, t.len, &err);

		if (doc == NULL) {
			fprintf(stderr, "bench_toml: generated document: %s\n",
			    err.msg);
			return 1;
		}
		toml_free(doc);
		times[r] = now_seconds() - start;
	}
	qsort(times, runs, sizeof(*times), compare_double);
	median = times[runs / 2];

	printf("toml_parse: %zu bytes, median %.3f ms of %lu runs "
	    "(min %.3f ms, max %.3f ms), %.1f MB/s\n", t.len, median * 1e3,
	    runs, times[0] * 1e3, times[runs - 1] * 1e3,
	    (double)t.len / median / 1e6);
	free(times);
	free(t.buf);
	return 0;
}
