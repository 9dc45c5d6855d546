/*
 * snaptab: one table of a snapshot: the Relation message pgoutput would
 * send for it, how it is chunked and the SQL that reads a chunk.  The
 * chunking key is the primary key, else the replica identity index (both
 * unique and NOT NULL: keyset chunks of chunk_rows in key order), else,
 * under REPLICA IDENTITY FULL, ctid ranges (TID range scans) with the
 * whole row as the key the stream's changes are matched by.  snap.c drives
 * the chunks.  Bounds are encoded like chunk keys (chunk.h).
 */
#ifndef PGCDC_SNAPTAB_H
#define PGCDC_SNAPTAB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/lsn.h"

struct stable {
	char		 name[256];	/* schema.table as in the config */
	char		 qname[300];
	uint32_t	 relid;
	struct buf	 relmsg;	/* pgoutput Relation message, built from the catalog */
	struct buf	 typmsgs;	/* pgoutput Type messages, each after its u32 length */
	char		*select;	/* column list */
	char		*keycols;	/* "k1, k2" */
	char		*keycast;	/* "$1::t1, $2::t2" */
	char		*keycast_hi;	/* "$n+1::t1, ..." */
	int		 nkeys;
	int		*keypos;	/* column index of key i */
	int		 by_ctid;	/* no key: ctid ranges, the whole row is the key */
	long long	 blocks;	/* by_ctid: blocks per chunk, adapted to the density */
	uint64_t	 done;		/* chunks every sink holds */
	uint64_t	 sent;		/* chunks forwarded (>= done) */
	int		 last_done;	/* the last chunk is done: table finished */
	int		 sent_last;	/* the last chunk was forwarded */
	lsn_t		 sent_end;	/* end_lsn of the txn that carried chunk `sent` */
	uint64_t	 rows;
	int64_t		 est_rows;
	struct buf	 lower;		/* encoded upper key of chunk `sent` ("" = none) */
};

/* Append the tables that snapshot `name` ("schema.table" of the config) to
 * *ts: the table itself, or, for a partitioned table whose changes are
 * published per partition (!via_root), its leaf partitions, whose names
 * the stream uses.  name and qname are set.  Returns 0 / -1 (logged). */
int snaptab_expand(PGconn *c, const char *name, int via_root, struct stable **ts, size_t *n);
/* Describe t->qname (t->name set) from the catalog; -1 if it cannot be
 * snapshotted (logged with the fix). */
int snaptab_describe(PGconn *c, long chunk_rows, struct stable *t);
/* Describe again before a chunk: columns added or dropped meanwhile are
 * read (and announced) as they are now.  -1 if the key kind changed. */
int snaptab_refresh(PGconn *c, long chunk_rows, struct stable *t);
void snaptab_free(struct stable *t);
/* Send the chunk query (PQsendQueryParams; the caller collects the
 * results): after lower ("" = the start), up to hi (a redo, or a ctid plan)
 * or chunk_rows rows; by ctid [lower, hi), or from lower on when hi is
 * empty.  Parameters are built in scratch.  0 / -1 (logged). */
int snaptab_send_query(PGconn *c, const struct stable *t, const struct buf *lower,
    const struct buf *hi, long chunk_rows, struct buf *scratch);
/* A ctid chunk's range: t->blocks blocks from lower (a chunk bound); the
 * chunk that reaches the relation's end is open-ended (*last set; rows
 * appended meanwhile are read by it or streamed). */
int snaptab_plan_ctid(PGconn *c, const struct stable *t, const struct buf *lower,
    struct buf *hi, int *last);
/* Aim the next ctid chunk at chunk_rows rows: scale by the density seen,
 * growing at most fourfold (a first guess without statistics is 1 block). */
void snaptab_adapt(struct stable *t, long chunk_rows, size_t rows);
/* Run a query; NULL (error logged) unless its status is `expect`. */
PGresult *snaptab_sql(PGconn *c, const char *sql, int n, const char *const *params,
    ExecStatusType expect);

#endif
