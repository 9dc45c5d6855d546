/*
 * wire: the protocol between workers (ZeroMQ DEALER, routing id = slot name)
 * and sinks (ROUTER bound at ipc://<run_dir>/sink-<name>.ipc).
 *
 * One ZeroMQ message is a frame: a version byte, then records
 *     u8 kind | u32 body length | body
 * worker -> sink
 *   WIRE_HELLO  u64 epoch, cstr slot, cstr dbname.  Sent on every (re)connect;
 *               the sink forgets the slot's relations and open transaction.
 *   WIRE_PGO    u64 wal_lsn, then one pgoutput message verbatim (pgo.h).
 *               Relations precede their first use after every HELLO.
 *   WIRE_ROW    u64 chunk id, u8 flags (WIRE_ROW_LAST: the table's last chunk),
 *               then a pgoutput Insert message ('I', relid, 'N', TupleData) that
 *               carries one snapshot row.  The rows of a chunk travel inside one
 *               transaction (the one holding the chunk's high watermark), so
 *               they are applied atomically with it; chunk ids of a table start
 *               at 1 and grow.  A sink applies them as op 'r' unless it already
 *               applied that chunk of that table for that slot.
 * sink -> worker
 *   WIRE_ACK    u64 epoch (of the last HELLO seen), u64 end_lsn, cstr slot,
 *               u64 consumed.
 *               Cumulative: every transaction with end_lsn <= this is durable.
 *               consumed: frame bytes of the slot taken in since the HELLO
 *               (written out, if not yet durable): flow control, so that a
 *               transaction larger than the worker's unacked-bytes limit
 *               still flows although nothing of it can be acked before COMMIT.
 *               epoch 0 means "I lost the stream (malformed or out of order
 *               input): say HELLO again and resend what I lack".
 * Transactions travel as BEGIN, changes, COMMIT; a sink skips a transaction
 * whose final_lsn is below what it already holds.  Decoding never trusts the
 * peer: a malformed frame is rejected whole.
 */
#ifndef PGCDC_WIRE_H
#define PGCDC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/lsn.h"

#define WIRE_VERSION	1
#define WIRE_HELLO	'H'
#define WIRE_PGO	'P'
#define WIRE_ACK	'A'
#define WIRE_ROW	'W'
#define WIRE_ROW_LAST	0x01

struct wire_rec {
	char		 kind;
	/* HELLO, ACK */
	uint64_t	 epoch;
	const char	*slot;
	const char	*dbname;	/* HELLO */
	lsn_t		 lsn;		/* PGO: wal_lsn; ACK: end_lsn */
	uint64_t	 consumed;	/* ACK */
	uint64_t	 chunk;		/* ROW: chunk id */
	uint8_t		 flags;		/* ROW: WIRE_ROW_LAST */
	/* PGO, ROW: the pgoutput message */
	const uint8_t	*data;
	size_t		 len;
};

/* Start a frame in b (resets it). */
void wire_frame_start(struct buf *b);
void wire_put_hello(struct buf *b, uint64_t epoch, const char *slot, const char *dbname);
void wire_put_pgo(struct buf *b, lsn_t wal_lsn, const void *msg, size_t len);
void wire_put_row(struct buf *b, uint64_t chunk, uint8_t flags, const void *msg, size_t len);
void wire_put_ack(struct buf *b, uint64_t epoch, lsn_t end_lsn, const char *slot,
    uint64_t consumed);

/* Iterate a received frame.  wire_frame_open checks the version; wire_next
 * returns 1 with *rec filled, 0 at the end, -1 on a malformed record (with a
 * reason in err).  Strings point into the frame. */
int wire_frame_open(struct rd *r, const void *frame, size_t len, char *err, size_t errlen);
int wire_next(struct rd *r, struct wire_rec *rec, char *err, size_t errlen);

/* ipc endpoint of a sink: "ipc://<run_dir>/sink-<name>.ipc". */
int wire_sink_endpoint(const char *run_dir, const char *sink, char *out, size_t len);

#endif
