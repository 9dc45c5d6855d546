/*
 * kafka_pos: position records of the kafka sink (format in kafka_pos.h) and
 * reading them back.  Invariant: kpos_scan only ever sees committed records
 * (read_committed, after every transaction open at its start has ended), and
 * for each slot it returns the newest one, so a slot never resumes behind
 * what its committed Kafka transactions hold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "common/json.h"
#include "common/jsonparse.h"
#include "common/log.h"
#include "common/util.h"
#include "sink/kafka_pos.h"

#define KPOS_SCAN_WINDOW	4096	/* records read per step back */
#define KPOS_TIMEOUT_MS		30000	/* a broker request, or a window without progress */
#define KPOS_STABLE_MS		(20 * 60 * 1000)	/* > any transaction.timeout.ms */

void
kpos_render(struct buf *b, const char *sink, const char *slot, const struct kpos *p)
{
	char l[LSN_BUFLEN];

	buf_puts(b, "{\"sink\":");
	json_str(b, sink, strlen(sink));
	buf_puts(b, ",\"slot\":");
	json_str(b, slot, strlen(slot));
	buf_printf(b, ",\"end_lsn\":%llu,\"lsn\":\"%s\",\"chunks\":{",
	    (unsigned long long)p->end_lsn, lsn_format(p->end_lsn, l));
	for (size_t i = 0; i < p->nchunks; i++) {
		if (i > 0)
			buf_putc(b, ',');
		json_str(b, p->chunks[i].table, strlen(p->chunks[i].table));
		buf_printf(b, ":%llu", (unsigned long long)p->chunks[i].id);
	}
	buf_puts(b, "}}");
}

static void
chunks_clear(struct kpos *p)
{
	for (size_t i = 0; i < p->nchunks; i++)
		free(p->chunks[i].table);
	free(p->chunks);
	p->chunks = NULL;
	p->nchunks = 0;
}

static void
chunk_add(struct kpos *p, const char *table, uint64_t id)
{
	struct kpos_chunk *c = realloc(p->chunks, (p->nchunks + 1) * sizeof(*c));

	if (c == NULL || (c[p->nchunks].table = strdup(table)) == NULL)
		fatal(1, "%s: out of memory", __func__);
	c[p->nchunks++].id = id;
	p->chunks = c;
}

/* A JSON number that is a whole uint64: 0, else -1. */
static int
number(const struct jp_doc *d, const struct jp_val *v, uint64_t *out)
{
	const char *t;
	size_t len;

	if (v == NULL || v->type != JP_NUMBER)
		return -1;
	t = jp_text(d, v, &len);
	*out = 0;
	for (size_t i = 0; i < len; i++) {
		if (t[i] < '0' || t[i] > '9' || *out > (UINT64_MAX - 9) / 10)
			return -1;
		*out = *out * 10 + (uint64_t)(t[i] - '0');
	}
	return 0;
}

/* The "chunks" object into p; -1 on anything but names and chunk ids. */
static int
parse_chunks(const struct jp_doc *d, const struct jp_val *o, struct kpos *p)
{
	const struct jp_val *k, *v;
	uint64_t id;

	if (o == NULL || o->type != JP_OBJECT)
		return -1;
	for (k = jp_first(d, o); k != NULL; k = jp_next(d, o, v)) {
		v = jp_next(d, o, k);
		if (k->slen != strlen(d->str + k->str) || number(d, v, &id) < 0)
			return -1;	/* a NUL is in no table name */
		chunk_add(p, d->str + k->str, id);
	}
	return 0;
}

int
kpos_parse(const void *val, size_t len, const char *sink, const char *slot, struct kpos *p)
{
	struct jp_doc d = { 0 };
	const struct jp_val *root;
	uint64_t end_lsn;
	int rc = -1;

	if (jp_parse(&d, val, len) < 0 || (root = jp_root(&d))->type != JP_OBJECT)
		goto out;
	if (!jp_streq(&d, jp_get(&d, root, "sink"), sink) ||
	    !jp_streq(&d, jp_get(&d, root, "slot"), slot)) {
		rc = 0;		/* another sink's or slot's (or no record at all) */
		goto out;
	}
	chunks_clear(p);
	if (number(&d, jp_get(&d, root, "end_lsn"), &end_lsn) == 0 &&
	    parse_chunks(&d, jp_get(&d, root, "chunks"), p) == 0) {
		p->end_lsn = end_lsn;
		rc = 1;
	} else {
		chunks_clear(p);
	}
out:
	jp_free(&d);
	return rc;
}

static struct kpos_chunk *
chunk_find(const struct kpos *p, const char *table)
{
	for (size_t i = 0; i < p->nchunks; i++)
		if (strcmp(p->chunks[i].table, table) == 0)
			return &p->chunks[i];
	return NULL;
}

int
kpos_set_chunk(struct kpos *p, const char *table, uint64_t id)
{
	struct kpos_chunk *c = chunk_find(p, table);

	if (c == NULL && id > 0) {
		chunk_add(p, table, id);
		return 1;
	}
	if (c != NULL && id > c->id) {
		c->id = id;
		return 1;
	}
	return 0;
}

uint64_t
kpos_chunk(const struct kpos *p, const char *table)
{
	struct kpos_chunk *c = chunk_find(p, table);

	return c ? c->id : 0;
}

void
kpos_free(struct kpos *p)
{
	chunks_clear(p);
	p->end_lsn = 0;
}

void
kpos_log_cb(const struct rd_kafka_s *rk, int level, const char *fac, const char *msg)
{
	enum log_level l = level <= 3 ? LL_ERROR : level == 4 ? LL_WARN :
	    level <= 6 ? LL_INFO : LL_DEBUG;

	log_msg(l, "librdkafka %s: %s: %s", rd_kafka_name(rk), fac, msg);
}

/* ---- reading back ---- */

static rd_kafka_t *
consumer_new(const char *brokers, const char *isolation)
{
	/* assign() wants a group.id; the group is never joined nor committed to */
	static const char *const keys[] = { "bootstrap.servers", "isolation.level",
		"enable.partition.eof", "enable.auto.commit", "client.id", "group.id" };
	const char *vals[] = { brokers, isolation, "true", "false", "pgcdc-positions",
		"pgcdc-positions" };
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;

	rd_kafka_conf_set_log_cb(conf, kpos_log_cb);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (rd_kafka_conf_set(conf, keys[i], vals[i], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
			log_error("%s: %s: %s", __func__, keys[i], err);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	if ((rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))) == NULL) {
		log_error("%s: %s", __func__, err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

/* 1 the topic exists, 0 it does not, -1 error. */
static int
topic_exists(rd_kafka_t *rk, const char *topic)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;

	if (rkt == NULL) {
		log_error("%s: %s: %s", __func__, topic, rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	err = rd_kafka_metadata(rk, 0, rkt, &md, KPOS_TIMEOUT_MS);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		return 0;
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_error("%s: metadata of %s: %s", __func__, topic, rd_kafka_err2str(err));
		return -1;
	}
	return 1;
}

static int
watermarks(rd_kafka_t *rk, const char *topic, int64_t *lo, int64_t *hi)
{
	rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, 0, lo, hi,
	    KPOS_TIMEOUT_MS);

	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_error("%s: offsets of %s [0]: %s", __func__, topic, rd_kafka_err2str(err));
		return -1;
	}
	return 0;
}

/* Wait until the read_committed end of partition 0 (its last stable offset)
 * reaches the high watermark seen now: a transaction still open is one of
 * a process that is gone (ours are fenced by then) and ends by abort. */
static int
wait_stable(rd_kafka_t *rc, const char *brokers, const char *topic, int64_t *lo, int64_t *end)
{
	rd_kafka_t *ru = consumer_new(brokers, "read_uncommitted");
	int64_t deadline = util_now_ms() + KPOS_STABLE_MS, ulo, hw;
	int rc_ = ru ? watermarks(ru, topic, &ulo, &hw) : -1, told = 0;

	if (ru != NULL)
		rd_kafka_destroy(ru);
	while (rc_ == 0 && (rc_ = watermarks(rc, topic, lo, end)) == 0 && *end < hw) {
		if (!told++)
			log_info("%s: a transaction is open in %s (offsets %lld..%lld); "
			    "waiting for the broker to end it", __func__, topic,
			    (long long)*end, (long long)hw);
		if (util_now_ms() > deadline) {
			log_error("%s: %s: a transaction stays open; fix: find the producer "
			    "that holds it", __func__, topic);
			return -1;
		}
		usleep(200 * 1000);
	}
	return rc_;
}

/* The record in m for a slot still wanted: 2 marks "seen in this window". */
static void
take(const rd_kafka_message_t *m, const char *sink, struct kpos_want *want, size_t n)
{
	struct kpos rec = { 0 };

	for (size_t i = 0; i < n; i++) {
		struct kpos_want *w = &want[i];

		if (w->found == 1 || m->payload == NULL || m->key_len != strlen(w->slot) ||
		    memcmp(m->key, w->slot, m->key_len) != 0)
			continue;
		switch (kpos_parse(m->payload, m->len, sink, w->slot, &rec)) {
		case 1:		/* newer than what this window had so far */
			kpos_free(w->pos);
			*w->pos = rec;
			rec = (struct kpos){ 0 };
			w->found = 2;
			break;
		case -1:
			log_warn("%s: malformed position record at offset %lld ignored",
			    __func__, (long long)m->offset);
			break;
		}
	}
	kpos_free(&rec);
}

/* Records at offsets [from, to) of partition 0, oldest first. */
static int
scan_window(rd_kafka_t *rk, const char *topic, int64_t from, int64_t to, const char *sink,
    struct kpos_want *want, size_t n)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	int64_t deadline = util_now_ms() + KPOS_TIMEOUT_MS;
	rd_kafka_resp_err_t err;
	int rc = 0, done = 0;

	rd_kafka_topic_partition_list_add(l, topic, 0)->offset = from;
	err = rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	while (err == RD_KAFKA_RESP_ERR_NO_ERROR && !done) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		if (m == NULL) {
			if (util_now_ms() > deadline)
				done = 1, rc = -1;
			continue;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			done = 1;
		else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			err = m->err;
		else {
			if (m->offset < to)
				take(m, sink, want, n);
			done = m->offset >= to - 1;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_assign(rk, NULL);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR || rc < 0) {
		log_error("%s: reading %s [0] at %lld: %s", __func__, topic, (long long)from,
		    rc < 0 ? "timed out" : rd_kafka_err2str(err));
		return -1;
	}
	return 0;
}

int
kpos_scan(const char *brokers, const char *topic, const char *sink,
    struct kpos_want *want, size_t nwant)
{
	rd_kafka_t *rk = consumer_new(brokers, "read_committed");
	int64_t lo = 0, end = 0;
	size_t left = nwant;
	int rc;

	if (rk == NULL)
		return -1;
	if ((rc = topic_exists(rk, topic)) > 0)
		rc = wait_stable(rk, brokers, topic, &lo, &end);
	while (rc == 0 && left > 0 && end > lo) {
		int64_t from = end - lo > KPOS_SCAN_WINDOW ? end - KPOS_SCAN_WINDOW : lo;

		rc = scan_window(rk, topic, from, end, sink, want, nwant);
		for (size_t i = 0; i < nwant; i++) {
			if (want[i].found == 2) {
				want[i].found = 1;
				left--;
			}
		}
		end = from;
	}
	rd_kafka_destroy(rk);
	return rc < 0 ? -1 : 0;
}
