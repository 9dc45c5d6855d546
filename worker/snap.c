/*
 * snap: incremental snapshot (see snap.h).  NOTES: one chunk is open in the
 * stream at a time (the window between its watermarks), and the next one
 * of the same table is read ahead meanwhile: its low watermark follows the
 * open one's high watermark in the WAL, so windows never overlap, and the
 * sinks work on one chunk while PostgreSQL reads the next (snapread.h).  A
 * chunk's rows live in one buffer with a key index, so dropping a key the
 * stream touched is a hash lookup and nothing is allocated per row once the
 * buffers have grown.  The race of DESIGN.md 5.4 (a transaction whose
 * commit record precedes the low watermark but is not yet visible to the
 * chunk's snapshot) is caught by comparing the xids streamed before the low
 * watermark with the chunk's pg_current_snapshot(); such a chunk is read
 * again (and the one read ahead after it).  Keys are compared in
 * PostgreSQL's text form, which is the same on the SQL and the replication
 * connection (pgconn pins the settings).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pgconn.h"
#include "common/util.h"
#include "common/wire.h"
#include "worker/chunk.h"
#include "worker/race.h"
#include "worker/snap.h"
#include "worker/snapread.h"
#include "worker/snaptab.h"

#define SNAP_PREFIX	"pgcdc-wm"
#define SNAP_RETRY_MS	200	/* wait after a race before reading the chunk again */

struct snap {
	const struct cfg	*cfg;
	const struct cfg_slot	*slot;
	struct ckpt		*ck;
	struct ckpt_batch	 batch;
	PGconn			*sql;
	struct stable		*t;
	size_t			 nt, cur;
	/* the chunk open in the stream, w[wc], and the one read ahead */
	struct snapwin		 w[2];
	int			 wc;
	uint64_t		 attempt;	/* the last one handed out */
	int			 in_hw_txn;
	struct buf		 prev_lower;	/* the table's lower bound before the open chunk */
	size_t			 sent_rows;
	/* race detection */
	struct race		 race;
	int64_t			 retry_ms;	/* after a race: not before this */
	uint32_t		 txn_xid;
	int			 txn_touched;
	struct buf		 scratch;
};

static void
plan_key(const struct snap *s, const struct stable *t, uint64_t chunk, char *key, size_t len)
{
	snprintf(key, len, "snap/%s/%s/%020llu", s->slot->name, t->name,
	    (unsigned long long)chunk);
}

struct rows_sum { uint64_t upto, sum; size_t skip; };

static int
add_rows(const char *key, const void *val, size_t len, void *arg)
{
	struct rows_sum *a = arg;
	uint64_t v = 0;

	if (len != 8 || strtoull(key + a->skip, NULL, 10) > a->upto)
		return 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | ((const uint8_t *)val)[i];
	a->sum += v;
	return 0;
}

/* Rows of the chunks every sink holds, from the per-chunk counts. */
static int
count_rows(struct snap *s, struct stable *t)
{
	char key[CKPT_KEY_MAX + 1];
	struct rows_sum a = { t->done, 0, 0 };

	snprintf(key, sizeof(key), "snap/%s/%s/rows/", s->slot->name, t->name);
	a.skip = strlen(key);
	if (ckpt_scan(s->ck, key, add_rows, &a) < 0)
		return -1;
	t->rows = a.sum;
	return 0;
}

/* Where to resume: the lowest chunk id over the sinks, and its range. */
static int
resume(struct snap *s, struct stable *t)
{
	char key[CKPT_KEY_MAX + 1];
	uint8_t val[8192];
	size_t len = sizeof(val);
	uint64_t done = UINT64_MAX;
	lsn_t c = 0;
	int found;

	for (size_t i = 0; i < s->slot->nsinks; i++) {
		c = 0;
		snprintf(key, sizeof(key), "sink/%s/chunk/%s/%s", s->slot->sinks[i],
		    s->slot->name, t->name);
		if (ckpt_get_lsn(s->ck, key, &c) < 0)
			return -1;
		done = c < done ? c : done;
	}
	if (done == UINT64_MAX)
		done = 0;
	snprintf(key, sizeof(key), "snap/%s/%s/done", s->slot->name, t->name);
	if (ckpt_get_lsn(s->ck, key, &c) < 0)
		return -1;
	t->done = t->sent = c > done ? c : done;
	if (t->done == 0)
		return 0;
	if (count_rows(s, t) < 0)
		return -1;
	plan_key(s, t, t->done, key, sizeof(key));
	if ((found = ckpt_get(s->ck, key, val, &len)) <= 0 || len < 1 || len > sizeof(val)) {
		log_error("snapshot of %s: sinks hold chunk %llu but its range is not in "
		    "LMDB", t->name, (unsigned long long)t->done);
		return -1;
	}
	t->last_done = t->sent_last = val[0] != 0;
	buf_append(&t->lower, val + 1, len - 1);
	return 0;
}

static void put_status(struct snap *s, const struct stable *t);

struct snap *
snap_open(const struct cfg *cfg, const struct cfg_slot *slot, struct ckpt *ck, int *rc)
{
	struct snap *s = calloc(1, sizeof(*s));
	enum pgconn_err err;

	*rc = 1;
	if (s == NULL)
		return NULL;
	s->cfg = cfg;
	s->slot = slot;
	s->ck = ck;
	s->attempt = ((uint64_t)util_wall_ms() << 16) ^ (uint64_t)getpid();
	if ((s->sql = pgconn_open(cfg->conninfo, cfg->password_file, 0, "pgcdc-snapshot", &err)) == NULL) {
		*rc = err == PGCONN_FATAL ? 2 : 1;
		goto fail;
	}
	/* Watermarks are markers in our own stream: their commits need not
	 * wait for synchronous standbys (which may be slow, or gone). */
	if (pgconn_exec(s->sql, "SET synchronous_commit = local", PGRES_COMMAND_OK) < 0)
		goto fail;
	for (size_t i = 0; i < slot->ntables; i++)
		if (snaptab_expand(s->sql, slot->tables[i], slot->via_root, &s->t, &s->nt) < 0) {
			*rc = 2;
			goto fail;
		}
	for (size_t i = 0; i < s->nt; i++) {
		struct stable *t = &s->t[i];

		if (snaptab_describe(s->sql, s->cfg->chunk_rows, t) < 0 || resume(s, t) < 0) {
			*rc = 2;
			goto fail;
		}
		log_info("snapshot of %s: %s", t->name, t->last_done ? "done" :
		    t->done ? "resuming" : "pending");
		/* A worker killed after the sinks took the last chunk, before it
		 * recorded so, left the status "running". */
		if (t->last_done)
			put_status(s, t);
	}
	if (s->batch.count > 0 && ckpt_commit(s->ck, &s->batch) < 0)
		goto fail;
	*rc = 0;
	return s;
fail:
	snap_close(s);
	return NULL;
}

void
snap_close(struct snap *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nt; i++) {
		snaptab_free(&s->t[i]);
	}
	free(s->t);
	if (s->sql)
		PQfinish(s->sql);
	snapwin_free(&s->w[0]);
	snapwin_free(&s->w[1]);
	buf_free(&s->scratch); buf_free(&s->prev_lower);
	ckpt_batch_free(&s->batch);
	free(s);
}

static int
emit(struct snap *s, char what, uint64_t attempt)
{
	char payload[160];
	const char *p[1] = { payload };
	PGresult *r;

	snprintf(payload, sizeof(payload), "%c %s %llu", what, s->slot->name,
	    (unsigned long long)attempt);
	r = snaptab_sql(s->sql, "SELECT pg_logical_emit_message(true, '" SNAP_PREFIX "', $1)",
	    1, p, PGRES_TUPLES_OK);
	PQclear(r);
	return r ? 0 : -1;
}

/* ---- chunk lifecycle ---- */

static void
put_status(struct snap *s, const struct stable *t)
{
	char key[CKPT_KEY_MAX + 1], val[160];

	snprintf(key, sizeof(key), "slot/%s/snap/%s", s->slot->name, t->name);
	if (t->last_done)
		snprintf(val, sizeof(val), "done (%llu rows)", (unsigned long long)t->rows);
	else if (t->sent == 0 && s->w[s->wc].state == SW_NONE)
		snprintf(val, sizeof(val), "pending");
	else
		snprintf(val, sizeof(val), "running (chunks done %llu of ~%lld, rows %llu)",
		    (unsigned long long)t->done,
		    (long long)(t->est_rows / s->cfg->chunk_rows + 1), (unsigned long long)t->rows);
	ckpt_put(&s->batch, key, val, strlen(val));
}

/* Record the chunk's range before its high watermark (redo reads the same). */
static int
save_plan(struct snap *s, struct stable *t, const struct snapwin *w)
{
	char key[CKPT_KEY_MAX + 1];
	struct buf v = { 0 };
	int rc;

	buf_put_u8(&v, (uint8_t)w->last);
	buf_append(&v, w->upper.data, w->upper.len);
	plan_key(s, t, w->chunk, key, sizeof(key));
	ckpt_put(&s->batch, key, v.data, v.len);
	put_status(s, t);
	rc = ckpt_commit(s->ck, &s->batch);
	buf_free(&v);
	return rc;
}

/* A stored plan for chunk k: a redo after a crash must read the same range. */
static int
stored_plan(struct snap *s, struct stable *t, uint64_t k, struct snapwin *w)
{
	char key[CKPT_KEY_MAX + 1];
	uint8_t val[8192];
	size_t len = sizeof(val);
	int found;

	plan_key(s, t, k, key, sizeof(key));
	if ((found = ckpt_get(s->ck, key, val, &len)) <= 0 || len < 1 || len > sizeof(val))
		return found < 0 ? -1 : 0;
	w->last = val[0] != 0;
	buf_reset(&w->hi);
	buf_append(&w->hi, val + 1, len - 1);
	return 1;
}

static struct stable *
next_table(struct snap *s)
{
	for (; s->cur < s->nt; s->cur++)
		if (!s->t[s->cur].last_done && !s->t[s->cur].sent_last)
			return &s->t[s->cur];
	return NULL;
}

/* The chunk's rows are all in: end its transaction, record its range,
 * emit the high watermark. */
static int
read_end(struct snap *s, struct snapwin *w)
{
	struct stable *t = &s->t[w->ti];

	if (snapread_end(w, s->sql, s->cfg->chunk_rows) < 0 ||
	    (!w->redo && save_plan(s, t, w) < 0) || emit(s, 'H', w->attempt) < 0)
		return -1;
	if (t->by_ctid)
		snaptab_adapt(t, s->cfg->chunk_rows, w->c.n);
	return 0;
}

/* Chunk `chunk` of table ti, after lower: low watermark, query sent. */
static int
start(struct snap *s, struct snapwin *w, size_t ti, uint64_t chunk, const struct buf *lower)
{
	struct stable *t = &s->t[ti];

	w->ti = ti;
	w->chunk = chunk;
	w->attempt = ++s->attempt;
	buf_reset(&w->lower);
	buf_append(&w->lower, lower->data, lower->len);
	buf_reset(&w->hi);
	if ((w->redo = stored_plan(s, t, chunk, w)) < 0 ||
	    snaptab_refresh(s->sql, s->cfg->chunk_rows, t) < 0 || emit(s, 'L', w->attempt) < 0)
		return -1;
	w->use_hi = w->redo || t->by_ctid;
	if (snapread_start(w, s->sql, t, s->cfg->chunk_rows, !w->redo && t->by_ctid,
	    &s->scratch) < 0)
		return -1;
	w->state = SW_WAIT_LOW;
	return 0;
}

int
snap_step(struct snap *s)
{
	struct snapwin *cw = &s->w[s->wc], *nw = &s->w[!s->wc], *w;
	struct stable *t;
	int rc;

	if (cw->reading || nw->reading) {
		w = cw->reading ? cw : nw;
		if ((rc = snapread_more(w, s->sql, s->t[w->ti].name)) == 0)
			return 0;
		if (rc < 0 || read_end(s, w) < 0)
			return 1;
		/* Then at once the read ahead: PostgreSQL reads it while the
		 * stream brings this chunk's high watermark and sinks take it. */
	}
	if (util_now_ms() < s->retry_ms)
		return 0;
	if (cw->state == SW_NONE) {
		if ((t = next_table(s)) == NULL)
			return 0;
		return start(s, cw, s->cur, t->sent + 1, &t->lower) < 0 ? 1 : 0;
	}
	/* Read ahead: the table's next chunk, after the open one's range. */
	if (nw->state == SW_NONE && !cw->last)
		return start(s, nw, cw->ti, cw->chunk + 1, &cw->upper) < 0 ? 1 : 0;
	return 0;
}

int
snap_pollfd(const struct snap *s)
{
	return s->w[0].reading || s->w[1].reading ? PQsocket(s->sql) : -1;
}

/* ---- stream hooks ---- */

/* The chunk open in the stream (its low watermark may still be ahead). */
static struct snapwin *
open_win(struct snap *s, struct stable **t)
{
	struct snapwin *w = &s->w[s->wc];

	if (w->state == SW_NONE)
		return NULL;
	*t = &s->t[w->ti];
	return w;
}

void
snap_begin(struct snap *s, uint32_t xid)
{
	s->txn_xid = xid;
	s->txn_touched = 0;
}

/* Drop the chunk rows whose key this tuple carries.  A whole-row key
 * takes an unchanged TOAST value ('u') from the old tuple (under REPLICA
 * IDENTITY FULL it is there). */
static void
drop_tuple_key(struct snap *s, struct snapwin *w, const struct stable *t,
    const struct tuple *tup, const struct tuple *old)
{
	buf_reset(&s->scratch);
	for (int k = 0; k < w->nkeys; k++) {
		int i = w->keypos[k];
		const struct tuple *from = tup;

		if (i < tup->ncols && tup->cols[i].kind == 'u' && old != NULL && i < old->ncols)
			from = old;
		if (i >= from->ncols)
			return;
		if (from->cols[i].kind == 'n' && t->by_ctid)
			chunk_key_null(&s->scratch);
		else if (from->cols[i].kind == 't' || from->cols[i].kind == 'b')
			chunk_key_put(&s->scratch, from->cols[i].data, from->cols[i].len);
		else
			return;		/* no key value here (nothing to match) */
	}
	snapread_drop(w, s->scratch.data, s->scratch.len);
}

/* Does relid belong to a table whose snapshot is not finished? */
static int
pending_relid(const struct snap *s, uint32_t relid)
{
	for (size_t i = 0; i < s->nt; i++)
		if (s->t[i].relid == relid && !s->t[i].last_done)
			return 1;
	return 0;
}

void
snap_change(struct snap *s, const struct pgo_msg *m, const struct pgo_decoder *dec)
{
	struct stable *t = NULL;
	struct snapwin *w = open_win(s, &t);

	/* Remember transactions on tables still to read: one that committed
	 * before a chunk's low watermark must be visible to the chunk (5.4). */
	if (m->type != PGO_TRUNCATE && pending_relid(s, m->change.relid))
		s->txn_touched = 1;
	if (w == NULL)
		return;
	if (m->type == PGO_TRUNCATE) {
		for (uint32_t i = 0; i < m->truncate.nrels; i++)
			if (pgo_truncate_relid(m, i) == t->relid) {
				s->txn_touched = 1;
				if (w->state == SW_OPEN)
					snapread_drop_all(w);
			}
		return;
	}
	if (m->change.relid != t->relid)
		return;
	s->txn_touched = 1;
	if (w->state != SW_OPEN)
		return;
	if (m->change.has_new)
		drop_tuple_key(s, w, t, &dec->newt, m->change.old_kind ? &dec->oldt : NULL);
	if (m->change.old_kind)
		drop_tuple_key(s, w, t, &dec->oldt, NULL);
}

void
snap_commit(struct snap *s, lsn_t end_lsn)
{
	struct stable *t = NULL;
	struct snapwin *w = open_win(s, &t);

	/* Every transaction on a table still to read is remembered; only those
	 * before a chunk's low watermark are checked against its snapshot (the
	 * ones inside its window are handled by dropping their keys). */
	if (s->txn_touched)
		race_note(&s->race, s->txn_xid);
	if (w != NULL && w->state == SW_SENT && s->in_hw_txn) {
		t->sent_end = end_lsn;
		s->in_hw_txn = 0;
		w->state = SW_NONE;
		/* The chunk read ahead is next in the stream. */
		if (s->w[!s->wc].state != SW_NONE)
			s->wc = !s->wc;
	}
}

/* Forget both chunks (their reads given up). */
static void
drop_windows(struct snap *s)
{
	for (int i = 0; i < 2; i++) {
		snapread_abort(&s->w[i], s->sql);
		s->w[i].state = SW_NONE;
	}
}

/* Chunks forwarded past the last one every sink holds went with the
 * stream if a sink lost them (killed before it made them durable; its
 * transactions come again from WAL, the rows do not): they are read again
 * from there (a sink that holds one skips it). */
static int
rewind_unheld(struct snap *s)
{
	for (size_t i = 0; i < s->nt; i++) {
		struct stable *t = &s->t[i];
		uint64_t sent = t->sent;

		if (t->sent <= t->done)
			continue;
		buf_reset(&t->lower);
		t->rows = 0;
		t->sent_last = t->last_done = 0;
		t->sent_end = 0;
		if (resume(s, t) < 0)
			return -1;
		log_info("snapshot of %s: chunks %llu to %llu not yet held by every sink; "
		    "reading them again", t->name, (unsigned long long)t->sent + 1,
		    (unsigned long long)sent);
		if (i < s->cur)
			s->cur = i;
	}
	return 0;
}

int
snap_stream_restart(struct snap *s)
{
	struct stable *t = NULL;
	struct snapwin *w = open_win(s, &t);

	if (w != NULL && w->state == SW_SENT && s->in_hw_txn) {
		t->sent = w->chunk - 1;
		t->sent_last = 0;
		t->rows -= s->sent_rows;
		buf_reset(&t->lower);
		buf_append(&t->lower, s->prev_lower.data, s->prev_lower.len);
		log_info("snapshot of %s: stream restarted before chunk %llu committed; "
		    "reading it again", t->name, (unsigned long long)w->chunk);
	}
	s->in_hw_txn = 0;
	drop_windows(s);
	return rewind_unheld(s);
}

/* Rows a chunk delivered, for status: the count survives restarts. */
static void
save_rows(struct snap *s, const struct stable *t, uint64_t chunk, uint64_t rows)
{
	char key[CKPT_KEY_MAX + 1];

	snprintf(key, sizeof(key), "snap/%s/%s/rows/%020llu", s->slot->name, t->name,
	    (unsigned long long)chunk);
	ckpt_put_lsn(&s->batch, key, rows);
	ckpt_commit(s->ck, &s->batch);
}

static void
forward_chunk(struct snap *s, struct snapwin *w, struct stable *t, struct fwd *f,
    const struct relcache *rels)
{
	const struct rel *streamed = relcache_get(rels, t->relid);
	const uint8_t *row;
	size_t alive = 0, len;
	uint8_t flags = w->last ? WIRE_ROW_LAST : 0;
	struct rd rd;
	const uint8_t *msg;
	uint32_t n;

	/* The column types pgoutput would describe first (arrays of user types),
	 * as the chunk was read. */
	rd_init(&rd, w->typmsgs.data, w->typmsgs.len);
	while (rd_u32(&rd, &n) == 0 && rd_bytes(&rd, n, &msg) == 0)
		fwd_all(f, 0, msg, n);
	fwd_all(f, 0, w->relmsg.data, w->relmsg.len);
	for (size_t i = 0; i < w->c.n; i++) {
		if ((row = chunk_row(&w->c, i, &len)) == NULL)
			continue;	/* dropped: the stream changed it */
		fwd_row(f, w->chunk, flags, row, len);
		alive++;
		fwd_flush(f, 1);
	}
	if (streamed != NULL) {
		buf_reset(&s->scratch);
		rel_encode(streamed, NULL, &s->scratch);
		fwd_all(f, 0, s->scratch.data, s->scratch.len);
	}
	/* Kept until the transaction commits: a stream restart before that
	 * means the sinks dropped these rows, and the chunk is read again. */
	buf_reset(&s->prev_lower);
	buf_append(&s->prev_lower, t->lower.data, t->lower.len);
	s->sent_rows = alive;
	t->sent = w->chunk;
	t->sent_last = w->last;
	t->sent_end = UINT64_MAX;	/* known at the commit */
	t->rows += alive;
	save_rows(s, t, w->chunk, alive);
	buf_reset(&t->lower);
	buf_append(&t->lower, w->upper.data, w->upper.len);
	s->in_hw_txn = 1;
	w->state = SW_SENT;
	log_debug("snapshot of %s: chunk %llu sent, %zu of %zu rows", t->name,
	    (unsigned long long)w->chunk, alive, w->c.n);
}

int
snap_message(struct snap *s, const struct pgo_msg *m, struct fwd *f,
    const struct relcache *rels)
{
	char what, slot[128];
	unsigned long long attempt;
	char txt[200];
	struct stable *t = NULL;
	struct snapwin *w = open_win(s, &t);
	uint32_t x;

	if (strcmp(m->message.prefix, SNAP_PREFIX) != 0)
		return 0;
	if (m->message.len >= sizeof(txt) || w == NULL)
		return 1;
	memcpy(txt, m->message.content, m->message.len);
	txt[m->message.len] = '\0';
	/* Only the open chunk's watermarks: the one read ahead has its low
	 * watermark after the open one's high watermark and commit. */
	if (sscanf(txt, "%c %127s %llu", &what, slot, &attempt) != 3 ||
	    strcmp(slot, s->slot->name) != 0 || attempt != w->attempt)
		return 1;	/* another slot's, or an earlier attempt's */
	if (what == 'L' && w->state == SW_WAIT_LOW) {
		w->state = SW_OPEN;
		race_low(&s->race);
	} else if (what == 'H' && w->state == SW_OPEN) {
		if ((x = race_check(&s->race, &w->rs)) != 0) {
			log_warn("snapshot of %s: chunk %llu raced with transaction %u (committed "
			    "but not yet visible); reading it again", t->name,
			    (unsigned long long)w->chunk, x);
			drop_windows(s);	/* the one read ahead followed its range */
			s->retry_ms = util_now_ms() + SNAP_RETRY_MS;
			return 1;
		}
		forward_chunk(s, w, t, f, rels);
	}
	return 1;
}

void
snap_acked(struct snap *s, lsn_t min_acked)
{
	char key[CKPT_KEY_MAX + 1];

	for (size_t i = 0; i < s->nt; i++) {
		struct stable *t = &s->t[i];

		if (t->sent <= t->done || t->sent_end == 0 || min_acked < t->sent_end)
			continue;
		t->done = t->sent;
		/* Every sink holds it: record it, so that even an empty chunk
		 * (which leaves no trace at the sinks) is not read again. */
		snprintf(key, sizeof(key), "snap/%s/%s/done", s->slot->name, t->name);
		ckpt_put_lsn(&s->batch, key, t->done);
		if (t->sent_last && !t->last_done) {
			t->last_done = 1;
			log_info("snapshot of %s done: %llu rows", t->name, (unsigned long long)t->rows);
		}
		put_status(s, t);
		ckpt_commit(s->ck, &s->batch);
	}
}

int
snap_finished(const struct snap *s)
{
	for (size_t i = 0; i < s->nt; i++)
		if (!s->t[i].last_done)
			return 0;
	return 1;
}
