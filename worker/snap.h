/*
 * snap: the chunked, lock-free snapshot of a slot's tables (DESIGN.md 5),
 * DBLog style.  A chunk is: low watermark, one short REPEATABLE READ read of
 * a key range (snaptab.h), high watermark.  Keys that the stream changes between
 * the watermarks are dropped from the chunk; the rest travel inside the
 * high watermark's transaction as ROW records, so they are applied
 * atomically with it and exactly once (sinks remember chunk ids).
 * A chunk's range is written to LMDB before its high watermark, so a redo
 * after a crash reads exactly the same range.  Sinks' applied chunk ids (in
 * LMDB) say where to resume.
 */
#ifndef PGCDC_SNAP_H
#define PGCDC_SNAP_H

#include "common/cfg.h"
#include "common/ckpt.h"
#include "common/pgo.h"
#include "worker/fwd.h"

struct snap;

/* Plan the slot's tables from LMDB (what every sink already holds).
 * Returns NULL with *rc set to an exit code on failure. */
struct snap *snap_open(const struct cfg *cfg, const struct cfg_slot *slot,
    struct ckpt *ck, int *rc);
void snap_close(struct snap *s);

/* If no chunk is open and a table has work left: emit the low watermark
 * and send the chunk's query.  While it runs, each call takes the rows that
 * arrived, without blocking; once all are in: record the chunk's range,
 * emit the high watermark, and start the table's next chunk the same way
 * (read ahead while the open one waits for the stream).  Returns 0, or an
 * exit code. */
int snap_step(struct snap *s);
/* The SQL socket while a chunk's rows arrive (poll it, then snap_step), or -1. */
int snap_pollfd(const struct snap *s);

/* Stream hooks, called for every decoded message in stream order. */
void snap_begin(struct snap *s, uint32_t xid);
void snap_change(struct snap *s, const struct pgo_msg *m, const struct pgo_decoder *dec);
/* Our watermark?  At the high one the chunk is forwarded through f, its
 * rows described by the catalog's Relation message; then the stream's own
 * (rels), which the changes that follow are decoded by, is sent again. */
int snap_message(struct snap *s, const struct pgo_msg *m, struct fwd *f,
    const struct relcache *rels);
void snap_commit(struct snap *s, lsn_t end_lsn);
/* The stream restarts from the confirmed LSN: an open chunk is read again,
 * and so are chunks forwarded that not every sink holds yet.  0 / -1. */
int snap_stream_restart(struct snap *s);
/* Sinks hold everything up to min_acked: delivered chunks become done. */
void snap_acked(struct snap *s, lsn_t min_acked);

/* All tables done and acked (initial_only exits then). */
int snap_finished(const struct snap *s);

#endif
