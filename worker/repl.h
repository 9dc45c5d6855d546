/*
 * repl: the streaming replication connection of one slot (pgoutput, proto 1),
 * in the style of pg_recvlogical: non-blocking PQgetCopyData on PQsocket,
 * standby status updates whose flush LSN is only ever the confirmed one.
 */
#ifndef PGCDC_REPL_H
#define PGCDC_REPL_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/cfg.h"
#include "common/lsn.h"

struct repl {
	PGconn		*conn;
	char		*copybuf;	/* libpq's buffer of the current message */
	lsn_t		 received;	/* highest WAL end seen */
	lsn_t		 flushed;	/* last flush LSN sent: never decreases */
	int64_t		 last_status_ms;
	char		 dbname[128];
};

struct repl_msg {
	char		 kind;		/* 'w' XLogData, 'k' keepalive */
	lsn_t		 data_start;
	lsn_t		 wal_end;
	int		 reply;		/* keepalive asks for an answer now */
	const uint8_t	*data;		/* 'w': the pgoutput message */
	size_t		 len;
};

/* Connect, IDENTIFY_SYSTEM, START_REPLICATION from `start`.  claim(pid)
 * runs before START_REPLICATION with the walsender's pid, so the worker can
 * record it as its own before it may hold the slot; claim's -1 aborts.
 * Returns 0, or the worker exit code (1 retry, 2 fatal). */
int repl_start(struct repl *r, const struct cfg *cfg, const struct cfg_slot *slot,
    lsn_t start, int (*claim)(int walsender_pid));
/* Next message without blocking: 1 got one (valid until the next call),
 * 0 none available now, -1 the stream ended or failed (logged). */
int repl_read(struct repl *r, struct repl_msg *m);
/* Send a standby status update with flush = confirmed (clamped so it never
 * goes backwards).  Returns 0 / -1. */
int repl_status(struct repl *r, lsn_t confirmed, int64_t now_ms);
int repl_socket(const struct repl *r);
/* End the stream politely (CopyDone) and close. */
void repl_close(struct repl *r);

#endif
