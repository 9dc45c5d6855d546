/*
 * json: Debezium envelopes rendered straight into the caller's buffer.
 * Invariant: the output is one valid JSON object in UTF-8 without raw
 * newlines, whatever the names and values (values: jsonval.c).  Nothing is
 * allocated except buffer growth.  The parts of "source" that stay the same
 * through a transaction are rendered once and copied after (struct seg:
 * the inputs are compared by value, so a hit is always the same text);
 * like jsonval.c's scratch buffer this makes rendering not thread-safe.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

#define UNIX_PG_EPOCH_MS 946684800000LL	/* 2000-01-01 in Unix ms */

/* Decimal digits of v, two at a time from the right (half the divisions),
 * ending at d[20]; returns where they start. */
static size_t
u64_digits(char d[20], uint64_t v)
{
	static const char pairs[] =
	    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	    "8081828384858687888990919293949596979899";
	size_t i = 20;

	while (v >= 100) {
		uint64_t q = v / 100;

		i -= 2;
		memcpy(d + i, pairs + 2 * (v - 100 * q), 2);
		v = q;
	}
	if (v >= 10) {
		i -= 2;
		memcpy(d + i, pairs + 2 * v, 2);
	} else {
		d[--i] = (char)('0' + v);
	}
	return i;
}

static void
put_u64(struct buf *b, uint64_t v)
{
	char d[20];
	size_t i = u64_digits(d, v);

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

void
json_rel_keys(struct rel *rel)
{
	struct buf k = { 0 };

	for (uint16_t i = 0; i < rel->ncols; i++) {
		struct rel_col *c = &rel->cols[i];

		c->jkey = (uint32_t)k.len;
		put_cstr(&k, c->name != NULL ? c->name : "");
		buf_putc(&k, ':');
		c->jkey_len = (uint32_t)k.len - c->jkey;
	}
	free(rel->jkeys);
	rel->jkeys = (char *)k.data;
}

/* "name": of column i */
static void
put_col_key(struct buf *b, const struct rel *rel, size_t i)
{
	const struct rel_col *c = &rel->cols[i];

	if (rel->jkeys != NULL) {
		buf_append(b, rel->jkeys + c->jkey, c->jkey_len);
		return;
	}
	put_cstr(b, c->name != NULL ? c->name : "");
	buf_putc(b, ':');
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
		put_col_key(b, rel, i);
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

/* A member after the first: ,"key": (key a string literal) */
#define PUT_KEY(b, key)	buf_append((b), ",\"" key "\":", sizeof(",\"" key "\":") - 1)

/* A rendered piece of text and the inputs it was rendered from. */
struct seg {
	struct buf	 in;
	struct buf	 out;
};

static struct seg seg_head, seg_rel, seg_tail, seg_end;
static struct buf seg_key;

static void
key_str(struct buf *k, const char *s)
{
	if (s == NULL)
		buf_putc(k, 1);			/* NULL: never a string's first byte */
	else
		buf_append(k, s, strlen(s) + 1);
}

static void
key_u64(struct buf *k, uint64_t v)
{
	buf_append(k, &v, sizeof(v));
}

/* Append the segment; true when its text must be rendered again first
 * (into seg->out, which the caller then appends). */
static bool
seg_stale(struct seg *g, const struct buf *in)
{
	if (g->in.len == in->len && g->out.len > 0 && memcmp(g->in.data, in->data, in->len) == 0)
		return false;
	buf_reset(&g->in);
	buf_append(&g->in, in->data, in->len);
	buf_reset(&g->out);
	return true;
}

/* ,"source":{..."sequence":"[\"<commit lsn>\",\"  (then the change's lsn) */
static void
put_head(struct buf *b, const struct json_src *src)
{
	struct buf *k = &seg_key, *o = &seg_head.out;
	int64_t ms = src->commit_ts / 1000 - (src->commit_ts % 1000 < 0);

	buf_reset(k);
	key_str(k, src->name);
	key_str(k, src->snapshot);
	key_str(k, src->db);
	key_u64(k, (uint64_t)src->commit_ts);
	key_u64(k, src->commit_lsn);
	if (seg_stale(&seg_head, k)) {
		buf_puts(o, ",\"source\":{\"version\":\"" JSON_VERSION
		    "\",\"connector\":\"postgresql\"");
		PUT_KEY(o, "name");
		put_cstr(o, src->name);
		PUT_KEY(o, "ts_ms");
		put_i64(o, ms + UNIX_PG_EPOCH_MS);
		PUT_KEY(o, "snapshot");
		put_cstr(o, src->snapshot);
		PUT_KEY(o, "db");
		put_cstr(o, src->db);
		/* Debezium's sequence: a string holding ["commit lsn","lsn"] */
		PUT_KEY(o, "sequence");
		buf_puts(o, "\"[\\\"");
		put_u64(o, src->commit_lsn);
		buf_puts(o, "\\\",\\\"");
	}
	buf_append(b, o->data, o->len);
}

/* \"]","schema":...,"txId":<xid>,"lsn":  (then the change's lsn) */
static void
put_mid(struct buf *b, const struct rel *rel, const struct json_src *src)
{
	struct buf *k = &seg_key, *o = &seg_rel.out;

	buf_reset(k);
	key_str(k, rel != NULL ? rel->schema : NULL);
	key_str(k, rel != NULL ? rel->table : NULL);
	key_u64(k, src->xid);
	if (seg_stale(&seg_rel, k)) {
		buf_puts(o, "\\\"]\"");
		PUT_KEY(o, "schema");
		put_cstr(o, rel != NULL ? rel->schema : NULL);
		PUT_KEY(o, "table");
		put_cstr(o, rel != NULL ? rel->table : NULL);
		PUT_KEY(o, "txId");
		put_u64(o, src->xid);
		PUT_KEY(o, "lsn");
	}
	buf_append(b, o->data, o->len);
}

/* ,"commit_lsn":<lsn>,"ordinal":  (then the ordinal, then the origin) */
static void
put_tail(struct buf *b, const struct json_src *src)
{
	struct buf *k = &seg_key, *o = &seg_tail.out;

	buf_reset(k);
	key_u64(k, src->commit_lsn);
	if (seg_stale(&seg_tail, k)) {
		PUT_KEY(o, "commit_lsn");
		put_u64(o, src->commit_lsn);
		PUT_KEY(o, "ordinal");
	}
	buf_append(b, o->data, o->len);
}

/* ,"origin":...,"op":"<op>","ts_ms":  (then the time of rendering) */
static void
put_end(struct buf *b, const struct json_src *src, char op)
{
	struct buf *k = &seg_key, *o = &seg_end.out;

	buf_reset(k);
	key_str(k, src->origin);
	buf_putc(k, op);
	if (seg_stale(&seg_end, k)) {
		PUT_KEY(o, "origin");
		put_cstr(o, src->origin);
		buf_puts(o, ",\"xmin\":null}");
		PUT_KEY(o, "op");
		json_str(o, &op, 1);
		PUT_KEY(o, "ts_ms");
	}
	buf_append(b, o->data, o->len);
}

/* "source" and the envelope's other members up to ts_ms's value; the
 * change's lsn appears twice, its digits are made once. */
static void
put_source(struct buf *b, const struct rel *rel, const struct json_src *src, char op)
{
	char lsn[20];
	size_t at = u64_digits(lsn, src->lsn);

	put_head(b, src);
	buf_append(b, lsn + at, sizeof(lsn) - at);
	put_mid(b, rel, src);
	buf_append(b, lsn + at, sizeof(lsn) - at);
	put_tail(b, src);
	put_u64(b, src->ordinal);
	put_end(b, src, op);
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
	put_source(b, rel, src != NULL ? src : &none, op);
	put_i64(b, now_ms);
	put_unchanged(b, rel, after);
	buf_putc(b, '}');
}
