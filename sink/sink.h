/*
 * sink: the process that receives change frames from any number of workers
 * and applies them durably to one target.  The core (core.c) keeps per-slot
 * state and turns records into calls on a sink kind (jsonl.c, ...); a kind
 * applies a transaction atomically with its own position record.
 * Invariant: a slot's `durable` position is only acked after the kind's
 * flush made data and position durable together.
 */
#ifndef PGCDC_SINK_H
#define PGCDC_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "common/cfg.h"
#include "common/ckpt.h"
#include "common/lsn.h"
#include "common/pgo.h"
#include "common/rel.h"
#include "common/wire.h"

/* A table's snapshot chunks for one slot: ids applied, and made durable. */
struct sink_chunkpos {
	char		 table[256];	/* schema.table */
	uint64_t	 applied;	/* committed in memory */
	uint64_t	 pending;	/* in the open transaction */
	uint64_t	 durable;	/* in LMDB */
	uint64_t	 skipping;	/* chunk id being skipped in the open
					 * transaction (logged once) */
};

struct sink_slot {
	char		 name[64];
	char		 db[128];
	uint64_t	 epoch;		/* of the last HELLO */
	struct relcache	*rels;
	int		 in_txn;
	int		 skip;		/* open transaction already held */
	lsn_t		 final_lsn;	/* of the open transaction */
	uint32_t	 xid;
	int64_t		 commit_ts;
	char		 origin[64];	/* of the open transaction ("" none) */
	uint64_t	 ordinal;	/* changes so far in the open transaction */
	lsn_t		 applied;	/* end_lsn of the last transaction applied */
	lsn_t		 durable;	/* ... and made durable (acked) */
	lsn_t		 acked;		/* last ack sent */
	uint64_t	 consumed;	/* frame bytes taken in since the HELLO */
	uint64_t	 consumed_acked;	/* ... as of the last ack sent */
	int		 ack_due;	/* answer a HELLO or a break now */
	uint64_t	 skipped;	/* replayed transactions in the current run */
	uint64_t	 rows_skipped;	/* snapshot rows of chunks already applied */
	struct sink_chunkpos *chunks;
	size_t		 nchunks;
	const struct rel *chunk_rel;	/* the last snapshot row's relation, */
	uint64_t	 chunk_gen;	/* as of sink rel_gen, */
	size_t		 chunk_at;	/* and its chunks[] entry */
};

/* One change handed to a kind.  op: 'c','u','d','t', or 'r' for a snapshot
 * row (wal_lsn 0: the row has no WAL position of its own). */
struct sink_change {
	char		 op;
	const struct rel *rel;
	char		 old_kind;	/* 0, 'K', 'O' */
	const struct tuple *old;
	const struct tuple *new;
	lsn_t		 wal_lsn;
	const char	*snapshot;	/* "false"; snapshot rows: "true" or "last" */
	const struct pgo_msg *msg;	/* op 'm': a logical decoding message */
};

struct sink;

struct sink_ops {
	const char *type;
	/* Recover after a crash (drop what is past the committed position). */
	int  (*open)(struct sink *s);
	int  (*change)(struct sink *s, struct sink_slot *sl, const struct sink_change *c);
	/* The open transaction of sl is complete (sl->applied is its end_lsn). */
	int  (*commit)(struct sink *s, struct sink_slot *sl);
	/* Forget the open, incomplete transaction of sl. */
	void (*rollback)(struct sink *s, struct sink_slot *sl);
	/* Make everything committed durable; stage kind records into batch.
	 * The core adds slot positions and commits the batch afterwards. */
	int  (*flush)(struct sink *s, struct ckpt_batch *batch);
	/* Optional: the input paused; hand what was applied to the target now
	 * (readable there), while durability waits for the next flush. */
	int  (*idle)(struct sink *s);
	void (*close)(struct sink *s);
	/* Optional, for targets that keep positions themselves, atomically with
	 * the data (a crash can leave them ahead of LMDB): what the target holds
	 * of slot (end_lsn, 0 if nothing) and of a table's snapshot chunks
	 * ("schema.table").  The core takes the larger of these and LMDB's. */
	int  (*held)(struct sink *s, const char *slot, lsn_t *applied);
	int  (*held_chunk)(struct sink *s, const char *slot, const char *table, uint64_t *chunk);
	/* Optional, asked after a failure: 1 if the target cannot take data
	 * now (disk full, server down), with the cause in why.  The process
	 * then waits until it returns 0 and starts again (sink/main.c) rather
	 * than crash-looping into FAILED. */
	int  (*unavailable)(struct sink *s, char *why, size_t len);
};

struct sink {
	const struct cfg	*cfg;
	const struct cfg_sink	*conf;
	struct ckpt		*ck;
	struct ckpt_batch	 batch;
	const struct sink_ops	*ops;
	void			*impl;
	struct sink_slot	*slots;
	size_t			 nslots;
	struct pgo_decoder	 dec;
	int64_t			 now_ms;	/* wall clock of the frame being applied */
	int			 dirty;		/* commits since the last flush */
	uint64_t		 rel_gen;	/* bumped on every relation change */
	struct cfg		*routing;	/* reloaded config (HUP): which slots feed us */
	struct buf		 scratch;
	int			 out_of_space;	/* a write failed with ENOSPC/EDQUOT */
	int64_t			 reject_ms;	/* sink_reject's bucket last refilled */
	int			 reject_tokens;	/* lines it may log now */
	uint64_t		 rejects_quiet;	/* rejections not logged since */
};

extern const struct sink_ops sink_jsonl_ops;
extern const struct sink_ops sink_postgres_ops;
extern const struct sink_ops sink_zmq_ops;
extern const struct sink_ops sink_kafka_ops;

int sink_open(struct sink *s, const struct cfg *cfg, const struct cfg_sink *conf);
void sink_close(struct sink *s);
/* Apply one frame from the worker of slot `rid` (routing id).  A malformed
 * frame is rejected whole and logged.  Returns 0, -1 on a sink failure
 * (the process must exit and recover). */
int sink_frame(struct sink *s, const char *rid, const void *frame, size_t len);
/* HUP: read the config again for which slots feed this sink (a slot added
 * by a reload that left this sink unchanged).  Errors keep the old view. */
void sink_reload_routing(struct sink *s);
/* Append change c of slot sl as one Debezium JSON event (no newline), as
 * every JSON sink writes it; op m: the envelope without rows and
 * "message":{"prefix","content"} with the content in base64. */
void sink_json_event(struct sink *s, const struct sink_slot *sl, const struct sink_change *c,
    struct buf *out);
/* Flush if dirty.  Returns 0 / -1. */
int sink_flush(struct sink *s);
struct sink_slot *sink_slot_find(struct sink *s, const char *name);
/* Log input from peer rid that is not a worker's stream (garbage, a HELLO
 * for a slot it is not).  A token bucket: SINK_REJECT_BURST lines, then one
 * per SINK_REJECT_LOG_MS, each saying how many went unlogged before it, so
 * a flood cannot fill the disk while a few bad frames all show. */
void sink_reject(struct sink *s, const char *rid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define SINK_REJECT_BURST	50
#define SINK_REJECT_LOG_MS	1000

#endif
