/*
 * pgcdc-worker: owns one replication slot.  It streams pgoutput, forwards
 * each transaction to the slot's sinks and confirms to PostgreSQL only what
 * every sink acked durably, after committing it to LMDB (DESIGN.md 4).
 * NOTES: the loop never blocks on a sink: keepalives are answered and status
 * updates sent while reading is paused for backpressure or a missing sink.
 * stream_in_progress: streamed transactions go to the spool and are
 * forwarded at their Stream Commit as ordinary ones, before anything later.
 * States: CONNECTING (waiting for sinks, then START_REPLICATION),
 * STREAMING, DRAINING (asked to stop: wait for acks, confirm, exit 0).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ckpt.h"
#include "common/log.h"
#include "common/pgo.h"
#include "common/proc.h"
#include "common/sig.h"
#include "common/util.h"
#include "worker/ddl.h"
#include "worker/fwd.h"
#include "worker/heartbeat.h"
#include "worker/repl.h"
#include "worker/setup.h"
#include "worker/snap.h"
#include "worker/spool.h"
#include "worker/tables.h"

#define W_MAX_MSGS_PER_TURN	20000	/* then look at sinks and signals again */
#define W_CKPT_EVERY_MS		200	/* LMDB commit cadence for confirmed */
#define W_CKPT_IDLE_MS		20	/* ... once every sink acked all it was sent */
#define W_DRAIN_MS		10000
#define W_POLL_MS		100	/* longest sleep: signals, sinks, timers */
#define W_LINGER_BELOW		64	/* a burst this small means "trickle" */
#ifndef W_LINGER_US
#define W_LINGER_US		300	/* shorter than the walsender takes to fill
				 * the socket in a backlog (then it blocks) */
#endif

enum wstate { W_CONNECTING, W_STREAMING, W_DRAINING };
static const char *const wstate_names[] = { "CONNECTING", "STREAMING", "DRAINING" };

static struct worker {
	struct cfg		*cfg;
	const struct cfg_slot	*slot;		/* = &own */
	struct cfg_slot		 own;		/* the slot with patterns and shards resolved */
	int			 again;		/* exit PROC_EXIT_AGAIN after draining */
	const char		*name;		/* the replication slot (argv) */
	int64_t			 rescan_ms;	/* last periodic look for new tables */
	int64_t			 rate_ms;	/* changes/s since the last status write */
	uint64_t		 rate_changes, rate;
	struct ckpt		*ck;
	struct ckpt_batch	 batch;
	struct repl		 repl;
	struct fwd		 fwd;
	struct pgo_decoder	 dec;
	struct relcache		*rels;
	struct snap		*snap;		/* NULL: no snapshot work (left) */
	struct heartbeat	 hb;
	struct spool		 spool;		/* stream_in_progress */
	int			 replaying;	/* a committed streamed transaction */
	struct pgo_msg		 rcommit;	/* its Stream Commit */
	lsn_t			 rwal;
	struct buf		 v1;		/* a stream's relation, xid cut out */
	enum wstate		 state;
	lsn_t			 confirmed;	/* committed to LMDB */
	lsn_t			 idle_end;	/* last keepalive WAL end, this stream */
	int			 walsenders[2];	/* ours: the last two we connected */
	int			 in_txn;
	int			 reply_due;
	int			 poll_ms;	/* next zmq_poll timeout */
	int			 linger;	/* last read was a trickle */
	int64_t			 ckpt_ms;
	int64_t			 ckpt_wait;	/* ms until confirmed may commit, -1 none */
	int64_t			 drain_deadline;
	uint64_t		 changes;
	char			 key[CKPT_KEY_MAX + 1];	/* slot/<name>/confirmed */
	char			 ws_key[CKPT_KEY_MAX + 1];	/* slot/<name>/walsenders */
	char			 status_key[CKPT_KEY_MAX + 1];
} W;

static void
set_state(enum wstate s)
{
	if (W.state != s)
		log_info("state %s -> %s", wstate_names[W.state], wstate_names[s]);
	W.state = s;
}

/* Commit the new confirmed LSN to LMDB, then tell PostgreSQL. */
static int
confirm(int64_t now, int force)
{
	lsn_t target = fwd_min_acked(&W.fwd);
	char status[160];

	if (target < W.confirmed)
		target = W.confirmed;
	/* Idle: nothing open or unacked, so the keepalive's end is safe too. */
	if (!W.in_txn && !fwd_in_flight(&W.fwd) && fwd_all_ready(&W.fwd) &&
	    W.idle_end > target)
		target = W.idle_end;
	if (W.snap)
		snap_acked(W.snap, fwd_min_acked(&W.fwd));
	/* A stream at rest commits soon: the slot's confirmed_flush (what
	 * PostgreSQL may recycle WAL up to, and what an operator watches)
	 * catches up with the sinks within W_CKPT_IDLE_MS of their last ack. */
	W.ckpt_wait = target <= W.confirmed ? -1 :
	    (!W.in_txn && !fwd_in_flight(&W.fwd) ? W_CKPT_IDLE_MS : W_CKPT_EVERY_MS) -
	    (now - W.ckpt_ms);
	if (target > W.confirmed && (force || W.ckpt_wait <= 0)) {
		ckpt_put_lsn(&W.batch, W.key, target);
		if (now > W.rate_ms)
			W.rate = (W.changes - W.rate_changes) * 1000 / (uint64_t)(now - W.rate_ms);
		W.rate_ms = now;
		W.rate_changes = W.changes;
		snprintf(status, sizeof(status), "state=%s pid=%d changes=%llu changes/s=%llu",
		    wstate_names[W.state], (int)getpid(), (unsigned long long)W.changes,
		    (unsigned long long)W.rate);
		ckpt_put(&W.batch, W.status_key, status, strlen(status));
		if (ckpt_commit(W.ck, &W.batch) < 0)
			return -1;
		W.confirmed = target;
		W.ckpt_ms = now;
		W.ckpt_wait = -1;
		W.reply_due = 1;
	}
	if (W.repl.conn && (W.reply_due ||
	    now - W.repl.last_status_ms >= W.cfg->status_interval_ms)) {
		W.reply_due = 0;
		return repl_status(&W.repl, W.confirmed, now);
	}
	return 0;
}

static int handle_pgo(lsn_t wal, const uint8_t *data, size_t len);

/* A message inside a stream goes to the spool in its protocol v1 form.
 * Relations and types also take effect now: a rolled back subtransaction
 * can take the only copy of one with it, and they only describe tables. */
static int
spool_msg(struct pgo_msg *m, lsn_t wal, const uint8_t *data, size_t len)
{
	size_t skip = 1 + m->xid_len;

	if (m->type == PGO_RELATION) {
		relcache_put(W.rels, m->rel);
		m->rel = NULL;
	}
	if (spool_add(&W.spool, m->xid_len ? m->xid : 0, wal, data, data + skip,
	    len - skip) < 0)
		return -1;
	if (m->type == PGO_RELATION || m->type == PGO_TYPE) {
		/* Forward in the v1 form the sinks decode: type byte, then body. */
		buf_reset(&W.v1);
		buf_append(&W.v1, data, 1);
		buf_append(&W.v1, data + skip, len - skip);
		fwd_all(&W.fwd, wal, W.v1.data, W.v1.len);
	}
	return 0;
}

/* Forward a committed streamed transaction as an ordinary one: a Begin
 * made from its Stream Commit, the spooled messages (replay_step), Commit. */
static int
stream_commit(const struct pgo_msg *m, lsn_t wal)
{
	uint8_t msg[32];
	struct buf b = { .data = msg, .cap = sizeof(msg) };
	char l[LSN_BUFLEN];

	if (spool_replay(&W.spool, m->xid) < 0)
		return -1;
	log_debug("streamed transaction %u committed at %s: forwarding it", m->xid,
	    lsn_format(m->commit.end_lsn, l));
	W.rcommit = *m;
	W.rwal = wal;
	W.replaying = 1;
	buf_put_u8(&b, PGO_BEGIN);
	buf_put_u64(&b, m->commit.commit_lsn);
	buf_put_u64(&b, (uint64_t)m->commit.commit_ts);
	buf_put_u32(&b, m->xid);
	return handle_pgo(wal, b.data, b.len);
}

static int
replay_step(void)
{
	const struct pgo_msg *m = &W.rcommit;
	uint8_t msg[32];
	struct buf b = { .data = msg, .cap = sizeof(msg) };
	const uint8_t *data;
	size_t len;
	lsn_t wal;
	int rc;

	if ((rc = spool_next(&W.spool, &wal, &data, &len)) != 0)
		return rc < 0 ? -1 : handle_pgo(wal, data, len);
	W.replaying = 0;
	buf_put_u8(&b, PGO_COMMIT);
	buf_put_u8(&b, m->commit.flags);
	buf_put_u64(&b, m->commit.commit_lsn);
	buf_put_u64(&b, m->commit.end_lsn);
	buf_put_u64(&b, (uint64_t)m->commit.commit_ts);
	return handle_pgo(W.rwal, b.data, b.len);
}

static int
handle_stream(struct pgo_msg *m, lsn_t wal, const uint8_t *data, size_t len)
{
	switch (m->type) {
	case PGO_STREAM_START:
		return spool_start(&W.spool, m->xid, m->stream_start.first_segment);
	case PGO_STREAM_STOP:
		return spool_stop(&W.spool);
	case PGO_STREAM_ABORT:
		return spool_abort(&W.spool, m->xid, m->stream_abort.subxid);
	case PGO_STREAM_COMMIT:
		return stream_commit(m, wal);
	}
	return spool_msg(m, wal, data, len);
}

static int
handle_pgo(lsn_t wal, const uint8_t *data, size_t len)
{
	struct pgo_msg m;
	char l[LSN_BUFLEN];

	/* A change in a stream only needs its xid now; it is decoded (and
	 * checked) when it is forwarded. */
	if (W.dec.in_stream && len > 5 && data[0] && strchr("IUDTM", data[0])) {
		uint32_t xid = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
		    (uint32_t)data[3] << 8 | data[4];

		return spool_add(&W.spool, xid, wal, data, data + 5, len - 5);
	}
	if (pgo_decode(&W.dec, data, len, &m) < 0) {
		log_error("malformed pgoutput message at %s: %s", lsn_format(wal, l), W.dec.err);
		return -1;
	}
	if (W.dec.in_stream || strchr("SEcA", m.type)) {
		if (!W.slot->stream) {
			log_error("stream message '%c' at %s, but streaming is off", m.type,
			    lsn_format(wal, l));
			return -1;
		}
		return handle_stream(&m, wal, data, len) < 0 ? -1 : fwd_flush(&W.fwd, 1);
	}
	switch (m.type) {
	case PGO_BEGIN:
		W.in_txn = 1;
		fwd_begin(&W.fwd, m.begin.final_lsn, wal, data, len);
		if (W.snap)
			snap_begin(W.snap, m.begin.xid);
		break;
	case PGO_COMMIT:
		fwd_commit(&W.fwd, m.commit.end_lsn, wal, data, len);
		W.in_txn = 0;
		if (W.snap)
			snap_commit(W.snap, m.commit.end_lsn);
		break;
	case PGO_RELATION:
		relcache_put(W.rels, m.rel);
		fwd_all(&W.fwd, wal, data, len);
		break;
	case PGO_INSERT: case PGO_UPDATE: case PGO_DELETE:
		if (relcache_get(W.rels, m.change.relid) == NULL) {
			log_error("change for unknown relation %u at %s", m.change.relid,
			    lsn_format(wal, l));
			return -1;
		}
		W.changes++;
		/* FALLTHROUGH */
	case PGO_TRUNCATE:
		if (W.snap)
			snap_change(W.snap, &m, &W.dec);
		/* FALLTHROUGH */
	case PGO_ORIGIN:
		if (W.in_txn)
			fwd_txn(&W.fwd, wal, data, len);
		break;
	case PGO_TYPE:		/* sent once per session, like relations: to all */
		fwd_all(&W.fwd, wal, data, len);
		break;
	case PGO_MESSAGE:
		if (strncmp(m.message.prefix, "pgcdc-", 6) == 0) {	/* ours: never forwarded */
			if (W.in_txn && !ddl_message(W.rels, &m, &W.fwd, wal) && W.snap)
				snap_message(W.snap, &m, &W.fwd, W.rels);
			/* A heartbeat: all before it has been read, like a keepalive. */
			if (!W.in_txn && strcmp(m.message.prefix, "pgcdc-heartbeat") == 0 &&
			    wal > W.idle_end)
				W.idle_end = wal;
		} else if (W.in_txn) {
			fwd_txn(&W.fwd, wal, data, len);
		} else {	/* non-transactional: a unit of its own */
			fwd_single(&W.fwd, m.message.lsn, wal, data, len);
		}
		break;
	}
	return fwd_flush(&W.fwd, 1);
}

/* Read what the server has, up to a bound.  -1: the stream failed. */
static int
read_stream(void)
{
	struct repl_msg m;
	int rc = 0;

	int n;

	for (n = 0; n < W_MAX_MSGS_PER_TURN; n++) {
		if (W.replaying) {	/* before anything that committed later */
			if (replay_step() < 0)
				return -1;
			if (fwd_unacked_max(&W.fwd) > (uint64_t)W.cfg->max_unacked_bytes)
				break;
			continue;
		}
		if ((rc = repl_read(&W.repl, &m)) <= 0)
			break;
		if (m.kind == 'k') {
			W.idle_end = m.wal_end;
			if (m.reply) {	/* answer at once, whatever else waits */
				W.reply_due = 1;
				break;
			}
			continue;
		}
		if (handle_pgo(m.data_start ? m.data_start : m.wal_end, m.data, m.len) < 0)
			return -1;
		if (fwd_unacked_max(&W.fwd) > (uint64_t)W.cfg->max_unacked_bytes)
			break;
	}
	/* A trickle while busy: let it pile up for a millisecond rather than
	 * waking for every write of the walsender. */
	W.linger = n > 0 && n < W_LINGER_BELOW;
	return rc < 0 ? -1 : 0;
}

/* The walsender about to stream is ours: recorded durably before it can
 * hold the slot, so a successor tells ours from another consumer's. */
static int
claim(int pid)
{
	char val[32];

	W.walsenders[1] = W.walsenders[0];
	W.walsenders[0] = pid;
	snprintf(val, sizeof(val), "%d %d", W.walsenders[0], W.walsenders[1]);
	ckpt_put(&W.batch, W.ws_key, val, strlen(val));
	return ckpt_commit(W.ck, &W.batch);
}

static void
read_walsenders(void)
{
	char val[32];
	size_t len = sizeof(val) - 1;

	if (ckpt_get(W.ck, W.ws_key, val, &len) == 1 && len < sizeof(val)) {
		val[len] = '\0';
		if (sscanf(val, "%d %d", &W.walsenders[0], &W.walsenders[1]) != 2)
			W.walsenders[0] = W.walsenders[1] = 0;
	}
}

static int
start_stream(void)
{
	int rc;

	repl_close(&W.repl);
	W.in_txn = 0;
	/* A keepalive of the old stream may be past what a sink that just came
	 * back holds: only this stream's keepalives count. */
	W.idle_end = 0;
	/* PostgreSQL streams every open transaction again from its start. */
	W.replaying = 0;
	W.dec.in_stream = 0;
	if (W.slot->stream)
		spool_reset(&W.spool);
	if (W.snap && snap_stream_restart(W.snap) < 0)
		return PROC_EXIT_RETRY;
	rc = repl_start(&W.repl, W.cfg, W.slot, W.confirmed, claim);
	/* Our previous walsender may still hold the slot for a moment. */
	if (rc == PROC_EXIT_RETRY &&
	    (rc = setup_slot_free(W.cfg, W.slot->name, W.walsenders)) == 0)
		rc = repl_start(&W.repl, W.cfg, W.slot, W.confirmed, claim);
	if (rc != 0)
		return rc;
	W.fwd.streaming = 1;
	set_state(W_STREAMING);
	if (W.snap == NULL && W.slot->snapshot_mode != CFG_SNAP_NEVER &&
	    (W.snap = snap_open(W.cfg, W.slot, W.ck, &rc)) == NULL)
		return rc;
	return 0;
}

static int
reading(void)
{
	return W.state == W_STREAMING && fwd_all_ready(&W.fwd) &&
	    fwd_unacked_max(&W.fwd) <= (uint64_t)W.cfg->max_unacked_bytes;
}

/* Snapshot work goes on while the stream is paused for the sinks: the next
 * chunk is read while they still work on the last one. */
static int
snapping(void)
{
	return W.snap && W.state == W_STREAMING && fwd_all_ready(&W.fwd);
}

/* Every table is snapshotted and acked: the snapshot's SQL connection goes,
 * and initial_only drains and stops from the next turn on. */
static void
snapshot_over(int64_t now)
{
	snap_close(W.snap);
	W.snap = NULL;
	log_info("snapshot complete");
	if (W.slot->snapshot_mode == CFG_SNAP_INITIAL_ONLY) {
		set_state(W_DRAINING);
		W.drain_deadline = now + W_DRAIN_MS;
	}
}

static int
rescan_due(int64_t now)
{
	if (W.cfg->rescan_interval <= 0 || W.state != W_STREAMING)
		return 0;
	if (W.rescan_ms == 0)
		W.rescan_ms = now;
	if (now - W.rescan_ms < W.cfg->rescan_interval * 1000LL)
		return 0;
	W.rescan_ms = now;
	return 1;
}

/* One turn of the loop; returns -1 to keep going, else an exit code. */
static int
turn(void)
{
	zmq_pollitem_t items[2 * 64 + 3];
	size_t n = fwd_pollitems(&W.fwd, items);
	int64_t now;
	int rd = reading(), due, rc, sfd = snapping() ? snap_pollfd(W.snap) : -1;

	items[n++] = (zmq_pollitem_t){ .fd = sig_fd(), .events = ZMQ_POLLIN };
	if (sfd >= 0)	/* a snapshot chunk's rows arriving */
		items[n++] = (zmq_pollitem_t){ .fd = sfd, .events = ZMQ_POLLIN };
	if (rd)
		items[n++] = (zmq_pollitem_t){ .fd = repl_socket(&W.repl), .events = ZMQ_POLLIN };
	/* A trickle: let it pile up a moment rather than waking for every
	 * write of the walsender (signals cut the nap short). */
	if (rd && W.linger && !W.replaying)
		usleep(W_LINGER_US);
	if (zmq_poll(items, (int)n, rd && (W.replaying || W.linger) ? 0 : W.poll_ms) < 0 &&
	    errno != EINTR)
		return PROC_EXIT_RETRY;
	now = util_now_ms();
	if (sig_take(SIGQUIT))
		return PROC_EXIT_STOP;
	if (sig_take(SIGUSR2))
		log_reopen();
	if ((sig_take(SIGTERM) | sig_take(SIGINT)) && W.state != W_DRAINING) {
		set_state(W_DRAINING);
		W.drain_deadline = now + W_DRAIN_MS;
	}
	/* HUP (a reload) or the periodic rescan: new tables for our patterns? */
	if ((sig_take(SIGHUP) | rescan_due(now)) && W.state != W_DRAINING &&
	    tables_changed(W.cfg, W.ck, W.slot)) {
		log_info("the slot's tables changed: draining, then starting again with them");
		W.again = 1;
		set_state(W_DRAINING);
		W.drain_deadline = now + W_DRAIN_MS;
	}
	if (fwd_service(&W.fwd, now) < 0)
		return PROC_EXIT_RETRY;
	if (W.state == W_DRAINING) {
		if (fwd_flush(&W.fwd, 0) < 0 || confirm(now, 1) < 0)
			return PROC_EXIT_RETRY;
		if (fwd_in_flight(&W.fwd) && now <= W.drain_deadline)
			return -1;
		return W.again ? PROC_EXIT_AGAIN : PROC_EXIT_STOP;
	}
	if (fwd_take_resync(&W.fwd) || (W.state == W_CONNECTING && fwd_all_ready(&W.fwd))) {
		if ((rc = start_stream()) != 0)
			return rc;
	}
	if (rd && read_stream() < 0)
		return PROC_EXIT_RETRY;
	if (snapping() && (rc = snap_step(W.snap)) != 0)
		return rc;
	if (W.snap && snap_finished(W.snap))
		snapshot_over(now);
	/* Small frames wait a moment for company; a paused stream sends at once,
	 * then sleeps until an ack (fwd_flush's 0 is not "due now": that was a
	 * busy loop while a slow sink held the stream paused). */
	if ((due = reading() ? fwd_flush_due(&W.fwd, util_now_ms()) : fwd_flush(&W.fwd, 0)) < 0 ||
	    confirm(now, 0) < 0)
		return PROC_EXIT_RETRY;
	if (!reading())
		due = W_POLL_MS;
	if (W.ckpt_wait > 0 && W.ckpt_wait < due)
		due = (int)W.ckpt_wait;		/* a confirm waits for its cadence */
	W.poll_ms = due < W_POLL_MS ? due : W_POLL_MS;
	if (W.state == W_STREAMING)
		heartbeat_tick(&W.hb, W.cfg, W.slot, now);
	return -1;
}

/* A failing worker leaves its last error in LMDB for `pgcdc status`. */
static int
finish(int rc)
{
	char key[CKPT_KEY_MAX + 1], val[600];

	if (rc == PROC_EXIT_STOP || rc == PROC_EXIT_AGAIN || W.ck == NULL || !*log_last_error())
		return rc;
	snprintf(key, sizeof(key), "slot/%s/error", W.name);
	snprintf(val, sizeof(val), "%lld %s", (long long)util_wall_ms(), log_last_error());
	ckpt_put(&W.batch, key, val, strlen(val));
	ckpt_commit(W.ck, &W.batch);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *name;
	char dbname[128];
	int rc;

	W.cfg = proc_child_init(argc, argv, "worker", &name);
	W.name = name;
	if (cfg_slot_find(W.cfg, name) == NULL)
		fatal(PROC_EXIT_FATAL, "slot %s is not in %s", name, W.cfg->path);
	if ((W.ck = ckpt_open(W.cfg->state_dir, (size_t)W.cfg->lmdb_map_size)) == NULL)
		return PROC_EXIT_RETRY;
	/* Patterns and shards resolved: the slot this worker streams. */
	if ((rc = tables_resolve(W.cfg, name, W.ck, &W.own)) != 0)
		return finish(rc);
	W.slot = &W.own;
	if (W.slot->nsinks > 64)
		fatal(PROC_EXIT_FATAL, "slot %s: at most 64 sinks", name);
	snprintf(W.key, sizeof(W.key), "slot/%s/confirmed", W.slot->name);
	snprintf(W.status_key, sizeof(W.status_key), "slot/%s/status", W.slot->name);
	snprintf(W.ws_key, sizeof(W.ws_key), "slot/%s/walsenders", W.slot->name);
	if (ckpt_get_lsn(W.ck, W.key, &W.confirmed) < 0)
		return PROC_EXIT_RETRY;
	read_walsenders();
	if ((rc = setup_source(W.cfg, W.slot, W.confirmed != 0, W.walsenders, dbname,
	    sizeof(dbname))) != 0)
		return finish(rc);
	W.rels = relcache_new();
	if (fwd_open(&W.fwd, W.cfg, W.slot, W.ck) < 0 || (W.slot->stream &&
	    spool_open(&W.spool, W.cfg->state_dir, W.slot->name) < 0))
		return PROC_EXIT_RETRY;
	snprintf(W.fwd.dbname, sizeof(W.fwd.dbname), "%s", dbname);
	log_info("waiting for %zu sink(s)", W.fwd.nsinks);
	W.poll_ms = W_POLL_MS;
	while ((rc = turn()) < 0)
		;
	if (rc == PROC_EXIT_STOP)
		log_info("stopped; confirmed %s", lsn_format(W.confirmed, dbname));
	finish(rc);
	proc_teardown_deadline();
	repl_close(&W.repl);
	heartbeat_close(&W.hb);
	fwd_close(&W.fwd);
	relcache_free(W.rels);
	snap_close(W.snap);
	spool_close(&W.spool);
	buf_free(&W.v1);
	pgo_decoder_free(&W.dec);
	ckpt_batch_free(&W.batch);
	ckpt_close(W.ck);
	tables_free(&W.own);
	cfg_free(W.cfg);
	return rc;
}
