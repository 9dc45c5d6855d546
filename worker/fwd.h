/*
 * fwd: the worker's side of the wire to its sinks (ZeroMQ DEALER per sink,
 * routing id = slot name).  Tracks per sink what was sent and what is
 * durably acked; a transaction a sink already holds is never sent to it.
 * A sink that (re)connects gets a HELLO; once it answered after the stream
 * had started, fwd asks the worker to restart the stream from the confirmed
 * LSN (fwd_take_resync), which re-sends exactly what the sink lacks.
 */
#ifndef PGCDC_FWD_H
#define PGCDC_FWD_H

#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "common/buf.h"
#include "common/cfg.h"
#include "common/ckpt.h"
#include "common/lsn.h"

struct fwd_commit_mark {
	lsn_t		end_lsn;
	uint64_t	bytes;		/* sent_bytes when this commit was queued */
};

struct fwd_sink {
	char		 name[64];
	void		*sock;
	void		*mon;
	struct buf	 frame;		/* records not yet sent */
	int64_t		 frame_ms;	/* when its first record was queued */
	lsn_t		 acked;		/* the sink holds every txn with end_lsn <= acked */
	lsn_t		 sent;		/* end_lsn of the last commit queued for it */
	uint64_t	 epoch;		/* of the last HELLO */
	int64_t		 hello_ms;	/* when it was sent; 0 = must send */
	int		 connected;
	int		 ready;		/* answered the current HELLO */
	int		 lost;		/* disconnected while the stream ran */
	int		 skip;		/* the open transaction is already held */
	uint64_t	 replaying;	/* transactions skipped in a row */
	uint64_t	 sent_bytes;
	uint64_t	 acked_bytes;
	uint64_t	 hello_bytes;	/* sent_bytes when the HELLO went */
	uint64_t	 consumed_bytes;	/* sent_bytes the sink took in (flow control) */
	struct fwd_commit_mark *marks;	/* ring of unacked commits */
	size_t		 mhead, mtail, mcap;
};

struct fwd {
	void		*zctx;
	const char	*slot;
	char		 dbname[128];
	struct fwd_sink	*sinks;
	size_t		 nsinks;
	uint64_t	 epoch_next;
	int		 streaming;	/* the replication stream is running */
	int		 resync;
	struct buf	 scratch;
};

/* Connect to every sink of the slot; acked positions start from LMDB. */
int fwd_open(struct fwd *f, const struct cfg *cfg, const struct cfg_slot *slot,
    struct ckpt *ck);
void fwd_close(struct fwd *f);

/* Poll items for the sockets and monitors (2 per sink) at items[0..]. */
size_t fwd_pollitems(struct fwd *f, zmq_pollitem_t *items);
/* Handle monitor events, acks and due HELLOs.  Returns 0 / -1. */
int fwd_service(struct fwd *f, int64_t now_ms);
int fwd_all_ready(const struct fwd *f);
lsn_t fwd_min_acked(const struct fwd *f);
/* Anything sent that some sink has not acked yet? */
int fwd_in_flight(const struct fwd *f);
/* Largest unacked byte count over the sinks. */
uint64_t fwd_unacked_max(const struct fwd *f);
/* 1 once if a sink came back after the stream had started. */
int fwd_take_resync(struct fwd *f);

/* Records: BEGIN decides per sink whether the transaction is skipped. */
void fwd_begin(struct fwd *f, lsn_t final_lsn, lsn_t wal_lsn, const void *m, size_t n);
/* A message of the open transaction, for sinks that do not skip it. */
void fwd_txn(struct fwd *f, lsn_t wal_lsn, const void *m, size_t n);
/* A snapshot row inside the open transaction (wire.h WIRE_ROW). */
void fwd_row(struct fwd *f, uint64_t chunk, uint8_t flags, const void *m, size_t n);
/* To every ready sink regardless of skipping (relation metadata). */
void fwd_all(struct fwd *f, lsn_t wal_lsn, const void *m, size_t n);
void fwd_commit(struct fwd *f, lsn_t end_lsn, lsn_t wal_lsn, const void *m, size_t n);
/* A non-transactional logical message at lsn (the end of its record): a
 * unit of its own, held by a sink once it acked lsn (sinks apply it so). */
void fwd_single(struct fwd *f, lsn_t lsn, lsn_t wal_lsn, const void *m, size_t n);
/* Send frames; only_big: just the ones past the batch size.  0 / -1. */
int fwd_flush(struct fwd *f, int only_big);
/* Send the frames that are big or have waited FWD_LINGER_MS; returns the ms
 * until the next one is due (INT_MAX if none waits), or -1 on error. */
int fwd_flush_due(struct fwd *f, int64_t now_ms);

#endif
