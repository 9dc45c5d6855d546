/*
 * strmap: string-keyed pointer map, open addressing with linear probing,
 * at most half full (see strmap.h).
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strmap.h"

static uint64_t
hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

/* The slot of key in v (cap a power of two): its entry or the empty one
 * where it would go. */
static size_t
probe(const struct strmap_ent *v, size_t cap, const char *key, uint64_t h)
{
	size_t i = (size_t)h & (cap - 1);

	while (v[i].key != NULL && (v[i].hash != h || strcmp(v[i].key, key) != 0))
		i = (i + 1) & (cap - 1);
	return i;
}

void *
strmap_get(const struct strmap *m, const char *key)
{
	uint64_t h;

	if (m->n == 0)
		return NULL;
	h = hash(key);
	return m->v[probe(m->v, m->cap, key, h)].val;
}

static void
grow(struct strmap *m)
{
	size_t cap = m->cap ? 2 * m->cap : 64;
	struct strmap_ent *v = calloc(cap, sizeof(*v));

	if (v == NULL)
		fatal(1, "%s: out of memory", __func__);
	for (size_t i = 0; i < m->cap; i++)
		if (m->v[i].key != NULL)
			v[probe(v, cap, m->v[i].key, m->v[i].hash)] = m->v[i];
	free(m->v);
	m->v = v;
	m->cap = cap;
}

void
strmap_put(struct strmap *m, const char *key, void *val)
{
	uint64_t h = hash(key);
	size_t i;

	if (2 * (m->n + 1) > m->cap)
		grow(m);
	i = probe(m->v, m->cap, key, h);
	if (m->v[i].key == NULL)
		m->n++;
	m->v[i] = (struct strmap_ent){ key, val, h };
}

void
strmap_free(struct strmap *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}
