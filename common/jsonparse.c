/*
 * jsonparse: recursive descent over the input with an explicit depth limit;
 * every byte is read at index i < n only.  Strings decode into d->str, which
 * is sized once per document to the input length + 1 (a decoded string with
 * its NUL never outgrows its quoted source), so decoding cannot overrun it.
 * Out of memory is fatal, as for struct buf: it is not an input error.
 */
#include <stdlib.h>
#include <string.h>

#include "common/jsonparse.h"
#include "common/log.h"

struct jp {
	struct jp_doc	*d;
	const uint8_t	*s;
	size_t		 n, i;
	int		 depth;
};

static int parse_value(struct jp *p);

static int
fail(struct jp *p, const char *what)
{
	if (p->d->err == NULL) {
		p->d->err = what;
		p->d->err_off = p->i;
	}
	return -1;
}

static void
skip_ws(struct jp *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	    p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

/* Append a value of type t starting at the current offset; its index. */
static uint32_t
new_val(struct jp *p, enum jp_type t)
{
	struct jp_doc *d = p->d;

	if (d->nv == d->capv) {
		uint32_t cap = d->capv ? d->capv * 2 : 64;

		if ((d->v = realloc(d->v, (size_t)cap * sizeof(*d->v))) == NULL)
			fatal(1, "%s: out of memory", __func__);
		d->capv = cap;
	}
	memset(&d->v[d->nv], 0, sizeof(d->v[0]));
	d->v[d->nv].type = t;
	d->v[d->nv].off = (uint32_t)p->i;
	return d->nv++;
}

static int
is_digit(struct jp *p)
{
	return p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9';
}

static int
parse_number(struct jp *p)
{
	new_val(p, JP_NUMBER);
	if (p->s[p->i] == '-')
		p->i++;
	if (p->i < p->n && p->s[p->i] == '0')
		p->i++;		/* no leading zeros */
	else if (!is_digit(p))
		return fail(p, "bad number");
	else
		while (is_digit(p))
			p->i++;
	if (p->i < p->n && p->s[p->i] == '.') {
		p->i++;
		if (!is_digit(p))
			return fail(p, "bad number: no digit after '.'");
		while (is_digit(p))
			p->i++;
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (!is_digit(p))
			return fail(p, "bad number: no digit in the exponent");
		while (is_digit(p))
			p->i++;
	}
	return 0;
}

static int
parse_literal(struct jp *p, const char *word, enum jp_type t)
{
	size_t len = strlen(word);

	new_val(p, t);
	if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0)
		return fail(p, "unexpected word");
	p->i += len;
	return 0;
}

/* Length of the valid UTF-8 sequence (2-4 bytes) at s, 0 if invalid. */
static size_t
utf8_len(const uint8_t *s, size_t n)
{
	size_t len = s[0] < 0xC2 ? 0 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : s[0] < 0xF5 ? 4 : 0;

	if (len == 0 || n < len)
		return 0;
	for (size_t k = 1; k < len; k++)
		if ((s[k] & 0xC0) != 0x80)
			return 0;
	if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0) ||
	    (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))
		return 0;	/* overlong, surrogate, past U+10FFFF */
	return len;
}

static void
put_utf8(struct jp_doc *d, uint32_t cp)
{
	char *o = d->str + d->nstr;

	if (cp < 0x80) {
		o[0] = (char)cp;
		d->nstr += 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		d->nstr += 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		d->nstr += 3;
	} else {
		o[0] = (char)(0xF0 | cp >> 18);
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[3] = (char)(0x80 | (cp & 0x3F));
		d->nstr += 4;
	}
}

/* Four hex digits after "\u" at p->i; -1 if not there. */
static int
hex4(struct jp *p, uint32_t *cp)
{
	*cp = 0;
	if (p->n - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
		return -1;
	for (size_t k = p->i + 2; k < p->i + 6; k++) {
		uint8_t c = p->s[k];
		int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (x < 0)
			return -1;
		*cp = *cp << 4 | (uint32_t)x;
	}
	p->i += 6;
	return 0;
}

/* "\uXXXX", a surrogate pair joined; p->i at the backslash, where an
 * error is reported. */
static int
parse_uescape(struct jp *p)
{
	size_t at = p->i;
	uint32_t cp, lo;

	if (hex4(p, &cp) < 0)
		return fail(p, "bad \\u escape");
	if (cp >= 0xDC00 && cp <= 0xDFFF) {
		p->i = at;
		return fail(p, "lone low surrogate");
	}
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (hex4(p, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF) {
			p->i = at;
			return fail(p, "high surrogate without its low half");
		}
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	put_utf8(p->d, cp);
	return 0;
}

static int
parse_escape(struct jp *p)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;

	if (p->i + 1 >= p->n)
		return fail(p, "unterminated string");
	if (p->s[p->i + 1] == 'u')
		return parse_uescape(p);
	if (p->s[p->i + 1] == '\0' || (e = strchr(from, p->s[p->i + 1])) == NULL)
		return fail(p, "bad escape");
	p->d->str[p->d->nstr++] = to[e - from];
	p->i += 2;
	return 0;
}

static int
parse_string(struct jp *p)
{
	struct jp_doc *d = p->d;
	uint32_t v = new_val(p, JP_STRING);
	size_t len;

	d->v[v].str = (uint32_t)d->nstr;
	p->i++;
	for (;;) {
		if (p->i >= p->n)
			return fail(p, "unterminated string");
		if (p->s[p->i] == '"')
			break;
		if (p->s[p->i] < 0x20)
			return fail(p, "control character in a string");
		if (p->s[p->i] == '\\') {
			if (parse_escape(p) < 0)
				return -1;
		} else if (p->s[p->i] < 0x80) {
			d->str[d->nstr++] = (char)p->s[p->i++];
		} else if ((len = utf8_len(p->s + p->i, p->n - p->i)) == 0) {
			return fail(p, "invalid UTF-8");
		} else {
			memcpy(d->str + d->nstr, p->s + p->i, len);
			d->nstr += len;
			p->i += len;
		}
	}
	p->i++;
	d->v[v].len = (uint32_t)(p->i - d->v[v].off);
	d->v[v].end = v + 1;	/* member names do not pass parse_value */
	d->v[v].slen = (uint32_t)(d->nstr - d->v[v].str);
	d->str[d->nstr++] = '\0';
	return 0;
}

/* '[' or '{' at p->i: the children up to the closing bracket. */
static int
parse_container(struct jp *p, enum jp_type t)
{
	uint8_t close = t == JP_ARRAY ? ']' : '}';
	uint32_t v = new_val(p, t);

	if (++p->depth > JP_MAX_DEPTH)
		return fail(p, "nested too deep");
	p->i++;
	skip_ws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		p->depth--;
		return 0;
	}
	for (;;) {
		skip_ws(p);
		if (t == JP_OBJECT) {
			if (p->i >= p->n || p->s[p->i] != '"')
				return fail(p, "expected a member name");
			if (parse_string(p) < 0)
				return -1;
			skip_ws(p);
			if (p->i >= p->n || p->s[p->i] != ':')
				return fail(p, "expected ':'");
			p->i++;
		}
		if (parse_value(p) < 0)
			return -1;
		p->d->v[v].n++;
		skip_ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->n && p->s[p->i] == close)
			break;
		return fail(p, t == JP_ARRAY ? "expected ',' or ']'" : "expected ',' or '}'");
	}
	p->i++;
	p->depth--;
	return 0;
}

static int
parse_value(struct jp *p)
{
	uint32_t first = p->d->nv;
	int rc;

	skip_ws(p);
	if (p->i >= p->n)
		return fail(p, "unexpected end");
	switch (p->s[p->i]) {
	case '{': rc = parse_container(p, JP_OBJECT); break;
	case '[': rc = parse_container(p, JP_ARRAY); break;
	case '"': rc = parse_string(p); break;
	case 't': rc = parse_literal(p, "true", JP_TRUE); break;
	case 'f': rc = parse_literal(p, "false", JP_FALSE); break;
	case 'n': rc = parse_literal(p, "null", JP_NULL); break;
	default:
		if (p->s[p->i] != '-' && (p->s[p->i] < '0' || p->s[p->i] > '9'))
			return fail(p, "unexpected character");
		rc = parse_number(p);
	}
	if (rc == 0) {
		p->d->v[first].len = (uint32_t)(p->i - p->d->v[first].off);
		p->d->v[first].end = p->d->nv;
	}
	return rc;
}

int
jp_parse(struct jp_doc *d, const char *text, size_t len)
{
	struct jp p = { .d = d, .s = (const uint8_t *)text, .n = len };

	d->nv = 0;
	d->nstr = 0;
	d->err = NULL;
	d->err_off = 0;
	d->src = text;
	d->srclen = len;
	if (len >= UINT32_MAX)
		return fail(&p, "document too long");
	if (d->capstr < len + 1) {
		if ((d->str = realloc(d->str, len + 1)) == NULL)
			fatal(1, "%s: out of memory", __func__);
		d->capstr = len + 1;
	}
	if (parse_value(&p) < 0)
		return -1;
	skip_ws(&p);
	if (p.i != p.n)
		return fail(&p, "trailing characters after the value");
	return 0;
}

void
jp_free(struct jp_doc *d)
{
	free(d->v);
	free(d->str);
	memset(d, 0, sizeof(*d));
}

const struct jp_val *
jp_root(const struct jp_doc *d)
{
	return d->nv > 0 && d->err == NULL ? &d->v[0] : NULL;
}

const struct jp_val *
jp_first(const struct jp_doc *d, const struct jp_val *parent)
{
	(void)d;
	if (parent == NULL || (parent->type != JP_ARRAY && parent->type != JP_OBJECT) ||
	    parent->n == 0)
		return NULL;
	return parent + 1;
}

const struct jp_val *
jp_next(const struct jp_doc *d, const struct jp_val *parent, const struct jp_val *v)
{
	if (parent == NULL || v == NULL || v->end >= parent->end)
		return NULL;
	return &d->v[v->end];
}

int
jp_streq(const struct jp_doc *d, const struct jp_val *v, const char *s)
{
	size_t len = strlen(s);

	return v != NULL && v->type == JP_STRING && v->slen == len &&
	    memcmp(d->str + v->str, s, len) == 0;
}

const struct jp_val *
jp_get(const struct jp_doc *d, const struct jp_val *o, const char *key)
{
	const struct jp_val *k, *val, *found = NULL;

	if (o == NULL || o->type != JP_OBJECT)
		return NULL;
	for (k = jp_first(d, o); k != NULL; k = jp_next(d, o, val)) {
		val = jp_next(d, o, k);
		if (val == NULL)
			break;
		if (jp_streq(d, k, key))
			found = val;
	}
	return found;
}

const char *
jp_text(const struct jp_doc *d, const struct jp_val *v, size_t *len)
{
	if (v->type == JP_STRING) {
		*len = v->slen;
		return d->str + v->str;
	}
	*len = v->len;
	return d->src + v->off;
}
