/*
 * race: DESIGN.md 5.4 for the snapshot.  A transaction whose commit record
 * precedes a chunk's low watermark can still be invisible to the chunk's
 * snapshot (visibility follows the proc array, not WAL order).  race keeps
 * the xids of streamed transactions on tables still to read and checks those
 * streamed before the low watermark against the chunk's pg_current_snapshot().
 */
#ifndef PGCDC_RACE_H
#define PGCDC_RACE_H

#include <stddef.h>
#include <stdint.h>

#define RACE_RING 4096

/* A chunk's snapshot, 32-bit xids (each chunk read has its own). */
struct race_snap {
	uint32_t	 xmin, xmax;
	uint32_t	*xip;
	size_t		 nxip, xipcap;
};

struct race {
	uint32_t	 ring[RACE_RING];
	size_t		 nring;
	size_t		 at_low;	/* ring entries before the low watermark */
};

/* Parse pg_current_snapshot()'s "xmin:xmax:xip,..." text.  0 / -1. */
int race_snapshot(struct race_snap *rs, const char *txt);
void race_snap_free(struct race_snap *rs);
/* A streamed transaction touched a table still to read. */
void race_note(struct race *r, uint32_t xid);
/* The chunk's low watermark arrived. */
static inline void race_low(struct race *r) { r->at_low = r->nring; }
/* An xid streamed before the low watermark but invisible to rs, or 0. */
uint32_t race_check(const struct race *r, const struct race_snap *rs);

#endif
