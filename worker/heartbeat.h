/*
 * heartbeat: slot option heartbeat_interval.  Every N seconds a
 * non-transactional logical message (prefix pgcdc-heartbeat, never delivered)
 * is written to the source's WAL on a plain SQL connection of its own, so an
 * idle slot's stream carries a position the worker can confirm.
 */
#ifndef PGCDC_HEARTBEAT_H
#define PGCDC_HEARTBEAT_H

#include <stdint.h>

#include <libpq-fe.h>

#include "common/cfg.h"

struct heartbeat {
	PGconn		*conn;
	int64_t		 next_ms;	/* 0: not started */
	int		 warned;	/* a failure was logged; quiet until it works */
};

/* Emit one if due (blocking, a few ms on a healthy server).  A failure is
 * logged once and retried at the next interval; it never stops streaming. */
void heartbeat_tick(struct heartbeat *h, const struct cfg *cfg,
    const struct cfg_slot *slot, int64_t now_ms);
void heartbeat_close(struct heartbeat *h);

#endif
