/*
 * test_log: conninfo redaction (keyword=value with quotes, escapes and spaces;
 * URIs with the password in userinfo or query; nothing else changed), the
 * line format, level filtering, log files (mode 0600, reopen after a rename,
 * back to stderr) and whole lines under concurrent writers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/log.h"

static char tmpdir[] = "/tmp/test_log.XXXXXX";
static char path[256], rotated[256];
static char text[1 << 20];

/* ---- redaction ---- */

static void
check_redact(const char *in, const char *want)
{
	char out[512];

	memset(out, 'Z', sizeof(out));
	log_redact(in, out, sizeof(out));
	if (strcmp(out, want) != 0)
		fail_msg("log_redact(%s)\n  got  %s\n  want %s", in, out, want);
}

static void
test_redact_kv(void **state)
{
	(void)state;
	check_redact("host=db port=5432 dbname=shop user=cdc",
	    "host=db port=5432 dbname=shop user=cdc");
	check_redact("user=password dbname=password_db",
	    "user=password dbname=password_db");
	check_redact("host=db password=secret user=cdc", "host=db password=*** user=cdc");
	check_redact("password=secret", "password=***");
	check_redact("  password = secret\thost=db ", "  password = ***\thost=db ");
	check_redact("host=db password='se cret' user=cdc", "host=db password=*** user=cdc");
	check_redact("password='it\\'s a \\\\ secret' port=5432", "password=*** port=5432");
	check_redact("password = 'a b' dbname='my db'", "password = *** dbname='my db'");
	check_redact("password=a\\ b host=x", "password=*** host=x");
	check_redact("password='' host=x", "password=*** host=x");
	check_redact("sslpassword=keypass sslmode=verify-full",
	    "sslpassword=*** sslmode=verify-full");
	check_redact("PASSWORD=x", "PASSWORD=***");
	check_redact("host=a password=one password=two", "host=a password=*** password=***");
	/* Malformed input still never shows the secret. */
	check_redact("password='unterminated secret", "password=***");
	check_redact("junk password=s", "junk password=***");
	check_redact("", "");
}

static void
test_redact_uri(void **state)
{
	(void)state;
	check_redact("postgresql://db/shop", "postgresql://db/shop");
	check_redact("postgresql://cdc@db:5432/shop?sslmode=require",
	    "postgresql://cdc@db:5432/shop?sslmode=require");
	check_redact("postgresql://cdc:secret@db:5432/shop",
	    "postgresql://cdc:***@db:5432/shop");
	check_redact("postgres://cdc:s3cr%40t@db", "postgres://cdc:***@db");
	check_redact("postgresql://u:pw@h1:5432,h2:5433/db?target_session_attrs=any",
	    "postgresql://u:***@h1:5432,h2:5433/db?target_session_attrs=any");
	check_redact("postgresql://cdc@db/shop?password=secret&sslmode=require",
	    "postgresql://cdc@db/shop?password=***&sslmode=require");
	check_redact("postgresql://u:a@db/shop?application_name=x&password=b",
	    "postgresql://u:***@db/shop?application_name=x&password=***");
	check_redact("postgresql:///shop?host=/tmp&password=x",
	    "postgresql:///shop?host=/tmp&password=***");
	check_redact("postgresql://h/db?pass%77ord=x&user=u",
	    "postgresql://h/db?pass%77ord=***&user=u");
	check_redact("postgresql://u:@h/db", "postgresql://u:***@h/db");
	/* A '?' before the '@' is part of the password, as libpq reads it. */
	check_redact("postgresql://u:p?password=q@h/db", "postgresql://u:***@h/db");
}

static void
test_redact_truncates(void **state)
{
	char out[12];

	(void)state;
	memset(out, 'Z', sizeof(out));
	log_redact("host=verylonghostname password=secret", out, sizeof(out));
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_string_equal(out, "host=verylo");
	log_redact("password=secretsecret", out, sizeof(out));
	assert_null(strstr(out, "sec"));
	log_redact("postgresql://u:secretsecret@h", out, sizeof(out));
	assert_null(strstr(out, "sec"));
	log_redact("x", out, 1);
	assert_string_equal(out, "");
	assert_ptr_equal(log_redact(NULL, out, sizeof(out)), out);
	assert_string_equal(out, "");
}

/* ---- levels and lines ---- */

static void
test_level_parse(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("error"), LL_ERROR);
	assert_int_equal(log_level_parse("warn"), LL_WARN);
	assert_int_equal(log_level_parse("info"), LL_INFO);
	assert_int_equal(log_level_parse("debug"), LL_DEBUG);
	assert_int_equal(log_level_parse("verbose"), -1);
	assert_int_equal(log_level_parse(""), -1);
	assert_int_equal(log_level_parse("warning"), -1);
	assert_int_equal(log_level_parse(NULL), -1);
}

static const char *
slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	size_t n;

	if (f == NULL)
		return "";
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int
setup_file(void **state)
{
	(void)state;
	unlink(path);
	unlink(rotated);
	log_init("supervisor", "inventory");
	log_set_level(LL_INFO);
	return log_set_file(path);
}

static int
teardown_file(void **state)
{
	(void)state;
	log_set_file(NULL);
	log_init("pgcdc", NULL);
	unlink(path);
	unlink(rotated);
	return 0;
}

static void
test_line_format(void **state)
{
	char pat[256], when[32];
	regex_t re;
	struct tm tm;
	const char *s;
	time_t t;

	(void)state;
	log_info("hello %d", 42);
	log_init("worker", NULL);
	log_error("%s: bad", "fn");
	snprintf(pat, sizeof(pat),
	    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
	    "supervisor\\[inventory\\] %d info: hello 42\n"
	    "[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z worker %d error: fn: bad\n$",
	    (int)getpid(), (int)getpid());
	assert_int_equal(regcomp(&re, pat, REG_EXTENDED), 0);
	s = slurp(path);
	if (regexec(&re, s, 0, NULL, 0) != 0)
		fail_msg("unexpected log text:\n%s", s);
	regfree(&re);
	/* The stamp is UTC and now. */
	memset(&tm, 0, sizeof(tm));
	snprintf(when, sizeof(when), "%.19s", s);
	assert_non_null(strptime(when, "%Y-%m-%dT%H:%M:%S", &tm));
	t = timegm(&tm);
	assert_true(llabs((long long)(t - time(NULL))) <= 5);
}

static void
test_levels_filter(void **state)
{
	(void)state;
	log_debug("not at info");
	log_set_level(LL_WARN);
	log_info("not at warn");
	log_warn("w1");
	log_error("e1");
	log_set_level(LL_DEBUG);
	log_debug("d1");
	slurp(path);
	assert_int_equal(count_lines(text), 3);
	assert_null(strstr(text, "not at"));
	assert_non_null(strstr(text, " warn: w1\n"));
	assert_non_null(strstr(text, " error: e1\n"));
	assert_non_null(strstr(text, " debug: d1\n"));
}

static void
test_file_mode_and_errno(void **state)
{
	struct stat st;

	(void)state;
	errno = ENOSPC;
	log_info("keeps errno");
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void
test_reopen_after_rename(void **state)
{
	(void)state;
	log_info("before rotation");
	assert_int_equal(rename(path, rotated), 0);
	log_info("still old file");
	assert_int_equal(log_reopen(), 0);
	log_info("after rotation");
	slurp(rotated);
	assert_non_null(strstr(text, "before rotation"));
	assert_non_null(strstr(text, "still old file"));
	assert_null(strstr(text, "after rotation"));
	slurp(path);
	assert_int_equal(count_lines(text), 1);
	assert_non_null(strstr(text, "after rotation"));
	/* Back to stderr: the file gets nothing more. */
	assert_int_equal(log_set_file(""), 0);
	assert_int_equal(log_reopen(), 0);
	log_debug("to stderr");
	assert_int_equal(count_lines(slurp(path)), 1);
}

static void
test_bad_file(void **state)
{
	char bad[300];

	(void)state;
	snprintf(bad, sizeof(bad), "%s/no/such/dir/log", tmpdir);
	assert_int_equal(log_set_file(bad), -1);
	/* The old destination is still in use. */
	log_info("after failure");
	assert_non_null(strstr(slurp(path), "after failure"));
}

static void
test_long_line_cut(void **state)
{
	static char big[20000];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	log_info("%s", big);
	log_info("next");
	slurp(path);
	assert_int_equal(count_lines(text), 2);
	assert_non_null(strstr(text, "aaa...\n"));
	assert_true(strchr(text, '\n') - text < 9000);
	assert_non_null(strstr(text, " info: next\n"));
}

/* Several processes append to one file: every line arrives whole. */
static void
test_concurrent_writers(void **state)
{
	enum { PROCS = 6, LINES = 400 };
	char pad[300];
	int status, n = 0;
	regex_t re;
	char *save, *line;

	(void)state;
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int p = 0; p < PROCS; p++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			for (int i = 0; i < LINES; i++)
				log_info("proc %d line %d %s end", p, i, pad);
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		assert_true(wait(&status) > 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(regcomp(&re, "^[0-9T:.Z-]{24} supervisor\\[inventory\\] [0-9]+ "
	    "info: proc [0-5] line [0-9]+ x{299} end$", REG_EXTENDED | REG_NOSUB), 0);
	slurp(path);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (regexec(&re, line, 0, NULL, 0) != 0)
			fail_msg("torn line: %.120s", line);
		n++;
	}
	regfree(&re);
	assert_int_equal(n, PROCS * LINES);
}

static void
test_fatal_exits(void **state)
{
	int status;
	pid_t pid = fork();

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0)
		fatal(3, "giving up: %s", "reason");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	assert_non_null(strstr(slurp(path), " error: giving up: reason\n"));
}

static int
setup_dir(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/pgcdc.log", tmpdir);
	snprintf(rotated, sizeof(rotated), "%s/pgcdc.log.1", tmpdir);
	return 0;
}

static int
remove_dir(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redact_kv),
		cmocka_unit_test(test_redact_uri),
		cmocka_unit_test(test_redact_truncates),
		cmocka_unit_test(test_level_parse),
		cmocka_unit_test_setup_teardown(test_line_format, setup_file, teardown_file),
		cmocka_unit_test_setup_teardown(test_levels_filter, setup_file, teardown_file),
		cmocka_unit_test_setup_teardown(test_file_mode_and_errno, setup_file, teardown_file),
		cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup_file, teardown_file),
		cmocka_unit_test_setup_teardown(test_bad_file, setup_file, teardown_file),
		cmocka_unit_test_setup_teardown(test_long_line_cut, setup_file, teardown_file),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup_file, teardown_file),
		cmocka_unit_test_setup_teardown(test_fatal_exits, setup_file, teardown_file),
	};

	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
