/*
 * rel: pgoutput Relation and TupleData parsing, and the relation cache.
 * Parsers trust nothing: every read goes through the bounds-checked rd, counts
 * are checked against the bytes left before anything is allocated, and on
 * failure the reader is left at the element that did not parse.
 * The relcache is an open-addressing table (linear probing) keyed by relid.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/json.h"
#include "common/rel.h"

/* Smallest encoding of one Relation column: flags, "", typoid, typmod. */
#define REL_COL_MIN	(1 + 1 + 4 + 4)

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		fatal(1, "%s: out of memory (%zu x %zu bytes)", __func__, n, size);
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal(1, "%s: out of memory", __func__);
	return p;
}

static int
col_parse(struct rd *r, struct rel_col *c)
{
	const char *name;
	uint32_t typmod;

	if (rd_u8(r, &c->flags) < 0 || rd_cstr(r, &name) < 0 ||
	    rd_u32(r, &c->typoid) < 0 || rd_u32(r, &typmod) < 0)
		return -1;
	c->typmod = (int32_t)typmod;
	c->name = xstrdup(name);
	return 0;
}

struct rel *
rel_parse(struct rd *r)
{
	struct rel *rel;
	const char *nsp, *name;
	uint8_t replident;
	uint32_t relid;
	uint16_t ncols;

	if (rd_u32(r, &relid) < 0 || rd_cstr(r, &nsp) < 0 || rd_cstr(r, &name) < 0 ||
	    rd_u8(r, &replident) < 0 || rd_u16(r, &ncols) < 0)
		return NULL;
	if ((size_t)ncols * REL_COL_MIN > rd_left(r))
		return NULL;
	rel = xcalloc(1, sizeof(*rel));
	rel->relid = relid;
	/* The docs: an empty namespace means pg_catalog. */
	rel->schema = xstrdup(*nsp ? nsp : "pg_catalog");
	rel->table = xstrdup(name);
	rel->replident = (char)replident;
	rel->cols = xcalloc(ncols, sizeof(*rel->cols));
	for (; rel->ncols < ncols; rel->ncols++) {
		if (col_parse(r, &rel->cols[rel->ncols]) < 0) {
			rel_free(rel);
			return NULL;
		}
	}
	json_rel_keys(rel);
	return rel;
}

void
rel_free(struct rel *rel)
{
	if (rel == NULL)
		return;
	for (uint16_t i = 0; i < rel->ncols; i++)
		free(rel->cols[i].name);
	free(rel->cols);
	free(rel->jkeys);
	free(rel->schema);
	free(rel->table);
	free(rel);
}

/* --- relation cache --- */

struct relcache {
	struct rel	**slots;
	size_t		  cap;		/* power of two */
	size_t		  n;
};

static size_t
rc_home(const struct relcache *rc, uint32_t relid)
{
	return (size_t)(relid * 2654435761u) & (rc->cap - 1);
}

/* The slot holding relid, or the empty slot where it belongs. */
static struct rel **
rc_find(const struct relcache *rc, uint32_t relid)
{
	size_t i = rc_home(rc, relid);

	while (rc->slots[i] != NULL && rc->slots[i]->relid != relid)
		i = (i + 1) & (rc->cap - 1);
	return &rc->slots[i];
}

static void
rc_grow(struct relcache *rc)
{
	struct rel **old = rc->slots;
	size_t oldcap = rc->cap;

	rc->cap = oldcap ? oldcap * 2 : 16;
	rc->slots = xcalloc(rc->cap, sizeof(*rc->slots));
	for (size_t i = 0; i < oldcap; i++)
		if (old[i] != NULL)
			*rc_find(rc, old[i]->relid) = old[i];
	free(old);
}

struct relcache *
relcache_new(void)
{
	struct relcache *rc = xcalloc(1, sizeof(*rc));

	rc_grow(rc);
	return rc;
}

void
relcache_free(struct relcache *rc)
{
	if (rc == NULL)
		return;
	for (size_t i = 0; i < rc->cap; i++)
		rel_free(rc->slots[i]);
	free(rc->slots);
	free(rc);
}

const struct rel *
relcache_get(const struct relcache *rc, uint32_t relid)
{
	return *rc_find(rc, relid);
}

void
relcache_put(struct relcache *rc, struct rel *rel)
{
	struct rel **slot;

	if (rel == NULL)
		return;
	/* Keep the load at most 1/2 so probe chains stay short. */
	if ((rc->n + 1) * 2 > rc->cap)
		rc_grow(rc);
	slot = rc_find(rc, rel->relid);
	if (*slot == NULL)
		rc->n++;
	else if (*slot != rel)
		rel_free(*slot);
	*slot = rel;
}

void
relcache_foreach(const struct relcache *rc,
    void (*fn)(const struct rel *rel, void *arg), void *arg)
{
	for (size_t i = 0; i < rc->cap; i++)
		if (rc->slots[i] != NULL)
			fn(rc->slots[i], arg);
}

/* --- TupleData --- */

static int
value_parse(struct rd *r, struct tuple_col *c)
{
	const uint8_t *start = r->p;
	uint8_t kind;

	if (rd_u8(r, &kind) < 0)
		return -1;
	c->kind = (char)kind;
	c->len = 0;
	c->data = NULL;
	switch (c->kind) {
	case 'n':
	case 'u':
		return 0;
	case 't':
	case 'b':
		if (rd_u32(r, &c->len) < 0)
			break;
		if (c->len > INT32_MAX || rd_bytes(r, c->len, &c->data) < 0) {
			r->p -= 4;	/* point at the bad length */
			return -1;
		}
		return 0;
	default:
		break;
	}
	r->p = start;
	return -1;
}

int
tuple_parse(struct rd *r, struct tuple *t)
{
	uint16_t ncols;

	t->ncols = 0;
	if (rd_u16(r, &ncols) < 0)
		return -1;
	/* Every column takes at least its kind byte: no growth on a lie. */
	if (ncols > rd_left(r)) {
		r->p -= 2;
		return -1;
	}
	if (ncols > t->cap) {
		free(t->cols);
		t->cols = xcalloc(ncols, sizeof(*t->cols));
		t->cap = ncols;
	}
	for (uint16_t i = 0; i < ncols; i++)
		if (value_parse(r, &t->cols[i]) < 0)
			return -1;
	t->ncols = ncols;
	return 0;
}

void
tuple_free(struct tuple *t)
{
	free(t->cols);
	t->cols = NULL;
	t->ncols = t->cap = 0;
}

void
rel_encode(const struct rel *rel, const char *schema, struct buf *out)
{
	buf_put_u8(out, 'R');
	buf_put_u32(out, rel->relid);
	buf_append(out, schema ? schema : rel->schema, strlen(schema ? schema : rel->schema) + 1);
	buf_append(out, rel->table, strlen(rel->table) + 1);
	buf_put_u8(out, (uint8_t)rel->replident);
	buf_put_u16(out, rel->ncols);
	for (uint16_t i = 0; i < rel->ncols; i++) {
		buf_put_u8(out, rel->cols[i].flags);
		buf_append(out, rel->cols[i].name, strlen(rel->cols[i].name) + 1);
		buf_put_u32(out, rel->cols[i].typoid);
		buf_put_u32(out, (uint32_t)rel->cols[i].typmod);
	}
}
