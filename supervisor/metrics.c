/*
 * metrics: Prometheus text exposition of what `pgcdc status` shows, served
 * by libmicrohttpd (its own thread) at the config's `metrics` address.
 * Each scrape reads the same sources as status (the supervisor's status
 * file, LMDB, the source server), with a config loaded for the scrape, so
 * the serving thread shares no state with the supervisor's loop.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ckpt.h"
#include "common/log.h"
#include "supervisor/sup.h"

static struct MHD_Daemon *daemon_;
static char config_path[4096];

static enum MHD_Result
answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *data, size_t *size, void **state)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int code = MHD_HTTP_OK;

	(void)cls; (void)version; (void)data; (void)size; (void)state;
	if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
		static const char nf[] = "not found: try /metrics\n";

		resp = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf,
		    MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if ((out = open_memstream(&text, &len)) == NULL)
		return MHD_NO;
	if (sup_metrics_write(out, config_path) < 0)
		code = MHD_HTTP_INTERNAL_SERVER_ERROR;
	fclose(out);
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, (unsigned)code, resp);
	MHD_destroy_response(resp);
	return ret;
}

int
sup_metrics_start(const char *config, const char *listen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *colon;
	char host[64];
	long port;

	if (listen == NULL || *listen == '\0')
		return 0;
	colon = strrchr(listen, ':');
	port = colon ? strtol(colon + 1, NULL, 10) : 0;
	if (colon == NULL || colon - listen >= (long)sizeof(host) || port <= 0 || port > 65535) {
		log_error("metrics: \"%s\" is not HOST:PORT (an IPv4 address and a port)", listen);
		return -1;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		log_error("metrics: \"%s\" is not an IPv4 address", host);
		return -1;
	}
	sa.sin_port = htons((uint16_t)port);
	snprintf(config_path, sizeof(config_path), "%s", config);
	daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
	    (uint16_t)port, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (daemon_ == NULL) {
		log_error("metrics: cannot listen on %s (in use?)", listen);
		return -1;
	}
	log_info("metrics at http://%s/metrics", listen);
	return 0;
}

void
sup_metrics_stop(void)
{
	if (daemon_ != NULL)
		MHD_stop_daemon(daemon_);
	daemon_ = NULL;
}

/* One slot's numbers, gathered before the families are written. */
struct mslot {
	char		 name[128];
	struct sup_row	 row;
	lsn_t		 confirmed;
	unsigned long long changes;
	int		 srv;		/* row in the server's result, -1 none */
	int		 tables[3];	/* pending, running, done */
};

static int
count_table(const char *key, const void *val, size_t len, void *arg)
{
	int *t = arg;

	(void)key;
	if (len >= 4 && memcmp(val, "done", 4) == 0)
		t[2]++;
	else if (len >= 7 && memcmp(val, "running", 7) == 0)
		t[1]++;
	else
		t[0]++;
	return 0;
}

static void
gather(const struct cfg *cfg, struct ckpt *ck, pid_t sup, PGresult *srv, struct mslot *m)
{
	char key[CKPT_KEY_MAX + 1], st[256];
	size_t len = sizeof(st) - 1;
	const char *p;

	sup_child_row(cfg, sup, "slot", m->name, &m->row);
	snprintf(key, sizeof(key), "slot/%s/confirmed", m->name);
	ckpt_get_lsn(ck, key, &m->confirmed);
	snprintf(key, sizeof(key), "slot/%s/status", m->name);
	if (ckpt_get(ck, key, st, &len) == 1) {
		st[len] = '\0';
		if ((p = strstr(st, "changes=")) != NULL)
			m->changes = strtoull(p + 8, NULL, 10);
	}
	m->srv = -1;
	for (int i = 0; srv != NULL && i < PQntuples(srv); i++)
		if (strcmp(PQgetvalue(srv, i, 0), m->name) == 0)
			m->srv = i;
	snprintf(key, sizeof(key), "slot/%s/snap/", m->name);
	ckpt_scan(ck, key, count_table, m->tables);
}

static void
family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
slot_families(FILE *out, const struct mslot *m, size_t n, PGresult *srv)
{
	static const char *const tstate[3] = { "pending", "running", "done" };

	family(out, "pgcdc_slot_state", "gauge", "1 for the slot's worker state");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "pgcdc_slot_state{slot=\"%s\",state=\"%s\"} 1\n", m[i].name, m[i].row.state);
	family(out, "pgcdc_slot_restarts_total", "counter", "worker restarts");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "pgcdc_slot_restarts_total{slot=\"%s\"} %d\n", m[i].name, m[i].row.restarts);
	family(out, "pgcdc_slot_confirmed_lsn", "gauge", "confirmed LSN (as a number) in LMDB");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "pgcdc_slot_confirmed_lsn{slot=\"%s\"} %llu\n", m[i].name,
		    (unsigned long long)m[i].confirmed);
	family(out, "pgcdc_slot_changes_total", "counter", "changes streamed by the current worker");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "pgcdc_slot_changes_total{slot=\"%s\"} %llu\n", m[i].name, m[i].changes);
	family(out, "pgcdc_slot_lag_bytes", "gauge", "server WAL position minus the slot's confirmed flush");
	for (size_t i = 0; i < n; i++)
		if (m[i].srv >= 0 && *PQgetvalue(srv, m[i].srv, 2))
			fprintf(out, "pgcdc_slot_lag_bytes{slot=\"%s\"} %s\n", m[i].name,
			    PQgetvalue(srv, m[i].srv, 2));
	family(out, "pgcdc_slot_retained_wal_bytes", "gauge", "WAL the slot keeps on the server");
	for (size_t i = 0; i < n; i++)
		if (m[i].srv >= 0 && *PQgetvalue(srv, m[i].srv, 3))
			fprintf(out, "pgcdc_slot_retained_wal_bytes{slot=\"%s\"} %s\n", m[i].name,
			    PQgetvalue(srv, m[i].srv, 3));
	family(out, "pgcdc_slot_active", "gauge", "1 if a walsender streams the slot");
	for (size_t i = 0; i < n; i++)
		if (m[i].srv >= 0)
			fprintf(out, "pgcdc_slot_active{slot=\"%s\"} %d\n", m[i].name,
			    strcmp(PQgetvalue(srv, m[i].srv, 1), "t") == 0);
	family(out, "pgcdc_snapshot_tables", "gauge", "tables by snapshot state");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 3; k++)
			fprintf(out, "pgcdc_snapshot_tables{slot=\"%s\",state=\"%s\"} %d\n", m[i].name,
			    tstate[k], m[i].tables[k]);
}

static void
sink_families(FILE *out, const struct cfg *cfg, struct ckpt *ck, pid_t sup,
    const struct mslot *m, size_t n)
{
	char key[CKPT_KEY_MAX + 1];
	struct sup_row r;

	family(out, "pgcdc_sink_state", "gauge", "1 for the sink's state");
	for (size_t i = 0; i < cfg->nsinks; i++) {
		sup_child_row(cfg, sup, "sink", cfg->sinks[i].name, &r);
		fprintf(out, "pgcdc_sink_state{sink=\"%s\",state=\"%s\"} 1\n", cfg->sinks[i].name, r.state);
	}
	family(out, "pgcdc_sink_restarts_total", "counter", "sink restarts");
	for (size_t i = 0; i < cfg->nsinks; i++) {
		sup_child_row(cfg, sup, "sink", cfg->sinks[i].name, &r);
		fprintf(out, "pgcdc_sink_restarts_total{sink=\"%s\"} %d\n", cfg->sinks[i].name, r.restarts);
	}
	family(out, "pgcdc_sink_acked_lsn", "gauge", "what the sink holds durably, per slot");
	for (size_t i = 0; i < cfg->nsinks; i++)
		for (size_t j = 0; j < n; j++) {
			lsn_t pos = 0;

			snprintf(key, sizeof(key), "sink/%s/pos/%s", cfg->sinks[i].name, m[j].name);
			if (ckpt_get_lsn(ck, key, &pos) == 1)
				fprintf(out, "pgcdc_sink_acked_lsn{sink=\"%s\",slot=\"%s\"} %llu\n",
				    cfg->sinks[i].name, m[j].name, (unsigned long long)pos);
		}
}

int
sup_metrics_write(FILE *out, const char *config)
{
	char err[4096], why[512];
	struct cfg *cfg = cfg_load(config, err, sizeof(err));
	struct mslot *m = NULL;
	size_t n = 0;
	struct ckpt *ck;
	PGresult *srv;
	pid_t sup;

	if (cfg == NULL)
		return -1;
	if ((ck = ckpt_open(cfg->state_dir, (size_t)cfg->lmdb_map_size)) == NULL) {
		cfg_free(cfg);
		return -1;
	}
	sup = sup_running_pid(cfg->run_dir);
	srv = sup_server_slots(cfg, why, sizeof(why));
	for (size_t i = 0; i < cfg->nslots; i++)
		n += (size_t)cfg->slots[i].shards;
	if ((m = calloc(n ? n : 1, sizeof(*m))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	n = 0;
	for (size_t i = 0; i < cfg->nslots; i++)
		for (int k = 0; k < cfg->slots[i].shards; k++) {
			cfg_slot_name(&cfg->slots[i], k, m[n].name, sizeof(m[n].name));
			gather(cfg, ck, sup, srv, &m[n++]);
		}
	family(out, "pgcdc_up", "gauge", "1 while the supervisor runs");
	fprintf(out, "pgcdc_up %d\n", sup > 0);
	family(out, "pgcdc_source_up", "gauge", "1 if the source server answered this scrape");
	fprintf(out, "pgcdc_source_up %d\n", srv != NULL);
	slot_families(out, m, n, srv);
	sink_families(out, cfg, ck, sup, m, n);
	free(m);
	PQclear(srv);
	ckpt_close(ck);
	cfg_free(cfg);
	return 0;
}
