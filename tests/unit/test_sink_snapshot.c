/*
 * test_sink_snapshot: snapshot rows (WIRE_ROW records) through the sink core
 * and the jsonl kind: each chunk once, in its place among the streamed
 * transactions, chunk positions in LMDB across rollbacks, reopens and
 * crashes, malformed rows dropped.  The harness: sink_check.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/sink_check.h"

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
