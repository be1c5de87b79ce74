/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the host configuration, of the checks across the jails of
 * a folder (services, cycles, volumes, start order), of the jail file
 * naming rule and of check-config. Each test works in its own mkdtemp
 * folder and removes it; the shipped examples (argv[1]) must load.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

static const char *examples_dir;

#define PROCESS "[process]\nexec = [\"/bin/x\"]\n"
#define ROOT_MOUNT "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n"

/* A scratch configuration folder with a jails/ folder inside. */
struct scratch {
	char dir[64];
	char jails[96];
	char conf[96];
};

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
scratch_setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	strcpy(s->dir, "/tmp/nem-config-test.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->jails, sizeof(s->jails), "%s/jails", s->dir);
	snprintf(s->conf, sizeof(s->conf), "%s/rootd.toml", s->dir);
	assert_int_equal(mkdir(s->jails, 0700), 0);
	*state = s;
	return 0;
}

static int
scratch_teardown(void **state)
{
	struct scratch *s = *state;

	nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(s);
	return 0;
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "we");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* Writes jail name requiring and providing the given services. */
static void
write_jail(struct scratch *s, const char *name, const char *provides,
    const char *requires, const char *extra)
{
	char file[256], text[2048];

	snprintf(file, sizeof(file), "%s.toml", name);
	snprintf(text, sizeof(text), PROCESS ROOT_MOUNT "%s"
	    "[services]\nprovides = [%s]\nrequires = [%s]\n", extra, provides,
	    requires);
	write_file(s->jails, file, text);
}

/* Returns all errors of the set's jail named name as one string. */
static char *
set_messages(const struct cfg_set *set, const char *name)
{
	const struct cfg_set_jail *e = cfg_set_find(set, name);
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	assert_non_null(e);
	fp = open_memstream(&text, &len);
	assert_non_null(fp);
	cfg_diags_print(&e->diags, fp);
	cfg_diags_print(&e->set_diags, fp);
	fclose(fp);
	return text;
}

static void
assert_set_error(const struct cfg_set *set, const char *name,
    const char *want)
{
	char *msgs = set_messages(set, name);

	if (strstr(msgs, want) == NULL)
		fail_msg("jail %s: messages lack \"%s\":\n%s", name, want, msgs);
	assert_false(cfg_set_find(set, name)->startable);
	free(msgs);
}

static void
host_empty_file_defaults(void **state)
{
	struct cfg_diags diags = { 0 };
	struct cfg_host *h;

	(void)state;
	h = cfg_host_load_buffer("/etc/nem/rootd.toml", "", 0, &diags);
	assert_non_null(h);
	assert_int_equal(diags.len, 0);
	assert_string_equal(h->state_dir, CFG_DEFAULT_STATE_DIR);
	assert_string_equal(h->run_dir, "/run/nem");
	assert_string_equal(h->control_socket, "/run/nem/control.sock");
	assert_string_equal(h->jails_dir, "/etc/nem/jails");
	assert_int_equal(h->log_level, LOG_LEVEL_INFO);
	assert_int_equal(h->log_dest, LOG_DEST_STDERR);
	assert_null(h->hostname);
	assert_int_equal(h->nhosts, 0);
	cfg_host_free(h);

	/* The socket follows run_dir unless set. */
	h = cfg_host_load_buffer("rootd.toml", "run_dir = \"/run/x\"\n", 19,
	    &diags);
	assert_non_null(h);
	assert_string_equal(h->control_socket, "/run/x/control.sock");
	assert_string_equal(h->jails_dir, "./jails");
	cfg_host_free(h);
}

/* Loads text as a host configuration and expects want among the errors. */
static void
host_err(const char *text, const char *want)
{
	struct cfg_diags diags = { 0 };
	char *msgs = NULL;
	size_t len = 0;
	FILE *fp;

	assert_null(cfg_host_load_buffer("rootd.toml", text, strlen(text),
	    &diags));
	fp = open_memstream(&msgs, &len);
	cfg_diags_print(&diags, fp);
	fclose(fp);
	if (strstr(msgs, want) == NULL)
		fail_msg("messages lack \"%s\":\n%s", want, msgs);
	free(msgs);
	cfg_diags_clear(&diags);
}

static void
host_errors_reported(void **state)
{
	char text[512], name[65];

	(void)state;
	host_err("log_levle = \"info\"\n", "rootd.toml:1:1: unknown key "
	    "'log_levle' in the host configuration (did you mean "
	    "'log_level'?)");
	host_err("log_level = \"loud\"\n", "invalid log_level \"loud\"");
	host_err("log = \"file\"\n", "invalid log \"file\"");
	host_err("state_dir = \"var/lib\"\n", "invalid state_dir \"var/lib\"");
	host_err("run_dir = \"/run/nem/\"\n", "trailing '/'");
	host_err("hostname = \"-bad\"\n", "invalid hostname \"-bad\"");
	host_err("hostname = \"a..b\"\n", "invalid hostname");
	host_err("run_dir = \"/" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n",
	    "the maximum for a unix socket is 107");
	host_err("[[host]]\nexec = [\"/bin/x\"]\n", "rootd.toml:1:1: missing "
	    "key 'name' in [[host]]");
	host_err("[[host]]\nname = \"r\"\n", "missing key 'exec' in [[host]]");
	host_err("[[host]]\nname = \"r\"\nexec = [\"/bin/x\"]\n"
	    "[[host]]\nname = \"r\"\nexec = [\"/bin/y\"]\n",
	    "rootd.toml:4:1: host name 'r' is used by two [[host]] entries");
	host_err("[[host]]\nname = \"r\"\nexec = [\"/bin/x\"]\nrestrat = "
	    "\"never\"\n", "did you mean 'restart'?");
	host_err("[[host]]\nname = \"r\"\nexec = [\"/bin/x\"]\nrestart_reset = "
	    "\"0s\"\n", "'restart_reset' must be larger than zero");
	host_err("host = 1\n", "'host' must be an array of tables");
	host_err("\xef\xbb\xbfstate_dir = 5\r\n", "rootd.toml:1:13: 'state_dir' "
	    "must be a string, not an integer");

	/* Host names go through the one naming rule. */
	snprintf(text, sizeof(text), "[[host]]\nname = \"a b\"\nexec = [\"/x\"]\n");
	host_err(text, "invalid host name \"a b\"");
	memset(name, 'a', 64);
	name[64] = '\0';
	snprintf(text, sizeof(text), "[[host]]\nname = \"%s\"\nexec = [\"/x\"]\n",
	    name);
	host_err(text, "invalid host name");
}

static void
host_entry_values(void **state)
{
	static const char text[] = "log_level = \"debug\"\nlog = \"syslog\"\n"
	    "hostname = \"node-1.example\"\n"
	    "[[host]]\nname = \"routerd\"\nexec = [\"/usr/sbin/r\", \"-v\"]\n"
	    "env = { A = \"b\" }\nrestart = \"never\"\nstop_timeout = \"3s\"\n";
	struct cfg_diags diags = { 0 };
	struct cfg_host *h;

	(void)state;
	h = cfg_host_load_buffer("rootd.toml", text, strlen(text), &diags);
	assert_non_null(h);
	assert_int_equal(h->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(h->log_dest, LOG_DEST_SYSLOG);
	assert_string_equal(h->hostname, "node-1.example");
	assert_int_equal(h->nhosts, 1);
	assert_string_equal(h->hosts[0].name, "routerd");
	assert_int_equal(h->hosts[0].cmd.nexec, 2);
	assert_int_equal(h->hosts[0].cmd.nenv, 1);
	assert_int_equal(h->hosts[0].policy.restart, CFG_RESTART_NEVER);
	assert_int_equal(h->hosts[0].policy.stop_timeout_ms, 3000);
	assert_int_equal(h->hosts[0].policy.restart_delay_ms, 100);
	assert_int_equal(h->hosts[0].policy.restart_delay_max_ms, 30000);
	assert_int_equal(h->hosts[0].policy.restart_reset_ms, 60000);
	cfg_host_free(h);
}

static void
examples_load_and_order(void **state)
{
	struct cfg_diags diags = { 0 };
	const struct cfg_jail *web;
	struct cfg_host *h;
	struct cfg_set *set;
	struct nem_err err;
	char path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/rootd.toml", examples_dir);
	h = cfg_host_load(path, &diags);
	if (h == NULL)
		cfg_diags_print(&diags, stderr);
	assert_non_null(h);
	assert_string_equal(h->hostname, "jailhost1");
	assert_int_equal(h->nhosts, 1);

	assert_int_equal(cfg_set_load(h->jails_dir, &set, &err), 0);
	assert_int_equal(set->njails, 3);
	for (size_t i = 0; i < set->njails; i++) {
		char *msgs = set_messages(set, set->jails[i].name);

		if (!set->jails[i].startable)
			fail_msg("example %s:\n%s", set->jails[i].name, msgs);
		free(msgs);
	}
	assert_int_equal(set->norder, 3);
	assert_string_equal(set->order[0]->name, "db");
	assert_string_equal(set->order[1]->name, "finger");
	assert_string_equal(set->order[2]->name, "web");

	/* File sources resolve against the configuration folder. */
	web = cfg_set_find(set, "web")->jail;
	assert_int_equal(web->mounts[4].type, CFG_MOUNT_FILE);
	snprintf(path, sizeof(path), "%s/files/web.conf", examples_dir);
	assert_string_equal(web->mounts[4].source_path + strlen(
	    web->mounts[4].source_path) - strlen("/files/web.conf"),
	    "/files/web.conf");
	assert_int_equal(access(web->mounts[4].source_path, R_OK), 0);
	cfg_set_free(set);
	cfg_host_free(h);
}

static void
order_is_topological_by_name(void **state)
{
	struct scratch *s = *state;
	struct cfg_set *set;
	struct nem_err err;
	static const char *const want[] = { "a", "c", "b", "z" };

	/* b needs c; z needs a and b; a and c are free. */
	write_jail(s, "z", "", "\"sa\", \"sb\"", "");
	write_jail(s, "b", "\"sb\"", "\"sc\"", "");
	write_jail(s, "c", "\"sc\"", "", "");
	write_jail(s, "a", "\"sa\"", "", "");
	write_file(s->jails, "README", "not a jail\n");
	write_file(s->jails, "a.toml.bak", "not a jail either\n");
	assert_int_equal(cfg_set_load(s->jails, &set, &err), 0);
	assert_int_equal(set->njails, 4);
	assert_int_equal(set->norder, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(set->order[i]->name, want[i]);
	cfg_set_free(set);
}

static void
cycle_named_with_jails(void **state)
{
	struct scratch *s = *state;
	struct cfg_set *set;
	struct nem_err err;

	write_jail(s, "b", "\"sb\"", "\"sc\"", "");
	write_jail(s, "c", "\"sc\"", "\"sa\"", "");
	write_jail(s, "a", "\"sa\"", "\"sb\"", "");
	write_jail(s, "d", "\"sd\"", "\"sa\"", "");
	write_jail(s, "e", "", "", "");
	assert_int_equal(cfg_set_load(s->jails, &set, &err), 0);
	assert_set_error(set, "a", "a.toml:9:13: dependency cycle: a -> b -> "
	    "c -> a (each jail requires a service of the next)");
	assert_set_error(set, "b", "dependency cycle: a -> b -> c -> a");
	assert_set_error(set, "c", "dependency cycle: a -> b -> c -> a");
	assert_set_error(set, "d", "d.toml:9:13: service 'sa' is provided by "
	    "jail 'a', which cannot start");
	assert_int_equal(set->norder, 1);
	assert_string_equal(set->order[0]->name, "e");
	cfg_set_free(set);
}

static void
service_conflicts_reported(void **state)
{
	struct scratch *s = *state;
	struct cfg_set *set;
	struct nem_err err;

	write_jail(s, "p1", "\"x\"", "", "");
	write_jail(s, "p2", "\"x\"", "", "");
	write_jail(s, "needy", "", "\"nobody\"", "");
	assert_int_equal(cfg_set_load(s->jails, &set, &err), 0);
	assert_true(cfg_set_find(set, "p1")->startable);
	assert_set_error(set, "p2", "p2.toml:8:13: service 'x' is also "
	    "provided by jail 'p1'; a service has exactly one provider");
	assert_set_error(set, "needy", "needy.toml:9:13: service 'nobody' is "
	    "required but no valid jail provides it");
	cfg_set_free(set);
}

static void
shared_resources_reported(void **state)
{
	struct scratch *s = *state;
	struct cfg_set *set;
	struct nem_err err;

	write_jail(s, "v1", "", "", "[[mount]]\ntype = \"md\"\ndest = \"/d\"\n"
	    "size = \"8M\"\npersist = true\nvolume = \"data\"\n"
	    "[[mount]]\ntype = \"disk\"\ndest = \"/ro\"\ndevice = \"/dev/sdz1\"\n"
	    "readonly = true\n[[listen]]\nname = \"h\"\nport = 8080\n");
	write_jail(s, "v2", "", "", "[[mount]]\ntype = \"md\"\ndest = \"/d\"\n"
	    "size = \"8M\"\npersist = true\nvolume = \"data\"\n"
	    "[[mount]]\ntype = \"disk\"\ndest = \"/ro\"\ndevice = \"/dev/sdz1\"\n"
	    "readonly = true\n");
	write_jail(s, "v3", "", "", "[[mount]]\ntype = \"disk\"\ndest = \"/rw\"\n"
	    "device = \"/dev/sdz1\"\n[[listen]]\nname = \"h\"\n"
	    "address = \"127.0.0.1\"\nport = 8080\n");
	write_jail(s, "v4", "", "", "[[mount]]\ntype = \"md\"\ndest = \"/a\"\n"
	    "size = \"8M\"\npersist = true\nvolume = \"twice\"\n"
	    "[[mount]]\ntype = \"md\"\ndest = \"/b\"\n"
	    "size = \"8M\"\npersist = true\nvolume = \"twice\"\n");
	write_jail(s, "v5", "", "", "[[listen]]\nname = \"h\"\n"
	    "address = \"0.0.0.0\"\nport = 8080\n");
	write_jail(s, "v6", "", "", "[[listen]]\nname = \"h\"\n"
	    "address = \"::\"\nport = 8080\n");
	assert_int_equal(cfg_set_load(s->jails, &set, &err), 0);
	assert_true(cfg_set_find(set, "v1")->startable);
	assert_true(cfg_set_find(set, "v6")->startable);
	assert_set_error(set, "v5", "listen address 0.0.0.0 port 8080 overlaps "
	    "address 127.0.0.1 port 8080 of jail 'v1'");
	assert_set_error(set, "v2", "v2.toml:7:1: volume 'data' is also used "
	    "by jail 'v1'; a volume belongs to one mount");
	assert_set_error(set, "v3", "device /dev/sdz1 is also mounted by jail "
	    "'v1'");
	assert_set_error(set, "v3", "listen address 127.0.0.1 port 8080 is "
	    "also used by jail 'v1'");
	assert_set_error(set, "v4", "v4.toml:13:1: volume 'twice' is also used "
	    "by the [[mount]] at line 7");
	cfg_set_free(set);
}

/* A preferred jail keeps its claim; the other one gets the error. */
static void
preferred_jail_wins(void **state)
{
	struct scratch *s = *state;
	const char *prefer[] = { "pb" };
	struct cfg_set *set;
	struct nem_err err;

	write_jail(s, "pa", "", "", "[[listen]]\nname = \"h\"\nport = 9000\n");
	write_jail(s, "pb", "", "", "[[listen]]\nname = \"h\"\nport = 9000\n");
	assert_int_equal(cfg_set_load(s->jails, &set, &err), 0);
	assert_true(cfg_set_find(set, "pa")->startable);
	assert_false(cfg_set_find(set, "pb")->startable);

	assert_int_equal(cfg_set_prefer(set, prefer, 1, &err), 0);
	assert_false(cfg_set_find(set, "pa")->startable);
	assert_true(cfg_set_find(set, "pb")->startable);
	assert_set_error(set, "pa", "listen address 127.0.0.1 port 9000 is "
	    "also used by jail 'pb'");
	cfg_set_free(set);
}

static void
large_set_bounded_time(void **state)
{
	struct scratch *s = *state;
	struct timespec t0, t1;
	struct cfg_set *set;
	struct nem_err err;
	char name[32], prov[32], req[32];
	double secs;

	/* A chain of 2000 jails, each requiring its predecessor's service,
	 * written in reverse so the order has to be computed. */
	for (int i = 1999; i >= 0; i--) {
		snprintf(name, sizeof(name), "j%04d", 1999 - i);
		snprintf(prov, sizeof(prov), "\"s%d\"", i);
		snprintf(req, sizeof(req), "\"s%d\"", i - 1);
		write_jail(s, name, prov, i > 0 ? req : "", "");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(cfg_set_load(s->jails, &set, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* About 1 s with ASan on an idle machine; the bound leaves room for
	 * a loaded one and still catches a quadratic check. */
	if (secs > 20.0)
		fail_msg("2000 jails took %.2f s", secs);
	assert_int_equal(set->norder, 2000);
	assert_string_equal(set->order[0]->name, "j1999");
	assert_string_equal(set->order[1999]->name, "j0000");
	cfg_set_free(set);
}

static void
jail_file_names_checked(void **state)
{
	static const char *const bad[] = { ".toml", "..toml", "a b.toml",
		"a\tb.toml", "a\nb.toml", "-rf.toml", "x{y=z}.toml",
		"caf\xc3\xa9.toml" };
	struct scratch *s = *state;
	struct cfg_set *set;
	struct nem_err err;
	char name[300];
	size_t n = sizeof(bad) / sizeof(bad[0]);

	for (size_t i = 0; i < n; i++)
		write_file(s->jails, bad[i], PROCESS ROOT_MOUNT);
	/* 63 bytes is the longest valid name; 64 and 250 are too long.
	 * Stems of 251 bytes and more do not fit in a file name (255 bytes
	 * with ".toml"); the buffer entry point tests those lengths. */
	for (size_t len = 63; len <= 250; len++) {
		if (len != 63 && len != 64 && len != 250)
			continue;
		memset(name, 'a', sizeof(name));
		strcpy(name + len, ".toml");
		write_file(s->jails, name, PROCESS ROOT_MOUNT);
	}

	assert_int_equal(cfg_set_load(s->jails, &set, &err), 0);
	assert_int_equal(set->njails, n + 3);
	assert_int_equal(set->norder, 1);
	assert_int_equal(strlen(set->order[0]->name), 63);
	for (size_t i = 0; i < set->njails; i++) {
		const struct cfg_set_jail *e = &set->jails[i];

		if (strlen(e->name) == 63)
			continue;
		assert_null(e->jail);
		assert_int_equal(e->diags.len, 1);
		assert_non_null(strstr(e->diags.v[0].msg, "invalid jail name"));
	}
	cfg_set_free(set);
}

static void
set_put_replaces_jail(void **state)
{
	struct scratch *s = *state;
	struct cfg_diags diags = { 0 };
	struct cfg_jail *j;
	struct cfg_set *set;
	struct nem_err err;
	static const char text[] = PROCESS ROOT_MOUNT
	    "[services]\nprovides = [\"x\"]\n";

	write_jail(s, "a", "\"x\"", "", "");
	write_jail(s, "b", "", "\"x\"", "");
	assert_int_equal(cfg_set_load(s->jails, &set, &err), 0);
	assert_int_equal(set->norder, 2);

	/* A new jail that provides x too conflicts with a. */
	j = cfg_jail_load_buffer("c", "c.toml", s->dir, text, strlen(text),
	    &diags);
	assert_non_null(j);
	assert_int_equal(cfg_set_put(set, j, &err), 0);
	assert_int_equal(set->njails, 3);
	assert_set_error(set, "c", "service 'x' is also provided by jail 'a'");

	/* Replacing a with a jail without services leaves c the provider. */
	j = cfg_jail_load_buffer("a", "a.toml", s->dir, PROCESS ROOT_MOUNT,
	    strlen(PROCESS ROOT_MOUNT), &diags);
	assert_non_null(j);
	assert_int_equal(cfg_set_put(set, j, &err), 0);
	assert_int_equal(set->njails, 3);
	assert_int_equal(set->norder, 3);
	assert_string_equal(set->order[0]->name, "a");
	assert_string_equal(set->order[1]->name, "c");
	assert_string_equal(set->order[2]->name, "b");
	cfg_set_free(set);
}

/* Reads a whole file into a NUL-terminated string to free(). */
static char *
read_all(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *in = fopen(path, "re"), *out = open_memstream(&text, &len);
	int c;

	assert_non_null(in);
	assert_non_null(out);
	while ((c = fgetc(in)) != EOF)
		fputc(c, out);
	fclose(in);
	fclose(out);
	return text;
}

/* Runs check_config_main with stdout and stderr sent to files. */
static int
run_check(const char *dir, char *const args[], char **out, char **errs)
{
	char opath[256], epath[256];
	int saved_out = dup(1), saved_err = dup(2), rc, argc = 0;

	snprintf(opath, sizeof(opath), "%s/stdout", dir);
	snprintf(epath, sizeof(epath), "%s/stderr", dir);
	fflush(stdout);
	fflush(stderr);
	dup2(open(opath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), 1);
	dup2(open(epath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), 2);
	while (args[argc] != NULL)
		argc++;
	rc = check_config_main(argc, (char **)args);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);

	*out = read_all(opath);
	*errs = read_all(epath);
	return rc;
}

static void
check_config_exit_codes(void **state)
{
	struct scratch *s = *state;
	char path[512], *out, *errs;

	/* The examples are valid. */
	snprintf(path, sizeof(path), "%s/rootd.toml", examples_dir);
	assert_int_equal(run_check(s->dir, (char *[]){ "check-config", "-c",
	    path, NULL }, &out, &errs), 0);
	assert_string_equal(out, "ok: 3 jails\n");
	assert_string_equal(errs, "");
	free(out);
	free(errs);

	/* Errors in the host file and in a jail file are all printed. */
	write_file(s->dir, "rootd.toml", "log_level = \"loud\"\n");
	write_jail(s, "w", "", "\"db\"", "");
	write_file(s->jails, "bad.toml", "autostart = 1\n");
	assert_int_equal(run_check(s->dir, (char *[]){ "check-config",
	    "-c", s->conf, NULL }, &out, &errs), 1);
	assert_string_equal(out, "");
	snprintf(path, sizeof(path), "%s:1:13: invalid log_level \"loud\"",
	    s->conf);
	assert_non_null(strstr(errs, path));
	assert_non_null(strstr(errs, "bad.toml:1:13: 'autostart' must be a "
	    "boolean"));
	assert_non_null(strstr(errs, "bad.toml:1:1: missing table [process]"));
	assert_non_null(strstr(errs, "w.toml:9:13: service 'db' is required"));
	free(out);
	free(errs);

	/* A file mount whose source is missing fails the check. */
	write_file(s->dir, "rootd.toml", "");
	write_file(s->jails, "bad.toml", PROCESS ROOT_MOUNT
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/run\"\nsize = \"8M\"\n"
	    "[[mount]]\ntype = \"file\"\ndest = \"/run/x.conf\"\n"
	    "source = \"files/absent.conf\"\n");
	assert_int_equal(run_check(s->dir, (char *[]){ "check-config",
	    "-c", s->conf, NULL }, &out, &errs), 1);
	assert_non_null(strstr(errs, "files/absent.conf is missing"));
	free(out);
	free(errs);

	/* A missing host file is an error, a usage error exits 2. */
	snprintf(path, sizeof(path), "%s/nonexistent.toml", s->dir);
	assert_int_equal(run_check(s->dir, (char *[]){ "check-config",
	    "-c", path, NULL }, &out, &errs), 1);
	assert_non_null(strstr(errs, "nonexistent.toml: cannot open: No such "
	    "file or directory"));
	free(out);
	free(errs);
	assert_int_equal(run_check(s->dir, (char *[]){ "check-config",
	    "--bogus", NULL }, &out, &errs), 2);
	assert_non_null(strstr(errs, "usage: nem-rootd check-config"));
	free(out);
	free(errs);
	assert_int_equal(run_check(s->dir, (char *[]){ "check-config", "-c",
	    NULL }, &out, &errs), 2);
	free(out);
	free(errs);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(host_empty_file_defaults),
		cmocka_unit_test(host_errors_reported),
		cmocka_unit_test(host_entry_values),
		cmocka_unit_test(examples_load_and_order),
		cmocka_unit_test_setup_teardown(order_is_topological_by_name,
		    scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(cycle_named_with_jails,
		    scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(service_conflicts_reported,
		    scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(shared_resources_reported,
		    scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(preferred_jail_wins,
		    scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(large_set_bounded_time,
		    scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(jail_file_names_checked,
		    scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(set_put_replaces_jail,
		    scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(check_config_exit_codes,
		    scratch_setup, scratch_teardown),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: test_config_set EXAMPLES_DIR\n");
		return 2;
	}
	examples_dir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
