/*
 * fuzz_pgo: libFuzzer target for the pgoutput decoder (common/pgo.c, rel.c)
 * and the rendering of what it decodes (common/json.c).  Input: frames of a
 * 2-byte big-endian length and that many bytes (the last frame takes what is
 * left), each decoded from its own exact-size copy so ASan sees a read past
 * its end.  Relations must survive rel_encode and go to a relcache; changes
 * and truncates of known relations are rendered as envelopes, which must be
 * valid JSON on one line.  Seeds: tests/fuzz/seed.py.  Run: make fuzz.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/pgo.h"
#include "common/rel.h"

#define JV_MAXDEPTH	4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_pgo: invariant broken: %s\n", what);
		abort();
	}
}

/* --- a strict JSON checker: one value, no raw control characters --- */

struct jv {
	const uint8_t	*p;
	const uint8_t	*end;
};

static int jv_value(struct jv *v, int depth);

static int
jv_eat(struct jv *v, uint8_t c)
{
	if (v->p == v->end || *v->p != c)
		return 0;
	v->p++;
	return 1;
}

static void
jv_ws(struct jv *v)
{
	while (jv_eat(v, ' ') || jv_eat(v, '\t'))
		;
}

static int
jv_digits(struct jv *v)
{
	const uint8_t *start = v->p;

	while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
		v->p++;
	return v->p > start;
}

static int
jv_number(struct jv *v)
{
	jv_eat(v, '-');
	if (!jv_eat(v, '0') && !jv_digits(v))
		return -1;
	if (jv_eat(v, '.') && !jv_digits(v))
		return -1;
	if (jv_eat(v, 'e') || jv_eat(v, 'E')) {
		if (!jv_eat(v, '+'))
			jv_eat(v, '-');
		if (!jv_digits(v))
			return -1;
	}
	return 0;
}

/* One UTF-8 sequence of 2-4 bytes: no overlongs, surrogates or > U+10FFFF. */
static int
jv_utf8(struct jv *v)
{
	static const uint32_t min[] = { 0, 0x80, 0x800, 0x10000 };
	uint8_t lead = *v->p;
	size_t more = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
	uint32_t cp = lead & (0x3F >> more);

	if (more == 0 || lead > 0xF4 || (size_t)(v->end - v->p) <= more)
		return -1;
	for (size_t i = 1; i <= more; i++) {
		if ((v->p[i] & 0xC0) != 0x80)
			return -1;
		cp = cp << 6 | (v->p[i] & 0x3F);
	}
	if (cp < min[more] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	v->p += more + 1;
	return 0;
}

static int
jv_escape(struct jv *v)
{
	uint8_t c;

	if (v->p == v->end)
		return -1;
	c = *v->p++;
	if (c != 'u')
		return c != '\0' && strchr("\"\\/bfnrt", c) != NULL ? 0 : -1;
	for (int i = 0; i < 4; i++, v->p++)
		if (v->p == v->end || strchr("0123456789abcdefABCDEF", *v->p) == NULL ||
		    *v->p == '\0')
			return -1;
	return 0;
}

static int
jv_string(struct jv *v)
{
	if (!jv_eat(v, '"'))
		return -1;
	while (!jv_eat(v, '"')) {
		if (v->p == v->end || *v->p < 0x20)
			return -1;
		if (*v->p >= 0x80) {
			if (jv_utf8(v) < 0)
				return -1;
		} else if (*v->p++ == '\\' && jv_escape(v) < 0)
			return -1;
	}
	return 0;
}

/* After the opening bracket: members or elements, then the closing one. */
static int
jv_container(struct jv *v, uint8_t close, int depth)
{
	jv_ws(v);
	if (jv_eat(v, close))
		return 0;
	do {
		jv_ws(v);
		if (close == '}') {
			if (jv_string(v) < 0)
				return -1;
			jv_ws(v);
			if (!jv_eat(v, ':'))
				return -1;
		}
		if (jv_value(v, depth + 1) < 0)
			return -1;
		jv_ws(v);
	} while (jv_eat(v, ','));
	return jv_eat(v, close) ? 0 : -1;
}

static int
jv_value(struct jv *v, int depth)
{
	static const char *const lits[] = { "true", "false", "null" };

	jv_ws(v);
	if (depth > JV_MAXDEPTH || v->p == v->end)
		return -1;
	if (jv_eat(v, '{'))
		return jv_container(v, '}', depth);
	if (jv_eat(v, '['))
		return jv_container(v, ']', depth);
	if (*v->p == '"')
		return jv_string(v);
	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		size_t n = strlen(lits[i]);

		if ((size_t)(v->end - v->p) >= n && memcmp(v->p, lits[i], n) == 0) {
			v->p += n;
			return 0;
		}
	}
	return jv_number(v);
}

static void
check_json(const struct buf *b)
{
	struct jv v = { b->data, b->data + b->len };

	check(b->len > 0 && b->data[0] == '{', "envelope is an object");
	check(jv_value(&v, 0) == 0, "envelope is valid JSON");
	jv_ws(&v);
	check(v.p == v.end, "nothing after the envelope");
}

/* --- the decoder --- */

struct run {
	struct pgo_decoder	 dec;
	struct relcache		*rc;
	struct json_src		 src;
	struct buf		 out;
};

static void
check_inside(const void *p, size_t n, const uint8_t *base, size_t len)
{
	const uint8_t *q = p;

	if (q != NULL)
		check(q >= base && n <= len && q - base <= (ptrdiff_t)(len - n),
		    "decoded bytes lie inside the message");
}

static void
check_tuple(const struct tuple *t, const uint8_t *base, size_t len)
{
	check(t->ncols <= t->cap, "tuple within its array");
	for (uint16_t i = 0; i < t->ncols; i++) {
		const struct tuple_col *c = &t->cols[i];

		check(strchr("nutb", c->kind) != NULL && c->kind != '\0', "column kind");
		check_inside(c->data, c->len, base, len);
	}
}

static void
check_str(const char *s, const uint8_t *base, size_t len)
{
	check_inside(s, strlen(s) + 1, base, len);
}

static void
render(struct run *r, char op, const struct rel *rel, const struct tuple *before,
    char before_kind, const struct tuple *after)
{
	buf_reset(&r->out);
	r->src.ordinal++;
	json_envelope(&r->out, op, rel, before, before_kind, after, &r->src, 1700000000123LL);
	check_json(&r->out);
}

/* rel_encode (the worker re-sends Relations) gives back what was parsed. */
static void
check_reencode(struct run *r, const struct rel *rel)
{
	struct pgo_msg m;
	const struct rel *again;

	buf_reset(&r->out);
	rel_encode(rel, NULL, &r->out);
	check(pgo_decode(&r->dec, r->out.data, r->out.len, &m) == 0 &&
	    m.type == PGO_RELATION, "an encoded relation decodes");
	again = m.rel;
	check(again->relid == rel->relid && again->replident == rel->replident &&
	    again->ncols == rel->ncols && strcmp(again->schema, rel->schema) == 0 &&
	    strcmp(again->table, rel->table) == 0, "relation round trip");
	for (uint16_t i = 0; i < rel->ncols; i++) {
		const struct rel_col *a = &again->cols[i], *c = &rel->cols[i];

		check(strcmp(a->name, c->name) == 0 && a->typoid == c->typoid &&
		    a->typmod == c->typmod && a->flags == c->flags, "column round trip");
	}
	rel_free(m.rel);
}

static void
on_relation(struct run *r, struct rel *rel)
{
	check(rel != NULL && rel->schema != NULL && rel->table != NULL, "relation names");
	for (uint16_t i = 0; i < rel->ncols; i++)
		check(rel->cols[i].name != NULL, "column name");
	check_reencode(r, rel);
	relcache_put(r->rc, rel);
	check(relcache_get(r->rc, rel->relid) == rel, "relcache returns what was put");
}

static void
on_change(struct run *r, const struct pgo_msg *m)
{
	const struct rel *rel = relcache_get(r->rc, m->change.relid);
	static const char ops[] = { [PGO_INSERT] = 'c', [PGO_UPDATE] = 'u', [PGO_DELETE] = 'd' };

	if (rel == NULL)
		return;
	render(r, ops[(uint8_t)m->type], rel, m->change.old_kind ? &r->dec.oldt : NULL,
	    m->change.old_kind, m->change.has_new ? &r->dec.newt : NULL);
}

static void
on_truncate(struct run *r, const struct pgo_msg *m, const uint8_t *base, size_t len)
{
	check_inside(m->truncate.relids_raw, 4 * (size_t)m->truncate.nrels, base, len);
	for (uint32_t i = 0; i < m->truncate.nrels; i++) {
		const struct rel *rel = relcache_get(r->rc, pgo_truncate_relid(m, i));

		if (rel != NULL)
			render(r, 't', rel, NULL, 0, NULL);
	}
	check(pgo_truncate_relid(m, m->truncate.nrels) == 0, "relid past the end is 0");
}

static void
on_message(struct run *r, struct pgo_msg *m, const uint8_t *p, size_t len)
{
	switch (m->type) {
	case PGO_BEGIN:
		r->src.commit_ts = m->begin.commit_ts;
		r->src.xid = m->begin.xid;
		r->src.commit_lsn = r->src.lsn = m->begin.final_lsn;
		r->src.ordinal = 0;
		break;
	case PGO_RELATION:
		on_relation(r, m->rel);
		m->rel = NULL;
		break;
	case PGO_INSERT: case PGO_UPDATE: case PGO_DELETE:
		check(m->change.has_new == (m->type != PGO_DELETE), "has_new");
		check(m->change.old_kind == 0 || m->change.old_kind == 'K' ||
		    m->change.old_kind == 'O', "old_kind");
		check(m->type != PGO_INSERT || m->change.old_kind == 0, "insert has no old row");
		check_tuple(&r->dec.oldt, p, len);
		check_tuple(&r->dec.newt, p, len);
		on_change(r, m);
		break;
	case PGO_TRUNCATE:
		on_truncate(r, m, p, len);
		break;
	case PGO_MESSAGE:
		check_str(m->message.prefix, p, len);
		check_inside(m->message.content, m->message.len, p, len);
		render(r, 'm', NULL, NULL, 0, NULL);	/* as the jsonl sink does */
		break;
	case PGO_ORIGIN:
		check_str(m->origin.name, p, len);
		break;
	case PGO_TYPE:
		check(m->typ.nspname[0] != '\0', "a type's namespace is named");
		check_str(m->typ.typname, p, len);
		break;
	}
}

static void
decode_frame(struct run *r, const uint8_t *frame, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct pgo_msg m;

	check(copy != NULL, "malloc");
	memcpy(copy, frame, len);
	if (pgo_decode(&r->dec, copy, len, &m) == 0) {
		check(r->dec.err[0] == '\0', "no error on success");
		on_message(r, &m, copy, len);
	} else {
		check(r->dec.err[0] != '\0' && strlen(r->dec.err) < sizeof(r->dec.err),
		    "an error says why");
		check(m.rel == NULL, "no relation from a failed decode");
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = { .src = { .name = "fuzz", .db = "postgres", .snapshot = "false" } };
	size_t at = 0;

	r.rc = relcache_new();
	while (at + 2 <= size) {
		size_t n = (size_t)data[at] << 8 | data[at + 1];

		at += 2;
		if (n > size - at)
			n = size - at;
		decode_frame(&r, data + at, n);
		at += n;
	}
	relcache_free(r.rc);
	pgo_decoder_free(&r.dec);
	buf_free(&r.out);
	return 0;
}
