/*
 * rel: relation metadata and tuples in pgoutput's own byte formats.
 * The worker receives them from PostgreSQL and forwards the very same bytes
 * to sinks (wire.h), so both sides parse them with these functions.  Parsers
 * never trust input: every read is bounds-checked.
 */
#ifndef PGCDC_REL_H
#define PGCDC_REL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define REL_COL_KEY 0x01	/* pgoutput column flag: part of the key */

struct rel_col {
	char		*name;
	uint32_t	 typoid;
	int32_t		 typmod;
	uint8_t		 flags;
	uint32_t	 jkey, jkey_len;	/* its "name": in rel->jkeys */
};

struct rel {
	uint32_t	 relid;
	char		*schema;
	char		*table;
	char		 replident;	/* 'd' default, 'n' nothing, 'f' full, 'i' index */
	uint16_t	 ncols;
	struct rel_col	*cols;
	char		*jkeys;		/* the columns' JSON keys (json_rel_keys), or NULL */
};

/* Parse the body of a pgoutput Relation message (after the 'R' byte).
 * Returns a new rel (free with rel_free) or NULL on malformed input. */
struct rel *rel_parse(struct rd *r);
void rel_free(struct rel *rel);
/* Append rel as a whole pgoutput Relation message ('R' first), with another
 * schema name if schema is not NULL. */
void rel_encode(const struct rel *rel, const char *schema, struct buf *out);

/* Relations by relid; a new Relation message replaces the old entry. */
struct relcache;
struct relcache *relcache_new(void);
void relcache_free(struct relcache *rc);
const struct rel *relcache_get(const struct relcache *rc, uint32_t relid);
/* Takes ownership of rel, freeing any previous entry with the same relid. */
void relcache_put(struct relcache *rc, struct rel *rel);
void relcache_foreach(const struct relcache *rc,
    void (*fn)(const struct rel *rel, void *arg), void *arg);

/*
 * A parsed pgoutput TupleData.  Column values point into the message; the
 * cols array is owned by the tuple and reused, so parsing does not allocate
 * once it has grown to the widest table.
 *   kind: 'n' null, 'u' unchanged TOAST (no value), 't' text, 'b' binary.
 */
struct tuple_col {
	char		 kind;
	uint32_t	 len;
	const uint8_t	*data;
};

struct tuple {
	uint16_t	 ncols;
	uint16_t	 cap;
	struct tuple_col *cols;
};

/* Parse a TupleData (Int16 ncols, then per column kind [+ Int32 len + bytes]). */
int tuple_parse(struct rd *r, struct tuple *t);
void tuple_free(struct tuple *t);

#endif
