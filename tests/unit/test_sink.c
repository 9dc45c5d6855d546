/*
 * test_sink: exactly-once in the sink core and the jsonl kind, no server.
 * Frames built with wire_put_* carry real pgoutput (the captured fixture) or
 * hand-built messages; the .jsonl files are read back and every line's
 * (commit_lsn, ordinal) must appear once and in order.  A crash is a forked
 * child that applies without flushing and is killed with SIGKILL.
 */
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

/* ---- the captured stream, replayed ---- */

/* Send fx[] after a HELLO in frames of `per` records (transactions straddle
 * frames).  Returns the end_lsn of the last COMMIT and the number of txns. */
static lsn_t
send_fixture(struct env *e, size_t per, int *ntxn)
{
	struct pgo_decoder dec = { 0 };
	struct pgo_msg m;
	lsn_t end = 0;

	*ntxn = 0;
	fr_start(e);
	fr_hello(e, SLOT);
	for (size_t i = 0; i < nfx; i++) {
		wire_put_pgo(&e->frame, fx[i].wal, fx[i].data, fx[i].len);
		assert_int_equal(pgo_decode(&dec, fx[i].data, fx[i].len, &m), 0);
		rel_free(m.rel);
		if (m.type == PGO_COMMIT) {
			end = m.commit.end_lsn;
			++*ntxn;
		}
		if ((i + 1) % per == 0 || i + 1 == nfx) {
			assert_int_equal(fr_send(e, SLOT), 0);
			fr_start(e);
		}
	}
	pgo_decoder_free(&dec);
	return end;
}

static const struct { const char *table; size_t lines; const char *op; } fx_tables[] = {
	{ "inv.items", 6, "\"op\":\"d\"" },	/* I I U U(key) D, I after Origin */
	{ "public.fullt", 4, "\"op\":\"u\"" },
	{ "public.docs", 2, "\"unchanged\":[\"body\"]" },
	{ "public.people", 2, "\"op\":\"c\"" },
	{ "public.trunc_a", 1, "\"op\":\"t\"" },
	{ "public.trunc_b", 1, "\"op\":\"t\"" },
};

static void
expect_fixture_tables(struct env *e)
{
	char path[512], *text;
	FILE *f;
	size_t len;

	for (size_t t = 0; t < sizeof(fx_tables) / sizeof(fx_tables[0]); t++) {
		read_table(e, fx_tables[t].table);
		if (e->nlines != fx_tables[t].lines)
			fail_msg("%s: %zu lines, want %zu", fx_tables[t].table, e->nlines,
			    fx_tables[t].lines);
		assert_int_equal(e->nsegs, 1);
		snprintf(path, sizeof(path), "%s/%s/%020d.jsonl", e->out, fx_tables[t].table, 1);
		assert_non_null(f = fopen(path, "r"));
		text = NULL;
		len = 0;
		assert_true(getdelim(&text, &len, '\0', f) > 0);
		assert_non_null(strstr(text, fx_tables[t].op));
		assert_non_null(strstr(text, "\"name\":\"" SLOT "\""));
		assert_non_null(strstr(text, "\"db\":\"shop\""));
		free(text);
		fclose(f);
	}
}

static void
test_fixture_once(void **state)
{
	struct env *e = *state;
	int ntxn, again;
	lsn_t last;

	sk_open(e);
	last = send_fixture(e, 7, &ntxn);
	assert_true(ntxn >= 10);
	assert_true(slot(e, SLOT)->applied == last);
	assert_true(slot(e, SLOT)->durable == 0);
	assert_int_equal(sink_flush(&e->s), 0);
	assert_true(slot(e, SLOT)->durable == last);
	assert_true(stored_pos(e, SLOT) == last);
	expect_fixture_tables(e);

	/* The worker restarts and resends everything: all of it is skipped. */
	assert_true(send_fixture(e, 3, &again) == last);
	assert_int_equal(slot(e, SLOT)->skipped, ntxn);
	assert_true(slot(e, SLOT)->applied == last);
	assert_int_equal(e->s.dirty, 0);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_fixture_tables(e);

	/* And after the sink restarts, from its LMDB position. */
	sk_close(e);
	sk_open(e);
	send_fixture(e, 50, &again);
	assert_int_equal(slot(e, SLOT)->skipped, ntxn);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_fixture_tables(e);
	assert_true(stored_pos(e, SLOT) == last);
}

/* ---- replays of hand-built transactions ---- */

static void
test_replay_skipped(void **state)
{
	struct env *e = *state;
	struct sink_slot *sl;

	open_with(e, 3, 2, 10);
	expect_range(e, 1, 3, 2);

	/* Same frames after a new HELLO: skipped, position unchanged. */
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_txns(e, 1, 3, 2, 10), 0);
	sl = slot(e, SLOT);
	assert_true(sl->applied == txn_end(3));
	assert_int_equal(sl->skipped, 3);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 1, 3, 2);

	/* Applied but not yet flushed when the worker resends from the durable
	 * position: 4 and 5 held once, 6 new. */
	assert_int_equal(send_txns(e, 4, 5, 2, 10), 0);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_txns(e, 1, 6, 2, 10), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 1, 6, 2);
	assert_true(stored_pos(e, SLOT) == txn_end(6));

	/* A commit record right at the previous end_lsn is a new transaction. */
	fr_start(e);
	m_begin(&e->msg, txn_end(6), 9999);
	fr_msg(e, txn_end(6));
	m_insert(&e->msg, REL_T, 1, 0);
	fr_msg(e, txn_end(6));
	m_commit(&e->msg, txn_end(6), txn_end(6) + 0x28);
	fr_msg(e, txn_end(6));
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	read_table(e, TABLE);
	assert_int_equal(e->nlines, 13);
	assert_true(e->lsn[12] == txn_end(6));
	assert_true(stored_pos(e, SLOT) == txn_end(6) + 0x28);
}

/* ---- open transactions interrupted ---- */

static void
test_interrupted_by_hello(void **state)
{
	struct env *e = *state;
	struct sink_slot *sl;
	long long before;
	int nsegs;

	sk_open(e);
	assert_int_equal(send_hello(e, SLOT), 0);
	fr_start(e);
	fr_txn(e, REL_T, 1, 3, 10, 1);
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_int_equal(send_hello(e, SLOT), 0);
	sl = slot(e, SLOT);
	assert_false(sl->in_txn);
	assert_true(sl->applied == 0);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 1, 0, 3);

	assert_int_equal(send_txns(e, 1, 1, 3, 10), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 1, 1, 3);

	/* Big enough that part of it is written to the file before the HELLO:
	 * the file must be cut back to the last transaction boundary. */
	before = table_bytes(e, TABLE, &nsegs);
	fr_start(e);
	fr_txn(e, REL_T, 2, 12, BIG_PAD, 1);
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_true(table_bytes(e, TABLE, &nsegs) > before + 1000000);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_true(table_bytes(e, TABLE, &nsegs) == before);
	assert_int_equal(send_txns(e, 3, 3, 1, 10), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	read_table(e, TABLE);
	assert_int_equal(e->nlines, 4);
	assert_true(e->lsn[2] == txn_final(1));
	assert_true(e->lsn[3] == txn_final(3));

	/* The file is consistent with LMDB: a reopen accepts it as is. */
	sk_close(e);
	open_with(e, 4, 1, 10);
	read_table(e, TABLE);
	assert_int_equal(e->nlines, 5);
	assert_true(e->lsn[4] == txn_final(4));
}

static void
test_interrupted_by_begin(void **state)
{
	struct env *e = *state;

	sk_open(e);
	assert_int_equal(send_hello(e, SLOT), 0);
	fr_start(e);
	fr_txn(e, REL_T, 1, 3, 10, 1);
	fr_txn(e, REL_T, 2, 2, 10, 0);
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 2, 2, 2);
	assert_true(slot(e, SLOT)->applied == txn_end(2));

	/* The same with part of the open transaction already in the file. */
	fr_start(e);
	fr_txn(e, REL_T, 3, 12, BIG_PAD, 1);
	assert_int_equal(fr_send(e, SLOT), 0);
	fr_start(e);
	fr_txn(e, REL_T, 4, 1, 10, 0);
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	read_table(e, TABLE);
	assert_int_equal(e->nlines, 3);
	assert_true(e->lsn[1] == txn_final(2));
	assert_true(e->lsn[2] == txn_final(4));
	assert_int_equal(e->ord[2], 1);
}

/* ---- crash and recovery ---- */

/* Txn 2 (big, so it reaches the file) committed, txn 3 half sent: no flush. */
static int
crash_mid_stream(struct env *e)
{
	if (send_hello(e, SLOT) < 0 || send_txns(e, 1, 2, 12, BIG_PAD) < 0)
		return -1;
	fr_start(e);
	fr_txn(e, REL_T, 3, 12, BIG_PAD, 1);
	return fr_send(e, SLOT);
}

static void
test_crash_recovery(void **state)
{
	struct env *e = *state;
	long long a_bytes;
	int nsegs;

	open_with(e, 1, 12, BIG_PAD);
	a_bytes = table_bytes(e, TABLE, &nsegs);
	sk_close(e);

	crash_after(e, crash_mid_stream);
	/* The child left uncommitted bytes behind... */
	assert_true(table_bytes(e, TABLE, &nsegs) > a_bytes + 1000000);
	/* ... which the reopen cuts away. */
	sk_open(e);
	assert_true(table_bytes(e, TABLE, &nsegs) == a_bytes);
	expect_range(e, 1, 1, 12);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_true(slot(e, SLOT)->applied == txn_end(1));
	assert_int_equal(send_txns(e, 1, 3, 12, BIG_PAD), 0);
	assert_int_equal(slot(e, SLOT)->skipped, 0);	/* reset when 2 applied */
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 1, 3, 12);
	assert_true(stored_pos(e, SLOT) == txn_end(3));
}

/* A flush while txn 3 is open and partly in the file commits the offset of
 * txn 2's end, not of what was written; then more of 3, and the crash. */
static int
crash_flushed_mid_txn(struct env *e)
{
	if (send_hello(e, SLOT) < 0 || send_txns(e, 2, 2, 1, 10) < 0)
		return -1;
	fr_start(e);
	fr_txn(e, REL_T, 3, 12, BIG_PAD, 1);
	if (fr_send(e, SLOT) < 0 || sink_flush(&e->s) < 0)
		return -1;
	fr_start(e);
	m_insert(&e->msg, REL_T, 3013, BIG_PAD);
	fr_msg(e, txn_final(3));
	return fr_send(e, SLOT);
}

static void
test_crash_flushed_mid_txn(void **state)
{
	struct env *e = *state;
	int nsegs;

	open_with(e, 1, 1, 10);
	sk_close(e);
	crash_after(e, crash_flushed_mid_txn);
	assert_true(table_bytes(e, TABLE, &nsegs) > 1000000);
	sk_open(e);
	expect_range(e, 1, 2, 1);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_true(slot(e, SLOT)->applied == txn_end(2));
	assert_int_equal(send_txns(e, 1, 4, 1, 10), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 1, 4, 1);
}

/* A crash between open and the first flush: nothing was ever committed. */
static void
test_crash_before_first_flush(void **state)
{
	struct env *e = *state;
	int nsegs;

	crash_after(e, crash_mid_stream);
	assert_true(table_bytes(e, TABLE, &nsegs) > 1000000);
	sk_open(e);
	assert_int_equal(table_bytes(e, TABLE, &nsegs), 0);
	assert_int_equal(nsegs, 0);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_txns(e, 1, 2, 1, 10), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 1, 2, 1);
}

/* ---- a broken stream is dropped until the next HELLO ---- */

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

static void
test_break_unknown_relation(void **state)
{
	struct env *e = *state;
	struct sink_slot *sl;

	open_with(e, 1, 2, 10);
	sl = slot(e, SLOT);
	sl->ack_due = 0;

	fr_start(e);
	fr_txn(e, REL_T, 2, 2, 10, 1);
	m_insert(&e->msg, 999, 1, 0);
	fr_msg(e, txn_final(2));
	m_insert(&e->msg, REL_T, 2003, 0);
	fr_msg(e, txn_final(2));
	m_commit(&e->msg, txn_final(2), txn_end(2));
	fr_msg(e, txn_final(2));
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_broken(e, txn_end(1));

	/* Until a HELLO, whole transactions are dropped too. */
	assert_int_equal(send_txns(e, 3, 3, 2, 10), 0);
	assert_broken(e, txn_end(1));
	expect_range(e, 1, 1, 2);

	assert_int_equal(send_hello(e, SLOT), 0);
	assert_true(slot(e, SLOT)->epoch == e->epoch);
	assert_int_equal(send_txns(e, 2, 3, 2, 10), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 1, 3, 2);
	assert_true(stored_pos(e, SLOT) == txn_end(3));
}

/* Ways to break txn 2 after one good row of it was rendered. */
enum breaker { BR_CUT_INSERT, BR_UNKNOWN_TYPE, BR_TRUNCATE_UNKNOWN, BR_CUT_RECORD,
	BR_OUTSIDE_TXN, BR_END };	/* BR_OUTSIDE_TXN last: it commits txn 2 */

static void
fr_breaker(struct env *e, enum breaker how)
{
	fr_txn(e, REL_T, 2, 1, 10, 1);
	switch (how) {
	case BR_CUT_INSERT:
		m_insert(&e->msg, REL_T, 2002, 10);
		e->msg.len--;
		break;
	case BR_UNKNOWN_TYPE:
		buf_put_u8(&e->msg, 'Z');
		break;
	case BR_TRUNCATE_UNKNOWN:
		buf_put_u8(&e->msg, 'T');
		buf_put_u32(&e->msg, 2);
		buf_put_u8(&e->msg, 0);
		buf_put_u32(&e->msg, REL_T);
		buf_put_u32(&e->msg, 4242);
		break;
	case BR_OUTSIDE_TXN:	/* commit 2, then a row with no BEGIN */
		m_commit(&e->msg, txn_final(2), txn_end(2));
		fr_msg(e, txn_final(2));
		m_insert(&e->msg, REL_T, 2002, 10);
		break;
	case BR_CUT_RECORD:	/* the frame ends inside a record */
		m_insert(&e->msg, REL_T, 2002, 10);
		fr_msg(e, txn_final(2));
		e->frame.len -= 3;
		return;
	case BR_END:
		break;
	}
	fr_msg(e, txn_final(2));
}

static void
test_break_malformed(void **state)
{
	struct env *e = *state;
	lsn_t durable = txn_end(1);
	int ks[BR_END + 1], n = 1;

	open_with(e, 1, 1, 10);
	ks[0] = 1;
	for (int how = 0; how < BR_END; how++) {
		fr_start(e);
		fr_breaker(e, (enum breaker)how);
		slot(e, SLOT)->ack_due = 0;
		assert_int_equal(fr_send(e, SLOT), 0);
		if (how == BR_OUTSIDE_TXN) {	/* 2 was whole and stays */
			durable = txn_end(2);
			ks[n++] = 2;
		}
		assert_broken(e, durable);
		expect_txns(e, ks, (size_t)n, 1);
		assert_int_equal(send_hello(e, SLOT), 0);
	}
	assert_int_equal(send_txns(e, 1, 3, 1, 10), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 1, 3, 1);
}

/* A frame that fails at the version is rejected whole and breaks nothing. */
static void
test_bad_frame_ignored(void **state)
{
	struct env *e = *state;

	sk_open(e);
	assert_int_equal(send_hello(e, SLOT), 0);
	fr_start(e);
	fr_txn(e, REL_T, 1, 1, 10, 0);
	e->frame.data[0] = WIRE_VERSION + 1;
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_true(slot(e, SLOT)->epoch == e->epoch);
	assert_true(slot(e, SLOT)->applied == 0);
	/* Records before a HELLO, or from a peer that is not the slot, count
	 * for nothing. */
	fr_start(e);
	fr_txn(e, REL_T, 1, 1, 10, 0);
	assert_int_equal(fr_send(e, "other"), 0);
	assert_null(sink_slot_find(&e->s, "other"));
	fr_start(e);
	fr_hello(e, "other");
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_null(sink_slot_find(&e->s, "other"));
	/* A flood of garbage is logged SINK_REJECT_BURST lines, then about
	 * one a second, not once a frame. */
	for (int i = 0; i < SINK_REJECT_BURST + 100; i++)
		assert_int_equal(sink_frame(&e->s, "", "\xff\x00", 2), 0);
	assert_true(e->s.rejects_quiet >= 90);
	assert_int_equal(send_txns(e, 1, 2, 1, 10), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 1, 2, 1);
}

/* ---- segments ---- */

/* Txns 61..90 rotate segments on their way in, and are never flushed. */
static int
crash_rotating(struct env *e)
{
	return send_hello(e, SLOT) < 0 ? -1 : send_txns(e, 61, 90, 2, 300);
}

static void
test_rotation(void **state)
{
	struct env *e = *state;
	long long bytes;
	int nsegs, after;

	sk_open(e);
	assert_int_equal(send_hello(e, SLOT), 0);
	for (int k = 1; k <= 60; k += 10) {
		assert_int_equal(send_txns(e, k, k + 9, 2, 300), 0);
		assert_int_equal(sink_flush(&e->s), 0);
	}
	expect_range(e, 1, 60, 2);
	assert_true(e->nsegs >= 6);
	bytes = table_bytes(e, TABLE, &nsegs);
	for (int i = 1; i <= nsegs; i++) {
		char path[512];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s/%020d.jsonl", e->out, TABLE, i);
		assert_int_equal(stat(path, &st), 0);
		/* cut at the first transaction end past 4096; a txn is < 4096 */
		assert_true(st.st_size < 2 * 4096 && (i == nsegs || st.st_size >= 4096));
	}
	sk_close(e);

	crash_after(e, crash_rotating);
	assert_true(table_bytes(e, TABLE, &after) > bytes);
	assert_true(after > nsegs);
	sk_open(e);
	assert_true(table_bytes(e, TABLE, &after) == bytes);
	assert_int_equal(after, nsegs);
	expect_range(e, 1, 60, 2);

	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_txns(e, 1, 90, 2, 300), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	expect_range(e, 1, 90, 2);
	assert_true(e->nsegs > nsegs);
	sk_close(e);
	sk_open(e);
	expect_range(e, 1, 90, 2);
	assert_true(stored_pos(e, SLOT) == txn_end(90));
}

/* Groups of transactions that exactly fill one segment each, flushed per
 * group: the new segment ends at the same offset as the one committed
 * before it, and must still be recorded (a reopen would delete it). */
static void
test_rotation_same_offset(void **state)
{
	struct env *e = *state;
	long long size;
	int nsegs, m, k = 10;

	sk_open(e);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_txns(e, k, k, 1, 1000), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	size = table_bytes(e, TABLE, &nsegs);
	m = (int)((4096 + size - 1) / size);	/* txns of equal size per segment */
	assert_true(m >= 2);
	assert_int_equal(send_txns(e, k + 1, k + m - 1, 1, 1000), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	for (k += m; k < 10 + 6 * m; k += m) {
		assert_int_equal(send_txns(e, k, k + m - 1, 1, 1000), 0);
		assert_int_equal(sink_flush(&e->s), 0);
		sk_close(e);
		sk_open(e);
		expect_range(e, 10, k + m - 1, 1);
		assert_int_equal(e->bytes, (long long)e->nsegs * m * size);
		assert_int_equal(send_hello(e, SLOT), 0);
	}
}

/* ---- positions ---- */

static void
test_positions(void **state)
{
	struct env *e = *state;
	char key[CKPT_KEY_MAX + 1];
	lsn_t l = 1;

	sk_open(e);
	snprintf(key, sizeof(key), "sink/%s/pos/%s", SINK, SLOT);
	assert_int_equal(ckpt_get_lsn(e->s.ck, key, &l), 0);	/* absent */
	assert_true(l == 0);
	assert_int_equal(send_hello(e, SLOT), 0);
	for (int k = 1; k <= 5; k++) {
		assert_int_equal(send_txns(e, k, k, 1, 10), 0);
		/* Committed is not durable: LMDB still has the previous one. */
		assert_true(stored_pos(e, SLOT) == (k > 1 ? txn_end(k - 1) : 0));
		assert_true(slot(e, SLOT)->durable == stored_pos(e, SLOT));
		assert_int_equal(sink_flush(&e->s), 0);
		assert_true(stored_pos(e, SLOT) == txn_end(k));
		assert_true(slot(e, SLOT)->durable == txn_end(k));
	}
	/* An open transaction does not move the position. */
	fr_start(e);
	fr_txn(e, REL_T, 6, 1, 10, 1);
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	assert_true(stored_pos(e, SLOT) == txn_end(5));
	sk_close(e);
	sk_open(e);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_true(slot(e, SLOT)->applied == txn_end(5));
	assert_true(slot(e, SLOT)->durable == txn_end(5));
	assert_true(slot(e, SLOT)->acked == txn_end(5));
	expect_range(e, 1, 5, 1);
}

/* Slots arriving while another slot's transaction is open (the slot table
 * grows under it) and slots interleaving on their own tables. */
static void
test_slots_interleave(void **state)
{
	struct env *e = *state;
	char name[16];

	sk_open(e);
	assert_int_equal(send_hello(e, SLOT), 0);
	fr_start(e);
	fr_txn(e, REL_T, 1, 2, 10, 1);
	assert_int_equal(fr_send(e, SLOT), 0);
	for (int i = 0; i < NOTHERS; i++) {
		snprintf(name, sizeof(name), "other%d", i);
		assert_int_equal(send_hello(e, name), 0);
	}
	fr_start(e);
	m_insert(&e->msg, REL_T, 1003, 10);
	fr_msg(e, txn_final(1));
	m_commit(&e->msg, txn_final(1), txn_end(1));
	fr_msg(e, txn_final(1));
	assert_int_equal(fr_send(e, SLOT), 0);

	/* other3 writes public.u while s1 has txn 2 open on public.t. */
	fr_start(e);
	fr_txn(e, REL_T, 2, 1, 10, 1);
	assert_int_equal(fr_send(e, SLOT), 0);
	fr_start(e);
	fr_txn(e, REL_U, 7, 1, 10, 0);
	assert_int_equal(fr_send(e, "other3"), 0);
	fr_start(e);
	m_commit(&e->msg, txn_final(2), txn_end(2));
	fr_msg(e, txn_final(2));
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_int_equal(sink_flush(&e->s), 0);

	read_table(e, TABLE);
	assert_int_equal(e->nlines, 4);
	assert_int_equal(e->ord[2], 3);
	assert_true(e->lsn[3] == txn_final(2));
	read_table(e, "public.u");
	assert_int_equal(e->nlines, 1);
	assert_true(stored_pos(e, SLOT) == txn_end(2));
	assert_true(stored_pos(e, "other3") == txn_end(7));
	assert_true(stored_pos(e, "other4") == 0);
}

/* ---- snapshot rows (WIRE_ROW) ---- */

#define ROW_ID(c, i)	((uint64_t)(c) * 100 + (uint64_t)(i))	/* row i of chunk c */

/* `rows` ROW records of `chunk` into relid, ids ROW_ID(chunk, 1...). */
static void
fr_rows(struct env *e, uint32_t relid, uint64_t chunk, uint8_t flags, int rows, size_t pad)
{
	for (int i = 1; i <= rows; i++) {
		m_insert(&e->msg, relid, ROW_ID(chunk, i), pad);
		wire_put_row(&e->frame, chunk, flags, e->msg.data, e->msg.len);
		buf_reset(&e->msg);
	}
}

/* COMMIT of txn k, after a last insert k*1000+2 into public.t. */
static void
fr_chunk_end(struct env *e, int k)
{
	m_insert(&e->msg, REL_T, (uint64_t)k * 1000 + 2, 10);
	fr_msg(e, txn_final(k));
	m_commit(&e->msg, txn_final(k), txn_end(k));
	fr_msg(e, txn_final(k));
}

/* Txn k carrying a chunk of public.t: insert k*1000+1, the rows, insert
 * k*1000+2, COMMIT (the last two unless `open`). */
static void
fr_chunk_txn(struct env *e, int k, uint64_t chunk, uint8_t flags, int rows, size_t pad,
    int open)
{
	fr_txn(e, REL_T, k, 1, 10, 1);
	fr_rows(e, REL_T, chunk, flags, rows, pad);
	if (!open)
		fr_chunk_end(e, k);
}

static int
send_chunk_txn(struct env *e, int k, uint64_t chunk, uint8_t flags, int rows)
{
	fr_start(e);
	fr_chunk_txn(e, k, chunk, flags, rows, 10, 0);
	return fr_send(e, SLOT);
}

/* The chunk id in LMDB, decoded here from its 8 big-endian bytes. */
static uint64_t
stored_chunk(struct env *e, const char *name, const char *table)
{
	char key[CKPT_KEY_MAX + 1];
	uint8_t v[8];
	size_t len = sizeof(v);
	uint64_t c = 0;
	int found;

	snprintf(key, sizeof(key), "sink/%s/chunk/%s/%s", SINK, name, table);
	assert_true((found = ckpt_get(e->s.ck, key, v, &len)) >= 0);
	if (!found)
		return 0;
	assert_int_equal(len, 8);
	for (int i = 0; i < 8; i++)
		c = (c << 8) | v[i];
	return c;
}

/* Lines from `at` of the last read: the `rows` rows of chunk c as op r with
 * source.snapshot `snap`, in txn k from ordinal ord on.  Returns the next. */
static size_t
expect_rows(struct env *e, size_t at, int k, uint64_t ord, uint64_t c, int rows,
    const char *snap)
{
	for (int i = 1; i <= rows; i++, at++, ord++) {
		assert_true(at < e->nlines);
		assert_int_equal(e->op[at], 'r');
		assert_string_equal(e->snap[at], snap);
		assert_int_equal(e->id[at], ROW_ID(c, i));
		assert_true(e->lsn[at] == txn_final(k));
		assert_int_equal(e->ord[at], ord);
	}
	return at;
}

/* One streamed insert of txn k with id `id` at line `at`. */
static size_t
expect_insert(struct env *e, size_t at, int k, uint64_t ord, uint64_t id)
{
	assert_true(at < e->nlines);
	assert_int_equal(e->op[at], 'c');
	assert_string_equal(e->snap[at], "false");
	assert_int_equal(e->id[at], id);
	assert_true(e->lsn[at] == txn_final(k));
	assert_int_equal(e->ord[at], ord);
	return at + 1;
}

/* A txn of fr_chunk_txn from line `at`; rows 0: its chunk was skipped. */
static size_t
expect_chunk_txn(struct env *e, size_t at, int k, uint64_t c, int rows, const char *snap)
{
	at = expect_insert(e, at, k, 1, (uint64_t)k * 1000 + 1);
	at = expect_rows(e, at, k, 2, c, rows, snap);
	return expect_insert(e, at, k, (uint64_t)rows + 2, (uint64_t)k * 1000 + 2);
}

static void
test_snapshot_rows(void **state)
{
	struct env *e = *state;
	size_t at;

	sk_open(e);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_chunk_txn(e, 1, 1, 0, 3), 0);
	assert_int_equal(send_chunk_txn(e, 2, 2, WIRE_ROW_LAST, 2), 0);
	/* Committed is not durable: neither the position nor the chunk id. */
	assert_true(stored_chunk(e, SLOT, TABLE) == 0);
	assert_true(stored_pos(e, SLOT) == 0);
	assert_int_equal(sink_flush(&e->s), 0);
	assert_true(stored_chunk(e, SLOT, TABLE) == 2);
	assert_true(stored_pos(e, SLOT) == txn_end(2));

	read_table(e, TABLE);
	assert_int_equal(e->nlines, 5 + 4);
	at = expect_chunk_txn(e, 0, 1, 1, 3, "true");
	at = expect_chunk_txn(e, at, 2, 2, 2, "last");
	assert_int_equal(at, e->nlines);
	assert_int_equal(slot(e, SLOT)->rows_skipped, 0);
}

/* A chunk already applied is skipped, and only its rows: the rest of the
 * transaction is applied.  Chunk ids are per table and per slot. */
static void
test_snapshot_chunk_once(void **state)
{
	struct env *e = *state;
	size_t at;

	sk_open(e);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_chunk_txn(e, 1, 1, 0, 3), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	assert_int_equal(send_chunk_txn(e, 2, 1, 0, 3), 0);		/* again */
	assert_int_equal(slot(e, SLOT)->rows_skipped, 3);
	/* Chunk 2 straddles two frames. */
	fr_start(e);
	fr_chunk_txn(e, 3, 2, 0, 2, 10, 1);
	assert_int_equal(fr_send(e, SLOT), 0);
	fr_start(e);
	m_insert(&e->msg, REL_T, ROW_ID(2, 3), 10);
	wire_put_row(&e->frame, 2, 0, e->msg.data, e->msg.len);
	buf_reset(&e->msg);
	fr_chunk_end(e, 3);
	assert_int_equal(fr_send(e, SLOT), 0);
	/* An older chunk of public.t, and public.u's first chunk, in one txn. */
	fr_start(e);
	fr_txn(e, REL_T, 4, 1, 10, 1);
	fr_rows(e, REL_T, 1, 0, 3, 10);
	fr_rows(e, REL_U, 1, WIRE_ROW_LAST, 2, 10);
	fr_chunk_end(e, 4);
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_int_equal(slot(e, SLOT)->rows_skipped, 6);
	assert_int_equal(sink_flush(&e->s), 0);

	read_table(e, TABLE);
	at = expect_chunk_txn(e, 0, 1, 1, 3, "true");
	at = expect_chunk_txn(e, at, 2, 1, 0, "true");
	at = expect_chunk_txn(e, at, 3, 2, 3, "true");
	at = expect_insert(e, at, 4, 1, 4001);
	at = expect_insert(e, at, 4, 4, 4002);	/* ordinals 2, 3: public.u's rows */
	assert_int_equal(at, e->nlines);
	read_table(e, "public.u");
	assert_int_equal(expect_rows(e, 0, 4, 2, 1, 2, "last"), 2);
	assert_int_equal(e->nlines, 2);
	assert_true(stored_chunk(e, SLOT, TABLE) == 2);
	assert_true(stored_chunk(e, SLOT, "public.u") == 1);

	/* Another slot has its own chunk ids for public.u. */
	assert_int_equal(send_hello(e, "other0"), 0);
	fr_start(e);
	fr_txn(e, REL_U, 5, 0, 10, 1);
	fr_rows(e, REL_U, 1, 0, 2, 10);
	m_commit(&e->msg, txn_final(5), txn_end(5));
	fr_msg(e, txn_final(5));
	assert_int_equal(fr_send(e, "other0"), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	read_table(e, "public.u");
	assert_int_equal(e->nlines, 4);
	assert_int_equal(expect_rows(e, 2, 5, 1, 1, 2, "true"), 4);
	assert_true(stored_chunk(e, "other0", "public.u") == 1);
	assert_true(stored_chunk(e, "other0", TABLE) == 0);
	assert_true(stored_chunk(e, SLOT, TABLE) == 2);
	assert_int_equal(slot(e, "other0")->rows_skipped, 0);
}

/* A chunk counts only once its transaction commits. */
static void
test_snapshot_chunk_rollback(void **state)
{
	struct env *e = *state;
	size_t at;

	open_with(e, 1, 1, 10);
	/* Rolled back by a HELLO (txn 2 that commits next carries no chunk)... */
	fr_start(e);
	fr_chunk_txn(e, 2, 1, 0, 3, 10, 1);
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_txns(e, 2, 2, 1, 10), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	assert_true(stored_chunk(e, SLOT, TABLE) == 0);
	assert_int_equal(send_chunk_txn(e, 3, 1, 0, 3), 0);
	assert_int_equal(slot(e, SLOT)->rows_skipped, 0);
	/* ... by a BEGIN ... */
	fr_start(e);
	fr_chunk_txn(e, 4, 2, 0, 2, 10, 1);
	fr_txn(e, REL_T, 5, 1, 10, 0);
	assert_int_equal(fr_send(e, SLOT), 0);
	/* ... and a flush while a chunk's transaction is open stores only what
	 * committed before it. */
	fr_start(e);
	fr_chunk_txn(e, 6, 2, WIRE_ROW_LAST, 2, 10, 1);
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	assert_true(stored_chunk(e, SLOT, TABLE) == 1);
	assert_true(stored_pos(e, SLOT) == txn_end(5));
	fr_start(e);
	fr_chunk_end(e, 6);
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	assert_true(stored_chunk(e, SLOT, TABLE) == 2);
	assert_int_equal(slot(e, SLOT)->rows_skipped, 0);

	read_table(e, TABLE);
	at = expect_insert(e, 0, 1, 1, 1001);
	at = expect_insert(e, at, 2, 1, 2001);
	at = expect_chunk_txn(e, at, 3, 1, 3, "true");
	at = expect_insert(e, at, 5, 1, 5001);
	at = expect_chunk_txn(e, at, 6, 2, 2, "last");
	assert_int_equal(at, e->nlines);
}

/* Chunk ids survive a restart; a replayed transaction skips its rows too,
 * whatever chunk they carry. */
static void
test_snapshot_chunk_reopen(void **state)
{
	struct env *e = *state;
	size_t at;

	sk_open(e);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_chunk_txn(e, 1, 1, 0, 2), 0);
	assert_int_equal(send_chunk_txn(e, 2, 2, 0, 2), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	sk_close(e);
	sk_open(e);
	assert_true(stored_chunk(e, SLOT, TABLE) == 2);

	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_chunk_txn(e, 1, 1, 0, 2), 0);	/* replays */
	assert_int_equal(send_chunk_txn(e, 2, 2, 0, 2), 0);
	assert_int_equal(slot(e, SLOT)->skipped, 2);
	assert_int_equal(send_chunk_txn(e, 3, 2, 0, 2), 0);	/* chunk from LMDB */
	assert_int_equal(slot(e, SLOT)->rows_skipped, 2);
	assert_int_equal(send_chunk_txn(e, 4, 3, 0, 2), 0);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_chunk_txn(e, 4, 9, 0, 2), 0);	/* replay of 4 */
	assert_int_equal(slot(e, SLOT)->skipped, 1);
	assert_int_equal(sink_flush(&e->s), 0);
	assert_true(stored_chunk(e, SLOT, TABLE) == 3);
	assert_true(stored_pos(e, SLOT) == txn_end(4));

	sk_close(e);
	sk_open(e);
	assert_true(stored_chunk(e, SLOT, TABLE) == 3);
	read_table(e, TABLE);
	at = expect_chunk_txn(e, 0, 1, 1, 2, "true");
	at = expect_chunk_txn(e, at, 2, 2, 2, "true");
	at = expect_chunk_txn(e, at, 3, 2, 0, "true");
	at = expect_chunk_txn(e, at, 4, 3, 2, "true");
	assert_int_equal(at, e->nlines);
}

/* Chunk 2 (big, so it reaches the file) committed but never flushed. */
static int
crash_mid_chunk(struct env *e)
{
	if (send_hello(e, SLOT) < 0)
		return -1;
	fr_start(e);
	fr_chunk_txn(e, 3, 2, 0, 12, BIG_PAD, 0);
	return fr_send(e, SLOT);
}

static void
test_snapshot_crash(void **state)
{
	struct env *e = *state;
	long long before;
	int nsegs;
	size_t at;

	open_with(e, 1, 1, 10);
	assert_int_equal(send_chunk_txn(e, 2, 1, 0, 3), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	before = table_bytes(e, TABLE, &nsegs);
	sk_close(e);

	crash_after(e, crash_mid_chunk);
	assert_true(table_bytes(e, TABLE, &nsegs) > before + 1000000);
	sk_open(e);
	assert_true(table_bytes(e, TABLE, &nsegs) == before);
	assert_true(stored_chunk(e, SLOT, TABLE) == 1);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_true(slot(e, SLOT)->applied == txn_end(2));
	fr_start(e);
	fr_chunk_txn(e, 3, 2, 0, 12, BIG_PAD, 0);
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_int_equal(slot(e, SLOT)->rows_skipped, 0);
	assert_int_equal(sink_flush(&e->s), 0);
	assert_true(stored_chunk(e, SLOT, TABLE) == 2);

	read_table(e, TABLE);
	at = expect_insert(e, 0, 1, 1, 1001);
	at = expect_chunk_txn(e, at, 2, 1, 3, "true");
	at = expect_chunk_txn(e, at, 3, 2, 12, "true");
	assert_int_equal(at, e->nlines);
}

/* Ways to break txn 2 after a good row of chunk 1 was rendered. */
enum row_breaker { RB_UNKNOWN_REL, RB_BEGIN, RB_DELETE, RB_CUT, RB_END };

static void
fr_row_breaker(struct env *e, enum row_breaker how)
{
	fr_chunk_txn(e, 2, 1, 0, 1, 10, 1);
	switch (how) {
	case RB_UNKNOWN_REL:
		m_insert(&e->msg, 999, ROW_ID(1, 2), 10);
		break;
	case RB_BEGIN:		/* a BEGIN where the row should be */
		m_begin(&e->msg, txn_final(3), 703);
		break;
	case RB_DELETE:		/* a well-formed change, but not an Insert */
		buf_put_u8(&e->msg, 'D');
		buf_put_u32(&e->msg, REL_T);
		buf_put_u8(&e->msg, 'K');
		buf_put_u16(&e->msg, 2);
		buf_put_u8(&e->msg, 't');
		buf_put_u32(&e->msg, 3);
		buf_append(&e->msg, "101", 3);
		buf_put_u8(&e->msg, 'n');
		break;
	case RB_CUT:
		m_insert(&e->msg, REL_T, ROW_ID(1, 2), 10);
		e->msg.len--;
		break;
	case RB_END:
		break;
	}
	wire_put_row(&e->frame, 1, 0, e->msg.data, e->msg.len);
	buf_reset(&e->msg);
	fr_chunk_end(e, 2);
}

static void
test_snapshot_malformed(void **state)
{
	struct env *e = *state;
	size_t at;

	open_with(e, 1, 1, 10);
	for (int how = 0; how < RB_END; how++) {
		fr_start(e);
		fr_row_breaker(e, (enum row_breaker)how);
		slot(e, SLOT)->ack_due = 0;
		assert_int_equal(fr_send(e, SLOT), 0);
		assert_broken(e, txn_end(1));
		assert_true(stored_chunk(e, SLOT, TABLE) == 0);
		expect_range(e, 1, 1, 1);
		assert_int_equal(send_hello(e, SLOT), 0);
	}
	/* A row outside a transaction (here after txn 2's COMMIT). */
	assert_int_equal(send_chunk_txn(e, 2, 1, 0, 2), 0);
	fr_start(e);
	fr_rows(e, REL_T, 2, 0, 1, 10);
	slot(e, SLOT)->ack_due = 0;
	assert_int_equal(fr_send(e, SLOT), 0);
	assert_broken(e, txn_end(2));
	assert_true(stored_chunk(e, SLOT, TABLE) == 1);
	assert_int_equal(send_hello(e, SLOT), 0);
	assert_int_equal(send_chunk_txn(e, 3, 2, 0, 1), 0);
	assert_int_equal(sink_flush(&e->s), 0);
	assert_true(stored_chunk(e, SLOT, TABLE) == 2);
	read_table(e, TABLE);
	at = expect_insert(e, 0, 1, 1, 1001);
	at = expect_chunk_txn(e, at, 2, 1, 2, "true");
	at = expect_chunk_txn(e, at, 3, 2, 1, "true");
	assert_int_equal(at, e->nlines);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fixture_once, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_replay_skipped, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_by_hello, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_by_begin, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_crash_recovery, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_crash_flushed_mid_txn, env_setup,
		    env_teardown),
		cmocka_unit_test_setup_teardown(test_crash_before_first_flush, env_setup,
		    env_teardown),
		cmocka_unit_test_setup_teardown(test_break_unknown_relation, env_setup,
		    env_teardown),
		cmocka_unit_test_setup_teardown(test_break_malformed, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_bad_frame_ignored, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_rotation, env_setup_small, env_teardown),
		cmocka_unit_test_setup_teardown(test_rotation_same_offset, env_setup_small,
		    env_teardown),
		cmocka_unit_test_setup_teardown(test_positions, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_slots_interleave, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_rows, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_chunk_once, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_chunk_rollback, env_setup,
		    env_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_chunk_reopen, env_setup,
		    env_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_crash, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_malformed, env_setup, env_teardown),
	};

	(void)argc;
	argv0 = argv[0];
	log_init("sink", "test");
	return cmocka_run_group_tests(tests, fixture_load, fixture_free);
}
