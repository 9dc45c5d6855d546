/*
 * test_wire: the worker <-> sink frame format (common/wire.h).  Encoded
 * records decode to what was put in, several records share one frame, and a
 * decoder fed any prefix, a lying length, a bad version or an unknown kind
 * fails cleanly (exact-size copies, so SANITIZE=1 catches any overread).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/wire.h"

#define BIG_LSN 0x0123456789ABCDEFull

static const uint8_t pgo_msg[] = { 'B', 0, 0, 0, 0, 1, 0x54, 0x7c, 0x70, 1, 2, 3,
    4, 5, 6, 7, 8, 0, 0, 2, 0xe2 };

/* A malloc'd copy of exactly n bytes of b (ASan sees reads past it). */
static uint8_t *
copy_of(const struct buf *b, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	memcpy(p, b->data, n);
	return p;
}

/* Decode frame p[0..n) into recs; returns records seen, or -1 if the frame
 * or a record was rejected (then err is never empty). */
static int
decode_all(const uint8_t *p, size_t n, struct wire_rec *recs, int max)
{
	char err[128] = "";
	struct wire_rec rec;
	struct rd r;
	int got = 0, rc;

	if (wire_frame_open(&r, p, n, err, sizeof(err)) < 0) {
		assert_true(err[0] != '\0');
		return -1;
	}
	while ((rc = wire_next(&r, &rec, err, sizeof(err))) > 0) {
		if (got < max)
			recs[got] = rec;
		got++;
	}
	if (rc < 0) {
		assert_true(err[0] != '\0');
		return -1;
	}
	return got;
}

static void
test_hello_roundtrip(void **state)
{
	struct buf b = { 0 };
	struct wire_rec rec[2];

	(void)state;
	wire_frame_start(&b);
	wire_put_hello(&b, UINT64_MAX - 1, "shop_3", "inventory");
	assert_int_equal(b.data[0], WIRE_VERSION);
	/* version, kind, u32 length, u64 epoch, "shop_3\0", "inventory\0" */
	assert_int_equal(b.len, 1 + 5 + 8 + 7 + 10);
	assert_int_equal(decode_all(b.data, b.len, rec, 2), 1);
	assert_int_equal(rec[0].kind, WIRE_HELLO);
	assert_true(rec[0].epoch == UINT64_MAX - 1);
	assert_string_equal(rec[0].slot, "shop_3");
	assert_string_equal(rec[0].dbname, "inventory");
	/* Strings point into the frame, not into a copy. */
	assert_true((const uint8_t *)rec[0].slot > b.data &&
	    (const uint8_t *)rec[0].dbname < b.data + b.len);
	buf_free(&b);
}

static void
test_pgo_roundtrip(void **state)
{
	struct buf b = { 0 };
	struct wire_rec rec[2];

	(void)state;
	wire_frame_start(&b);
	wire_put_pgo(&b, BIG_LSN, pgo_msg, sizeof(pgo_msg));
	assert_int_equal(decode_all(b.data, b.len, rec, 2), 1);
	assert_int_equal(rec[0].kind, WIRE_PGO);
	assert_true(rec[0].lsn == BIG_LSN);
	assert_int_equal(rec[0].len, sizeof(pgo_msg));
	assert_memory_equal(rec[0].data, pgo_msg, sizeof(pgo_msg));
	assert_null(rec[0].slot);
	buf_free(&b);
}

static void
test_ack_roundtrip(void **state)
{
	struct buf b = { 0 };
	struct wire_rec rec[2];

	(void)state;
	wire_frame_start(&b);
	wire_put_ack(&b, 0, BIG_LSN, "inventory", 1ULL << 40);
	assert_int_equal(decode_all(b.data, b.len, rec, 2), 1);
	assert_int_equal(rec[0].kind, WIRE_ACK);
	assert_true(rec[0].epoch == 0);
	assert_true(rec[0].lsn == BIG_LSN);
	assert_string_equal(rec[0].slot, "inventory");
	assert_true(rec[0].consumed == 1ULL << 40);
	assert_null(rec[0].dbname);
	buf_free(&b);
}

/* HELLO, PGO x2, ACK in one frame; wire_frame_start resets the buffer. */
static size_t
build_multi(struct buf *b, size_t *ends)
{
	wire_frame_start(b);
	wire_put_ack(b, 99, 1, "stale", 0);
	wire_frame_start(b);
	ends[0] = b->len;
	wire_put_hello(b, 7, "s1", "");
	ends[1] = b->len;
	wire_put_pgo(b, 0x10, pgo_msg, sizeof(pgo_msg));
	ends[2] = b->len;
	wire_put_pgo(b, 0x20, "C", 1);
	ends[3] = b->len;
	wire_put_ack(b, 7, 0x30, "s1", 5);
	ends[4] = b->len;
	return 5;
}

static void
test_several_records(void **state)
{
	struct buf b = { 0 };
	struct wire_rec rec[8];
	size_t ends[5];

	(void)state;
	build_multi(&b, ends);
	assert_int_equal(ends[0], 1);
	assert_int_equal(decode_all(b.data, b.len, rec, 8), 4);
	assert_int_equal(rec[0].kind, WIRE_HELLO);
	assert_true(rec[0].epoch == 7);
	assert_string_equal(rec[0].dbname, "");
	assert_int_equal(rec[1].kind, WIRE_PGO);
	assert_true(rec[1].lsn == 0x10);
	assert_memory_equal(rec[1].data, pgo_msg, sizeof(pgo_msg));
	assert_int_equal(rec[2].kind, WIRE_PGO);
	assert_true(rec[2].lsn == 0x20);
	assert_int_equal(rec[2].len, 1);
	assert_int_equal(rec[2].data[0], 'C');
	assert_int_equal(rec[3].kind, WIRE_ACK);
	assert_true(rec[3].lsn == 0x30);
	assert_string_equal(rec[3].slot, "s1");
	buf_free(&b);
}

/* Every prefix of a frame: a cut at a record boundary is a shorter valid
 * frame with exactly the records before it; any other cut is rejected. */
static void
test_every_truncation(void **state)
{
	struct buf b = { 0 };
	struct wire_rec rec[8];
	size_t ends[5], nends = build_multi(&b, ends);

	(void)state;
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *p = copy_of(&b, n);
		int want = -1, got;

		for (size_t k = 0; k < nends; k++)
			if (ends[k] == n)
				want = (int)k;
		got = decode_all(p, n, rec, 8);
		if (got != want)
			fail_msg("frame cut to %zu of %zu bytes: %d records, want %d",
			    n, b.len, got, want);
		free(p);
	}
	buf_free(&b);
}

/* A record whose length claims more than the frame holds, or a body that does
 * not fill its stated length exactly, is rejected. */
static void
test_lying_lengths(void **state)
{
	static const uint32_t lies[] = { 0xffffffff, 0x80000000, 0x7fffffff };
	struct buf b = { 0 };
	struct wire_rec rec[4];
	uint8_t *p;

	(void)state;
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		wire_frame_start(&b);
		buf_put_u8(&b, WIRE_PGO);
		buf_put_u32(&b, lies[i]);
		buf_put_u64(&b, 1);
		p = copy_of(&b, b.len);
		assert_int_equal(decode_all(p, b.len, rec, 4), -1);
		free(p);
	}
	/* HELLO with one byte of trailing junk inside its length. */
	wire_frame_start(&b);
	wire_put_hello(&b, 1, "s", "d");
	buf_put_u8(&b, 'x');
	b.data[5]++;
	assert_int_equal(decode_all(b.data, b.len, rec, 4), -1);
	/* ACK whose slot string lacks its NUL inside the record. */
	wire_frame_start(&b);
	wire_put_ack(&b, 1, 2, "s1", 3);
	wire_put_pgo(&b, 3, "C", 1);
	b.data[5]--;
	assert_int_equal(decode_all(b.data, b.len, rec, 4), -1);
	/* PGO with a wal_lsn and no message, and one shorter than a wal_lsn. */
	wire_frame_start(&b);
	wire_put_pgo(&b, 3, "", 0);
	assert_int_equal(decode_all(b.data, b.len, rec, 4), -1);
	wire_frame_start(&b);
	buf_put_u8(&b, WIRE_PGO);
	buf_put_u32(&b, 4);
	buf_put_u32(&b, 0);
	assert_int_equal(decode_all(b.data, b.len, rec, 4), -1);
	buf_free(&b);
}

static void
test_bad_version(void **state)
{
	struct buf b = { 0 };
	struct wire_rec rec[2];
	char err[128] = "";
	struct rd r;

	(void)state;
	wire_frame_start(&b);
	wire_put_ack(&b, 1, 2, "s1", 3);
	for (int v = 0; v < 256; v++) {
		b.data[0] = (uint8_t)v;
		assert_int_equal(decode_all(b.data, b.len, rec, 2), v == WIRE_VERSION ? 1 : -1);
	}
	b.data[0] = WIRE_VERSION + 1;
	assert_int_equal(wire_frame_open(&r, b.data, b.len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version"));
	/* The empty frame has no version at all; a version byte alone is a
	 * valid frame without records. */
	assert_int_equal(wire_frame_open(&r, b.data, 0, err, sizeof(err)), -1);
	b.data[0] = WIRE_VERSION;
	assert_int_equal(decode_all(b.data, 1, rec, 2), 0);
	buf_free(&b);
}

static void
test_unknown_kind(void **state)
{
	struct buf b = { 0 };
	struct wire_rec rec;
	char err[128] = "";
	struct rd r;

	(void)state;
	wire_frame_start(&b);
	wire_put_hello(&b, 1, "s1", "db");
	wire_put_ack(&b, 1, 2, "s1", 3);
	b.data[b.len - 8 - 8 - 8 - 3 - 5] = 'Z';	/* the ACK's kind byte */
	assert_int_equal(wire_frame_open(&r, b.data, b.len, err, sizeof(err)), 0);
	assert_int_equal(wire_next(&r, &rec, err, sizeof(err)), 1);
	assert_int_equal(rec.kind, WIRE_HELLO);
	assert_int_equal(wire_next(&r, &rec, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0x5a"));
	/* The HELLO's kind byte: its 14-byte body also reads as a PGO (u64 and
	 * a 6-byte message) or a ROW (u64, u8 and 5 bytes) but is too short for
	 * an ACK. */
	for (int k = 0; k < 256; k++) {
		b.data[1] = (uint8_t)k;
		assert_int_equal(decode_all(b.data, 1 + 5 + 14, &rec, 1),
		    k == WIRE_HELLO || k == WIRE_PGO || k == WIRE_ROW ? 1 : -1);
	}
	buf_free(&b);
}

static void
test_sink_endpoint(void **state)
{
	const char *want = "ipc:///run/pgcdc/sink-lake.ipc";
	char out[64], dir[200], big[108];

	(void)state;
	assert_int_equal(wire_sink_endpoint("/run/pgcdc", "lake", out, sizeof(out)), 0);
	assert_string_equal(out, want);
	assert_int_equal(wire_sink_endpoint("/run/pgcdc", "lake", out, strlen(want) + 1), 0);
	assert_string_equal(out, want);
	assert_int_equal(wire_sink_endpoint("/run/pgcdc", "lake", out, strlen(want)), -1);
	assert_int_equal(wire_sink_endpoint("/run/pgcdc", "lake", out, 1), -1);
	assert_int_equal(wire_sink_endpoint("/run", "x", NULL, 0), -1);
	/* A run_dir too long for the buffer (sun_path is 108 bytes). */
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	assert_int_equal(wire_sink_endpoint(dir, "lake", big, sizeof(big)), -1);
	dir[sizeof(big) - strlen("ipc:///sink-lake.ipc") - 1] = '\0';
	assert_int_equal(wire_sink_endpoint(dir, "lake", big, sizeof(big)), 0);
	assert_int_equal(strlen(big), sizeof(big) - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_roundtrip),
		cmocka_unit_test(test_pgo_roundtrip),
		cmocka_unit_test(test_ack_roundtrip),
		cmocka_unit_test(test_several_records),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_lying_lengths),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_unknown_kind),
		cmocka_unit_test(test_sink_endpoint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
