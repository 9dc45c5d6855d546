/*
 * test_jsonparse: the JSON reader pgcdc watch uses (common/jsonparse.c) on
 * envelopes as the jsonl sink writes them, on every escape and number form,
 * on bad input (refused with the offset, never read past the end: inputs are
 * exact-size heap copies, so ASan sees any overread), and against the
 * independent validator of json_check.h on thousands of random texts.  Then
 * the watch's table state (supervisor/watch_rows.c) rebuilt from envelopes.
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
#include "common/jsonparse.h"
#include "supervisor/watch.h"

static struct jp_doc doc;

/* Parse an exact-size copy of s (n bytes). */
static int
parse_n(const char *s, size_t n)
{
	static char *copy;

	free(copy);
	copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, s, n);
	return jp_parse(&doc, copy, n);
}

static int
parse(const char *s)
{
	return parse_n(s, strlen(s));
}

static void
assert_text(const struct jp_val *v, const char *want)
{
	size_t len;
	const char *t;

	assert_non_null(v);
	t = jp_text(&doc, v, &len);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(t, want, len);
}

static const char envelope[] =
    "{\"before\":null,\"after\":{\"id\":1001,\"first_name\":\"Sally\",\"last_name\":\"Thomas\","
    "\"email\":\"sally.thomas@acme.com\",\"is_test_account\":false,\"tags\":[\"a\",[1,{}]]},"
    "\"source\":{\"version\":\"pgcdc-0.1\",\"connector\":\"postgresql\",\"name\":\"tutorial\","
    "\"ts_ms\":1700000000000,\"snapshot\":\"last\",\"db\":\"postgres\",\"schema\":\"inventory\","
    "\"table\":\"customers\",\"txId\":742,\"lsn\":24023128,\"xmin\":null},"
    "\"op\":\"r\",\"ts_ms\":1700000000123}";

static void
test_envelope(void **state)
{
	static const char *names[] = { "id", "first_name", "last_name", "email",
		"is_test_account", "tags" };
	const struct jp_val *root, *after, *k, *v, *tags;
	size_t i = 0;

	(void)state;
	assert_int_equal(parse(envelope), 0);
	root = jp_root(&doc);
	assert_int_equal(root->type, JP_OBJECT);
	assert_int_equal(root->n, 5);
	assert_int_equal(root->end, doc.nv);
	assert_int_equal(jp_get(&doc, root, "before")->type, JP_NULL);
	assert_text(jp_get(&doc, root, "op"), "r");
	assert_text(jp_get(&doc, jp_get(&doc, root, "source"), "table"), "customers");
	assert_text(jp_get(&doc, jp_get(&doc, root, "source"), "lsn"), "24023128");
	assert_null(jp_get(&doc, root, "missing"));
	assert_null(jp_get(&doc, jp_get(&doc, root, "op"), "x"));	/* not an object */
	after = jp_get(&doc, root, "after");
	assert_int_equal(after->n, 6);
	for (k = jp_first(&doc, after); k; k = jp_next(&doc, after, v), i++) {
		assert_int_equal(k->type, JP_STRING);
		assert_true(jp_streq(&doc, k, names[i]));
		v = jp_next(&doc, after, k);
		assert_non_null(v);
	}
	assert_int_equal(i, 6);
	assert_int_equal(jp_get(&doc, after, "is_test_account")->type, JP_FALSE);
	assert_text(jp_get(&doc, after, "id"), "1001");
	tags = jp_get(&doc, after, "tags");
	assert_text(tags, "[\"a\",[1,{}]]");	/* containers: their JSON text */
	assert_int_equal(tags->n, 2);
	v = jp_next(&doc, tags, jp_first(&doc, tags));
	assert_int_equal(v->type, JP_ARRAY);
	assert_null(jp_next(&doc, tags, v));
	assert_int_equal(jp_next(&doc, v, jp_first(&doc, v))->type, JP_OBJECT);
	assert_null(jp_first(&doc, jp_next(&doc, v, jp_first(&doc, v))));	/* {} */
}

static void
test_strings(void **state)
{
	static const struct { const char *in, *out; size_t outlen; } cases[] = {
		{ "\"\"", "", 0 },
		{ "\"plain\"", "plain", 5 },
		{ "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8 },
		{ "\"\\u00e9\\u20AC\"", "\xc3\xa9\xe2\x82\xac", 5 },
		{ "\"\\ud83d\\ude00!\"", "\xf0\x9f\x98\x80!", 5 },
		{ "\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4 },
		{ "\"a\\u0000b\"", "a\0b", 3 },
		{ "\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"", "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80", 9 },
		{ "\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
		  "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 11 },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct jp_val *v;
		size_t len;
		const char *t;

		assert_int_equal(parse(cases[i].in), 0);
		v = jp_root(&doc);
		assert_int_equal(v->type, JP_STRING);
		t = jp_text(&doc, v, &len);
		assert_int_equal(len, cases[i].outlen);
		assert_memory_equal(t, cases[i].out, len);
		assert_int_equal(t[len], '\0');
		assert_int_equal(v->len, strlen(cases[i].in));
	}
	/* A name with \u0000 is not equal to its prefix. */
	assert_int_equal(parse("{\"a\\u0000\":1,\"a\":2}"), 0);
	assert_text(jp_get(&doc, jp_root(&doc), "a"), "2");
}

static void
test_numbers_and_words(void **state)
{
	static const char *good[] = { "0", "-0", "7", "-12", "1.5", "0.001", "1e9", "1E+9",
		"-2.5e-3", "123456789012345678901234567890", " 42 ", "true", "false", "null" };
	static const char *bad[] = { "01", "-", "+1", ".5", "1.", "1.e5", "1e", "1e+", "0x10",
		"--1", "1-", "tru", "nul", "True", "NaN", "Infinity", "-Infinity", "1 2", "truex" };

	(void)state;
	for (size_t i = 0; i < NELEM(good); i++) {
		assert_int_equal(parse(good[i]), 0);
		assert_null(doc.err);
	}
	assert_int_equal(parse("[-2.5e-3,true]"), 0);
	assert_int_equal(jp_first(&doc, jp_root(&doc))->type, JP_NUMBER);
	assert_text(jp_first(&doc, jp_root(&doc)), "-2.5e-3");
	for (size_t i = 0; i < NELEM(bad); i++) {
		assert_int_equal(parse(bad[i]), -1);
		assert_non_null(doc.err);
		assert_null(jp_root(&doc));
	}
}

static void
test_bad_input(void **state)
{
	static const struct { const char *in; size_t len; size_t off; } cases[] = {
		{ "", 0, 0 },
		{ "   ", 3, 3 },
		{ "{", 1, 1 },
		{ "{\"a\"", 4, 4 },
		{ "{\"a\" 1}", 7, 5 },
		{ "{\"a\":1,}", 8, 7 },
		{ "{,}", 3, 1 },
		{ "{1:2}", 5, 1 },
		{ "[1,]", 4, 3 },
		{ "[1 2]", 5, 3 },
		{ "[", 1, 1 },
		{ "]", 1, 0 },
		{ "\"abc", 4, 4 },
		{ "\"a\nb\"", 5, 2 },
		{ "\"\\x\"", 4, 1 },
		{ "\"\\u12\"", 6, 1 },
		{ "\"\\u12g4\"", 8, 1 },
		{ "\"\\udc00\"", 8, 1 },
		{ "\"x\\ud800\"", 9, 2 },
		{ "\"\\ud800\\u0041\"", 14, 1 },
		{ "\"\\", 2, 1 },
		{ "\"\xc0\x80\"", 4, 1 },
		{ "\"\xed\xa0\x80\"", 5, 1 },
		{ "\"\xf4\x90\x80\x80\"", 6, 1 },
		{ "\"\xe2\x82\"", 4, 1 },
		{ "\"\x80\"", 3, 1 },
		{ "\"\xff\"", 3, 1 },
		{ "{} x", 4, 3 },
		{ "\"a\0\"", 4, 2 },
		{ "[1]\0", 4, 3 },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		if (parse_n(cases[i].in, cases[i].len) != -1 || doc.err_off != cases[i].off)
			fail_msg("case %zu (%s): rc/offset wrong: err %s at %zu, want offset %zu", i,
			    cases[i].in, doc.err ? doc.err : "none", doc.err_off, cases[i].off);
		assert_null(jp_root(&doc));
	}
}

static void
test_depth(void **state)
{
	char *s = malloc(200001);

	(void)state;
	assert_non_null(s);
	memset(s, '[', JP_MAX_DEPTH);
	memset(s + JP_MAX_DEPTH, ']', JP_MAX_DEPTH);
	assert_int_equal(parse_n(s, 2 * JP_MAX_DEPTH), 0);
	assert_int_equal(doc.nv, JP_MAX_DEPTH);
	assert_int_equal(jp_root(&doc)->end, JP_MAX_DEPTH);
	memset(s, '[', JP_MAX_DEPTH + 1);
	memset(s + JP_MAX_DEPTH + 1, ']', JP_MAX_DEPTH + 1);
	assert_int_equal(parse_n(s, 2 * JP_MAX_DEPTH + 2), -1);
	assert_string_equal(doc.err, "nested too deep");
	memset(s, '[', 200000);		/* no stack overflow either */
	assert_int_equal(parse_n(s, 200000), -1);
	memset(s, '{', 100000);
	assert_int_equal(parse_n(s, 100000), -1);
	free(s);
}

/* One doc reused: a big document, then a small one, then a failure. */
static void
test_reuse(void **state)
{
	struct buf big = { 0 };

	(void)state;
	buf_putc(&big, '[');
	for (int i = 0; i < 5000; i++)
		buf_printf(&big, "%s{\"k%d\":\"v\\u00e9%d\"}", i ? "," : "", i, i);
	buf_putc(&big, ']');
	assert_int_equal(parse_n((const char *)big.data, big.len), 0);
	assert_int_equal(jp_root(&doc)->n, 5000);
	assert_int_equal(doc.nv, 1 + 5000 * 3);
	assert_text(jp_get(&doc, &doc.v[doc.v[0].end - 3], "k4999"), "v\xc3\xa9" "4999");
	assert_int_equal(parse("{\"x\":[true]}"), 0);
	assert_int_equal(doc.nv, 4);
	assert_int_equal(jp_get(&doc, jp_root(&doc), "x")->n, 1);
	assert_int_equal(parse("{\"x\":[true]"), -1);
	assert_null(jp_root(&doc));
	assert_int_equal(parse("1"), 0);
	assert_text(jp_root(&doc), "1");
	buf_free(&big);
}

/* Parent/child bookkeeping that any successful parse must satisfy. */
static void
check_tree(uint32_t i, uint32_t end)
{
	while (i < end) {
		const struct jp_val *v = &doc.v[i];
		uint32_t kids = 0, c = i + 1;

		assert_true(v->end > i && v->end <= end);
		assert_true(v->off + v->len <= doc.srclen);
		while (c < v->end) {
			kids++;
			c = doc.v[c].end;
		}
		assert_int_equal(c, v->end);
		if (v->type == JP_OBJECT)
			assert_int_equal(kids, 2 * v->n);
		else if (v->type == JP_ARRAY)
			assert_int_equal(kids, v->n);
		else
			assert_int_equal(kids, 0);
		check_tree(i + 1, v->end);
		i = v->end;
	}
}

/* The decoded strings, in document order, as json_check.h collects them. */
static void
decoded(struct buf *b)
{
	buf_reset(b);
	for (uint32_t i = 0; i < doc.nv; i++)
		if (doc.v[i].type == JP_STRING)
			buf_append(b, doc.str + doc.v[i].str, doc.v[i].slen);
}

static void
differential(const uint8_t *s, size_t n, struct buf *want, struct buf *got)
{
	int ok;

	buf_reset(want);
	ok = parse_n((const char *)s, n) == 0;
	if (ok != json_valid(s, n, want))
		fail_msg("jp_parse %s, the validator disagrees: %.*s", ok ? "accepted" : "refused",
		    (int)n, (const char *)s);
	if (!ok)
		return;
	check_tree(0, doc.nv);
	decoded(got);
	assert_int_equal(got->len, want->len);
	assert_memory_equal(got->data, want->data, got->len);
}

/* Random texts from JSON-ish pieces, and byte mutations of the envelope. */
static void
test_random_against_validator(void **state)
{
	static const char *pieces[] = { "{", "}", "[", "]", ",", ":", "\"", "\"k\"", "\"v\"",
		"1", "-", "0", ".5", "e3", "true", "null", "false", " ", "\\", "\\u", "d83d",
		"\\ude00", "\\n", "\xc3\xa9", "\xe2\x82", "\xff", "\x01", "{\"a\":", "[1,", "\"x\\\"\"" };
	struct buf s = { 0 }, want = { 0 }, got = { 0 };
	size_t n = strlen(envelope);
	int accepted = 0;

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		buf_reset(&s);
		for (uint32_t k = rng(12); k > 0; k--)
			buf_puts(&s, pieces[rng(NELEM(pieces))]);
		differential(s.data, s.len, &want, &got);
		accepted += doc.err == NULL;
	}
	assert_true(accepted > 500);	/* the generator reaches valid texts too */
	for (size_t cut = 0; cut < n; cut++)	/* every proper prefix is refused */
		assert_int_equal(parse_n(envelope, cut), -1);
	for (int iter = 0; iter < 20000; iter++) {
		buf_reset(&s);
		buf_append(&s, envelope, n);
		for (uint32_t k = 1 + rng(3); k > 0; k--)
			s.data[rng((uint32_t)n)] = (uint8_t)rng(256);
		differential(s.data, s.len, &want, &got);
	}
	buf_free(&s);
	buf_free(&want);
	buf_free(&got);
}

/* ---- the watch's table state ---- */

static struct watch_table tab;

static void
apply(const char *line)
{
	assert_int_equal(watch_table_apply(&tab, line, strlen(line)), 0);
}

/* Row i as "col=val col=val" (absent columns left out). */
static const char *
row(size_t i)
{
	static char s[512];
	size_t o = 0;

	assert_true(i < tab.nrows);
	s[0] = '\0';
	for (uint32_t c = 0; c < tab.ncols; c++) {
		const struct watch_cell *x = watch_cell(tab.rows[i], c);

		if (x->kind != WK_ABSENT)
			o += (size_t)snprintf(s + o, sizeof(s) - o, "%s%s=%.*s", o ? " " : "",
			    tab.cols[c], (int)x->len, x->text);
	}
	return s;
}

#define CUST(i, f, l) "{\"id\":" #i ",\"first_name\":\"" f "\",\"last_name\":\"" l "\"}"

static void
test_tutorial_state(void **state)
{
	static const char *key[] = { "id" };

	(void)state;
	watch_table_init(&tab, key, 1);
	apply("{\"before\":null,\"after\":" CUST(1003, "Edward", "Walker") ",\"op\":\"r\"}");
	apply("{\"before\":null,\"after\":" CUST(1001, "Sally", "Thomas") ",\"op\":\"r\"}");
	apply("{\"before\":null,\"after\":" CUST(1007, "Tom", "Baker") ",\"op\":\"r\"}");
	apply("{\"before\":null,\"after\":" CUST(1002, "George", "Bailey") ",\"op\":\"r\"}");
	apply("{\"before\":null,\"after\":" CUST(1008, "Issac", "Fletcher") ",\"op\":\"c\"}");
	apply("{\"before\":null,\"after\":" CUST(1001, "Sally", "Brooks") ",\"op\":\"u\"}");
	apply("{\"before\":null,\"after\":" CUST(1001, "Sally", "Green") ",\"op\":\"u\"}");
	apply("{\"before\":{\"id\":1007},\"after\":null,\"op\":\"d\"}");
	apply("{\"op\":\"m\",\"message\":{\"prefix\":\"p\",\"content\":\"\"}}");
	assert_int_equal(tab.nrows, 4);
	assert_string_equal(row(0), "id=1001 first_name=Sally last_name=Green");
	assert_string_equal(row(1), "id=1002 first_name=George last_name=Bailey");
	assert_string_equal(row(2), "id=1003 first_name=Edward last_name=Walker");
	assert_string_equal(row(3), "id=1008 first_name=Issac last_name=Fletcher");
	/* A key change: before names the old key. */
	apply("{\"before\":{\"id\":1002},\"after\":" CUST(5, "George", "Bailey") ",\"op\":\"u\"}");
	assert_int_equal(tab.nrows, 4);
	assert_string_equal(row(0), "id=5 first_name=George last_name=Bailey");
	assert_string_equal(row(1), "id=1001 first_name=Sally last_name=Green");
	/* Unreadable lines are skipped and counted. */
	assert_int_equal(watch_table_apply(&tab, "{\"op\":\"c\",\"after\":{", 19), -1);
	assert_int_equal(watch_table_apply(&tab, "{\"after\":{}}", 12), -1);
	assert_string_equal(tab.why_bad, "no \"op\"");
	assert_int_equal(watch_table_apply(&tab, "{\"op\":\"d\",\"before\":null}", 24), -1);
	assert_int_equal(watch_table_apply(&tab, "{\"op\":\"c\",\"after\":7}", 20), -1);
	assert_int_equal(watch_table_apply(&tab, "{\"op\":\"x\"}", 10), -1);
	assert_int_equal(tab.bad, 5);
	assert_int_equal(tab.nrows, 4);
	apply("{\"before\":null,\"after\":null,\"op\":\"t\"}");
	assert_int_equal(tab.nrows, 0);
	assert_int_equal(tab.bad, 5);	/* truncate drops rows, not the counters */
	watch_table_free(&tab);
}

static void
test_unchanged_toast(void **state)
{
	static const char *key[] = { "id" };

	(void)state;
	watch_table_init(&tab, key, 1);
	apply("{\"before\":null,\"after\":{\"id\":1,\"big\":\"xxxx\",\"n\":1},\"op\":\"c\"}");
	apply("{\"before\":null,\"after\":{\"id\":1,\"n\":2},\"unchanged\":[\"big\"],\"op\":\"u\"}");
	assert_string_equal(row(0), "id=1 big=xxxx n=2");
	/* ...also when the key changes in the same update. */
	apply("{\"before\":{\"id\":1},\"after\":{\"id\":2,\"n\":3},\"unchanged\":[\"big\"],"
	    "\"op\":\"u\"}");
	assert_int_equal(tab.nrows, 1);
	assert_string_equal(row(0), "id=2 big=xxxx n=3");
	/* Without "unchanged", a column missing from after is gone. */
	apply("{\"before\":null,\"after\":{\"id\":2,\"n\":4},\"op\":\"u\"}");
	assert_string_equal(row(0), "id=2 n=4");
	watch_table_free(&tab);
}

static void
test_whole_row_key(void **state)
{
	(void)state;
	watch_table_init(&tab, NULL, 0);
	apply("{\"after\":{\"a\":1,\"b\":\"x\"},\"op\":\"r\"}");
	apply("{\"after\":{\"a\":1,\"b\":\"x\"},\"op\":\"r\"}");	/* equal rows are one */
	apply("{\"after\":{\"a\":1,\"b\":\"y\"},\"op\":\"c\"}");
	assert_int_equal(tab.nrows, 2);
	apply("{\"before\":{\"a\":1,\"b\":\"x\"},\"after\":{\"a\":2,\"b\":\"x\"},\"op\":\"u\"}");
	assert_string_equal(row(0), "a=1 b=y");
	assert_string_equal(row(1), "a=2 b=x");
	apply("{\"before\":{\"a\":1,\"b\":\"y\"},\"op\":\"d\"}");
	apply("{\"before\":{\"a\":9,\"b\":\"y\"},\"op\":\"d\"}");	/* not there: no-op */
	assert_int_equal(tab.nrows, 1);
	assert_string_equal(row(0), "a=2 b=x");
	watch_table_free(&tab);
}

/* A key the catalog named but the events lack: the whole row takes over,
 * rather than every row merging into one. */
static void
test_missing_key_column(void **state)
{
	static const char *key[] = { "gone" };

	(void)state;
	watch_table_init(&tab, key, 1);
	apply("{\"after\":{\"a\":2},\"op\":\"r\"}");
	apply("{\"after\":{\"a\":1},\"op\":\"r\"}");
	assert_int_equal(tab.nrows, 2);
	assert_int_equal(tab.nkeys, 0);
	assert_string_equal(row(0), "a=1");
	watch_table_free(&tab);
}

static void
test_key_order(void **state)
{
	static const char *key[] = { "k" };
	static const char *in[] = { "100", "9", "-5", "0", "1.5", "2", "1e1", "-0.25",
		"\"10\"", "\"9\"", "\"9.50\"", "\"b\"", "\"a\"", "\"B\"", "null", "true", "false",
		"[1]", "\"-3\"", "99999999999999999999", "-99999999999999999999" };
	static const char *want[] = { "null", "false", "true", "-99999999999999999999", "-5",
		"-0.25", "0", "1.5", "2", "9", "1e1", "100", "99999999999999999999", "-3", "9",
		"9.50", "10", "B", "a", "b", "[1]" };
	char line[128];

	(void)state;
	watch_table_init(&tab, key, 1);
	for (size_t i = 0; i < NELEM(in); i++) {
		snprintf(line, sizeof(line), "{\"after\":{\"k\":%s},\"op\":\"c\"}", in[i]);
		apply(line);
	}
	assert_int_equal(tab.nrows, NELEM(want));
	for (size_t i = 0; i < NELEM(want); i++) {
		const struct watch_cell *c = watch_cell(tab.rows[i], 0);

		if (c->len != strlen(want[i]) || memcmp(c->text, want[i], c->len) != 0)
			fail_msg("row %zu: %.*s, want %s", i, (int)c->len, c->text, want[i]);
	}
	/* Lookups find each of them again: the order is consistent. */
	for (size_t i = 0; i < NELEM(in); i++) {
		snprintf(line, sizeof(line), "{\"before\":{\"k\":%s},\"op\":\"d\"}", in[i]);
		apply(line);
	}
	assert_int_equal(tab.nrows, 0);
	watch_table_free(&tab);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_numbers_and_words),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_random_against_validator),
		cmocka_unit_test(test_tutorial_state),
		cmocka_unit_test(test_unchanged_toast),
		cmocka_unit_test(test_whole_row_key),
		cmocka_unit_test(test_missing_key_column),
		cmocka_unit_test(test_key_order),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	jp_free(&doc);
	return rc;
}
