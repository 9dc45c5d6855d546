/*
 * status: what `pgcdc status` shows, from the supervisor's status file in
 * run_dir (child states, while it runs) and from LMDB (positions, which
 * survive a stop).  Secrets are never part of either.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cfg.h"
#include "common/ckpt.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pgconn.h"
#include "supervisor/sup.h"

PGresult *
sup_server_slots(const struct cfg *cfg, char *why, size_t len)
{
	enum pgconn_err err;
	PGconn *c = pgconn_open(cfg->conninfo, cfg->password_file, 0, "pgcdc-status", &err);
	PGresult *r;

	if (c == NULL) {
		snprintf(why, len, "%s", pgconn_last_error());
		return NULL;
	}
	r = PQexec(c, "SELECT slot_name, active, "
	    "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, "
	    "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, "
	    "coalesce(wal_status, ''), pg_current_wal_lsn() FROM pg_replication_slots");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(why, len, "%s", strtok(PQerrorMessage(c), "\n"));
		PQclear(r);
		r = NULL;
	}
	PQfinish(c);
	return r;
}

/* Lag and retained WAL of slot name, as the server sees them. */
static void
print_server(PGresult *srv, const char *name, int json)
{
	for (int i = 0; srv != NULL && i < PQntuples(srv); i++) {
		if (strcmp(PQgetvalue(srv, i, 0), name) != 0)
			continue;
		if (json)
			printf(",\"server\":{\"active\":%s,\"lag_bytes\":%s,\"retained_bytes\":%s,"
			    "\"wal_status\":\"%s\",\"current_lsn\":\"%s\"}",
			    strcmp(PQgetvalue(srv, i, 1), "t") == 0 ? "true" : "false",
			    *PQgetvalue(srv, i, 2) ? PQgetvalue(srv, i, 2) : "null",
			    *PQgetvalue(srv, i, 3) ? PQgetvalue(srv, i, 3) : "null",
			    PQgetvalue(srv, i, 4), PQgetvalue(srv, i, 5));
		else
			printf("  server: %s, current %s, lag %s bytes, retains %s bytes of WAL%s%s\n",
			    strcmp(PQgetvalue(srv, i, 1), "t") == 0 ? "streaming" : "not streaming",
			    PQgetvalue(srv, i, 5), PQgetvalue(srv, i, 2), PQgetvalue(srv, i, 3),
			    *PQgetvalue(srv, i, 4) ? ", wal_status " : "", PQgetvalue(srv, i, 4));
		return;
	}
	if (srv != NULL)
		printf(json ? ",\"server\":null" : "  server: no such replication slot\n");
}

/* The worker's last error, if it left one. */
static void
print_error(struct ckpt *ck, const char *name, int json)
{
	char key[CKPT_KEY_MAX + 1], val[600], when[32];
	size_t len = sizeof(val) - 1;
	long long ms;
	int at;
	time_t t;
	struct tm tm;
	struct buf b = { 0 };

	snprintf(key, sizeof(key), "slot/%s/error", name);
	if (ckpt_get(ck, key, val, &len) != 1)
		return;
	val[len] = '\0';
	if (sscanf(val, "%lld %n", &ms, &at) != 1)
		return;
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (json) {
		json_str(&b, val + at, strlen(val + at));
		printf(",\"last_error\":{\"at\":\"%s\",\"text\":%.*s}", when, (int)b.len,
		    (char *)b.data);
	} else {
		printf("  last error (%s): %s\n", when, val + at);
	}
	buf_free(&b);
}

static void
child_line(const struct child *c, char *out, size_t len)
{
	int code = WIFEXITED(c->last_status) ? WEXITSTATUS(c->last_status) :
	    WIFSIGNALED(c->last_status) ? 128 + WTERMSIG(c->last_status) : 0;

	snprintf(out, len, "%s %s %s %d %d %d", c->kind == CHILD_WORKER ? "slot" : "sink",
	    c->name, child_state_name(c->state), (int)c->pid, c->restarts, code);
}

void
sup_status_write(const struct child_table *t, const char *path)
{
	char tmp[PATH_MAX], line[256];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		child_line(&t->v[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
	if (fclose(f) == 0)
		rename(tmp, path);
}

void
sup_status_log(const struct child_table *t)
{
	char line[256];

	for (size_t i = 0; i < t->n; i++) {
		child_line(&t->v[i], line, sizeof(line));
		log_info("status: %s", line);
	}
}


/* Look a child up in the status file; returns 1 and fills r if found. */
static int
file_row(const char *run_dir, const char *kind, const char *name, struct sup_row *r)
{
	char path[PATH_MAX], line[256];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "%s/status", run_dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%7s %63s %15s %d %d %d", r->kind, r->name, r->state,
		    &r->pid, &r->restarts, &r->code) == 6 &&
		    strcmp(r->kind, kind) == 0 && strcmp(r->name, name) == 0;
	fclose(f);
	return found;
}

void
sup_child_row(const struct cfg *cfg, pid_t sup, const char *kind, const char *name,
    struct sup_row *r)
{
	if (!sup || !file_row(cfg->run_dir, kind, name, r)) {
		memset(r, 0, sizeof(*r));
		snprintf(r->state, sizeof(r->state), "%s", sup ? "UNKNOWN" : "STOPPED");
	}
}

struct tables_arg { int json, n; size_t skip; };

/* One line (or JSON member) per table under slot/<name>/snap/. */
static int
print_table(const char *key, const void *val, size_t len, void *arg)
{
	struct tables_arg *a = arg;
	int n = len > 200 ? 200 : (int)len;

	if (a->json)
		printf("%s\"%s\":\"%.*s\"", a->n ? "," : "", key + a->skip, n, (const char *)val);
	else
		printf("  table %-40s %.*s\n", key + a->skip, n, (const char *)val);
	a->n++;
	return 0;
}

static void
print_tables(struct ckpt *ck, const char *slot, int json)
{
	char prefix[CKPT_KEY_MAX + 1];
	struct tables_arg a = { json, 0, 0 };

	snprintf(prefix, sizeof(prefix), "slot/%s/snap/", slot);
	a.skip = strlen(prefix);
	if (json)
		printf(",\"tables\":{");
	ckpt_scan(ck, prefix, print_table, &a);
	if (json)
		printf("}");
}

static void
print_slot(const struct cfg *cfg, struct ckpt *ck, pid_t sup, const char *name,
    int json, int first, PGresult *srv)
{
	char key[CKPT_KEY_MAX + 1], l[LSN_BUFLEN], st[256] = "";
	size_t len = sizeof(st) - 1;
	lsn_t confirmed = 0;
	struct sup_row r;

	sup_child_row(cfg, sup, "slot", name, &r);
	snprintf(key, sizeof(key), "slot/%s/confirmed", name);
	ckpt_get_lsn(ck, key, &confirmed);
	snprintf(key, sizeof(key), "slot/%s/status", name);
	if (ckpt_get(ck, key, st, &len) == 1)
		st[len < sizeof(st) ? len : sizeof(st) - 1] = '\0';
	lsn_format(confirmed, l);
	if (json)
		printf("%s{\"slot\":\"%s\",\"state\":\"%s\",\"pid\":%d,\"restarts\":%d,"
		    "\"last_exit\":%d,\"confirmed_lsn\":\"%s\",\"worker\":\"%s\"",
		    first ? "" : ",", name, r.state, r.pid, r.restarts, r.code, l, st);
	else
		printf("slot %-20s %-9s pid %-7d restarts %-3d confirmed %-14s %s\n",
		    name, r.state, r.pid, r.restarts, l, st);
	print_server(srv, name, json);
	print_error(ck, name, json);
	print_tables(ck, name, json);
	if (json)
		printf("}");
}

static void
print_sink(const struct cfg *cfg, struct ckpt *ck, pid_t sup, const struct cfg_sink *k,
    int json, int first)
{
	char key[CKPT_KEY_MAX + 1], l[LSN_BUFLEN];
	struct sup_row r;
	int n = 0;

	sup_child_row(cfg, sup, "sink", k->name, &r);
	if (json)
		printf("%s{\"sink\":\"%s\",\"type\":\"%s\",\"state\":\"%s\",\"pid\":%d,"
		    "\"restarts\":%d,\"last_exit\":%d,\"acked\":{", first ? "" : ",", k->name,
		    cfg_sink_type_name(k->type), r.state, r.pid, r.restarts, r.code);
	else
		printf("sink %-20s %-9s pid %-7d restarts %-3d acked", k->name, r.state,
		    r.pid, r.restarts);
	for (size_t i = 0; i < cfg->nslots; i++)
		for (int sh = 0; sh < cfg->slots[i].shards; sh++) {
			char name[128];
			lsn_t pos = 0;

			cfg_slot_name(&cfg->slots[i], sh, name, sizeof(name));
			snprintf(key, sizeof(key), "sink/%s/pos/%s", k->name, name);
			if (ckpt_get_lsn(ck, key, &pos) < 0 || pos == 0)
				continue;
			lsn_format(pos, l);
			printf(json ? "%s\"%s\":\"%s\"" : "%s %s=%s", json && n ? "," : "", name, l);
			n++;
		}
	printf(json ? "}}" : "\n");
}

int
sup_status(const char *config, int json)
{
	char why[512] = "";
	PGresult *srv;
	struct cfg *cfg = sup_load_config(config, stderr);
	struct ckpt *ck;
	pid_t sup;

	if (cfg == NULL)
		return 2;
	if ((ck = ckpt_open(cfg->state_dir, (size_t)cfg->lmdb_map_size)) == NULL) {
		cfg_free(cfg);
		return 1;
	}
	sup = sup_running_pid(cfg->run_dir);
	srv = sup_server_slots(cfg, why, sizeof(why));
	if (json)
		printf("{\"running\":%s,\"pid\":%d,\"slots\":[", sup ? "true" : "false", (int)sup);
	else if (sup)
		printf("pgcdc running (pid %d)\n", (int)sup);
	else
		printf("pgcdc not running\n");
	if (srv == NULL && !json)
		printf("source not reachable: %s\n", why);
	for (size_t i = 0; i < cfg->nslots; i++)
		for (int k = 0; k < cfg->slots[i].shards; k++) {
			char name[128];

			cfg_slot_name(&cfg->slots[i], k, name, sizeof(name));
			print_slot(cfg, ck, sup, name, json, i == 0 && k == 0, srv);
		}
	if (json)
		printf("],\"sinks\":[");
	for (size_t i = 0; i < cfg->nsinks; i++)
		print_sink(cfg, ck, sup, &cfg->sinks[i], json, i == 0);
	if (json)
		printf("]}\n");
	PQclear(srv);
	ckpt_close(ck);
	cfg_free(cfg);
	return 0;
}
