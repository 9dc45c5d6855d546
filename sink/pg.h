/*
 * pg: internals of the postgres sink, shared by pg.c (sink ops, positions,
 * group commit), pgpipe.c (pipelined statements and their results), pghold.c
 * (a source transaction held until its COMMIT joins a group), pgddl.c
 * (target tables that follow the source relations), pgsql.c (the
 * statements that apply a change) and pgcopy.c (snapshot rows by COPY).  One target connection per source slot,
 * so an open transaction of one slot never holds back another's commit.
 */
#ifndef PGCDC_SINK_PG_H
#define PGCDC_SINK_PG_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/buf.h"
#include "common/lsn.h"
#include "sink/sink.h"

#define PG_RING		2048	/* statements in flight per connection, at most */
#define PG_PACE		128	/* ask for results every this many statements */
#define PG_HIGH		1024	/* past this many in flight, wait for results */
#define PG_BATCH	64	/* rows per multi-row upsert */
#define PG_GROUP	1024	/* source transactions per target transaction, at most */
#define PG_HOLD		256	/* a held transaction past this many statements */
#define PG_HOLD_BYTES	(256 * 1024)	/* or bytes of values commits the group */
#define PG_COPY_KEYS	8	/* integer key columns a COPY into the table checks */

/* A target column as the relation describes it, with its target type. */
struct pg_col {
	char		*name;
	char		*type;		/* format_type() text on the target */
	uint32_t	 typoid;	/* on the source */
	int32_t		 typmod;
	uint8_t		 flags;		/* REL_COL_KEY */
};

/* A prepared statement of a table: kind 'I' upsert (keyless: insert unless
 * an equal row is there), 'N' insert of rows (keyless), 'U' update,
 * 'D' delete, 'B' / 'X' multi-row upsert / delete; mask: 2 * ncols bits, the new then the old tuple's columns
 * left out because they are unchanged TOAST ('u'). */
struct pg_var {
	char		 kind;
	uint16_t	 rows;		/* 'B', 'X', 'N': rows it upserts / deletes / inserts */
	uint8_t		*mask;
	char		 name[24];
};

/* A source relation of one slot and its target table. */
struct pg_tab {
	uint32_t	 relid;
	char		*schema, *table;	/* as last made to match (NULL: never) */
	char		 replident;
	char		*qname;		/* "schema"."table" */
	uint16_t	 ncols;
	struct pg_col	*cols;
	int		 keyed;		/* upserts by key; else whole-row match */
	int		 match_col;	/* keyless: a column that leads a btree index
					 * on the target (-1 none), to find rows by */
	uint64_t	 gen;		/* sink rel_gen when last checked */
	int		 stale;		/* a rollback may have undone DDL: re-read */
	struct pg_var	*vars;
	size_t		 nvars;
	char		 stage[32];	/* its staging table in pg_temp ("" none) */
};

/* A statement whose result is still to come (for the error line), or a
 * sync point (what NULL). */
struct pg_pend {
	const struct pg_tab *tab;
	const char	*what;
	lsn_t		 lsn;		/* final_lsn of its source transaction */
};

/* Consecutive upserts (inserts, updates of whole rows) into one keyed
 * table, or consecutive deletes from one, sent as multi-row upserts /
 * deletes (of PG_BATCH rows, fewer ones as powers of two); an upsert whose
 * key is in the batch already, or any other statement, sends the batch
 * first, so statements keep the source order. */
struct pg_batch {
	struct pg_tab	*tab;		/* NULL: empty */
	char		 kind;		/* 'I' upserts, 'N' inserts (every column), 'D' deletes (keys) */
	size_t		 width;		/* values per row */
	size_t		 rows;
	struct buf	 vals;		/* parameter bytes */
	size_t		*offs;		/* rows * width offsets, SIZE_MAX null */
	size_t		 cap;
};

/* A held statement: prepared (name) with n values, or SQL (name ""), its
 * values at offs[off...] in the hold's vals. */
struct pg_held {
	const struct pg_tab *tab;
	const char	*what;
	lsn_t		 lsn;
	char		 name[24];
	int		 n;
	size_t		 off;
};

struct pg_hold {
	int		 on;		/* statements are held, not sent */
	struct pg_held	*v;
	size_t		 n, cap;
	struct buf	 vals;
	size_t		*offs;
	size_t		 noffs, capoffs;
	const char	**params;
	size_t		 capparams;
};

/* One target connection in pipeline mode: a slot's. */
struct pg_conn {
	PGconn		*c;
	char		 slot[64];
	struct pg_pend	 ring[PG_RING];
	size_t		 head;		/* oldest statement in flight */
	size_t		 npending;	/* statements and sync points in flight */
	int		 got;		/* the oldest statement delivered its result */
	size_t		 unflushed;	/* statements sent since a sync or flush request */
	lsn_t		 lsn;		/* source transaction being applied */
	int		 in_txn;	/* target transaction open */
	int		 cur;		/* ... holding changes of the current source
					 * transaction (sent, or held when ntx > 0) */
	size_t		 ntx;		/* complete source transactions in it */
	lsn_t		 group_lsn;	/* final_lsn of the last of them */
	struct pg_hold	 hold;
	int		 unsynced;	/* commits not yet known durable */
	int		 broken;	/* a failed send: fail the next call */
	struct pg_batch	 batch;
	struct pg_tab	*copy;		/* COPY of its snapshot rows open (the
					 * pipeline is off), into its staging table */
	int		 copy_direct;	/* ... or into it: no key at or past the
					 * first row's, and rows come in key order */
	int64_t		 copy_key[PG_COPY_KEYS];	/* direct: the last row's key */
	size_t		 copy_nkeys;	/* pgsql_int_keys of the table */
	int		 no_copy;	/* no TEMP privilege: snapshot rows upsert */
	uint64_t	 seq;		/* for statement names */
	struct pg_tab	**tabs;		/* by relid, open addressing */
	size_t		 ntabs, captabs;
	uint64_t	*chunks;	/* chunk ids written, by core chunk index */
	size_t		 nchunks;
};

/* A row of pgcdc.positions read at open. */
struct pg_pos {
	char		 slot[64];
	char		 tbl[256];	/* "" for the slot's end_lsn row */
	lsn_t		 end_lsn;
	uint64_t	 chunk;
};

struct pg_sink {
	PGconn		*ctl;		/* autocommit: schemas, positions, sync */
	struct pg_conn	**conns;
	size_t		 nconns;
	struct pg_conn	*last;
	struct pg_pos	*pos;
	size_t		 npos;
	struct buf	 sql;		/* statement text (not on the hot path) */
	struct buf	 vals;		/* parameter bytes of the change */
	size_t		*offs;		/* parameter offsets in vals, SIZE_MAX null */
	const char	**params;
	size_t		 nparams, capparams;
	uint8_t		*mask;
	size_t		 capmask;
};

/* pgpipe.c: statements and results of a pipelined connection.  Every send
 * logs and returns -1 on failure; results are checked in order, the first
 * error is logged with its statement, table and transaction. */
int pgpipe_prepared(struct pg_conn *pc, const char *name, int n, const char *const *vals,
    const struct pg_tab *t, const char *what);
int pgpipe_sql(struct pg_conn *pc, const char *sql, const struct pg_tab *t, const char *what);
int pgpipe_prepare(struct pg_conn *pc, const char *name, const char *sql,
    const struct pg_tab *t);
/* Wait for every result so far (a sync point); the pipeline stays on. */
int pgpipe_drain(struct pg_conn *pc);
/* Drain and leave pipeline mode (for synchronous DDL), and back. */
int pgpipe_pause(struct pg_conn *pc);
int pgpipe_resume(struct pg_conn *pc);
/* Queue a sync point / wait for all results (flush: sync all, then wait). */
int pgpipe_sync(struct pg_conn *pc);
int pgpipe_wait(struct pg_conn *pc);
/* Log what (on t, in the source transaction ending at lsn) failing on the
 * target with r's message, SQLSTATE, detail and context (r NULL: the
 * connection's message). */
void pgpipe_log_failure(const struct pg_conn *pc, const char *what, const struct pg_tab *t,
    lsn_t lsn, const PGresult *r);
/* Run sql synchronously (pipeline off) expecting status; logs.  0 / -1. */
int pgpipe_exec(PGconn *c, const char *sql, ExecStatusType expect, const char *what);
/* The first line of r's error, else of c's (a static buffer). */
const char *pgpipe_msg(PGconn *c, const PGresult *r);
/* Append name quoted as an identifier. */
void pgpipe_ident(struct buf *b, const char *name);

/* pghold.c: send, or hold while pc->hold.on, a statement as pgpipe_*. */
int pghold_prepared(struct pg_conn *pc, const char *name, int n, const char *const *vals,
    const struct pg_tab *t, const char *what);
int pghold_sql(struct pg_conn *pc, const char *sql, const struct pg_tab *t, const char *what);
/* The held transaction is past PG_HOLD statements or PG_HOLD_BYTES (of
 * values, or of their offsets). */
int pghold_full(const struct pg_conn *pc);
/* Send what is held (in order) and stop holding; or drop it; or free. */
int pghold_release(struct pg_conn *pc);
void pghold_drop(struct pg_conn *pc);
void pghold_free(struct pg_conn *pc);

/* pgddl.c: make t's target table match rel (create, add, drop, rename and
 * retype columns, the primary key) inside pc's open transaction. */
int pgddl_sync(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t,
    const struct rel *rel, uint64_t gen);
/* Forget t's statements and columns (DEALLOCATE them if dealloc). */
void pgddl_tab_clear(struct pg_conn *pc, struct pg_tab *t, int dealloc);

/* The DDL that turns the table described by `have` into `want`: pure, for
 * tests.  Appends statements ("...; ") to out; returns how many. */
struct pgddl_col {
	const char	*name;
	const char	*type;
	int		 key;
	int		 indexed;	/* want: a btree can index the type; have:
					 * the column leads a btree index */
};
/* The column a new keyless table is indexed by: the first of want that a
 * btree can index, or -1. */
int pgddl_match_col(const struct pgddl_col *want, size_t nwant);
int pgddl_plan(const char *qname, int exists, const char *pkname,
    const struct pgddl_col *have, size_t nhave, const struct pgddl_col *want,
    size_t nwant, int keyed, struct buf *out);

/* pgsql.c: queue the statement that applies c to t (op c, r, u, d, t);
 * upserts into and deletes from a keyed table wait in pc's batch, snapshot
 * rows (op r) go into pc's COPY (pgcopy.c; pc must not hold). */
int pgsql_apply(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t,
    const struct sink_change *c);
/* End the COPY and send the batched rows (before any other statement). */
int pgsql_flush(struct pg_sink *p, struct pg_conn *pc);
/* Forget the batch and abort the COPY (the source transaction rolled back). */
void pgsql_forget(struct pg_conn *pc);
/* Key columns of t if all are integers (smallint, integer, bigint; at most
 * PG_COPY_KEYS), else 0: their order is the same on source and target. */
size_t pgsql_int_keys(const struct pg_tab *t);
/* Rows per multi-row upsert into t (at most 65535 parameters). */
size_t pgsql_batch_rows(const struct pg_tab *t);
/* The SQL of t's statement kind with mask (see struct pg_var): 'B' / 'X'
 * for the multi-row upsert / delete, 'S' creates t's staging table, 'M'
 * merges it into t (upsert by key; keyless: rows no equal row exists of,
 * once each), 'T' empties it, 'C' copies into t, 'P' asks whether t has a
 * key at or past $1, ...: pure. */
void pgsql_build(const struct pg_tab *t, char kind, const uint8_t *mask, struct buf *out);

/* pgcopy.c: snapshot rows into t by COPY (text format), the pipeline
 * paused from the first row until pgcopy_end: straight into t while no row
 * can conflict (integer keys, none in t at or past the first row's, rows in
 * ascending key order), else into t's staging table, which pgcopy_end
 * merges into t and empties, in the same target transaction. */
int pgcopy_row(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t,
    const struct tuple *new);
int pgcopy_end(struct pg_sink *p, struct pg_conn *pc);
/* End an open COPY with an error (nothing merged); the pipeline resumes. */
void pgcopy_abort(struct pg_conn *pc);
/* Append tup as one line of COPY text format (tab-separated, \N for NULL,
 * newline-terminated): pure.  -1 if a value is not text or NULL (logged). */
int pgcopy_line(const struct pg_tab *t, const struct tuple *tup, struct buf *out);
/* Append v escaped for COPY text format: pure. */
void pgcopy_escape(struct buf *out, const char *v, size_t len);
/* tup's integer key (pgsql_int_keys(t) columns) into key: pure.  0, or -1
 * if a key value is NULL or not a 64-bit integer. */
int pgcopy_key(const struct pg_tab *t, const struct tuple *tup, int64_t *key);

#endif
