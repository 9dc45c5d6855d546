/*
 * chunk: the rows of one snapshot chunk, each an encoded pgoutput Insert,
 * indexed by primary key so that a key the stream changed can be dropped
 * in O(1).  Tables without a key use the whole row.  Buffers are reused across chunks: nothing is allocated per row
 * once they have grown.  Keys are encoded as u32 length + text per column
 * (length UINT32_MAX: NULL).
 */
#ifndef PGCDC_CHUNK_H
#define PGCDC_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct chunk_row { uint32_t off, len, koff, klen; uint64_t hash; int alive; };

struct chunk {
	struct buf	 rows;		/* encoded Insert messages */
	struct buf	 keys;		/* encoded keys */
	struct chunk_row *v;
	size_t		 n, cap;
	uint32_t	*ht;		/* open addressing: row index + 1, 0 = empty */
	size_t		 htcap;
	int		 indexed;	/* ht (and the rows' hashes) are valid */
};

void chunk_reset(struct chunk *c);
void chunk_free(struct chunk *c);
/* Append one key column value to an encoded key. */
void chunk_key_put(struct buf *key, const void *p, uint32_t n);
/* Append a NULL (a whole-row key can hold them; unequal to any text). */
void chunk_key_null(struct buf *key);
/* Add a row: write its message into the returned buffer and its key into
 * c->keys, then call chunk_row_end. */
struct buf *chunk_row_start(struct chunk *c);
void chunk_row_end(struct chunk *c);
/* Forget the row with this encoded key, if the chunk has it (the first
 * drop of a chunk indexes its rows). */
void chunk_drop(struct chunk *c, const uint8_t *key, size_t len);
void chunk_drop_all(struct chunk *c);
/* Row i's message, or NULL if it was dropped. */
const uint8_t *chunk_row(const struct chunk *c, size_t i, size_t *len);
/* Copy the key of the last row into out. */
void chunk_last_key(const struct chunk *c, struct buf *out);

#endif
