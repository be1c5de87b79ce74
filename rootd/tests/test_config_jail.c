/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the jail description loader: a valid description of each
 * mount type, the regression cases of misplaced and misspelt keys, sizes,
 * durations and integers out of range, hostile input sizes, names at every
 * entry point, and equality across TOML spellings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"

#define ROOT_MOUNT "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n"
#define PROCESS "[process]\nexec = [\"/bin/web\"]\n"

/* Loads text as jail "web" and returns the messages, one per line. */
static char *
load(const char *text, struct cfg_jail **out)
{
	struct cfg_diags diags = { 0 };
	struct cfg_jail *jail;
	char *msgs = NULL;
	size_t len = 0;
	FILE *fp;

	jail = cfg_jail_load_buffer("web", "web.toml", "/etc/nem", text,
	    strlen(text), &diags);
	fp = open_memstream(&msgs, &len);
	assert_non_null(fp);
	cfg_diags_print(&diags, fp);
	fclose(fp);
	if (jail != NULL)
		assert_int_equal(diags.len, 0);
	else
		assert_true(diags.len > 0);
	cfg_diags_clear(&diags);
	if (out != NULL)
		*out = jail;
	else
		cfg_jail_free(jail);
	return msgs;
}

/* Asserts that text loads without errors and returns the jail. */
static struct cfg_jail *
load_ok(const char *text)
{
	struct cfg_jail *jail;
	char *msgs = load(text, &jail);

	if (jail == NULL)
		fail_msg("unexpected errors:\n%s", msgs);
	free(msgs);
	return jail;
}

/* Asserts that text is rejected with a message containing want. */
static void
load_err(const char *text, const char *want)
{
	struct cfg_jail *jail;
	char *msgs = load(text, &jail);

	if (jail != NULL)
		fail_msg("accepted, expected \"%s\"", want);
	if (strstr(msgs, want) == NULL)
		fail_msg("messages lack \"%s\":\n%s", want, msgs);
	free(msgs);
}

static void
minimal_jail_defaults(void **state)
{
	struct cfg_jail *j = load_ok(PROCESS ROOT_MOUNT);

	(void)state;
	assert_string_equal(j->name, "web");
	assert_false(j->autostart);
	assert_int_equal(j->cmd.nexec, 1);
	assert_string_equal(j->cmd.exec[0], "/bin/web");
	assert_null(j->cmd.exec[1]);
	assert_string_equal(j->user, "root");
	assert_string_equal(j->workdir, "/");
	assert_false(j->init);
	assert_int_equal(j->policy.restart, CFG_RESTART_ON_FAILURE);
	assert_int_equal(j->policy.stop_timeout_ms, 10000);
	assert_int_equal(j->policy.restart_delay_ms, 100);
	assert_int_equal(j->policy.restart_delay_max_ms, 30000);
	assert_int_equal(j->policy.restart_reset_ms, 60000);
	assert_int_equal(j->isolation, CFG_ISO_JAIL | CFG_ISO_NETWORK);
	assert_int_equal(j->nmounts, 1);
	assert_int_equal(j->mounts[0].type, CFG_MOUNT_IMAGE);
	assert_int_equal(j->nprovides + j->nrequires + j->naccess, 0);
	cfg_jail_free(j);
}

static void
every_mount_type_valid(void **state)
{
	struct cfg_jail *j = load_ok(PROCESS ROOT_MOUNT
	    "version = \"^1.2\"\n"
	    "sha256 = \"" "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef" "\"\n"
	    "[[mount]]\ntype = \"md\"\ndest = \"/var/db\"\nsize = \"256M\"\n"
	    "persist = true\nvolume = \"web-db\"\n"
	    "[[mount]]\ntype = \"md\"\ndest = \"/scratch\"\nsize = 8388608\n"
	    "[[mount]]\ntype = \"shared\"\ndest = \"/srv/uploads\"\n"
	    "share = \"uploads\"\nreadonly = true\n"
	    "[[mount]]\ntype = \"disk\"\ndest = \"/data\"\n"
	    "device = \"/dev/vdb1\"\n"
	    "[[mount]]\ntype = \"file\"\ndest = \"/etc/resolv.conf\"\n"
	    "source = \"files/resolv.conf\"\nmode = \"0644\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/tmp\"\nsize = \"64M\"\n");
	const struct cfg_mount *m;

	(void)state;
	assert_int_equal(j->nmounts, 7);
	m = &j->mounts[0];
	assert_string_equal(m->image, "base");
	assert_string_equal(m->version, "^1.2");
	assert_int_equal(strlen(m->sha256), 64);
	m = &j->mounts[1];
	assert_int_equal(m->type, CFG_MOUNT_MD);
	assert_true(m->size == 256ull << 20);
	assert_true(m->persist);
	assert_string_equal(m->volume, "web-db");
	m = &j->mounts[2];
	assert_false(m->persist);
	assert_null(m->volume);
	assert_true(m->size == 8388608);
	m = &j->mounts[3];
	assert_int_equal(m->type, CFG_MOUNT_SHARED);
	assert_string_equal(m->share, "uploads");
	assert_true(m->readonly);
	m = &j->mounts[4];
	assert_int_equal(m->type, CFG_MOUNT_DISK);
	assert_string_equal(m->device, "/dev/vdb1");
	assert_string_equal(m->fstype, "ext4");
	assert_false(m->readonly);
	m = &j->mounts[5];
	assert_int_equal(m->type, CFG_MOUNT_FILE);
	assert_string_equal(m->source, "files/resolv.conf");
	assert_string_equal(m->source_path, "/etc/nem/files/resolv.conf");
	assert_true(m->has_mode);
	assert_int_equal(m->mode, 0644);
	m = &j->mounts[6];
	assert_int_equal(m->type, CFG_MOUNT_TMPFS);
	assert_true(m->size == 64ull << 20);
	cfg_jail_free(j);
}

static void
full_description_values(void **state)
{
	struct cfg_jail *j = load_ok("autostart = true\n"
	    "isolation = [\"jail\", \"expose_network\"]\n"
	    "[process]\nexec = [\"/bin/web\", \"--port\", \"8080\"]\n"
	    "env = { LANG = \"C.UTF-8\", TZ = \"UTC\" }\n"
	    "user = \"www\"\nworkdir = \"/srv\"\nstop_timeout = \"5s\"\n"
	    "restart = \"always\"\nrestart_delay = \"500ms\"\n"
	    "restart_delay_max = \"1m\"\nrestart_reset = \"2h\"\ninit = true\n"
	    ROOT_MOUNT
	    "[services]\nprovides = [\"web\"]\nrequires = [\"db\", \"log\"]\n"
	    "[access]\ndb = [\"read\", \"write\"]\nmetrics = []\n"
	    "[[listen]]\nname = \"http\"\nport = 8080\n"
	    "[[listen]]\nname = \"finger\"\naddress = \"::1\"\nport = 79\n"
	    "mode = \"inetd\"\nmax_connections = 4\n");

	(void)state;
	assert_true(j->autostart);
	assert_int_equal(j->isolation, CFG_ISO_JAIL | CFG_ISO_EXPOSE_NETWORK);
	assert_int_equal(j->cmd.nexec, 3);
	assert_int_equal(j->cmd.nenv, 2);
	assert_string_equal(j->cmd.env[0].name, "LANG");
	assert_string_equal(j->cmd.env[0].value, "C.UTF-8");
	assert_string_equal(j->user, "www");
	assert_string_equal(j->workdir, "/srv");
	assert_int_equal(j->policy.stop_timeout_ms, 5000);
	assert_int_equal(j->policy.restart, CFG_RESTART_ALWAYS);
	assert_int_equal(j->policy.restart_delay_ms, 500);
	assert_int_equal(j->policy.restart_delay_max_ms, 60000);
	assert_int_equal(j->policy.restart_reset_ms, 7200000);
	assert_true(j->init);
	assert_int_equal(j->nprovides, 1);
	assert_int_equal(j->nrequires, 2);

	/* "log" is required but not in [access]: granted with no rights. */
	assert_int_equal(j->naccess, 3);
	assert_string_equal(j->access[0].service, "db");
	assert_int_equal(j->access[0].nrights, 2);
	assert_string_equal(j->access[1].service, "metrics");
	assert_int_equal(j->access[1].nrights, 0);
	assert_false(j->access[1].implied);
	assert_string_equal(j->access[2].service, "log");
	assert_int_equal(j->access[2].nrights, 0);
	assert_true(j->access[2].implied);

	assert_int_equal(j->nlisten, 2);
	assert_string_equal(j->listen[0].address, "127.0.0.1");
	assert_int_equal(j->listen[0].mode, CFG_LISTEN_FDS);
	assert_int_equal(j->listen[0].max_connections, 0);
	assert_int_equal(j->listen[1].mode, CFG_LISTEN_INETD);
	assert_int_equal(j->listen[1].max_connections, 4);
	assert_int_equal(j->listen[1].port, 79);
	cfg_jail_free(j);
}

static void
dotted_process_key_placement(void **state)
{
	struct cfg_jail *j;

	(void)state;
	/* Before any table: process.stop_timeout sets [process] keys. */
	j = load_ok("process.exec = [\"/bin/web\"]\n"
	    "process.stop_timeout = \"5s\"\n" ROOT_MOUNT);
	assert_int_equal(j->policy.stop_timeout_ms, 5000);
	cfg_jail_free(j);

	/* Under [process] it is the key process.process.stop_timeout. */
	load_err(PROCESS "process.stop_timeout = \"5s\"\n" ROOT_MOUNT,
	    "web.toml:3:1: unknown key 'process' in [process]");

	/* After the last [[mount]] it belongs to that mount. */
	load_err(PROCESS ROOT_MOUNT "process.stop_timeout = \"5s\"\n",
	    "web.toml:7:1: unknown key 'process' in [[mount]]; a key "
	    "written after a [[mount]] header belongs to that mount");

	/* Dotted top-level keys, then a [process] header: TOML rejects it. */
	load_err("process.stop_timeout = \"5s\"\n" PROCESS ROOT_MOUNT,
	    "web.toml:2:");
}

static void
toml_syntax_regressions(void **state)
{
	(void)state;
	/* A key given twice and a table given twice are TOML errors. */
	load_err("autostart = true\nautostart = false\n" PROCESS ROOT_MOUNT,
	    "web.toml:2:");
	load_err(PROCESS PROCESS ROOT_MOUNT, "web.toml:3:");
	/* An invalid UTF-8 byte inside a string. */
	load_err(PROCESS "user = \"w\xffw\"\n" ROOT_MOUNT, "web.toml:3:");
	/* 2^63 does not fit in a TOML integer. */
	load_err(PROCESS ROOT_MOUNT "[[mount]]\ntype = \"md\"\n"
	    "dest = \"/x\"\nsize = 9223372036854775808\n", "web.toml:10:8: "
	    "integer 9223372036854775808 is out of range");
}

static void
bom_and_crlf_accepted(void **state)
{
	struct cfg_jail *j;

	(void)state;
	j = load_ok("\xef\xbb\xbf" PROCESS ROOT_MOUNT);
	cfg_jail_free(j);
	j = load_ok("[process]\r\nexec = [\"/bin/web\"]\r\n[[mount]]\r\n"
	    "type = \"image\"\r\ndest = \"/\"\r\nimage = \"base\"\r\n");
	cfg_jail_free(j);
}

static void
misspelt_keys_suggested(void **state)
{
	(void)state;
	load_err(PROCESS ROOT_MOUNT "[[mount]]\ntype = \"md\"\ndest = \"/d\"\n"
	    "size = \"1G\"\npersit = true\n",
	    "web.toml:11:1: unknown key 'persit' in [[mount]] (did you mean "
	    "'persist'?)");
	load_err("[process]\nexec = [\"/bin/web\"]\nstop_timout = \"5s\"\n"
	    ROOT_MOUNT, "web.toml:3:1: unknown key 'stop_timout' in "
	    "[process] (did you mean 'stop_timeout'?)");
	load_err("autostrat = true\n" PROCESS ROOT_MOUNT, "web.toml:1:1: "
	    "unknown key 'autostrat' in the jail description (did you mean "
	    "'autostart'?)");
	load_err(PROCESS ROOT_MOUNT "frobnicate = 1\n",
	    "unknown key 'frobnicate' in [[mount]]\n");
	load_err(PROCESS ROOT_MOUNT "size = \"1G\"\n", "web.toml:7:1: key "
	    "'size' does not apply to a mount of type image");
}

static void
size_values_rejected(void **state)
{
	static const char *const cases[][2] = {
		{ "\"99999999999999999999M\"", "too large" },
		{ "\"-1M\"", "negative values are not allowed" },
		{ "\"0\"", "must be larger than zero" },
		{ "0", "must be larger than zero" },
		{ "-5", "negative values are not allowed" },
		{ "1.5", "fractional values are not allowed" },
		{ "\"1.5G\"", "fractions are not allowed" },
		{ "true", "'size' must be a string such as \"64M\"" },
	};
	char text[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), PROCESS ROOT_MOUNT "[[mount]]\n"
		    "type = \"tmpfs\"\ndest = \"/tmp\"\nsize = %s\n",
		    cases[i][0]);
		load_err(text, cases[i][1]);
	}
}

static void
duration_values_rejected(void **state)
{
	(void)state;
	load_err(PROCESS "stop_timeout = \"1e400s\"\n" ROOT_MOUNT,
	    "web.toml:3:16: 'stop_timeout': invalid duration \"1e400s\": "
	    "unknown unit \"e400s\"");
	load_err(PROCESS "stop_timeout = \"0s\"\n" ROOT_MOUNT,
	    "'stop_timeout' must be larger than zero");
	load_err(PROCESS "stop_timeout = \"-1s\"\n" ROOT_MOUNT, "negative");
	load_err(PROCESS "stop_timeout = 10\n" ROOT_MOUNT,
	    "'stop_timeout' must be a string with a unit such as \"10s\", "
	    "not an integer");
	load_err(PROCESS "restart_delay = \"9223372036854775808ms\"\n"
	    ROOT_MOUNT, "too large");
	load_err(PROCESS "restart_delay = \"1m\"\nrestart_delay_max = \"10s\"\n"
	    ROOT_MOUNT, "restart_delay (1m) is larger than restart_delay_max "
	    "(10s)");
	load_err(PROCESS "restart = \"sometimes\"\n" ROOT_MOUNT,
	    "invalid restart policy \"sometimes\"");
}

static void
mount_rules_enforced(void **state)
{
	(void)state;
	load_err(PROCESS "[[mount]]\ntype = \"tmpfs\"\ndest = \"/tmp\"\n"
	    "size = \"1M\"\n", "the first [[mount]] must have dest = \"/\"");
	load_err(PROCESS, "missing [[mount]]");
	load_err(PROCESS ROOT_MOUNT "[[mount]]\ntype = \"tmpfs\"\n"
	    "dest = \"/tmp\"\nsize = \"1M\"\n[[mount]]\ntype = \"tmpfs\"\n"
	    "dest = \"/tmp\"\nsize = \"1M\"\n",
	    "web.toml:11:1: dest \"/tmp\" is already used by the [[mount]] at "
	    "line 7");
	load_err(PROCESS ROOT_MOUNT "[[mount]]\ntype = \"md\"\n"
	    "dest = \"/d\"\nsize = \"1M\"\npersist = true\n",
	    "web.toml:11:11: persist = true needs volume = NAME");
	load_err(PROCESS ROOT_MOUNT "[[mount]]\ntype = \"md\"\n"
	    "dest = \"/d\"\nsize = \"8M\"\nvolume = \"v\"\n",
	    "'volume' applies only with persist = true");
	load_err(PROCESS ROOT_MOUNT "sha256 = \"ABC\"\n",
	    "invalid sha256 \"ABC\": must be 64 lowercase hexadecimal digits");
	load_err(PROCESS ROOT_MOUNT "sha256 = \"" "0123456789ABCDEF0123456789"
	    "abcdef0123456789abcdef0123456789abcdef" "\"\n", "invalid sha256");
	load_err(PROCESS ROOT_MOUNT "version = \"not a version\"\n",
	    "invalid version requirement \"not a version\"");
	load_err(PROCESS ROOT_MOUNT "[[mount]]\ntype = \"disk\"\n"
	    "dest = \"/d\"\ndevice = \"/etc/passwd\"\n",
	    "invalid device \"/etc/passwd\": not below /dev");
	load_err(PROCESS ROOT_MOUNT "[[mount]]\ntype = \"file\"\n"
	    "dest = \"/f\"\nsource = \"../secret\"\n", "\"..\" component");
	load_err(PROCESS ROOT_MOUNT "[[mount]]\ntype = \"file\"\n"
	    "dest = \"/f\"\nsource = \"a\"\nmode = \"9999\"\n",
	    "invalid mode \"9999\"");
	load_err(PROCESS ROOT_MOUNT "[[mount]]\ntype = \"nfs\"\n"
	    "dest = \"/f\"\n", "invalid mount type \"nfs\"");
	load_err(PROCESS ROOT_MOUNT "[[mount]]\ndest = \"/f\"\n",
	    "missing key 'type' in [[mount]]");
	load_err(PROCESS ROOT_MOUNT "[[mount]]\ntype = \"tmpfs\"\n"
	    "dest = \"/a//b\"\nsize = \"1M\"\n", "empty component");
	load_err(PROCESS "[mount]\ntype = \"image\"\n",
	    "'mount' must be an array of tables written as [[mount]]");
}

static void
process_rules_enforced(void **state)
{
	(void)state;
	load_err(ROOT_MOUNT, "web.toml:1:1: missing table [process]");
	load_err("[process]\n" ROOT_MOUNT, "missing key 'exec' in [process]");
	load_err("[process]\nexec = []\n" ROOT_MOUNT, "'exec' must not be empty");
	load_err("[process]\nexec = [\"bin/web\"]\n" ROOT_MOUNT,
	    "invalid program path exec[0] \"bin/web\": not an absolute path");
	load_err("[process]\nexec = [\"/bin/web\", 1]\n" ROOT_MOUNT,
	    "'exec[1]' must be a string, not an integer");
	load_err(PROCESS "env = { \"A=B\" = \"x\" }\n" ROOT_MOUNT,
	    "invalid environment variable name 'A=B'");
	load_err(PROCESS "env = { A = 1 }\n" ROOT_MOUNT,
	    "'A' must be a string, not an integer");
	load_err(PROCESS "user = \"-x\"\n" ROOT_MOUNT, "invalid user \"-x\"");
	load_err(PROCESS "workdir = \"srv\"\n" ROOT_MOUNT,
	    "invalid workdir \"srv\"");
	load_err(PROCESS "init = \"yes\"\n" ROOT_MOUNT,
	    "'init' must be a boolean (true or false), not a string");
	load_err(PROCESS "user = \"a\\u0000b\"\n" ROOT_MOUNT,
	    "'user' contains a NUL byte");
}

static void
isolation_rules_enforced(void **state)
{
	(void)state;
	load_err("isolation = [\"jail\", \"network\", \"expose_network\"]\n"
	    PROCESS ROOT_MOUNT, "cannot be combined with \"network\"");
	load_err("isolation = [\"network\"]\n" PROCESS ROOT_MOUNT,
	    "isolation must contain \"jail\"");
	load_err("isolation = [\"jail\"]\n" PROCESS ROOT_MOUNT,
	    "isolation must contain \"network\"");
	load_err("isolation = [\"jail\", \"jail\", \"network\"]\n" PROCESS
	    ROOT_MOUNT, "isolation \"jail\" is given twice");
	load_err("isolation = [\"vm\"]\n" PROCESS ROOT_MOUNT,
	    "invalid isolation \"vm\"");
}

static void
services_and_listen_rules(void **state)
{
	(void)state;
	load_err(PROCESS ROOT_MOUNT "[services]\nprovides = [\"a\", \"a\"]\n",
	    "service 'a' is listed twice in 'provides'");
	load_err(PROCESS ROOT_MOUNT "[services]\nprovides = [\"a\"]\n"
	    "requires = [\"a\"]\n", "requires service 'a', which it provides "
	    "itself");
	load_err(PROCESS ROOT_MOUNT "[services]\nprovide = [\"a\"]\n",
	    "did you mean 'provides'?");
	load_err(PROCESS ROOT_MOUNT "[access]\ndb = [\"Read\"]\n",
	    "invalid right \"Read\" for 'db'");
	load_err(PROCESS ROOT_MOUNT "[access]\ndb = \"read\"\n",
	    "access to 'db' must be an array of rights");
	load_err(PROCESS ROOT_MOUNT "[[listen]]\nname = \"h\"\nport = 0\n",
	    "invalid port 0: use 1 to 65535");
	load_err(PROCESS ROOT_MOUNT "[[listen]]\nname = \"h\"\nport = 65536\n",
	    "invalid port 65536");
	load_err(PROCESS ROOT_MOUNT "[[listen]]\nname = \"h\"\nport = 80\n"
	    "address = \"localhost\"\n", "invalid address \"localhost\"");
	load_err(PROCESS ROOT_MOUNT "[[listen]]\nname = \"h\"\nport = 80\n"
	    "address = \"::ffff:127.0.0.1\"\n", "is an IPv4 address in IPv6 "
	    "form");
	load_err(PROCESS ROOT_MOUNT "[[listen]]\nname = \"h\"\nport = 80\n"
	    "max_connections = 5\n", "'max_connections' applies only with "
	    "mode = \"inetd\"");
	load_err(PROCESS ROOT_MOUNT "[[listen]]\nname = \"h\"\nport = 80\n"
	    "mode = \"inetd\"\nmax_connections = 1025\n",
	    "invalid max_connections 1025: use 1 to 1024");
	load_err(PROCESS ROOT_MOUNT "[[listen]]\nname = \"h\"\nport = 80\n"
	    "[[listen]]\nname = \"h\"\nport = 81\n",
	    "listen name 'h' is already used at line 7");
	load_err(PROCESS ROOT_MOUNT "[[listen]]\nname = \"h\"\nport = 80\n"
	    "[[listen]]\nname = \"i\"\nport = 80\naddress = \"127.0.0.1\"\n",
	    "address 127.0.0.1 port 80 is already used at line 7");
}

static void
many_errors_all_reported(void **state)
{
	struct cfg_jail *j;
	char *msgs;

	(void)state;
	msgs = load("autostart = 1\n[process]\nexec = [\"x\"]\nuser = 5\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"a b\"\n"
	    "persit = true\n", &j);
	assert_null(j);
	assert_string_equal(msgs,
	    "web.toml:1:13: 'autostart' must be a boolean (true or false), "
	    "not an integer\n"
	    "web.toml:3:9: invalid program path exec[0] \"x\": not an "
	    "absolute path; write an absolute path such as \"/srv/data\", "
	    "without \"//\", \".\" or \"..\" components and without a "
	    "trailing '/'\n"
	    "web.toml:4:8: 'user' must be a string, not an integer\n"
	    "web.toml:8:9: invalid image name \"a b\": character ' ' at "
	    "offset 1; use only letters, digits, '_', '.' or '-'\n"
	    "web.toml:9:1: unknown key 'persit' in [[mount]] (did you mean "
	    "'persist'?)\n");
	free(msgs);
}

/* Builds "[process]...", then count [[mount]] entries, in a malloc'd buffer. */
static char *
many_mounts(size_t count)
{
	size_t cap = 64 + count * 64, len = 0;
	char *text = malloc(cap);

	assert_non_null(text);
	len += (size_t)snprintf(text, cap, PROCESS ROOT_MOUNT);
	for (size_t i = 1; i < count; i++)
		len += (size_t)snprintf(text + len, cap - len, "[[mount]]\n"
		    "type = \"tmpfs\"\ndest = \"/t%zu\"\nsize = \"1M\"\n", i);
	return text;
}

static void
mount_count_bounded(void **state)
{
	struct timespec t0, t1;
	char *text;
	double secs;

	(void)state;
	text = many_mounts(CFG_MOUNT_MAX);
	cfg_jail_free(load_ok(text));
	free(text);

	text = many_mounts(10000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	load_err(text, "too many [[mount]] entries: 10000, the maximum is 256");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (secs > 5.0)
		fail_msg("10000 mounts took %.2f s", secs);
	free(text);
}

static void
huge_string_rejected(void **state)
{
	size_t n = 1024 * 1024;
	char *text = malloc(n + 256);
	int len;

	(void)state;
	assert_non_null(text);
	len = snprintf(text, 256, "[process]\nexec = [\"/bin/web\", \"");
	memset(text + len, 'a', n);
	snprintf(text + len + n, 256 - (size_t)len, "\"]\n" ROOT_MOUNT);
	load_err(text, "'exec[1]' is 1048576 bytes long, the maximum is 32768");
	free(text);
}

static void
error_count_capped(void **state)
{
	size_t cap = 64 * 1024, len = 0;
	char *text = malloc(cap), *msgs;
	size_t lines = 0;

	(void)state;
	assert_non_null(text);
	len += (size_t)snprintf(text, cap, PROCESS ROOT_MOUNT);
	for (int i = 0; i < 300; i++)
		len += (size_t)snprintf(text + len, cap - len, "bad%d = 1\n", i);
	msgs = load(text, NULL);
	for (char *p = msgs; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, CFG_DIAG_MAX + 1);
	assert_non_null(strstr(msgs, "too many errors, only the first 100 "
	    "are shown"));
	free(msgs);
	free(text);
}

/* Each name is tried at every entry point that takes a name. */
static void
names_rejected_everywhere(void **state)
{
	static const char *const bad[] = { "", ".", "..", "a/b", "../x",
		"a b", "a\\tb", "a\\nb", "-rf", "x{y=z}", "caf\xc3\xa9" };
	static const char *const templates[] = {
		PROCESS ROOT_MOUNT "[[mount]]\ntype = \"image\"\ndest = \"/x\"\n"
		    "image = \"%s\"\n",
		PROCESS ROOT_MOUNT "[[mount]]\ntype = \"md\"\ndest = \"/x\"\n"
		    "size = \"8M\"\npersist = true\nvolume = \"%s\"\n",
		PROCESS ROOT_MOUNT "[[mount]]\ntype = \"shared\"\n"
		    "dest = \"/x\"\nshare = \"%s\"\n",
		PROCESS ROOT_MOUNT "[services]\nprovides = [\"%s\"]\n",
		PROCESS ROOT_MOUNT "[services]\nrequires = [\"%s\"]\n",
		PROCESS ROOT_MOUNT "[access]\n\"%s\" = []\n",
		PROCESS ROOT_MOUNT "[[listen]]\nname = \"%s\"\nport = 80\n",
	};
	char text[8192], name[4097];
	struct cfg_diags diags = { 0 };

	(void)state;
	for (size_t t = 0; t < sizeof(templates) / sizeof(templates[0]); t++) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(text, sizeof(text), templates[t], bad[i]);
			load_err(text, "invalid ");
			load_err(text, " name");
		}
		for (size_t len = 63; len <= 4096; len++) {
			if (len != 63 && len != 64 && len != 255 && len != 256 &&
			    len != 4096)
				continue;
			memset(name, 'a', len);
			name[len] = '\0';
			snprintf(text, sizeof(text), templates[t], name);
			if (len == 63)
				cfg_jail_free(load_ok(text));
			else
				load_err(text, "bytes, the maximum is 63");
		}
	}

	/* The jail name itself, as given with a buffer. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(cfg_jail_load_buffer(bad[i], "x.toml", "/etc/nem",
		    PROCESS ROOT_MOUNT, strlen(PROCESS ROOT_MOUNT), &diags));
		assert_int_equal(diags.len, 1);
		assert_non_null(strstr(diags.v[0].msg, "invalid jail name"));
		cfg_diags_clear(&diags);
	}
	for (size_t len = 63; len <= 4096; len++) {
		struct cfg_jail *j;

		if (len != 63 && len != 64 && len != 255 && len != 256 &&
		    len != 4096)
			continue;
		memset(name, 'a', len);
		name[len] = '\0';
		j = cfg_jail_load_buffer(name, "x.toml", "/etc/nem",
		    PROCESS ROOT_MOUNT, strlen(PROCESS ROOT_MOUNT), &diags);
		if (len == 63) {
			assert_non_null(j);
			cfg_jail_free(j);
			continue;
		}
		assert_null(j);
		assert_int_equal(diags.len, 1);
		assert_non_null(strstr(diags.v[0].msg, "invalid jail name"));
		assert_non_null(strstr(diags.v[0].msg, "the maximum is 63"));
		cfg_diags_clear(&diags);
	}
}

static void
messages_stay_on_one_line(void **state)
{
	char *msgs;

	(void)state;
	msgs = load(PROCESS ROOT_MOUNT "[services]\nprovides = [\"\\\\x\\n\"]\n",
	    NULL);
	assert_string_equal(msgs, "web.toml:8:13: invalid service name "
	    "\"\\x5cx\\x0a\": character '\\' at offset 0; use only letters, "
	    "digits, '_', '.' or '-'\n");
	free(msgs);
}

static void
spellings_give_equal_jails(void **state)
{
	struct cfg_jail *a, *b, *c;

	(void)state;
	a = load_ok("[process]\nexec = [\"/bin/web\"]\nstop_timeout = \"60s\"\n"
	    "env = { A = \"1\" }\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/tmp\"\nsize = 1024\n");
	b = load_ok("mount = [ { type = 'image', \"dest\" = \"/\", "
	    "image = \"\"\"base\"\"\" },\n"
	    "  { 'type' = \"tmpfs\", dest = '/tmp', size = 0x400 } ]\n"
	    "process = { exec = ['/bin/web'], stop_timeout = \"1m\", "
	    "env.A = \"\\u0031\" }\n");
	c = load_ok("[process]\nexec = [\"/bin/web\"]\nstop_timeout = \"60s\"\n"
	    "env = { A = \"1\" }\n"
	    "[[mount]]\ntype = \"image\"\ndest = \"/\"\nimage = \"base\"\n"
	    "[[mount]]\ntype = \"tmpfs\"\ndest = \"/tmp\"\nsize = \"2K\"\n");
	assert_true(cfg_jail_equal(a, b));
	assert_true(cfg_jail_equal(b, a));
	assert_false(cfg_jail_equal(a, c));
	cfg_jail_free(a);
	cfg_jail_free(b);
	cfg_jail_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(minimal_jail_defaults),
		cmocka_unit_test(every_mount_type_valid),
		cmocka_unit_test(full_description_values),
		cmocka_unit_test(dotted_process_key_placement),
		cmocka_unit_test(toml_syntax_regressions),
		cmocka_unit_test(bom_and_crlf_accepted),
		cmocka_unit_test(misspelt_keys_suggested),
		cmocka_unit_test(size_values_rejected),
		cmocka_unit_test(duration_values_rejected),
		cmocka_unit_test(mount_rules_enforced),
		cmocka_unit_test(process_rules_enforced),
		cmocka_unit_test(isolation_rules_enforced),
		cmocka_unit_test(services_and_listen_rules),
		cmocka_unit_test(many_errors_all_reported),
		cmocka_unit_test(mount_count_bounded),
		cmocka_unit_test(huge_string_rejected),
		cmocka_unit_test(error_count_capped),
		cmocka_unit_test(names_rejected_everywhere),
		cmocka_unit_test(messages_stay_on_one_line),
		cmocka_unit_test(spellings_give_equal_jails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
