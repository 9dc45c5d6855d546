/*
 * chunk: a snapshot chunk's rows with a key index (see chunk.h).  The index
 * is built by the chunk's first drop (most chunks never see one: a row then
 * costs no hash and no random write), kept up from then on, and rebuilt when
 * it passes half full; dropped rows stay in the buffer with alive = 0 until
 * the next reset.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "worker/chunk.h"

static uint64_t
fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n--)
		h = (h ^ *p++) * 1099511628211ULL;
	return h;
}

void
chunk_key_put(struct buf *key, const void *p, uint32_t n)
{
	buf_put_u32(key, n);
	buf_append(key, p, n);
}

void
chunk_key_null(struct buf *key)
{
	buf_put_u32(key, UINT32_MAX);
}

void
chunk_reset(struct chunk *c)
{
	buf_reset(&c->rows);
	buf_reset(&c->keys);
	c->n = 0;
	c->indexed = 0;
}

void
chunk_free(struct chunk *c)
{
	buf_free(&c->rows);
	buf_free(&c->keys);
	free(c->v);
	free(c->ht);
	memset(c, 0, sizeof(*c));
}

static void
index_insert(struct chunk *c, size_t i)
{
	size_t h = c->v[i].hash & (c->htcap - 1);

	while (c->ht[h])
		h = (h + 1) & (c->htcap - 1);
	c->ht[h] = (uint32_t)i + 1;
}

/* (Re)build the index over the rows, growing it to under half full. */
static void
index_build(struct chunk *c)
{
	size_t cap = c->htcap ? c->htcap : 4096;

	while (cap < 2 * c->n + 2)
		cap *= 2;
	if (cap != c->htcap) {
		free(c->ht);
		if ((c->ht = calloc(cap, sizeof(*c->ht))) == NULL)
			fatal(1, "%s: out of memory", __func__);
		c->htcap = cap;
	} else {
		memset(c->ht, 0, cap * sizeof(*c->ht));
	}
	for (size_t i = 0; i < c->n; i++) {
		if (!c->indexed)
			c->v[i].hash = fnv(c->keys.data + c->v[i].koff, c->v[i].klen);
		index_insert(c, i);
	}
	c->indexed = 1;
}

struct buf *
chunk_row_start(struct chunk *c)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 1024;
		if ((c->v = realloc(c->v, c->cap * sizeof(*c->v))) == NULL)
			fatal(1, "%s: out of memory", __func__);
	}
	c->v[c->n] = (struct chunk_row){ .off = (uint32_t)c->rows.len,
	    .koff = (uint32_t)c->keys.len, .alive = 1 };
	return &c->rows;
}

void
chunk_row_end(struct chunk *c)
{
	struct chunk_row *r = &c->v[c->n];

	r->len = (uint32_t)(c->rows.len - r->off);
	r->klen = (uint32_t)(c->keys.len - r->koff);
	c->n++;
	if (!c->indexed)
		return;
	r->hash = fnv(c->keys.data + r->koff, r->klen);
	if (2 * c->n > c->htcap)
		index_build(c);
	else
		index_insert(c, c->n - 1);
}

void
chunk_drop(struct chunk *c, const uint8_t *key, size_t len)
{
	uint64_t hash = fnv(key, len);

	if (c->n == 0)
		return;
	if (!c->indexed)
		index_build(c);
	for (size_t h = hash & (c->htcap - 1); c->ht[h]; h = (h + 1) & (c->htcap - 1)) {
		struct chunk_row *r = &c->v[c->ht[h] - 1];

		if (r->hash == hash && r->klen == len &&
		    memcmp(c->keys.data + r->koff, key, len) == 0)
			r->alive = 0;
	}
}

void
chunk_drop_all(struct chunk *c)
{
	for (size_t i = 0; i < c->n; i++)
		c->v[i].alive = 0;
}

const uint8_t *
chunk_row(const struct chunk *c, size_t i, size_t *len)
{
	if (i >= c->n || !c->v[i].alive)
		return NULL;
	*len = c->v[i].len;
	return c->rows.data + c->v[i].off;
}

void
chunk_last_key(const struct chunk *c, struct buf *out)
{
	if (c->n > 0)
		buf_append(out, c->keys.data + c->v[c->n - 1].koff, c->v[c->n - 1].klen);
}
