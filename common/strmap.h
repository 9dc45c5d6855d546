/*
 * strmap: a string-keyed map of pointers (open addressing, FNV-1a), for the
 * per-table state a sink looks up on every change (jsonl files, Kafka
 * topics): constant time however many tables there are.  Keys are not
 * copied: each must live as long as the map (usually inside its value).
 * Entries are never removed; strmap_free frees the table, not the values.
 */
#ifndef PGCDC_STRMAP_H
#define PGCDC_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_ent {
	const char	*key;
	void		*val;
	uint64_t	 hash;
};

struct strmap {
	struct strmap_ent *v;
	size_t		 cap, n;
};

/* The value under key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);
/* Set key's value (a key already there gets the new value). */
void strmap_put(struct strmap *m, const char *key, void *val);
void strmap_free(struct strmap *m);

#endif
