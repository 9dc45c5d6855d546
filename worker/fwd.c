/*
 * fwd: ZeroMQ DEALER sockets from a worker to its sinks, with a socket
 * monitor each so that a sink restart is noticed (handshake succeeded /
 * disconnected).  ZMQ_IMMEDIATE keeps frames from queueing for a dead sink;
 * memory is bounded by the worker's unacked-bytes limit, not by ZeroMQ HWMs.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/wire.h"
#include "worker/fwd.h"

#define FWD_FRAME_BYTES	(256 * 1024)	/* send a frame once it is this big */
#define FWD_HELLO_RETRY_MS 2000
#define FWD_LINGER_MS	2	/* coalesce small transactions into one frame */

static int
sink_connect(struct fwd *f, struct fwd_sink *s, const char *run_dir, size_t idx)
{
	char ep[512], mon[64];
	int one = 1, zero = 0;

	if (wire_sink_endpoint(run_dir, s->name, ep, sizeof(ep)) < 0) {
		log_error("%s: run_dir too long for an ipc endpoint", __func__);
		return -1;
	}
	snprintf(mon, sizeof(mon), "inproc://mon-%zu", idx);
	if ((s->sock = zmq_socket(f->zctx, ZMQ_DEALER)) == NULL ||
	    zmq_setsockopt(s->sock, ZMQ_ROUTING_ID, f->slot, strlen(f->slot)) < 0 ||
	    zmq_setsockopt(s->sock, ZMQ_IMMEDIATE, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(s->sock, ZMQ_SNDHWM, &zero, sizeof(zero)) < 0 ||
	    zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
	    zmq_socket_monitor(s->sock, mon,
	    ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) < 0 ||
	    (s->mon = zmq_socket(f->zctx, ZMQ_PAIR)) == NULL ||
	    zmq_setsockopt(s->mon, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
	    zmq_connect(s->mon, mon) < 0 || zmq_connect(s->sock, ep) < 0) {
		log_error("%s: sink %s (%s): %s", __func__, s->name, ep,
		    zmq_strerror(errno));
		return -1;
	}
	return 0;
}

int
fwd_open(struct fwd *f, const struct cfg *cfg, const struct cfg_slot *slot,
    struct ckpt *ck)
{
	memset(f, 0, sizeof(*f));
	f->slot = slot->name;
	f->epoch_next = ((uint64_t)util_wall_ms() << 16) ^ (uint64_t)getpid();
	if ((f->zctx = zmq_ctx_new()) == NULL)
		return -1;
	f->sinks = calloc(slot->nsinks, sizeof(*f->sinks));
	if (f->sinks == NULL)
		return -1;
	f->nsinks = slot->nsinks;
	for (size_t i = 0; i < slot->nsinks; i++) {
		struct fwd_sink *s = &f->sinks[i];
		char key[CKPT_KEY_MAX + 1];

		snprintf(s->name, sizeof(s->name), "%s", slot->sinks[i]);
		snprintf(key, sizeof(key), "sink/%s/pos/%s", s->name, slot->name);
		if (ckpt_get_lsn(ck, key, &s->acked) < 0 ||
		    sink_connect(f, s, cfg->run_dir, i) < 0)
			return -1;
		s->sent = s->acked;
	}
	return 0;
}

void
fwd_close(struct fwd *f)
{
	for (size_t i = 0; i < f->nsinks; i++) {
		struct fwd_sink *s = &f->sinks[i];

		/* Monitoring stopped while its reader is still open: a stop
		 * event queued for a closed inproc peer can hang zmq_ctx_term
		 * (seen once in ~90 supervisor kills of the fault campaign). */
		if (s->sock)
			zmq_socket_monitor(s->sock, NULL, 0);
		if (s->mon)
			zmq_close(s->mon);
		if (s->sock)
			zmq_close(s->sock);
		buf_free(&s->frame);
		free(s->marks);
	}
	free(f->sinks);
	buf_free(&f->scratch);
	if (f->zctx)
		zmq_ctx_term(f->zctx);
	memset(f, 0, sizeof(*f));
}

size_t
fwd_pollitems(struct fwd *f, zmq_pollitem_t *items)
{
	for (size_t i = 0; i < f->nsinks; i++) {
		items[2 * i] = (zmq_pollitem_t){ .socket = f->sinks[i].sock, .events = ZMQ_POLLIN };
		items[2 * i + 1] = (zmq_pollitem_t){ .socket = f->sinks[i].mon, .events = ZMQ_POLLIN };
	}
	return 2 * f->nsinks;
}

static void
send_hello(struct fwd *f, struct fwd_sink *s, int64_t now_ms)
{
	s->epoch = ++f->epoch_next;
	wire_frame_start(&f->scratch);
	wire_put_hello(&f->scratch, s->epoch, f->slot, f->dbname);
	if (zmq_send(s->sock, f->scratch.data, f->scratch.len, ZMQ_DONTWAIT) < 0) {
		s->hello_ms = 0;	/* retry on the next service */
		return;
	}
	s->hello_ms = now_ms;
	s->hello_bytes = s->consumed_bytes = s->sent_bytes + s->frame.len;
	log_debug("hello to sink %s (epoch %llu)", s->name, (unsigned long long)s->epoch);
}

static void
sink_down(struct fwd *f, struct fwd_sink *s)
{
	if (s->connected || s->ready)
		log_warn("sink %s disconnected; holding the slot until it is back", s->name);
	s->connected = s->ready = 0;
	s->lost |= f->streaming;
	buf_reset(&s->frame);
}

static void
monitor_event(struct fwd *f, struct fwd_sink *s)
{
	zmq_msg_t m;
	uint16_t ev = 0;
	int more;

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, s->mon, ZMQ_DONTWAIT) < 0)
		return;
	if (zmq_msg_size(&m) >= 2)
		memcpy(&ev, zmq_msg_data(&m), 2);
	more = zmq_msg_more(&m);
	while (more && zmq_msg_recv(&m, s->mon, 0) >= 0)
		more = zmq_msg_more(&m);
	zmq_msg_close(&m);
	if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
		s->connected = 1;
		s->ready = 0;
		s->hello_ms = 0;
	} else if (ev == ZMQ_EVENT_DISCONNECTED) {
		sink_down(f, s);
	}
}

static void
ack_pop(struct fwd_sink *s)
{
	while (s->mhead != s->mtail && s->marks[s->mhead].end_lsn <= s->acked) {
		s->acked_bytes = s->marks[s->mhead].bytes;
		s->mhead++;
	}
	if (s->mhead == s->mtail)
		s->mhead = s->mtail = 0;
}

static void
handle_ack(struct fwd *f, struct fwd_sink *s, const struct wire_rec *a)
{
	if (a->epoch == 0 && s->ready) {
		log_warn("sink %s lost the stream; resending what it lacks", s->name);
		s->ready = 0;
		s->lost |= f->streaming;
		s->hello_ms = 0;
	}
	/* The answer to a HELLO: what the sink holds now.  Less than it acked
	 * before means it lost acked transactions (the slot may be confirmed
	 * past them): say so loudly, it must never happen. */
	if (!s->ready && a->epoch == s->epoch && a->lsn < s->acked) {
		char l1[LSN_BUFLEN], l2[LSN_BUFLEN];

		log_error("sink %s holds only up to %s but acked %s before: the "
		    "transactions between may be missing there", s->name,
		    lsn_format(a->lsn, l1), lsn_format(s->acked, l2));
	}
	if (a->lsn > s->acked)
		s->acked = a->lsn;
	if (a->epoch == s->epoch && s->hello_bytes + a->consumed > s->consumed_bytes)
		s->consumed_bytes = s->hello_bytes + a->consumed;
	if (s->acked > s->sent)
		s->sent = s->acked;
	ack_pop(s);
	if (!s->ready && s->connected && a->epoch == s->epoch) {
		char l[LSN_BUFLEN];

		s->ready = 1;
		log_info("sink %s ready, holds up to %s", s->name, lsn_format(s->acked, l));
		if (s->lost) {
			f->resync = 1;
			s->lost = 0;
		}
	}
}

static int
recv_acks(struct fwd *f, struct fwd_sink *s)
{
	char err[128];
	zmq_msg_t m;

	zmq_msg_init(&m);
	while (zmq_msg_recv(&m, s->sock, ZMQ_DONTWAIT) >= 0) {
		struct wire_rec rec;
		struct rd r;
		int rc;

		if (wire_frame_open(&r, zmq_msg_data(&m), zmq_msg_size(&m), err, sizeof(err)) < 0) {
			log_error("sink %s sent a bad frame: %s", s->name, err);
			continue;
		}
		while ((rc = wire_next(&r, &rec, err, sizeof(err))) > 0)
			if (rec.kind == WIRE_ACK && strcmp(rec.slot, f->slot) == 0)
				handle_ack(f, s, &rec);
		if (rc < 0)
			log_error("sink %s sent a bad record: %s", s->name, err);
	}
	zmq_msg_close(&m);
	return errno == EAGAIN ? 0 : -1;
}

int
fwd_service(struct fwd *f, int64_t now_ms)
{
	for (size_t i = 0; i < f->nsinks; i++) {
		struct fwd_sink *s = &f->sinks[i];
		int ev;
		size_t len = sizeof(ev);

		while (zmq_getsockopt(s->mon, ZMQ_EVENTS, &ev, &len) == 0 && (ev & ZMQ_POLLIN))
			monitor_event(f, s);
		if (recv_acks(f, s) < 0) {
			log_error("sink %s: receive: %s", s->name, zmq_strerror(errno));
			return -1;
		}
		if (s->connected && !s->ready &&
		    (s->hello_ms == 0 || now_ms - s->hello_ms > FWD_HELLO_RETRY_MS))
			send_hello(f, s, now_ms);
	}
	return 0;
}

int
fwd_all_ready(const struct fwd *f)
{
	for (size_t i = 0; i < f->nsinks; i++)
		if (!f->sinks[i].ready)
			return 0;
	return 1;
}

lsn_t
fwd_min_acked(const struct fwd *f)
{
	lsn_t m = UINT64_MAX;

	for (size_t i = 0; i < f->nsinks; i++)
		if (f->sinks[i].acked < m)
			m = f->sinks[i].acked;
	return f->nsinks ? m : LSN_INVALID;
}

int
fwd_in_flight(const struct fwd *f)
{
	for (size_t i = 0; i < f->nsinks; i++)
		if (f->sinks[i].acked < f->sinks[i].sent || f->sinks[i].frame.len > 0)
			return 1;
	return 0;
}

uint64_t
fwd_unacked_max(const struct fwd *f)
{
	uint64_t m = 0;

	for (size_t i = 0; i < f->nsinks; i++) {
		const struct fwd_sink *s = &f->sinks[i];
		uint64_t done = s->acked_bytes > s->consumed_bytes ? s->acked_bytes : s->consumed_bytes;
		uint64_t end = s->sent_bytes + s->frame.len;
		uint64_t u = end > done ? end - done : 0;

		if (u > m)
			m = u;
	}
	return m;
}

int
fwd_take_resync(struct fwd *f)
{
	int r = f->resync;

	f->resync = 0;
	return r;
}

/* The sink's pending frame, started if empty. */
static struct buf *
frame_of(struct fwd_sink *s)
{
	if (s->frame.len == 0) {
		wire_frame_start(&s->frame);
		s->frame_ms = util_now_ms();
	}
	return &s->frame;
}

static void
put(struct fwd_sink *s, lsn_t wal_lsn, const void *m, size_t n)
{
	wire_put_pgo(frame_of(s), wal_lsn, m, n);
}

void
fwd_begin(struct fwd *f, lsn_t final_lsn, lsn_t wal_lsn, const void *m, size_t n)
{
	char l[LSN_BUFLEN];

	for (size_t i = 0; i < f->nsinks; i++) {
		struct fwd_sink *s = &f->sinks[i];

		/* Held already: its commit record starts below what the sink has. */
		s->skip = !s->ready || final_lsn < s->acked;
		if (s->skip && s->ready && !s->replaying++)
			log_info("sink %s already holds transactions from %s on; not "
			    "resending them", s->name, lsn_format(final_lsn, l));
		else if (!s->skip)
			s->replaying = 0;
		if (!s->skip)
			put(s, wal_lsn, m, n);
	}
}

void
fwd_txn(struct fwd *f, lsn_t wal_lsn, const void *m, size_t n)
{
	for (size_t i = 0; i < f->nsinks; i++)
		if (!f->sinks[i].skip)
			put(&f->sinks[i], wal_lsn, m, n);
}

void
fwd_row(struct fwd *f, uint64_t chunk, uint8_t flags, const void *m, size_t n)
{
	for (size_t i = 0; i < f->nsinks; i++) {
		struct fwd_sink *s = &f->sinks[i];

		if (!s->skip)
			wire_put_row(frame_of(s), chunk, flags, m, n);
	}
}

void
fwd_all(struct fwd *f, lsn_t wal_lsn, const void *m, size_t n)
{
	for (size_t i = 0; i < f->nsinks; i++)
		if (f->sinks[i].ready)
			put(&f->sinks[i], wal_lsn, m, n);
}

static void
mark_commit(struct fwd_sink *s, lsn_t end_lsn)
{
	if (s->mtail == s->mcap) {
		if (s->mhead > 0) {
			memmove(s->marks, s->marks + s->mhead,
			    (s->mtail - s->mhead) * sizeof(*s->marks));
			s->mtail -= s->mhead;
			s->mhead = 0;
		} else {
			s->mcap = s->mcap ? 2 * s->mcap : 1024;
			s->marks = realloc(s->marks, s->mcap * sizeof(*s->marks));
			if (s->marks == NULL)
				fatal(1, "%s: out of memory", __func__);
		}
	}
	s->marks[s->mtail++] = (struct fwd_commit_mark){ end_lsn, s->sent_bytes + s->frame.len };
	s->sent = end_lsn;
}

void
fwd_commit(struct fwd *f, lsn_t end_lsn, lsn_t wal_lsn, const void *m, size_t n)
{
	for (size_t i = 0; i < f->nsinks; i++) {
		struct fwd_sink *s = &f->sinks[i];

		if (s->skip)
			continue;
		put(s, wal_lsn, m, n);
		mark_commit(s, end_lsn);
	}
}

void
fwd_single(struct fwd *f, lsn_t lsn, lsn_t wal_lsn, const void *m, size_t n)
{
	for (size_t i = 0; i < f->nsinks; i++) {
		struct fwd_sink *s = &f->sinks[i];

		if (!s->ready || lsn <= s->acked)
			continue;
		put(s, wal_lsn, m, n);
		mark_commit(s, lsn);
	}
}

static int
send_frame(struct fwd *f, struct fwd_sink *s)
{
	if (zmq_send(s->sock, s->frame.data, s->frame.len, ZMQ_DONTWAIT) < 0) {
		if (errno != EAGAIN) {
			log_error("send to sink %s: %s", s->name, zmq_strerror(errno));
			return -1;
		}
		/* No connection: say hello again, it gets all it lacks then. */
		s->ready = 0;
		s->lost |= f->streaming;
		s->hello_ms = 0;
		buf_reset(&s->frame);
		return 0;
	}
	s->sent_bytes += s->frame.len;
	buf_reset(&s->frame);
	return 0;
}

int
fwd_flush(struct fwd *f, int only_big)
{
	for (size_t i = 0; i < f->nsinks; i++) {
		struct fwd_sink *s = &f->sinks[i];

		if (s->frame.len == 0 || (only_big && s->frame.len < FWD_FRAME_BYTES))
			continue;
		if (send_frame(f, s) < 0)
			return -1;
	}
	return 0;
}

int
fwd_flush_due(struct fwd *f, int64_t now_ms)
{
	int next = INT_MAX;

	for (size_t i = 0; i < f->nsinks; i++) {
		struct fwd_sink *s = &f->sinks[i];
		int64_t age = now_ms - s->frame_ms;

		if (s->frame.len == 0)
			continue;
		if (s->frame.len >= FWD_FRAME_BYTES || age >= FWD_LINGER_MS) {
			if (send_frame(f, s) < 0)
				return -1;
		} else if (FWD_LINGER_MS - age < next) {
			next = (int)(FWD_LINGER_MS - age);
		}
	}
	return next;
}
