/*
 * kafka: Debezium envelopes to Kafka, one topic per table
 * (<prefix>.<schema>.<table>; op m: <prefix>.message), key = the row's
 * replica identity columns as a JSON object.  Exactly once: every slot has
 * its own transactional producer (transactional.id pgcdc.<prefix>.<sink>.<slot>)
 * and a flush commits one Kafka transaction holding whole source
 * transactions together with the slot's position record (kafka_pos.h).
 * At open, init_transactions fences the previous process and aborts what it
 * left open, then the positions are read back (held, held_chunk).
 * An open source transaction is buffered up to KAFKA_SPILL_BYTES; a larger
 * one streams into a Kafka transaction of its own once the slot's earlier
 * ones are committed, so a rollback can abort it alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "common/json.h"
#include "common/log.h"
#include "common/strmap.h"
#include "sink/kafka_pos.h"
#include "sink/sink.h"

#define KAFKA_SPILL_BYTES	(4 << 20)
#define KAFKA_TIMEOUT_MS	60000		/* init, flush, commit, abort */
#define KAFKA_META_MS		10000
#define KAFKA_TXN_TIMEOUT	"900000"	/* the brokers' default maximum */
#define KAFKA_TOPIC_MAX		249
#define KAFKA_NO_KEY		SIZE_MAX

struct ktopic {
	char		 name[KAFKA_TOPIC_MAX + 1];
	rd_kafka_topic_t *rkt;
	struct ktopic	*next;
};

/* A message of the open source transaction, its bytes in kslot.data. */
struct kmsg {
	struct ktopic	*t;
	int32_t		 part;
	size_t		 key, klen;	/* klen KAFKA_NO_KEY: no key */
	size_t		 val, vlen;
};

struct kslot {
	char		 name[sizeof(((struct sink_slot *)0)->name)];
	rd_kafka_t	*rk;
	struct ktopic	*pos_t;		/* <prefix>.pgcdc_positions */
	struct kpos	 pos;		/* held by Kafka, or by the next commit */
	int		 in_ktxn;	/* a Kafka transaction is open */
	int		 spilled;	/* ... and the open source transaction streams into it */
	int		 broken;	/* an abort failed: only a restart recovers */
	struct buf	 data;
	struct kmsg	*msgs;
	size_t		 nmsgs, capmsgs;
	struct ktopic	*topics;
	struct strmap	 bytopic;	/* the topics by name */
	struct ktopic	*last;		/* one-entry cache for runs of one table */
	const struct rel *last_rel;
	uint64_t	 last_gen;
	struct kslot	*next;
};

struct kafka {
	struct kslot	*slots;
	struct buf	 rec;		/* a position record being written */
};

static struct kslot *
kslot_find(struct kafka *k, const char *name)
{
	for (struct kslot *ks = k->slots; ks; ks = ks->next)
		if (strcmp(ks->name, name) == 0)
			return ks;
	return NULL;
}

/* Log and free a transactional API error; 0 if there was none. */
static int
txn_err(rd_kafka_error_t *e, const struct kslot *ks, const char *what)
{
	if (e == NULL)
		return 0;
	log_error("kafka: slot %s: %s: %s%s", ks->name, what, rd_kafka_error_string(e),
	    rd_kafka_error_is_fatal(e) ? " (fatal for this producer)" : "");
	rd_kafka_error_destroy(e);
	return -1;
}

static int
conf_set(rd_kafka_conf_t *conf, const char *key, const char *val)
{
	char err[512];

	if (rd_kafka_conf_set(conf, key, val, err, sizeof(err)) == RD_KAFKA_CONF_OK)
		return 0;
	log_error("kafka: %s: %s", key, err);
	return -1;
}

static rd_kafka_t *
producer_new(const struct cfg_sink *conf, const char *slot)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char txid[512], cid[256], err[512];
	rd_kafka_t *rk;

	snprintf(txid, sizeof(txid), "pgcdc.%s.%s.%s", conf->topic_prefix, conf->name, slot);
	snprintf(cid, sizeof(cid), "pgcdc-%s-%s", conf->name, slot);
	rd_kafka_conf_set_log_cb(kc, kpos_log_cb);
	if (conf_set(kc, "bootstrap.servers", conf->brokers) < 0 ||
	    conf_set(kc, "client.id", cid) < 0 ||
	    conf_set(kc, "transactional.id", txid) < 0 ||
	    conf_set(kc, "enable.idempotence", "true") < 0 ||
	    conf_set(kc, "transaction.timeout.ms", KAFKA_TXN_TIMEOUT) < 0)
		goto fail;
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err))) == NULL) {
		log_error("kafka: producer for slot %s: %s", slot, err);
		goto fail;
	}
	return rk;
fail:
	rd_kafka_conf_destroy(kc);
	return NULL;
}

static struct ktopic *
topic_get(struct kslot *ks, const char *name)
{
	struct ktopic *t;

	if ((t = strmap_get(&ks->bytopic, name)) != NULL)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	snprintf(t->name, sizeof(t->name), "%s", name);
	if ((t->rkt = rd_kafka_topic_new(ks->rk, name, NULL)) == NULL) {
		log_error("kafka: topic %s: %s", name, rd_kafka_err2str(rd_kafka_last_error()));
		free(t);
		return NULL;
	}
	t->next = ks->topics;
	ks->topics = t;
	strmap_put(&ks->bytopic, t->name, t);
	return t;
}

/* <prefix>.<a>[.<b>] with every byte Kafka does not allow in a topic name
 * (outside [A-Za-z0-9._-]) turned into '_'. */
static struct ktopic *
topic_named(struct sink *s, struct kslot *ks, const char *a, const char *b)
{
	const char *prefix = s->conf->topic_prefix;
	size_t len = strlen(prefix) + 1 + strlen(a) + (b ? 1 + strlen(b) : 0);
	char name[KAFKA_TOPIC_MAX + 1], *e;

	if (len > KAFKA_TOPIC_MAX) {
		log_error("kafka: topic name %s.%s%s%s is longer than Kafka's %d bytes", prefix,
		    a, b ? "." : "", b ? b : "", KAFKA_TOPIC_MAX);
		return NULL;
	}
	e = stpcpy(stpcpy(stpcpy(name, prefix), "."), a);
	if (b != NULL)
		stpcpy(stpcpy(e, "."), b);
	for (char *p = name + strlen(prefix); *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			*p = '_';
	return topic_get(ks, name);
}

static struct ktopic *
topic_of(struct sink *s, struct kslot *ks, const struct rel *rel)
{
	struct ktopic *t;

	if (ks->last && ks->last_rel == rel && ks->last_gen == s->rel_gen)
		return ks->last;
	if ((t = topic_named(s, ks, rel->schema, rel->table)) == NULL)
		return NULL;
	ks->last = t;
	ks->last_rel = rel;
	ks->last_gen = s->rel_gen;
	return t;
}

/* How many partitions t has now (a truncate goes to each). */
static int32_t
topic_parts(struct kslot *ks, struct ktopic *t)
{
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	int32_t n = 0;

	for (int tries = 0; n == 0 && tries < 50; tries++) {
		const struct rd_kafka_metadata *md = NULL;

		err = rd_kafka_metadata(ks->rk, 0, t->rkt, &md, KAFKA_META_MS);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			n = md->topics[0].partition_cnt;
		if (md != NULL)
			rd_kafka_metadata_destroy(md);
		if (n == 0)	/* being created (auto-creation on first use) */
			usleep(100 * 1000);
	}
	if (n == 0)
		log_error("kafka: partitions of %s: %s", t->name, rd_kafka_err2str(err));
	return n;
}

static int
produce(struct kslot *ks, struct ktopic *t, int32_t part, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	rd_kafka_resp_err_t err;

	while (rd_kafka_produce(t->rkt, part, RD_KAFKA_MSG_F_COPY, (void *)val, vlen, key, klen,
	    NULL) != 0) {
		if ((err = rd_kafka_last_error()) != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			log_error("kafka: slot %s: produce %zu bytes to %s: %s", ks->name, vlen,
			    t->name, rd_kafka_err2str(err));
			return -1;
		}
		rd_kafka_poll(ks->rk, 100);	/* the queue drains as brokers take it */
	}
	return 0;
}

static int
ktxn_begin(struct kslot *ks)
{
	if (ks->in_ktxn)
		return 0;
	if (txn_err(rd_kafka_begin_transaction(ks->rk), ks, "begin transaction") < 0)
		return -1;
	ks->in_ktxn = 1;
	return 0;
}

static int
ktxn_abort(struct kslot *ks)
{
	ks->in_ktxn = ks->spilled = 0;
	if (txn_err(rd_kafka_abort_transaction(ks->rk, KAFKA_TIMEOUT_MS), ks,
	    "abort transaction") == 0)
		return 0;
	ks->broken = 1;
	return -1;
}

static int
ktxn_commit(struct kslot *ks)
{
	rd_kafka_error_t *e;

	for (int tries = 1; (e = rd_kafka_commit_transaction(ks->rk, KAFKA_TIMEOUT_MS)) != NULL &&
	    rd_kafka_error_is_retriable(e) && tries < 3; tries++) {
		log_warn("kafka: slot %s: commit: %s; retrying", ks->name,
		    rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	if (e == NULL) {
		ks->in_ktxn = 0;
		return 0;
	}
	if (rd_kafka_error_txn_requires_abort(e)) {
		txn_err(e, ks, "commit");
		ktxn_abort(ks);
		return -1;
	}
	return txn_err(e, ks, "commit");
}

/* Hand the buffered messages to the producer, inside the Kafka transaction. */
static int
produce_buffered(struct kslot *ks)
{
	int rc = ks->nmsgs > 0 ? ktxn_begin(ks) : 0;

	for (size_t i = 0; i < ks->nmsgs && rc == 0; i++) {
		const struct kmsg *m = &ks->msgs[i];
		int keyed = m->klen != KAFKA_NO_KEY;

		rc = produce(ks, m->t, m->part, keyed ? ks->data.data + m->key : NULL,
		    keyed ? m->klen : 0, ks->data.data + m->val, m->vlen);
	}
	ks->nmsgs = 0;
	buf_reset(&ks->data);
	return rc;
}

/* Take sl's committed position into ks->pos; 1 if it moved. */
static int
pos_update(struct kslot *ks, const struct sink_slot *sl)
{
	int moved = 0;

	if (sl->applied > ks->pos.end_lsn) {
		ks->pos.end_lsn = sl->applied;
		moved = 1;
	}
	for (size_t i = 0; i < sl->nchunks; i++)
		moved |= kpos_set_chunk(&ks->pos, sl->chunks[i].table, sl->chunks[i].applied);
	return moved;
}

/*
 * Commit the slot's Kafka transaction with its position record.  The data
 * is acknowledged before the record is produced: the transaction makes both
 * visible together anyway, but so no broker ever stores a position ahead of
 * its data (what read_uncommitted readers, and librdkafka's mock cluster,
 * which keeps no transaction markers, would show).
 */
static int
slot_commit(struct sink *s, struct sink_slot *sl, struct kslot *ks)
{
	struct kafka *k = s->impl;
	rd_kafka_resp_err_t err;

	pos_update(ks, sl);
	buf_reset(&k->rec);
	kpos_render(&k->rec, s->conf->name, ks->name, &ks->pos);
	if (ktxn_begin(ks) < 0)
		return -1;
	if ((err = rd_kafka_flush(ks->rk, KAFKA_TIMEOUT_MS)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_error("kafka: slot %s: delivering the transaction: %s", ks->name,
		    rd_kafka_err2str(err));
		return -1;
	}
	if (produce(ks, ks->pos_t, 0, ks->name, strlen(ks->name), k->rec.data, k->rec.len) < 0)
		return -1;
	return ktxn_commit(ks);
}

/* The open source transaction outgrew the buffer: commit what the slot
 * committed before, then let this one stream into a transaction of its own. */
static int
spill(struct sink *s, struct sink_slot *sl, struct kslot *ks)
{
	char l[LSN_BUFLEN];

	if (ks->in_ktxn && slot_commit(s, sl, ks) < 0)
		return -1;
	log_info("kafka: slot %s: transaction %s is past %d MiB: streaming it into a Kafka "
	    "transaction of its own", ks->name, lsn_format(sl->final_lsn, l),
	    KAFKA_SPILL_BYTES >> 20);
	ks->spilled = 1;
	return produce_buffered(ks);
}

static void
msg_add(struct kslot *ks, struct ktopic *t, int32_t part, size_t key, size_t klen, size_t val)
{
	struct kmsg *m;

	if (ks->nmsgs == ks->capmsgs) {
		ks->capmsgs = ks->capmsgs ? 2 * ks->capmsgs : 64;
		if ((ks->msgs = realloc(ks->msgs, ks->capmsgs * sizeof(*m))) == NULL)
			fatal(1, "%s: out of memory", __func__);
	}
	m = &ks->msgs[ks->nmsgs++];
	*m = (struct kmsg){ .t = t, .part = part, .key = key, .klen = klen, .val = val,
		.vlen = ks->data.len - val };
}

/* {"col":value,...} of the replica identity columns: from the new row, the
 * old one for a delete (or a key column left out as unchanged TOAST).
 * 0 if the table has none. */
static int
render_key(struct buf *b, const struct sink_change *c)
{
	const struct tuple *row = c->op == 'd' ? c->old : c->new;
	const struct rel *rel = c->rel;
	int n = 0;

	if (row == NULL)
		return 0;
	buf_putc(b, '{');
	for (size_t i = 0; i < rel->ncols && i < row->ncols; i++) {
		const struct tuple_col *v = &row->cols[i];

		if (!(rel->cols[i].flags & REL_COL_KEY))
			continue;
		if (v->kind == 'u' && c->old != NULL && i < c->old->ncols)
			v = &c->old->cols[i];
		if (n++ > 0)
			buf_putc(b, ',');
		json_str(b, rel->cols[i].name, strlen(rel->cols[i].name));
		buf_putc(b, ':');
		if (v->kind == 't' || v->kind == 'b')
			json_value(b, rel->cols[i].typoid, v->data, v->len);
		else
			buf_puts(b, "null");
	}
	buf_putc(b, '}');
	return n > 0;
}

/*
 * Partitions: by key (Kafka's partitioner), so a row's events stay in
 * order.  A table without key columns, or under REPLICA IDENTITY FULL
 * (whose key is the whole row and changes with it), goes to partition 0; a
 * truncate goes to every partition, so it precedes in each one the changes
 * that follow it.
 */
static int
kafka_change(struct sink *s, struct sink_slot *sl, const struct sink_change *c)
{
	struct kslot *ks = kslot_find(s->impl, sl->name);
	struct ktopic *t;
	size_t key, val;
	int32_t part = RD_KAFKA_PARTITION_UA, nparts = 1;

	if (ks == NULL || ks->broken)
		return -1;
	t = c->op == 'm' ? topic_named(s, ks, "message", NULL) : topic_of(s, ks, c->rel);
	if (t == NULL)
		return -1;
	key = ks->data.len;
	if (c->op == 'm') {	/* Debezium's key of messages */
		buf_puts(&ks->data, "{\"prefix\":");
		json_str(&ks->data, c->msg->message.prefix, strlen(c->msg->message.prefix));
		buf_putc(&ks->data, '}');
	} else if (c->op == 't' || !render_key(&ks->data, c)) {
		ks->data.len = key;
		part = 0;
	} else if (c->rel->replident == 'f') {
		part = 0;
	}
	val = ks->data.len;
	sink_json_event(s, sl, c, &ks->data);
	if (c->op == 't' && (nparts = topic_parts(ks, t)) == 0)
		return -1;
	for (int32_t p = 0; p < nparts; p++)
		msg_add(ks, t, c->op == 't' ? p : part, key, val > key ? val - key : KAFKA_NO_KEY,
		    val);
	if (ks->spilled)
		return produce_buffered(ks);
	return ks->data.len > KAFKA_SPILL_BYTES ? spill(s, sl, ks) : 0;
}

static int
kafka_commit(struct sink *s, struct sink_slot *sl)
{
	struct kslot *ks = kslot_find(s->impl, sl->name);

	if (ks == NULL || ks->broken)
		return -1;
	ks->spilled = 0;	/* complete now: the next flush commits it */
	return produce_buffered(ks);
}

static void
kafka_rollback(struct sink *s, struct sink_slot *sl)
{
	struct kslot *ks = kslot_find(s->impl, sl->name);
	char l[LSN_BUFLEN];

	if (ks == NULL)
		return;
	ks->nmsgs = 0;
	buf_reset(&ks->data);
	if (ks->spilled) {	/* its Kafka transaction holds nothing else */
		log_info("kafka: slot %s: aborting the Kafka transaction of incomplete "
		    "transaction %s", ks->name, lsn_format(sl->final_lsn, l));
		ktxn_abort(ks);
	}
}

static int
kafka_flush(struct sink *s, struct ckpt_batch *batch)
{
	(void)batch;	/* positions live in Kafka; the core keeps LMDB's */
	for (size_t i = 0; i < s->nslots; i++) {
		struct sink_slot *sl = &s->slots[i];
		struct kslot *ks = kslot_find(s->impl, sl->name);

		if (ks == NULL || ks->spilled)	/* spilled: nothing committed since */
			continue;
		if (ks->broken)
			return -1;
		rd_kafka_poll(ks->rk, 0);	/* errors to the log */
		if ((pos_update(ks, sl) || ks->in_ktxn) && slot_commit(s, sl, ks) < 0)
			return -1;
	}
	return 0;
}

static void
kslot_free(struct kslot *ks)
{
	struct ktopic *n;

	if (ks->in_ktxn && !ks->broken)
		ktxn_abort(ks);
	for (struct ktopic *t = ks->topics; t; t = n) {
		n = t->next;
		rd_kafka_topic_destroy(t->rkt);
		free(t);
	}
	strmap_free(&ks->bytopic);
	if (ks->rk != NULL)
		rd_kafka_destroy(ks->rk);
	kpos_free(&ks->pos);
	buf_free(&ks->data);
	free(ks->msgs);
	free(ks);
}

/* A slot's producer, ready for transactions: whatever a previous process
 * left open under its transactional.id is aborted by then. */
static struct kslot *
kslot_new(struct sink *s, const char *name)
{
	struct kafka *k = s->impl;
	struct kslot *ks = calloc(1, sizeof(*ks));

	if (ks == NULL)
		fatal(1, "%s: out of memory", __func__);
	snprintf(ks->name, sizeof(ks->name), "%s", name);
	ks->next = k->slots;
	k->slots = ks;
	if ((ks->rk = producer_new(s->conf, name)) == NULL ||
	    (ks->pos_t = topic_named(s, ks, "pgcdc_positions", NULL)) == NULL ||
	    txn_err(rd_kafka_init_transactions(ks->rk, KAFKA_TIMEOUT_MS), ks,
	    "init_transactions") < 0)
		return NULL;
	return ks;
}

/* The slots from the head of k->slots up to `upto` (NULL: all) have their
 * producers: read their positions. */
static int
read_positions(struct sink *s, struct kslot *upto)
{
	struct kafka *k = s->impl;
	struct kpos_want *want = NULL;
	char topic[KAFKA_TOPIC_MAX + 1], l[LSN_BUFLEN];
	size_t n = 0;
	int rc;

	for (struct kslot *ks = k->slots; ks != upto; ks = ks->next) {
		if ((want = realloc(want, (n + 1) * sizeof(*want))) == NULL)
			fatal(1, "%s: out of memory", __func__);
		want[n++] = (struct kpos_want){ .slot = ks->name, .pos = &ks->pos };
	}
	snprintf(topic, sizeof(topic), "%s", k->slots->pos_t->name);
	rc = kpos_scan(s->conf->brokers, topic, s->conf->name, want, n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (want[i].found)
			log_info("kafka: slot %s: %s holds %s and %zu table(s) with snapshot "
			    "chunks", want[i].slot, topic, lsn_format(want[i].pos->end_lsn, l),
			    want[i].pos->nchunks);
		else
			log_info("kafka: slot %s: nothing in %s yet", want[i].slot, topic);
	}
	free(want);
	return rc;
}

static int
kafka_held(struct sink *s, const char *slot, lsn_t *applied)
{
	struct kafka *k = s->impl;
	struct kslot *ks = kslot_find(k, slot), *before = k->slots;

	if (ks == NULL) {	/* not in the config seen at open: fence it, then read */
		if ((ks = kslot_new(s, slot)) == NULL || read_positions(s, before) < 0)
			return -1;
	}
	*applied = ks->pos.end_lsn;
	return 0;
}

static int
kafka_held_chunk(struct sink *s, const char *slot, const char *table, uint64_t *chunk)
{
	lsn_t ignored;
	struct kslot *ks;

	if (kafka_held(s, slot, &ignored) < 0 || (ks = kslot_find(s->impl, slot)) == NULL)
		return -1;
	*chunk = kpos_chunk(&ks->pos, table);
	return 0;
}

/* Every slot that feeds this sink (shards: <name>_0 .. <name>_<N-1>) gets its
 * producer before any position is read: a transaction a dead process left
 * open is aborted only by its own transactional.id, and until then it hides
 * everything after it in the position topic from read_committed. */
static int
kafka_open(struct sink *s)
{
	struct kafka *k = calloc(1, sizeof(*k));
	char name[sizeof(((struct sink_slot *)0)->name)];

	if (k == NULL)
		return -1;
	s->impl = k;
	if (s->conf->transactions)
		log_warn("kafka: option transactions is not supported by kafka sinks yet: "
		    "no BEGIN/END events nor \"transaction\" blocks");
	for (size_t i = 0; i < s->cfg->nslots; i++) {
		const struct cfg_slot *cs = &s->cfg->slots[i];
		int feeds = 0;

		for (size_t j = 0; j < cs->nsinks; j++)
			feeds |= strcmp(cs->sinks[j], s->conf->name) == 0;
		for (int shard = 0; feeds && shard < (cs->shards > 1 ? cs->shards : 1); shard++) {
			cfg_slot_name(cs, shard, name, sizeof(name));
			if (kslot_new(s, name) == NULL)
				return -1;
		}
	}
	return k->slots != NULL ? read_positions(s, NULL) : 0;
}

static void
kafka_close(struct sink *s)
{
	struct kafka *k = s->impl;
	struct kslot *n;

	if (k == NULL)
		return;
	for (struct kslot *ks = k->slots; ks; ks = n) {
		n = ks->next;
		kslot_free(ks);
	}
	buf_free(&k->rec);
	free(k);
	s->impl = NULL;
}

const struct sink_ops sink_kafka_ops = {
	.type = "kafka",
	.open = kafka_open,
	.change = kafka_change,
	.commit = kafka_commit,
	.rollback = kafka_rollback,
	.flush = kafka_flush,
	.close = kafka_close,
	.held = kafka_held,
	.held_chunk = kafka_held_chunk,
};
