/*
 * pgcdc-sink: binds a ZeroMQ ROUTER at ipc://<run_dir>/sink-<name>.ipc,
 * applies frames from every worker that connects, and group-commits: while
 * frames keep arriving it flushes (fsync + LMDB) at most every
 * SINK_FLUSH_MS, or as long as the last flush took if that was longer (a
 * flush of many tables' files must not take the whole loop), and as soon
 * as the stream pauses; then it acks each slot's
 * new durable position.  Between flushes, a pause in the input hands what
 * was applied to the target at once (sink_ops.idle: jsonl writes its lines,
 * so they are readable without waiting for the window's fsync).
 * SIGTERM: flush, ack, exit 0.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "common/log.h"
#include "common/proc.h"
#include "common/sig.h"
#include "common/util.h"
#include "common/wire.h"
#include "sink/sink.h"

#define SINK_BATCH_FRAMES	256	/* then look at signals again */
#define SINK_FLUSH_MS		5	/* group commit window: one fsync per window */
#define SINK_CONSUMED_ACK	(1 << 20)	/* report intake every MiB (flow control) */
#define SINK_WAIT_POLL_MS	500	/* how often a waiting sink looks at its target */

static int
bind_router(void *zctx, const struct cfg *cfg, const char *name, void **out)
{
	char ep[512];
	int one = 1, zero = 0;
	void *sock;

	if (util_mkdir_p(cfg->run_dir, 0700) < 0 ||
	    wire_sink_endpoint(cfg->run_dir, name, ep, sizeof(ep)) < 0)
		return -1;
	if ((sock = zmq_socket(zctx, ZMQ_ROUTER)) == NULL ||
	    zmq_setsockopt(sock, ZMQ_ROUTER_HANDOVER, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_RCVHWM, &zero, sizeof(zero)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
	    zmq_bind(sock, ep) < 0) {
		log_error("bind %s: %s", ep, zmq_strerror(errno));
		return -1;
	}
	log_info("listening on %s", ep);
	*out = sock;
	return 0;
}

static void
send_acks(struct sink *s, void *sock, struct buf *b)
{
	for (size_t i = 0; i < s->nslots; i++) {
		struct sink_slot *sl = &s->slots[i];

		if (!sl->ack_due && sl->acked == sl->durable &&
		    sl->consumed - sl->consumed_acked < SINK_CONSUMED_ACK)
			continue;
		wire_frame_start(b);
		wire_put_ack(b, sl->epoch, sl->durable, sl->name, sl->consumed);
		/* A worker that is gone just misses it: it asks again on HELLO. */
		if (zmq_send(sock, sl->name, strlen(sl->name), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
		    zmq_send(sock, b->data, b->len, ZMQ_DONTWAIT) < 0)
			continue;
		sl->ack_due = 0;
		sl->acked = sl->durable;
		sl->consumed_acked = sl->consumed;
	}
}

/* Receive one [routing id, frame] message; 1 got one, 0 none, -1 error. */
static int
recv_frame(struct sink *s, void *sock, zmq_msg_t *id, zmq_msg_t *frame)
{
	char rid[64];
	size_t n;

	if (zmq_msg_recv(id, sock, ZMQ_DONTWAIT) < 0)
		return errno == EAGAIN ? 0 : -1;
	if (!zmq_msg_more(id) || zmq_msg_recv(frame, sock, 0) < 0)
		return 0;
	while (zmq_msg_more(frame) && zmq_msg_recv(frame, sock, 0) >= 0)
		;	/* extra parts are not ours: drop them */
	n = zmq_msg_size(id);
	if (n >= sizeof(rid)) {
		sink_reject(s, "(long id)", "a %zu-byte routing id: not a worker", n);
		return 1;
	}
	memcpy(rid, zmq_msg_data(id), n);
	rid[n] = '\0';
	return sink_frame(s, rid, zmq_msg_data(frame), zmq_msg_size(frame)) < 0 ? -1 : 1;
}

static int
loop(struct sink *s, void *sock)
{
	struct buf ack = { 0 };
	zmq_msg_t id, frame;
	int64_t flushed = 0, window = SINK_FLUSH_MS;
	int rc = PROC_EXIT_RETRY;

	zmq_msg_init(&id);
	zmq_msg_init(&frame);
	for (;;) {
		zmq_pollitem_t items[2] = {
			{ .socket = sock, .events = ZMQ_POLLIN },
			{ .fd = sig_fd(), .events = ZMQ_POLLIN },
		};
		int64_t wait = s->dirty ? flushed + window - util_now_ms() : 1000;
		int n = 0, got = 1, polled;

		if ((polled = zmq_poll(items, 2, wait < 0 ? 0 : wait)) < 0 && errno != EINTR)
			break;
		if (sig_take(SIGUSR2))
			log_reopen();
		if (sig_take(SIGHUP))
			sink_reload_routing(s);
		if (sig_take(SIGQUIT)) {
			rc = PROC_EXIT_STOP;
			break;
		}
		if (sig_take(SIGTERM) | sig_take(SIGINT)) {
			rc = sink_flush(s) < 0 ? PROC_EXIT_RETRY : PROC_EXIT_STOP;
			send_acks(s, sock, &ack);
			break;
		}
		while (n++ < SINK_BATCH_FRAMES && (got = recv_frame(s, sock, &id, &frame)) > 0)
			;
		/* The input paused: what was applied goes to the target now. */
		if (got < 0 || (got == 0 && s->dirty && s->ops->idle != NULL && s->ops->idle(s) < 0))
			break;
		/* Flush when the window is over or the stream paused (poll timed out). */
		if (s->dirty && (polled == 0 || util_now_ms() - flushed >= window)) {
			int64_t t0 = util_now_ms();

			if (sink_flush(s) < 0)
				break;
			flushed = util_now_ms();
			window = flushed - t0 > SINK_FLUSH_MS ? flushed - t0 : SINK_FLUSH_MS;
		}
		send_acks(s, sock, &ack);
	}
	zmq_msg_close(&id);
	zmq_msg_close(&frame);
	buf_free(&ack);
	return rc;
}

/*
 * The sink failed because its target cannot take data (disk full, server
 * down): nothing past the last flush was acked, so nothing is lost.  Hold
 * still (the worker holds the stream back) until the kind says the target
 * is back, then exit to be started again at once (PROC_EXIT_AGAIN, not a
 * crash): recovery resumes from what is durable.  Other failures: RETRY.
 */
static int
wait_available(struct sink *s)
{
	char why[600];
	int64_t told = util_now_ms();

	if (s->ops == NULL || s->ops->unavailable == NULL || !s->ops->unavailable(s, why, sizeof(why)))
		return PROC_EXIT_RETRY;
	log_error("sink %s waits: %s; nothing past its last acknowledged transaction is "
	    "lost, the source keeps the rest", s->conf->name, why);
	for (;;) {
		struct pollfd p = { .fd = sig_fd(), .events = POLLIN };

		if (poll(&p, 1, SINK_WAIT_POLL_MS) < 0 && errno != EINTR)
			return PROC_EXIT_RETRY;
		if (sig_take(SIGUSR2))
			log_reopen();
		if (sig_take(SIGTERM) | sig_take(SIGINT) | sig_take(SIGQUIT))
			return PROC_EXIT_STOP;
		if (!s->ops->unavailable(s, why, sizeof(why))) {
			log_info("sink %s: its target takes data again: starting again", s->conf->name);
			return PROC_EXIT_AGAIN;
		}
		if (util_now_ms() - told >= 60000) {
			log_warn("sink %s still waits: %s", s->conf->name, why);
			told = util_now_ms();
		}
	}
}

int
main(int argc, char **argv)
{
	const struct cfg_sink *conf;
	struct cfg *cfg;
	const char *name;
	struct sink s;
	void *zctx, *sock = NULL;
	int rc = PROC_EXIT_RETRY;

	cfg = proc_child_init(argc, argv, "sink", &name);
	if ((conf = cfg_sink_find(cfg, name)) == NULL)
		fatal(PROC_EXIT_FATAL, "sink %s is not in %s", name, cfg->path);
	if (sink_open(&s, cfg, conf) < 0) {
		rc = wait_available(&s);
		sink_close(&s);
		cfg_free(cfg);
		return rc;
	}
	if ((zctx = zmq_ctx_new()) != NULL && bind_router(zctx, cfg, name, &sock) == 0)
		rc = loop(&s, sock);
	proc_teardown_deadline();
	if (sock)
		zmq_close(sock);
	if (zctx)
		zmq_ctx_term(zctx);
	if (rc == PROC_EXIT_RETRY) {	/* may wait long: no teardown deadline */
		alarm(0);
		rc = wait_available(&s);
		proc_teardown_deadline();
	}
	sink_close(&s);
	log_info("stopped (exit %d)", rc);
	cfg_free(cfg);
	return rc;
}
