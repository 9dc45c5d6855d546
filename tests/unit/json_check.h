/*
 * json_check: what the JSON unit tests share (included by test_json.c and
 * test_json_types.c): a strict RFC 8259 validator written independently of
 * common/json*.c, the output buffer and exact-output checks, a seeded rng.
 * Static definitions: each test binary has its own copy.  Include it after
 * cmocka.h (and the headers cmocka.h needs).
 */
#ifndef PGCDC_TEST_JSON_CHECK_H
#define PGCDC_TEST_JSON_CHECK_H

#include "common/json.h"

#define UNUSED __attribute__((unused))
#define R "\\ufffd"	/* U+FFFD as json_str escapes it */

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

static UNUSED bool
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

static UNUSED void
check_str_n(const char *in, size_t n, const char *want)
{
	buf_reset(&out);
	json_str(&out, in, n);
	expect(want);
}

static UNUSED void
check_val_n(uint32_t oid, const char *in, size_t n, const char *want)
{
	buf_reset(&out);
	json_value(&out, oid, (const uint8_t *)in, n);
	expect(want);
}

#define STR(in, want)		check_str_n(in, sizeof(in) - 1, want)
#define VAL(oid, in, want)	check_val_n(oid, in, sizeof(in) - 1, want)
#define NELEM(a)		(sizeof(a) / sizeof((a)[0]))

/* xorshift64*: fixed seed, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static UNUSED uint32_t
rng(uint32_t n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32) % n;
}

#endif
