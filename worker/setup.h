/*
 * setup: what must hold on the source before a slot can stream: wal_level,
 * the slot's publication (created if missing, missing tables added) and the
 * replication slot itself.  Uses a plain SQL connection, closed afterwards.
 */
#ifndef PGCDC_SETUP_H
#define PGCDC_SETUP_H

#include <libpq-fe.h>

#include "common/cfg.h"
#include <stddef.h>

#include "common/lsn.h"

/* Returns 0, or the worker exit code: 1 retryable, 2 fatal (logged with fix).
 * has_progress: LMDB holds a confirmed LSN for this slot, so a missing slot
 * means changes may have been lost and must not be papered over.
 * dbname receives the source database name (for the envelope's "db"). */
int setup_source(const struct cfg *cfg, const struct cfg_slot *slot, int has_progress,
    const int *ours, char *dbname, size_t dblen);

/* Wait until no walsender holds the slot.  A walsender of ours (a killed
 * predecessor's: its pid is one of ours[0..1], the walsenders this state
 * dir's workers last connected, from LMDB) is waited for, then terminated.
 * Anyone else's is another consumer, maybe a second pgcdc on the same slot:
 * refused with exit code 2, and never terminated.  Returns 0, 1 or 2. */
int setup_slot_wait_free(PGconn *c, const char *name, const int *ours);
/* The same on a connection of its own, for a stream restart. */
int setup_slot_free(const struct cfg *cfg, const char *name, const int *ours);

#endif
