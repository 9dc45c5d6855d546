/*
 * kafka_pos: the kafka sink's position records, one per slot, in the topic
 * <prefix>.pgcdc_positions (key = slot name, partition 0), written inside
 * the same Kafka transaction as the data they cover, and read back at start.
 * A record is JSON that pgcdc alone writes and parses:
 *   {"sink":"bus","slot":"inventory","end_lsn":24023128,"lsn":"0/16E9058",
 *    "chunks":{"inventory.customers":3}}
 * (with every table's last snapshot chunk applied, so the newest record of a
 * slot is all that counts: the topic may be compacted).
 */
#ifndef PGCDC_KAFKA_POS_H
#define PGCDC_KAFKA_POS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/lsn.h"

struct kpos_chunk {
	char		*table;		/* "schema.table" */
	uint64_t	 id;		/* last snapshot chunk applied */
};

/* What a slot holds: its end_lsn and the chunk ids of its tables. */
struct kpos {
	lsn_t		 end_lsn;
	struct kpos_chunk *chunks;
	size_t		 nchunks;
};

/* The record of (sink, slot) at p. */
void kpos_render(struct buf *b, const char *sink, const char *slot, const struct kpos *p);
/* Parse a record into p (its chunks replaced).  1 parsed, 0 the record is
 * of another sink or slot, -1 malformed (p then holds no chunks). */
int kpos_parse(const void *val, size_t len, const char *sink, const char *slot,
    struct kpos *p);
/* Raise table's ("schema.table") chunk id to id.  1 if it moved, else 0. */
int kpos_set_chunk(struct kpos *p, const char *table, uint64_t id);
/* table's chunk id, 0 if none. */
uint64_t kpos_chunk(const struct kpos *p, const char *table);
void kpos_free(struct kpos *p);

/* A slot whose latest record kpos_scan looks for. */
struct kpos_want {
	const char	*slot;
	struct kpos	*pos;		/* filled in when found */
	int		 found;
};

/*
 * Read partition 0 of topic with a read_committed consumer, newest records
 * first (windows of KPOS_SCAN_WINDOW), until every wanted slot's latest
 * record of this sink is found or the partition's start is reached.  First
 * waits until no transaction that was open at the start is still open.
 * A missing topic holds nothing.  Returns 0 / -1 (logged).
 */
int kpos_scan(const char *brokers, const char *topic, const char *sink,
    struct kpos_want *want, size_t nwant);

/* librdkafka's log lines into ours (a log_cb). */
struct rd_kafka_s;
void kpos_log_cb(const struct rd_kafka_s *rk, int level, const char *fac, const char *msg);

#endif
