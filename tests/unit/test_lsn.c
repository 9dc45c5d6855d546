/*
 * test_lsn: WAL positions parse and format exactly as PostgreSQL prints them
 * ("16/B374D848", upper-case hex, no padding), anything else is refused
 * without touching the output, and ordering follows the 64-bit value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/lsn.h"

static void
test_parse_known(void **state)
{
	lsn_t l;

	(void)state;
	assert_int_equal(lsn_parse("16/B374D848", &l), 0);
	assert_true(l == 0x16B374D848ULL);
	assert_int_equal(lsn_parse("0/0", &l), 0);
	assert_true(l == 0);
	assert_int_equal(lsn_parse("ffffffff/FFFFFFFF", &l), 0);
	assert_true(l == UINT64_MAX);
	assert_int_equal(lsn_parse("0/1", &l), 0);
	assert_true(l == 1);
	assert_int_equal(lsn_parse("1/0", &l), 0);
	assert_true(l == 0x100000000ULL);
	assert_int_equal(lsn_parse("00000001/0000000a", &l), 0);
	assert_true(l == 0x10000000AULL);
}

static void
test_format_known(void **state)
{
	char b[LSN_BUFLEN];

	(void)state;
	assert_string_equal(lsn_format(0x16B374D848ULL, b), "16/B374D848");
	assert_string_equal(lsn_format(0, b), "0/0");
	assert_string_equal(lsn_format(UINT64_MAX, b), "FFFFFFFF/FFFFFFFF");
	assert_int_equal(strlen(b) + 1, LSN_BUFLEN);
	assert_string_equal(lsn_format(0x100000000ULL, b), "1/0");
}

static void
test_roundtrip(void **state)
{
	static const lsn_t vals[] = {
		0, 1, 0xF, 0x10, 0xFFFFFFFFULL, 0x100000000ULL, 0x123456789ABCDEF0ULL,
		0x8000000000000000ULL, UINT64_MAX - 1, UINT64_MAX,
	};
	char b[LSN_BUFLEN];
	lsn_t l;

	(void)state;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		assert_int_equal(lsn_parse(lsn_format(vals[i], b), &l), 0);
		assert_true(l == vals[i]);
	}
	/* A pseudo-random walk over the whole range. */
	for (uint64_t x = 0x9E3779B97F4A7C15ULL, i = 0; i < 10000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		assert_int_equal(lsn_parse(lsn_format(x, b), &l), 0);
		assert_true(l == x);
	}
}

static void
test_bad_inputs(void **state)
{
	static const char *const bad[] = {
		"", "1", "1/", "/1", "/", "G/1", "1/G", "1/2x", "x1/2", "1//2", "1/2/3",
		"123456789/0", "0/123456789", " 1/2", "1/2 ", "1/ 2", "+1/2", "1/-2",
		"0x1/2", "1.5/2", "1/2\n",
	};
	lsn_t l = 0xDEADBEEF;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (lsn_parse(bad[i], &l) != -1)
			fail_msg("lsn_parse accepted \"%s\"", bad[i]);
		assert_true(l == 0xDEADBEEF);
	}
	assert_int_equal(lsn_parse(NULL, &l), -1);
}

static void
test_ordering(void **state)
{
	lsn_t a, b, c;

	(void)state;
	assert_int_equal(lsn_parse("0/FFFFFFFF", &a), 0);
	assert_int_equal(lsn_parse("1/0", &b), 0);
	assert_int_equal(lsn_parse("1/1", &c), 0);
	assert_int_equal(lsn_cmp(a, b), -1);
	assert_int_equal(lsn_cmp(b, a), 1);
	assert_int_equal(lsn_cmp(b, b), 0);
	assert_int_equal(lsn_cmp(b, c), -1);
	/* The high half dominates, unlike a string compare ("A/0" < "10/0"). */
	assert_int_equal(lsn_parse("A/0", &a), 0);
	assert_int_equal(lsn_parse("10/0", &b), 0);
	assert_int_equal(lsn_cmp(a, b), -1);
	assert_int_equal(lsn_cmp(LSN_INVALID, 1), -1);
	assert_int_equal(lsn_cmp(UINT64_MAX, 0), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_known),
		cmocka_unit_test(test_format_known),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_ordering),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
