/*
 * spool: the messages of transactions PostgreSQL streams before they commit
 * (pgoutput v2), one file per top-level xid under state_dir/spool/<slot>/,
 * 0600, memory bounded by one write buffer and the largest message.  Files
 * are a cache, never fsynced: after a crash PostgreSQL streams every open
 * transaction again from its first segment, so spool_open() removes them all.
 */
#ifndef PGCDC_SPOOL_H
#define PGCDC_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/lsn.h"

struct spool_txn;

struct spool {
	char		  dir[4096];
	struct spool_txn *txns;		/* open (streamed, uncommitted) ones */
	size_t		  ntxns, cap;
	struct spool_txn *cur;		/* between Stream Start and Stop */
	int		  fd;		/* cur's file, -1 if none */
	struct buf	  wbuf;		/* cur's records not yet written */
	int		  rfd;		/* replay: the committed one, -1 if none */
	uint32_t	  rxid;
	struct buf	  rbuf;		/* replay: records read ahead */
	size_t		  rpos;
	uint64_t	  bytes;	/* spooled in this session, for the log */
};

/* Create state_dir/spool/<slot> and remove what a previous run left. */
int spool_open(struct spool *sp, const char *state_dir, const char *slot);
/* Forget and remove every open transaction (a new replication session). */
int spool_reset(struct spool *sp);
void spool_close(struct spool *sp);

/* Stream Start: `first` replaces what xid had (a re-streamed transaction). */
int spool_start(struct spool *sp, uint32_t xid, int first);
/* One message of the current stream; subxid is its (sub)transaction. */
int spool_add(struct spool *sp, uint32_t subxid, lsn_t wal, const uint8_t *type,
    const uint8_t *body, size_t blen);
int spool_stop(struct spool *sp);
/* Stream Abort: subxid == xid drops the transaction, else that subxact
 * and every later one (they are nested in it or already rolled back). */
int spool_abort(struct spool *sp, uint32_t xid, uint32_t subxid);

/* Stream Commit: start reading xid's messages back (none if never spooled). */
int spool_replay(struct spool *sp, uint32_t xid);
/* The next message: 1 with *data valid until the next call, 0 at the end
 * (the file is removed then), -1 on an I/O error. */
int spool_next(struct spool *sp, lsn_t *wal, const uint8_t **data, size_t *len);
int spool_replaying(const struct spool *sp);

#endif
