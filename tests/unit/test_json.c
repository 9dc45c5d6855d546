/*
 * test_json: exact output of json_str, json_value (every type rule) and
 * json_envelope, and that everything produced is strict JSON in UTF-8: a
 * recursive-descent validator here (written independently of json.c) checks
 * every output, including thousands of random and mutated inputs.
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

#include "common/json.h"

static struct buf out;

/* ---- strict JSON validator (RFC 8259, UTF-8), decoding strings into dec ---- */

struct jp {
	const uint8_t	*p;
	const uint8_t	*end;
	int		 depth;
	struct buf	*dec;	/* decoded contents of strings, or NULL */
};

static bool jp_value(struct jp *j);

static void
put_utf8(struct buf *b, uint32_t cp)
{
	if (b == NULL)
		return;
	if (cp < 0x80) {
		buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		buf_putc(b, (char)(0xC0 | cp >> 6));
		buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		buf_putc(b, (char)(0xE0 | cp >> 12));
		buf_putc(b, (char)(0x80 | (cp >> 6 & 0x3F)));
		buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else {
		buf_putc(b, (char)(0xF0 | cp >> 18));
		buf_putc(b, (char)(0x80 | (cp >> 12 & 0x3F)));
		buf_putc(b, (char)(0x80 | (cp >> 6 & 0x3F)));
		buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	}
}

/* Decode one UTF-8 sequence by its bit patterns; 0 when invalid. */
static size_t
utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t min;

	if (p[0] < 0x80)
		return *cp = p[0], 1;
	if ((p[0] & 0xE0) == 0xC0)
		len = 2, *cp = p[0] & 0x1F, min = 0x80;
	else if ((p[0] & 0xF0) == 0xE0)
		len = 3, *cp = p[0] & 0x0F, min = 0x800;
	else if ((p[0] & 0xF8) == 0xF0)
		len = 4, *cp = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		*cp = *cp << 6 | (p[i] & 0x3F);
	}
	if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
		return 0;
	return len;
}

static bool
utf8_valid(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t k;

	for (size_t i = 0; i < n; i += k)
		if ((k = utf8_decode(p + i, n - i, &cp)) == 0)
			return false;
	return true;
}

static void
jp_ws(struct jp *j)
{
	while (j->p < j->end && strchr(" \t\n\r", *j->p) != NULL && *j->p != '\0')
		j->p++;
}

static bool
jp_hex4(struct jp *j, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++, j->p++) {
		uint8_t c;

		if (j->p == j->end)
			return false;
		c = *j->p;
		if (c >= '0' && c <= '9')
			*v = *v * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			*v = *v * 16 + (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v = *v * 16 + (c - 'A' + 10);
		else
			return false;
	}
	return true;
}

static bool
jp_escape(struct jp *j)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	uint32_t cp, lo;

	if (j->p == j->end)
		return false;
	if (*j->p != 'u') {
		if (*j->p == '\0' || (e = strchr(from, *j->p)) == NULL)
			return false;
		j->p++;
		put_utf8(j->dec, (uint8_t)to[e - from]);
		return true;
	}
	j->p++;
	if (!jp_hex4(j, &cp) || (cp >= 0xDC00 && cp <= 0xDFFF))
		return false;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
			return false;
		j->p += 2;
		if (!jp_hex4(j, &lo) || lo < 0xDC00 || lo > 0xDFFF)
			return false;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	put_utf8(j->dec, cp);
	return true;
}

static bool
jp_string(struct jp *j)
{
	uint32_t cp;
	size_t k;

	j->p++;
	for (;;) {
		if (j->p == j->end || *j->p < 0x20)
			return false;
		if (*j->p == '"') {
			j->p++;
			return true;
		}
		if (*j->p == '\\') {
			j->p++;
			if (!jp_escape(j))
				return false;
			continue;
		}
		if ((k = utf8_decode(j->p, (size_t)(j->end - j->p), &cp)) == 0)
			return false;
		put_utf8(j->dec, cp);
		j->p += k;
	}
}

static bool
jp_digits(struct jp *j)
{
	const uint8_t *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool
jp_number(struct jp *j)
{
	if (*j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!jp_digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!jp_digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!jp_digits(j))
			return false;
	}
	return true;
}

static bool
jp_container(struct jp *j, char close)
{
	j->p++;
	jp_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return true;
	}
	for (;;) {
		jp_ws(j);
		if (close == '}') {
			if (j->p == j->end || *j->p != '"' || !jp_string(j))
				return false;
			jp_ws(j);
			if (j->p == j->end || *j->p++ != ':')
				return false;
		}
		if (!jp_value(j))
			return false;
		jp_ws(j);
		if (j->p == j->end)
			return false;
		if (*j->p == close) {
			j->p++;
			return true;
		}
		if (*j->p++ != ',')
			return false;
	}
}

static bool
jp_lit(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool
jp_value(struct jp *j)
{
	bool ok;

	jp_ws(j);
	if (j->p == j->end || ++j->depth > 2000)
		return false;
	switch (*j->p) {
	case '{':	ok = jp_container(j, '}'); break;
	case '[':	ok = jp_container(j, ']'); break;
	case '"':	ok = jp_string(j); break;
	case 't':	ok = jp_lit(j, "true"); break;
	case 'f':	ok = jp_lit(j, "false"); break;
	case 'n':	ok = jp_lit(j, "null"); break;
	default:	ok = jp_number(j); break;
	}
	j->depth--;
	return ok;
}

/* Whole text is one JSON value; dec (optional) gets the decoded strings. */
static bool
json_valid(const void *s, size_t n, struct buf *dec)
{
	struct jp j = { s, (const uint8_t *)s + n, 0, dec };

	if (!jp_value(&j))
		return false;
	jp_ws(&j);
	return j.p == j.end;
}

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

/* ---- helpers ---- */

static void
expect(const char *want)
{
	assert_true(json_valid(out.data, out.len, NULL));
	buf_putc(&out, '\0');
	out.len--;
	assert_string_equal((const char *)out.data, want);
	assert_int_equal(strlen(want), out.len);
}

static void
check_str_n(const char *in, size_t n, const char *want)
{
	buf_reset(&out);
	json_str(&out, in, n);
	expect(want);
}

static void
check_val_n(uint32_t oid, const char *in, size_t n, const char *want)
{
	buf_reset(&out);
	json_value(&out, oid, (const uint8_t *)in, n);
	expect(want);
}

#define STR(in, want)		check_str_n(in, sizeof(in) - 1, want)
#define VAL(oid, in, want)	check_val_n(oid, in, sizeof(in) - 1, want)
#define NELEM(a)		(sizeof(a) / sizeof((a)[0]))

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

#define R "\\ufffd"

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

/* xorshift64*: fixed seed, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t
rng(uint32_t n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32) % n;
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

/* ---- json_value ---- */

static void
test_bool_and_integers(void **state)
{
	(void)state;
	VAL(16, "t", "true");
	VAL(16, "f", "false");
	VAL(16, "true", "true");
	VAL(16, "false", "false");
	VAL(16, "T", "\"T\"");
	VAL(16, "tr", "\"tr\"");
	VAL(16, "", "\"\"");
	VAL(21, "-32768", "-32768");
	VAL(23, "0", "0");
	VAL(23, "2147483647", "2147483647");
	VAL(20, "-9223372036854775808", "-9223372036854775808");
	VAL(26, "4294967295", "4294967295");
	VAL(23, "007", "\"007\"");
	VAL(23, "12abc", "\"12abc\"");
	VAL(23, "-", "\"-\"");
	VAL(23, "+1", "\"+1\"");
	VAL(20, "", "\"\"");
}

static void
test_floats(void **state)
{
	(void)state;
	VAL(701, "1.5", "1.5");
	VAL(701, "-0", "-0");
	VAL(701, "1e+30", "1e+30");
	VAL(701, "1.2345678901234567e-05", "1.2345678901234567e-05");
	VAL(700, "3.4028235e+38", "3.4028235e+38");
	VAL(701, "NaN", "\"NaN\"");
	VAL(701, "Infinity", "\"Infinity\"");
	VAL(700, "-Infinity", "\"-Infinity\"");
	VAL(701, "1.", "\"1.\"");
	VAL(701, ".5", "\".5\"");
	VAL(701, "1e", "\"1e\"");
}

static void
test_numeric(void **state)
{
	char in[1001], want[1003];

	(void)state;
	VAL(1700, "123.4500", "\"123.4500\"");
	VAL(1700, "-0.000001", "\"-0.000001\"");
	VAL(1700, "NaN", "\"NaN\"");
	VAL(1700, "Infinity", "\"Infinity\"");
	for (int i = 0; i < 1000; i++)
		in[i] = (char)('1' + i % 9);
	in[1000] = '\0';
	snprintf(want, sizeof(want), "\"%s\"", in);
	check_val_n(1700, in, 1000, want);
}

static void
test_json_embedded(void **state)
{
	char deep[2 * 1025 + 1];

	(void)state;
	VAL(3802, "{\"a\": 1, \"b\": [true, null, \"x y\"]}", "{\"a\":1,\"b\":[true,null,\"x y\"]}");
	VAL(114, "{\n  \"a\" : [ 1 ,2 ] ,\r\n\t\"b\":{ }\n}\n", "{\"a\":[1,2],\"b\":{}}");
	VAL(114, " \"str\" ", "\"str\"");
	VAL(114, "-3.5e2", "-3.5e2");
	VAL(3802, "null", "null");
	VAL(3802, "[]", "[]");
	VAL(3802, "[{}, [[]], false]", "[{},[[]],false]");
	VAL(3802, "{\"k\\\"\\u00e9\": \"\\n \\ud83d\\ude00\"}", "{\"k\\\"\\u00e9\":\"\\n \\ud83d\\ude00\"}");
	VAL(3802, "{\"\xc3\xa9\": \"\xf0\x9f\x98\x80\"}", "{\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}");
	/* not JSON after all: the text as a string */
	VAL(114, "{\"a\":}", "\"{\\\"a\\\":}\"");
	VAL(114, "{\"a\" 1}", "\"{\\\"a\\\" 1}\"");
	VAL(114, "[1,]", "\"[1,]\"");
	VAL(114, "tru", "\"tru\"");
	VAL(114, "{\"a\":1}x", "\"{\\\"a\\\":1}x\"");
	VAL(114, "{\"a\":1", "\"{\\\"a\\\":1\"");
	VAL(114, "[1 2]", "\"[1 2]\"");
	VAL(114, "{1:2}", "\"{1:2}\"");
	VAL(114, "\"a\nb\"", "\"\\\"a\\nb\\\"\"");
	VAL(114, "\"a\x1f\"", "\"\\\"a\\u001f\\\"\"");
	VAL(114, "\"\\x\"", "\"\\\"\\\\x\\\"\"");
	VAL(114, "\"\xff\"", "\"\\\"" R "\\\"\"");
	VAL(114, "01", "\"01\"");
	VAL(114, "", "\"\"");
	VAL(114, "\x01\x02\x03\x04", "\"\\u0001\\u0002\\u0003\\u0004\"");	/* binary jsonb */
	/* nesting: 1024 levels embed, 1025 fall back to a string */
	memset(deep, '[', 1024);
	memset(deep + 1024, ']', 1024);
	deep[2048] = '\0';
	check_val_n(3802, deep, 2048, deep);
	memset(deep, '[', 1025);
	memset(deep + 1025, ']', 1025);
	buf_reset(&out);
	json_value(&out, 3802, (const uint8_t *)deep, 2050);
	assert_true(json_valid(out.data, out.len, NULL));
	assert_int_equal(out.data[0], '"');
	assert_int_equal(out.len, 2052);
}

static void
test_bytea(void **state)
{
	(void)state;
	VAL(17, "\\x", "\"\"");
	VAL(17, "\\x00", "\"AA==\"");
	VAL(17, "\\x0001", "\"AAE=\"");
	VAL(17, "\\x000102", "\"AAEC\"");
	VAL(17, "\\x666f6f626172", "\"Zm9vYmFy\"");
	VAL(17, "\\x666f6f6261", "\"Zm9vYmE=\"");
	VAL(17, "\\xdeadbeef", "\"3q2+7w==\"");
	VAL(17, "\\xDEADBEEF", "\"3q2+7w==\"");
	VAL(17, "\\xfbff", "\"+/8=\"");
	VAL(17, "\\x0", "\"\\\\x0\"");
	VAL(17, "\\x0g", "\"\\\\x0g\"");
	VAL(17, "abc\\000", "\"abc\\\\000\"");
	VAL(17, "\\000", "\"\\\\000\"");		/* escape format, even length */
	VAL(17, "abcd", "\"abcd\"");
	VAL(17, "\\X00", "\"\\\\X00\"");
	VAL(17, "", "\"\"");
}

static void
test_dates_and_times(void **state)
{
	(void)state;
	VAL(1082, "2024-01-02", "\"2024-01-02\"");
	VAL(1082, "0044-03-15 BC", "\"0044-03-15 BC\"");
	VAL(1082, "infinity", "\"infinity\"");
	VAL(1114, "2024-01-02 03:04:05.123456", "\"2024-01-02T03:04:05.123456\"");
	VAL(1114, "2024-01-02 03:04:05", "\"2024-01-02T03:04:05\"");
	VAL(1114, "0044-03-15 12:00:00 BC", "\"0044-03-15T12:00:00 BC\"");
	VAL(1114, "10000-01-01 00:00:00", "\"10000-01-01T00:00:00\"");
	VAL(1114, "infinity", "\"infinity\"");
	VAL(1114, "-infinity", "\"-infinity\"");
	VAL(1114, "2024-01-02 3:04:05", "\"2024-01-02 3:04:05\"");
	VAL(1114, "2024-01-02 03:04:05.", "\"2024-01-02 03:04:05.\"");
	VAL(1114, "2024-01-02 03:04:05+00", "\"2024-01-02 03:04:05+00\"");
	VAL(1184, "2024-01-02 03:04:05.12+00", "\"2024-01-02T03:04:05.12Z\"");
	VAL(1184, "2024-01-02 03:04:05+00", "\"2024-01-02T03:04:05Z\"");
	VAL(1184, "2024-01-02 03:04:05.999999+00", "\"2024-01-02T03:04:05.999999Z\"");
	VAL(1184, "2024-01-02 03:04:05+05:30", "\"2024-01-02T03:04:05+05:30\"");
	VAL(1184, "2024-01-02 03:04:05-03", "\"2024-01-02T03:04:05-03:00\"");
	VAL(1184, "2024-01-02 03:04:05+00:00", "\"2024-01-02T03:04:05Z\"");
	VAL(1184, "1900-01-01 00:00:00+00:53:28", "\"1900-01-01T00:00:00+00:53:28\"");
	VAL(1184, "0044-03-15 12:00:00+00 BC", "\"0044-03-15T12:00:00Z BC\"");
	VAL(1184, "infinity", "\"infinity\"");
	VAL(1184, "-infinity", "\"-infinity\"");
	VAL(1184, "2024-01-02 03:04:05", "\"2024-01-02 03:04:05\"");
	VAL(1184, "2024-01-02 03:04:05+0", "\"2024-01-02 03:04:05+0\"");
	VAL(1184, "2024-01-02 03:04:05+00 AD", "\"2024-01-02 03:04:05+00 AD\"");
	VAL(1083, "03:04:05.5", "\"03:04:05.5\"");
	VAL(1266, "03:04:05+00", "\"03:04:05+00\"");
}

static void
test_text_like(void **state)
{
	(void)state;
	VAL(25, "say \"hi\"\n", "\"say \\\"hi\\\"\\n\"");
	VAL(1043, "x", "\"x\"");
	VAL(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
	VAL(869, "192.168.0.1/24", "\"192.168.0.1/24\"");
	VAL(1186, "1 day 02:00:00", "\"1 day 02:00:00\"");
	VAL(790, "$1,000.00", "\"$1,000.00\"");
	VAL(142, "<a>&amp;</a>", "\"<a>&amp;</a>\"");
	VAL(999999, "42", "\"42\"");
	buf_reset(&out);
	json_value(&out, 25, NULL, 0);
	expect("\"\"");
}

static void
test_arrays(void **state)
{
	(void)state;
	VAL(1007, "{1,2,3}", "[1,2,3]");
	VAL(1007, "{}", "[]");
	VAL(1007, "{{1,2},{3,4}}", "[[1,2],[3,4]]");
	VAL(1007, "{{{1}},{{2}}}", "[[[1]],[[2]]]");
	VAL(1007, "{1,NULL,3}", "[1,null,3]");
	VAL(1007, "[0:1]={1,2}", "[1,2]");
	VAL(1007, "[1:2][-1:0]={{1,2},{3,4}}", "[[1,2],[3,4]]");
	VAL(1007, "{1,x}", "[1,\"x\"]");
	VAL(1005, "{-1,32767}", "[-1,32767]");
	VAL(1016, "{-9223372036854775808}", "[-9223372036854775808]");
	VAL(1028, "{1,4294967295}", "[1,4294967295]");
	VAL(1000, "{t,f,NULL}", "[true,false,null]");
	VAL(1009, "{a,b,\"c d\",NULL,\"NULL\",\"\",null}", "[\"a\",\"b\",\"c d\",null,\"NULL\",\"\",null]");
	VAL(1009, "{\"a\\\"b\",\"c\\\\d\",\"{x}\",\"x,y\"}", "[\"a\\\"b\",\"c\\\\d\",\"{x}\",\"x,y\"]");
	VAL(1009, "{a\\,b}", "[\"a,b\"]");
	VAL(1009, "{\"\xc3\xa9\n\",\xff}", "[\"\xc3\xa9\\n\",\"" R "\"]");
	VAL(1015, "{x,\"y z\"}", "[\"x\",\"y z\"]");
	VAL(1014, "{\"ab  \",c}", "[\"ab  \",\"c\"]");
	VAL(1021, "{1.5,NaN,-Infinity}", "[1.5,\"NaN\",\"-Infinity\"]");
	VAL(1022, "{Infinity,1e+30,-0}", "[\"Infinity\",1e+30,-0]");
	VAL(1231, "{1.50,NaN}", "[\"1.50\",\"NaN\"]");
	VAL(199, "{\"{\\\"a\\\": 1}\",\"[1, 2]\",NULL}", "[{\"a\":1},[1,2],null]");
	VAL(3807, "{\"{\\\"s\\\": \\\"q\\\\\\\\\\\\\\\"\\\"}\",3}", "[{\"s\":\"q\\\\\\\"\"},3]");
	VAL(1182, "{2024-01-02,\"0044-03-15 BC\",infinity}", "[\"2024-01-02\",\"0044-03-15 BC\",\"infinity\"]");
	VAL(1115, "{\"2024-01-02 03:04:05.5\"}", "[\"2024-01-02T03:04:05.5\"]");
	VAL(1185, "{\"2024-01-02 03:04:05+00\",\"2024-01-02 03:04:05.5+00\",infinity}",
	    "[\"2024-01-02T03:04:05Z\",\"2024-01-02T03:04:05.5Z\",\"infinity\"]");
	VAL(2951, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "[\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"]");
	VAL(1001, "{\"\\\\x0102\",\"\\\\x\"}", "[\"AQI=\",\"\"]");
}

static void
test_arrays_malformed(void **state)
{
	static const char *bad[] = {
		"", "1,2", "{1,2", "{1,,2}", "{,1}", "{1,}", "{1}x", "{\"a}", "{\"a\"b}",
		"{{1},2}", "{1,{2}}", "{{1},{2}", "[0:1]{1}", "[0:1={1}", "[a:1]={1}",
		"{a\\", "{a\"b}", "{a{b}", "{{{{{{{1}}}}}}}", "}", "{}{}",
	};

	(void)state;
	for (size_t i = 0; i < NELEM(bad); i++) {
		char want[64], *w = want;

		*w++ = '"';
		for (const char *c = bad[i]; *c != '\0'; c++) {
			if (*c == '"' || *c == '\\')	/* as json_str escapes them */
				*w++ = '\\';
			*w++ = *c;
		}
		*w++ = '"';
		*w = '\0';
		check_val_n(1007, bad[i], strlen(bad[i]), want);
	}
	/* six dimensions are the most PostgreSQL writes */
	VAL(1007, "{{{{{{1}}}}}}", "[[[[[[1]]]]]]");
}

/* Random mutations of each rule's inputs: output stays valid JSON. */
static void
test_value_mutations(void **state)
{
	static const struct { uint32_t oid; const char *text; } seeds[] = {
		{ 16, "t" }, { 23, "-123" }, { 701, "1.5e+30" }, { 1700, "1.5" },
		{ 114, "{\"a\": [1, \"x\\\"y\", {\"b\": null}]}" }, { 17, "\\x0a0b0c" },
		{ 1114, "2024-01-02 03:04:05.5" }, { 1184, "2024-01-02 03:04:05+05:30 BC" },
		{ 1007, "[0:1]={{1,2},{3,NULL}}" }, { 1009, "{a,\"b \\\" c\",NULL}" },
		{ 199, "{\"{\\\"a\\\": 1}\",NULL}" }, { 1185, "{\"2024-01-02 03:04:05+00\"}" },
		{ 1001, "{\"\\\\x0102\"}" }, { 25, "text" },
	};
	static const char hot[] = "{}[]\",\\:=-+.eE0129 NULLtfx\n\x80\xc3\xff";
	uint8_t in[64];

	(void)state;
	for (int iter = 0; iter < 6000; iter++) {
		size_t s = rng(NELEM(seeds)), n = strlen(seeds[s].text);

		memcpy(in, seeds[s].text, n);
		for (uint32_t m = rng(4); m > 0; m--) {
			size_t at = n ? rng((uint32_t)n) : 0;
			uint8_t c = rng(2) ? (uint8_t)hot[rng(sizeof(hot) - 1)] : (uint8_t)rng(256);

			if (rng(3) == 0 && n > 0) {
				memmove(in + at, in + at + 1, n - at - 1);
				n--;
			} else if (rng(2) == 0 && n < sizeof(in)) {
				memmove(in + at + 1, in + at, n - at);
				in[at] = c;
				n++;
			} else if (n > 0)
				in[at] = c;
		}
		buf_reset(&out);
		json_value(&out, seeds[s].oid, in, n);
		assert_true(json_valid(out.data, out.len, NULL));
		assert_null(memchr(out.data, '\n', out.len));
	}
}

/* ---- json_envelope ---- */

static struct rel_col cols[] = {
	{ (char *)"id", 23, -1, REL_COL_KEY },
	{ (char *)"first_name", 25, -1, 0 },
	{ (char *)"doc", 3802, -1, 0 },
	{ (char *)"bio", 25, -1, 0 },
};
static struct rel customers = {
	16384, (char *)"inventory", (char *)"customers", 'd', 4, cols,
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
	"\"lsn\":24023128,\"commit_lsn\":24023200,\"ordinal\":1,\"xmin\":null}," \
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
	struct rel_col odd[] = { { (char *)"we\"ird\n", 16, -1, REL_COL_KEY } };
	struct rel r = { 1, (char *)"s\\", (char *)"t\xff", 'f', 1, odd };
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
	    "\"commit_lsn\":0,\"ordinal\":18446744073709551615,\"xmin\":null},"
	    "\"op\":\"r\",\"ts_ms\":-9223372036854775808}");
	/* appends: earlier content of the buffer is kept */
	buf_reset(&out);
	buf_puts(&out, "[");
	json_envelope(&out, 't', &customers, NULL, 0, NULL, &src, 1700000000123);
	buf_puts(&out, ",1]");
	assert_true(json_valid(out.data, out.len, NULL));
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
	struct rel r = { 1, (char *)"s", (char *)"t", 'd', 0, rc };

	(void)state;
	for (int iter = 0; iter < 2000; iter++) {
		struct tuple *t;

		r.ncols = (uint16_t)rng(9);
		for (size_t i = 0; i < 8; i++) {
			const char *v = vals[rng(NELEM(vals))];

			rc[i] = (struct rel_col){ (char *)"c", oids[rng(NELEM(oids))], -1,
			    (uint8_t)rng(2) };
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
		cmocka_unit_test(test_bool_and_integers),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_numeric),
		cmocka_unit_test(test_json_embedded),
		cmocka_unit_test(test_bytea),
		cmocka_unit_test(test_dates_and_times),
		cmocka_unit_test(test_text_like),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_arrays_malformed),
		cmocka_unit_test(test_value_mutations),
		cmocka_unit_test(test_envelope_ops),
		cmocka_unit_test(test_envelope_unchanged_toast),
		cmocka_unit_test(test_envelope_column_counts),
		cmocka_unit_test(test_envelope_source_fields),
		cmocka_unit_test(test_envelope_random),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
