/*
 * wire: frame encoding and decoding between workers and sinks (wire.h).
 * Encoders append to a reused buffer; the decoder validates every length
 * against the frame and hands out pointers into it.
 */
#include <stdio.h>
#include <string.h>

#include "common/wire.h"

static void
put_cstr(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s) + 1);
}

/* Write the record header with a placeholder length; returns its offset. */
static size_t
rec_start(struct buf *b, char kind)
{
	size_t at = b->len;

	buf_put_u8(b, (uint8_t)kind);
	buf_put_u32(b, 0);
	return at;
}

static void
rec_end(struct buf *b, size_t at)
{
	buf_set_u32(b, at + 1, (uint32_t)(b->len - at - 5));
}

void
wire_frame_start(struct buf *b)
{
	buf_reset(b);
	buf_put_u8(b, WIRE_VERSION);
}

void
wire_put_hello(struct buf *b, uint64_t epoch, const char *slot, const char *dbname)
{
	size_t at = rec_start(b, WIRE_HELLO);

	buf_put_u64(b, epoch);
	put_cstr(b, slot);
	put_cstr(b, dbname);
	rec_end(b, at);
}

void
wire_put_pgo(struct buf *b, lsn_t wal_lsn, const void *msg, size_t len)
{
	size_t at = rec_start(b, WIRE_PGO);

	buf_put_u64(b, wal_lsn);
	buf_append(b, msg, len);
	rec_end(b, at);
}

void
wire_put_row(struct buf *b, uint64_t chunk, uint8_t flags, const void *msg, size_t len)
{
	size_t at = rec_start(b, WIRE_ROW);

	buf_put_u64(b, chunk);
	buf_put_u8(b, flags);
	buf_append(b, msg, len);
	rec_end(b, at);
}

void
wire_put_ack(struct buf *b, uint64_t epoch, lsn_t end_lsn, const char *slot,
    uint64_t consumed)
{
	size_t at = rec_start(b, WIRE_ACK);

	buf_put_u64(b, epoch);
	buf_put_u64(b, end_lsn);
	put_cstr(b, slot);
	buf_put_u64(b, consumed);
	rec_end(b, at);
}

int
wire_frame_open(struct rd *r, const void *frame, size_t len, char *err, size_t errlen)
{
	uint8_t v;

	rd_init(r, frame, len);
	if (rd_u8(r, &v) < 0 || v != WIRE_VERSION) {
		snprintf(err, errlen, "bad frame version (length %zu)", len);
		return -1;
	}
	return 0;
}

static int
decode_body(struct rd *b, struct wire_rec *rec)
{
	switch (rec->kind) {
	case WIRE_HELLO:
		return (rd_u64(b, &rec->epoch) < 0 || rd_cstr(b, &rec->slot) < 0 ||
		    rd_cstr(b, &rec->dbname) < 0 || rd_left(b) != 0) ? -1 : 0;
	case WIRE_ACK:
		return (rd_u64(b, &rec->epoch) < 0 || rd_u64(b, &rec->lsn) < 0 ||
		    rd_cstr(b, &rec->slot) < 0 || rd_u64(b, &rec->consumed) < 0 ||
		    rd_left(b) != 0) ? -1 : 0;
	case WIRE_PGO:
		if (rd_u64(b, &rec->lsn) < 0 || rd_left(b) == 0)
			return -1;
		rec->data = b->p;
		rec->len = rd_left(b);
		return 0;
	case WIRE_ROW:
		if (rd_u64(b, &rec->chunk) < 0 || rd_u8(b, &rec->flags) < 0 ||
		    rd_left(b) == 0)
			return -1;
		rec->data = b->p;
		rec->len = rd_left(b);
		return 0;
	default:
		return -1;
	}
}

int
wire_next(struct rd *r, struct wire_rec *rec, char *err, size_t errlen)
{
	const uint8_t *body;
	uint8_t kind;
	uint32_t n;
	struct rd b;

	if (rd_left(r) == 0)
		return 0;
	memset(rec, 0, sizeof(*rec));
	if (rd_u8(r, &kind) < 0 || rd_u32(r, &n) < 0 || rd_bytes(r, n, &body) < 0) {
		snprintf(err, errlen, "truncated record header or body");
		return -1;
	}
	rec->kind = (char)kind;
	rd_init(&b, body, n);
	if (decode_body(&b, rec) < 0) {
		snprintf(err, errlen, "malformed record kind 0x%02x length %u", kind, n);
		return -1;
	}
	return 1;
}

int
wire_sink_endpoint(const char *run_dir, const char *sink, char *out, size_t len)
{
	int n = snprintf(out, len, "ipc://%s/sink-%s.ipc", run_dir, sink);

	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}
