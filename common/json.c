/*
 * json: Debezium envelopes rendered straight into the caller's buffer.
 * Invariant: the output is one valid JSON object in UTF-8 without raw
 * newlines, whatever the names and values (values: jsonval.c).  Nothing is
 * allocated except buffer growth.
 */
#include <stdbool.h>
#include <string.h>

#include "common/json.h"

#define UNIX_PG_EPOCH_MS 946684800000LL	/* 2000-01-01 in Unix ms */

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
	put_key_str(b, "origin", src->origin);
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
