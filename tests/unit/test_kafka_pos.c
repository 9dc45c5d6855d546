/*
 * test_kafka_pos: the kafka sink's position records (sink/kafka_pos.c):
 * render / parse round trips, records of other sinks and slots, malformed
 * values, and table names that need JSON escaping.  No broker needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sink/kafka_pos.h"

static void
render(struct buf *b, const char *sink, const char *slot, const struct kpos *p)
{
	buf_reset(b);
	kpos_render(b, sink, slot, p);
}

static void
test_round_trip(void **state)
{
	struct kpos p = { .end_lsn = 0x16E9058 }, q = { 0 };
	struct buf b = { 0 };

	(void)state;
	assert_int_equal(kpos_set_chunk(&p, "inventory.customers", 3), 1);
	assert_int_equal(kpos_set_chunk(&p, "public.shipments", 1), 1);
	render(&b, "bus", "inventory", &p);
	buf_putc(&b, '\0');
	assert_string_equal((char *)b.data, "{\"sink\":\"bus\",\"slot\":\"inventory\",\"end_lsn\":"
	    "24023128,\"lsn\":\"0/16E9058\",\"chunks\":{\"inventory.customers\":3,"
	    "\"public.shipments\":1}}");
	assert_int_equal(kpos_parse(b.data, b.len - 1, "bus", "inventory", &q), 1);
	assert_int_equal(q.end_lsn, 0x16E9058);
	assert_int_equal(q.nchunks, 2);
	assert_int_equal(kpos_chunk(&q, "inventory.customers"), 3);
	assert_int_equal(kpos_chunk(&q, "public.shipments"), 1);
	assert_int_equal(kpos_chunk(&q, "public.orders"), 0);
	kpos_free(&p);
	kpos_free(&q);
	buf_free(&b);
}

/* Chunk ids only move forward; moving reports 1. */
static void
test_set_chunk(void **state)
{
	struct kpos p = { 0 };

	(void)state;
	assert_int_equal(kpos_set_chunk(&p, "s.t", 0), 0);
	assert_int_equal(p.nchunks, 0);
	assert_int_equal(kpos_set_chunk(&p, "s.t", 5), 1);
	assert_int_equal(kpos_set_chunk(&p, "s.t", 5), 0);
	assert_int_equal(kpos_set_chunk(&p, "s.t", 4), 0);
	assert_int_equal(kpos_chunk(&p, "s.t"), 5);
	assert_int_equal(kpos_set_chunk(&p, "s.t", 6), 1);
	assert_int_equal(kpos_chunk(&p, "s.t"), 6);
	assert_int_equal(p.nchunks, 1);
	kpos_free(&p);
}

/* Names with quotes, backslashes and control bytes survive, and one name
 * that ends like another ("b\"a" vs "a") is not mistaken for it. */
static void
test_escaped_names(void **state)
{
	static const char *const names[] = { "s.b\"a", "s.a", "s.back\\slash", "s.\n\t", "s.\xc3\xa9t\xc3\xa9" };
	struct kpos p = { .end_lsn = 7 }, q = { 0 };
	struct buf b = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(kpos_set_chunk(&p, names[i], 10 + i), 1);
	render(&b, "bus", "slot\"x", &p);
	assert_int_equal(kpos_parse(b.data, b.len, "bus", "slot\"x", &q), 1);
	assert_int_equal(q.nchunks, sizeof(names) / sizeof(names[0]));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(kpos_chunk(&q, names[i]), 10 + i);
	assert_int_equal(kpos_chunk(&q, "a"), 0);
	kpos_free(&p);
	kpos_free(&q);
	buf_free(&b);
}

/* Another sink's or slot's record is not ours (0) and leaves p alone. */
static void
test_other_records(void **state)
{
	struct kpos p = { .end_lsn = 99 }, q = { .end_lsn = 1 };
	struct buf b = { 0 };

	(void)state;
	render(&b, "bus", "eo", &p);
	assert_int_equal(kpos_parse(b.data, b.len, "bus2", "eo", &q), 0);
	assert_int_equal(kpos_parse(b.data, b.len, "bus", "eo2", &q), 0);
	assert_int_equal(kpos_parse(b.data, b.len, "bu", "eo", &q), 0);
	assert_int_equal(q.end_lsn, 1);
	assert_int_equal(kpos_parse(b.data, b.len, "bus", "eo", &q), 1);
	assert_int_equal(q.end_lsn, 99);
	kpos_free(&q);
	buf_free(&b);
}

/* Every truncation of a record, trailing junk and broken numbers are
 * malformed (-1) and never read past the value. */
static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"{\"sink\":\"bus\",\"slot\":\"eo\",\"end_lsn\":x,\"lsn\":\"0/1\",\"chunks\":{}}",
		"{\"sink\":\"bus\",\"slot\":\"eo\",\"end_lsn\":99999999999999999999999,\"lsn\":\"0/1\",\"chunks\":{}}",
		"{\"sink\":\"bus\",\"slot\":\"eo\",\"end_lsn\":1,\"lsn\":\"0/1\",\"chunks\":{\"a\"}}",
		"{\"sink\":\"bus\",\"slot\":\"eo\",\"end_lsn\":1,\"lsn\":\"0/1\",\"chunks\":{\"a\":1\"b\":2}}",
		"{\"sink\":\"bus\",\"slot\":\"eo\",\"end_lsn\":1,\"lsn\":\"0/1\",\"chunks\":{\"a\":}}",
		"{\"sink\":\"bus\",\"slot\":\"eo\",\"end_lsn\":1,\"lsn\":\"0/1\",\"chunks\":{}}x",
		"{\"sink\":\"bus\",\"slot\":\"eo\",\"end_lsn\":1,\"lsn\":\"0/1\",\"chunks\":{\"a\\\":1}}",
	};
	struct kpos p = { .end_lsn = 5 }, q = { 0 };
	struct buf b = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *copy = strdup(bad[i]);	/* exact size: ASan sees any over-read */

		assert_int_equal(kpos_parse(copy, strlen(copy), "bus", "eo", &q), -1);
		free(copy);
	}
	assert_int_equal(kpos_set_chunk(&p, "s.t", 2), 1);
	render(&b, "bus", "eo", &p);
	/* from the end of the head on: a shorter prefix is "another sink" */
	for (size_t n = strlen("{\"sink\":\"bus\",\"slot\":\"eo\",\"end_lsn\":"); n < b.len; n++) {
		char *copy = malloc(n);

		memcpy(copy, b.data, n);
		assert_int_equal(kpos_parse(copy, n, "bus", "eo", &q), -1);
		free(copy);
	}
	assert_int_equal(q.nchunks, 0);
	kpos_free(&p);
	kpos_free(&q);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_set_chunk),
		cmocka_unit_test(test_escaped_names),
		cmocka_unit_test(test_other_records),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
