/*
 * test_sink: exactly-once in the sink core and the jsonl kind, no server.
 * Frames built with wire_put_* carry real pgoutput (the captured fixture) or
 * hand-built messages; the .jsonl files are read back and every line's
 * (commit_lsn, ordinal) must appear once and in order.  A crash is a forked
 * child that applies without flushing and is killed with SIGKILL.  Snapshot
 * rows: test_sink_snapshot.c; the harness: sink_check.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/sink_check.h"
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
	};

	(void)argc;
	argv0 = argv[0];
	log_init("sink", "test");
	return cmocka_run_group_tests(tests, fixture_load, fixture_free);
}
