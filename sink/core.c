/*
 * core: per-slot state of a sink and the dispatch of wire records to the
 * sink kind.  A transaction whose final_lsn is below what the slot already
 * applied is skipped (it was delivered before a crash or a stream restart).
 * A slot whose input breaks (malformed or out of order) drops everything
 * until its worker says HELLO again, so nothing half-applied is ever acked.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/types.h"
#include "common/util.h"
#include "sink/sink.h"

#define SINK_BYTEA_OID	17	/* message content renders as bytea */

int
sink_open(struct sink *s, const struct cfg *cfg, const struct cfg_sink *conf)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->conf = conf;
	switch (conf->type) {
	case CFG_SINK_JSONL:
		s->ops = &sink_jsonl_ops;
		break;
	case CFG_SINK_ZMQ: s->ops = &sink_zmq_ops; break;
	case CFG_SINK_KAFKA: s->ops = &sink_kafka_ops; break;
	case CFG_SINK_POSTGRES: s->ops = &sink_postgres_ops; break;
	default:
		log_error("sink %s: type %s is not available in this build", conf->name,
		    cfg_sink_type_name(conf->type));
		return -1;
	}
	if ((s->ck = ckpt_open(cfg->state_dir, (size_t)cfg->lmdb_map_size)) == NULL)
		return -1;
	return s->ops->open(s);
}

void
sink_close(struct sink *s)
{
	if (s->ops)
		s->ops->close(s);
	for (size_t i = 0; i < s->nslots; i++) {
		relcache_free(s->slots[i].rels);
		free(s->slots[i].chunks);
	}
	free(s->slots);
	pgo_decoder_free(&s->dec);
	ckpt_batch_free(&s->batch);
	cfg_free(s->routing);
	buf_free(&s->scratch);
	if (s->ck)
		ckpt_close(s->ck);
}

struct sink_slot *
sink_slot_find(struct sink *s, const char *name)
{
	for (size_t i = 0; i < s->nslots; i++)
		if (strcmp(s->slots[i].name, name) == 0)
			return &s->slots[i];
	return NULL;
}

static struct sink_slot *
slot_add(struct sink *s, const char *name)
{
	char key[CKPT_KEY_MAX + 1];
	struct sink_slot *sl;

	if (strlen(name) >= sizeof(sl->name))
		return NULL;
	sl = realloc(s->slots, (s->nslots + 1) * sizeof(*s->slots));
	if (sl == NULL)
		fatal(1, "%s: out of memory", __func__);
	s->slots = sl;
	sl = &s->slots[s->nslots];
	memset(sl, 0, sizeof(*sl));
	snprintf(sl->name, sizeof(sl->name), "%s", name);
	snprintf(key, sizeof(key), "sink/%s/pos/%s", s->conf->name, name);
	if (ckpt_get_lsn(s->ck, key, &sl->applied) < 0)
		return NULL;
	if (s->ops->held != NULL) {
		lsn_t held = 0;

		if (s->ops->held(s, name, &held) < 0)
			return NULL;
		if (held > sl->applied)
			sl->applied = held;
	}
	sl->durable = sl->acked = sl->applied;
	sl->rels = relcache_new();
	s->nslots++;
	return sl;
}

/* The open transaction is over or gone: so are the chunks it carried (and
 * the note of which one is being skipped, so each replay logs once). */
static void
chunks_forget(struct sink_slot *sl)
{
	for (size_t i = 0; i < sl->nchunks; i++)
		sl->chunks[i].pending = sl->chunks[i].skipping = 0;
}

static void
slot_reset(struct sink *s, struct sink_slot *sl)
{
	chunks_forget(sl);
	if (sl->in_txn && !sl->skip)
		s->ops->rollback(s, sl);
	sl->in_txn = 0;
	relcache_free(sl->rels);
	sl->rels = relcache_new();
	s->rel_gen++;
}

/* Is slot `name` configured to feed this sink? */
static int
feeds_us(const struct sink *s, const char *name)
{
	const struct cfg_slot *cs = cfg_slot_find(s->routing ? s->routing : s->cfg, name);

	for (size_t i = 0; cs && i < cs->nsinks; i++)
		if (strcmp(cs->sinks[i], s->conf->name) == 0)
			return 1;
	return 0;
}

void
sink_json_event(struct sink *s, const struct sink_slot *sl, const struct sink_change *c,
    struct buf *out)
{
	static const char hex[] = "0123456789abcdef";
	struct json_src src = {
		.name = sl->name, .db = sl->db, .commit_ts = sl->commit_ts,
		.xid = sl->xid, .lsn = c->wal_lsn ? c->wal_lsn : sl->final_lsn,
		.commit_lsn = sl->final_lsn, .ordinal = sl->ordinal,
		.snapshot = c->snapshot ? c->snapshot : "false",
		.origin = sl->origin[0] ? sl->origin : NULL,
	};

	if (c->op != 'm') {
		json_envelope(out, c->op, c->rel, c->old, c->old_kind, c->new, &src, s->now_ms);
		return;
	}
	json_envelope(out, 'm', NULL, NULL, 0, NULL, &src, s->now_ms);
	out->len--;	/* reopen the object */
	buf_puts(out, ",\"message\":{\"prefix\":");
	json_str(out, c->msg->message.prefix, strlen(c->msg->message.prefix));
	buf_puts(out, ",\"content\":");
	buf_reset(&s->scratch);		/* bytea's hex form, rendered as base64 */
	buf_puts(&s->scratch, "\\x");
	for (uint32_t i = 0; i < c->msg->message.len; i++) {
		buf_putc(&s->scratch, hex[c->msg->message.content[i] >> 4]);
		buf_putc(&s->scratch, hex[c->msg->message.content[i] & 15]);
	}
	json_value(out, SINK_BYTEA_OID, s->scratch.data, s->scratch.len);
	buf_puts(out, "}}");
}

void
sink_reload_routing(struct sink *s)
{
	char err[4096];
	struct cfg *next = cfg_load(s->cfg->path, err, sizeof(err));

	if (next == NULL) {
		log_warn("reload: keeping the slots that feed this sink; the config has errors");
		return;
	}
	cfg_free(s->routing);
	s->routing = next;
	log_info("reload: slots feeding this sink read again");
}

void
sink_reject(struct sink *s, const char *rid, const char *fmt, ...)
{
	int64_t now = util_now_ms(), refill;
	char what[256], quiet[80] = "";
	va_list ap;

	if (s->reject_ms == 0) {
		s->reject_ms = now;
		s->reject_tokens = SINK_REJECT_BURST;
	}
	if ((refill = (now - s->reject_ms) / SINK_REJECT_LOG_MS) > 0) {
		s->reject_tokens = (int)(refill > SINK_REJECT_BURST - s->reject_tokens ?
		    SINK_REJECT_BURST : s->reject_tokens + refill);
		s->reject_ms += refill * SINK_REJECT_LOG_MS;
	}
	if (s->reject_tokens == 0) {
		s->rejects_quiet++;
		return;
	}
	s->reject_tokens--;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (s->rejects_quiet > 0)
		snprintf(quiet, sizeof(quiet), " (%" PRIu64 " more rejected since the last "
		    "such line)", s->rejects_quiet);
	log_error("frame from %s rejected: %s%s", *rid ? rid : "(anonymous)", what, quiet);
	s->rejects_quiet = 0;
}

static int
hello(struct sink *s, const char *rid, const struct wire_rec *rec)
{
	struct sink_slot *sl;

	if (strcmp(rec->slot, rid) != 0 || !feeds_us(s, rid)) {
		sink_reject(s, rid, "HELLO for slot %.64s from peer %s: no such slot feeds "
		    "sink %s", rec->slot, *rid ? rid : "(anonymous)", s->conf->name);
		return 0;
	}
	if ((sl = sink_slot_find(s, rid)) == NULL && (sl = slot_add(s, rid)) == NULL)
		return -1;
	slot_reset(s, sl);
	sl->epoch = rec->epoch;
	snprintf(sl->db, sizeof(sl->db), "%s", rec->dbname);
	sl->ack_due = 1;	/* answer the HELLO with the next ack */
	return 0;
}

/* Input we cannot follow: drop the slot's stream until the next HELLO. */
static void
slot_break(struct sink *s, struct sink_slot *sl, lsn_t wal, const char *why)
{
	char l[LSN_BUFLEN];

	log_error("slot %s: %s at %s; asking the worker to resend", sl->name, why,
	    lsn_format(wal, l));
	slot_reset(s, sl);
	sl->epoch = 0;
	sl->ack_due = 1;
}

static int
change(struct sink *s, struct sink_slot *sl, const struct pgo_msg *m, lsn_t wal)
{
	static const char ops[256] = { ['I'] = 'c', ['U'] = 'u', ['D'] = 'd' };
	struct sink_change c = { .op = ops[(uint8_t)m->type], .wal_lsn = wal };

	if ((c.rel = relcache_get(sl->rels, m->change.relid)) == NULL) {
		slot_break(s, sl, wal, "change for a relation never described");
		return 0;
	}
	c.old_kind = m->change.old_kind;
	c.old = c.old_kind ? &s->dec.oldt : NULL;
	c.new = m->change.has_new ? &s->dec.newt : NULL;
	sl->ordinal++;
	return s->ops->change(s, sl, &c);
}

static int
truncate_rels(struct sink *s, struct sink_slot *sl, const struct pgo_msg *m, lsn_t wal)
{
	struct sink_change c = { .op = 't', .wal_lsn = wal };

	for (uint32_t i = 0; i < m->truncate.nrels; i++) {
		if ((c.rel = relcache_get(sl->rels, pgo_truncate_relid(m, i))) == NULL) {
			slot_break(s, sl, wal, "truncate of a relation never described");
			return 0;
		}
		sl->ordinal++;
		if (s->ops->change(s, sl, &c) < 0)
			return -1;
	}
	return 0;
}

/* A user's logical decoding message (ours never reach sinks): op m. */
static int
message(struct sink *s, struct sink_slot *sl, const struct pgo_msg *m, lsn_t wal)
{
	struct sink_change c = { .op = 'm', .wal_lsn = wal, .msg = m };

	sl->ordinal++;
	return s->ops->change(s, sl, &c);
}

/* A non-transactional message is a unit of its own, held once applied
 * reached its lsn.  That lsn is the END of its WAL record (what decoding
 * reports), so the next commit record may start exactly there: applied =
 * lsn keeps that transaction (final_lsn < applied skips) and skips a replay
 * of the message (lsn <= applied). */
static int
single_message(struct sink *s, struct sink_slot *sl, const struct pgo_msg *m, lsn_t wal)
{
	if (m->message.lsn <= sl->applied)
		return 0;	/* delivered before */
	sl->final_lsn = m->message.lsn;
	sl->xid = 0;
	sl->commit_ts = s->now_ms * 1000 - PGO_EPOCH_OFFSET_US;	/* no commit: now */
	sl->ordinal = 0;
	if (message(s, sl, m, wal) < 0)
		return -1;
	sl->applied = m->message.lsn;
	s->dirty = 1;
	return s->ops->commit(s, sl);
}

static int
commit(struct sink *s, struct sink_slot *sl, const struct pgo_msg *m)
{
	sl->in_txn = 0;
	if (sl->skip)
		return 0;
	sl->applied = m->commit.end_lsn;
	s->dirty = 1;
	for (size_t i = 0; i < sl->nchunks; i++)
		if (sl->chunks[i].pending > sl->chunks[i].applied)
			sl->chunks[i].applied = sl->chunks[i].pending;
	chunks_forget(sl);
	return s->ops->commit(s, sl);
}

/* Set the skip flag of a new transaction; log where a run of replays ends. */
static void
note_skip(struct sink_slot *sl, int skip, lsn_t final_lsn)
{
	char l[LSN_BUFLEN];

	if (skip)
		sl->skipped++;
	else if (sl->skipped) {
		log_info("slot %s: skipped %llu transaction(s) already applied; "
		    "resuming at %s", sl->name, (unsigned long long)sl->skipped,
		    lsn_format(final_lsn, l));
		sl->skipped = 0;
	}
	sl->skip = skip;
}

static int
apply(struct sink *s, struct sink_slot *sl, const struct wire_rec *rec)
{
	struct pgo_msg m;

	if (pgo_decode(&s->dec, rec->data, rec->len, &m) < 0) {
		slot_break(s, sl, rec->lsn, s->dec.err);
		return 0;
	}
	if (m.type == PGO_RELATION) {
		relcache_put(sl->rels, m.rel);
		s->rel_gen++;
		return 0;
	}
	if (m.type == PGO_TYPE) {	/* which user types are arrays, for JSON */
		types_put(m.typ.oid, m.typ.nspname, m.typ.typname);
		return 0;
	}
	if (m.type == PGO_BEGIN) {
		if (sl->in_txn && !sl->skip)	/* the stream restarted mid-transaction */
			s->ops->rollback(s, sl);
		chunks_forget(sl);
		sl->in_txn = 1;
		sl->final_lsn = m.begin.final_lsn;
		sl->xid = m.begin.xid;
		sl->commit_ts = m.begin.commit_ts;
		sl->ordinal = 0;
		sl->origin[0] = '\0';
		note_skip(sl, m.begin.final_lsn < sl->applied, m.begin.final_lsn);
		return 0;
	}
	if (!sl->in_txn) {
		if (m.type == PGO_MESSAGE)
			return single_message(s, sl, &m, rec->lsn);
		slot_break(s, sl, rec->lsn, "change outside a transaction");
		return 0;
	}
	if (sl->skip)
		return m.type == PGO_COMMIT ? commit(s, sl, &m) : 0;
	switch (m.type) {
	case PGO_INSERT: case PGO_UPDATE: case PGO_DELETE:
		return change(s, sl, &m, rec->lsn);
	case PGO_TRUNCATE:
		return truncate_rels(s, sl, &m, rec->lsn);
	case PGO_COMMIT:
		return commit(s, sl, &m);
	case PGO_MESSAGE:
		return message(s, sl, &m, rec->lsn);
	case PGO_ORIGIN:	/* the transaction was replicated from there */
		snprintf(sl->origin, sizeof(sl->origin), "%s", m.origin.name);
		return 0;
	default:
		return 0;
	}
}

/* The chunk state of table ("schema.table") in sl, loaded from LMDB on first
 * use.  NULL on an LMDB error. */
static struct sink_chunkpos *
chunkpos(struct sink *s, struct sink_slot *sl, const char *table)
{
	char key[CKPT_KEY_MAX + 1];
	struct sink_chunkpos *cp;
	lsn_t stored = 0;

	for (size_t i = 0; i < sl->nchunks; i++)
		if (strcmp(sl->chunks[i].table, table) == 0)
			return &sl->chunks[i];
	snprintf(key, sizeof(key), "sink/%s/chunk/%s/%s", s->conf->name, sl->name, table);
	if (ckpt_get_lsn(s->ck, key, &stored) < 0)
		return NULL;
	if (s->ops->held_chunk != NULL) {
		uint64_t held = 0;

		if (s->ops->held_chunk(s, sl->name, table, &held) < 0)
			return NULL;
		if (held > stored)
			stored = held;
	}
	if ((cp = realloc(sl->chunks, (sl->nchunks + 1) * sizeof(*cp))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	sl->chunks = cp;
	cp = &sl->chunks[sl->nchunks++];
	memset(cp, 0, sizeof(*cp));
	snprintf(cp->table, sizeof(cp->table), "%s", table);
	cp->applied = cp->durable = stored;
	return cp;
}

/* "schema.table" into out (len bytes); its length, or -1 if too long. */
static int
table_name(char *out, size_t len, const struct rel *rel)
{
	size_t ls = strlen(rel->schema), lt = strlen(rel->table);

	if (ls + lt + 2 > len)
		return -1;
	memcpy(out, rel->schema, ls);
	out[ls] = '.';
	memcpy(out + ls + 1, rel->table, lt + 1);
	return (int)(ls + lt + 1);
}

/* A snapshot row: op r, once per chunk of a table.  Its chunk becomes applied
 * at the transaction's COMMIT, never before. */
static int
apply_row(struct sink *s, struct sink_slot *sl, const struct wire_rec *rec)
{
	struct sink_change c = { .op = 'r' };
	struct sink_chunkpos *cp;
	lsn_t at = sl->in_txn ? sl->final_lsn : LSN_INVALID;	/* for the log */
	struct pgo_msg m;
	char table[sizeof(cp->table)];
	int n;

	if (pgo_decode(&s->dec, rec->data, rec->len, &m) < 0 || m.type != PGO_INSERT) {
		slot_break(s, sl, at, "malformed snapshot row");
		return 0;
	}
	if (!sl->in_txn) {
		slot_break(s, sl, at, "snapshot row outside a transaction");
		return 0;
	}
	if (sl->skip)		/* the whole transaction is held already */
		return 0;
	if ((c.rel = relcache_get(sl->rels, m.change.relid)) == NULL) {
		slot_break(s, sl, at, "snapshot row for a relation never described");
		return 0;
	}
	n = table_name(table, sizeof(table), c.rel);	/* not snprintf: per row */
	if (n < 0) {	/* never from PostgreSQL */
		slot_break(s, sl, at, "snapshot row for a relation with a name too long");
		return 0;
	}
	if ((cp = chunkpos(s, sl, table)) == NULL)
		return -1;
	if (rec->chunk <= cp->applied) {
		if (cp->skipping != rec->chunk)
			log_info("slot %s: chunk %llu of %s already applied, skipped", sl->name,
			    (unsigned long long)rec->chunk, table);
		cp->skipping = rec->chunk;
		sl->rows_skipped++;
		return 0;
	}
	if (rec->chunk > cp->pending)
		cp->pending = rec->chunk;
	c.new = &s->dec.newt;
	c.snapshot = rec->flags & WIRE_ROW_LAST ? "last" : "true";
	sl->ordinal++;
	return s->ops->change(s, sl, &c);
}

int
sink_frame(struct sink *s, const char *rid, const void *frame, size_t len)
{
	struct sink_slot *sl = sink_slot_find(s, rid);
	struct wire_rec rec;
	char err[128];
	struct rd r;
	int rc, hello_seen = 0;

	if (wire_frame_open(&r, frame, len, err, sizeof(err)) < 0) {
		sink_reject(s, rid, "%s", err);
		return 0;
	}
	s->now_ms = util_wall_ms();
	while ((rc = wire_next(&r, &rec, err, sizeof(err))) > 0) {
		if (rec.kind == WIRE_HELLO) {
			if (hello(s, rid, &rec) < 0)
				return -1;
			sl = sink_slot_find(s, rid);
			if (sl != NULL)
				sl->consumed = sl->consumed_acked = 0;
			hello_seen = 1;
		} else if ((rec.kind != WIRE_PGO && rec.kind != WIRE_ROW) ||
		    (sl == NULL && !feeds_us(s, rid))) {
			sink_reject(s, rid, "record kind 0x%02x outside a stream",
			    (unsigned)(uint8_t)rec.kind);
			break;
		} else if (sl == NULL || sl->epoch == 0) {
			continue;	/* a worker's, before its HELLO: dropped */
		} else if ((rec.kind == WIRE_PGO ? apply(s, sl, &rec) : apply_row(s, sl, &rec)) < 0) {
			return -1;
		}
	}
	if (sl != NULL && sl->epoch != 0 && !hello_seen)
		sl->consumed += len;
	if (rc < 0 && sl != NULL && sl->epoch != 0)
		slot_break(s, sl, LSN_INVALID, err);
	else if (rc < 0)
		sink_reject(s, rid, "%s", err);
	return 0;
}

/* Stage the slot position and the chunk ids that moved since the last flush. */
static void
stage_slot(struct sink *s, const struct sink_slot *sl)
{
	char key[CKPT_KEY_MAX + 1];

	if (sl->applied != sl->durable) {
		snprintf(key, sizeof(key), "sink/%s/pos/%s", s->conf->name, sl->name);
		ckpt_put_lsn(&s->batch, key, sl->applied);
	}
	for (size_t j = 0; j < sl->nchunks; j++) {
		if (sl->chunks[j].applied == sl->chunks[j].durable)
			continue;
		snprintf(key, sizeof(key), "sink/%s/chunk/%s/%s", s->conf->name, sl->name,
		    sl->chunks[j].table);
		ckpt_put_lsn(&s->batch, key, sl->chunks[j].applied);
	}
}

int
sink_flush(struct sink *s)
{
	if (!s->dirty)
		return 0;
	if (s->ops->flush(s, &s->batch) < 0)
		return -1;
	for (size_t i = 0; i < s->nslots; i++)
		stage_slot(s, &s->slots[i]);
	if (ckpt_commit(s->ck, &s->batch) < 0)
		return -1;
	for (size_t i = 0; i < s->nslots; i++) {
		s->slots[i].durable = s->slots[i].applied;
		for (size_t j = 0; j < s->slots[i].nchunks; j++)
			s->slots[i].chunks[j].durable = s->slots[i].chunks[j].applied;
	}
	s->dirty = 0;
	return 0;
}
