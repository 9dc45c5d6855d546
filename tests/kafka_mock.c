/*
 * kafka_mock: test helper for the kafka sink, no broker needed.
 *   kafka_mock serve N FILE [TOPIC=PARTITIONS]...
 *                                 host librdkafka's mock cluster (N brokers on
 *                                 127.0.0.1, topics created with the given
 *                                 partitions, others on first use with 4) until
 *                                 SIGTERM/SIGINT; its bootstrap servers go to
 *                                 FILE once it listens
 *   kafka_mock dump SERVERS PREFIX  every message of the topics PREFIX.*,
 *                                 read_committed from the start to the end, one
 *                                 JSON line each: {"topic","partition","offset",
 *                                 "ts","key","value"} (key, value: strings or null)
 * The cluster lives in its own process, so the sink can be killed and
 * restarted against the same one.  librdkafka 2.0's mock broker writes no
 * transaction markers (read_committed also shows aborted messages) and keeps
 * only the last 5 MiB of each partition.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "common/buf.h"
#include "common/json.h"

static rd_kafka_t *
client(rd_kafka_type_t type, const char *servers)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;

	/* consumers: read_committed, an end-of-partition event, and the group.id
	 * assign() wants (nothing is committed) */
	if ((servers != NULL &&
	    rd_kafka_conf_set(conf, "bootstrap.servers", servers, err, sizeof(err)) != 0) ||
	    (type == RD_KAFKA_CONSUMER &&
	    (rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof(err)) != 0 ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err)) != 0 ||
	    rd_kafka_conf_set(conf, "group.id", "kafka_mock", err, sizeof(err)) != 0)) ||
	    (rk = rd_kafka_new(type, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "kafka_mock: %s\n", err);
		exit(1);
	}
	return rk;
}

static int
serve(int brokers, const char *file, char **topics, int ntopics)
{
	rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, NULL);
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
	char tmp[4096];
	sigset_t set;
	FILE *f;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	for (int i = 0; mc != NULL && i < ntopics; i++) {
		char *eq = strchr(topics[i], '=');

		if (eq == NULL)
			return 2;
		*eq = '\0';
		if (rd_kafka_mock_topic_create(mc, topics[i], atoi(eq + 1), brokers < 3 ? brokers : 3)) {
			fprintf(stderr, "kafka_mock: cannot create %s\n", topics[i]);
			return 1;
		}
	}
	if (mc == NULL || (f = fopen(tmp, "w")) == NULL ||
	    fprintf(f, "%s\n", rd_kafka_mock_cluster_bootstraps(mc)) < 0 || fclose(f) != 0 ||
	    rename(tmp, file) != 0) {
		perror("kafka_mock: serve");
		return 1;
	}
	sigwait(&set, &sig);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}

static void
put_bytes(struct buf *b, const void *p, size_t len)
{
	if (p == NULL)
		buf_puts(b, "null");
	else
		json_str(b, p, len);
}

static void
print_message(struct buf *b, const rd_kafka_message_t *m)
{
	rd_kafka_timestamp_type_t tstype;
	const char *topic = rd_kafka_topic_name(m->rkt);

	buf_reset(b);
	buf_puts(b, "{\"topic\":");
	json_str(b, topic, strlen(topic));
	buf_printf(b, ",\"partition\":%d,\"offset\":%lld,\"ts\":%lld,\"key\":", (int)m->partition,
	    (long long)m->offset, (long long)rd_kafka_message_timestamp(m, &tstype));
	put_bytes(b, m->key, m->key_len);
	buf_puts(b, ",\"value\":");
	put_bytes(b, m->payload, m->len);
	buf_puts(b, "}\n");
	fwrite(b->data, 1, b->len, stdout);
}

/* Assign every partition of the topics PREFIX.* from the start; their number. */
static int
assign_all(rd_kafka_t *rk, const char *prefix)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
	const struct rd_kafka_metadata *md;
	size_t plen = strlen(prefix);
	rd_kafka_resp_err_t err;
	int n;

	if (rd_kafka_metadata(rk, 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "kafka_mock: metadata failed\n");
		exit(1);
	}
	for (int i = 0; i < md->topic_cnt; i++) {
		const char *t = md->topics[i].topic;

		if (strncmp(t, prefix, plen) != 0 || t[plen] != '.')
			continue;
		for (int p = 0; p < md->topics[i].partition_cnt; p++)
			rd_kafka_topic_partition_list_add(l, t, md->topics[i].partitions[p].id)->offset =
			    RD_KAFKA_OFFSET_BEGINNING;
	}
	rd_kafka_metadata_destroy(md);
	n = l->cnt;
	if (n > 0 && (err = rd_kafka_assign(rk, l)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "kafka_mock: assign: %s\n", rd_kafka_err2str(err));
		exit(1);
	}
	rd_kafka_topic_partition_list_destroy(l);
	return n;
}

static int
dump(const char *servers, const char *prefix)
{
	rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, servers);
	struct buf b = { 0 };
	int left, idle = 0;

	rd_kafka_poll_set_consumer(rk);
	left = assign_all(rk, prefix);
	while (left > 0) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);

		if (m == NULL) {
			if (++idle > 60) {
				fprintf(stderr, "kafka_mock: dump timed out\n");
				return 1;
			}
			continue;
		}
		idle = 0;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			left--;
		else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			fprintf(stderr, "kafka_mock: %s\n", rd_kafka_message_errstr(m));
		else
			print_message(&b, m);
		rd_kafka_message_destroy(m);
	}
	buf_free(&b);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return fflush(stdout) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "serve") == 0)
		return serve(atoi(argv[2]), argv[3], argv + 4, argc - 4);
	if (argc == 4 && strcmp(argv[1], "dump") == 0)
		return dump(argv[2], argv[3]);
	fprintf(stderr, "usage: kafka_mock serve N FILE [TOPIC=PARTITIONS]... | "
	    "kafka_mock dump SERVERS PREFIX\n");
	return 2;
}
