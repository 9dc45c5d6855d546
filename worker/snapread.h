/*
 * snapread: one snapshot chunk, its read and its window (snap.c keeps two:
 * the one open in the stream and the next, read ahead).  The chunk's query
 * runs asynchronously on the snapshot's SQL connection; its rows become
 * pgoutput Inserts in the window's chunk as they arrive.  Keys the stream
 * drops before the read ended are kept and dropped at its end.  A window
 * keeps the table's shape of its read (Relation and Type messages, key
 * positions): the next chunk's refresh does not change how this one is
 * matched against the stream or described to the sinks.
 */
#ifndef PGCDC_SNAPREAD_H
#define PGCDC_SNAPREAD_H

#include <libpq-fe.h>

#include "common/buf.h"
#include "worker/chunk.h"
#include "worker/race.h"
#include "worker/snaptab.h"

/* A window in the stream: its low watermark awaited, open (dropping keys),
 * forwarded within the high watermark's transaction (not yet committed). */
enum snapwin_state { SW_NONE, SW_WAIT_LOW, SW_OPEN, SW_SENT };

struct snapwin {
	enum snapwin_state state;
	uint64_t	 attempt;	/* in its watermarks */
	uint64_t	 chunk;
	size_t		 ti;		/* its table's index in snap.c's list */
	int		 last;		/* it ends the table */
	int		 redo;		/* a stored plan: no new one to save */
	int		 use_hi;	/* bounded by hi, not by chunk_rows */
	int		 reading;	/* the query is in flight */
	int		 read_err;
	int		 pend_all;	/* a TRUNCATE before the read ended */
	struct buf	 lower;		/* the range: after lower */
	struct buf	 hi;		/* the plan's upper bound */
	struct buf	 upper;		/* the chunk's upper key, once read */
	struct buf	 pend;		/* keys dropped before the read ended (u32 len, key) */
	struct chunk	 c;
	struct race_snap rs;
	/* the table's shape when read */
	uint32_t	 relid;
	struct buf	 relmsg, typmsgs;
	int		 nkeys;
	int		*keypos;
	size_t		 keycap;
};

/* Open the chunk's REPEATABLE READ transaction, take its snapshot, plan a
 * new ctid range (plan), send the query.  0 / -1 (logged, rolled back). */
int snapread_start(struct snapwin *w, PGconn *c, const struct stable *t, long chunk_rows,
    int plan, struct buf *scratch);
/* Take the rows that arrived, without blocking: 1 when the query is over,
 * 0 if more is to come, -1 if the connection failed. */
int snapread_more(struct snapwin *w, PGconn *c, const char *name);
/* The query is over: end the transaction, set upper and last, drop the
 * pending keys.  0 / -1 (the query or the commit failed). */
int snapread_end(struct snapwin *w, PGconn *c, long chunk_rows);
/* Give the read up (waits the query out). */
void snapread_abort(struct snapwin *w, PGconn *c);
/* A stream change touched this encoded key / truncated the table. */
void snapread_drop(struct snapwin *w, const uint8_t *key, size_t len);
void snapread_drop_all(struct snapwin *w);
void snapwin_free(struct snapwin *w);

#endif
