/*
 * ckpt: the checkpoint store, one LMDB environment in state_dir shared by
 * every pgcdc process.  Open it only after exec, never across fork (LMDB:
 * "use an MDB_env in the process that opened it").
 *
 * Writes go through a batch: puts and deletes are recorded in memory and
 * applied in one LMDB write transaction by ckpt_commit().  When the map is
 * full the transaction is aborted, the map doubled and the batch replayed, so
 * callers never see MDB_MAP_FULL.  A map grown by another process
 * (MDB_MAP_RESIZED) is adopted transparently.  Stale reader slots of dead
 * processes are cleared at open and before every write.
 *
 * Keys (ASCII, '/'-separated; values are raw bytes, LSNs big-endian u64):
 *   slot/<slot>/confirmed          lsn the worker confirmed to PostgreSQL
 *   sink/<sink>/pos/<slot>         end_lsn of the last transaction the sink holds
 *   sink/<sink>/file/<schema>.<table>   jsonl: u64 segment, u64 offset
 */
#ifndef PGCDC_CKPT_H
#define PGCDC_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/lsn.h"

#define CKPT_KEY_MAX 511	/* LMDB's default maximum key size */

struct ckpt;

/* Create state_dir (0700) if missing and open the environment there.
 * map_size 0 = default (64 MiB).  Returns NULL with the cause logged. */
struct ckpt *ckpt_open(const char *state_dir, size_t map_size);
void ckpt_close(struct ckpt *c);

/* Read a value into val (at most *len bytes); *len is set to the stored
 * length.  Returns 1 found, 0 not found, -1 error (logged). */
int ckpt_get(struct ckpt *c, const char *key, void *val, size_t *len);
int ckpt_get_lsn(struct ckpt *c, const char *key, lsn_t *out);	/* 0 if absent */

/* Visit every key starting with prefix, in key order, in one read
 * transaction.  fn returns 0 to go on, non-zero to stop.  Returns 0 / -1. */
int ckpt_scan(struct ckpt *c, const char *prefix,
    int (*fn)(const char *key, const void *val, size_t len, void *arg), void *arg);

/* Write batch.  Reuse one across commits: it keeps its buffer. */
struct ckpt_batch {
	struct buf	ops;
	size_t		count;
};

void ckpt_put(struct ckpt_batch *b, const char *key, const void *val, size_t len);
void ckpt_put_lsn(struct ckpt_batch *b, const char *key, lsn_t lsn);
void ckpt_del(struct ckpt_batch *b, const char *key);
/* Apply the batch atomically and durably (fsync'd), then empty it.
 * Returns 0, or -1 with the cause logged (the batch is kept for a retry). */
int ckpt_commit(struct ckpt *c, struct ckpt_batch *b);
void ckpt_batch_free(struct ckpt_batch *b);

/* Current map size, for status and tests. */
size_t ckpt_map_size(struct ckpt *c);

#endif
