/*
 * json: Debezium envelopes rendered straight into the caller's buffer.
 * Invariant: whatever the input bytes, the output is one valid JSON value in
 * UTF-8 without raw newlines; a typed rule that does not fit its input rolls
 * the buffer back and writes the text as a JSON string instead.  Nothing is
 * allocated except buffer growth (array elements with escapes are unescaped
 * into one static scratch buffer, so rendering is not thread-safe).
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"

enum {
	OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21,
	OID_INT4 = 23, OID_TEXT = 25, OID_OID = 26, OID_JSON = 114,
	OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_BPCHAR = 1042,
	OID_VARCHAR = 1043, OID_DATE = 1082, OID_TIME = 1083,
	OID_TIMESTAMP = 1114, OID_TIMESTAMPTZ = 1184, OID_INTERVAL = 1186,
	OID_TIMETZ = 1266, OID_NUMERIC = 1700, OID_UUID = 2950,
	OID_JSONB = 3802,
};

#define ARRAY_MAXDIM	6	/* PostgreSQL's MAXDIM */
#define JSON_MAXDEPTH	1024	/* deeper embedded JSON falls back to a string */
#define UNIX_PG_EPOCH_MS 946684800000LL	/* 2000-01-01 in Unix ms */

/* Array type -> element type, for the arrays rendered as JSON arrays. */
static const struct { uint32_t array, elem; } array_types[] = {
	{ 1000, OID_BOOL }, { 1005, OID_INT2 }, { 1007, OID_INT4 },
	{ 1016, OID_INT8 }, { 1009, OID_TEXT }, { 1015, OID_VARCHAR },
	{ 1021, OID_FLOAT4 }, { 1022, OID_FLOAT8 }, { 1231, OID_NUMERIC },
	{ 1028, OID_OID }, { 199, OID_JSON }, { 3807, OID_JSONB },
	{ 1182, OID_DATE }, { 1115, OID_TIMESTAMP }, { 1185, OID_TIMESTAMPTZ },
	{ 2951, OID_UUID }, { 1014, OID_BPCHAR }, { 1001, OID_BYTEA },
	{ 1183, OID_TIME }, { 1270, OID_TIMETZ }, { 1187, OID_INTERVAL },
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
		if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
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

/* bytea in hex form ("\x0a0b") as a base64 string. */
static int
put_bytea(struct buf *b, const uint8_t *p, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	size_t nbytes, k = 0;
	uint8_t *o;

	if (n < 2 || p[0] != '\\' || p[1] != 'x' || n % 2 != 0)
		return -1;
	nbytes = (n - 2) / 2;
	buf_reserve(b, (nbytes + 2) / 3 * 4 + 2);
	o = b->data + b->len;
	*o++ = '"';
	for (const uint8_t *h = p + 2; h < p + n; h += 2) {
		int hi = hexval(h[0]), lo = hexval(h[1]);

		if (hi < 0 || lo < 0)
			return -1;
		acc = acc << 8 | (uint32_t)(hi << 4 | lo);
		if (++k < 3)
			continue;
		for (int s = 18; s >= 0; s -= 6)
			*o++ = (uint8_t)b64[acc >> s & 63];
		acc = 0;
		k = 0;
	}
	if (k > 0) {
		acc <<= 8 * (3 - k);
		for (size_t i = 0; i < 4; i++)
			*o++ = i <= k ? (uint8_t)b64[acc >> (18 - 6 * i) & 63] : '=';
	}
	*o++ = '"';
	b->len = (size_t)(o - b->data);
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
 * ISO-style timestamp[tz] "Y-MM-DD HH:MM:SS[.f][+HH[:MM[:SS]]][ BC]" with a
 * 'T' for the space; anything else (infinity) is not for this rule.
 */
static int
put_timestamp(struct buf *b, const uint8_t *p, size_t n, bool tz)
{
	const uint8_t *end = p + n, *date, *off, *q;
	size_t d;

	if ((d = digits(p, end)) == 0 ||
	    (date = match(p + d, end, "-dd-dd")) == NULL ||
	    (q = match(date, end, " dd:dd:dd")) == NULL)
		return -1;
	if (q < end && *q == '.') {
		if ((d = digits(++q, end)) == 0)
			return -1;
		q += d;
	}
	off = q;
	if (tz) {
		if (q == end || (*q != '+' && *q != '-') ||
		    (q = match(q + 1, end, "dd")) == NULL)
			return -1;
		for (int i = 0; i < 2 && q < end && *q == ':'; i++)
			if ((q = match(q, end, ":dd")) == NULL)
				return -1;
	}
	if (q != end && match(q, end, " BC") != end)
		return -1;
	buf_putc(b, '"');
	buf_append(b, p, (size_t)(date - p));
	buf_putc(b, 'T');
	buf_append(b, date + 1, (size_t)(off - date - 1));
	put_offset(b, off, (size_t)(q - off));
	buf_append(b, q, (size_t)(end - q));
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
	uint32_t	 elem;
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
	    (quoted ? *a->p != '"' : *a->p != ',' && *a->p != '}')) {
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
		if (!eat(a, ','))
			return -1;
		buf_putc(b, ',');
	}
	buf_putc(b, ']');
	return 0;
}

static int
put_array(struct buf *b, uint32_t elem, const uint8_t *p, size_t n)
{
	struct arr a = { p, p + n, elem };

	if (skip_dims(&a) < 0 || put_level(b, &a, 1) < 0)
		return -1;
	return a.p == a.end ? 0 : -1;
}

static uint32_t
array_elem(uint32_t typoid)
{
	for (size_t i = 0; i < sizeof(array_types) / sizeof(array_types[0]); i++)
		if (array_types[i].array == typoid)
			return array_types[i].elem;
	return 0;
}

void
json_value(struct buf *b, uint32_t typoid, const uint8_t *text, size_t len)
{
	size_t mark = b->len;
	uint32_t elem;
	int rc = -1;

	if (text == NULL)
		text = (const uint8_t *)"";
	switch (typoid) {
	case OID_BOOL:
		rc = put_bool(b, text, len);
		break;
	case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID:
	case OID_FLOAT4: case OID_FLOAT8:
		rc = put_number(b, text, len);
		break;
	case OID_JSON: case OID_JSONB:
		rc = put_json(b, text, len);
		break;
	case OID_BYTEA:
		rc = put_bytea(b, text, len);
		break;
	case OID_TIMESTAMP: case OID_TIMESTAMPTZ:
		rc = put_timestamp(b, text, len, typoid == OID_TIMESTAMPTZ);
		break;
	default:
		if ((elem = array_elem(typoid)) != 0)
			rc = put_array(b, elem, text, len);
		break;
	}
	if (rc < 0) {
		b->len = mark;
		json_str(b, text, len);
	}
}

static void
put_u64(struct buf *b, uint64_t v)
{
	char d[20];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	buf_append(b, d + i, sizeof(d) - i);
}

static void
put_i64(struct buf *b, int64_t v)
{
	if (v < 0)
		buf_putc(b, '-');
	put_u64(b, v < 0 ? -(uint64_t)v : (uint64_t)v);
}

static void
put_cstr(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_puts(b, "null");
	else
		json_str(b, s, strlen(s));
}

static size_t
ncols(const struct rel *rel, const struct tuple *t)
{
	if (rel == NULL || t == NULL)
		return 0;
	return rel->ncols < t->ncols ? rel->ncols : t->ncols;
}

/* {"col":value,...}; unchanged-TOAST columns are left out. */
static void
put_row(struct buf *b, const struct rel *rel, const struct tuple *t, bool keys_only)
{
	size_t n = ncols(rel, t);
	bool first = true;

	if (t == NULL) {
		buf_puts(b, "null");
		return;
	}
	buf_putc(b, '{');
	for (size_t i = 0; i < n; i++) {
		const struct rel_col *c = &rel->cols[i];
		const struct tuple_col *v = &t->cols[i];

		if (v->kind == 'u' || (keys_only && !(c->flags & REL_COL_KEY)))
			continue;
		if (!first)
			buf_putc(b, ',');
		first = false;
		put_cstr(b, c->name != NULL ? c->name : "");
		buf_putc(b, ':');
		if (v->kind == 't' || v->kind == 'b')
			json_value(b, c->typoid, v->data, v->len);
		else
			buf_puts(b, "null");
	}
	buf_putc(b, '}');
}

static void
put_unchanged(struct buf *b, const struct rel *rel, const struct tuple *t)
{
	size_t n = ncols(rel, t);
	bool first = true;

	for (size_t i = 0; i < n; i++) {
		if (t->cols[i].kind != 'u')
			continue;
		buf_puts(b, first ? ",\"unchanged\":[" : ",");
		first = false;
		put_cstr(b, rel->cols[i].name != NULL ? rel->cols[i].name : "");
	}
	if (!first)
		buf_putc(b, ']');
}

/* A member after the first: ,"key":value */
static void
put_key(struct buf *b, const char *key)
{
	buf_puts(b, ",\"");
	buf_puts(b, key);
	buf_puts(b, "\":");
}

static void
put_key_u64(struct buf *b, const char *key, uint64_t v)
{
	put_key(b, key);
	put_u64(b, v);
}

static void
put_key_str(struct buf *b, const char *key, const char *s)
{
	put_key(b, key);
	put_cstr(b, s);
}

static void
put_source(struct buf *b, const struct rel *rel, const struct json_src *src)
{
	int64_t ms = src->commit_ts / 1000 - (src->commit_ts % 1000 < 0);

	buf_puts(b, ",\"source\":{\"version\":\"" JSON_VERSION
	    "\",\"connector\":\"postgresql\"");
	put_key_str(b, "name", src->name);
	put_key(b, "ts_ms");
	put_i64(b, ms + UNIX_PG_EPOCH_MS);
	put_key_str(b, "snapshot", src->snapshot);
	put_key_str(b, "db", src->db);
	/* Debezium's sequence: a string holding ["commit lsn","lsn"] */
	put_key(b, "sequence");
	buf_puts(b, "\"[\\\"");
	put_u64(b, src->commit_lsn);
	buf_puts(b, "\\\",\\\"");
	put_u64(b, src->lsn);
	buf_puts(b, "\\\"]\"");
	put_key_str(b, "schema", rel != NULL ? rel->schema : NULL);
	put_key_str(b, "table", rel != NULL ? rel->table : NULL);
	put_key_u64(b, "txId", src->xid);
	put_key_u64(b, "lsn", src->lsn);
	put_key_u64(b, "commit_lsn", src->commit_lsn);
	put_key_u64(b, "ordinal", src->ordinal);
	buf_puts(b, ",\"xmin\":null}");
}

void
json_envelope(struct buf *b, char op, const struct rel *rel,
    const struct tuple *before, char before_kind, const struct tuple *after,
    const struct json_src *src, int64_t now_ms)
{
	static const struct json_src none;

	buf_puts(b, "{\"before\":");
	put_row(b, rel, before, before_kind == 'K');
	buf_puts(b, ",\"after\":");
	put_row(b, rel, after, false);
	put_source(b, rel, src != NULL ? src : &none);
	put_key(b, "op");
	json_str(b, &op, 1);
	put_key(b, "ts_ms");
	put_i64(b, now_ms);
	put_unchanged(b, rel, after);
	buf_putc(b, '}');
}
