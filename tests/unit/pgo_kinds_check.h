/*
 * pgo_kinds_check: what the pgoutput kinds tests share (included by
 * test_pgo_kinds.c and test_pgo_identity.c): the captured fixture
 * tests/fixtures/pgoutput/kinds.hex, a walk through it message by message,
 * and checks of tuples column by column.  Static definitions: each test
 * binary has its own copy (not every binary uses all of them).
 */
#ifndef PGCDC_TEST_PGO_KINDS_CHECK_H
#define PGCDC_TEST_PGO_KINDS_CHECK_H

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-const-variable"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/lsn.h"
#include "common/pgo.h"
#include "common/rel.h"

#define KINDS		"tests/fixtures/pgoutput/kinds.hex"
#define MAXMSGS		512
#define BIG_LEN		(90 * 32)	/* string_agg of 90 md5s */
#define MD5_1		"c4ca4238a0b923820dcc509a6f75849b"	/* md5('1') */
#define MD5_2		"c81e728d9d4c2f636f067f89cc14862c"	/* md5('2') */
/* 2024-01-01 00:00:00 UTC, microseconds since 2000-01-01 */
#define ORIGIN_TS	757382400000000LL

/* The type letter of every message, in stream order. */
static const char sequence[] =
    "BRIIC" "BUC" "BUC" "BUC" "BDC"		/* DEFAULT */
    "BRIIC" "BUC" "BDC"				/* FULL */
    "BRIIC" "BUC" "BUC" "BDC"			/* USING INDEX */
    "BRIC"					/* NOTHING */
    "BYYYRIIC"					/* enum, composite, domain */
    "BRIC"					/* built-in values */
    "BRRRTC" "BRTC"				/* truncates */
    "MMBIMC"					/* messages */
    "BOIC"					/* origin */
    "BRIC" "BRIC" "BRIC" "BRUC";		/* schema changes */

struct raw {
	lsn_t	 lsn;		/* what the server reported for the message */
	size_t	 len;
	uint8_t	*bytes;
};

static struct raw fx[MAXMSGS];
static size_t nfx;
static const char *argv0;

/* --- fixture --- */

static FILE *
kinds_open(void)
{
	const char *slash = strrchr(argv0, '/');
	char path[4096];
	FILE *f;

	if ((f = fopen(KINDS, "r")) != NULL || slash == NULL)
		return f;
	/* build/tests/test_pgo_kinds run from elsewhere */
	snprintf(path, sizeof(path), "%.*s/../../" KINDS, (int)(slash - argv0), argv0);
	return fopen(path, "r");
}

static int
unhex(const char *hex, struct raw *r)
{
	size_t n = strspn(hex, "0123456789abcdef");
	unsigned int byte;

	if (n == 0 || n % 2 != 0 || (hex[n] != '\n' && hex[n] != '\0'))
		return -1;
	if ((r->bytes = malloc(n / 2)) == NULL)
		return -1;
	for (r->len = 0; r->len < n / 2; r->len++) {
		if (sscanf(hex + 2 * r->len, "%2x", &byte) != 1)
			return -1;
		r->bytes[r->len] = (uint8_t)byte;
	}
	return 0;
}

static int
kinds_load(void **state)
{
	FILE *f = kinds_open();
	char *line = NULL, *tab;
	size_t cap = 0;
	int rc = 0;

	(void)state;
	if (f == NULL) {
		fprintf(stderr, "cannot open %s (run from the repository root)\n", KINDS);
		return -1;
	}
	while (rc == 0 && getline(&line, &cap, f) > 0) {
		if (nfx == MAXMSGS || (tab = strchr(line, '\t')) == NULL) {
			rc = -1;
			break;
		}
		*tab = '\0';
		if (lsn_parse(line, &fx[nfx].lsn) < 0 || unhex(tab + 1, &fx[nfx]) < 0)
			rc = -1;
		nfx++;
	}
	if (rc < 0)
		fprintf(stderr, "%s: line %zu is not \"lsn<TAB>hex\"\n", KINDS, nfx);
	free(line);
	fclose(f);
	return rc == 0 && nfx > 0 ? 0 : -1;
}

static int
kinds_free(void **state)
{
	(void)state;
	for (size_t i = 0; i < nfx; i++)
		free(fx[i].bytes);
	return 0;
}

/* --- walking the stream --- */

struct walk {
	size_t			 i;		/* next message */
	struct pgo_decoder	 dec;
	struct pgo_msg		 m;
	struct relcache		*rc;		/* owns every Relation decoded */
	lsn_t			 final;		/* final_lsn of the open transaction */
};

static int
walk_setup(void **state)
{
	struct walk *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -1;
	w->rc = relcache_new();
	*state = w;
	return 0;
}

static int
walk_teardown(void **state)
{
	struct walk *w = *state;

	pgo_decoder_free(&w->dec);
	relcache_free(w->rc);
	free(w);
	return 0;
}

/* Decode the next message, which must be of `type`; Relations go to the cache. */
static struct pgo_msg *
next(struct walk *w, char type)
{
	assert_true(w->i < nfx);
	if (pgo_decode(&w->dec, fx[w->i].bytes, fx[w->i].len, &w->m) < 0)
		fail_msg("message %zu: %s", w->i, w->dec.err);
	if (w->m.type != type)
		fail_msg("message %zu is '%c', want '%c'", w->i, w->m.type, type);
	if (type == PGO_RELATION)
		relcache_put(w->rc, w->m.rel);
	w->i++;
	return &w->m;
}

/* Index of the first message of `type` (a Relation: of `table`). */
static size_t
find(char type, const char *table)
{
	struct pgo_decoder dec = { 0 };
	struct pgo_msg m;
	size_t i;
	int hit = 0;

	for (i = 0; i < nfx && !hit; i++) {
		assert_int_equal(pgo_decode(&dec, fx[i].bytes, fx[i].len, &m), 0);
		hit = m.type == type &&
		    (table == NULL || strcmp(m.rel->table, table) == 0);
		rel_free(m.rel);
	}
	pgo_decoder_free(&dec);
	if (!hit)
		fail_msg("no '%c' message %s in %s", type, table ? table : "", KINDS);
	return i - 1;
}

/* Decode every message before index `to`, whatever it is. */
static void
replay(struct walk *w, size_t to)
{
	w->i = 0;
	while (w->i < to)
		next(w, (char)fx[w->i].bytes[0]);
}

/* Replay up to the Begin of the transaction holding message j. */
static void
seek_txn(struct walk *w, size_t j)
{
	while (j > 0 && fx[j].bytes[0] != PGO_BEGIN)
		j--;
	assert_int_equal(fx[j].bytes[0], PGO_BEGIN);
	replay(w, j);
}

/* ... of the transaction that first describes `table`. */
static void
seek(struct walk *w, const char *table)
{
	seek_txn(w, find(PGO_RELATION, table));
}

struct by_name { const char *table; const struct rel *found; };

static void
match_name(const struct rel *rel, void *arg)
{
	struct by_name *h = arg;

	if (strcmp(rel->table, h->table) == 0)
		h->found = rel;
}

static const struct rel *
cached(const struct walk *w, const char *table)
{
	struct by_name h = { table, NULL };

	relcache_foreach(w->rc, match_name, &h);
	assert_non_null(h.found);
	return h.found;
}

static void
begin(struct walk *w)
{
	const struct pgo_msg *m = next(w, PGO_BEGIN);

	assert_true(m->begin.xid > 0);
	assert_true(m->begin.commit_ts > 0);
	/* The server reports a transaction at its first record, before its commit. */
	assert_true(fx[w->i - 1].lsn < m->begin.final_lsn);
	w->final = m->begin.final_lsn;
}

static void
commit(struct walk *w)
{
	const struct pgo_msg *m = next(w, PGO_COMMIT);

	assert_int_equal(m->commit.flags, 0);
	assert_int_equal(m->commit.commit_lsn, w->final);
	assert_true(m->commit.end_lsn > m->commit.commit_lsn);
	assert_int_equal(m->commit.end_lsn, fx[w->i - 1].lsn);
	w->final = 0;
}

static const struct rel *
relation(struct walk *w, const char *table, char replident, uint16_t ncols)
{
	const struct rel *rel = next(w, PGO_RELATION)->rel;

	assert_string_equal(rel->schema, "k");
	assert_string_equal(rel->table, table);
	assert_int_equal(rel->replident, replident);
	assert_int_equal(rel->ncols, ncols);
	assert_ptr_equal(relcache_get(w->rc, rel->relid), rel);
	return rel;
}

static void
col(const struct rel *rel, int i, const char *name, uint32_t typoid, uint8_t flags)
{
	assert_true(i < rel->ncols);
	assert_string_equal(rel->cols[i].name, name);
	assert_int_equal(rel->cols[i].typoid, typoid);
	assert_int_equal(rel->cols[i].typmod, -1);
	assert_int_equal(rel->cols[i].flags, flags);
}

/* Insert, Update or Delete on rel; old_kind 0 / 'K' / 'O'. */
static const struct pgo_msg *
change(struct walk *w, char type, const struct rel *rel, char old_kind)
{
	const struct pgo_msg *m = next(w, type);

	assert_int_equal(m->change.relid, rel->relid);
	assert_int_equal(m->change.old_kind, old_kind);
	assert_int_equal(m->change.has_new, type != PGO_DELETE);
	if (old_kind != 0)
		assert_int_equal(w->dec.oldt.ncols, rel->ncols);
	else
		assert_int_equal(w->dec.oldt.ncols, 0);
	if (type != PGO_DELETE)
		assert_int_equal(w->dec.newt.ncols, rel->ncols);
	return m;
}

/* Column i is of kind 'n', 'u' or 't'; text (for 't') is its whole value. */
static void
val(const struct tuple *t, int i, char kind, const char *text)
{
	assert_true(i < t->ncols);
	if (t->cols[i].kind != kind)
		fail_msg("column %d is '%c', want '%c'", i, t->cols[i].kind, kind);
	if (kind != 't') {
		assert_int_equal(t->cols[i].len, 0);
		assert_null(t->cols[i].data);
		return;
	}
	if (text == NULL)
		return;
	assert_int_equal(t->cols[i].len, strlen(text));
	assert_memory_equal(t->cols[i].data, text, strlen(text));
}

/* The 2880-byte TOASTed value, whole. */
static void
big(const struct tuple *t, int i)
{
	val(t, i, 't', NULL);
	assert_int_equal(t->cols[i].len, BIG_LEN);
	assert_memory_equal(t->cols[i].data, MD5_1 MD5_2, 64);
	for (size_t k = 0; k < BIG_LEN; k++)
		assert_non_null(memchr("0123456789abcdef", t->cols[i].data[k], 16));
}

/* Expected columns for row(): text values, or one of these markers. */
#define NUL	"\001n"		/* 'n' */
#define UNCH	"\001u"		/* 'u': unchanged TOAST */
#define BIG	"\001B"		/* 't', the 2880-byte TOASTed value */
#define ANY	"\001?"		/* not checked */

/* The whole tuple: one expectation per column, then NULL. */
static void
row(const struct tuple *t, ...)
{
	const char *want;
	va_list ap;
	int i = 0;

	va_start(ap, t);
	for (; (want = va_arg(ap, const char *)) != NULL; i++) {
		if (want[0] != '\001')
			val(t, i, 't', want);
		else if (want[1] == 'B')
			big(t, i);
		else if (want[1] != '?')
			val(t, i, want[1], NULL);
	}
	va_end(ap);
	assert_int_equal(t->ncols, i);
}


#pragma GCC diagnostic pop

#endif
