/*
 * test_ckpt: the LMDB checkpoint store in a temp dir.  Put/get/del, prefix
 * scans, big-endian LSNs, modes (dir 0700, files 0600), map growth from a
 * 1 MiB map, several processes writing at once (each opens after fork, as
 * after exec), reopen, stale readers of killed processes, refused keys and
 * batch reuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/ckpt.h"
#include "common/log.h"
#include "common/util.h"

#define KIB 1024
#define MIB (1024 * 1024)

static char tmpdir[] = "/tmp/test_ckpt.XXXXXX";
static char dir[512];
static int seq;

/* Each test gets a fresh, not yet existing, nested state dir. */
static int
new_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/t%d/state", tmpdir, ++seq);
	return 0;
}

static void
put_str(struct ckpt_batch *b, const char *key, const char *val)
{
	ckpt_put(b, key, val, strlen(val));
}

static void
assert_val(struct ckpt *c, const char *key, const char *want)
{
	char got[256];
	size_t len = sizeof(got);

	assert_int_equal(ckpt_get(c, key, got, &len), 1);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
}

static void
test_put_get_del(void **state)
{
	struct ckpt_batch b = { 0 };
	struct ckpt *c = ckpt_open(dir, 0);
	char small[4];
	size_t len = sizeof(small);

	(void)state;
	assert_non_null(c);
	put_str(&b, "slot/a/status", "state=STREAMING");
	put_str(&b, "k", "v1");
	put_str(&b, "k", "v2");	/* later op in a batch wins */
	assert_int_equal(b.count, 3);
	assert_int_equal(ckpt_commit(c, &b), 0);
	assert_val(c, "slot/a/status", "state=STREAMING");
	assert_val(c, "k", "v2");
	/* Too small a buffer: a prefix is copied, *len tells the real size. */
	assert_int_equal(ckpt_get(c, "slot/a/status", small, &len), 1);
	assert_int_equal(len, strlen("state=STREAMING"));
	assert_memory_equal(small, "stat", 4);
	len = sizeof(small);
	assert_int_equal(ckpt_get(c, "missing", small, &len), 0);
	ckpt_del(&b, "k");
	ckpt_del(&b, "never/written");	/* deleting nothing is fine */
	put_str(&b, "empty", "");
	assert_int_equal(ckpt_commit(c, &b), 0);
	len = sizeof(small);
	assert_int_equal(ckpt_get(c, "k", small, &len), 0);
	len = sizeof(small);
	assert_int_equal(ckpt_get(c, "empty", small, &len), 1);
	assert_int_equal(len, 0);
	ckpt_batch_free(&b);
	ckpt_close(c);
}

struct seen {
	char	keys[16][64];
	char	vals[16][64];
	int	n, stop_after;
};

static int
collect(const char *key, const void *val, size_t len, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	snprintf(s->vals[s->n], sizeof(s->vals[0]), "%.*s", (int)len, (const char *)val);
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static void
test_scan_prefix(void **state)
{
	static const char *const keys[] = {
		"slot/b/confirmed", "slot/a/status", "sink/x/pos/a", "slot/ab/confirmed",
		"slot/a/confirmed", "slot", "slou", "a",
	};
	struct ckpt_batch b = { 0 };
	struct ckpt *c = ckpt_open(dir, 0);
	struct seen s;

	(void)state;
	assert_non_null(c);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		put_str(&b, keys[i], keys[i]);
	assert_int_equal(ckpt_commit(c, &b), 0);

	memset(&s, 0, sizeof(s));
	assert_int_equal(ckpt_scan(c, "slot/a/", collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.keys[0], "slot/a/confirmed");
	assert_string_equal(s.vals[0], "slot/a/confirmed");
	assert_string_equal(s.keys[1], "slot/a/status");

	memset(&s, 0, sizeof(s));
	assert_int_equal(ckpt_scan(c, "slot/", collect, &s), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.keys[2], "slot/ab/confirmed");
	assert_string_equal(s.keys[3], "slot/b/confirmed");

	memset(&s, 0, sizeof(s));
	assert_int_equal(ckpt_scan(c, "zzz", collect, &s), 0);
	assert_int_equal(s.n, 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(ckpt_scan(c, "slot/c", collect, &s), 0);
	assert_int_equal(s.n, 0);

	memset(&s, 0, sizeof(s));
	assert_int_equal(ckpt_scan(c, "", collect, &s), 0);
	assert_int_equal(s.n, 8);
	assert_string_equal(s.keys[0], "a");
	assert_string_equal(s.keys[7], "slou");

	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(ckpt_scan(c, "slot", collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.keys[0], "slot");
	ckpt_batch_free(&b);
	ckpt_close(c);
}

static void
test_lsn_helpers(void **state)
{
	static const uint8_t be[8] = { 0, 0, 0, 0x16, 0xB3, 0x74, 0xD8, 0x48 };
	struct ckpt_batch b = { 0 };
	struct ckpt *c = ckpt_open(dir, 0);
	uint8_t raw[16];
	size_t len = sizeof(raw);
	lsn_t l = 123;

	(void)state;
	assert_non_null(c);
	assert_int_equal(ckpt_get_lsn(c, "slot/a/confirmed", &l), 0);
	assert_true(l == LSN_INVALID);
	ckpt_put_lsn(&b, "slot/a/confirmed", 0x16B374D848ULL);
	ckpt_put_lsn(&b, "slot/b/confirmed", UINT64_MAX);
	put_str(&b, "slot/c/confirmed", "16/B374D848");
	assert_int_equal(ckpt_commit(c, &b), 0);
	assert_int_equal(ckpt_get_lsn(c, "slot/a/confirmed", &l), 1);
	assert_true(l == 0x16B374D848ULL);
	assert_int_equal(ckpt_get_lsn(c, "slot/b/confirmed", &l), 1);
	assert_true(l == UINT64_MAX);
	/* Stored as 8 big-endian bytes, so key order of values is LSN order. */
	assert_int_equal(ckpt_get(c, "slot/a/confirmed", raw, &len), 1);
	assert_int_equal(len, 8);
	assert_memory_equal(raw, be, 8);
	/* Not an LSN: refused, not misread. */
	assert_int_equal(ckpt_get_lsn(c, "slot/c/confirmed", &l), -1);
	ckpt_batch_free(&b);
	ckpt_close(c);
}

static void
assert_mode(const char *path, unsigned mode)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	if ((st.st_mode & 07777) != mode)
		fail_msg("%s: mode %04o, want %04o", path, st.st_mode & 07777, mode);
}

static void
test_modes(void **state)
{
	char p[600];
	struct ckpt *c;
	mode_t old = umask(0);

	(void)state;
	c = ckpt_open(dir, 0);
	umask(old);
	assert_non_null(c);
	assert_mode(dir, 0700);
	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	assert_mode(p, 0600);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	assert_mode(p, 0600);
	ckpt_close(c);
	/* An existing, too open state dir is tightened. */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_non_null(c = ckpt_open(dir, 0));
	assert_mode(dir, 0700);
	ckpt_close(c);
	/* A state dir path that is a file is refused. */
	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	assert_null(ckpt_open(p, 0));
}

static void
fill(char *v, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (char)('a' + (seed * 7 + (int)i) % 26);
}

static void
check_values(struct ckpt *c, const char *prefix, int count, size_t vlen)
{
	static char want[64 * KIB], got[64 * KIB];
	char key[64];

	for (int i = 0; i < count; i++) {
		size_t len = sizeof(got);

		snprintf(key, sizeof(key), "%s%05d", prefix, i);
		fill(want, vlen, i);
		if (ckpt_get(c, key, got, &len) != 1)
			fail_msg("%s missing", key);
		assert_int_equal(len, vlen);
		assert_memory_equal(got, want, vlen);
	}
}

/* Write `batches` commits of `per` values of vlen bytes under prefix. */
static int
write_values(struct ckpt *c, const char *prefix, int batches, int per, size_t vlen)
{
	static char v[64 * KIB];
	struct ckpt_batch b = { 0 };
	char key[64];
	int rc = 0;

	for (int i = 0; i < batches && rc == 0; i++) {
		for (int j = 0; j < per; j++) {
			snprintf(key, sizeof(key), "%s%05d", prefix, i * per + j);
			fill(v, vlen, i * per + j);
			ckpt_put(&b, key, v, vlen);
		}
		rc = ckpt_commit(c, &b);
	}
	ckpt_batch_free(&b);
	return rc;
}

static void
test_map_growth(void **state)
{
	struct ckpt *c = ckpt_open(dir, 1 * MIB);

	(void)state;
	assert_non_null(c);
	assert_true(ckpt_map_size(c) <= 1 * MIB + 64 * KIB);
	/* 8 MiB in 1 MiB batches, then one 3 MiB batch. */
	assert_int_equal(write_values(c, "big/", 8, 32, 32 * KIB), 0);
	assert_int_equal(write_values(c, "huge/", 1, 48, 64 * KIB), 0);
	assert_true(ckpt_map_size(c) >= 11 * MIB);
	check_values(c, "big/", 256, 32 * KIB);
	check_values(c, "huge/", 48, 64 * KIB);
	ckpt_close(c);
	/* Reopened with a small map, the grown data is all there. */
	assert_non_null(c = ckpt_open(dir, 1 * MIB));
	check_values(c, "big/", 256, 32 * KIB);
	assert_int_equal(write_values(c, "more/", 2, 32, 32 * KIB), 0);
	check_values(c, "more/", 64, 32 * KIB);
	ckpt_close(c);
}

/* Child: open after fork (as after exec), write its own keys, exit 0/1. */
static void
child_writer(int id, int start_fd)
{
	char prefix[32], go;
	struct ckpt *c;

	if (read(start_fd, &go, 1) != 1)
		_exit(3);
	if ((c = ckpt_open(dir, 1 * MIB)) == NULL)
		_exit(2);
	snprintf(prefix, sizeof(prefix), "proc%d/", id);
	/* Many small commits, then some big ones that force map growth. */
	if (write_values(c, prefix, 100, 1, 100) < 0)
		_exit(1);
	snprintf(prefix, sizeof(prefix), "proc%d/big/", id);
	if (write_values(c, prefix, 6, 16, 32 * KIB) < 0)
		_exit(1);
	ckpt_close(c);
	_exit(0);
}

static void
test_processes(void **state)
{
	enum { PROCS = 3 };
	char prefix[32];
	int start[2], status;
	pid_t pids[PROCS];
	struct ckpt *c;

	(void)state;
	assert_int_equal(pipe(start), 0);
	for (int i = 0; i < PROCS; i++) {
		assert_true((pids[i] = fork()) >= 0);
		if (pids[i] == 0) {
			close(start[1]);
			child_writer(i, start[0]);
		}
	}
	close(start[0]);
	/* Release all at once so their commits and growths overlap. */
	assert_int_equal(write(start[1], "gogo", PROCS), PROCS);
	close(start[1]);
	for (int i = 0; i < PROCS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("writer %d: status %#x", i, status);
	}
	assert_non_null(c = ckpt_open(dir, 0));
	for (int i = 0; i < PROCS; i++) {
		snprintf(prefix, sizeof(prefix), "proc%d/", i);
		check_values(c, prefix, 100, 100);
		snprintf(prefix, sizeof(prefix), "proc%d/big/", i);
		check_values(c, prefix, 96, 32 * KIB);
	}
	ckpt_close(c);
}

static int
die_in_scan(const char *key, const void *val, size_t len, void *arg)
{
	(void)key, (void)val, (void)len, (void)arg;
	kill(getpid(), SIGKILL);
	return 1;
}

/* A process killed inside a read transaction leaves a reader slot that the
 * next writer clears (and says so), then writing goes on. */
static void
test_stale_reader(void **state)
{
	char logpath[600], text[4096];
	struct ckpt_batch b = { 0 };
	struct ckpt *c;
	int status;
	pid_t pid;
	FILE *f;
	size_t n;

	(void)state;
	assert_non_null(c = ckpt_open(dir, 0));
	put_str(&b, "x", "1");
	assert_int_equal(ckpt_commit(c, &b), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		struct ckpt *cc = ckpt_open(dir, 0);

		ckpt_scan(cc, "", die_in_scan, NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	snprintf(logpath, sizeof(logpath), "%s.log", dir);
	assert_int_equal(log_set_file(logpath), 0);
	log_set_level(LL_INFO);
	put_str(&b, "x", "2");
	assert_int_equal(ckpt_commit(c, &b), 0);
	log_set_level(LL_ERROR);
	log_set_file(NULL);
	assert_val(c, "x", "2");
	assert_non_null(f = fopen(logpath, "r"));
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	unlink(logpath);
	assert_non_null(strstr(text, "cleared 1 stale reader"));
	ckpt_batch_free(&b);
	ckpt_close(c);
}

static void
test_reopen(void **state)
{
	struct ckpt_batch b = { 0 };
	struct ckpt *c = ckpt_open(dir, 0);
	lsn_t l;

	(void)state;
	assert_non_null(c);
	ckpt_put_lsn(&b, "sink/lake/pos/a", 42);
	put_str(&b, "sink/lake/file/public.t", "seg");
	assert_int_equal(ckpt_commit(c, &b), 0);
	ckpt_close(c);
	assert_non_null(c = ckpt_open(dir, 0));
	assert_int_equal(ckpt_get_lsn(c, "sink/lake/pos/a", &l), 1);
	assert_true(l == 42);
	assert_val(c, "sink/lake/file/public.t", "seg");
	ckpt_batch_free(&b);
	ckpt_close(c);
}

static void
test_batch_reuse(void **state)
{
	struct ckpt_batch b = { 0 };
	struct ckpt *c = ckpt_open(dir, 0);
	uint8_t *mem;
	size_t cap;

	(void)state;
	assert_non_null(c);
	assert_int_equal(ckpt_commit(c, &b), 0);	/* empty: nothing to do */
	put_str(&b, "one", "1");
	assert_int_equal(ckpt_commit(c, &b), 0);
	assert_int_equal(b.count, 0);
	assert_int_equal(b.ops.len, 0);
	mem = b.ops.data;
	cap = b.ops.cap;
	assert_non_null(mem);
	/* The second round reuses the buffer and does not replay round one. */
	ckpt_del(&b, "one");
	put_str(&b, "two", "2");
	assert_int_equal(b.count, 2);
	assert_ptr_equal(b.ops.data, mem);
	assert_int_equal(ckpt_commit(c, &b), 0);
	assert_int_equal(b.ops.cap, cap);
	assert_int_equal(b.count, 0);
	assert_val(c, "two", "2");
	{
		char v[4];
		size_t len = sizeof(v);

		assert_int_equal(ckpt_get(c, "one", v, &len), 0);
	}
	ckpt_batch_free(&b);
	assert_null(b.ops.data);
	assert_int_equal(b.count, 0);
	ckpt_close(c);
}

static void
test_key_limits(void **state)
{
	char key[CKPT_KEY_MAX + 2], v[4];
	struct ckpt_batch b = { 0 };
	struct ckpt *c = ckpt_open(dir, 0);
	size_t len = sizeof(v);

	(void)state;
	assert_non_null(c);
	memset(key, 'k', sizeof(key) - 1);
	key[CKPT_KEY_MAX] = '\0';
	put_str(&b, key, "max");
	assert_int_equal(ckpt_commit(c, &b), 0);
	assert_val(c, key, "max");
	/* One byte more: refused, and the batch holding it never commits. */
	key[CKPT_KEY_MAX] = 'k';
	key[CKPT_KEY_MAX + 1] = '\0';
	put_str(&b, "ok", "1");
	put_str(&b, key, "too long");
	assert_int_equal(ckpt_commit(c, &b), -1);
	assert_int_equal(b.count, 2);	/* kept, as documented */
	assert_int_equal(ckpt_get(c, "ok", v, &len), 0);
	len = sizeof(v);
	assert_int_equal(ckpt_get(c, key, v, &len), -1);
	ckpt_batch_free(&b);
	put_str(&b, "", "empty key");
	assert_int_equal(ckpt_commit(c, &b), -1);
	ckpt_batch_free(&b);
	ckpt_close(c);
}

static int
setup_dir(void **state)
{
	(void)state;
	log_set_level(LL_ERROR);	/* growth and cleanup notes are info */
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_put_get_del, new_dir),
		cmocka_unit_test_setup(test_scan_prefix, new_dir),
		cmocka_unit_test_setup(test_lsn_helpers, new_dir),
		cmocka_unit_test_setup(test_modes, new_dir),
		cmocka_unit_test_setup(test_map_growth, new_dir),
		cmocka_unit_test_setup(test_processes, new_dir),
		cmocka_unit_test_setup(test_stale_reader, new_dir),
		cmocka_unit_test_setup(test_reopen, new_dir),
		cmocka_unit_test_setup(test_batch_reuse, new_dir),
		cmocka_unit_test_setup(test_key_limits, new_dir),
	};

	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
