/*
 * test_json: exact output of json_str and json_envelope, and that everything
 * produced is strict JSON in UTF-8: a recursive-descent validator
 * (json_check.h, written independently of json.c) checks every output,
 * including thousands of random inputs.  Value rules: test_json_types.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_check.h"

static void
test_validator_itself(void **state)
{
	static const char *good[] = {
		"0", "-0.5e+3", "\"\\ud83d\\ude00\"", "[1,{\"a\":[]}]", " {} ",
		"\"\xf0\x9f\x98\x80\"", "null",
	};
	static const char *bad[] = {
		"", "01", "1.", "[1,]", "{\"a\"}", "\"\x01\"", "\"\\x\"", "\"\xc0\x80\"",
		"\"\xed\xa0\x80\"", "\"\\udc00\"", "nul", "[1] 2", "NaN", "\"a", "{,}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(json_valid(good[i], strlen(good[i]), NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(json_valid(bad[i], strlen(bad[i]), NULL));
}


/* ---- json_str ---- */

static void
test_str_escapes(void **state)
{
	(void)state;
	STR("", "\"\"");
	STR("plain text", "\"plain text\"");
	STR("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	STR("\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\"");
	STR("\x01\x1f\x0b\x1b", "\"\\u0001\\u001f\\u000b\\u001b\"");
	STR("\x7f~ ", "\"\x7f~ \"");
	STR("a\0b\0", "\"a\\u0000b\\u0000\"");
	buf_reset(&out);
	json_str(&out, NULL, 0);
	expect("\"\"");
}

static void
test_str_utf8_valid(void **state)
{
	(void)state;
	STR("\xc3\xa9", "\"\xc3\xa9\"");			/* é */
	STR("\xe2\x82\xac", "\"\xe2\x82\xac\"");		/* € */
	STR("\xf0\x9f\x98\x80!", "\"\xf0\x9f\x98\x80!\"");	/* emoji */
	STR("\xc2\x80\xdf\xbf", "\"\xc2\x80\xdf\xbf\"");	/* U+0080, U+07FF */
	STR("\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80", "\"\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\"");
	STR("\xef\xbf\xbd", "\"\xef\xbf\xbd\"");		/* U+FFFD itself */
	STR("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
	STR("\xe2\x80\xa8", "\"\xe2\x80\xa8\"");		/* U+2028 is valid JSON */
}

static void
test_str_utf8_invalid(void **state)
{
	(void)state;
	STR("\x80", "\"" R "\"");
	STR("\xbf\x80", "\"" R R "\"");
	STR("\xc0\x80", "\"" R R "\"");			/* overlong NUL */
	STR("\xc1\xbf", "\"" R R "\"");
	STR("\xe0\x80\x80", "\"" R R R "\"");		/* overlong 3-byte */
	STR("\xe0\x9f\xbf", "\"" R R R "\"");
	STR("\xf0\x8f\xbf\xbf", "\"" R R R R "\"");	/* overlong 4-byte */
	STR("\xed\xa0\x80", "\"" R R R "\"");		/* surrogate D800 */
	STR("\xed\xbf\xbf", "\"" R R R "\"");		/* surrogate DFFF */
	STR("\xf4\x90\x80\x80", "\"" R R R R "\"");	/* > U+10FFFF */
	STR("\xf5\x80\x80\x80", "\"" R R R R "\"");
	STR("\xfe\xff", "\"" R R "\"");
	STR("\xc3", "\"" R "\"");				/* truncated at end */
	STR("a\xe2\x82", "\"a" R "\"");
	STR("\xf0\x9f\x98", "\"" R "\"");
	STR("\xf0\x9f\x98" "A", "\"" R "A\"");
	STR("\xc3" "A", "\"" R "A\"");
	STR("\xe2\x82\xe2\x82\xac", "\"" R "\xe2\x82\xac\"");
	STR("\xc3\"", "\"" R "\\\"\"");
	/* Unicode 15 section 3.9, U+FFFD substitution of maximal subparts */
	STR("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
	    "\"a" R R R "b" R "c" R R "d\"");
}


/* Bytes biased towards what matters: controls, quotes, UTF-8 lead/tail bytes. */
static uint8_t
rng_byte(void)
{
	static const uint8_t hot[] = {
		0, '\n', 0x1f, '"', '\\', 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf,
		0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f, 0x90,
	};

	switch (rng(3)) {
	case 0:		return (uint8_t)(0x20 + rng(0x5f));
	case 1:		return hot[rng(NELEM(hot))];
	default:	return (uint8_t)rng(256);
	}
}

/* Could p[0..k) start a valid sequence?  Tries completions at the range edges. */
static bool
valid_prefix(const uint8_t *p, size_t k)
{
	static const uint8_t tails[] = { 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf };
	uint8_t s[4];
	uint32_t cp;

	for (size_t len = k + 1, ncombo = 6; len <= 4; len++, ncombo *= 6) {
		for (size_t combo = 0; combo < ncombo; combo++) {
			size_t c = combo;

			memcpy(s, p, k);
			for (size_t i = k; i < len; i++, c /= 6)
				s[i] = tails[c % 6];
			if (utf8_decode(s, len, &cp) == len)
				return true;
		}
	}
	return false;
}

/* The reference result: maximal subparts replaced, computed the slow way. */
static void
ref_replace(const uint8_t *p, size_t n, struct buf *ref)
{
	uint32_t cp;
	size_t i = 0, k;

	while (i < n) {
		if ((k = utf8_decode(p + i, n - i, &cp)) != 0) {
			buf_append(ref, p + i, k);
			i += k;
			continue;
		}
		k = 1;
		while (k < 4 && i + k < n && valid_prefix(p + i, k + 1))
			k++;
		buf_append(ref, "\xef\xbf\xbd", 3);
		i += k;
	}
}

static void
test_str_random_bytes(void **state)
{
	struct buf dec = { 0 }, ref = { 0 };
	uint8_t in[48];
	size_t invalid = 0;

	(void)state;
	for (int iter = 0; iter < 5000; iter++) {
		size_t n = rng(sizeof(in) + 1);

		for (size_t i = 0; i < n; i++)
			in[i] = rng_byte();
		buf_reset(&out);
		buf_reset(&dec);
		buf_reset(&ref);
		json_str(&out, in, n);
		assert_true(json_valid(out.data, out.len, &dec));
		assert_null(memchr(out.data, '\n', out.len));
		ref_replace(in, n, &ref);
		assert_int_equal(dec.len, ref.len);
		assert_memory_equal(dec.data, ref.data, ref.len);
		invalid += !utf8_valid(in, n);
	}
	assert_true(invalid > 1000);	/* the generator does hit invalid input */
	buf_free(&dec);
	buf_free(&ref);
}

static void
test_str_random_codepoints(void **state)
{
	struct buf in = { 0 }, dec = { 0 };

	(void)state;
	for (int iter = 0; iter < 2000; iter++) {
		size_t n = rng(24);

		buf_reset(&in);
		buf_reset(&dec);
		for (size_t i = 0; i < n; i++) {
			uint32_t cp = rng(4) == 0 ? rng(0x80) : rng(0x110000);

			if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 0xFFFD;
			put_utf8(&in, cp);
		}
		buf_reset(&out);
		json_str(&out, in.data, in.len);
		assert_true(json_valid(out.data, out.len, &dec));
		assert_int_equal(dec.len, in.len);
		if (in.len > 0)
			assert_memory_equal(dec.data, in.data, in.len);
	}
	buf_free(&in);
	buf_free(&dec);
}

/* ---- json_envelope ---- */

static struct rel_col cols[] = {
	{ (char *)"id", 23, -1, REL_COL_KEY, 0, 0 },
	{ (char *)"first_name", 25, -1, 0, 0, 0 },
	{ (char *)"doc", 3802, -1, 0, 0, 0 },
	{ (char *)"bio", 25, -1, 0, 0, 0 },
};
static struct rel customers = {
	16384, (char *)"inventory", (char *)"customers", 'd', 4, cols, NULL,
};
static const struct json_src src = {
	.name = "inventory", .db = "postgres",
	.commit_ts = 753315200000000,	/* 2023-11-14 22:13:20 UTC */
	.xid = 742, .lsn = 24023128, .commit_lsn = 24023200, .ordinal = 1,
	.snapshot = "false",
};

#define SOURCE(op) \
	",\"source\":{\"version\":\"pgcdc-0.1\",\"connector\":\"postgresql\"," \
	"\"name\":\"inventory\",\"ts_ms\":1700000000000,\"snapshot\":\"false\"," \
	"\"db\":\"postgres\",\"sequence\":\"[\\\"24023200\\\",\\\"24023128\\\"]\"," \
	"\"schema\":\"inventory\",\"table\":\"customers\",\"txId\":742," \
	"\"lsn\":24023128,\"commit_lsn\":24023200,\"ordinal\":1,\"origin\":null,\"xmin\":null}," \
	"\"op\":\"" op "\",\"ts_ms\":1700000000123"

#define COL(k, s)	{ k, sizeof(s) - 1, (const uint8_t *)s }

/* A tuple whose cols array is exactly n long (ASan sees any over-read). */
static struct tuple *
tuple_new(size_t n, const struct tuple_col *c)
{
	struct tuple *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->cols = malloc(n * sizeof(*c) + 1);
	assert_non_null(t->cols);
	memcpy(t->cols, c, n * sizeof(*c));
	t->ncols = t->cap = (uint16_t)n;
	return t;
}

static void
tuple_del(struct tuple *t)
{
	free(t->cols);
	free(t);
}

static void
check_env(char op, const struct tuple *before, char kind, const struct tuple *after,
    const char *want)
{
	buf_reset(&out);
	json_envelope(&out, op, &customers, before, kind, after, &src, 1700000000123);
	expect(want);
}

static const struct tuple_col sally[] = {
	COL('t', "1001"), COL('t', "Sally"), COL('t', "{\"a\": [1, 2]}"), COL('n', ""),
};
static const struct tuple_col sally2[] = {
	COL('t', "1001"), COL('t', "Sal\"ly"), COL('u', ""), COL('u', ""),
};
static const struct tuple_col key_only[] = {
	COL('t', "1001"), COL('n', ""), COL('n', ""), COL('n', ""),
};

static void
test_envelope_ops(void **state)
{
	struct tuple *a = tuple_new(4, sally), *k = tuple_new(4, key_only);

	(void)state;
	check_env('c', NULL, 0, a, "{\"before\":null,\"after\":{\"id\":1001,"
	    "\"first_name\":\"Sally\",\"doc\":{\"a\":[1,2]},\"bio\":null}" SOURCE("c") "}");
	check_env('u', k, 'K', a, "{\"before\":{\"id\":1001},\"after\":{\"id\":1001,"
	    "\"first_name\":\"Sally\",\"doc\":{\"a\":[1,2]},\"bio\":null}" SOURCE("u") "}");
	check_env('u', a, 'O', a, "{\"before\":{\"id\":1001,\"first_name\":\"Sally\","
	    "\"doc\":{\"a\":[1,2]},\"bio\":null},\"after\":{\"id\":1001,"
	    "\"first_name\":\"Sally\",\"doc\":{\"a\":[1,2]},\"bio\":null}" SOURCE("u") "}");
	check_env('d', k, 'K', NULL, "{\"before\":{\"id\":1001},\"after\":null"
	    SOURCE("d") "}");
	check_env('d', a, 'O', NULL, "{\"before\":{\"id\":1001,\"first_name\":\"Sally\","
	    "\"doc\":{\"a\":[1,2]},\"bio\":null},\"after\":null" SOURCE("d") "}");
	check_env('t', NULL, 0, NULL, "{\"before\":null,\"after\":null" SOURCE("t") "}");
	/* a 'K' marker applied to a full tuple still renders key columns only */
	check_env('d', a, 'K', NULL, "{\"before\":{\"id\":1001},\"after\":null"
	    SOURCE("d") "}");
	tuple_del(a);
	tuple_del(k);
}

static void
test_envelope_unchanged_toast(void **state)
{
	struct tuple *a = tuple_new(4, sally2), *o = tuple_new(4, sally2);
	struct tuple_col one[4];

	(void)state;
	check_env('u', NULL, 0, a, "{\"before\":null,\"after\":{\"id\":1001,"
	    "\"first_name\":\"Sal\\\"ly\"}" SOURCE("u") ",\"unchanged\":[\"doc\",\"bio\"]}");
	/* 'u' in an old tuple is left out there but not listed */
	memcpy(one, sally, sizeof(one));
	one[3] = (struct tuple_col)COL('u', "");
	tuple_del(a);
	a = tuple_new(4, one);
	check_env('u', o, 'O', a, "{\"before\":{\"id\":1001,\"first_name\":\"Sal\\\"ly\"},"
	    "\"after\":{\"id\":1001,\"first_name\":\"Sally\",\"doc\":{\"a\":[1,2]}}"
	    SOURCE("u") ",\"unchanged\":[\"bio\"]}");
	tuple_del(a);
	tuple_del(o);
}

static void
test_envelope_column_counts(void **state)
{
	struct tuple_col six[6] = {
		COL('t', "1"), COL('b', "x"), COL('n', ""), COL('u', ""), COL('t', "5"), COL('t', "6"),
	};
	struct tuple *shorter = tuple_new(2, six), *longer = tuple_new(6, six);
	struct tuple *none = tuple_new(0, six);

	(void)state;
	check_env('c', NULL, 0, shorter, "{\"before\":null,\"after\":{\"id\":1,"
	    "\"first_name\":\"x\"}" SOURCE("c") "}");
	check_env('c', NULL, 0, longer, "{\"before\":null,\"after\":{\"id\":1,"
	    "\"first_name\":\"x\",\"doc\":null}" SOURCE("c") ",\"unchanged\":[\"bio\"]}");
	check_env('c', NULL, 0, none, "{\"before\":null,\"after\":{}" SOURCE("c") "}");
	tuple_del(shorter);
	tuple_del(longer);
	tuple_del(none);
}

static void
test_envelope_source_fields(void **state)
{
	struct rel_col odd[] = { { (char *)"we\"ird\n", 16, -1, REL_COL_KEY, 0, 0 } };
	struct rel r = { 1, (char *)"s\\", (char *)"t\xff", 'f', 1, odd, NULL };
	struct json_src s = {
		.name = NULL, .db = "d\"b", .commit_ts = -1, .xid = UINT32_MAX,
		.lsn = UINT64_MAX, .commit_lsn = 0, .ordinal = 18446744073709551615ULL,
		.snapshot = "last",
	};
	struct tuple_col v[] = { COL('t', "t") };
	struct tuple *t = tuple_new(1, v);

	(void)state;
	buf_reset(&out);
	json_envelope(&out, 'r', &r, NULL, 0, t, &s, INT64_MIN);
	expect("{\"before\":null,\"after\":{\"we\\\"ird\\n\":true},\"source\":{"
	    "\"version\":\"pgcdc-0.1\",\"connector\":\"postgresql\",\"name\":null,"
	    "\"ts_ms\":946684799999,\"snapshot\":\"last\",\"db\":\"d\\\"b\","
	    "\"sequence\":\"[\\\"0\\\",\\\"18446744073709551615\\\"]\",\"schema\":\"s\\\\\","
	    "\"table\":\"t" R "\",\"txId\":4294967295,\"lsn\":18446744073709551615,"
	    "\"commit_lsn\":0,\"ordinal\":18446744073709551615,\"origin\":null,\"xmin\":null},"
	    "\"op\":\"r\",\"ts_ms\":-9223372036854775808}");
	/* appends: earlier content of the buffer is kept */
	buf_reset(&out);
	buf_puts(&out, "[");
	json_envelope(&out, 't', &customers, NULL, 0, NULL, &src, 1700000000123);
	buf_puts(&out, ",1]");
	assert_true(json_valid(out.data, out.len, NULL));
	tuple_del(t);
}

/* The parts rendered once (column keys per relation, the transaction's
 * part of source) give the same text as rendering all of it, also when
 * the inputs change at the same addresses. */
static void
test_envelope_cached_parts(void **state)
{
	struct tuple_col v[] = { COL('t', "7"), COL('t', "x"), COL('n', ""), COL('t', "b") };
	struct tuple *t = tuple_new(4, v);
	struct rel keyed = customers;
	struct json_src a = src, b = src;
	char name[16] = "inventory", first[4096], again[4096];

	(void)state;
	a.name = name;
	b.xid = src.xid + 1;
	b.commit_lsn = src.commit_lsn + 100;
	buf_reset(&out);
	json_envelope(&out, 'c', &customers, NULL, 0, t, &a, 1);
	snprintf(first, sizeof(first), "%.*s", (int)out.len, (const char *)out.data);
	json_rel_keys(&keyed);
	assert_non_null(keyed.jkeys);
	buf_reset(&out);
	json_envelope(&out, 'c', &keyed, NULL, 0, t, &b, 1);	/* another transaction */
	assert_non_null(strstr((const char *)out.data, "\"txId\":743,"));
	buf_reset(&out);
	json_envelope(&out, 'c', &keyed, NULL, 0, t, &a, 1);	/* back to the first */
	snprintf(again, sizeof(again), "%.*s", (int)out.len, (const char *)out.data);
	assert_string_equal(first, again);
	memcpy(name, "other", 6);				/* same address, new text */
	buf_reset(&out);
	json_envelope(&out, 'c', &keyed, NULL, 0, t, &a, 1);
	assert_non_null(strstr((const char *)out.data, "\"name\":\"other\""));
	free(keyed.jkeys);
	tuple_del(t);
}

/* Random tuples (kinds, values, widths) through the envelope: always valid. */
static void
test_envelope_random(void **state)
{
	static const char *vals[] = {
		"1", "x", "NaN", "{1,2}", "\\x00", "{\"a\":1}", "\xff\"\\", "", "t",
		"2024-01-02 03:04:05+00", "[0:0]={NULL}",
	};
	static const uint32_t oids[] = { 16, 23, 701, 1007, 17, 3802, 25, 1184, 1009 };
	static const char kinds[] = "ntbuX";
	struct tuple_col c[8];
	struct rel_col rc[8];
	struct rel r = { 1, (char *)"s", (char *)"t", 'd', 0, rc, NULL };

	(void)state;
	for (int iter = 0; iter < 2000; iter++) {
		struct tuple *t;

		r.ncols = (uint16_t)rng(9);
		for (size_t i = 0; i < 8; i++) {
			const char *v = vals[rng(NELEM(vals))];

			rc[i] = (struct rel_col){ (char *)"c", oids[rng(NELEM(oids))], -1,
			    (uint8_t)rng(2), 0, 0 };
			c[i] = (struct tuple_col){ kinds[rng(5)], (uint32_t)strlen(v),
			    (const uint8_t *)v };
		}
		t = tuple_new(rng(9), c);
		buf_reset(&out);
		json_envelope(&out, "rcudt"[rng(5)], &r, rng(2) ? t : NULL,
		    "KO"[rng(2)], rng(2) ? t : NULL, &src, 0);
		assert_true(json_valid(out.data, out.len, NULL));
		tuple_del(t);
	}
}

static int
teardown(void **state)
{
	(void)state;
	buf_free(&out);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validator_itself),
		cmocka_unit_test(test_str_escapes),
		cmocka_unit_test(test_str_utf8_valid),
		cmocka_unit_test(test_str_utf8_invalid),
		cmocka_unit_test(test_str_random_bytes),
		cmocka_unit_test(test_str_random_codepoints),
		cmocka_unit_test(test_envelope_ops),
		cmocka_unit_test(test_envelope_unchanged_toast),
		cmocka_unit_test(test_envelope_column_counts),
		cmocka_unit_test(test_envelope_source_fields),
		cmocka_unit_test(test_envelope_cached_parts),
		cmocka_unit_test(test_envelope_random),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
