/*
 * jsonval: one column value, given in PostgreSQL's text output form, as JSON
 * by its type (DESIGN.md section 6).  Invariant: whatever the input bytes,
 * the output is one valid JSON value in UTF-8 without raw newlines; a typed
 * rule that does not fit its input rolls the buffer back and writes the text
 * as a JSON string instead.  Nothing is allocated except buffer growth (array
 * elements with escapes are unescaped into one static scratch buffer, so
 * rendering is not thread-safe).
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/types.h"

enum {
	OID_BOOL = 16, OID_BYTEA = 17, OID_CHAR = 18, OID_NAME = 19, OID_INT8 = 20, OID_INT2 = 21,
	OID_INT4 = 23, OID_TEXT = 25, OID_OID = 26, OID_JSON = 114,
	OID_BPCHAR = 1042, OID_VARCHAR = 1043, OID_DATE = 1082, OID_TIME = 1083,
	OID_INTERVAL = 1186, OID_NUMERIC = 1700, OID_UUID = 2950,
	OID_BOX = 603, OID_FLOAT4 = 700, OID_FLOAT8 = 701,
	OID_TIMESTAMP = 1114, OID_TIMESTAMPTZ = 1184, OID_TIMETZ = 1266,
	OID_JSONB = 3802,
};

#define ARRAY_MAXDIM	6	/* PostgreSQL's MAXDIM */
#define JSON_MAXDEPTH	1024	/* deeper embedded JSON falls back to a string */
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Every built-in array type -> its element type, sorted by array oid, from
 * PostgreSQL 15's catalog (oids below 10000 are fixed by pg_type.dat):
 *   SELECT oid, typelem FROM pg_type WHERE typcategory = 'A' AND oid < 10000
 *   AND typoutput = 'array_out'::regproc ORDER BY oid;
 * int2vector and oidvector are left out: their text form is not an array's.
 * Oids from 10000 on (catalog row types, information_schema, then users')
 * are assigned by initdb or later and differ between installations: their
 * arrays are known from Type messages (types.h).
 */
static const struct { uint32_t array, elem; } array_types[] = {
	{ 143, 142 }, { 199, 114 }, { 210, 71 }, { 270, 75 }, { 271, 5069 }, { 272, 81 },
	{ 273, 83 }, { 629, 628 }, { 651, 650 }, { 719, 718 }, { 775, 774 }, { 791, 790 },
	{ 1000, 16 }, { 1001, 17 }, { 1002, 18 }, { 1003, 19 }, { 1005, 21 }, { 1006, 22 },
	{ 1007, 23 }, { 1008, 24 }, { 1009, 25 }, { 1010, 27 }, { 1011, 28 }, { 1012, 29 },
	{ 1013, 30 }, { 1014, 1042 }, { 1015, 1043 }, { 1016, 20 }, { 1017, 600 }, { 1018, 601 },
	{ 1019, 602 }, { 1020, 603 }, { 1021, 700 }, { 1022, 701 }, { 1027, 604 }, { 1028, 26 },
	{ 1034, 1033 }, { 1040, 829 }, { 1041, 869 }, { 1115, 1114 }, { 1182, 1082 }, { 1183, 1083 },
	{ 1185, 1184 }, { 1187, 1186 }, { 1231, 1700 }, { 1263, 2275 }, { 1270, 1266 }, { 1561, 1560 },
	{ 1563, 1562 }, { 2201, 1790 }, { 2207, 2202 }, { 2208, 2203 }, { 2209, 2204 }, { 2210, 2205 },
	{ 2211, 2206 }, { 2949, 2970 }, { 2951, 2950 }, { 3221, 3220 }, { 3643, 3614 }, { 3644, 3642 },
	{ 3645, 3615 }, { 3735, 3734 }, { 3770, 3769 }, { 3807, 3802 }, { 3905, 3904 }, { 3907, 3906 },
	{ 3909, 3908 }, { 3911, 3910 }, { 3913, 3912 }, { 3927, 3926 }, { 4073, 4072 }, { 4090, 4089 },
	{ 4097, 4096 }, { 4192, 4191 }, { 5039, 5038 }, { 6150, 4451 }, { 6151, 4532 }, { 6152, 4533 },
	{ 6153, 4534 }, { 6155, 4535 }, { 6157, 4536 },
};

static struct buf scratch;

static bool
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static size_t
digits(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = p;

	while (q < end && is_digit(*q))
		q++;
	return (size_t)(q - p);
}

/*
 * Length of the UTF-8 sequence at p (n > 0 bytes left).  *ok false: the
 * returned length is the maximal subpart to replace by one U+FFFD (Unicode
 * 3-8): overlongs, surrogates and > U+10FFFF fail at their second byte.
 */
static size_t
utf8_scan(const uint8_t *p, size_t n, bool *ok)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xBF;
	size_t need;

	*ok = false;
	if (c >= 0xC2 && c <= 0xDF)
		need = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		need = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		need = 4;
	else
		return 1;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	for (size_t i = 1; i < need; i++) {
		if (i >= n || p[i] < lo || p[i] > hi)
			return i;
		lo = 0x80;
		hi = 0xBF;
	}
	*ok = true;
	return need;
}

static void
put_escape(struct buf *b, uint8_t c)
{
	static const char hex[] = "0123456789abcdef";
	char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

	switch (c) {
	case '"':	buf_append(b, "\\\"", 2); break;
	case '\\':	buf_append(b, "\\\\", 2); break;
	case '\b':	buf_append(b, "\\b", 2); break;
	case '\f':	buf_append(b, "\\f", 2); break;
	case '\n':	buf_append(b, "\\n", 2); break;
	case '\r':	buf_append(b, "\\r", 2); break;
	case '\t':	buf_append(b, "\\t", 2); break;
	default:	buf_append(b, u, sizeof(u)); break;
	}
}

/* Bytes a JSON string holds as they are: printable ASCII but " and \. */
static const bool json_plain[256] = {
	[0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x30] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x40] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	[0x60] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x70] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

void
json_str(struct buf *b, const void *s, size_t len)
{
	const uint8_t *p = s != NULL ? s : (const void *)"";
	const uint8_t *end = p + len, *run = p;
	size_t k = 1;
	bool ok;

	buf_reserve(b, len + 2);
	buf_putc(b, '"');
	while (p < end) {
		if (json_plain[*p]) {
			p++;
			continue;
		}
		if (*p >= 0x80) {
			k = utf8_scan(p, (size_t)(end - p), &ok);
			if (ok) {
				p += k;
				continue;
			}
		}
		buf_append(b, run, (size_t)(p - run));
		if (*p < 0x80) {
			put_escape(b, *p);
			k = 1;
		} else
			buf_append(b, "\\ufffd", 6);
		p += k;
		run = p;
	}
	buf_append(b, run, (size_t)(p - run));
	buf_putc(b, '"');
}

/* JSON's number grammar; returns the end of the number or NULL. */
static const uint8_t *
scan_number(const uint8_t *p, const uint8_t *end)
{
	size_t d;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if ((d = digits(p, end)) == 0)
		return NULL;
	else
		p += d;
	if (p < end && *p == '.') {
		if ((d = digits(++p, end)) == 0)
			return NULL;
		p += d;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if ((d = digits(p, end)) == 0)
			return NULL;
		p += d;
	}
	return p;
}

/* Integers and floats as bare numbers; NaN, Infinity, ... do not qualify. */
static int
put_number(struct buf *b, const uint8_t *p, size_t n)
{
	if (scan_number(p, p + n) != p + n)
		return -1;
	buf_append(b, p, n);
	return 0;
}

/* boolout writes t / f; a ::text cast (snapshot queries) writes true / false. */
static int
put_bool(struct buf *b, const uint8_t *p, size_t n)
{
	if ((n == 1 && *p == 't') || (n == 4 && memcmp(p, "true", 4) == 0))
		buf_puts(b, "true");
	else if ((n == 1 && *p == 'f') || (n == 5 && memcmp(p, "false", 5) == 0))
		buf_puts(b, "false");
	else
		return -1;
	return 0;
}

static int
hexval(uint8_t c)
{
	if (is_digit(c))
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* A base64 encoder writing into space reserved beforehand. */
struct b64 {
	uint8_t		*o;
	uint32_t	 acc;
	size_t		 k;	/* bytes in acc */
};

static void
b64_byte(struct b64 *e, uint8_t c)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	e->acc = e->acc << 8 | c;
	if (++e->k < 3)
		return;
	for (int s = 18; s >= 0; s -= 6)
		*e->o++ = (uint8_t)tab[e->acc >> s & 63];
	e->acc = 0;
	e->k = 0;
}

static void
b64_end(struct b64 *e)
{
	size_t k = e->k;

	if (k == 0)
		return;
	for (size_t i = k; i < 3; i++)
		b64_byte(e, 0);
	memset(e->o - (3 - k), '=', 3 - k);	/* the sextets of the zero bytes */
}

/* bytea_output = hex: "\x" then two hex digits per byte. */
static int
unhex(struct b64 *e, const uint8_t *p, const uint8_t *end)
{
	if ((end - p) % 2 != 0)
		return -1;
	for (; p < end; p += 2) {
		int hi = hexval(p[0]), lo = hexval(p[1]);

		if (hi < 0 || lo < 0)
			return -1;
		b64_byte(e, (uint8_t)(hi << 4 | lo));
	}
	return 0;
}

/* bytea_output = escape, as byteaout writes it: printable ASCII as itself,
 * a backslash doubled, every other byte as \ooo. */
static int
unescape(struct b64 *e, const uint8_t *p, const uint8_t *end)
{
	while (p < end) {
		uint8_t c = *p++;

		if (c == '\\' && p < end && *p == '\\')
			p++;
		else if (c == '\\') {
			if (end - p < 3 || p[0] < '0' || p[0] > '3' || p[1] < '0' ||
			    p[1] > '7' || p[2] < '0' || p[2] > '7')
				return -1;
			c = (uint8_t)((p[0] - '0') << 6 | (p[1] - '0') << 3 | (p[2] - '0'));
			p += 3;
		} else if (c < 0x20 || c > 0x7e)
			return -1;
		b64_byte(e, c);
	}
	return 0;
}

/* bytea as a base64 string.  The hex form starts with "\x"; the escape form
 * never does (it doubles a backslash), so the two cannot be confused. */
static int
put_bytea(struct buf *b, const uint8_t *p, size_t n)
{
	bool hex = n >= 2 && p[0] == '\\' && p[1] == 'x';
	size_t nbytes = hex ? (n - 2) / 2 : n;	/* escape: at most one per char */
	struct b64 e = { NULL, 0, 0 };

	buf_reserve(b, (nbytes + 2) / 3 * 4 + 2);
	e.o = b->data + b->len;
	*e.o++ = '"';
	if ((hex ? unhex(&e, p + 2, p + n) : unescape(&e, p, p + n)) < 0)
		return -1;
	b64_end(&e);
	*e.o++ = '"';
	b->len = (size_t)(e.o - b->data);
	return 0;
}

/* pat: 'd' is a digit, anything else itself.  Returns the end or NULL. */
static const uint8_t *
match(const uint8_t *p, const uint8_t *end, const char *pat)
{
	for (; *pat != '\0'; pat++, p++) {
		if (p == end)
			return NULL;
		if (*pat == 'd' ? !is_digit(*p) : *p != (uint8_t)*pat)
			return NULL;
	}
	return p;
}

/* "HH:MM:SS[.f]": its end, or NULL. */
static const uint8_t *
scan_clock(const uint8_t *p, const uint8_t *end)
{
	size_t d;

	if ((p = match(p, end, "dd:dd:dd")) == NULL)
		return NULL;
	if (p < end && *p == '.') {
		if ((d = digits(++p, end)) == 0)
			return NULL;
		p += d;
	}
	return p;
}

/* A UTC offset "+HH[:MM[:SS]]" (or '-'): its end, or NULL. */
static const uint8_t *
scan_offset(const uint8_t *p, const uint8_t *end)
{
	if (p == end || (*p != '+' && *p != '-') || (p = match(p + 1, end, "dd")) == NULL)
		return NULL;
	for (int i = 0; i < 2 && p < end && *p == ':'; i++)
		if ((p = match(p, end, ":dd")) == NULL)
			return NULL;
	return p;
}

/* "+00" (or "+00:00") is UTC: "Z"; "+HH" becomes "+HH:00"; others as is. */
static void
put_offset(struct buf *b, const uint8_t *p, size_t n)
{
	if ((n == 3 || n == 6) && memcmp(p, "+00:00", n) == 0)
		buf_putc(b, 'Z');
	else if (n == 3) {
		buf_append(b, p, n);
		buf_append(b, ":00", 3);
	} else
		buf_append(b, p, n);
}

/*
 * timestamp[tz] as DateStyle ISO writes it, "Y-MM-DD HH:MM:SS[.f][+HH[:MM[:SS]]]
 * [ BC]", with a 'T' for the space and the offset as put_offset writes it.
 * BC and years past 9999 keep PostgreSQL's notation (which it reads back);
 * infinity does not fit and so stays the string "infinity".
 */
static int
put_timestamp(struct buf *b, const uint8_t *p, size_t n, bool tz)
{
	const uint8_t *end = p + n, *date, *off, *q;
	size_t d;

	if ((d = digits(p, end)) == 0 ||
	    (date = match(p + d, end, "-dd-dd ")) == NULL ||
	    (off = scan_clock(date, end)) == NULL)
		return -1;
	if ((q = tz ? scan_offset(off, end) : off) == NULL ||
	    (q != end && match(q, end, " BC") != end))
		return -1;
	buf_putc(b, '"');
	buf_append(b, p, (size_t)(date - 1 - p));
	buf_putc(b, 'T');
	buf_append(b, date, (size_t)(off - date));
	put_offset(b, off, (size_t)(q - off));
	buf_append(b, q, (size_t)(end - q));
	buf_putc(b, '"');
	return 0;
}

/* timetz "HH:MM:SS[.f]+HH[:MM[:SS]]", its offset as for timestamptz. */
static int
put_timetz(struct buf *b, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *off, *q;

	if ((off = scan_clock(p, end)) == NULL || (q = scan_offset(off, end)) != end)
		return -1;
	buf_putc(b, '"');
	buf_append(b, p, (size_t)(off - p));
	put_offset(b, off, (size_t)(q - off));
	buf_putc(b, '"');
	return 0;
}

static const uint8_t *
skip_ws(const uint8_t *p, const uint8_t *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* A strict JSON string starting at p; returns its end or NULL. */
static const uint8_t *
scan_string(const uint8_t *p, const uint8_t *end)
{
	size_t k;
	bool ok;

	if (p == end || *p++ != '"')
		return NULL;
	while (p < end && *p != '"') {
		if (*p < 0x20)
			return NULL;
		if (*p == '\\') {
			if (++p == end)
				return NULL;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (p + i >= end || hexval(p[i]) < 0)
						return NULL;
				p += 4;
			} else if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0')
				return NULL;
			p++;
		} else if (*p >= 0x80) {
			k = utf8_scan(p, (size_t)(end - p), &ok);
			if (!ok)
				return NULL;
			p += k;
		} else
			p++;
	}
	return p < end ? p + 1 : NULL;
}

/* A string, number or literal: copied, or NULL when malformed. */
static const uint8_t *
copy_scalar(struct buf *b, const uint8_t *p, const uint8_t *end)
{
	static const char *lits[] = { "true", "false", "null" };
	const uint8_t *q = NULL;

	if (p == end)
		return NULL;
	if (*p == '"')
		q = scan_string(p, end);
	else if (*p == '-' || is_digit(*p))
		q = scan_number(p, end);
	else
		for (size_t i = 0; i < 3 && q == NULL; i++)
			q = match(p, end, lits[i]);
	if (q != NULL)
		buf_append(b, p, (size_t)(q - p));
	return q;
}

/* An object member's key and colon. */
static const uint8_t *
copy_key(struct buf *b, const uint8_t *p, const uint8_t *end)
{
	p = skip_ws(p, end);
	if (p == end || *p != '"' || (p = copy_scalar(b, p, end)) == NULL)
		return NULL;
	p = skip_ws(p, end);
	if (p == end || *p != ':')
		return NULL;
	buf_putc(b, ':');
	return p + 1;
}

/*
 * Embedded json/jsonb: validated and copied without insignificant
 * whitespace (a json value may hold newlines, which would split a line).
 */
static int
put_json(struct buf *b, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	uint8_t stk[JSON_MAXDEPTH];
	size_t depth = 0;

	for (;;) {
		p = skip_ws(p, end);
		if (p < end && (*p == '{' || *p == '[')) {
			if (depth == JSON_MAXDEPTH)
				return -1;
			stk[depth++] = *p == '{' ? '}' : ']';
			buf_putc(b, (char)*p);
			p = skip_ws(p + 1, end);
			if (p == end || *p != stk[depth - 1]) {
				if (stk[depth - 1] == '}' && (p = copy_key(b, p, end)) == NULL)
					return -1;
				continue;
			}
			buf_putc(b, (char)*p++);
			depth--;
		} else if ((p = copy_scalar(b, p, end)) == NULL)
			return -1;
		/* after a value: close containers, or a comma and the next value */
		for (;;) {
			p = skip_ws(p, end);
			if (depth == 0)
				return p == end ? 0 : -1;
			if (p < end && *p == stk[depth - 1]) {
				buf_putc(b, (char)*p++);
				depth--;
				continue;
			}
			if (p == end || *p != ',')
				return -1;
			buf_putc(b, ',');
			p++;
			if (stk[depth - 1] == '}' && (p = copy_key(b, p, end)) == NULL)
				return -1;
			break;
		}
	}
}

/* PostgreSQL's array text form, being read. */
struct arr {
	const uint8_t	*p;
	const uint8_t	*end;
	uint32_t	 elem;		/* element type: its rule renders elements */
	uint8_t		 delim;		/* the element type's typdelim */
};

static bool
eat(struct arr *a, uint8_t c)
{
	if (a->p == a->end || *a->p != c)
		return false;
	a->p++;
	return true;
}

/* "[lo:hi]..." then '=', written by array_out when a lower bound is not 1. */
static int
skip_dims(struct arr *a)
{
	if (a->p == a->end || *a->p != '[')
		return 0;
	while (eat(a, '[')) {
		for (int i = 0; i < 2; i++) {
			size_t d;

			eat(a, '-');
			if ((d = digits(a->p, a->end)) == 0)
				return -1;
			a->p += d;
			if (!eat(a, i == 0 ? ':' : ']'))
				return -1;
		}
	}
	return eat(a, '=') ? 0 : -1;
}

/* One element, quoted or not, backslash escapes resolved. */
static int
put_elem(struct buf *b, struct arr *a)
{
	bool quoted = eat(a, '"'), esc = false;
	const uint8_t *start = a->p, *stop;

	while (a->p < a->end &&
	    (quoted ? *a->p != '"' : *a->p != a->delim && *a->p != '}')) {
		if (!quoted && (*a->p == '"' || *a->p == '{'))
			return -1;
		if (*a->p == '\\') {
			esc = true;
			if (++a->p == a->end)
				return -1;
		}
		a->p++;
	}
	stop = a->p;
	if (quoted ? !eat(a, '"') : stop == start)
		return -1;
	if (!quoted && !esc && stop - start == 4 &&
	    strncasecmp((const char *)start, "NULL", 4) == 0) {
		buf_puts(b, "null");
		return 0;
	}
	if (!esc) {
		json_value(b, a->elem, start, (size_t)(stop - start));
		return 0;
	}
	buf_reset(&scratch);
	buf_reserve(&scratch, (size_t)(stop - start));
	for (const uint8_t *q = start; q < stop; q++)
		scratch.data[scratch.len++] = *q == '\\' ? *++q : *q;
	json_value(b, a->elem, scratch.data, scratch.len);
	return 0;
}

/* One brace level: sub-arrays or elements, never both (a '{' is not an
 * element, and a sub-array must start with one). */
static int
put_level(struct buf *b, struct arr *a, int depth)
{
	bool nested;

	if (depth > ARRAY_MAXDIM || !eat(a, '{'))
		return -1;
	buf_putc(b, '[');
	if (eat(a, '}')) {
		buf_putc(b, ']');
		return 0;
	}
	nested = a->p < a->end && *a->p == '{';
	for (;;) {
		if ((nested ? put_level(b, a, depth + 1) : put_elem(b, a)) < 0)
			return -1;
		if (eat(a, '}'))
			break;
		if (!eat(a, a->delim))
			return -1;
		buf_putc(b, ',');
	}
	buf_putc(b, ']');
	return 0;
}

/* Elements are rendered by elem's rule; box is the one built-in type whose
 * delimiter is not a comma (its text form holds commas). */
static int
put_array(struct buf *b, uint32_t elem, const uint8_t *p, size_t n)
{
	struct arr a = { p, p + n, elem, elem == OID_BOX ? ';' : ',' };

	if (skip_dims(&a) < 0 || put_level(b, &a, 1) < 0)
		return -1;
	return a.p == a.end ? 0 : -1;
}

/* The element type of a built-in array type, 0 if typoid is none. */
static uint32_t
array_elem(uint32_t typoid)
{
	size_t lo = 0, hi = NELEM(array_types);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (array_types[mid].array < typoid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < NELEM(array_types) && array_types[lo].array == typoid ?
	    array_types[lo].elem : 0;
}

/* The typed rules; -1: no rule for typoid, or the text does not fit it. */
static int
put_typed(struct buf *b, uint32_t typoid, const uint8_t *p, size_t n)
{
	uint32_t elem;

	switch (typoid) {
	case OID_BOOL:
		return put_bool(b, p, n);
	case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID:
	case OID_FLOAT4: case OID_FLOAT8:
		return put_number(b, p, n);
	case OID_JSON: case OID_JSONB:
		return put_json(b, p, n);
	case OID_BYTEA:
		return put_bytea(b, p, n);
	case OID_TIMESTAMP: case OID_TIMESTAMPTZ:
		return put_timestamp(b, p, n, typoid == OID_TIMESTAMPTZ);
	case OID_TIMETZ:
		return put_timetz(b, p, n);
	case OID_CHAR: case OID_NAME: case OID_TEXT: case OID_BPCHAR: case OID_VARCHAR:
	case OID_DATE: case OID_TIME: case OID_INTERVAL: case OID_NUMERIC: case OID_UUID:
		return -1;	/* common scalars shown as text: no array lookup */
	default:
		break;
	}
	if ((elem = array_elem(typoid)) != 0)
		return put_array(b, elem, p, n);
	/* Elements of such arrays are user-defined types, domains, ...: text. */
	if (typoid >= TYPES_FIRST_DESCRIBED && types_is_array(typoid))
		return put_array(b, OID_TEXT, p, n);
	return -1;
}

void
json_value(struct buf *b, uint32_t typoid, const uint8_t *text, size_t len)
{
	size_t mark = b->len;

	if (text == NULL)
		text = (const uint8_t *)"";
	if (put_typed(b, typoid, text, len) < 0) {
		b->len = mark;
		json_str(b, text, len);
	}
}
