/*
 * sink_check: what the sink unit tests share (included by test_sink.c and
 * test_sink_snapshot.c): one sink core with the jsonl kind over a temporary
 * state_dir and output dir, the captured pgoutput fixture, hand-built
 * pgoutput messages and wire frames, reading the .jsonl output back, and a
 * crash as a forked child killed with SIGKILL.  Static definitions: each
 * test binary has its own copy (not every binary uses all of them).
 */
#ifndef PGCDC_TEST_SINK_CHECK_H
#define PGCDC_TEST_SINK_CHECK_H

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-const-variable"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cfg.h"
#include "common/ckpt.h"
#include "common/log.h"
#include "common/pgo.h"
#include "common/wire.h"
#include "sink/sink.h"

#define FIXTURE		"tests/fixtures/pgoutput/stream.hex"
#define SLOT		"s1"
#define SINK		"lake"
#define TABLE		"public.t"	/* hand-built relation REL_T */
#define REL_T		100
#define REL_U		101		/* public.u */
#define TS		760000000000000LL	/* commit time, PostgreSQL epoch */
#define BIG_PAD		(100 * 1000)	/* 11 such rows pass the 1 MiB write-out */
#define MAX_LINES	4096
#define NOTHERS		20		/* slots other0.. of the config */

/* ---- the captured stream ---- */

struct fmsg {
	lsn_t	 wal;
	uint8_t	*data;
	size_t	 len;
};

static struct fmsg fx[256];
static size_t nfx;
static const char *argv0;

static FILE *
fixture_open(void)
{
	char path[4096];
	const char *slash = strrchr(argv0, '/');
	FILE *f = fopen(FIXTURE, "r");

	if (f != NULL || slash == NULL)
		return f;
	snprintf(path, sizeof(path), "%.*s/../../%s", (int)(slash - argv0), argv0, FIXTURE);
	return fopen(path, "r");
}

/* One "lsn<TAB>hex" line into fx[nfx]; -1 if it is not one. */
static int
fixture_line(char *line)
{
	char *hex = strchr(line, '\t');
	struct fmsg *m = &fx[nfx];
	size_t n;

	if (hex == NULL || nfx == sizeof(fx) / sizeof(fx[0]))
		return -1;
	*hex++ = '\0';
	n = strspn(hex, "0123456789abcdef");
	if (lsn_parse(line, &m->wal) < 0 || n % 2 != 0 || (m->data = malloc(n / 2)) == NULL)
		return -1;
	for (m->len = 0; m->len < n / 2; m->len++)
		if (sscanf(hex + 2 * m->len, "%2hhx", &m->data[m->len]) != 1)
			return -1;
	nfx++;
	return 0;
}

static int
fixture_load(void **state)
{
	FILE *f = fixture_open();
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	(void)state;
	if (f == NULL) {
		fprintf(stderr, "cannot open %s (run from the repository root)\n", FIXTURE);
		return -1;
	}
	while (rc == 0 && getline(&line, &cap, f) > 0)
		rc = fixture_line(line);
	if (rc < 0)
		fprintf(stderr, "%s: bad line %zu, or more than %zu\n", FIXTURE, nfx + 1,
		    sizeof(fx) / sizeof(fx[0]));
	free(line);
	fclose(f);
	return rc == 0 && nfx > 0 ? 0 : -1;
}

static int
fixture_free(void **state)
{
	(void)state;
	while (nfx > 0)
		free(fx[--nfx].data);
	return 0;
}

/* ---- one sink over a temporary state_dir and output dir ---- */

struct env {
	char		 root[64];
	char		 out[128];
	struct cfg	*cfg;
	struct sink	 s;
	int		 open;
	uint64_t	 epoch;
	struct buf	 frame, msg;
	/* read back by read_table(): per line, in file order */
	lsn_t		 lsn[MAX_LINES];
	uint64_t	 ord[MAX_LINES];
	char		 op[MAX_LINES];
	char		 snap[MAX_LINES][8];	/* source.snapshot */
	uint64_t	 id[MAX_LINES];		/* after.id, 0 if none */
	size_t		 nlines;
	int		 nsegs;
	long long	 bytes;
};

static int
env_make(void **state, long segment_bytes)
{
	struct env *e = calloc(1, sizeof(*e));
	char path[256], err[1024];
	FILE *f;

	if (e == NULL)
		return -1;
	snprintf(e->root, sizeof(e->root), "/tmp/pgcdc-test-sink-XXXXXX");
	if (mkdtemp(e->root) == NULL)
		return -1;
	snprintf(e->out, sizeof(e->out), "%s/out", e->root);
	snprintf(path, sizeof(path), "%s/pgcdc.cfg", e->root);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "state_dir = \"%s/state\";\n"
	    "source = { conninfo = \"dbname=shop\"; };\n"
	    "slots = ( { name = \"" SLOT "\"; tables = [ \"public.t\" ]; "
	    "sinks = [ \"" SINK "\" ]; }", e->root);
	for (int i = 0; i < NOTHERS; i++)	/* more slots that feed this sink */
		fprintf(f, ",\n  { name = \"other%d\"; tables = [ \"public.u%d\" ]; "
		    "sinks = [ \"" SINK "\" ]; }", i, i);
	fprintf(f, " );\nsinks = ( { name = \"" SINK "\"; type = \"jsonl\"; "
	    "dir = \"%s\"; segment_bytes = %ld; } );\n", e->out, segment_bytes);
	fclose(f);
	if ((e->cfg = cfg_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s", err);
		return -1;
	}
	*state = e;
	return 0;
}

static int
env_setup(void **state)
{
	return env_make(state, 64L * 1024 * 1024);
}

static int
env_setup_small(void **state)
{
	return env_make(state, 4096);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int
env_teardown(void **state)
{
	struct env *e = *state;

	if (e->open)
		sink_close(&e->s);
	nftw(e->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	cfg_free(e->cfg);
	buf_free(&e->frame);
	buf_free(&e->msg);
	free(e);
	return 0;
}

static int
sk_open_rc(struct env *e)
{
	int rc = sink_open(&e->s, e->cfg, cfg_sink_find(e->cfg, SINK));

	e->open = 1;	/* sink_close cleans up after a failed open too */
	return rc;
}

static void
sk_open(struct env *e)
{
	assert_int_equal(sk_open_rc(e), 0);
}

static void
sk_close(struct env *e)
{
	sink_close(&e->s);
	e->open = 0;
}

static struct sink_slot *
slot(struct env *e, const char *name)
{
	struct sink_slot *sl = sink_slot_find(&e->s, name);

	assert_non_null(sl);
	return sl;
}

/* ---- hand-built pgoutput messages (formats as in common/pgo.c) ---- */

static void
m_begin(struct buf *b, lsn_t final, uint32_t xid)
{
	buf_put_u8(b, 'B');
	buf_put_u64(b, final);
	buf_put_u64(b, (uint64_t)TS);
	buf_put_u32(b, xid);
}

static void
m_commit(struct buf *b, lsn_t final, lsn_t end)
{
	buf_put_u8(b, 'C');
	buf_put_u8(b, 0);
	buf_put_u64(b, final);
	buf_put_u64(b, end);
	buf_put_u64(b, (uint64_t)TS);
}

/* public.<table>(id int4 key, v text). */
static void
m_rel(struct buf *b, uint32_t relid, const char *table)
{
	buf_put_u8(b, 'R');
	buf_put_u32(b, relid);
	buf_append(b, "public", 7);
	buf_append(b, table, strlen(table) + 1);
	buf_put_u8(b, 'd');
	buf_put_u16(b, 2);
	buf_put_u8(b, REL_COL_KEY);
	buf_append(b, "id", 3);
	buf_put_u32(b, 23);
	buf_put_u32(b, UINT32_MAX);
	buf_put_u8(b, 0);
	buf_append(b, "v", 2);
	buf_put_u32(b, 25);
	buf_put_u32(b, UINT32_MAX);
}

/* Insert (id, 'xxx...') with pad bytes of text. */
static void
m_insert(struct buf *b, uint32_t relid, uint64_t id, size_t pad)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)id);

	buf_put_u8(b, 'I');
	buf_put_u32(b, relid);
	buf_put_u8(b, 'N');
	buf_put_u16(b, 2);
	buf_put_u8(b, 't');
	buf_put_u32(b, (uint32_t)n);
	buf_append(b, num, (size_t)n);
	buf_put_u8(b, 't');
	buf_put_u32(b, (uint32_t)pad);
	buf_reserve(b, pad);
	memset(b->data + b->len, 'x', pad);
	b->len += pad;
}

/* ---- frames: e->msg holds the message being built ---- */

static void
fr_start(struct env *e)
{
	wire_frame_start(&e->frame);
}

static void
fr_msg(struct env *e, lsn_t wal)
{
	wire_put_pgo(&e->frame, wal, e->msg.data, e->msg.len);
	buf_reset(&e->msg);
}

static void
fr_hello(struct env *e, const char *name)
{
	wire_put_hello(&e->frame, ++e->epoch, name, "shop");
}

static int
fr_send(struct env *e, const char *rid)
{
	return sink_frame(&e->s, rid, e->frame.data, e->frame.len);
}

/* Synthetic transaction k: ordered by k, end_lsn well before the next one. */
static lsn_t
txn_final(int k)
{
	return 0x5000000 + (lsn_t)k * 0x1000;
}

static lsn_t
txn_end(int k)
{
	return txn_final(k) + 0x30;
}

/* Append txn k to the frame: BEGIN, rows inserts into relid, and COMMIT
 * unless `open`.  Rows have ids k*1000+1 ... */
static void
fr_txn(struct env *e, uint32_t relid, int k, int rows, size_t pad, int open)
{
	m_begin(&e->msg, txn_final(k), (uint32_t)(700 + k));
	fr_msg(e, txn_final(k));
	for (int i = 1; i <= rows; i++) {
		m_insert(&e->msg, relid, (uint64_t)k * 1000 + (uint64_t)i, pad);
		fr_msg(e, txn_final(k) - 0x800 + (lsn_t)i * 0x10);
	}
	if (open)
		return;
	m_commit(&e->msg, txn_final(k), txn_end(k));
	fr_msg(e, txn_final(k));
}

/* HELLO from `name` followed by the relations public.t and public.u. */
static int
send_hello(struct env *e, const char *name)
{
	fr_start(e);
	fr_hello(e, name);
	m_rel(&e->msg, REL_T, "t");
	fr_msg(e, 0);
	m_rel(&e->msg, REL_U, "u");
	fr_msg(e, 0);
	return fr_send(e, name);
}

/* Transactions k0..k1 of `rows` rows into public.t, one frame each. */
static int
send_txns(struct env *e, int k0, int k1, int rows, size_t pad)
{
	for (int k = k0; k <= k1; k++) {
		fr_start(e);
		fr_txn(e, REL_T, k, rows, pad, 0);
		if (fr_send(e, SLOT) < 0)
			return -1;
	}
	return 0;
}

/* ---- reading the output back ---- */

static int
is_seg(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return n == 26 && strcmp(de->d_name + 20, ".jsonl") == 0 &&
	    strspn(de->d_name, "0123456789") == 20;
}

static uint64_t
field_u64(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	assert_non_null(p);
	return strtoull(p + strlen(key), NULL, 10);
}

/* op, source.snapshot and after.id of line i. */
static void
line_fields(struct env *e, size_t i, const char *line)
{
	const char *op = strstr(line, "\"op\":\""), *snap = strstr(line, "\"snapshot\":\"");
	const char *id = strstr(line, "\"after\":{\"id\":");

	assert_non_null(op);
	assert_non_null(snap);
	e->op[i] = op[6];
	snap += strlen("\"snapshot\":\"");
	snprintf(e->snap[i], sizeof(e->snap[i]), "%.*s", (int)strcspn(snap, "\""), snap);
	e->id[i] = id ? strtoull(id + strlen("\"after\":{\"id\":"), NULL, 10) : 0;
}

/* Append the lines of one segment; each must be a whole envelope and come
 * after the previous one in (commit_lsn, ordinal) order. */
static void
read_seg(struct env *e, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	assert_non_null(f);
	while ((n = getline(&line, &cap, f)) > 0) {
		size_t i = e->nlines;

		e->bytes += n;
		if (n < 2 || line[n - 1] != '\n' || line[n - 2] != '}' ||
		    strncmp(line, "{\"before\":", 10) != 0)
			fail_msg("%s: torn or foreign line %zu: %.60s", path, i + 1, line);
		assert_true(i < MAX_LINES);
		e->lsn[i] = field_u64(line, "\"commit_lsn\":");
		e->ord[i] = field_u64(line, "\"ordinal\":");
		line_fields(e, i, line);
		if (i > 0 && (e->lsn[i] < e->lsn[i - 1] ||
		    (e->lsn[i] == e->lsn[i - 1] && e->ord[i] <= e->ord[i - 1])))
			fail_msg("%s: line %zu (%llx, %llu) repeats or precedes the one "
			    "before it", path, i + 1, (unsigned long long)e->lsn[i],
			    (unsigned long long)e->ord[i]);
		e->nlines++;
	}
	free(line);
	fclose(f);
}

/* Every segment of a table in lexical order; they must be numbered 1.. */
static void
read_table(struct env *e, const char *table)
{
	char dir[256], path[512], want[32];
	struct dirent **de;
	int n;

	e->nlines = 0;
	e->nsegs = 0;
	e->bytes = 0;
	snprintf(dir, sizeof(dir), "%s/%s", e->out, table);
	if ((n = scandir(dir, &de, is_seg, alphasort)) < 0)
		return;
	for (int i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "%020d.jsonl", i + 1);
		assert_string_equal(de[i]->d_name, want);
		snprintf(path, sizeof(path), "%s/%s", dir, de[i]->d_name);
		read_seg(e, path);
		free(de[i]);
	}
	free(de);
	e->nsegs = n;
}

/* Bytes and segments on disk, without looking at what they hold. */
static long long
table_bytes(struct env *e, const char *table, int *nsegs)
{
	char dir[256], path[512];
	struct dirent **de;
	struct stat st;
	long long sum = 0;
	int n;

	snprintf(dir, sizeof(dir), "%s/%s", e->out, table);
	n = scandir(dir, &de, is_seg, alphasort);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, de[i]->d_name);
		assert_int_equal(stat(path, &st), 0);
		sum += st.st_size;
		free(de[i]);
	}
	if (n >= 0)
		free(de);
	*nsegs = n < 0 ? 0 : n;
	return sum;
}

/* public.t holds exactly transactions ks[0..n), `rows` lines each, in order. */
static void
expect_txns(struct env *e, const int *ks, size_t n, int rows)
{
	size_t at = 0;

	read_table(e, TABLE);
	assert_int_equal(e->nlines, n * (size_t)rows);
	for (size_t i = 0; i < n; i++)
		for (int r = 1; r <= rows; r++, at++) {
			assert_true(e->lsn[at] == txn_final(ks[i]));
			assert_int_equal(e->ord[at], r);
		}
}

static void
expect_range(struct env *e, int k0, int k1, int rows)
{
	int ks[MAX_LINES];
	size_t n = 0;

	for (int k = k0; k <= k1; k++)
		ks[n++] = k;
	expect_txns(e, ks, n, rows);
}

static lsn_t
stored_pos(struct env *e, const char *name)
{
	char key[CKPT_KEY_MAX + 1];
	lsn_t l = 0;

	snprintf(key, sizeof(key), "sink/%s/pos/%s", SINK, name);
	assert_true(ckpt_get_lsn(e->s.ck, key, &l) >= 0);
	return l;
}

/* Open the sink, say HELLO, apply transactions 1..k1 and flush them. */
static void
open_with(struct env *e, int k1, int rows, size_t pad)
{
	sk_open(e);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_txns(e, 1, k1, rows, pad), 0);
	assert_int_equal(sink_flush(&e->s), 0);
}

/* Run fn on a fresh sink in a child that then dies by SIGKILL: no flush, no
 * close, exactly what kill -9 leaves behind.  LMDB never crosses the fork. */
static void
crash_after(struct env *e, int (*fn)(struct env *))
{
	pid_t pid;
	int st;

	assert_false(e->open);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		if (sk_open_rc(e) < 0 || fn(e) < 0)
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		fail_msg("crash child did not get to its SIGKILL (status 0x%x)", st);
}


/* The slot dropped a broken stream: no epoch, no open transaction, an ack
 * due, and what it holds durably is durable. */
static void
assert_broken(struct env *e, lsn_t durable)
{
	struct sink_slot *sl = slot(e, SLOT);

	assert_int_equal(sl->epoch, 0);
	assert_int_equal(sl->ack_due, 1);
	assert_false(sl->in_txn);
	assert_true(sl->applied == durable);
	assert_int_equal(sink_flush(&e->s), 0);
	assert_true(sl->durable == durable);
	assert_true(stored_pos(e, SLOT) == durable);
}

#pragma GCC diagnostic pop

#endif
